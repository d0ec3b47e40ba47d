#!/bin/bash
# make bench, the network part (BENCH_ONLY=net): what each --network mode
# adds to a start (hyperfine, side by side in one run), and pasta's
# throughput (--network open) against the same transfer made directly from
# the host.  The server stands in a network namespace of the bench's own
# (203.0.113.0/29 on a veth pair, route checked first): root only.
# Env: BENCH_RUNS (default 100), BENCH_WARMUP (5), BENCH_NET_MB (1024).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 2
SRC=$(pwd)
RUNS=${BENCH_RUNS:-100}
WARMUP=${BENCH_WARMUP:-5}
MB=${BENCH_NET_MB:-1024}
say() { printf 'bench-net: %s\n' "$*" >&2; }

. "$SRC/bench/common.sh"
if [ "$(id -u)" != 0 ]; then
	say "needs root for its test host's network namespace: skipped"
	exit 0
fi
bench_install hyperfine:hyperfine pasta:passt curl:curl busybox:busybox-static
bench_require hyperfine pasta curl busybox python3
bench_user
NSBOX_BIN=${NSBOX_BIN:-$SRC/nsbox}
[ -x "$NSBOX_BIN" ] || { say "$NSBOX_BIN not built"; exit 1; }

T=$(mktemp -d /tmp/nsbox-bench-net.XXXXXX) || exit 2
NS=nsbb$$ HIF=nbbh$$ NIF=nbbn$$
cleanup() {
	[ -f "$T/httpd.pid" ] && kill "$(cat "$T/httpd.pid")" 2>/dev/null
	ip link del "$HIF" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	umount "$T/www" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
mkdir -p "$T/bin" "$T/www" "$T/ws"
install -m 0755 "$NSBOX_BIN" "$T/bin/nsbox"
for so in nsbox-images.so nsbox-seccomp.so nsbox-git.so nsbox-proxy.so; do
	[ -f "$(dirname "$NSBOX_BIN")/$so" ] && install -m 0644 "$(dirname "$NSBOX_BIN")/$so" "$T/bin/$so"
done
chown "$U:" "$T/ws"

ip netns add "$NS" && ip link add "$HIF" type veth peer name "$NIF" &&
	ip link set "$NIF" netns "$NS" && ip addr add 203.0.113.1/29 dev "$HIF" &&
	ip link set "$HIF" up && ip -n "$NS" addr add 203.0.113.2/29 dev "$NIF" &&
	ip -n "$NS" link set "$NIF" up && ip -n "$NS" link set lo up ||
	{ say "could not make the test host's namespace"; exit 2; }
case $(ip route get 203.0.113.2) in
*" dev $HIF "*) ;;
*) say "the route to 203.0.113.2 is not the bench's veth: stopping"; exit 2 ;;
esac
# A sparse file on tmpfs: the transfer measures the network path, not a disk.
mount -t tmpfs -o size=$((MB + 64))m none "$T/www" || exit 2
truncate -s "${MB}M" "$T/www/blob"
echo ok >"$T/www/index.html"
ip netns exec "$NS" busybox httpd -f -p 203.0.113.2:8080 -h "$T/www" &
echo $! >"$T/httpd.pid"
for _ in $(seq 50); do curl -s -m 1 http://203.0.113.2:8080/ >/dev/null && break; sleep 0.1; done
chmod 0666 /dev/net/tun

as_user() {
	runuser -u "$U" -- env -i -C "$T/ws" HOME="$H" USER="$U" LOGNAME="$U" LANG=C.UTF-8 \
		PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

echo "== hyperfine, $RUNS runs each: a start per network mode (-t host shell -- -c true)"
hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$T/ws/start.json")
for mode in none open filtered; do
	cmd="$T/bin/nsbox run -t host --name bench-net-$mode --network $mode shell -- -c true"
	if as_user sh -c "$cmd" </dev/null >/dev/null 2>&1; then
		hf+=(-n "$mode" "$cmd")
	else
		say "--network $mode fails, not benchmarked:"
		as_user sh -c "$cmd" </dev/null 2>&1 | sed 's/^/    /' >&2
	fi
done
if as_user "${hf[@]}" >/dev/null; then
	python3 - "$T/ws/start.json" <<'EOF'
import json, sys
med = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
for n, v in med.items():
    extra = f'  (+{v - med["none"]:.2f} ms, {v / med["none"]:.2f}x none)' if "none" in med and n != "none" else ""
    print(f"{n:<10} {v:>8.2f} ms{extra}")
EOF
fi

echo
echo "== throughput: ${MB} MiB over HTTP from the test host, the median of 3"
speed() { # CMD...: bytes/s of the download, from curl
	local best=() s
	for _ in 1 2 3; do
		s=$("$@" 2>/dev/null) || return 1
		best+=("$s")
	done
	printf '%s\n' "${best[@]}" | sort -n | sed -n 2p
}
GET="curl -s -o /dev/null -w %{speed_download} http://203.0.113.2:8080/blob"
direct=$(speed as_user $GET)
open=$(speed as_user "$T/bin/nsbox" run -t host --name bench-net-open --network open shell -- -c "$GET")
python3 - "${direct:-0}" "${open:-0}" <<'EOF'
import sys
d, o = (float(x) for x in sys.argv[1:3])
print(f"{'direct':<10} {d / 1e6:>9.1f} MB/s")
print(f"{'open':<10} {o / 1e6:>9.1f} MB/s" + (f"  ({o / d:.2f}x direct, pasta)" if d > 0 else ""))
EOF
as_user "$T/bin/nsbox" rm -f bench-net-none bench-net-open bench-net-filtered >/dev/null 2>&1
exit 0
