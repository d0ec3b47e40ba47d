#!/usr/bin/env bats
# nsbox ls and nsbox rm (nsbox-ls(1), nsbox-rm(1)): the user's sandboxes,
# their status, and removing one with everything it keeps -- files of the
# image's other ids (subordinate ids on the host) included, without sudo.

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

sandbox_dirs() {
  find "$DATA/sandboxes" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

@test "ls -a lists each sandbox with its id, name, agent, template, workspace, status and creation time" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c true
  assert_status 0
  run --separate-stderr nsbox_user ls -a
  assert_status 0
  assert_equal "${lines[0]}" "$(printf '%-12s %-24s %-8s %-26s %-32s %-8s %-20s %s' ID NAME AGENT TEMPLATE WORKSPACE STATUS CREATED PORTS)"
  id=$(basename "$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1)")
  [[ ${lines[1]} == "$id proj-shell "*" shell "*" host "*" $WS "*" stopped "*" 20"* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user ls -a -q
  assert_equal "$output" proj-shell
  # Without -a, as docker ps: only running sandboxes.
  run --separate-stderr nsbox_user ls
  assert_status 0
  assert_equal "${#lines[@]}" 1
  run --separate-stderr nsbox_user ls -q
  assert_equal "$output" ""
  run --separate-stderr nsbox_user ls --json
  assert_equal "$output" "[]"
  run --separate-stderr nsbox_user ls -a --json
  assert_status 0
  python3 - "$output" "$WS" <<'EOF'
import json, sys
(s,) = json.loads(sys.argv[1])
ws = sys.argv[2]
assert s["name"] == "proj-shell" and s["workspace"] == ws, s
assert s["agent"] == "shell" and s["template"] == "host" and s["status"] == "stopped", s
assert len(s["id"]) == 12 and s["created"].endswith("Z"), s
EOF
}

@test "a sandbox shows as running while an agent runs in it, and rm refuses to remove it" {
  as_user_bg "$TEST_DIR/bg.out" "$NSBOX" run -w "$WS" shell -- -c 'echo started; sleep 30'
  wait_for_output "$TEST_DIR/bg.out" started 10
  run --separate-stderr nsbox_user ls
  [[ $output == *" running "* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user rm proj-shell
  assert_status 125
  [[ $stderr == *"rm proj-shell: the sandbox is running"* ]] || { _show_run; false; }
  assert_equal "$(sandbox_dirs)" 1
  kill -TERM "$BG_PID"
  wait "$BG_PID" || true
  run --separate-stderr nsbox_user ls -a
  [[ $output == *" stopped "* ]] || { _show_run; false; }
}

@test "rm removes the sandbox's home, upper dir and record, also files the image's other ids own" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  # As root inside: a dir and file given to uid 1000 of the image, which
  # (with subordinate ids) the user cannot remove on the host.
  local give=true
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] && give='chown -R 1000:1000 /home/agent/made'
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest shell -- -c \
    "mkdir -p /home/agent/made/deeper && touch /home/agent/made/deeper/f && $give && chmod 700 /home/agent/made"
  assert_status 0
  if [[ $TEST_USER_HAS_SUBIDS == 1 ]]; then
    run as_user sh -c 'rm -rf "$1"/sandboxes/*/upper/home/agent/made' sh "$DATA"
    [[ $status -ne 0 ]] || { echo "the user could remove subordinate ids' files: the test shows nothing" >&2; false; }
  fi
  run --separate-stderr nsbox_user rm proj-shell
  assert_status 0
  assert_equal "$output" proj-shell
  assert_equal "$(sandbox_dirs)" 0
  run --separate-stderr nsbox_user ls -a -q
  assert_equal "$output" ""
  # The image and its layers stay.
  [[ $(count_layer_dirs) -gt 0 ]]
}

@test "rm by id removes a sandbox whose record is gone" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo kept >"$HOME/file"'
  assert_status 0
  local id
  id=$(basename "$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1)")
  rm "$DATA/sandboxes/$id/sandbox.json"
  run --separate-stderr nsbox_user rm "$id"
  assert_status 0
  assert_equal "$output" "$id"
  assert_equal "$(sandbox_dirs)" 0
}

@test "rm of a sandbox that does not exist fails with 125 naming it, and goes on with the others" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c true
  run --separate-stderr nsbox_user rm no-such-sandbox proj-shell
  assert_status 125
  [[ $stderr == *"rm no-such-sandbox: no such sandbox"* ]] || { _show_run; false; }
  assert_equal "$output" proj-shell
  assert_equal "$(sandbox_dirs)" 0
  run --separate-stderr nsbox_user rm
  assert_status 125
  [[ $stderr == *"expects one or more sandbox names"* ]] || { _show_run; false; }
}

@test "after rm the workspace's next run starts a fresh sandbox, and the workspace itself is untouched" {
  echo mine >"$WS/user-file"
  chown "$TEST_UID:$TEST_GID" "$WS/user-file"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'echo old >"$HOME/state"'
  run --separate-stderr nsbox_user rm proj-shell
  assert_status 0
  assert_equal "$(cat "$WS/user-file")" mine
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'cat "$HOME/state" 2>/dev/null || echo fresh'
  assert_equal "$output" fresh
}

