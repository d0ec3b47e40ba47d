#!/bin/sh
# Run the `nsbox load` fuzz harnesses, each for FUZZ_SECONDS.
#
#   run-fuzz.sh BUILD_DIR SEED_DIR SECONDS HARNESS...
#
# As root the harnesses run as FUZZ_USER (nsbox-test): an extraction with
# root's rights would do the harm of any escape it found.  Everything they
# touch lives in a private dir under /tmp owned by that user; the corpus
# they grow is copied back to BUILD_DIR/corpus/NAME (fed to the next run),
# crashes, leaks and timeouts to BUILD_DIR/artifacts/NAME.  Set FUZZ_OPTS for
# more libFuzzer flags (e.g. "-fork=2 -ignore_crashes=1" to go on past a
# known bug).  Exits non-zero when a harness found something.
set -eu

build=$1 seeds=$2 seconds=$3
shift 3
user=${FUZZ_USER:-nsbox-test}
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d /tmp/nsbox-fuzz.XXXXXX)
trap 'chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/bin"
cp "$here/load.dict" "$tmp/"
as_user=
if [ "$(id -u)" = 0 ]; then
    as_user="runuser -u $user --"
fi

status=0
for name in "$@"; do
    mkdir -p "$tmp/corpus/$name" "$tmp/artifacts/$name" \
        "$build/corpus/$name" "$build/artifacts/$name"
    cp "$build/fuzz_load_$name" "$tmp/bin/"
    cp -r "$seeds/$name" "$tmp/seeds-$name"
    cp -r "$build/corpus/$name/." "$tmp/corpus/$name/"
    [ -z "$as_user" ] || chown -R "$user:" "$tmp"
    chmod 755 "$tmp"
    echo "== fuzz_load_$name: $seconds s, corpus $build/corpus/$name" \
         "(+ seeds $seeds/$name)${as_user:+, as $user}"
    rc=0
    (cd "$tmp" && $as_user env TMPDIR="$tmp" HOME="$tmp" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$tmp/bin/fuzz_load_$name" -max_total_time="$seconds" -timeout=25 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -dict="$tmp/load.dict" -artifact_prefix="$tmp/artifacts/$name/" \
        ${FUZZ_OPTS:-} "$tmp/corpus/$name" "$tmp/seeds-$name") || rc=$?
    cp -r "$tmp/corpus/$name/." "$build/corpus/$name/"
    if [ -n "$(ls -A "$tmp/artifacts/$name")" ]; then
        cp "$tmp/artifacts/$name/"* "$build/artifacts/$name/"
        echo "== fuzz_load_$name: found (exit $rc):"
        for f in "$tmp/artifacts/$name/"*; do
            echo "   $build/artifacts/$name/$(basename "$f")"
        done
        status=1
    elif [ "$rc" != 0 ]; then
        echo "== fuzz_load_$name: exit $rc"
        status=1
    fi
    # Whether inputs reach extraction: the corpus replayed once, and the
    # functions of oci/extract.c it covered.
    (cd "$tmp" && $as_user env TMPDIR="$tmp" HOME="$tmp" \
        ASAN_OPTIONS=detect_leaks=0 "$tmp/bin/fuzz_load_$name" -runs=0 \
        -print_coverage=1 "$tmp/corpus/$name" "$tmp/seeds-$name" 2>&1) \
        | grep -E 'COVERED_FUNC: .* (oci_extract_layer|write_entry|write_file|write_dir|write_symlink|write_hardlink|write_fifo|write_whiteout|write_opaque|fixup_dirs|img_unpack|finish_image) ' \
        | sed 's/^/   /' || true
done
exit $status
