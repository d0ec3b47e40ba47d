#!/bin/sh
# PID 1 of the user-mode-linux kernel that tests/cgroup/uml.sh boots.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. "$NSBOX_UML_DIR/config"
out=$NSBOX_UML_DIR
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# The tests' files on a tmpfs: hostfs shows every file as owned by the
# process that runs the kernel (root), so the test user could not remove
# its own there.  Not over /tmp, which may hold the repo.
t=$out/t
mount -t tmpfs -o mode=1777 tmpfs "$t"
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# A subtree of the user's, as systemd's user@.service delegates one: the
# user owns it and its control files; its processes sit in a leaf (init).
cg=/sys/fs/cgroup
uid=$(id -u "$TEST_USER") gid=$(id -g "$TEST_USER")
echo "+cpu +memory +pids" >"$cg/cgroup.subtree_control"
mkdir -p "$cg/user/init"
chown "$uid:$gid" "$cg/user" "$cg/user/cgroup.procs" "$cg/user/cgroup.subtree_control" \
  "$cg/user/cgroup.threads" "$cg/user/init" "$cg/user/init/cgroup.procs" \
  "$cg/user/init/cgroup.threads"
echo $$ >"$cg/user/init/cgroup.procs"
mkdir -m 700 "$t/run" && chown "$uid:$gid" "$t/run"
# The suite, or (bench/bench.sh) a script run the same way.
if [ -n "${SCRIPT-}" ]; then
  set -- sh "$SCRIPT"
else
  # shellcheck disable=SC2086 # BATS_ARGS: words
  set -- bats --tap $BATS_ARGS "$SUITE"
fi
setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i PATH="$PATH" \
  HOME="$t" TMPDIR="$t" NSBOX_TEST_TMPDIR="$t" NSBOX_TEST_RUNTIME_DIR="$t/run" \
  XDG_RUNTIME_DIR="$t/run" LANG=C NSBOX="$NSBOX" TEST_USER="$TEST_USER" \
  TEST_USER_HAS_SUBIDS="$TEST_USER_HAS_SUBIDS" TEST_CGROUP_ROOT="$cg/user" \
  BATS_TEST_TIMEOUT=120 "$@" >"$out/tap" 2>&1 </dev/null
echo $? >"$out/status"
sync
halt -f
