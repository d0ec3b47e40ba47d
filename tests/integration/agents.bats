#!/usr/bin/env bats
# Agent profiles (nsbox-profiles(5)) and what they carry: the built-in
# claude, codex, gemini and shell; the user's own in ~/.config/nsbox/agents;
# the agent's state ("state" paths) in a volume of the agent's, shared by
# its sandboxes, never in a workspace, surviving nsbox rm; the host
# variables it may take ("pass_env").

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
  WS=$(mk_workspace one)
  WS2=$(mk_workspace two)
  AGENTS=$TEST_HOME/.config/nsbox/agents
  as_user mkdir -p "$AGENTS"
}

teardown() {
  nsbox_teardown
}

# profile NAME JSON: the user's profile NAME.
profile() {
  as_user sh -c 'printf "%s\n" "$2" >"$1"' sh "$AGENTS/$1.json" "$2"
}

keeper() {
  profile keeper '{"description": "keeps a token", "command": ["/bin/sh"], "template": "'"${1:-host}"'",
    "state": ["~/.keeper"], "env": {"KEEPER_DIR": "~/.keeper"}, "pass_env": ["KEEPER_TOKEN"]}'
}

@test "nsbox agents lists the built-in claude, codex, gemini and shell with their templates" {
  run --separate-stderr nsbox_user agents
  assert_status 0
  [[ $output == *"claude "*"docker.io/docker/sandbox-templates:claude-code"* ]] || { _show_run; false; }
  [[ $output == *"codex "*"docker.io/docker/sandbox-templates:codex"* ]] || { _show_run; false; }
  [[ $output == *"gemini "*"docker.io/docker/sandbox-templates:gemini"* ]] || { _show_run; false; }
  [[ $output == *"shell "*"host"* ]] || { _show_run; false; }
  run --separate-stderr nsbox_user agents --json
  python3 -c '
import json, sys
a = {p["name"]: p for p in json.loads(sys.argv[1])}
assert a["claude"]["origin"] == "agents/claude.json", a["claude"]
assert a["shell"]["template"] == "host", a["shell"]
' "$output"
}

@test "a user's profile adds an agent and overrides a built-in one of the same name" {
  keeper
  profile shell '{"description": "my shell", "command": ["/bin/sh", "-c", "echo overridden"]}'
  run --separate-stderr nsbox_user agents --json
  assert_status 0
  python3 -c '
import json, sys
a = {p["name"]: p for p in json.loads(sys.argv[1])}
assert a["keeper"]["origin"].endswith("/.config/nsbox/agents/keeper.json"), a
assert a["shell"]["description"] == "my shell", a["shell"]
assert len([p for p in json.loads(sys.argv[1]) if p["name"] == "shell"]) == 1
' "$output"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell
  assert_equal "$output" overridden
}

@test "a malformed profile is refused naming the file and the field; agents lists the others" {
  local bad
  for bad in '{"command": ["/bin/sh"], "state": ["~/../escape"]}|state[0]' \
    '{"command": ["/bin/sh"], "state": ["/etc"]}|state[0]' \
    '{"command": ["/bin/sh"], "pass_env": ["A=B"]}|pass_env[0]' \
    '{"command": ["/bin/sh"], "stat": []}|unknown key "stat"'; do
    profile broken "${bad%%|*}"
    run --separate-stderr as_user "$NSBOX" run -w "$WS" broken -- -c 'echo ran'
    assert_status 125
    [[ $output != *ran* && $stderr == *"$AGENTS/broken.json"*"${bad#*|}"* ]] || { _show_run; false; }
  done
  run --separate-stderr nsbox_user agents
  assert_status 125
  [[ $output == *claude* && $stderr == *broken.json* ]] || { _show_run; false; }
}

@test "the agent's state is one volume: shared by its sandboxes, in neither workspace, kept after rm" {
  keeper
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'echo secret >"$KEEPER_DIR/token"; echo "$KEEPER_DIR"'
  assert_status 0
  assert_equal "$output" "$TEST_HOME/.keeper"
  run --separate-stderr as_user "$NSBOX" run -w "$WS2" keeper -- -c 'cat ~/.keeper/token'
  assert_status 0
  assert_equal "$output" secret
  [[ -z $(find "$WS" "$WS2" -name token) ]]
  assert_equal "$(cat "$DATA/volumes/keeper-data/.keeper/token")" secret
  # The user's own ~/.keeper on the host is not it.
  [[ ! -e $TEST_HOME/.keeper/token ]]
  run --separate-stderr nsbox_user rm one-keeper two-keeper
  assert_status 0
  assert_equal "$(cat "$DATA/volumes/keeper-data/.keeper/token")" secret
}

