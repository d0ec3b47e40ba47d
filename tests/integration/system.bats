#!/usr/bin/env bats
# nsbox unshare and nsbox system reset (nsbox-unshare(1), nsbox-system(1)):
# what nsbox keeps with the user's subordinate ids (layers, sandboxes'
# upper dirs) stays the user's to inspect and remove, without sudo.

bats_require_minimum_version 1.5.0
load helpers
load registry
load image_helpers

setup_file() {
  FIXTURES=$(fixtures_dir)
  export FIXTURES
}

setup() {
  nsbox_setup
  image_paths
  WS=$(mk_workspace proj)
}

teardown() {
  nsbox_teardown
}

@test "nsbox unshare runs a command as root of nsbox's user namespace (with subordinate ids), else as the user" {
  run --separate-stderr nsbox_user unshare sh -c 'id -u; wc -l </proc/self/uid_map'
  assert_status 0
  if [[ $TEST_USER_HAS_SUBIDS == 1 ]]; then
    assert_equal "${lines[0]}" 0
    assert_equal "${lines[1]}" 2
  else
    assert_equal "${lines[0]}" "$TEST_UID"
  fi
}

@test "nsbox unshare passes on the command's exit status; a missing command is 127" {
  run --separate-stderr nsbox_user unshare sh -c 'exit 7'
  assert_status 7
  run -127 --separate-stderr nsbox_user unshare no-such-command-nsbox
  assert_status 127
  [[ $stderr == *"no-such-command-nsbox"* ]] || { _show_run; false; }
}

@test "with nsbox unshare the user can remove a sandbox's files of subordinate ids, which plain rm cannot" {
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] || skip "without subordinate ids every file is the user's (the nsbox-test-sub run covers this)"
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest shell -- -c \
    'mkdir -p /home/agent/d && touch /home/agent/d/f && chown -R 1000:1000 /home/agent/d && chmod 700 /home/agent/d'
  assert_status 0
  local d
  d=$(find "$DATA/sandboxes" -mindepth 3 -maxdepth 5 -path '*/upper/home/agent/d')
  [[ -n $d ]]
  run as_user rm -rf "$d"
  [[ $status -ne 0 ]] || { echo "plain rm could remove it: the test shows nothing" >&2; false; }
  run --separate-stderr nsbox_user unshare rm -rf "$d"
  assert_status 0
  [[ ! -e $d ]]
}

@test "system reset -f removes every sandbox, image, layer and volume; without -f and a terminal it refuses" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest shell -- -c \
    'touch /root/x && chown 1000 /root/x 2>/dev/null; true'
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --name other shell -- -c true
  run --separate-stderr nsbox_user system reset
  assert_status 125
  [[ $stderr == *"-f to do it without asking"* ]] || { _show_run; false; }
  [[ -d $DATA/store ]]
  run --separate-stderr nsbox_user system reset -f
  assert_status 0
  [[ ! -e $DATA ]]
  run --separate-stderr nsbox_user ls -a -q
  assert_equal "$output" ""
}

@test "system reset refuses while a sandbox runs" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" shell -- -c 'echo started; sleep 30'
  wait_for_output "$TEST_DIR/bg.out" started 10
  run --separate-stderr nsbox_user system reset -f
  assert_status 125
  [[ $stderr == *"the sandbox proj-shell is running"* ]] || { _show_run; false; }
  [[ -d $DATA/sandboxes ]]
  kill -TERM "$BG_PID"
  wait "$BG_PID" || true
}
