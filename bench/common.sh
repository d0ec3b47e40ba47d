# Shared by bench.sh and bench-pull.sh (sourced; bash).  Both define say().

# bench_install CMD:PACKAGE...: as root, apt-get install the packages whose
# command is missing ("/path" checks an executable file instead).
bench_install() {
	[ "$(id -u)" = 0 ] || return 0
	local missing=() pair cmd pkg
	for pair in "$@"; do
		cmd=${pair%%:*} pkg=${pair#*:}
		if [[ $cmd == /* ]]; then [ -x "$cmd" ] && continue
		else command -v "$cmd" >/dev/null && continue; fi
		missing+=("$pkg")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
		{ say "apt-get install ${missing[*]} failed"; exit 2; }
}

# bench_require CMD...: stop unless every command is there.
bench_require() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || { say "$t not found"; exit 2; }
	done
}

# bench_user: U and H, the unprivileged user everything runs as (as root,
# nsbox-bench, created if need be; else the caller) and its home.
bench_user() {
	if [ "$(id -u)" = 0 ]; then
		U=nsbox-bench
		id -u $U >/dev/null 2>&1 || useradd -m $U || exit 2
	else
		U=$(id -un)
	fi
	H=$(getent passwd "$U" | cut -d: -f6)
}
