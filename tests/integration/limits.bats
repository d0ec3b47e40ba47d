#!/usr/bin/env bats
# Limits where this host gives no cgroup (nsbox-stats(1), nsbox-update(1),
# the limit keys of nsbox-profiles(5)): what can be said without a cgroup,
# and the clear errors.  What needs a cgroup v2 kernel is in
# tests/cgroup/cgroup.bats (run inside user-mode-linux).

bats_require_minimum_version 1.5.0
load helpers

setup() {
  nsbox_setup
  WS=$(mk_workspace proj)
  AGENTS=$TEST_HOME/.config/nsbox/agents
  as_user mkdir -p "$AGENTS"
}

teardown() {
  local n
  for n in $(as_user "$NSBOX" ls -q 2>/dev/null); do
    as_user "$NSBOX" stop -t 0 "$n" >/dev/null 2>&1 || true
  done
  nsbox_teardown
}

profile() {
  as_user sh -c 'printf "%s\n" "$2" >"$1"' sh "$AGENTS/$1.json" "$2"
}

start_detached() {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" shell -- -c "$1"
  assert_status 0
  assert_equal "$output" proj-shell
}

@test "stats of a running sandbox without a cgroup counts its processes from /proc and says there is no cgroup" {
  start_detached 'sleep 60 & sleep 60 & wait'
  local n
  for n in $(seq 50); do
    run --separate-stderr as_user "$NSBOX" stats --json proj-shell
    assert_status 0
    n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["pids"]["current"])' "$output")
    ((n >= 4)) && break
    sleep 0.1
  done
  # init, the shell and its two sleeps.
  python3 - "$output" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
assert len(s) == 1, s
s = s[0]
assert s["name"] == "proj-shell" and s["source"] == "proc" and s["cgroup"] is None, s
assert s["pids"]["current"] == 4 and s["pids"]["limit"] is None, s
assert s["memory"]["current"] > 0 and s["memory"]["limit"] is None, s
assert s["cpu"]["usage_usec"] >= 0, s
PY
  run --separate-stderr as_user "$NSBOX" stats --no-stream
  assert_status 0
  [[ ${lines[1]} == "proj-shell "*" 4 / -  "*"no cgroup"* ]] || { _show_run; false; }
  # What exec starts (a child of nsbox exec, not of the sandbox's init)
  # counts too.
  as_user "$NSBOX" exec -d proj-shell sleep 30 </dev/null >/dev/null 2>&1
  for n in $(seq 50); do
    n=$(as_user "$NSBOX" stats --json proj-shell | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pids"]["current"])')
    ((n >= 5)) && break
    sleep 0.1
  done
  assert_equal "$n" 5
}

@test "stats without names lists only running sandboxes; a stopped one named is an error" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c true
  assert_status 0
  run --separate-stderr as_user "$NSBOX" stats --json
  assert_status 0
  assert_equal "$output" "[]"
  run --separate-stderr as_user "$NSBOX" stats --no-stream proj-shell
  assert_status 125
  [[ $stderr == *"stats proj-shell: it is not running"* ]] || { _show_run; false; }
}

@test "update of a running sandbox started without limits says it has no cgroup and how to get one" {
  start_detached 'sleep 60'
  run --separate-stderr as_user "$NSBOX" update --memory 128m proj-shell
  assert_status 125
  [[ $stderr == *"update proj-shell: it has no cgroup"* && $stderr == *"--recreate"* ]] || { _show_run; false; }
  # Nothing was remembered.
  run --separate-stderr as_user "$NSBOX" inspect proj-shell
  python3 -c 'import json,sys; o=json.loads(sys.argv[1])[0]["options"]; assert o.get("limits") is None, o' "$output"
}

