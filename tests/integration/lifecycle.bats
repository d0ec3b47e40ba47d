#!/usr/bin/env bats
# The lifecycle of a sandbox (nsbox-run(1) -d, nsbox-exec(1), nsbox-stop(1),
# nsbox-rm(1) -f): one init per sandbox, joined by exec and by a second run,
# its status derived from that init, nothing left behind by a killed nsbox.

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
  RUN=/tmp/nsbox-$TEST_UID
}

teardown() {
  # Detached sandboxes outlive the commands that made them: end them.
  local n
  for n in $(as_user "$NSBOX" ls -q 2>/dev/null); do
    as_user "$NSBOX" stop -t 0 "$n" >/dev/null 2>&1 || true
  done
  nsbox_teardown
}

# The live inits of the test user's sandboxes.
live_inits() {
  live_procs nsbox-init
}

inits() {
  live_inits | wc -l
}

start_detached() {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" shell -- -c "$1"
  assert_status 0
  assert_equal "$output" proj-shell
}

@test "run -d starts the sandbox in the background and returns; it keeps running and ls says so" {
  start_detached 'echo hello; echo made >/tmp/marker; sleep 60'
  assert_equal "$(inits)" 1
  run --separate-stderr nsbox_user ls
  [[ ${lines[1]} == *" proj-shell "*" running "* ]] || { _show_run; false; }
  # Its output goes to output.log in its runtime dir.
  local log id
  id=$(basename "$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1)")
  for _ in $(seq 50); do
    log=$(cat "$RUN/$id/output.log" 2>/dev/null) && [[ $log == hello ]] && break
    sleep 0.1
  done
  assert_equal "$log" hello
}

@test "exec runs a command in the running sandbox: its pid namespace, its /tmp, its hostname, the workspace as cwd" {
  start_detached 'echo made >/tmp/marker; sleep 60'
  wait_for_marker
  run --separate-stderr nsbox_user exec proj-shell sh -c 'cat /tmp/marker; cat /proc/1/comm; hostname; pwd; id -u'
  assert_status 0
  assert_equal "${lines[0]}" made
  assert_equal "${lines[1]}" nsbox-init
  assert_equal "${lines[2]}" proj-shell
  assert_equal "${lines[3]}" "$WS"
  assert_equal "${lines[4]}" "$TEST_UID"
  # Still one init: exec joined, it did not start another sandbox.
  assert_equal "$(inits)" 1
}

wait_for_marker() {
  for _ in $(seq 50); do
    as_user "$NSBOX" exec proj-shell test -e /tmp/marker 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the sandbox never wrote /tmp/marker" >&2
  return 1
}

@test "exec passes on the command's exit status, 127 for a command not found, 126 for one that cannot run" {
  start_detached 'sleep 60'
  run --separate-stderr nsbox_user exec proj-shell sh -c 'exit 7'
  assert_status 7
  run -127 --separate-stderr nsbox_user exec proj-shell no-such-command
  assert_status 127
  [[ $stderr == *"exec no-such-command: command not found"* ]] || { _show_run; false; }
  run -126 --separate-stderr nsbox_user exec proj-shell /etc/hostname
  assert_status 126
}

