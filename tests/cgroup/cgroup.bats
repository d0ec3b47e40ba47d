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

@test "doctor says which cgroup is delegated and with which controllers" {
  run --separate-stderr as_user "$NSBOX" doctor
  [[ $output == *"ok    cgroup: cgroup v2, $CG delegated (controllers: "*memory*pids*")"* ]] || { _show_run; false; }
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
