#!/bin/sh
# Seeds for fuzz_parsers: the first byte picks the parser (see
# fuzz_parsers.c), the rest is a real input of its kind.
set -eu
out=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
seed() { # NAME SELECTOR FILE-OR-TEXT
  { printf "\\$(printf '%03o' "$2")"; cat; } >"$out/$1"
}
seed seccomp-default 0 <"$here/profiles/seccomp/default.json"
printf '%s' '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":40,"op":"SCMP_CMP_EQ"}]}]}' | seed seccomp-small 0
for f in "$here"/profiles/agents/*.json; do
  seed "profile-$(basename "$f" .json)" 1 <"$f"
done
printf '%s' '{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/bin/sh"],"cwd":"/","user":{"uid":0,"gid":0}},"mounts":[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid"]}],"linux":{"namespaces":[{"type":"user"},{"type":"mount"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":1}],"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}' | seed spec-small 2
for r in alpine docker.io/library/debian:12 localhost:5000/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000 127.0.0.1:5000/x/y:tag; do
  printf '%s' "$r" | seed "ref-$(printf '%s' "$r" | tr -c 'a-z0-9' '_')" 3
done
# The egress proxy: HTTP heads, SOCKS5 exchanges, policy files and rules.
printf 'GET http://api.example.test:8080/v1?q=1 HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\nConnection: X-A\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc' | seed http-get 4
printf 'CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n' | seed http-connect 4
printf '\005\002\000\002\005\001\000\003\012github.com\000\026' | seed socks-name 5
printf '\005\001\000\005\001\000\004\040\001\015\270\000\000\000\000\000\000\000\000\000\000\000\001\001\273' | seed socks-v6 5
printf '%s' '{"allow": ["api.anthropic.com", "*.github.com", "github.com:22", "10.1.0.0/16", "[fd00::/8]:443"], "deny": ["evil.example.test"]}' | seed policy-json 6
printf '%s\n' '*' '*.github.com:443' '::ffff:127.0.0.1' '[fe80::1]:22' '169.254.169.254/32' 'Example.COM.' | seed policy-rules 6
