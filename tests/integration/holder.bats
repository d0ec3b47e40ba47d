#!/usr/bin/env bats
# The id-mapping holder: with subordinate ids, nsbox run keeps one sleeping
# process per user whose user namespace is mapped once by newuidmap and
# newgidmap; each sandbox's own user namespace is made inside it and mapped
# by nsbox directly (nsbox-run(1), "ID MAPPING HOLDER").  Each test has a
# runtime dir of its own, so a holder is this test's alone.

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
  ((TEST_USER_HAS_SUBIDS)) ||
    skip "the holder is kept only with subordinate ids; $TEST_USER has none in /etc/subuid"
  WS=$(mk_workspace ws)
  RT=$TEST_DIR/rt
  mkdir -m 700 "$RT"
  chown "$TEST_UID:$TEST_GID" "$RT"
  PIDFILE=$RT/nsbox/userns.pid
  # newuidmap and newgidmap, as nsbox finds them in $PATH, with a log of
  # each call: the set-uid programs themselves do the work.
  mkdir "$TEST_DIR/bin"
  for t in newuidmap newgidmap; do
    printf '#!/bin/sh\necho "%s $*" >>%s/maplog\nexec /usr/bin/%s "$@"\n' \
      "$t" "$TEST_DIR" "$t" >"$TEST_DIR/bin/$t"
    chmod 755 "$TEST_DIR/bin/$t"
  done
  touch "$TEST_DIR/maplog"
  chown "$TEST_UID:$TEST_GID" "$TEST_DIR/maplog"
  FIXTURE_IMAGE=localhost/oci:latest
  run --separate-stderr as_user env XDG_RUNTIME_DIR="$RT" "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
}

teardown() {
  stop_user_sandboxes_rt
  nsbox_teardown
}

nsbox_rt() {
  as_user env XDG_RUNTIME_DIR="$RT" PATH="$TEST_DIR/bin:/usr/local/bin:/usr/bin:/bin" "$NSBOX" "$@"
}

stop_user_sandboxes_rt() {
  local n
  [[ -d ${RT-} ]] || return 0
  for n in $(nsbox_rt ls -q 2>/dev/null); do
    nsbox_rt stop -t 0 "$n" >/dev/null 2>&1 || true
  done
}

holder_pid() {
  [[ -s $PIDFILE ]] && cut -d' ' -f1 "$PIDFILE"
}

maps_run() {
  grep -c '^newuidmap' "$TEST_DIR/maplog" || true
}

@test "with subordinate ids only the first start runs newuidmap: later ones map through the holder" {
  run --separate-stderr nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c 'id -u'
  assert_status 0
  first=$(maps_run)
  ((first >= 1))
  pid=$(holder_pid)
  [[ -n $pid ]]
  assert_equal "$(cat /proc/"$pid"/comm)" nsbox-userns
  for _ in 1 2 3; do
    run --separate-stderr nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c 'id -u'
    assert_status 0
  done
  # Without the holder each start runs newuidmap once more.
  assert_equal "$(maps_run)" "$first"
  assert_equal "$(holder_pid)" "$pid"
}

@test "each sandbox has a user namespace of its own, neither the holder's nor another sandbox's" {
  WS2=$(mk_workspace ws2)
  nsbox_rt run -d -w "$WS" -t "$FIXTURE_IMAGE" --name one shell -- -c 'sleep 300'
  nsbox_rt run -d -w "$WS2" -t "$FIXTURE_IMAGE" --name two shell -- -c 'sleep 300'
  one=$(nsbox_rt exec one readlink /proc/self/ns/user)
  two=$(nsbox_rt exec two readlink /proc/self/ns/user)
  holder=$(as_user readlink "/proc/$(holder_pid)/ns/user")
  [[ $one == user:* && $two == user:* && $holder == user:* ]]
  [[ $one != "$two" && $one != "$holder" && $two != "$holder" ]]
  # The ids stay what they were: the user's files are the user's.
  nsbox_rt exec one touch /tmp/x
  nsbox_rt exec -u root one sh -c "touch $WS/by-root"
  run stat -c %u "$WS/by-root"
  assert_equal "$output" "$(id -u "$TEST_USER")"
}

