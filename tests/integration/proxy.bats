#!/usr/bin/env bats
# The egress proxy of `--network filtered` (nsbox-proxy.so's code), driven on
# loopback by build/tests/proxy-run as the test user: HTTP forwarding,
# CONNECT, SOCKS5, the policy and its live changes, the refusal of internal
# addresses after resolution, and the decision log.  Names resolve through
# a hosts file: api.example.test and evil.example.test are HTTP servers on
# 127.0.0.2 and 127.0.0.3 that the tests start.  Loopback addresses are
# refused unless an address rule allows them, so tests that must reach the
# servers allow 127.0.0.x explicitly.  DNS goes to 127.0.0.1 only (nothing
# listens there): no test sends anything off this machine.

load helpers

# The two servers live as long as this file's tests (python3 takes a while
# to start here).  start_server IP DIR: an HTTP server on IP serving DIR;
# prints its port.
start_server() {
  local out=$BATS_FILE_TMPDIR/server-$1.out i
  python3 -u -m http.server 0 --bind "$1" --directory "$2" >"$out" 2>&1 3>&- </dev/null &
  echo $! >>"$BATS_FILE_TMPDIR/server-pids"
  for ((i = 0; i < 200; i++)); do
    grep -q "port [0-9]" "$out" 2>/dev/null && break
    sleep 0.05
  done
  sed -n 's/.* port \([0-9]*\).*/\1/p' "$out" | head -n 1
}

setup_file() {
  local d=$BATS_FILE_TMPDIR
  mkdir -p "$d/api" "$d/evil"
  chmod 755 "$d"
  echo "hello from api" >"$d/api/index.html"
  head -c 300000 /dev/zero | tr '\0' 'x' >"$d/api/big"
  echo "hello from evil" >"$d/evil/index.html"
  API_PORT=$(start_server 127.0.0.2 "$d/api")
  EVIL_PORT=$(start_server 127.0.0.3 "$d/evil")
  # Port 0 on two addresses may give both the same number; the tests that
  # ask api.example.test for the evil server's port need another.
  for _ in 1 2 3 4 5; do
    [[ $EVIL_PORT == "$API_PORT" ]] || break
    kill -TERM "$(tail -n 1 "$d/server-pids")" 2>/dev/null || true
    EVIL_PORT=$(start_server 127.0.0.3 "$d/evil")
  done
  export API_PORT EVIL_PORT
}

teardown_file() {
  local pid
  while read -r pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done <"$BATS_FILE_TMPDIR/server-pids"
}

