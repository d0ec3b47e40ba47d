"""The times of a bench's hyperfine rounds (bench.sh's hf_rounds), merged.

hf_rounds runs the same commands in several hyperfine runs, PREFIX-0.json,
PREFIX-1.json, ...; merged(PREFIX) gives each command's median, mean and
stddev (seconds) over all of its runs, the commands in the first round's
order."""
import glob
import json
import statistics


def merged(prefix):
    times = {}
    files = sorted(glob.glob(f"{prefix}-*.json"),
                   key=lambda f: int(f[len(prefix) + 1:-len(".json")]))
    for f in files:
        for r in json.load(open(f))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
    return {n: {"median": statistics.median(x), "mean": statistics.mean(x),
                "stddev": statistics.stdev(x) if len(x) > 1 else 0}
            for n, x in times.items()}
