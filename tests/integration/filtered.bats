#!/usr/bin/env bats
# nsbox run --network filtered (nsbox-run(1), nsbox-policy(1),
# nsbox-network(7)): loopback only, plus nsbox's egress proxy outside the
# sandbox answering on its 127.0.0.1.  Allowed hosts answer over HTTP,
# CONNECT and SOCKS5; others get the rule that denied them; names resolving
# to internal addresses are refused; nothing goes around the proxy; policy
# changes apply to a running sandbox; each decision is logged.  Names
# resolve through a hosts file given to the proxy, to the suite's own test
# hosts (net_helpers.bash) -- no other address is ever contacted.

bats_require_minimum_version 1.5.0
load helpers
load net_helpers

setup_file() {
  net_hosts_up
  HOSTS_FILE=$NET_DIR/hosts
  cat >"$HOSTS_FILE" <<HOSTS
$NET_API api.example.test
$NET_EVIL evil.example.test
127.0.0.1 rebind.example.test
169.254.169.254 meta.example.test
HOSTS
  chmod 644 "$HOSTS_FILE"
  export HOSTS_FILE NET_API NET_EVIL
}

teardown_file() {
  net_hosts_down
}

setup() {
  nsbox_setup
  WS=$(mk_workspace proj)
}

teardown() {
  stop_user_sandboxes
  nsbox_teardown
}

nsbox_net() {
  as_user env NSBOX_PROXY_HOSTS="$HOSTS_FILE" "$NSBOX" "$@"
}