@test "inspect shows a sandbox as JSON, field by field: env names but never their values" {
  local data
  data=$(mk_workspace data)
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -e SECRET=topsecret-value -v "$data:/data:ro" shell -- -c true
  assert_status 0
  run --separate-stderr nsbox_user inspect proj-shell
  assert_status 0
  [[ $output != *topsecret-value* ]] || { echo "an env value is in inspect's output" >&2; false; }
  python3 - "$output" "$WS" "$data" "$TEST_UID" <<'PY'
import json, re, sys
(s,) = json.loads(sys.argv[1])
ws, data, uid = sys.argv[2], sys.argv[3], int(sys.argv[4])
assert re.fullmatch(r"[0-9a-f]{12}", s["id"]), s["id"]
assert s["name"] == "proj-shell" and s["agent"] == "shell" and s["template"] == "host", s
assert s["workspace"] == ws and s["status"] == "stopped" and "pid" not in s, s
assert s["created"].endswith("Z") and s["workspace_id"], s
assert s["credentials"] == "sandbox", s
assert s["options"]["volumes"] == [data + ":/data:ro"], s["options"]
assert "SECRET" in s["env"] and "HOME" in s["env"], s["env"]
assert all("=" not in e for e in s["env"]), s["env"]
dests = {m["destination"]: m for m in s["mounts"]}
assert dests[ws]["source"] == ws and dests["/data"]["source"] == data, dests.keys()
assert "ro" in dests["/data"]["options"], dests["/data"]
assert s["user"] == {"uid": uid, "gid": s["user"]["gid"]}, s["user"]
assert s["id_mapping"]["uid"][0]["hostID"] == uid, s["id_mapping"]
PY
}

@test "inspect of a running image sandbox shows its pid, the image's ref and manifest digest; an unknown name is 125 and the rest is shown" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  source "$FIXTURES/expected.env"
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" -t localhost/oci:latest shell -- -c 'sleep 60'
  assert_status 0
  run --separate-stderr nsbox_user inspect no-such proj-shell
  as_user "$NSBOX" stop -t 0 proj-shell >/dev/null
  assert_status 125
  [[ $stderr == *"inspect no-such: no such sandbox"* ]] || { _show_run; false; }
  python3 - "$output" "$EXPECTED_LATEST_DIGEST" <<'PY'
import json, sys
(s,) = json.loads(sys.argv[1])
assert s["status"] == "running" and s["pid"] > 1, s
assert s["image"]["ref"] == "localhost/oci:latest", s["image"]
assert s["image"]["manifest_digest"] == sys.argv[2], s["image"]
assert s["mounts"][0]["destination"] == "/" and s["mounts"][0]["type"] == "overlay", s["mounts"][0]
PY
}

@test "prune removes the sandboxes whose workspace is gone, with -f or when asked; the others and running ones stay" {
  local other gone
  other=$(mk_workspace other)
  gone=$(mk_workspace gone)
  run --separate-stderr as_user "$NSBOX" run -w "$other" shell -- -c true
  run --separate-stderr as_user "$NSBOX" run -w "$gone" shell -- -c 'echo x >"$HOME/f"'
  rm -rf "$gone"
  # Not on a terminal and without -f: says what it would do, removes nothing.
  run --separate-stderr nsbox_user prune
  assert_status 125
  [[ $stderr == *"1 sandbox whose workspace is gone would be removed"* && $stderr == *"prune -f"* ]] || { _show_run; false; }
  assert_equal "$(sandbox_dirs)" 2
  run --separate-stderr nsbox_user prune -f
  assert_status 0
  assert_equal "$output" gone-shell
  run --separate-stderr nsbox_user ls -a -q
  assert_equal "$output" other-shell
  run --separate-stderr nsbox_user prune -f
  assert_status 0
  assert_equal "$output" ""
}

@test "volume ls lists the agents' credential volumes and who uses them; volume rm removes one, not while a sandbox using it runs" {
  mkdir -p "$TEST_HOME/.config/nsbox/agents"
  cat >"$TEST_HOME/.config/nsbox/agents/keeper.json" <<'EOF2'
{"description": "keeps its state", "template": "host", "command": ["sh"], "state": ["~/.keeper"]}
EOF2
  chown -R "$TEST_UID:$TEST_GID" "$TEST_HOME/.config"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'echo secret >"$HOME/.keeper/token"'
  assert_status 0
  run --separate-stderr nsbox_user volume ls
  assert_status 0
  [[ ${lines[1]} == "keeper-data "*" keeper "*" 1 "*"/volumes/keeper-data" ]] || { _show_run; false; }
  run --separate-stderr nsbox_user volume ls --json
  python3 -c 'import json,sys; (v,)=json.loads(sys.argv[1]); assert v["name"]=="keeper-data" and v["sandboxes"]==1 and v["running"]==0, v' "$output"
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" keeper -- -c 'sleep 60'
  run --separate-stderr nsbox_user volume rm keeper-data
  assert_status 125
  [[ $stderr == *"volume rm keeper-data: the running sandbox proj-keeper uses it"* ]] || { _show_run; false; }
  as_user "$NSBOX" stop -t 0 proj-keeper >/dev/null
  run --separate-stderr nsbox_user volume rm keeper-data no-such-data
  assert_status 125
  assert_equal "$output" keeper-data
  [[ $stderr == *"volume rm no-such-data: no such volume"* ]] || { _show_run; false; }
  [[ ! -e $DATA/volumes/keeper-data ]]
}
