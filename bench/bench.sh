#!/bin/bash
# make bench: time nsbox's start of a trivial command against the floor (unshare), bubblewrap
# and crun, side by side in interleaved hyperfine rounds, all rootless as an unprivileged user.
# Then the pull bench, bench/bench-pull.sh.
# See bench/README.md.  Env: BENCH_RUNS (default 100), BENCH_WARMUP (default 5),
# BENCH_ROUNDS (default 5: the start bench's runs in that many interleaved rounds),
# BENCH_ONLY=start|pull|proxy|net (one of the benches; default all: start,
# pull, the egress proxy's (bench/bench-proxy.sh), then the network modes'
# (bench/bench-net.sh)).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"   # the Makefile calls `sh bench/bench.sh`
set -u
cd "$(dirname "$0")/.." || exit 2
SRC=$(pwd)
RUNS=${BENCH_RUNS:-100}
WARMUP=${BENCH_WARMUP:-5}
status=0
say() { printf 'bench: %s\n' "$*" >&2; }
case ${BENCH_ONLY:-} in
"" | start) ;;
pull) exec bash "$SRC/bench/bench-pull.sh" ;;
proxy) exec bash "$SRC/bench/bench-proxy.sh" ;;
net) exec bash "$SRC/bench/bench-net.sh" ;;
*) say "BENCH_ONLY must be start, pull, proxy or net, not '$BENCH_ONLY'"; exit 2 ;;
esac

# --- tools (installed when running as root) and the unprivileged user ---------------------
. "$SRC/bench/common.sh"
bench_install hyperfine:hyperfine bwrap:bubblewrap crun:crun runc:runc newuidmap:uidmap /usr/bin/time:time
bench_require hyperfine bwrap crun unshare python3
bench_user
UID_U=$(id -u "$U")
WS=$H/bench-ws
T=$(mktemp -d /tmp/nsbox-bench.XXXXXX) || exit 2
# nsbox run leaves the user's id-mapping holder (nsbox-userns) sleeping:
# ended with the bench.
trap 'rm -rf "$T"; [ "$(id -u)" = 0 ] && pkill -u "$U" -x nsbox-userns; true' EXIT
chmod 0755 "$T"
[ "$(id -u)" = 0 ] && chown "$U:" "$T"

# as_user CMD...: run as $U in $WS. As root: a clean environment (default XDG dirs).
USER_ENV=(env -i -C "$WS" HOME="$H" USER="$U" LOGNAME="$U" LANG=C.UTF-8
	PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin)
