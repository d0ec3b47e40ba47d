#!/bin/sh
# Run the cgroup v2 suite (cgroup.bats) inside a real cgroup v2 kernel:
# Debian's user-mode-linux boots one as an ordinary process in seconds, with
# this machine's files as its root (hostfs).  Its init (uml-init.sh) mounts
# cgroup2, delegates a subtree to the test user the way systemd does, and
# runs the suite as that user; the TAP comes back through a shared dir.
#
#   sh tests/cgroup/uml.sh NSBOX TEST_USER HAS_SUBIDS [BATS ARGS...]
#   NSBOX_UML_SCRIPT=FILE sh tests/cgroup/uml.sh NSBOX TEST_USER HAS_SUBIDS
set -u
here=$(cd "$(dirname "$0")" && pwd)
nsbox=$1 user=$2 subids=$3
shift 3
if ! command -v linux.uml >/dev/null; then
  echo "1..1"
  echo "ok 1 cgroup v2 limits in user-mode-linux # SKIP user-mode-linux is not installed (tests/deps.sh installs it); this host's cgroups are a v1/v2 hybrid with no controllers on cgroup2"
  exit 0
fi
# The kernel mounts a tmpfs on $dir/t for the tests' files (hostfs files
# show the owner of the process that runs the kernel, root, so the test
# user could not remove its own on it).
dir=$(mktemp -d /var/tmp/nsbox-uml.XXXXXX) || exit 1
chmod 755 "$dir"
mkdir "$dir/bin" "$dir/t" && chmod 755 "$dir/bin" "$dir/t"
for f in "$nsbox" "$(dirname "$nsbox")"/nsbox-*.so; do
  [ -f "$f" ] && cp "$f" "$dir/bin/" && chmod a+rX "$dir/bin/${f##*/}"
done
{
  printf 'NSBOX=%s\nTEST_USER=%s\nTEST_USER_HAS_SUBIDS=%s\n' "$dir/bin/nsbox" "$user" "$subids"
  printf 'SUITE=%s\n' "$here/cgroup.bats"
  # NSBOX_UML_SCRIPT: a script to run instead of the suite (bench/bench.sh).
  printf 'SCRIPT=%s\n' "${NSBOX_UML_SCRIPT-}"
  printf 'BATS_ARGS="%s"\n' "$*"
} >"$dir/config"
# The kernel passes NAME=VALUE words of its command line to init as its
# environment.
timeout -k 10 900 linux.uml mem=768M rootfstype=hostfs rootflags=/ rw \
  init="$here/uml-init.sh" NSBOX_UML_DIR="$dir" con=null con0=fd:0,fd:1 \
  </dev/null >"$dir/console" 2>&1
rc=$?
if [ -s "$dir/tap" ]; then
  cat "$dir/tap"
  status=$(cat "$dir/status" 2>/dev/null || echo 1)
else
  echo "uml: the kernel ended (status $rc) without the suite's results; its console:" >&2
  tail -n 30 "$dir/console" >&2
  status=1
fi
rm -rf "$dir"
exit "$status"
