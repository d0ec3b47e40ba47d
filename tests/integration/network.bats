#!/usr/bin/env bats
# nsbox run --network (nsbox-run(1), nsbox-network(7)): none has loopback
# only; open reaches out through pasta but not the host's loopback, and -p
# publishes a port on it; host shares the host's network; what nsbox starts
# for a sandbox ends with it.  The only hosts contacted are the suite's own,
# in a network namespace it makes (net_helpers.bash).

bats_require_minimum_version 1.5.0
load helpers
load registry
load image_helpers
load net_helpers

setup_file() {
  net_hosts_up
  FIXTURES=$(fixtures_dir)
  export FIXTURES NET_API NET_EVIL NET_API6
}

teardown_file() {
  net_hosts_down
}

setup() {
  nsbox_setup
  image_paths
  WS=$(mk_workspace proj)
}

teardown() {
  stop_user_sandboxes
  nsbox_teardown
}

# The test user's pasta or slirp4netns processes.
helpers_of_user() {
  pgrep -u "$TEST_UID" -x 'passt.avx2|passt|pasta|pasta.avx2|slirp4netns' | wc -l
}

wait_no_helpers() {
  for _ in $(seq 50); do
    (($(helpers_of_user) == 0)) && return 0
    sleep 0.1
  done
  echo "still running: $(pgrep -a -u "$TEST_UID" -x 'passt.avx2|passt|pasta|pasta.avx2|slirp4netns')" >&2
  return 1
}

@test "--network none (the shell's default): loopback only, no route to a test host" {
  # The test host answers from here, so a refusal inside is the sandbox's.
  [[ $(curl -s -m 2 "http://$NET_API:8080/") == "hello from api" ]]
  sandbox_sh -- 'ip -o link | cut -d: -f2; ip route; curl -sS -m 3 http://'"$NET_API"':8080/; echo "curl=$?"'
  assert_status 0
  assert_equal "$(printf '%s\n' "${lines[@]}" | grep -c -v -e '^ lo$' -e '^curl=')" 0
  assert_output_has "curl=7"
  [[ $stderr == *"Network is unreachable"* || $stderr == *"Couldn't connect"* ]] || { _show_run; false; }
}

@test "--network open reaches a test host through pasta, with the sandbox's own address and MTU 65520" {
  sandbox_sh --network open -- 'ip -o -4 addr show scope global; ip link | grep -o "mtu [0-9]*" | sort -u; curl -sS -m 5 http://'"$NET_API"':8080/'
  assert_status 0
  assert_output_has "inet 10.0.2.100/24"
  assert_output_has "mtu 65520"
  assert_equal "${lines[-1]}" "hello from api"
}

@test "--network open reaches a test host over IPv6 too" {
  # pasta gives the sandbox IPv6 where the host has it (a default route).
  [[ -n $(ip -6 route show default) ]] || skip "this host has no IPv6 default route, so pasta configures no IPv6"
  [[ $(curl -s -m 2 "http://[$NET_API6]:8080/") == "hello from api" ]]
  sandbox_sh --network open -- 'ip -6 route | grep -c default; curl -sS -m 5 "http://['"$NET_API6"']:8080/"'
  assert_status 0
  assert_equal "${lines[0]}" 1
  assert_equal "${lines[-1]}" "hello from api"
}

@test "--network open does not reach the host's loopback, through the gateway or otherwise" {
  local port pid
  port=$(free_port)
  busybox httpd -f -p "127.0.0.1:$port" -h "$NET_DIR/api" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -s -m 1 "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  # It answers on the host's loopback...
  [[ $(curl -s -m 2 "http://127.0.0.1:$port/") == "hello from api" ]] || { kill "$pid"; false; }
  # ...and not from the sandbox.
  sandbox_sh --network open -- 'for h in 10.0.2.2 127.0.0.1; do curl -s -m 3 http://$h:'"$port"'/; echo "$h=$?"; done'
  kill "$pid"
  assert_status 0
  # Refused or unanswered, never answered.
  [[ $output == *"10.0.2.2="[1-9]* && $output == *"127.0.0.1="[1-9]* ]] || { _show_run; false; }
  refute_output_has "hello from api"
}

