#!/usr/bin/env bats
# Resource limits (nsbox-run(1) --memory, --cpus, --pids-limit) on a real
# cgroup v2 kernel: run by tests/cgroup/uml.sh inside user-mode-linux, as
# the test user, with $TEST_CGROUP_ROOT delegated to it the way systemd
# delegates a subtree.

bats_require_minimum_version 1.5.0
load ../integration/helpers

setup() {
  [[ -n ${TEST_CGROUP_ROOT-} ]] || skip "run by tests/cgroup/uml.sh inside user-mode-linux"
  nsbox_setup
  WS=$(mk_workspace proj)
  CG=$TEST_CGROUP_ROOT
}

teardown() {
  local n
  for n in $(as_user "$NSBOX" ls -q 2>/dev/null); do
    as_user "$NSBOX" stop -t 0 "$n" >/dev/null 2>&1 || true
  done
  nsbox_teardown
}

sandbox_id() {
  as_user "$NSBOX" inspect proj-shell | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'
}

@test "the limits are the sandbox's own cgroup's cpu.max, memory.max and pids.max; its init is in it; it goes at stop" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --cpus 0.5 --memory 128m --pids-limit 50 shell -- -c 'sleep 60'
  assert_status 0
  local id pid
  id=$(sandbox_id)
  [[ -d $CG/nsbox-$id ]] || { ls "$CG" >&2; false; }
  assert_equal "$(cat "$CG/nsbox-$id/cpu.max")" "50000 100000"
  assert_equal "$(cat "$CG/nsbox-$id/memory.max")" 134217728
  assert_equal "$(cat "$CG/nsbox-$id/pids.max")" 50
  run --separate-stderr as_user "$NSBOX" inspect proj-shell
  python3 -c 'import json,sys; l=json.loads(sys.argv[1])[0]["options"]["limits"]; assert l["memory"]==134217728 and l["pids"]==50 and l["cpu_quota"]==50000, l' "$output"
  pid=$(as_user "$NSBOX" inspect proj-shell | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pid"])')
  [[ $(cat "/proc/$pid/cgroup") == "0::/user/nsbox-$id" ]] || { cat "/proc/$pid/cgroup" >&2; false; }
  # What exec starts is in it too.
  # Its stdio not bats' (which would wait for it).
  as_user "$NSBOX" exec -d proj-shell sleep 30 </dev/null >/dev/null 2>&1
  local p found=0
  for p in $(pgrep -u "$TEST_UID" -x sleep); do
    [[ $(cat "/proc/$p/cgroup") == "0::/user/nsbox-$id" ]] && found=$((found + 1))
  done
  [[ $found -ge 2 ]] || {
    for p in $(pgrep -u "$TEST_UID" -x sleep); do echo "$p $(cat /proc/$p/cmdline | tr '\0' ' ') $(cat /proc/$p/cgroup)"; done >&2
    echo "exec'd sleep not in the sandbox's cgroup" >&2; false; }
  run --separate-stderr as_user "$NSBOX" stop -t 0 proj-shell
  assert_status 0
  [[ ! -e $CG/nsbox-$id ]] || { echo "the cgroup outlived the sandbox" >&2; false; }
}

@test "--pids-limit stops a fork bomb at the limit" {
  # Twenty background sleeps, counted with the shell's own globbing.
  local bomb='for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 5 & done; set -- /proc/[0-9]*; echo "$#"'
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --pids-limit 100 shell -- -c "$bomb"
  assert_status 0
  [[ $output -ge 22 ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --pids-limit 12 shell -- -c "$bomb"
  assert_status 2
  [[ $stderr == *"Cannot fork"* ]] || { _show_run; false; }
}

@test "--memory: a process over the limit is killed, and nsbox says so with status 137" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --memory 64m shell -- -c \
    'python3 -c "b = bytearray(300 * 1024 * 1024); print(len(b))"'
  assert_status 137
  [[ $stderr == *"sandbox proj-shell: killed, out of memory (limit 64m)"* ]] || { _show_run; false; }
  [[ -z $(ls -d "$CG"/nsbox-* 2>/dev/null) ]] || { echo "a foreground run's cgroup stayed" >&2; false; }
}

@test "after update, an out-of-memory kill quotes the limit in force, not the one asked at start" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" --memory 256m shell -- -c \
    'echo started; while [ ! -e /tmp/go ]; do sleep 0.1; done; python3 -c "b = bytearray(200 * 1024 * 1024); print(len(b))"'
  wait_for_output "$TEST_DIR/bg.out" started 10
  run --separate-stderr as_user "$NSBOX" update --memory 64m proj-shell
  assert_status 0
  as_user "$NSBOX" exec proj-shell touch /tmp/go
  local st=0
  wait "$BG_PID" || st=$?
  assert_equal "$st" 137
  grep -q "sandbox proj-shell: killed, out of memory (limit 64m)" "$TEST_DIR/bg.out" || { cat "$TEST_DIR/bg.out" >&2; false; }
}