@test "update of a stopped sandbox is refused, saying it is not running" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c true
  assert_status 0
  run --separate-stderr as_user "$NSBOX" update --pids-limit 10 proj-shell
  assert_status 125
  [[ $stderr == *"update proj-shell: it is not running"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" update --pids-limit 10 nosuch
  assert_status 125
  [[ $stderr == *"update nosuch: no such sandbox"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" update proj-shell
  assert_status 125
  [[ $stderr == *"expects limits to change"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" update --cpus lots proj-shell
  assert_status 125
  [[ $stderr == *"update: --cpus lots: expects a number of CPUs"* ]] || { _show_run; false; }
}

@test "a profile's malformed limit is refused naming the file and the field" {
  local bad
  for bad in '{"command": ["/bin/sh"], "memory": "lots"}|"memory" must be a size' \
    '{"command": ["/bin/sh"], "memory": 512}|"memory" must be a size' \
    '{"command": ["/bin/sh"], "memory_swap": "1x"}|"memory_swap" must be a size' \
    '{"command": ["/bin/sh"], "cpus": "2"}|"cpus" must be a number' \
    '{"command": ["/bin/sh"], "cpus": 0}|"cpus" must be a number' \
    '{"command": ["/bin/sh"], "pids_limit": 1.5}|"pids_limit" must be' \
    '{"command": ["/bin/sh"], "pids_limit": 0}|"pids_limit" must be'; do
    profile limited "${bad%%|*}"
    run --separate-stderr as_user "$NSBOX" run -w "$WS" limited -- -c 'echo ran'
    assert_status 125
    [[ $output != *ran* && $stderr == *"profile $AGENTS/limited.json: ${bad#*|}"* ]] || { _show_run; false; }
  done
}

@test "a profile's limits are asked for like the flags: refused with 125 where no cgroup is delegated" {
  profile limited '{"command": ["/bin/sh"], "memory": "64m"}'
  run --separate-stderr as_user "$NSBOX" run -w "$WS" limited -- -c 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == *"resource limits need a cgroup v2 subtree"* ]] || { _show_run; false; }
}

@test "--memory-swap is memory and swap together, as docker's: less than --memory is refused" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --memory 128m --memory-swap 64m shell -- -c 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == *"--memory-swap (memory and swap together) is less than --memory"* ]] || { _show_run; false; }
}

# A private session bus with the stand-in systemd user manager
# (build/tests/fake-systemd, which records what it is asked), both as the
# test user; $BUS is its address.
fake_systemd() {
  local fake
  fake=$(dirname "$NSBOX")/fake-systemd
  [[ -x $fake ]] || skip "build/tests/fake-systemd is not built (make all builds it)"
  command -v dbus-daemon >/dev/null || skip "dbus-daemon is not installed (tests/deps.sh installs it)"
  as_user_bg "$TEST_DIR/bus.out" dbus-daemon --session --nofork --print-address=1
  wait_for_output "$TEST_DIR/bus.out" unix: 10
  BUS=$(head -n 1 "$TEST_DIR/bus.out")
  RECORD=$TEST_HOME/systemd.record
  as_user_bg "$TEST_DIR/fake.out" "$fake" "$BUS" "$RECORD" "$@"
  wait_for_output "$TEST_DIR/fake.out" ready 10
}

@test "with no writable subtree, limits make nsbox ask the systemd user manager for a scope with Delegate=yes holding itself" {
  fake_systemd
  run --separate-stderr as_user env DBUS_SESSION_BUS_ADDRESS="$BUS" "$NSBOX" run -w "$WS" --memory 64m shell -- -c 'echo ran'
  # The stand-in starts no scope: nsbox finds itself outside it and says so.
  assert_status 125
  [[ $output != *ran* && $stderr == *"systemd started the scope, but this process is not in it"* ]] || { _show_run; false; }
  local id
  id=$(as_user "$NSBOX" inspect proj-shell | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  grep -q "^StartTransientUnit name=nsbox-$id-[0-9]*\.scope mode=fail$" "$RECORD" || { cat "$RECORD" >&2; false; }
  grep -q "^property Delegate=b:true$" "$RECORD" || { cat "$RECORD" >&2; false; }
  grep -q "^property PIDs=au:[0-9]* $" "$RECORD" || { cat "$RECORD" >&2; false; }
  # Without limits the manager is not asked.
  run --separate-stderr as_user env DBUS_SESSION_BUS_ADDRESS="$BUS" "$NSBOX" run -w "$WS" shell -- -c 'echo ran'
  assert_status 0
  assert_equal "$(grep -c StartTransientUnit "$RECORD")" 1
}

@test "a scope whose job fails is refused with 125 naming the scope and the job's result" {
  fake_systemd failed
  run --separate-stderr as_user env DBUS_SESSION_BUS_ADDRESS="$BUS" "$NSBOX" run -w "$WS" --pids-limit 20 shell -- -c 'echo ran'
  assert_status 125
  [[ $stderr == *"nor a delegated scope from the systemd user manager: systemd did not start the scope nsbox-"*".scope: its job ended \"failed\""* ]] || { _show_run; false; }
}

@test "doctor says whether a systemd user manager answers" {
  run --separate-stderr as_user "$NSBOX" doctor
  [[ $output == *"cgroup: "*"no systemd user manager answers"* || $output == *"cgroup: "*"(1) a cgroup subtree"* ]] || { _show_run; false; }
  fake_systemd
  run --separate-stderr as_user env DBUS_SESSION_BUS_ADDRESS="$BUS" "$NSBOX" doctor
  [[ $output == *"cgroup: "*"systemd user manager 252-fake"* || $output == *"cgroup: "*"(1) a cgroup subtree"* ]] || { _show_run; false; }
}
