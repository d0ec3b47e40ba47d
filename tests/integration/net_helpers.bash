# Test hosts for the network suites, in a network namespace of the suite's
# own (root only): a veth pair, 203.0.113.1/29 on the host's side and
# 203.0.113.2 and .3 in the namespace, where small HTTP servers stand in
# for "api.example.test" (.2) and "evil.example.test" (.3).  Nothing is
# sent to 203.0.113.x before the route there is checked to be the veth:
# an address no namespace of ours serves would leave through the machine's
# gateway.  A /29, not the whole /24: this machine's package mirror has an
# address in 203.0.113.0/24 (deb.debian.org), which a /24 route to the veth
# would cut off while the suite runs.
#
#   net_hosts_up     in setup_file; skips (with the reason) unless root
#   net_hosts_down   in teardown_file
#   $NET_API, $NET_EVIL   the two addresses; port 8080 serves "hello from
#                         api" / "hello from evil"
#   $NET_API6             the api host's IPv6 address (2001:db8:1::2)

NET_API=203.0.113.2
NET_EVIL=203.0.113.3
# IPv6: the documentation prefix, on the same veth.
NET_API6=2001:db8:1::2

net_hosts_up() {
  if ((EUID != 0)); then
    skip "the network suite needs root to make its test hosts' namespace (run it through tests/check.sh as root)"
  fi
  NET_NS=nsbt$$
  NET_HOST_IF=nbh$$
  NET_NS_IF=nbn$$
  NET_DIR=$(mktemp -d /tmp/nsbox-net.XXXXXX)
  chmod 755 "$NET_DIR"
  export NET_NS NET_HOST_IF NET_NS_IF NET_DIR
  ip netns add "$NET_NS"
  ip link add "$NET_HOST_IF" type veth peer name "$NET_NS_IF"
  ip link set "$NET_NS_IF" netns "$NET_NS"
  ip addr add 203.0.113.1/29 dev "$NET_HOST_IF"
  ip link set "$NET_HOST_IF" up
  ip -n "$NET_NS" addr add "$NET_API/29" dev "$NET_NS_IF"
  ip -n "$NET_NS" addr add "$NET_EVIL/29" dev "$NET_NS_IF"
  ip addr add 2001:db8:1::1/64 dev "$NET_HOST_IF" nodad
  ip -n "$NET_NS" addr add "$NET_API6/64" dev "$NET_NS_IF" nodad
  ip -n "$NET_NS" link set "$NET_NS_IF" up
  ip -n "$NET_NS" link set lo up
  local via
  for a in "$NET_API" "$NET_EVIL" "$NET_API6"; do
    via=$(ip route get "$a")
    if [[ $via != *" dev $NET_HOST_IF "* ]]; then
      echo "net_hosts_up: the route to $a is not our veth: $via" >&2
      net_hosts_down
      return 1
    fi
  done
  mkdir -p "$NET_DIR/api" "$NET_DIR/evil"
  echo "hello from api" >"$NET_DIR/api/index.html"
  echo "hello from evil" >"$NET_DIR/evil/index.html"
  ip netns exec "$NET_NS" busybox httpd -f -p "$NET_API:8080" -h "$NET_DIR/api" >/dev/null 2>&1 &
  echo $! >"$NET_DIR/api.pid"
  ip netns exec "$NET_NS" busybox httpd -f -p "$NET_EVIL:8080" -h "$NET_DIR/evil" >/dev/null 2>&1 &
  echo $! >"$NET_DIR/evil.pid"
  ip netns exec "$NET_NS" busybox httpd -f -p "[$NET_API6]:8080" -h "$NET_DIR/api" >/dev/null 2>&1 &
  echo $! >"$NET_DIR/api6.pid"
  for _ in $(seq 50); do
    curl -s -m 1 "http://$NET_API:8080/" >/dev/null && curl -s -m 1 "http://$NET_EVIL:8080/" >/dev/null && break
    sleep 0.1
  done
  [[ $(curl -s -m 2 "http://$NET_API:8080/") == "hello from api" ]] || { echo "net_hosts_up: the api test server does not answer" >&2; return 1; }
  # Rootless pasta and slirp4netns need the tun device (it may come up 0600).
  chmod 0666 /dev/net/tun
}

net_hosts_down() {
  [[ -n ${NET_NS-} ]] || return 0
  local f
  for f in "$NET_DIR"/*.pid; do
    [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null
  done
  ip link del "$NET_HOST_IF" 2>/dev/null || true
  ip netns del "$NET_NS" 2>/dev/null || true
  rm -rf "$NET_DIR"
}
