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