@test "--network open: pasta ends with the sandbox, after stop and after kill -9 of nsbox" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --network open shell -- -c 'sleep 60'
  assert_status 0
  (($(helpers_of_user) == 1)) || { pgrep -a -u "$TEST_UID"; false; }
  run --separate-stderr as_user "$NSBOX" stop -t 0 proj-shell
  assert_status 0
  wait_no_helpers

  as_user_bg "$TEST_DIR/fg.out" "$NSBOX" run -w "$WS" --network open shell -- -c 'sleep 60'
  for _ in $(seq 50); do (($(helpers_of_user) == 1)) && break; sleep 0.1; done
  (($(helpers_of_user) == 1)) || { cat "$TEST_DIR/fg.out"; false; }
  kill -KILL "$BG_PID"
  wait_no_helpers
  # The guardian that watched it is gone too.
  for _ in $(seq 20); do pgrep -u "$TEST_UID" -x nsbox-net >/dev/null || break; sleep 0.1; done
  run pgrep -u "$TEST_UID" -x nsbox-net
  assert_status 1
}

@test "--allow-host-port reaches that port of the host's loopback as host.nsbox.internal, and no other" {
  local p1 p2 pid1 pid2
  p1=$(free_port)
  p2=$(free_port)
  busybox httpd -f -p "127.0.0.1:$p1" -h "$NET_DIR/api" >/dev/null 2>&1 &
  pid1=$!
  busybox httpd -f -p "127.0.0.1:$p2" -h "$NET_DIR/evil" >/dev/null 2>&1 &
  pid2=$!
  for _ in $(seq 50); do curl -s -m 1 "http://127.0.0.1:$p2/" >/dev/null && break; sleep 0.1; done
  sandbox_sh --network open --allow-host-port "$p1" -- 'curl -sS -m 5 http://host.nsbox.internal:'"$p1"'/; curl -s -m 3 http://host.nsbox.internal:'"$p2"'/; echo other=$?; curl -s -m 3 http://10.0.2.2:'"$p2"'/; echo gw=$?'
  kill "$pid1" "$pid2"
  assert_status 0
  assert_equal "${lines[0]}" "hello from api"
  [[ $output == *"other="[1-9]* && $output == *"gw="[1-9]* ]] || { _show_run; false; }
  refute_output_has "hello from evil"
  sandbox_sh --allow-host-port "$p1" -- true
  assert_status 125
  [[ $stderr == *"--allow-host-port reaches the host"*"add --network open"* ]] || { _show_run; false; }
}

@test "-p publishes a sandbox port on the host's loopback" {
  local port
  port=$(free_port)
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" --network open -p "$port:8000" shell -- \
    -c 'mkdir -p /tmp/pub && echo published >/tmp/pub/index.html && exec busybox httpd -f -p 8000 -h /tmp/pub'
  assert_status 0
  for _ in $(seq 50); do
    [[ $(curl -s -m 1 "http://127.0.0.1:$port/") == published ]] && break
    sleep 0.1
  done
  assert_equal "$(curl -s -m 2 "http://127.0.0.1:$port/")" published
  # On the loopback only: not on the veth's address of this host.
  run curl -s -m 2 "http://203.0.113.1:$port/"
  assert_status 7
  # ls shows it, as docker ps does.
  run --separate-stderr as_user "$NSBOX" ls
  assert_status 0
  assert_output_has "127.0.0.1:$port->8000/tcp"
  run --separate-stderr as_user "$NSBOX" ls --json
  [[ $output == *'"network": "open"'* && $output == *"\"127.0.0.1:$port->8000/tcp\""* ]] || { _show_run; false; }
}

@test "-p is refused without --network open, and a wrong -p or mode says what it expects" {
  sandbox_sh -p 8080:80 -- true
  assert_status 125
  [[ $stderr == *"-p publishes a port"*"add --network open"* ]] || { _show_run; false; }
  sandbox_sh --network open -p 80 -- true
  assert_status 125
  [[ $stderr == *"-p 80: expects [HOST_IP:]HOST_PORT:PORT"* ]] || { _show_run; false; }
  sandbox_sh --network wide -- true
  assert_status 125
  [[ $stderr == *"unknown network mode 'wide'"*"none, open, filtered or host"* ]] || { _show_run; false; }
  sandbox_sh --egress-allow example.com -- true
  assert_status 125
  [[ $stderr == *"rules of the filtered network"* ]] || { _show_run; false; }
}

@test "--network host shares the host's network (no isolation): the host's interfaces are there" {
  sandbox_sh --network host -- 'ip -o link | cut -d: -f2 | tr -d " "; curl -sS -m 3 http://'"$NET_API"':8080/'
  assert_status 0
  assert_output_has "$NET_HOST_IF"
  assert_equal "${lines[-1]}" "hello from api"
}

@test "an agent profile's network is the default, and --network overrides it" {
  mkdir -p "$TEST_HOME/.config/nsbox/agents"
  cat >"$TEST_HOME/.config/nsbox/agents/netshell.json" <<'JSON'
{ "name": "netshell", "command": ["/bin/sh"], "network": { "mode": "open" } }
JSON
  chown -R "$TEST_UID:$TEST_GID" "$TEST_HOME/.config"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" netshell -- -c 'curl -sS -m 5 http://'"$NET_API"':8080/'
  assert_status 0
  assert_equal "$output" "hello from api"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --network none netshell -- -c 'curl -sS -m 3 http://'"$NET_API"':8080/'
  assert_status 7
}

