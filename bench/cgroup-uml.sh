#!/bin/sh
# make bench's cgroup rows, run inside user-mode-linux (a pure cgroup v2
# kernel, a subtree delegated to the bench user as systemd does it) by
# bench/bench.sh through tests/cgroup/uml.sh: what a cgroup adds to a
# start, the same nsbox start with and without limits.  UML's times are
# not the host's (its system calls are much slower) and drift as its page
# cache of the host's files warms, so the variants are interleaved round
# by round (not one after the other, as hyperfine would) and compared by
# their medians in this run only.
set -u
ws=$HOME/bench-ws
mkdir -p "$ws" && cd "$ws" || exit 1
exec python3 - "$NSBOX" <<'PY'
import statistics, subprocess, sys, time
nsbox = sys.argv[1]
variants = {
    "no-cgroup": [],
    "cgroup-pids": ["--pids-limit", "1000"],
    "cgroup-all": ["--memory", "512m", "--cpus", "1", "--pids-limit", "1000"],
}
times = {n: [] for n in variants}
for rnd in range(5 + 40):
    for n, flags in variants.items():
        cmd = [nsbox, "run", "-t", "host", "--name", "bench-" + n, *flags,
               "shell", "--", "-c", "true"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"cgroup bench: {' '.join(cmd)}: status {r.returncode}")
        if rnd >= 5:  # the first rounds warm UML's caches
            times[n].append(dt * 1000)
base = statistics.median(times["no-cgroup"])
print("== cgroup cost inside user-mode-linux: 40 interleaved rounds after 5 "
      "warm-up rounds (medians; compare the rows of this run only)")
print(f'{"variant":<12} {"median ms":>10} {"stdev ms":>9}  vs no-cgroup')
for n, ts in times.items():
    m = statistics.median(ts)
    print(f"{n:<12} {m:10.2f} {statistics.stdev(ts):9.2f}  "
          f"{m / base:.3f}x ({m - base:+.2f} ms)")
PY