@test "without limits no cgroup is made" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" shell -- -c 'echo started; sleep 30'
  wait_for_output "$TEST_DIR/bg.out" started 10
  [[ -z $(ls -d "$CG"/nsbox-* 2>/dev/null) ]] || { ls "$CG" >&2; false; }
}

@test "a joining run that asks for other limits says what differs" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --memory 128m shell -- -c 'sleep 60'
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --memory 256m shell -- -c true
  assert_status 125
  [[ $stderr == *"--memory/--cpus/--pids-limit: asked"* ]] || { _show_run; false; }
}

@test "doctor says which cgroup is delegated, with which controllers, and that it is way (1)" {
  run --separate-stderr as_user "$NSBOX" doctor
  [[ $output == *"ok    cgroup: cgroup v2, $CG delegated (controllers: "*memory*pids*"): this host offers (1) a cgroup subtree this user may write"* ]] || { _show_run; false; }
}

@test "nsbox oci applies linux.resources in the container's own cgroup, and delete removes it" {
  local b=$TEST_DIR/b root=$TEST_DIR/oci-root c
  mkdir -p "$b/rootfs/bin" "$root"
  cp /bin/busybox "$b/rootfs/bin/"
  for c in sh sleep; do ln -sf busybox "$b/rootfs/bin/$c"; done
  (cd "$b" && as_user "$NSBOX" oci spec --rootless)
  python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"].update(terminal=False, args=["sleep", "60"])
c["linux"]["resources"] = {"memory": {"limit": 67108864, "swap": 100663296},
                           "pids": {"limit": 7}, "cpu": {"quota": 25000, "period": 100000}}
json.dump(c, open(sys.argv[1], "w"))
PY
  as_user "$NSBOX" oci --root "$root" run -d -b "$b" c1 </dev/null >/dev/null 2>&1
  assert_equal "$(cat "$CG/nsbox-oci-c1/memory.max")" 67108864
  assert_equal "$(cat "$CG/nsbox-oci-c1/memory.swap.max")" 33554432
  assert_equal "$(cat "$CG/nsbox-oci-c1/pids.max")" 7
  assert_equal "$(cat "$CG/nsbox-oci-c1/cpu.max")" "25000 100000"
  run --separate-stderr as_user "$NSBOX" oci --root "$root" delete --force c1
  assert_status 0
  [[ ! -e $CG/nsbox-oci-c1 ]] || { echo "the cgroup outlived the container" >&2; false; }
}

@test "stats shows the sandbox's cgroup: pids.current moves with its processes, with the limits and CPU time" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --memory 128m --pids-limit 50 shell -- -c 'sleep 60'
  assert_status 0
  local id before after
  id=$(sandbox_id)
  run --separate-stderr as_user "$NSBOX" stats --json proj-shell
  assert_status 0
  before=$(python3 - "$output" "$CG/nsbox-$id" <<'PY'
import json, sys
s = json.loads(sys.argv[1])[0]
assert s["source"] == "cgroup" and s["cgroup"] == sys.argv[2], s
assert s["memory"]["limit"] == 134217728 and s["memory"]["current"] > 0, s
assert s["pids"]["limit"] == 50 and s["cpu"]["usage_usec"] > 0, s
print(s["pids"]["current"])
PY
  )
  assert_equal "$before" "$(cat "$CG/nsbox-$id/pids.current")"
  as_user "$NSBOX" exec -d proj-shell sh -c 'sleep 30 & sleep 30 & wait' </dev/null >/dev/null 2>&1
  local i
  for i in $(seq 50); do
    after=$(as_user "$NSBOX" stats --json proj-shell | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pids"]["current"])')
    ((after >= before + 3)) && break
    sleep 0.1
  done
  assert_equal "$after" $((before + 3))
  run --separate-stderr as_user "$NSBOX" stats --no-stream
  [[ ${lines[1]} == "proj-shell "*" / 128.0MiB "*" $after / 50 "*cgroup ]] || { _show_run; false; }
}