@test "a malformed network in a profile names the file and the field" {
  mkdir -p "$TEST_HOME/.config/nsbox/agents"
  echo '{ "name": "badnet", "command": ["/bin/sh"], "network": { "mode": "wide" } }' \
    >"$TEST_HOME/.config/nsbox/agents/badnet.json"
  chown -R "$TEST_UID:$TEST_GID" "$TEST_HOME/.config"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" badnet -- -c true
  assert_status 125
  [[ $stderr == *"badnet.json: network.mode: expects none, open, filtered or host"* ]] || { _show_run; false; }
}

@test "a running sandbox asked for another network says so instead of joining" {
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" shell -- -c 'sleep 60'
  assert_status 0
  sandbox_sh --network open -- true
  assert_status 125
  [[ $stderr == *"--network: asked"*"open"*"running with"*"none"* ]] || { _show_run; false; }
}

@test "without pasta and slirp4netns, --network open says what to install" {
  local bin=$TEST_DIR/bin
  mkdir -p "$bin"
  for t in newuidmap newgidmap; do
    [[ -x /usr/bin/$t ]] && ln -s "/usr/bin/$t" "$bin/$t"
  done
  run --separate-stderr as_user env PATH="$bin" "$NSBOX" run -w "$WS" --network open shell -- -c true
  assert_status 125
  [[ $stderr == *"needs pasta or slirp4netns"*"passt"* ]] || { _show_run; false; }
  assert_equal "$(helpers_of_user)" 0
}

@test "without pasta, --network open falls back to slirp4netns, which ends with the sandbox too" {
  command -v slirp4netns >/dev/null || skip "slirp4netns is not installed (Debian package slirp4netns)"
  local bin=$TEST_DIR/bin
  mkdir -p "$bin"
  for t in newuidmap newgidmap slirp4netns; do
    [[ -x /usr/bin/$t ]] && ln -s "/usr/bin/$t" "$bin/$t"
  done
  run --separate-stderr as_user env PATH="$bin" "$NSBOX" run -w "$WS" --network open shell -- \
    -c 'ip -o -4 addr show scope global; curl -sS -m 5 http://'"$NET_API"':8080/'
  assert_status 0
  assert_output_has "10.0.2.100/24"
  assert_equal "${lines[-1]}" "hello from api"
  wait_no_helpers
  # -p needs pasta: slirp4netns would need its API socket for it.
  run --separate-stderr as_user env PATH="$bin" "$NSBOX" run -w "$WS" --network open -p 18080:80 shell -- -c true
  assert_status 125
  [[ $stderr == *"-p and --allow-host-port need pasta"* ]] || { _show_run; false; }
}

@test "an image template on --network open gets a resolv.conf naming the DNS forwarder" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest --network open shell -- -c 'cat /etc/resolv.conf; wget -q -O- http://'"$NET_API"':8080/'
  assert_status 0
  assert_output_has "nameserver 10.0.2.3"
  assert_equal "${lines[-1]}" "hello from api"
}

@test "--network open resolves names through pasta's DNS forwarder, which asks the host's resolver" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  # The host's resolver, as pasta sees it: the suite's own DNS server on
  # the test host, put in /etc/resolv.conf of a mount namespace that only
  # this nsbox runs in.
  ip netns exec "$NET_NS" python3 "$BATS_TEST_DIRNAME/test-dns.py" "$NET_API" 53 \
    api.example.test="$NET_API" >"$TEST_DIR/dns.out" 2>&1 &
  echo $! >>"$TEST_DIR/.bg-pids"
  wait_for_output "$TEST_DIR/dns.out" ready 10
  echo "nameserver $NET_API" >"$TEST_DIR/resolv.conf"
  local _user_env _user_prefix
  _as_user_env
  _as_user_prefix
  run --separate-stderr timeout 60 unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh \
    "$TEST_DIR/resolv.conf" "${_user_prefix[@]}" env -i "${_user_env[@]}" \
    "$NSBOX" run -w "$WS" -t localhost/oci:latest --network open shell -- \
    -c 'cat /etc/resolv.conf; nslookup api.example.test; nslookup nosuch.example.test; echo nxdomain=$?'
  assert_status 0
  assert_output_has "nameserver 10.0.2.3"
  [[ $output == *"Name:"*"api.example.test"*"Address:"*"$NET_API"* ]] || { _show_run; false; }
  assert_output_has "nxdomain=1"
}
