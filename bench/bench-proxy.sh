#!/bin/bash
# The egress proxy of `--network filtered` against a direct connection on
# loopback, in one run (bench/proxy-bench.py): throughput through a CONNECT
# tunnel and the latency it adds per connection.  The proxy is
# nsbox-proxy.so, run by build/bench/proxy-run (an optimised build of the
# test driver) through its exported entry point, as nsbox runs it.  Env:
# BENCH_PROXY_BYTES (default 2 GiB), BENCH_PROXY_ROUNDS (3),
# BENCH_PROXY_CONNS (500).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 2
SRC=$(pwd)
say() { printf 'bench-proxy: %s\n' "$*" >&2; }
for f in nsbox-proxy.so build/bench/proxy-run; do
	[ -e "$SRC/$f" ] || { say "$f is not built (make nsbox-proxy.so build/bench/proxy-run)"; exit 2; }
done
command -v python3 >/dev/null || { say "python3 not found"; exit 2; }
T=$(mktemp -d /tmp/nsbox-bench-proxy.XXXXXX) || exit 2
PROXY_PID=
trap '[ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null; rm -rf "$T"' EXIT

echo "127.0.0.1 bench.example.test" >"$T/hosts"
echo "nameserver 127.0.0.1" >"$T/resolv.conf"
# The sink is on loopback, which the proxy refuses unless an address rule
# allows it: allow that one address, and the name.
"$SRC/build/bench/proxy-run" --plugin "$SRC/nsbox-proxy.so" --http 0 \
	--hosts "$T/hosts" --resolv-conf "$T/resolv.conf" --log "$T/log" \
	--sandbox bench --allow bench.example.test --allow 127.0.0.1/32 \
	>"$T/ports" 2>"$T/proxy.err" </dev/null &
PROXY_PID=$!
for _ in $(seq 100); do grep -q '^http ' "$T/ports" && break; sleep 0.05; done
PORT=$(sed -n 's/^http //p' "$T/ports")
[ -n "$PORT" ] || { say "the proxy did not start:"; cat "$T/proxy.err" >&2; exit 1; }

echo "== egress proxy (nsbox-proxy.so) vs direct, loopback"
python3 "$SRC/bench/proxy-bench.py" "$PORT" bench.example.test \
	"${BENCH_PROXY_BYTES:-2147483648}" "${BENCH_PROXY_ROUNDS:-3}" "${BENCH_PROXY_CONNS:-500}"
status=$?
echo "  ($(grep -c '"event":"decision"' "$T/log") decisions logged)"
exit $status