@test "update changes the running sandbox's limit files, a fork bomb then obeys the new pids.max, and a run asking for the same joins" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --memory 128m --pids-limit 50 shell -- -c 'sleep 60'
  assert_status 0
  local id
  id=$(sandbox_id)
  run --separate-stderr as_user "$NSBOX" update --pids-limit 8 --memory 256m --cpus 0.25 proj-shell
  assert_status 0
  assert_equal "$(cat "$CG/nsbox-$id/pids.max")" 8
  assert_equal "$(cat "$CG/nsbox-$id/memory.max")" 268435456
  # cpu was not asked at start: update enables the controller for it.
  assert_equal "$(cat "$CG/nsbox-$id/cpu.max")" "25000 100000"
  run --separate-stderr as_user "$NSBOX" inspect proj-shell
  python3 -c 'import json,sys; l=json.loads(sys.argv[1])[0]["options"]["limits"]; assert l["memory"]==268435456 and l["pids"]==8 and l["cpu_quota"]==25000, l' "$output"
  local bomb='for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 5 & done; echo forked'
  run --separate-stderr as_user "$NSBOX" exec proj-shell sh -c "$bomb"
  [[ $stderr == *"Cannot fork"* || $stderr == *"Resource temporarily unavailable"* ]] || { _show_run; false; }
  [[ $(cat "$CG/nsbox-$id/pids.current") -le 8 ]]
  [[ $(awk '/^max /{print $2}' "$CG/nsbox-$id/pids.events") -gt 0 ]]
  # The remembered options are the new ones: no drift for the same limits.
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --memory 256m --pids-limit 8 --cpus 0.25 shell -- -c 'echo joined'
  assert_status 0
  assert_equal "$output" joined
}

@test "an agent profile's limits make the cgroup, a flag overrides one of them" {
  mkdir -p "$TEST_HOME/.config/nsbox/agents"
  chown -R "$TEST_UID:$TEST_GID" "$TEST_HOME/.config"
  as_user sh -c 'printf "%s\n" "$1" >"$2"' sh \
    '{"command": ["/bin/sh"], "memory": "96m", "memory_swap": "128m", "pids_limit": 20, "cpus": 0.5}' \
    "$TEST_HOME/.config/nsbox/agents/limited.json"
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --pids-limit 30 limited -- -c 'sleep 60'
  assert_status 0
  local id
  id=$(as_user "$NSBOX" inspect proj-limited | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  assert_equal "$(cat "$CG/nsbox-$id/memory.max")" 100663296
  # memory_swap is memory and swap together: 32m of swap.
  assert_equal "$(cat "$CG/nsbox-$id/memory.swap.max")" 33554432
  assert_equal "$(cat "$CG/nsbox-$id/pids.max")" 30
  assert_equal "$(cat "$CG/nsbox-$id/cpu.max")" "50000 100000"
}

@test "after kill -9 of the foreground nsbox, ls shows the sandbox stopped and its cgroup is gone" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" --pids-limit 40 shell -- -c 'echo started; sleep 60'
  wait_for_output "$TEST_DIR/bg.out" started 10
  local id i
  id=$(sandbox_id)
  [[ -d $CG/nsbox-$id ]]
  kill -9 "$BG_PID"
  # Its init dies with it (PDEATHSIG), and the kernel empties the cgroup.
  for i in $(seq 50); do
    [[ $(cat "$CG/nsbox-$id/cgroup.procs" 2>/dev/null) == "" ]] && break
    sleep 0.1
  done
  run --separate-stderr as_user "$NSBOX" ls -a
  assert_status 0
  [[ ${lines[1]} == "$id proj-shell "*" stopped "* ]] || { _show_run; false; }
  for i in $(seq 20); do
    [[ -e $CG/nsbox-$id ]] || break
    sleep 0.1
    as_user "$NSBOX" ls >/dev/null
  done
  [[ ! -e $CG/nsbox-$id ]] || { echo "the cgroup of the killed nsbox stayed" >&2; false; }
}

@test "a detached sandbox whose agent ends on its own leaves no cgroup once ls has looked" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --pids-limit 40 shell -- -c 'exit 0'
  assert_status 0
  local id i
  id=$(sandbox_id)
  for i in $(seq 50); do
    as_user "$NSBOX" ls >/dev/null
    [[ -e $CG/nsbox-$id ]] || break
    sleep 0.1
  done
  [[ ! -e $CG/nsbox-$id ]] || { echo "the cgroup of the ended sandbox stayed" >&2; false; }
  run --separate-stderr as_user "$NSBOX" ls -a
  [[ ${lines[1]} == "$id proj-shell "*" stopped "* ]] || { _show_run; false; }
}
