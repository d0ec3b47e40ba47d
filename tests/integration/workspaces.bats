#!/usr/bin/env bats
# Extra workspaces (nsbox-run(1)): nsbox run AGENT PATH[:ro]... binds more
# host folders, each at its own path, checked as the workspace is; the
# agent's own arguments come only after --.

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
  DOCS=$(mk_workspace docs)
  LIB=$(mk_workspace "$TEST_DIR/elsewhere/lib")
  echo from-docs >"$DOCS/in"
  echo from-lib >"$LIB/in"
  chown "$TEST_UID:$TEST_GID" "$DOCS/in" "$LIB/in"
}

teardown() {
  nsbox_teardown
}

@test "extra workspaces after the agent are each at their own path, read-write: what the agent writes there is the user's on the host" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell "$DOCS" "$LIB" -- -c 'cat "$1/in" "$2/in"; echo made >"$1/out"; echo made >"$2/out"; pwd' sh "$DOCS" "$LIB"
  assert_status 0
  assert_equal "$output" "$(printf 'from-docs\nfrom-lib\n%s' "$WS")"
  assert_equal "$(cat "$DOCS/out") $(cat "$LIB/out")" "made made"
  assert_equal "$(stat -c %u:%g "$DOCS/out")" "$TEST_UID:$TEST_GID"
  assert_equal "$(stat -c %u:%g "$LIB/out")" "$TEST_UID:$TEST_GID"
}

@test "an extra workspace given PATH:ro cannot be written by the agent, and the host's files are untouched" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell "$DOCS:ro" -- -c 'cat "$1/in"; echo x >"$1/in"' sh "$DOCS"
  assert_status 2
  assert_equal "$output" from-docs
  [[ $stderr == *"Read-only file system"* ]] || { _show_run; false; }
  assert_equal "$(cat "$DOCS/in")" from-docs
  [[ ! -e $DOCS/:ro && ! -e $DOCS:ro ]] || { echo ":ro was taken as part of the path" >&2; false; }
}

@test "on an image template, root in the sandbox can neither write a :ro workspace nor remount it read-write" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest shell "$DOCS:ro" "$LIB" -- -c '
    id -u
    cat "$1/in" "$2/in"
    echo lib-ok >"$2/out"
    mount -o remount,bind,rw "$1" 2>/dev/null && echo remounted
    echo x >"$1/in" 2>/dev/null && echo written
    rm -f "$1/in" 2>/dev/null && echo removed
    true' sh "$DOCS" "$LIB"
  assert_status 0
  assert_equal "$output" "$(printf '0\nfrom-docs\nfrom-lib')"
  assert_equal "$(cat "$DOCS/in")" from-docs
  assert_equal "$(cat "$LIB/out")" lib-ok
  assert_equal "$(stat -c %u "$LIB/out")" "$TEST_UID"
}

@test "the agent's arguments come only after --: an option after the agent is refused with 125 saying where it goes" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -c 'echo started'
  assert_status 125
  [[ $output != *started* ]] || { _show_run; false; }
  [[ $stderr == *"run: -c after the agent: nsbox's options go before it, the agent's after --"* ]] || { _show_run; false; }
  [[ $stderr == *"nsbox run -e KEY shell -- -c"* ]] || { _show_run; false; }
}

@test "a bad extra workspace is refused with 125 before anything starts: missing, a file, one holding the home or the workspace, given twice" {
  mk_workspace "$WS/sub" >/dev/null
  local -a cases=(
    "$TEST_DIR/missing|No such file or directory"
    "$DOCS/in|Not a directory"
    "/|it holds your home directory"
    "$TEST_HOME|it holds your home directory"
    "$WS|it holds the sandbox's workspace $WS/sub"
    "$DOCS/|given twice"
  )
  local c bad why
  for c in "${cases[@]}"; do
    bad=${c%%|*} why=${c#*|}
    run --separate-stderr as_user "$NSBOX" run -w "$WS/sub" shell "$DOCS" "$bad" -- -c 'echo started'
    assert_status 125
    [[ $output != *started* ]] || { _show_run; false; }
    [[ $stderr == *"workspace "*"$why"* ]] || { _show_run; false; }
  done
}

@test "extra workspaces are remembered: inspect shows them, and a run of the running sandbox with others says what differs" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" shell "$LIB" "$DOCS:ro" -- -c 'sleep 60'
  assert_status 0
  run --separate-stderr nsbox_user inspect proj-shell
  assert_status 0
  python3 - "$output" "$DOCS" "$LIB" <<'PY'
import json, sys
(s,) = json.loads(sys.argv[1])
docs, lib = sys.argv[2], sys.argv[3]
assert s["options"]["workspaces"] == sorted([docs + ":ro", lib + ":rw"]), s["options"]
dests = {m["destination"]: m for m in s["mounts"]}
assert dests[docs]["source"] == docs and "ro" in dests[docs]["options"], dests.get(docs)
assert dests[lib]["source"] == lib and "rw" in dests[lib]["options"], dests.get(lib)
PY
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell "$LIB" -- -c 'echo joined'
  assert_status 125
  [[ $output != *joined* ]] || { _show_run; false; }
  [[ $stderr == *"running with other options (extra workspaces: asked [\"$LIB:rw\"], running with [\"$LIB:rw\",\"$DOCS:ro\"])"* ]] || { _show_run; false; }
  # The same ones, in another order, join it.
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell "$DOCS:ro" "$LIB" -- -c 'echo joined'
  assert_status 0
  assert_equal "$output" joined
  as_user "$NSBOX" stop -t 0 proj-shell >/dev/null
}