setup() {
  nsbox_setup
  PROXY_RUN=${NSBOX%/*}/proxy-run
  if [[ ! -x $PROXY_RUN ]]; then
    echo "no proxy-run beside $NSBOX (make build/tests/proxy-run; tests/check.sh copies it)" >&2
    return 1
  fi
  if [[ -z ${API_PORT-} || -z ${EVIL_PORT-} ]]; then
    echo "the test servers did not start:" >&2
    cat "$BATS_FILE_TMPDIR"/server-*.out >&2
    return 1
  fi
  P=$(mk_workspace proxy)
  cat >"$P/hosts" <<HOSTS
127.0.0.2 api.example.test
127.0.0.3 evil.example.test
127.0.0.2 rebind.example.test
169.254.169.254 metadata.example.test
HOSTS
  echo "nameserver 127.0.0.1" >"$P/resolv.conf"
  chown -R "$TEST_UID:$TEST_GID" "$P"
  API=http://api.example.test:$API_PORT
  EVIL=http://evil.example.test:$EVIL_PORT
}

# start_proxy [proxy-run options]: sets HTTP_PORT, SOCKS_PORT, PROXY_PID.
start_proxy() {
  as_user_bg "$P/proxy.out" "$PROXY_RUN" --http 0 --socks 0 --sandbox itest \
    --hosts "$P/hosts" --resolv-conf "$P/resolv.conf" --log "$P/log" "$@"
  PROXY_PID=$BG_PID
  wait_for_output "$P/proxy.out" "^socks [0-9]" 10
  HTTP_PORT=$(sed -n 's/^http \([0-9]*\)$/\1/p' "$P/proxy.out")
  SOCKS_PORT=$(sed -n 's/^socks \([0-9]*\)$/\1/p' "$P/proxy.out")
}

via_http() { curl -sS -m 10 -x "http://127.0.0.1:$HTTP_PORT" "$@"; }
via_connect() { curl -sS -m 10 -p -x "http://127.0.0.1:$HTTP_PORT" "$@"; }
via_socks() { curl -sS -m 10 --socks5-hostname "127.0.0.1:$SOCKS_PORT" "$@"; }

# log_field N FIELD: FIELD of the log's line N (1-based), "-" if absent.
log_field() {
  sed -n "$1p" "$P/log" | jq -r ".$2 // \"-\""
}

@test "an allowed host is reached through the HTTP proxy" {
  start_proxy --allow api.example.test --allow 127.0.0.2/32
  run via_http "$API/index.html"
  assert_status 0
  assert_equal "$output" "hello from api"
}

@test "an allowed host is reached through a CONNECT tunnel" {
  start_proxy --allow api.example.test --allow 127.0.0.2/32
  run via_connect "$API/index.html"
  assert_status 0
  assert_equal "$output" "hello from api"
  # A body larger than the socket buffers goes through the tunnel whole.
  run bash -c "curl -sS -m 10 -p -x http://127.0.0.1:$HTTP_PORT $API/big | wc -c"
  assert_equal "$output" 300000
}

@test "an allowed host:port is reached through SOCKS5" {
  start_proxy --allow "api.example.test:$API_PORT" --allow 127.0.0.2/32
  run via_socks "$API/index.html"
  assert_status 0
  assert_equal "$output" "hello from api"
  # The rule names a port: another port of the same host is denied.
  run via_socks "http://api.example.test:$EVIL_PORT/"
  assert_status 97
}

@test "a host no rule allows gets 403 naming the reason and the command that allows it" {
  start_proxy --allow api.example.test --allow 127.0.0.0/8
  run curl -sS -m 10 -o "$TEST_DIR/body" -w '%{http_code}' -x "http://127.0.0.1:$HTTP_PORT" "$EVIL/"
  assert_equal "$output" 403
  run cat "$TEST_DIR/body"
  assert_output_has "evil.example.test:$EVIL_PORT is denied for sandbox itest: no allow rule matches"
  assert_output_has "nsbox policy allow --sandbox itest evil.example.test:$EVIL_PORT"
  refute_output_has "hello from evil"
  # CONNECT is judged by its host name alike.
  run via_connect "$EVIL/"
  assert_status 56
  refute_output_has "hello from evil"
}

@test "a deny rule wins over an allow rule and is named in the 403" {
  start_proxy --allow '*.example.test' --allow 127.0.0.0/8 --deny evil.example.test
  run via_http "$EVIL/"
  assert_output_has "denied for sandbox itest by the rule 'evil.example.test'"
  refute_output_has "hello from evil"
  run via_http "$API/index.html"
  assert_equal "$output" "hello from api"
}

@test "a name resolving to a loopback address is refused unless an address rule allows it (DNS rebinding)" {
  start_proxy --allow '*'
  run via_http "http://rebind.example.test:$API_PORT/index.html"
  assert_output_has "127.0.0.2 is a loopback address"
  refute_output_has "hello from api"
  run via_socks "http://rebind.example.test:$API_PORT/index.html"
  assert_status 97
  run via_http "http://127.0.0.2:$API_PORT/index.html"
  assert_output_has "127.0.0.2 is a loopback address"
  kill -TERM "$PROXY_PID"
  wait "$PROXY_PID" || true
  # The same request with the address allowed explicitly goes through: the
  # refusal above was the address check, not an unreachable server.
  start_proxy --allow '*' --allow 127.0.0.2/32
  run via_http "http://rebind.example.test:$API_PORT/index.html"
  assert_equal "$output" "hello from api"
}

@test "an IPv6 loopback destination is refused until an address rule allows it" {
  local port
  port=$(start_server ::1 "$BATS_FILE_TMPDIR/api")
  [[ -n $port ]] || { cat "$BATS_FILE_TMPDIR/server-::1.out" >&2; false; }
  echo "::1 v6.example.test" >>"$P/hosts"
  start_proxy --allow '*'
  run via_http "http://v6.example.test:$port/index.html"
  assert_output_has "::1 is a loopback address"
  run via_http "http://[::1]:$port/index.html"
  assert_output_has "::1 is a loopback address"
  run via_http "http://[::ffff:127.0.0.2]:$API_PORT/index.html"
  assert_output_has "127.0.0.2 is a loopback address"
  kill -TERM "$PROXY_PID"
  wait "$PROXY_PID" || true
  start_proxy --allow '*' --allow '[::1]'
  run via_connect "http://v6.example.test:$port/index.html"
  assert_equal "$output" "hello from api"
  run via_http "http://[::1]:$port/index.html"
  assert_equal "$output" "hello from api"
}

@test "the metadata address 169.254.169.254 is refused by name, as a literal and through SOCKS5" {
  start_proxy --allow '*'
  run via_http "http://169.254.169.254/latest/meta-data/"
  assert_output_has "169.254.169.254 is the cloud metadata address"
  run via_http "http://metadata.example.test/latest/meta-data/"
  assert_output_has "169.254.169.254 is the cloud metadata address"
  run via_connect "http://[::ffff:169.254.169.254]/"
  assert_status 56
  run via_socks "http://169.254.169.254/"
  assert_status 97
  run jq -r 'select(.event == "decision") | .decision' "$P/log"
  assert_equal "$output" "$(printf 'deny\ndeny\ndeny\ndeny')"
}

@test "a policy file changed while the proxy runs applies to the next request" {
  echo '{"allow": ["127.0.0.2/32"]}' >"$P/policy.json"
  chown "$TEST_UID:$TEST_GID" "$P/policy.json"
  start_proxy --policy "$P/policy.json"
  run via_http "$API/index.html"
  assert_output_has "no allow rule matches"
  # Written as `nsbox policy` does: a new file renamed over the old.
  echo '{"allow": ["api.example.test", "127.0.0.2/32"]}' >"$P/policy.new"
  mv "$P/policy.new" "$P/policy.json"
  run via_http "$API/index.html"
  assert_equal "$output" "hello from api"
  # Edited in place (the same inode): seen by its size and mtime.
  echo '{"allow": ["api.example.test"], "deny": ["127.0.0.2/32"]}' >"$P/policy.json"
  run via_http "$API/index.html"
  assert_output_has "by the rule '127.0.0.2/32'"
  rm "$P/policy.json"
  run via_http "$API/index.html"
  assert_output_has "no allow rule matches"
}

@test "a malformed policy file keeps the previous rules and logs an error" {
  echo '{"allow": ["api.example.test", "127.0.0.2/32"]}' >"$P/policy.json"
  chown "$TEST_UID:$TEST_GID" "$P/policy.json"
  start_proxy --policy "$P/policy.json"
  run via_http "$API/index.html"
  assert_equal "$output" "hello from api"
  echo '{"allow": ["api.example.test", "not a rule"]' >"$P/policy.json"
  run via_http "$API/index.html"
  assert_equal "$output" "hello from api"
  echo '{"allow": ["*", "not a rule"]}' >"$P/policy.json"
  run via_http "$EVIL/"
  assert_output_has "no allow rule matches"
  run jq -r 'select(.event == "error") | .error' "$P/log"
  assert_output_has "$P/policy.json"
  assert_output_has "invalid rule 'not a rule'"
  assert_output_has "the previous rules stay"
  # A good file again is read again.
  echo '{"allow": ["127.0.0.2/32"]}' >"$P/policy.json"
  run via_http "$API/index.html"
  assert_output_has "no allow rule matches"
}

@test "each decision is logged as one JSON line with its fields" {
  start_proxy --allow api.example.test --allow 127.0.0.2/32
  run via_http "$API/index.html"
  assert_equal "$output" "hello from api"
  run via_http "$EVIL/"
  assert_output_has "no allow rule matches"
  run via_socks "$API/index.html"
  assert_equal "$output" "hello from api"
  # The close line is written when the proxy has seen both ends close.
  wait_for_output "$P/log" '"proto":"socks5".*"event":"close"\|"event":"close","proto":"socks5"' 5
  run jq -c . "$P/log"
  assert_status 0
  [[ $(wc -l <"$P/log") == 5 ]] || { cat "$P/log" >&2; false; }

  # 1: the allowed forward
  [[ $(log_field 1 time) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
  assert_equal "$(log_field 1 sandbox)" itest
  assert_equal "$(log_field 1 event)" decision
  assert_equal "$(log_field 1 proto)" http
  assert_equal "$(log_field 1 method)" GET
  assert_equal "$(log_field 1 host)" api.example.test
  assert_equal "$(log_field 1 port)" "$API_PORT"
  assert_equal "$(log_field 1 address)" 127.0.0.2
  assert_equal "$(log_field 1 decision)" allow
  assert_equal "$(log_field 1 rule)" api.example.test
  # 2: its close, with the bytes each way
  assert_equal "$(log_field 2 event)" close
  assert_equal "$(log_field 2 host)" api.example.test
  (($(log_field 2 bytes_up) > 50))
  (($(log_field 2 bytes_down) > 100))
  # 3: the denial
  assert_equal "$(log_field 3 event)" decision
  assert_equal "$(log_field 3 host)" evil.example.test
  assert_equal "$(log_field 3 port)" "$EVIL_PORT"
  assert_equal "$(log_field 3 decision)" deny
  assert_equal "$(log_field 3 rule)" "no allow rule matches"
  assert_equal "$(log_field 3 status)" 403
  assert_equal "$(log_field 3 address)" -
  # 4, 5: SOCKS5
  assert_equal "$(log_field 4 proto)" socks5
  assert_equal "$(log_field 4 method)" CONNECT
  assert_equal "$(log_field 4 status)" 0
  assert_equal "$(log_field 5 event)" close
}

@test "a name that does not resolve gets 502 with the reason" {
  start_proxy --allow '*'
  run curl -sS -m 20 -w '\n%{http_code}' -x "http://127.0.0.1:$HTTP_PORT" http://nothere.example.test/
  assert_output_has "resolve nothere.example.test"
  assert_output_has 502
  run via_socks http://nothere.example.test/
  assert_status 97
  run jq -r 'select(.host == "nothere.example.test") | .status' "$P/log"
  assert_equal "$output" "$(printf '502\n4')"
}

@test "a refused connection gets 502, and SOCKS5 reply 5" {
  start_proxy --allow api.example.test --allow 127.0.0.2/32
  # A port nothing listens on: the server's port, closed.
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0)); print(s.getsockname()[1])')
  run curl -sS -m 10 -w '\n%{http_code}' -x "http://127.0.0.1:$HTTP_PORT" "http://api.example.test:$port/"
  assert_output_has "Connection refused"
  assert_output_has 502
  run via_socks "http://api.example.test:$port/"
  assert_status 97
  run jq -r "select(.port == $port) | .status" "$P/log"
  assert_equal "$output" "$(printf '502\n5')"
}

@test "an oversize or malformed request head is refused with its status" {
  start_proxy --allow '*'
  run python3 - "$HTTP_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    reply = s.recv(200).decode(errors="replace").split("\r\n")[0]
    s.close()
    return reply
print(ask(b"GET http://a.example.test/ HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"))
print(ask(b"GET /relative HTTP/1.1\r\nHost: a.example.test\r\n\r\n"))
print(ask(b"\x16\x03\x01\x00\x05hello"))
PY
  assert_status 0
  assert_equal "$output" "$(printf 'HTTP/1.1 431 Request Header Fields Too Large\nHTTP/1.1 400 Bad Request\nHTTP/1.1 400 Bad Request')"
}

@test "a client that never finishes its request head is cut off with 408" {
  start_proxy --allow '*'
  run python3 - "$HTTP_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"GET http://api.example.test/ HTTP/1.1\r\nHost: a")
print(s.recv(100).decode(errors="replace").split("\r\n")[0])
PY
  assert_status 0
  assert_equal "$output" "HTTP/1.1 408 Request Timeout"
}

@test "SOCKS5 speaks no authentication and the CONNECT command only" {
  start_proxy --allow '*'
  run python3 - "$SOCKS_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
def ask(data, n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    reply = b""
    while len(reply) < n:
        d = s.recv(n - len(reply))
        if not d:
            break
        reply += d
    s.close()
    return reply.hex()
# username/password only: no acceptable method
print(ask(b"\x05\x01\x02", 2))
# BIND and UDP ASSOCIATE: command not supported
print(ask(b"\x05\x01\x00" + b"\x05\x02\x00\x01\x01\x01\x01\x01\x00\x50", 12))
print(ask(b"\x05\x01\x00" + b"\x05\x03\x00\x01\x01\x01\x01\x01\x00\x50", 12))
PY
  assert_status 0
  assert_equal "$output" "$(printf '05ff\n050005070001000000000000\n050005070001000000000000')"
}

@test "the proxy exits when its stop signal comes" {
  start_proxy --allow api.example.test
  local rc=0
  kill -TERM "$PROXY_PID"
  wait "$PROXY_PID" || rc=$?
  assert_equal "$rc" 0
}