@test "on an image template the state is at the image user's home" {
  python3 "$BATS_TEST_DIRNAME/../fixtures/set-config.py" "$FIXTURES/oci" "$TEST_DIR/agentimg" User=agent >/dev/null
  chmod -R a+rX "$TEST_DIR/agentimg"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/agentimg"
  assert_status 0
  keeper localhost/agentimg:latest
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'echo "$KEEPER_DIR"; echo t >~/.keeper/token; id -u'
  assert_status 0
  assert_equal "${lines[0]}" /home/agent/.keeper
  assert_equal "${lines[1]}" 1000
  assert_equal "$(stat -c %u "$DATA/volumes/keeper-data/.keeper/token")" "$TEST_UID"
  run --separate-stderr as_user "$NSBOX" run -w "$WS2" keeper -- -c 'cat ~/.keeper/token'
  assert_equal "$output" t
}

@test "--credentials none keeps no state; --credentials host uses the user's own" {
  keeper
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --credentials none keeper -- -c 'ls ~/.keeper 2>&1 || echo absent'
  [[ $output == *absent* || $output == *"No such file"* ]] || { _show_run; false; }
  [[ ! -e $DATA/volumes/keeper-data ]]
  run --separate-stderr as_user "$NSBOX" run -w "$WS2" --credentials host keeper -- -c 'echo mine >~/.keeper/token'
  assert_status 0
  assert_equal "$(cat "$TEST_HOME/.keeper/token")" mine
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --credentials sometimes keeper -- -c true
  assert_status 125
  [[ $stderr == *"--credentials sometimes: expects sandbox, host or none"* ]] || { _show_run; false; }
}

@test "pass_env passes the named host variables, when set, and no other" {
  keeper
  run --separate-stderr as_user env KEEPER_TOKEN=abc OTHER_SECRET=xyz "$NSBOX" run -w "$WS" keeper -- \
    -c 'echo "token=${KEEPER_TOKEN-unset} other=${OTHER_SECRET-unset}"'
  assert_status 0
  assert_equal "$output" "token=abc other=unset"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'echo "token=${KEEPER_TOKEN-unset}"'
  assert_equal "$output" "token=unset"
}

@test "nsbox run claude without its template reachable fails with 125 saying which image and why" {
  # The test machine reaches no registry but its own: the pull of the
  # built-in claude template fails, cleanly.
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --pull never claude
  assert_status 125
  [[ $stderr == *"docker.io/docker/sandbox-templates:claude-code"*"not in the store"* ]] || { _show_run; false; }
}

@test "-e KEY=VALUE and -e KEY (the host's value, if it has one) set variables, over the profile's" {
  keeper
  run --separate-stderr as_user env FROM_HOST=h "$NSBOX" run -w "$WS" -e A=1 -e FROM_HOST -e NOT_ON_HOST \
    -e KEEPER_DIR=/elsewhere keeper -- -c 'echo "$A ${FROM_HOST-unset} ${NOT_ON_HOST-unset} $KEEPER_DIR"'
  assert_status 0
  assert_equal "$output" "1 h unset /elsewhere"
}

@test "--env-file reads KEY=VALUE and KEY lines, skipping blank lines and comments" {
  printf '# a comment\n\nB=two words\r\n  C=3\nFROM_HOST\n' >"$TEST_DIR/vars"
  chmod 644 "$TEST_DIR/vars"
  run --separate-stderr as_user env FROM_HOST=h "$NSBOX" run -w "$WS" --env-file "$TEST_DIR/vars" -e C=4 \
    shell -- -c 'echo "$B|$C|$FROM_HOST"'
  assert_status 0
  assert_equal "$output" "two words|4|h"
  printf 'GOOD=1\nBAD-NAME=2\n' >"$TEST_DIR/bad"
  chmod 644 "$TEST_DIR/bad"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --env-file "$TEST_DIR/bad" shell -- -c 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == *"$TEST_DIR/bad: run: --env-file line 2: BAD-NAME=2: not a variable name"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -e =x shell -- -c 'echo ran'
  assert_status 125
  [[ $stderr == *"-e =x: a variable needs a name"* ]] || { _show_run; false; }
}