# filtered [RUN-OPTIONS...] -- SCRIPT: sh -c SCRIPT in $WS's filtered sandbox.
filtered() {
  local opts=()
  while [[ $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  shift
  run --separate-stderr nsbox_net run -w "$WS" --network filtered "${opts[@]}" shell -- -c "$1"
}

# The curl of a request through the proxy: status code, then the body.
GET='curl -sS -m 10 -o /tmp/body -w "%{http_code}\n"'

@test "filtered: the agent gets the proxy variables, and an allowed host answers through the HTTP proxy" {
  filtered --egress-allow api.example.test -- 'env | grep -i _proxy= | sort; curl -sS -m 10 http://api.example.test:8080/'
  assert_status 0
  assert_output_has "http_proxy=http://127.0.0.1:3128"
  assert_output_has "HTTPS_PROXY=http://127.0.0.1:3128"
  assert_output_has "ALL_PROXY=socks5h://127.0.0.1:1080"
  assert_output_has "NO_PROXY=localhost,127.0.0.1,::1"
  assert_equal "${lines[-1]}" "hello from api"
}

@test "filtered: the user's -e overrides a proxy variable, once and for all" {
  filtered -e NO_PROXY=localhost,intranet.example.test -- 'env | grep -c "^NO_PROXY="; echo "$NO_PROXY"'
  assert_status 0
  assert_equal "${lines[0]}" 1
  assert_equal "${lines[1]}" "localhost,intranet.example.test"
}

@test "filtered: an allowed host answers through a CONNECT tunnel" {
  filtered --egress-allow api.example.test:8080 -- 'curl -sS -m 10 --proxytunnel -x http://127.0.0.1:3128 http://api.example.test:8080/'
  assert_status 0
  assert_equal "$output" "hello from api"
}

@test "filtered: a denied host gets a 403 that names the rule and the command that would allow it" {
  filtered --egress-allow '*.example.test' --egress-deny evil.example.test -- "$GET http://evil.example.test:8080/; cat /tmp/body"
  assert_status 0
  assert_equal "${lines[0]}" 403
  assert_output_has "evil.example.test"
  assert_output_has "nsbox policy allow --sandbox proj-shell"
  refute_output_has "hello from evil"
}

@test "filtered: a host no allow rule matches is denied, over CONNECT too" {
  filtered --egress-allow api.example.test -- "$GET http://evil.example.test:8080/; cat /tmp/body; curl -sS -m 10 -p -x http://127.0.0.1:3128 http://evil.example.test:8080/; echo connect=\$?"
  assert_status 0
  assert_equal "${lines[0]}" 403
  assert_output_has "no allow rule matches"
  assert_output_has "connect=56"
  refute_output_has "hello from evil"
}

@test "filtered: a name that resolves to 127.0.0.1 or 169.254.169.254 is refused (DNS rebinding)" {
  filtered --egress-allow '*.example.test' -- "$GET http://rebind.example.test:8080/; cat /tmp/body; echo; $GET http://meta.example.test/; cat /tmp/body"
  assert_status 0
  assert_equal "${lines[0]}" 403
  assert_output_has "127.0.0.1"
  assert_output_has "169.254.169.254"
  [[ $(printf '%s\n' "${lines[@]}" | grep -c '^403$') == 2 ]] || { _show_run; false; }
}

@test "filtered: a direct connection around the proxy has no route" {
  # The test host answers from here, so the refusal is the sandbox's.
  [[ $(curl -s -m 2 "http://$NET_API:8080/") == "hello from api" ]]
  filtered --egress-allow '*' -- 'ip route; curl -sS -m 5 --noproxy "*" http://'"$NET_API"':8080/; echo direct=$?'
  assert_status 0
  assert_equal "${lines[-1]}" "direct=7"
  refute_output_has "hello from api"
}

@test "filtered: SOCKS5 reaches an allowed host:port and not another" {
  filtered --egress-allow api.example.test:8080 -- 'curl -sS -m 10 --socks5-hostname 127.0.0.1:1080 http://api.example.test:8080/; curl -sS -m 10 --socks5-hostname 127.0.0.1:1080 http://evil.example.test:8080/; echo evil=$?'
  assert_status 0
  assert_equal "${lines[0]}" "hello from api"
  assert_equal "${lines[-1]}" "evil=97"
}

@test "filtered: nsbox policy changes apply to the running sandbox at once" {
  run --separate-stderr nsbox_net run -d -w "$WS" --network filtered --egress-allow api.example.test shell -- -c 'sleep 120'
  assert_status 0
  run --separate-stderr as_user "$NSBOX" exec proj-shell sh -c "$GET http://evil.example.test:8080/"
  assert_equal "$output" 403
  run --separate-stderr as_user "$NSBOX" policy allow --sandbox proj-shell evil.example.test
  assert_status 0
  run --separate-stderr as_user "$NSBOX" exec proj-shell sh -c 'curl -sS -m 10 http://evil.example.test:8080/'
  assert_status 0
  assert_equal "$output" "hello from evil"
  # A global deny wins over the sandbox's allow.
  run --separate-stderr as_user "$NSBOX" policy deny --global evil.example.test
  assert_status 0
  run --separate-stderr as_user "$NSBOX" exec proj-shell sh -c "$GET http://evil.example.test:8080/"
  assert_equal "$output" 403
  run --separate-stderr as_user "$NSBOX" policy ls --sandbox proj-shell
  assert_status 0
  assert_output_has "proj-shell           allow  api.example.test"
  assert_output_has "proj-shell           allow  evil.example.test"
  assert_output_has "global               deny   evil.example.test"
}

@test "filtered: the log records each decision, with its rule and the bytes of an allowed connection" {
  filtered --egress-allow api.example.test -- "curl -sS -m 10 http://api.example.test:8080/ >/dev/null; $GET http://evil.example.test:8080/"
  assert_status 0
  run --separate-stderr as_user "$NSBOX" network log proj-shell --json
  assert_status 0
  python3 - "$output" <<'PY'
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
dec = [l for l in lines if l.get("event") == "decision"]
close = [l for l in lines if l.get("event") == "close"]
api = [l for l in dec if l["host"] == "api.example.test"]
evil = [l for l in dec if l["host"] == "evil.example.test"]
assert api and api[0]["decision"] == "allow" and api[0]["rule"] == "api.example.test", lines
assert api[0]["port"] == 8080 and api[0]["proto"] == "http" and api[0]["sandbox"] == "proj-shell", api
assert api[0]["address"] == "203.0.113.2", api
assert evil and evil[0]["decision"] == "deny" and evil[0]["rule"] == "no allow rule matches", lines
assert close and close[0]["host"] == "api.example.test" and close[0]["bytes_down"] > 0, lines
PY
  run --separate-stderr as_user "$NSBOX" network log proj-shell
  assert_status 0
  assert_output_has "deny   http    evil.example.test:8080"
}

@test "filtered: network log -f prints decisions as they are made" {
  run --separate-stderr nsbox_net run -d -w "$WS" --network filtered --egress-allow api.example.test shell -- -c 'sleep 120'
  assert_status 0
  as_user_bg "$TEST_DIR/follow.out" "$NSBOX" network log -f proj-shell
  wait_for_output "$TEST_DIR/follow.out" "TIME" 10
  run --separate-stderr as_user "$NSBOX" exec proj-shell sh -c "$GET http://evil.example.test:8080/"
  assert_equal "$output" 403
  wait_for_output "$TEST_DIR/follow.out" "evil.example.test:8080" 10
  run --separate-stderr as_user "$NSBOX" exec proj-shell sh -c 'curl -sS -m 10 http://api.example.test:8080/'
  assert_equal "$output" "hello from api"
  wait_for_output "$TEST_DIR/follow.out" "allow  http    api.example.test:8080" 10
  run --separate-stderr as_user "$NSBOX" network log -f
  assert_status 125
  [[ $stderr == *"follows one sandbox: name it"* ]] || { _show_run; false; }
}

@test "filtered: the proxy ends with the sandbox, also after kill -9 of nsbox" {
  as_user_bg "$TEST_DIR/fg.out" env NSBOX_PROXY_HOSTS="$HOSTS_FILE" "$NSBOX" run -w "$WS" --network filtered shell -- -c 'sleep 60'
  for _ in $(seq 50); do pgrep -u "$TEST_UID" -x nsbox-net >/dev/null && break; sleep 0.1; done
  run pgrep -u "$TEST_UID" -x nsbox-net
  assert_status 0
  kill -KILL "$BG_PID"
  for _ in $(seq 50); do pgrep -u "$TEST_UID" -x nsbox-net >/dev/null || break; sleep 0.1; done
  run pgrep -u "$TEST_UID" -x nsbox-net
  assert_status 1
}

@test "filtered without its proxy refuses to start the sandbox, saying why" {
  run --separate-stderr as_user env NSBOX_PROXY_PLUGIN="$TEST_DIR/none/nsbox-proxy.so" \
    "$NSBOX" run -w "$WS" --network filtered shell -- -c 'echo the agent ran'
  assert_status 125
  refute_output_has "the agent ran"
  [[ $stderr == *"network filtered: load $TEST_DIR/none/nsbox-proxy.so"* ]] || { _show_run; false; }
}

@test "an invalid pattern is refused by run and by policy; policy needs a scope; rm of a rule not there changes nothing" {
  run --separate-stderr as_user "$NSBOX" policy allow --global 'bad rule!'
  assert_status 125
  [[ $stderr == *"invalid rule 'bad rule!'"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --network filtered --egress-allow 'x y' shell -- -c true
  assert_status 125
  [[ $stderr == *"--egress-allow: invalid rule 'x y'"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" policy allow example.com
  assert_status 125
  [[ $stderr == *"for which sandboxes?"*"--global"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" policy allow --global a.example.test
  assert_status 0
  run --separate-stderr as_user "$NSBOX" policy rm --global a.example.test b.example.test
  assert_status 125
  [[ $stderr == *"no rule 'b.example.test'"* ]] || { _show_run; false; }
  # All or nothing: a.example.test is still there.
  run --separate-stderr as_user "$NSBOX" policy ls --global --json
  assert_status 0
  [[ $output == *'"rule": "a.example.test"'* ]] || { _show_run; false; }
}