as_user() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$U" -- "${USER_ENV[@]}" "$@"
	else
		env -C "$WS" "$@"
	fi
}
# crun 1.8.1 refuses a hybrid cgroup host ("cgroups in hybrid mode not supported") even
# with --cgroup-manager=disabled. As root, the timed rows therefore all run inside one
# private mount namespace in which the cgroup2 mount is unmounted (HIDE_NS): there the
# user runs crun directly, rootless, as on a host without that mount, and every other
# row runs in the same place. as_bench_user is as_user in there.
HYBRID=""
[ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && HYBRID=1
HIDE_NS=()
[ -n "$HYBRID" ] && [ "$(id -u)" = 0 ] &&
	HIDE_NS=(unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh)
as_bench_user() {
	if [ ${#HIDE_NS[@]} -gt 0 ]; then
		"${HIDE_NS[@]}" runuser -u "$U" -- "${USER_ENV[@]}" "$@"
	else
		as_user "$@"
	fi
}
if [ "$(id -u)" = 0 ]; then runuser -u "$U" -- mkdir -p "$WS"; else mkdir -p "$WS"; fi

# --- the commands --------------------------------------------------------------------------
# bwrap: host system dirs read-only, /bin etc. as on the host (symlinks on merged /usr).
BWRAP="bwrap --unshare-all --ro-bind /usr /usr --ro-bind /etc /etc"
for d in bin lib lib64 sbin; do
	if [ -L /$d ]; then BWRAP+=" --symlink $(readlink /$d) /$d"
	elif [ -d /$d ]; then BWRAP+=" --ro-bind /$d /$d"; fi
done
BWRAP+=" --proc /proc --dev /dev --tmpfs /tmp --bind $WS $WS --chdir $WS /bin/sh -c true"

# crun-userns: crun inside its own wrapper, as an unprivileged user can run it on a
# hybrid host without root's help: `unshare -Urm` and a tmpfs over the cgroup2 mount.
# In there the user is uid 0, so the bundle maps container 0 -> 0 (= the user on the
# host), and crun writes its id maps itself (no newuidmap/newgidmap); crun-wrapper is
# that wrapper alone, subtracted in the summary.
CRUN_STATE=$T/crun-state
WRAPPER="" CRUN_USERNS=""
if [ -n "$HYBRID" ]; then
	HIDE="mount -t tmpfs none /sys/fs/cgroup/unified"
	WRAPPER="unshare -Urm sh -c '$HIDE && true'"
	CRUN_USERNS="unshare -Urm sh -c '$HIDE && exec crun --root=$CRUN_STATE-userns --cgroup-manager=disabled run -b $T/crun nsbox-bench-$$'"
	as_user mkdir -p "$CRUN_STATE-userns" && as_user sh "$SRC/bench/crun-bundle.sh" "$T/crun" "$WS" 0 >/dev/null ||
		{ say "could not make the crun bundle"; exit 2; }
fi
# The same layout, the bundle mapping container 0 to the user's own id, for
# the OCI runtimes run directly: crun, nsbox oci (issue 10's front door) and
# runc.
OCI_BUNDLE_OK=""
if as_user sh "$SRC/bench/crun-bundle.sh" "$T/oci" "$WS" "$UID_U" >/dev/null 2>&1; then
	OCI_BUNDLE_OK=1
	as_user mkdir -p "$T/nsbox-oci-state" "$T/runc-state" "$CRUN_STATE"
fi
# crun: `crun run` of that bundle by the user, directly (rootless crun: it maps the
# user's id itself), where crun accepts the host's cgroups: anywhere but on a hybrid
# host, and there inside HIDE_NS (as root).
CRUN=""
[ -n "$OCI_BUNDLE_OK" ] && { [ -z "$HYBRID" ] || [ ${#HIDE_NS[@]} -gt 0 ]; } &&
	CRUN="crun --root=$CRUN_STATE --cgroup-manager=disabled run -b $T/oci nsbox-bench-$$"

mkdir -p "$T/bin"
NSBOX_BIN=${NSBOX_BIN:-$SRC/nsbox}   # override to bench another build
if [ -x "$NSBOX_BIN" ]; then
	install -m 0755 "$NSBOX_BIN" "$T/bin/nsbox"
	# nsbox dlopens its plugins from its own directory (images, seccomp
	# profiles, the git identity): as installed.
	for so in nsbox-images.so nsbox-seccomp.so nsbox-git.so; do
		if [ -f "$(dirname "$NSBOX_BIN")/$so" ]; then install -m 0644 "$(dirname "$NSBOX_BIN")/$so" "$T/bin/$so"; fi
	done
	NSBOX="$T/bin/nsbox run -t host shell -- -c true"
	[ -n "$OCI_BUNDLE_OK" ] &&
		NSBOX_OCI="$T/bin/nsbox oci --root $T/nsbox-oci-state run -b $T/oci nsbox-bench-$$"
	# The same without the seccomp filter: what the filter adds to a start.
	NSBOX_NOSECCOMP="$T/bin/nsbox run -t host --security-opt seccomp=unconfined shell -- -c true"
	# A warm start on an image template: the fixture busybox image, loaded
	# into the bench user's store (its own sandbox: --name).
	mkdir -p "$T/fx" && chmod 755 "$T" "$T/fx"
	if sh "$SRC/tests/fixtures/build-images.sh" "$T/fx" >/dev/null 2>&1 &&
		chmod -R a+rX "$T/fx" && as_user "$T/bin/nsbox" load -i "$T/fx/oci" >/dev/null; then
		NSBOX_IMAGE="$T/bin/nsbox run -t localhost/oci:latest --name bench-image shell -- -c true"
		# A first start: the image loaded (its layers in the store), no
		# sandbox yet -- each run's prepare removes the one the last made.
		NSBOX_FIRST="$T/bin/nsbox run -t localhost/oci:latest --name bench-first shell -- -c true"
		FIRST_PREP="sh -c '$T/bin/nsbox rm -f bench-first >/dev/null 2>&1; true'"
	else
		say "could not load the fixture image: no nsbox-image row"
	fi
else
	say "nsbox: $NSBOX_BIN not built"; status=1; NSBOX=""
fi

# --- check each command once; benchmark only those that work -------------------------------
names=() cmds=()
try() { # NAME CMD
	local out
	if out=$(as_bench_user sh -c "$2" </dev/null 2>&1); then
		names+=("$1") cmds+=("$2")
	else
		say "$1 fails, not benchmarked: $2"
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		status=1
	fi
}
try floor "unshare -Urmpf --mount-proc true"
try bwrap "$BWRAP"
[ -n "$CRUN" ] && try crun "$CRUN"
[ -n "$WRAPPER" ] && try crun-wrapper "$WRAPPER"
[ -n "$CRUN_USERNS" ] && try crun-userns "$CRUN_USERNS"
[ -n "$NSBOX" ] && try nsbox "$NSBOX"
[ -n "$NSBOX" ] && try nsbox-noseccomp "$NSBOX_NOSECCOMP"
[ -n "${NSBOX_IMAGE:-}" ] && try nsbox-image "$NSBOX_IMAGE"
[ -n "${NSBOX_FIRST:-}" ] && try nsbox-first "$NSBOX_FIRST"
[ -n "${NSBOX_OCI:-}" ] && try nsbox-oci "$NSBOX_OCI"
if [ -n "$OCI_BUNDLE_OK" ] && command -v runc >/dev/null; then
	try runc "runc --root $T/runc-state run -b $T/oci nsbox-bench-$$"
fi
[ ${#names[@]} -gt 0 ] || { say "nothing to benchmark"; exit 1; }

# hf_rounds OUT RUNNER...: time the commands names/cmds with hyperfine, run
# through RUNNER, in ROUNDS rounds of RUNS/ROUNDS runs each (OUT-0.json,
# OUT-1.json, ...; bench/rounds.py merges them), the order of the commands
# turned by one each round: hyperfine times one command's runs one after the
# other, so a slow phase of the machine (minutes, on a shared VM) would
# otherwise fall on some rows only.
ROUNDS=${BENCH_ROUNDS:-5}
PER=$(((RUNS + ROUNDS - 1) / ROUNDS))
hf_rounds() {
	local out=$1 n=${#names[@]} r k i hf prep
	shift
	for ((r = 0; r < ROUNDS; r++)); do
		hf=(hyperfine -N --warmup "$WARMUP" --runs "$PER" --export-json "$out-$r.json")
		prep=()
		for ((k = 0; k < n; k++)); do
			i=$(((k + r) % n))
			hf+=(-n "${names[$i]}" "${cmds[$i]}")
			# One prepare per command when any needs one: nsbox-first's
			# removes its sandbox, the others' do nothing.
			if [ "${names[$i]}" = nsbox-first ]; then prep+=(--prepare "$FIRST_PREP"); else prep+=(--prepare true); fi
		done
		[[ " ${names[*]} " == *" nsbox-first "* ]] && hf+=("${prep[@]}")
		echo "-- round $((r + 1)) of $ROUNDS"
		"$@" "${hf[@]}" || return 1
	done
}
echo "== hyperfine, $((PER * ROUNDS)) runs each in $ROUNDS rounds, as user $U in $WS"
hf_rounds "$T/results" as_bench_user || { say "hyperfine failed"; exit 1; }

# --- the disk cost of a second sandbox on the template: its dirs after one run -------------
if [ -n "${NSBOX_IMAGE:-}" ] &&
	as_user "$T/bin/nsbox" run -t localhost/oci:latest --name bench-second shell -- -c true >/dev/null 2>&1; then
	id=$(as_user "$T/bin/nsbox" inspect bench-second | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	data=$H/.local/share/nsbox/sandboxes/$id
	rund=/tmp/nsbox-$UID_U/$id   # no XDG_RUNTIME_DIR in as_user's environment
	if [ -d "$data" ]; then
		{
			du -sk "$data" 2>/dev/null | cut -f1
			[ -d "$rund" ] && du -sk "$rund" 2>/dev/null | cut -f1 || echo 0
			find "$data" "$rund" 2>/dev/null | wc -l
		} >"$T/disk-second"
	fi
	as_user "$T/bin/nsbox" rm -f bench-second >/dev/null 2>&1
fi

# --- peak RSS of one run of each (GNU time, max over the process tree it waits for) ---------
if [ -x /usr/bin/time ]; then
	for i in "${!names[@]}"; do
		as_bench_user sh -c "exec /usr/bin/time -f %M -o $T/rss-${names[$i]} ${cmds[$i]}" \
			</dev/null >/dev/null 2>&1 || rm -f "$T/rss-${names[$i]}"
	done
fi

# --- summary -------------------------------------------------------------------------------
python3 - "$T" "$SRC/bench" <<'EOF'
import sys
t = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from rounds import merged
res = merged(f"{t}/results")
ms = lambda s: s * 1000
def rss(name):
    try: return f'{int(open(f"{t}/rss-{name}").read().split()[-1]) / 1024:.1f} MB'
    except Exception: return "-"
med = {n: ms(r["median"]) for n, r in res.items()}
wrap = med.get("crun-wrapper")
if "crun-userns" in med and wrap is not None:
    med["crun-net"] = med["crun-userns"] - wrap  # crun-userns less its wrapper
# What each yardstick is, after its name in the ratio lines.
notes = {"crun": " (rootless crun, run directly by the user)",
         "crun-userns": " (raw: crun inside its user-namespace wrapper)",
         "crun-net": " (crun as uid 0 of its wrapper's user namespace, the wrapper's time subtracted)"}
label = lambda o: "crun-userns" if o == "crun-net" else o
print("\n== summary (ratios are of medians)")
print(f'{"name":<15} {"median ms":>10} {"mean ± stddev ms":>18} {"peak RSS":>9}  ratio')
for n, r in res.items():
    ratio = ""
    if "nsbox" in med and n not in ("nsbox", "crun-wrapper"):
        ratio = f'{n} / nsbox = {med[n] / med["nsbox"]:.2f}x'
    mean_sd = f'{ms(r["mean"]):.2f} ± {ms(r["stddev"] or 0):.2f}'
    print(f'{n:<15} {med[n]:>10.2f} {mean_sd:>18} {rss(n):>9}  {ratio}')
if "crun-net" in med:
    print(f'{"userns - wrap":<15} {med["crun-net"]:>10.2f} {"":>18} {"":>9}  '
          + (f'(crun-userns - crun-wrapper) / nsbox = {med["crun-net"] / med["nsbox"]:.2f}x' if "nsbox" in med else ""))
if "crun" in med:
    print("(crun: the user's `crun run` of the bundle; on this hybrid cgroup host inside a private"
          " mount namespace without the cgroup2 mount, as every row here)" if "crun-wrapper" in med else
          "(crun: the user's `crun run` of the bundle)")
if "crun-userns" in med:
    print("(crun-userns: crun inside `unshare -Urm` + a tmpfs over /sys/fs/cgroup/unified, where it"
          " is uid 0 and writes its id maps without newuidmap/newgidmap; crun-wrapper is that wrapper alone)")
print()
if "nsbox-first" in med and "nsbox-image" in med:
    print(f'nsbox-first vs nsbox-image: {med["nsbox-first"] / med["nsbox-image"]:.2f}x '
          f'(a first start, a new sandbox on the loaded image, against the warm start)')
try:
    d, r, n = (int(x) for x in open(f"{t}/disk-second").read().split())
    print(f'second sandbox on the template: {d + r} KiB on disk ({d} KiB data dir, '
          f'{r} KiB runtime dir, {n} files and dirs; goal < 1024 KiB)')
except Exception:
    pass
def against(row, yardsticks):
    for o in yardsticks:
        if row in med and o in med and med[o] > 0:
            print(f'{row} vs {label(o)}: {med[row] / med[o]:.2f}x {label(o)}\'s time{notes.get(o, "")}')
against("nsbox-image", ("bwrap", "crun", "crun-net"))
against("nsbox-oci", ("crun", "crun-net", "runc"))  # the OCI front door, on crun's and runc's bundle
if "nsbox" in med and "nsbox-noseccomp" in med:
    print(f'seccomp filter: nsbox / nsbox-noseccomp = {med["nsbox"] / med["nsbox-noseccomp"]:.2f}x '
          f'({med["nsbox"] - med["nsbox-noseccomp"]:+.2f} ms)')
others = [o for o in ("floor", "bwrap", "crun", "crun-net") if o in med and med[o] > 0]
if "nsbox" in med:
    against("nsbox", others)
else:
    print("nsbox: NOT measured (it failed up front, see above); others against the floor:")
    for o in others[1:] if "floor" in med else []:
        print(f'{label(o)} vs floor: {med[o] / med["floor"]:.2f}x floor\'s time{notes.get(o, "")}')
EOF
# --- the OCI runtimes as root, on a bundle without a user namespace ----------------------
if [ "$(id -u)" = 0 ] && [ -x "$T/bin/nsbox" ] && command -v runc >/dev/null &&
	sh "$SRC/bench/crun-bundle.sh" "$T/oci-root" "$WS" 0 root >/dev/null 2>&1; then
	mkdir -p "$T/root-state/nsbox" "$T/root-state/crun" "$T/root-state/runc"
	# crun 1.8.1 as root refuses this hybrid host too: the run is in HIDE_NS,
	# as the user's rows are.
	in_hide_ns() { if [ ${#HIDE_NS[@]} -gt 0 ]; then "${HIDE_NS[@]}" "$@"; else "$@"; fi; }
	rnames=(crun-root runc-root nsbox-oci-root)
	rcmds=("crun --root=$T/root-state/crun --cgroup-manager=disabled run -b $T/oci-root b-$$"
		"runc --root $T/root-state/runc run -b $T/oci-root b-$$"
		"$T/bin/nsbox oci --root $T/root-state/nsbox run -b $T/oci-root b-$$")
	names=() cmds=()
	for i in "${!rnames[@]}"; do
		if in_hide_ns sh -c "${rcmds[$i]}" </dev/null >/dev/null 2>&1; then
			names+=("${rnames[$i]}") cmds+=("${rcmds[$i]}")
		else
			say "${rnames[$i]} fails as root, not benchmarked: ${rcmds[$i]}"
		fi
	done
	echo
	echo "== hyperfine as root, $((PER * ROUNDS)) runs each in $ROUNDS rounds: the OCI runtimes on one bundle (no user namespace)"
	if [ ${#names[@]} -gt 0 ] && hf_rounds "$T/root" in_hide_ns >/dev/null; then
		python3 - "$T/root" "$SRC/bench" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
from rounds import merged
med = {n: r["median"] * 1000 for n, r in merged(sys.argv[1]).items()}
for n, v in med.items():
    print(f"{n:<16} {v:>8.2f} ms")
if "nsbox-oci-root" in med:
    for o in ("crun-root", "runc-root"):
        if o in med and med[o] > 0:
            print(f'nsbox-oci-root vs {o}: {med["nsbox-oci-root"] / med[o]:.2f}x')
EOF
	else
		say "hyperfine as root failed"
	fi
fi

# --- what a cgroup adds to a start -----------------------------------------------------------
# This host delegates no cgroup with controllers (a v1/v2 hybrid): the
# comparison runs inside user-mode-linux's pure cgroup v2 kernel, as the
# cgroup test suite does (root boots it; its times are UML's, not the
# host's: the rows compare with each other only).
echo
if [ "$(id -u)" != 0 ]; then
	say "cgroup rows: skipped, booting user-mode-linux for them needs root"
elif ! command -v linux.uml >/dev/null; then
	say "cgroup rows: skipped, user-mode-linux is not installed (tests/deps.sh installs it)"
elif [ -x "$T/bin/nsbox" ]; then
	for so in nsbox-systemd.so; do
		[ -f "$(dirname "$NSBOX_BIN")/$so" ] && install -m 0644 "$(dirname "$NSBOX_BIN")/$so" "$T/bin/$so"
	done
	NSBOX_UML_SCRIPT=$SRC/bench/cgroup-uml.sh sh "$SRC/tests/cgroup/uml.sh" "$T/bin/nsbox" "$U" 0 ||
		{ say "cgroup rows: the run inside user-mode-linux failed"; status=1; }
fi

[ $status = 0 ] || say "some commands failed (see above): exit $status"
if [ -z "${BENCH_ONLY:-}" ]; then
	echo
	bash "$SRC/bench/bench-pull.sh"
	pull=$?
	[ $pull -gt $status ] && status=$pull
	echo
	bash "$SRC/bench/bench-proxy.sh"
	proxy=$?
	[ $proxy -gt $status ] && status=$proxy
	echo
	bash "$SRC/bench/bench-net.sh"
	net=$?
	[ $net -gt $status ] && status=$net
fi
exit $status