@test "a removed runtime dir ends the holder" {
  nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c true
  pid=$(holder_pid)
  [[ -n $pid ]]
  rm -f "$PIDFILE"
  for _ in $(seq 30); do
    [[ $(cat /proc/"$pid"/comm 2>/dev/null) == nsbox-userns ]] || break
    [[ $(awk '/^State:/ {print $2}' /proc/"$pid"/status 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  state=$(awk '/^State:/ {print $2}' /proc/"$pid"/status 2>/dev/null || true)
  [[ -z $state || $state == Z ]] || { echo "holder $pid still $state" >&2; false; }
}

@test "a killed holder is replaced at the next start" {
  nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c true
  pid=$(holder_pid)
  before=$(maps_run)
  kill -KILL "$pid"
  run --separate-stderr nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c 'echo ok'
  assert_status 0
  assert_equal "$output" ok
  [[ $(holder_pid) != "$pid" ]]
  # The new holder's maps, and nothing else: the sandbox's go through it.
  assert_equal "$(maps_run)" $((before + 1))
}

@test "a recorded pid that is no longer the holder is never signalled" {
  as_user_bg "$TEST_DIR/sleep.out" sleep 300
  victim=$BG_PID
  mkdir -p "$RT/nsbox"
  chown "$TEST_UID:$TEST_GID" "$RT/nsbox"
  # The pid now belongs to another process of the user (a reused pid): its
  # user namespace is not the one recorded.
  echo "$victim 1" >"$PIDFILE"
  chown "$TEST_UID:$TEST_GID" "$PIDFILE"
  run --separate-stderr nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c 'echo ok'
  assert_status 0
  kill -0 "$victim"
  [[ $(holder_pid) != "$victim" ]]
}

@test "a holder whose namespace is mapped otherwise is ended and replaced" {
  # A user namespace of the user's with no ids mapped, recorded as the
  # holder: nsbox must not make sandboxes in it.
  as_user_bg "$TEST_DIR/fake.out" unshare -U sleep 300
  fake=$BG_PID
  for _ in $(seq 50); do
    [[ $(as_user readlink /proc/"$fake"/ns/user) != "$(as_user readlink /proc/self/ns/user)" ]] && break
    sleep 0.1
  done
  mkdir -p "$RT/nsbox"
  chown "$TEST_UID:$TEST_GID" "$RT/nsbox"
  echo "$fake $(stat -L -c %i /proc/"$fake"/ns/user)" >"$PIDFILE"
  chown "$TEST_UID:$TEST_GID" "$PIDFILE"
  run --separate-stderr nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c 'echo ok'
  assert_status 0
  assert_equal "$output" ok
  [[ $(holder_pid) != "$fake" ]]
  wait "$fake" 2>/dev/null || true
  ! kill -0 "$fake" 2>/dev/null
}

@test "system reset ends the holder" {
  nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c true
  pid=$(holder_pid)
  run --separate-stderr nsbox_rt system reset -f
  assert_status 0
  sleep 0.2
  state=$(awk '/^State:/ {print $2}' /proc/"$pid"/status 2>/dev/null || true)
  [[ -z $state || $state == Z ]] || { echo "holder $pid still $state" >&2; false; }
}

@test "the holder does not keep the command line of the run it came from for ps to show" {
  # ps shows every user's command lines; the holder outlives the run.
  nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" -e TOKEN=s3cr3t-value shell -- -c true
  pid=$(holder_pid)
  [[ -n $pid ]]
  run cat /proc/"$pid"/cmdline
  [[ $output != *s3cr3t* ]] || { echo "the holder shows: $output" >&2; false; }
  assert_equal "$(tr -d '\0' </proc/"$pid"/cmdline)" nsbox-userns
  assert_equal "$(ps -o args= -p "$pid")" nsbox-userns
}

@test "doctor says whether the holder runs, and which pid it is" {
  # Not through nsbox_rt: doctor would (rightly) warn that its newuidmap
  # is not set-uid.
  run --separate-stderr as_user env XDG_RUNTIME_DIR="$RT" "$NSBOX" doctor
  assert_output_has "; no id-mapping holder yet (a start makes one)"
  nsbox_rt run -w "$WS" -t "$FIXTURE_IMAGE" shell -- -c true
  run --separate-stderr as_user env XDG_RUNTIME_DIR="$RT" "$NSBOX" doctor
  assert_output_has "; the id-mapping holder runs as pid $(holder_pid)"
}