@test "exec -e sets variables over the sandbox's, -w picks the directory, -u takes a numeric user" {
  start_detached 'sleep 60'
  mkdir -p "$WS/sub" && chown "$TEST_UID:$TEST_GID" "$WS/sub"
  run --separate-stderr nsbox_user exec -e FOO=bar -e NSBOX_SANDBOX=other -w "$WS/sub" proj-shell sh -c 'echo "$FOO $NSBOX_SANDBOX $PWD"'
  assert_status 0
  assert_equal "$output" "bar other $WS/sub"
  run --separate-stderr nsbox_user exec -u nobody proj-shell true
  assert_status 125
  [[ $stderr == *"-u nobody: not a user nsbox knows"* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user exec -w relative proj-shell true
  assert_status 125
}

@test "exec -t gives the command a terminal of the sandbox's own devpts" {
  start_detached 'sleep 60'
  run --separate-stderr nsbox_user exec -t proj-shell sh -c 'test -t 0 && tty'
  assert_status 0
  [[ $output == /dev/pts/* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user exec proj-shell sh -c 'test -t 0 || echo no-tty'
  assert_equal "$output" no-tty
}

@test "a second run of a running sandbox joins it: one init, one pid namespace" {
  start_detached 'echo made >/tmp/marker; sleep 60'
  wait_for_marker
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'cat /tmp/marker; cat /proc/1/comm'
  assert_status 0
  assert_equal "${lines[0]}" made
  assert_equal "${lines[1]}" nsbox-init
  assert_equal "$(inits)" 1
  # run -d of a running sandbox does nothing and says so.
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" shell
  assert_status 0
  [[ $stderr == *"sandbox proj-shell is running already"* ]] || { _show_run; false; }
}

@test "a run joins a foreground run of the same workspace" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" shell -- -c 'echo fg >/tmp/marker; echo started; sleep 60'
  wait_for_output "$TEST_DIR/bg.out" started 10
  run --separate-stderr nsbox_user exec proj-shell cat /tmp/marker
  assert_status 0
  assert_equal "$output" fg
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'cat /tmp/marker'
  assert_equal "$output" fg
  assert_equal "$(inits)" 1
}

@test "two concurrent runs of a new workspace end with one sandbox" {
  # Each waits until two lines are in /tmp/who: only one /tmp -- one
  # sandbox -- lets both finish.
  local cmd='echo x >>/tmp/who; while [ "$(wc -l </tmp/who)" -lt 2 ]; do sleep 0.1; done; echo both; sleep 1'
  as_user_bg "$TEST_DIR/a.out" "$NSBOX" run -w "$WS" shell -- -c "$cmd"
  local a=$BG_PID
  as_user_bg "$TEST_DIR/b.out" "$NSBOX" run -w "$WS" shell -- -c "$cmd"
  wait_bg "$a" 20 || { cat "$TEST_DIR/a.out" "$TEST_DIR/b.out" >&2; false; }
  wait_bg "$BG_PID" 20 || true
  grep -qx both "$TEST_DIR/a.out" || { cat "$TEST_DIR/a.out" >&2; false; }
  grep -qx both "$TEST_DIR/b.out" || { cat "$TEST_DIR/b.out" >&2; false; }
  assert_equal "$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1 | wc -l)" 1
}

@test "stop ends a running sandbox: SIGTERM, then SIGKILL after -t seconds" {
  start_detached 'trap "" TERM; while :; do sleep 1; done'
  local t0=$SECONDS
  run --separate-stderr nsbox_user stop -t 1 proj-shell
  assert_status 0
  assert_equal "$output" proj-shell
  ((SECONDS - t0 >= 1)) || { echo "stop did not wait for -t" >&2; false; }
  assert_equal "$(inits)" 0
  run --separate-stderr nsbox_user ls -a
  [[ ${lines[1]} == *" stopped "* ]] || { _show_run; false; }
  # A stopped sandbox stops again without complaint; exec says it is not running.
  run --separate-stderr nsbox_user stop proj-shell
  assert_status 0
  run --separate-stderr nsbox_user exec proj-shell true
  assert_status 125
  [[ $stderr == *"sandbox proj-shell is not running"* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user stop no-such
  assert_status 125
  [[ $stderr == *"stop no-such: no such sandbox"* ]] || { _show_run; false; }
}

@test "stop of a sandbox whose agent ends on SIGTERM is quick, and its state persists for the next run" {
  start_detached 'echo kept >"$HOME/state"; sleep 60'
  run --separate-stderr nsbox_user stop -t 30 proj-shell
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'cat "$HOME/state"'
  assert_equal "$output" kept
}

@test "rm refuses a running sandbox; rm -f stops it and removes it" {
  start_detached 'sleep 60'
  run --separate-stderr nsbox_user rm proj-shell
  assert_status 125
  [[ $stderr == *"rm proj-shell: the sandbox is running"* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user rm -f proj-shell
  assert_status 0
  assert_equal "$(inits)" 0
  assert_equal "$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1 | wc -l)" 0
}

@test "a killed nsbox run takes its sandbox with it, and the next run starts afresh" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" shell -- -c 'echo started; sleep 60'
  wait_for_output "$TEST_DIR/bg.out" started 10
  kill -KILL "$BG_PID"
  for _ in $(seq 50); do [[ $(inits) == 0 ]] && break; sleep 0.1; done
  assert_equal "$(inits)" 0
  run --separate-stderr nsbox_user ls -a
  [[ ${lines[1]} == *" stopped "* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo again'
  assert_status 0
  assert_equal "$output" again
}

@test "a detached sandbox whose init was killed reads as stopped, and run -d starts it again" {
  start_detached 'sleep 60'
  pkill -KILL -u "$TEST_UID" -x nsbox-init
  for _ in $(seq 50); do [[ $(inits) == 0 ]] && break; sleep 0.1; done
  run --separate-stderr nsbox_user exec proj-shell true
  assert_status 125
  [[ $stderr == *"not running"* ]] || { _show_run; false; }
  start_detached 'sleep 60'
  run --separate-stderr nsbox_user exec proj-shell echo back
  assert_equal "$output" back
}

@test "exec -u root in an image sandbox is root with the sandbox's capabilities, -u 1000 has none" {
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] || skip "needs subordinate ids: without them only the user's own id is mapped"
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" -t localhost/oci:latest shell -- -c 'sleep 60'
  assert_status 0
  run --separate-stderr nsbox_user exec -u root proj-shell sh -c 'id -u; grep CapEff /proc/self/status'
  assert_status 0
  assert_equal "${lines[0]}" 0
  [[ ${lines[1]} == CapEff:* && ${lines[1]} != *"0000000000000000" ]] || { _show_run; false; }
  run --separate-stderr nsbox_user exec -u 1000:1000 proj-shell sh -c 'id -u; id -g; grep CapEff /proc/self/status'
  assert_status 0
  assert_equal "${lines[0]}" 1000
  assert_equal "${lines[1]}" 1000
  [[ ${lines[2]} == *"0000000000000000" ]] || { _show_run; false; }
}

@test "exec -t on a terminal: the user's window size from the start, and Ctrl-C reaches the command" {
  start_detached 'sleep 60'
  run as_user python3 "$BATS_TEST_DIRNAME/pty-drive.py" 29 97 ready '\x03' \
    "$NSBOX" exec -t proj-shell sh -c 'stty size; echo ready; sleep 20; echo not-interrupted'
  assert_status 130
  assert_output_has "29 97"
  refute_output_has not-interrupted
  # The sandbox itself goes on.
  run --separate-stderr nsbox_user exec proj-shell echo still-there
  assert_equal "$output" still-there
}

@test "a run that asks a running sandbox for other options says what differs; --recreate restarts it with them, its files kept" {
  start_detached 'echo kept >"$HOME/state"; sleep 60'
  local data
  data=$(mk_workspace data)
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -v "$data:/data" --credentials none shell -- -c 'echo joined'
  assert_status 125
  [[ $output != *joined* ]] || { _show_run; false; }
  [[ $stderr == *"sandbox proj-shell is running with other options (-v: asked [\"$data:/data:rw\"], running with none; --credentials: asked none, running with sandbox)"* ]] || { _show_run; false; }
  [[ $stderr == *"--recreate"* ]] || { _show_run; false; }
  # The same options join as before; -e is the joined command's own.
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -e FOO=1 shell -- -c 'echo "joined $FOO"'
  assert_equal "$output" "joined 1"
  run --separate-stderr as_user "$NSBOX" run -d --recreate -w "$WS" -v "$data:/data" shell -- -c 'sleep 60'
  assert_status 0
  run --separate-stderr nsbox_user exec proj-shell sh -c 'ls -d /data && cat "$HOME/state"'
  assert_status 0
  assert_equal "${lines[1]}" kept
  assert_equal "$(inits)" 1
}

@test "a detached sandbox's init shows ps its name, not the command line it was started with" {
  # ps shows every user's command lines, and a detached init lives on.
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" -e TOKEN=s3cr3t-value shell -- -c 'sleep 60'
  assert_status 0
  local p
  p=$(live_inits)
  [[ -n $p && $p != *$'\n'* ]] || { echo "inits: $p" >&2; false; }
  assert_equal "$(ps -o args= -p "$p")" nsbox-init
  [[ $(tr '\0' ' ' </proc/"$p"/cmdline) != *s3cr3t* ]]
  # Inside, the agent sees the same.
  run --separate-stderr nsbox_user exec proj-shell cat /proc/1/cmdline
  assert_status 0
  assert_equal "$(printf '%s' "$output" | tr -d '\0')" nsbox-init
}
