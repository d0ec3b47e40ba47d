#!/usr/bin/env bats
# containerd as nsbox's client (nsbox-oci(1)): Debian's containerd and its
# runc shim (containerd-shim-runc-v2) with nsbox-oci as the runc binary,
# driven by ctr, run the busybox fixture image.  As root: containerd is a
# root daemon here (a private one per test file: its own config, root,
# state and socket).

bats_require_minimum_version 1.5.0
load helpers
load registry

setup_file() {
  command -v containerd >/dev/null && command -v ctr >/dev/null ||
    skip "containerd is not installed (tests/deps.sh installs it)"
  FIXTURES=$(fixtures_dir)
  CTRD=$(mktemp -d /tmp/nsbox-ctrd.XXXXXX)
  cat >"$CTRD/config.toml" <<EOF2
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD/sock"
[ttrpc]
  address = "$CTRD/sock.ttrpc"
EOF2
  # Not holding bats' output open (fd 3), or bats would wait for it.
  containerd --config "$CTRD/config.toml" </dev/null >"$CTRD/log" 2>&1 3>&- &
  echo "$!" >"$CTRD/pid"
  local i
  for i in $(seq 100); do
    ctr -a "$CTRD/sock" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  ctr -a "$CTRD/sock" images import "$FIXTURES/docker-archive.tar" >/dev/null
  export FIXTURES CTRD
}

teardown_file() {
  [[ -n ${CTRD-} ]] || return 0
  kill "$(cat "$CTRD/pid")" 2>/dev/null || true
  # Shims outlive their daemon by design.
  pkill -f "containerd-shim-runc-v2 .*-address $CTRD/sock" 2>/dev/null || true
  sleep 0.5
  rm -rf "$CTRD"
}

setup() {
  nsbox_setup
  mkdir -p "$TEST_DIR/bin"
  ln -s "$NSBOX" "$TEST_DIR/bin/nsbox-oci"
  RUNC=$TEST_DIR/bin/nsbox-oci
  IMAGE=docker.io/nsbox-test/busybox:latest
}

teardown() {
  local id
  for id in $(c containers ls -q 2>/dev/null); do
    c task kill -s KILL "$id" >/dev/null 2>&1 || true
    c task delete -f "$id" >/dev/null 2>&1 || true
    c containers rm "$id" >/dev/null 2>&1 || true
  done
  nsbox_teardown
}

c() {
  timeout -k 5 60 ctr -a "$CTRD/sock" "$@"
}

@test "ctr run --rm with nsbox-oci as the runc binary: the output and the exit status" {
  run --separate-stderr c run --rm --runc-binary "$RUNC" "$IMAGE" t1 sh -c 'echo hello from containerd; cat /proc/1/comm; exit 4'
  assert_status 4
  assert_equal "${lines[0]}" "hello from containerd"
  assert_equal "${lines[1]}" nsbox-init
  run --separate-stderr c containers ls -q
  assert_equal "$output" ""
}

@test "ctr run -d, then task exec, task ps, task kill and delete" {
  run --separate-stderr c run -d --runc-binary "$RUNC" "$IMAGE" t2 sh -c 'echo up >/tmp/m; sleep 60'
  assert_status 0
  run --separate-stderr c task ls
  [[ $output == *"t2 "*RUNNING* ]] || { _show_run; false; }
  for _ in $(seq 50); do c task exec --exec-id probe t2 test -e /tmp/m && break; sleep 0.1; done
  run --separate-stderr c task exec --exec-id e1 t2 sh -c 'cat /tmp/m; exit 6'
  assert_status 6
  assert_equal "$output" up
  # The shim asks `ps --format json` for the task's pids.
  run --separate-stderr c task ps t2
  assert_status 0
  [[ ${#lines[@]} -ge 3 ]] || { _show_run; false; }
  run --separate-stderr c task kill t2
  assert_status 0
  for _ in $(seq 50); do [[ $(c task ls) == *STOPPED* ]] && break; sleep 0.1; done
  [[ $(c task ls) == *"t2 "*STOPPED* ]] || { c task ls >&2; false; }
  run --separate-stderr c task delete t2
  assert_status 0
  run --separate-stderr c containers rm t2
  assert_status 0
}

@test "ctr run -t: the terminal goes through the shim's console socket" {
  mkfifo "$TEST_DIR/tty-in"
  sleep 30 >"$TEST_DIR/tty-in" &
  echo "$!" >>"$TEST_DIR/.bg-pids"
  local out
  out=$(timeout -k 5 60 script -qec \
    "ctr -a $CTRD/sock run --rm -t --runc-binary $RUNC $IMAGE t3 sh -c 'tty; test -t 0 && echo is-a-tty'" \
    /dev/null <"$TEST_DIR/tty-in")
  out=${out//$'\r'/}
  [[ $out == *"/dev/pts/"* && $out == *is-a-tty* ]] || { echo "$out" >&2; false; }
}
