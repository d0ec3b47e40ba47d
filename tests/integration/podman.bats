#!/usr/bin/env bats
# A real engine as nsbox's client (nsbox-oci(1)): Debian's podman, its
# runtime set to nsbox-oci, runs the busybox fixture image -- run --rm with
# output and exit status, -it through the console socket, -d then exec,
# stop and rm -- as root and as the unprivileged test user.  podman 4.3
# needs cgroupfs here, and as root default_ulimits (../shared/MACHINE-NOTES.md).

bats_require_minimum_version 1.5.0
load helpers
load registry

setup_file() {
  command -v podman >/dev/null || skip "podman is not installed (tests/deps.sh installs it)"
  FIXTURES=$(fixtures_dir)
  export FIXTURES
}

setup() {
  nsbox_setup
  BIN=$TEST_DIR/bin
  mkdir -p "$BIN"
  # The name is what makes nsbox the OCI runtime; the binary and its
  # plugins stay where the suite put them.
  ln -s "$NSBOX" "$BIN/nsbox-oci"
  cat >"$TEST_DIR/containers.conf" <<EOF2
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "nsbox"
[engine.runtimes]
nsbox = ["$BIN/nsbox-oci"]
EOF2
  chmod 644 "$TEST_DIR/containers.conf"
  mkdir -m 700 "$TEST_HOME/run" && chown "$TEST_UID:$TEST_GID" "$TEST_HOME/run"
}

teardown() {
  pm root rm -af -t 0 >/dev/null 2>&1 || true
  pm user rm -af -t 0 >/dev/null 2>&1 || true
  # Rootless podman's pause process, for this test's runtime dir: it would
  # sleep on after the dir is gone, one more for every test.
  local pause=$TEST_HOME/run/libpod/tmp/pause.pid
  [[ ! -s $pause ]] || kill -KILL "$(cat "$pause")" 2>/dev/null || true
  nsbox_teardown
}

# pm root|user PODMAN-ARGS...: podman with nsbox as its runtime, its storage
# in this test's directory (vfs: no fuse-overlayfs needed), as root or as the
# test user.
pm() {
  local who=$1
  shift
  if [[ $who == root ]]; then
    CONTAINERS_CONF=$TEST_DIR/containers.conf timeout -k 10 60 podman \
      --root "$TEST_DIR/proot" --runroot "$TEST_DIR/prun" --tmpdir "$TEST_DIR/ptmp" \
      --storage-driver vfs "$@"
  else
    local opt=()
    # Without subordinate ids the image's other owners cannot be kept.
    [[ $TEST_USER_HAS_SUBIDS == 1 ]] || opt=(--storage-opt vfs.ignore_chown_errors=true)
    as_user env CONTAINERS_CONF="$TEST_DIR/containers.conf" XDG_RUNTIME_DIR="$TEST_HOME/run" \
      podman --storage-driver vfs "${opt[@]}" "$@"
  fi
}

# The fixtures' OCI layout, pulled by a path podman can name an image after
# (lower case only: bats' temp dirs are not).
load_image() {
  local id layout=/tmp/nsbox-podman-fixture-$$
  [[ -e $layout ]] || { ln -sfn "$FIXTURES/oci" "$layout" && cleanup_later "$layout"; }
  id=$(pm "$1" pull -q "oci:$layout:latest" 2>/dev/null | tail -n 1) && [[ -n $id ]] || {
    pm "$1" pull "oci:$layout:latest" >&2; return 1; }
  pm "$1" tag "$id" localhost/busybox:latest
}

@test "podman run --rm with nsbox as its runtime: the output and the exit status, as root and as the user" {
  local who
  for who in root user; do
    load_image "$who"
    run --separate-stderr pm "$who" run --rm --network none localhost/busybox sh -c 'echo hello; exit 3'
    assert_status 3
    assert_equal "$output" hello
    run --separate-stderr pm "$who" run --rm --network none localhost/busybox cat /proc/1/comm
    assert_status 0
    # nsbox's own init is PID 1, the container's process its child.
    assert_equal "$output" nsbox-init
  done
}

@test "podman run -it: the terminal goes through the console socket" {
  local who out cmd
  # script's stdin stays open (EOF would end the session before the
  # container ran); no timeout(1) in between, which would put podman in a
  # background process group of the terminal.
  mkfifo "$TEST_DIR/tty-in"
  sleep 60 >"$TEST_DIR/tty-in" &
  echo "$!" >>"$TEST_DIR/.bg-pids"
  for who in root user; do
    load_image "$who"
    if [[ $who == root ]]; then
      cmd="podman --root $TEST_DIR/proot --runroot $TEST_DIR/prun --tmpdir $TEST_DIR/ptmp --storage-driver vfs"
    else
      cmd="setpriv --reuid=$TEST_UID --regid=$TEST_GID --init-groups -- env -i HOME=$TEST_HOME PATH=/usr/bin:/bin XDG_RUNTIME_DIR=$TEST_HOME/run CONTAINERS_CONF=$TEST_DIR/containers.conf podman --storage-driver vfs"
      [[ $TEST_USER_HAS_SUBIDS == 1 ]] || cmd+=" --storage-opt vfs.ignore_chown_errors=true"
    fi
    out=$(CONTAINERS_CONF=$TEST_DIR/containers.conf timeout -k 5 60 script -qec \
      "CONTAINERS_CONF=$TEST_DIR/containers.conf $cmd run --rm -it --network none localhost/busybox sh -c 'tty; test -t 0 && echo is-a-tty'" \
      /dev/null <"$TEST_DIR/tty-in") || { echo "as $who: status $?: $out" >&2; false; }
    out=${out//$'\r'/}
    [[ $out == *"/dev/pts/"* && $out == *is-a-tty* ]] || { echo "as $who: $out" >&2; false; }
  done
}

@test "podman run -d, then exec into it, stop it and rm it" {
  local who
  for who in root user; do
    load_image "$who"
    run --separate-stderr pm "$who" run -d --name bg --network none localhost/busybox sh -c 'echo started >/tmp/m; sleep 60'
    assert_status 0
    run --separate-stderr pm "$who" ps --format '{{.Names}} {{.Status}}'
    [[ $output == "bg Up"* ]] || { _show_run; false; }
    for _ in $(seq 50); do pm "$who" exec bg test -e /tmp/m && break; sleep 0.1; done
    run --separate-stderr pm "$who" exec bg sh -c 'cat /tmp/m; exit 5'
    assert_status 5
    assert_equal "$output" started
    run --separate-stderr pm "$who" stop -t 2 bg
    assert_status 0
    run --separate-stderr pm "$who" ps -a --format '{{.Names}} {{.Status}}'
    [[ $output == "bg Exited (143)"* ]] || { _show_run; false; }
    run --separate-stderr pm "$who" rm bg
    assert_status 0
    run --separate-stderr pm "$who" ps -a -q
    assert_equal "$output" ""
  done
}

@test "rootless podman's own network (slirp4netns) reaches the container through a joined network namespace" {
  [[ -r /dev/net/tun && -w /dev/net/tun ]] && [[ $(stat -c %a /dev/net/tun) == 666 ]] ||
    skip "/dev/net/tun is not usable by users here (mode $(stat -c %a /dev/net/tun 2>/dev/null)): slirp4netns cannot start"
  load_image user
  run --separate-stderr pm user run --rm localhost/busybox sh -c 'ip -o -4 addr show | grep -v " lo "'
  assert_status 0
  [[ $output == *"inet "* ]] || { _show_run; false; }
}
