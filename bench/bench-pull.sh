#!/bin/bash
# The pull bench (part of make bench): time `nsbox pull` of the ~210 MB, 5-layer fixture image
# nsbox-test/big from a local registry on 127.0.0.1, against skopeo copy + umoci unpack and
# podman pull, side by side in one hyperfine run, all rootless as an unprivileged user, each run
# starting from an empty store.  See bench/README.md.
# Env: BENCH_PULL_RUNS (default 5), BENCH_PULL_WARMUP (default 1), NSBOX_BIN (default ./nsbox;
# nsbox-images.so is taken from the same directory).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 2
SRC=$(pwd)
RUNS=${BENCH_PULL_RUNS:-5}
WARMUP=${BENCH_PULL_WARMUP:-1}
status=0
say() { printf 'bench-pull: %s\n' "$*" >&2; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# --- tools (installed when running as root) -----------------------------------------------
if [ "$(id -u)" = 0 ]; then
	# What the fixtures and the registry need, as the tests install it (docker-registry's
	# service kept from starting).
	if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null ||
		! command -v zstd >/dev/null || [ ! -x /bin/busybox ]; then
		say "installing the test fixtures' packages (tests/deps.sh)"
		sh tests/deps.sh >/dev/null || { say "tests/deps.sh failed"; exit 2; }
	fi
fi
. "$SRC/bench/common.sh"
bench_install hyperfine:hyperfine umoci:umoci podman:podman newuidmap:uidmap /usr/bin/time:time
bench_require hyperfine docker-registry skopeo python3 unshare

# --- the unprivileged user (as in bench.sh) -----------------------------------------------
bench_user
# Every store lives under BD, in the user's home (the same file system as ~/.local/share):
# the XDG dirs point there, so nsbox's store is $BD/data/nsbox and podman's is
# $BD/data/containers/storage, configured by $BD/config/containers/*.conf.  The user's own
# stores and configs (and the start bench's sandbox) are never touched.
BD=$H/bench-pull
T=$(mktemp -d /tmp/nsbox-bench-pull.XXXXXX) || exit 2
chmod 0755 "$T"
[ "$(id -u)" = 0 ] && chown "$U:" "$T"
RS=$T/registry     # registry state (root's when root)
FX=$T/fixtures     # the built images
PODMAN_OK=0 RMTREE="rm -rf"

# as_user CMD...: run as $U in $BD with the XDG dirs above. As root: a clean environment.
as_user() {
	local env=(XDG_DATA_HOME="$BD/data" XDG_CONFIG_HOME="$BD/config" XDG_RUNTIME_DIR="$T/run")
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$U" -- env -i -C "$BD" HOME="$H" USER="$U" LOGNAME="$U" LANG=C.UTF-8 \
			PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "${env[@]}" "$@"
	else
		env -C "$BD" "${env[@]}" "$@"
	fi
}
cleanup() {
	[ -d "$RS" ] && sh "$SRC/tests/fixtures/registry.sh" stop "$RS"
	# podman's storage, and its pause process (it lives as long as its runtime dir's state).
	[ "$PODMAN_OK" = 1 ] && as_user podman system reset -f >/dev/null 2>&1
	if [ "$(id -u)" = 0 ]; then rm -rf "$BD"; elif [ -d "$BD" ]; then env -C / $RMTREE "$BD"; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh BD (one left by an interrupted run may hold files of subordinate ids).
if [ -e "$BD" ]; then
	if [ "$(id -u)" = 0 ]; then rm -rf "$BD"
	else unshare --map-auto --map-root-user rm -rf "$BD" 2>/dev/null || rm -rf "$BD"; fi
fi
if [ "$(id -u)" = 0 ]; then
	runuser -u "$U" -- mkdir -p -m 0700 "$BD/data" "$BD/config/containers" "$T/run" "$T/mnt"
else
	mkdir -p -m 0700 "$BD/data" "$BD/config/containers" "$T/run" "$T/mnt"
fi
# Layers may hold files owned by subordinate ids: read them (the check below) and remove them
# (a user's cleanup) with those ids mapped.
if as_user unshare --map-auto --map-root-user true 2>/dev/null; then
	RMTREE="unshare --map-auto --map-root-user rm -rf"
	UNS="unshare --map-auto --map-root-user"
else
	say "unshare --map-auto does not work for $U (no subordinate ids?)"
	UNS="unshare --map-root-user"
fi

# Each run moves the stores aside (removed at the end) rather than deleting them: this host's
# ext4 has no journal, and ext4 without a journal skips recently deleted inodes when it
# allocates new ones, so unpacking right after an `rm -rf` of the last run's 13k files costs
# 0.3-0.9 ms per file instead of ~0.03 ms (nsbox pull measured 3-10 s after rm -rf, 1.5-2.7 s
# after a move).  That is a property of the prepare step, not of the tool timed.
cat >"$T/aside" <<'EOF'
#!/bin/sh
# aside PATH...: rename each PATH that exists to PATH.trash.XXXXXX, then sync.
for p; do
	[ -e "$p" ] || continue
	mv "$p" "$(mktemp -u "$p.trash.XXXXXX")" || exit 1
done
sync
EOF
chmod 0755 "$T/aside"
# The trash: one store per run and command, ~1 GB per run of all three.
need=$(((RUNS + WARMUP + 2) * 1100))
avail=$(df -Pm "$BD" | awk 'NR == 2 { print $4 }')
if [ "${avail:-0}" -lt "$need" ]; then
	say "$BD: $avail MB free, the runs keep ~$need MB until the end (BENCH_PULL_RUNS=$RUNS)"; exit 2
fi

# --- the image, in a registry on 127.0.0.1 --------------------------------------------------
echo "== building nsbox-test/big and pushing it to a registry on 127.0.0.1"
t0=$(date +%s.%N)
sh tests/fixtures/build-images.sh --big "$FX" >/dev/null || { say "build-images.sh --big failed"; exit 2; }
chmod -R a+rX "$FX"
REG=$(sh tests/fixtures/registry.sh start "$RS") || { say "registry.sh start failed"; exit 2; }
sh tests/fixtures/registry.sh push "$RS" "$FX" || { say "registry.sh push failed"; exit 2; }
REF=$REG/nsbox-test/big:latest
LAYERS=$(python3 -c 'import json, sys
print(" ".join(json.load(open(sys.argv[1]))["tags"]["latest"]["layers"]))' "$FX/big-expected.json")
NLAYERS=$(wc -w <<<"$LAYERS")
printf '%s (%d layers, %s MB compressed) ready in %s s\n' "$REF" "$NLAYERS" \
	"$(du -sm "$FX/big-oci" | cut -f1)" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"

# downloads FROM_BYTE NAME: how many of the image's layer blobs the registry served to NAME
# (by User-Agent) since byte FROM_BYTE of its access log.
log_size() { stat -c %s "$RS/registry.log"; }
downloads() {
	tail -c +$(($1 + 1)) "$RS/registry.log" | python3 -c 'import re, sys
layers, who = set(sys.argv[1].split()), sys.argv[2]
ua = {"nsbox": "nsbox/", "skopeo+umoci": "skopeo/", "podman": "containers/"}[who]
n = 0
for line in sys.stdin:
    m = re.search(r"\"GET /v2/nsbox-test/big/blobs/(sha256:[0-9a-f]+) HTTP/[0-9.]+\" (\d+) \d+ \"[^\"]*\" \"([^\"]*)\"", line)
    if m and m.group(1) in layers and m.group(2) in ("200", "206") and m.group(3).startswith(ua):
        n += 1
print(n)' "$LAYERS" "$2"
}

# tree.py ROOT: a digest of a merged root file system (paths, types, permission bits, sizes,
# contents, link targets; not owners or times) and a check of what the big image must hold.
cat >"$T/tree.py" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
h = hashlib.sha256()
n = {"files": 0, "dirs": 0, "links": 0, "other": 0, "bytes": 0}
for top, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(top, name)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        kind, extra = "?", ""
        if stat.S_ISREG(st.st_mode):
            kind = "f"; n["files"] += 1; n["bytes"] += st.st_size
            with open(p, "rb") as fh:
                extra = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
                    else hashlib.sha256(fh.read()).hexdigest()
        elif stat.S_ISDIR(st.st_mode):
            kind = "d"; n["dirs"] += 1
        elif stat.S_ISLNK(st.st_mode):
            kind = "l"; n["links"] += 1; extra = os.readlink(p)
        else:
            n["other"] += 1; extra = "%o %d" % (st.st_mode, st.st_rdev)
        h.update(("%s\0%s\0%o\0%d\0%s\n" % (rel, kind, stat.S_IMODE(st.st_mode),
                                           st.st_size if kind == "f" else 0, extra)).encode())
# What build-images.py puts in nsbox-test/big: 128 x 100 text files less the 16 whited out
# (d000, d008, ... f000.txt), data/mixed/m00 made opaque with new0..new7, 8 x 8 MiB random.
bad = []
def j(*a): return os.path.join(root, *a)
texts = sum(len(f) for _, _, f in os.walk(j("data/text")))
if texts != 12784: bad.append("data/text holds %d files, not 12784" % texts)
m00 = sorted(os.listdir(j("data/mixed/m00"))) if os.path.isdir(j("data/mixed/m00")) else None
if m00 != ["new%d" % i for i in range(8)]: bad.append("data/mixed/m00 is %s, not new0..new7" % m00)
for i in range(8):
    p = j("data/random/r%02d.bin" % i)
    if not os.path.isfile(p) or os.path.getsize(p) != 8 << 20: bad.append(p + " is not 8 MiB")
if os.path.lexists(j("data/text/d000/f000.txt")) or os.path.lexists(j("data/text/d120/f000.txt")):
    bad.append("whited-out data/text/d000/f000.txt or d120/f000.txt is there")
if not os.path.isfile(j("data/text/d001/f000.txt")): bad.append("data/text/d001/f000.txt is missing")
if not os.access(j("bin/busybox"), os.X_OK): bad.append("bin/busybox is missing")
if n["other"]: bad.append("%d special files (whiteouts left?)" % n["other"])
print("tree %s: %d files, %d dirs, %d symlinks, %.1f MB" %
      (h.hexdigest()[:16], n["files"], n["dirs"], n["links"], n["bytes"] / 1e6))
for b in bad: print("  wrong: " + b)
sys.exit(1 if bad else 0)
EOF

# --- the commands --------------------------------------------------------------------------
names=() cmds=() preps=()
declare -A empty inspect
if command -v umoci >/dev/null; then
	names+=(skopeo+umoci)
	cmds+=("sh -c 'skopeo copy --src-tls-verify=false docker://$REF oci:$BD/oci:big && umoci unpack --rootless --image $BD/oci:big $BD/bundle'")
	preps+=("$T/aside $BD/oci $BD/bundle")
	empty[skopeo+umoci]="! test -e $BD/oci && ! test -e $BD/bundle"
	inspect[skopeo+umoci]="python3 $T/tree.py $BD/bundle/rootfs"
else
	say "umoci not found: skopeo+umoci not benchmarked"; status=1
fi

PODMAN_WHY=""
if command -v podman >/dev/null; then
	# Rootless podman 4.3 here: overlay (native, in the user namespace; it would pick vfs
	# without a storage.conf), cgroupfs and a file event log (no systemd user session).
	as_user sh -c 'printf "[storage]\ndriver = \"overlay\"\n" >"$XDG_CONFIG_HOME/containers/storage.conf" &&
		printf "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n" \
			>"$XDG_CONFIG_HOME/containers/containers.conf"'
	if out=$(as_user podman info --format '{{.Store.GraphDriverName}} {{.Store.GraphRoot}} {{.Store.GraphStatus}}' 2>&1); then
		PODMAN_OK=1
		info=$(grep -v 'level=warning' <<<"$out")
		echo "podman $(as_user podman --version | awk '{print $3}'): $info"
		case $info in
		overlay*) ;;
		*) say "podman uses $info, not overlay: its times are not comparable"; status=1 ;;
		esac
		names+=(podman)
		cmds+=("podman pull --tls-verify=false $REF")
		# Its whole storage (graphroot and runroot) moved aside: `podman rmi -a -f` would
		# delete the layers (see aside above); podman starts a fresh storage.
		preps+=("$T/aside $BD/data/containers $T/run/containers")
		# Empty: no image, and no layer directory left in overlay/ (l/ holds short links).
		empty[podman]="test -z \"\$(podman images -q)\" && test -z \"\$(ls $BD/data/containers/storage/overlay 2>/dev/null | grep -vx l)\""
		inspect[podman]="podman unshare sh -c 'm=\$(podman image mount $REF) && python3 $T/tree.py \$m; rc=\$?; podman image unmount $REF >/dev/null; exit \$rc'"
	else
		PODMAN_WHY="podman does not work rootless here: $(tail -n 3 <<<"$out")"
	fi
else
	PODMAN_WHY="podman is not installed"
fi
[ -n "$PODMAN_WHY" ] && { say "$PODMAN_WHY; podman not benchmarked"; status=1; }

# nsbox last: in this order later commands ran slower (1.4-1.8x for the same command, first
# vs last; the moved-aside stores accumulate), so any such bias counts against nsbox.
mkdir -p "$T/bin"
NSBOX_BIN=${NSBOX_BIN:-$SRC/nsbox}   # override to bench another build
NSBOX_SO=$(dirname "$NSBOX_BIN")/nsbox-images.so
if [ -x "$NSBOX_BIN" ] && [ -f "$NSBOX_SO" ]; then
	# nsbox dlopens nsbox-images.so from its own directory for image commands.
	install -m 0755 "$NSBOX_BIN" "$T/bin/nsbox"
	install -m 0644 "$NSBOX_SO" "$T/bin/nsbox-images.so"
	names+=(nsbox)
	cmds+=("$T/bin/nsbox pull -q $REF")
	preps+=("$T/aside $BD/data/nsbox")
	empty[nsbox]="! test -e $BD/data/nsbox/layers"
	# The merged view: the layers as overlay lower dirs (nsbox writes whiteouts as 0:0
	# devices and opaque dirs as user.overlay.opaque, for an overlay mount with userxattr).
	inspect[nsbox]="lower=\$($T/bin/nsbox images --json | python3 -c 'import json, sys
ls = [i for i in json.load(sys.stdin) if i[\"name\"] == sys.argv[1]][0][\"layers\"]
print(\":\".join(sys.argv[2] + \"/\" + d.split(\":\")[1] for d in reversed(ls)))' $REF $BD/data/nsbox/layers) &&
		$UNS -m sh -c 'mount -t overlay overlay -o ro,userxattr,lowerdir=\$1 $T/mnt && python3 $T/tree.py $T/mnt' sh \"\$lower\""
else
	say "nsbox: $NSBOX_BIN or $NSBOX_SO not built (make nsbox nsbox-images.so)"; status=1
fi

# --- check each command once from an empty store; benchmark only those that work ----------
# Each must start empty after its prepare, download every layer from the registry, and leave
# the unpacked image (tree.py's check); the three trees must be the same.
echo "== checking each command once (from an empty store)"
ok_names=() ok_cmds=() ok_preps=() trees=()
for i in "${!names[@]}"; do
	n=${names[$i]}
	if ! out=$(as_user sh -c "${preps[$i]} && ${empty[$n]}" 2>&1); then
		say "$n: its prepare does not leave an empty store, not benchmarked: ${preps[$i]}"
		printf '%s\n' "$out" | sed 's/^/    /' >&2; status=1; continue
	fi
	from=$(log_size)
	timed=(sh -c "${cmds[$i]}")
	[ -x /usr/bin/time ] && timed=(/usr/bin/time -f %M -o "$T/rss-$n" "${timed[@]}")
	if ! out=$(as_user "${timed[@]}" </dev/null 2>&1); then
		say "$n fails, not benchmarked: ${cmds[$i]}"
		printf '%s\n' "$out" | grep -v 'level=warning' | tail -n 20 | sed 's/^/    /' >&2
		status=1; continue
	fi
	got=$(downloads "$from" "$n")
	if ! tree=$(as_user sh -c "${inspect[$n]}" 2>&1) || [ "$got" != "$NLAYERS" ]; then
		say "$n did not produce the image, not benchmarked (layers downloaded: $got of $NLAYERS)"
		printf '%s\n' "$tree" | grep -v 'level=warning' | sed 's/^/    /' >&2
		status=1; continue
	fi
	tree=$(grep -v 'level=warning' <<<"$tree")
	printf '%-13s %d/%d layers downloaded; %s\n' "$n" "$got" "$NLAYERS" "$tree"
	ok_names+=("$n") ok_cmds+=("${cmds[$i]}") ok_preps+=("${preps[$i]}") trees+=("${tree%%:*}")
done
[ ${#ok_names[@]} -gt 0 ] || { say "nothing to benchmark"; exit 1; }
if [ "$(printf '%s\n' "${trees[@]}" | sort -u | wc -l)" -gt 1 ]; then
	say "the unpacked trees differ (see the digests above)"; status=1
fi

# --- time them -----------------------------------------------------------------------------
hf=(hyperfine --warmup "$WARMUP" --runs "$RUNS" --export-json "$T/results.json")
for i in "${!ok_names[@]}"; do
	hf+=(-n "${ok_names[$i]}" --prepare "${ok_preps[$i]}" "${ok_cmds[$i]}")
done
echo "== hyperfine, $WARMUP warmup + $RUNS runs each, each from an empty store, as user $U"
for i in "${!ok_names[@]}"; do
	printf '  %-13s %s\n  %-13s prepare: %s\n' "${ok_names[$i]}" "${ok_cmds[$i]}" "" "${ok_preps[$i]}"
done
from=$(log_size)
t0=$SECONDS
as_user "${hf[@]}" || { say "hyperfine failed"; exit 1; }
echo "(hyperfine took $((SECONDS - t0)) s)"
dl=""
for n in "${ok_names[@]}"; do
	got=$(downloads "$from" "$n") want=$(((WARMUP + RUNS) * NLAYERS))
	[ "$got" = "$want" ] || { say "$n: the registry served $got layer downloads, expected $want"; status=1; }
	dl+="$n $got/$want, "
done
echo "layer downloads served during the timing: ${dl%, } (each run downloads all $NLAYERS)"

# --- summary -------------------------------------------------------------------------------
python3 - "$T" "$PODMAN_WHY" <<'EOF'
import json, sys
t, podman_why = sys.argv[1], sys.argv[2]
res = {r["command"]: r for r in json.load(open(f"{t}/results.json"))["results"]}
def rss(name):
    try: return f'{int(open(f"{t}/rss-{name}").read().split()[-1]) / 1024:.0f} MB'
    except Exception: return "-"
med = {n: r["median"] for n, r in res.items()}
print("\n== summary (ratios are of medians)")
print(f'{"name":<14} {"median s":>9} {"mean ± stddev s":>16} {"min s":>7} {"peak RSS":>9}  ratio')
for n, r in res.items():
    ratio = f'{n} / nsbox = {med[n] / med["nsbox"]:.2f}x' if "nsbox" in med and n != "nsbox" else ""
    mean_sd = f'{r["mean"]:.2f} ± {r["stddev"] or 0:.2f}'
    print(f'{n:<14} {med[n]:>9.2f} {mean_sd:>16} {r["min"]:>7.2f} {rss(n):>9}  {ratio}')
print("(peak RSS: one run, GNU time %M, the largest process; podman's pause process is not counted)\n")
labels = {"skopeo+umoci": "skopeo+umoci", "podman": "podman pull"}
for o, label in labels.items():
    if "nsbox" not in med:
        print(f"nsbox pull vs {label}: nsbox NOT measured (it failed up front, see above)")
    elif o in med:
        print(f'nsbox pull vs {label}: {med["nsbox"] / med[o]:.2f}x their time')
    else:
        why = f" ({podman_why})" if o == "podman" and podman_why else " (it failed up front, see above)"
        print(f"nsbox pull vs {label}: not measured{why}")
EOF
[ $status = 0 ] || say "something failed or was left out (see above): exit $status"
exit $status
