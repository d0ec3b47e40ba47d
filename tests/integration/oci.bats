#!/usr/bin/env bats
# nsbox oci (nsbox-oci(1)): runc's command line over nsbox's lifecycle --
# the runtime-spec's states (creating, created, running, stopped), the
# errors for unknown ids and wrong states, pid files, signals, exec, the
# console socket, and errors in the engine's --log.

bats_require_minimum_version 1.5.0
load helpers

setup() {
  nsbox_setup
  ROOT=$TEST_DIR/oci-root
  OUT=$TEST_DIR/out
  U=$TEST_DIR/u # the user's scratch: pid files, logs, sockets
  mkdir -p "$ROOT" "$OUT" "$U"
  chown "$TEST_UID:$TEST_GID" "$ROOT" "$OUT" "$U"
}

teardown() {
  local id
  for id in $(as_user "$NSBOX" oci --root "$ROOT" list -q 2>/dev/null); do
    as_user "$NSBOX" oci --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true
  done
  nsbox_teardown
}

oci() {
  as_user "$NSBOX" oci --root "$ROOT" "$@"
}

# A container's stdio are the caller's, as an engine's pipes are: for one
# that outlives the command, files (a pipe of bats' would stay open).
oci_bg() {
  oci "$@" </dev/null >>"$U/bg.out" 2>&1
}

# make_bundle DIR SCRIPT [TERMINAL]: a rootless bundle from `nsbox oci spec
# --rootless`, busybox as its root, SCRIPT run by sh, $OUT bound at /out.
make_bundle() {
  local b=$1 script=$2 terminal=${3:-false} c
  mkdir -p "$b/rootfs/bin"
  cp /bin/busybox "$b/rootfs/bin/"
  for c in sh echo sleep cat ls id true tty touch test ip; do ln -sf busybox "$b/rootfs/bin/$c"; done
  mkdir -p "$b/rootfs/out"
  chown -R "$TEST_UID:$TEST_GID" "$b"
  (cd "$b" && as_user "$NSBOX" oci spec --rootless) || return 1
  python3 - "$b/config.json" "$script" "$terminal" "$OUT" <<'PY'
import json, sys
path, script, terminal, out = sys.argv[1:]
c = json.load(open(path))
c["process"]["args"] = ["sh", "-c", script]
c["process"]["terminal"] = terminal == "true"
c["mounts"].append({"destination": "/out", "type": "bind", "source": out,
                    "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=1)
PY
  chown "$TEST_UID:$TEST_GID" "$b/config.json"
}

state_field() {
  oci state "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$2\"])"
}

@test "create sets the container up and its process waits: state says created, with the init's pid" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran; sleep 30'
  oci_bg create --bundle "$TEST_DIR/b" --pid-file "$U/pid" c1
  assert_equal "$(state_field c1 status)" created
  local pid
  pid=$(state_field c1 pid)
  assert_equal "$(cat "$U/pid")" "$pid"
  kill -0 "$pid"
  assert_equal "$(state_field c1 bundle)" "$TEST_DIR/b"
  assert_equal "$(state_field c1 id)" c1
  sleep 0.5
  [[ ! -e $OUT/ran ]] || { echo "the process ran before start" >&2; false; }
}

@test "start runs the created process: state says running, and starting it again fails" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran; sleep 30'
  oci_bg create -b "$TEST_DIR/b" c1
  run --separate-stderr oci start c1
  assert_status 0
  for _ in $(seq 50); do [[ -e $OUT/ran ]] && break; sleep 0.1; done
  [[ -e $OUT/ran ]]
  assert_equal "$(state_field c1 status)" running
  run --separate-stderr oci start c1
  assert_status 125
  [[ $stderr == *"start c1: it is running, not created"* ]] || { _show_run; false; }
}

@test "a process that cannot be executed fails start with 127 naming it" {
  make_bundle "$TEST_DIR/b" true
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["args"] = ["/no/such/binary"]
json.dump(c, open(sys.argv[1], "w"))
PY
  oci_bg create -b "$TEST_DIR/b" c1
  run -127 --separate-stderr oci start c1
  [[ $stderr == *"exec /no/such/binary"* ]] || { _show_run; false; }
  assert_equal "$(state_field c1 status)" stopped
}

@test "kill sends the signal by name or number; a stopped container says pid 0 and refuses kill" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  oci_bg create -b "$TEST_DIR/b" c1
  oci start c1
  run --separate-stderr oci kill c1 SIGTERM
  assert_status 0
  for _ in $(seq 50); do [[ $(state_field c1 status) == stopped ]] && break; sleep 0.1; done
  assert_equal "$(state_field c1 status)" stopped
  assert_equal "$(state_field c1 pid)" 0
  run --separate-stderr oci kill c1 9
  assert_status 125
  [[ $stderr == *"kill c1: it is not running"* ]] || { _show_run; false; }
  oci_bg create -b "$TEST_DIR/b" c2
  run --separate-stderr oci kill --signal KILL c2
  assert_status 0
  run --separate-stderr oci kill c2 NOSUCHSIG
  assert_status 125
  [[ $stderr == *"unknown signal NOSUCHSIG"* ]] || { _show_run; false; }
}

@test "kill of a created container ends it before its process ever ran" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran'
  oci_bg create -b "$TEST_DIR/b" c1
  oci kill c1 TERM
  for _ in $(seq 50); do [[ $(state_field c1 status) == stopped ]] && break; sleep 0.1; done
  assert_equal "$(state_field c1 status)" stopped
  [[ ! -e $OUT/ran ]]
}

@test "kill --all reaches every process of the container" {
  make_bundle "$TEST_DIR/b" 'trap "" TERM; sleep 30 & wait'
  oci_bg create -b "$TEST_DIR/b" c1
  oci start c1
  sleep 0.3
  run --separate-stderr oci kill --all c1 KILL
  assert_status 0
  for _ in $(seq 50); do [[ $(state_field c1 status) == stopped ]] && break; sleep 0.1; done
  assert_equal "$(state_field c1 status)" stopped
}

@test "delete refuses a running container, --force kills it; afterwards the id does not exist" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  oci_bg create -b "$TEST_DIR/b" c1
  oci start c1
  local pid
  pid=$(state_field c1 pid)
  run --separate-stderr oci delete c1
  assert_status 125
  [[ $stderr == *"delete c1: it is running"* ]] || { _show_run; false; }
  run --separate-stderr oci delete --force c1
  assert_status 0
  ! kill -0 "$pid" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$pid/stat") == Z ]]
  run --separate-stderr oci state c1
  assert_status 125
  [[ $stderr == *"container c1 does not exist"* ]] || { _show_run; false; }
  assert_equal "$(ls "$ROOT")" ""
}

@test "delete refuses a created container too, which stays created; killed, it deletes" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran'
  oci_bg create -b "$TEST_DIR/b" c1
  run --separate-stderr oci delete c1
  assert_status 125
  [[ $stderr == *"delete c1: it is created"* ]] || { _show_run; false; }
  assert_equal "$(state_field c1 status)" created
  oci kill c1 KILL
  for _ in $(seq 50); do [[ $(state_field c1 status) == stopped ]] && break; sleep 0.1; done
  run --separate-stderr oci delete c1
  assert_status 0
  assert_equal "$(ls "$ROOT")" ""
  [[ ! -e $OUT/ran ]]
}

@test "a stopped container cannot be started again: it is stopped, not created" {
  make_bundle "$TEST_DIR/b" 'echo ran >>/out/ran'
  oci_bg create -b "$TEST_DIR/b" c1
  oci start c1
  for _ in $(seq 50); do [[ $(state_field c1 status) == stopped ]] && break; sleep 0.1; done
  assert_equal "$(state_field c1 status)" stopped
  run --separate-stderr oci start c1
  assert_status 125
  [[ $stderr == *"start c1: it is stopped, not created"* ]] || { _show_run; false; }
  assert_equal "$(cat "$OUT/ran")" ran
}

@test "kill without a signal sends SIGTERM; the signal asked for is the one the process gets" {
  make_bundle "$TEST_DIR/b" 'trap "echo USR1 >>/out/sig" USR1; trap "echo TERM >>/out/sig; exit 0" TERM; echo up >/out/up; while :; do sleep 0.1; done'
  oci_bg create -b "$TEST_DIR/b" c1
  oci start c1
  wait_for_output "$OUT/up" up 10
  oci kill c1 10
  wait_for_output "$OUT/sig" USR1 10
  oci kill c1
  wait_for_output "$OUT/sig" TERM 10
  for _ in $(seq 50); do [[ $(state_field c1 status) == stopped ]] && break; sleep 0.1; done
  assert_equal "$(cat "$OUT/sig")" $'USR1\nTERM'
}

@test "the pid file is written before create returns, also given relative to the cwd; run -d writes one too" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  (cd "$U" && oci create -b "$TEST_DIR/b" --pid-file rel.pid c1 </dev/null >>"$U/bg.out" 2>&1)
  assert_equal "$(cat "$U/rel.pid")" "$(state_field c1 pid)"
  oci_bg run -d -b "$TEST_DIR/b" --pid-file "$U/run.pid" c2
  assert_equal "$(cat "$U/run.pid")" "$(state_field c2 pid)"
  [[ $(cat "/proc/$(cat "$U/run.pid")/comm") == nsbox-init ]]
}

@test "errors for ids: unknown, already existing, not a valid name" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  local verb
  for verb in start state delete kill ps; do
    run --separate-stderr oci "$verb" nope
    assert_status 125
    [[ $stderr == *"container nope does not exist"* ]] || { _show_run; false; }
  done
  oci_bg create -b "$TEST_DIR/b" c1
  run --separate-stderr oci create -b "$TEST_DIR/b" c1
  assert_status 125
  [[ $stderr == *"container c1 already exists"* ]] || { _show_run; false; }
  run --separate-stderr oci create -b "$TEST_DIR/b" ../escape
  assert_status 125
  [[ $stderr == *"invalid container id '../escape'"* ]] || { _show_run; false; }
  [[ ! -e $TEST_DIR/escape ]]
}

@test "run is create and start in the foreground: output, exit status, and no state left" {
  make_bundle "$TEST_DIR/b" 'echo out; echo err >&2; exit 3'
  run --separate-stderr oci run -b "$TEST_DIR/b" r1
  assert_status 3
  assert_equal "$output" out
  assert_equal "$stderr" err
  assert_equal "$(ls "$ROOT")" ""
}

@test "run -d leaves it running; a bad bundle fails with 125 and leaves no state" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  oci_bg run -d -b "$TEST_DIR/b" r1
  assert_equal "$(state_field r1 status)" running
  echo '{"ociVersion": "1.0.2"' >"$TEST_DIR/b/config.json"
  run --separate-stderr oci run -b "$TEST_DIR/b" r2
  assert_status 125
  [[ $stderr == *config.json* ]] || { _show_run; false; }
  [[ ! -e $ROOT/r2 ]]
}

@test "exec runs a process in the running container: args, --env, --cwd, --process, exit status" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  oci_bg run -d -b "$TEST_DIR/b" c1
  run --separate-stderr oci exec c1 sh -c 'echo $$; exit 4'
  assert_status 4
  [[ $output -gt 1 ]] || { _show_run; false; }
  run --separate-stderr oci exec --env FOO=bar --cwd /out c1 sh -c 'echo "$FOO $PWD"'
  assert_equal "$output" "bar /out"
  cat >"$TEST_DIR/process.json" <<'EOF2'
{"args": ["sh", "-c", "echo from-process-file; id -u"], "cwd": "/", "env": ["PATH=/bin"],
 "user": {"uid": 0, "gid": 0}, "terminal": false}
EOF2
  chown "$TEST_UID:$TEST_GID" "$TEST_DIR/process.json"
  run --separate-stderr oci exec --process "$TEST_DIR/process.json" c1
  assert_status 0
  assert_equal "${lines[0]}" from-process-file
  assert_equal "${lines[1]}" 0
  oci_bg exec -d --pid-file "$U/epid" c1 sleep 5
  [[ -s $U/epid ]]
  # ps lists the init, its process and the exec'd one.
  run --separate-stderr oci ps --format json c1
  assert_status 0
  python3 - "$output" "$(state_field c1 pid)" "$(cat "$U/epid")" <<'PY'
import json, sys
pids, init, ex = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
assert init in pids and ex in pids and len(pids) >= 3, (pids, init, ex)
PY
}

@test "exec in a created or stopped container is refused" {
  make_bundle "$TEST_DIR/b" 'true'
  oci_bg create -b "$TEST_DIR/b" c1
  run --separate-stderr oci exec c1 true
  assert_status 125
  [[ $stderr == *"it is created, not running"* ]] || { _show_run; false; }
}

@test "with a terminal, create passes the pty master to --console-socket" {
  make_bundle "$TEST_DIR/b" 'tty; sleep 20' true
  local sock=$U/console.sock
  # The engine's side: take the master, read what the process writes.
  as_user python3 - "$sock" >"$TEST_DIR/console.out" 2>&1 <<'PY' &
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)
c, _ = s.accept()
fds = array.array("i")
msg, anc, flags, addr = c.recvmsg(64, socket.CMSG_LEN(4))
for level, typ, data in anc:
    fds.frombytes(data[:4])
print("got", len(fds), flush=True)
out = b""
while b"\n" not in out:
    out += os.read(fds[0], 100)
print(out.decode().strip(), flush=True)
PY
  local py=$!
  for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done
  # Captured as an engine's shim captures it: create's own stdout and
  # stderr reach their end when create returns, though the container runs
  # on (init keeps none of them when the process has a terminal).
  (oci create -b "$TEST_DIR/b" --console-socket "$sock" t1 2>&1 | cat >"$U/create.out") </dev/null >/dev/null 2>&1 &
  local cpid=$!
  for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$cpid" 2>/dev/null; then
    pkill -KILL -P "$cpid"
    echo "create's stdio stayed open while the container ran" >&2
    false
  fi
  wait "$cpid"
  oci start t1
  wait "$py"
  assert_equal "$(sed -n 1p "$TEST_DIR/console.out")" "got 1"
  [[ $(sed -n 2p "$TEST_DIR/console.out") == /dev/pts/* ]] || { cat "$TEST_DIR/console.out" >&2; false; }
  # Without a console socket there is nowhere to put the terminal.
  run --separate-stderr oci create -b "$TEST_DIR/b" t2
  assert_status 125
  [[ $stderr == *"no console socket"* ]] || { _show_run; false; }
  [[ ! -e $ROOT/t2 ]]
}

@test "list shows each container with its status; -q the ids; --format json the states" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  oci_bg create -b "$TEST_DIR/b" a1
  oci_bg run -d -b "$TEST_DIR/b" a2
  run --separate-stderr oci list
  assert_status 0
  [[ ${lines[0]} == "ID "*"PID "*"STATUS "*"BUNDLE "*"CREATED"* ]] || { _show_run; false; }
  [[ ${lines[1]} == "a1 "*" created "* && ${lines[2]} == "a2 "*" running "* ]] || { _show_run; false; }
  run --separate-stderr oci list -q
  assert_equal "$output" "$(printf 'a1\na2')"
  run --separate-stderr oci list --format json
  python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert [x["status"] for x in s] == ["created","running"], s' "$output"
}

@test "spec --rootless writes a config.json mapping the user to root, and never over an existing one" {
  mkdir -p "$TEST_DIR/s" && chown "$TEST_UID:$TEST_GID" "$TEST_DIR/s"
  run --separate-stderr as_user "$NSBOX" oci spec --rootless --bundle "$TEST_DIR/s"
  assert_status 0
  python3 - "$TEST_DIR/s/config.json" "$TEST_UID" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert {"type": "user"} in c["linux"]["namespaces"], c["linux"]["namespaces"]
assert c["linux"]["uidMappings"] == [{"containerID": 0, "hostID": int(sys.argv[2]), "size": 1}]
assert c["root"]["path"] == "rootfs" and c["process"]["noNewPrivileges"] is True
PY
  run --separate-stderr as_user "$NSBOX" oci spec --bundle "$TEST_DIR/s"
  assert_status 125
  [[ $stderr == *"File exists"* ]] || { _show_run; false; }
}

@test "features says what the runtime supports: the hooks it runs, cgroup v2 only" {
  run --separate-stderr as_user "$NSBOX" oci features
  assert_status 0
  python3 -c '
import json, sys
f = json.loads(sys.argv[1])
assert f["ociVersionMax"] == "1.0.2" and "createContainer" in f["hooks"], f["hooks"]
assert f["linux"]["cgroup"]["v2"] is True and f["linux"]["cgroup"]["v1"] is False
assert "user" in f["linux"]["namespaces"] and f["linux"]["seccomp"]["enabled"]
assert "rbind" in f["mountOptions"]' "$output"
}

@test "invoked as nsbox-oci it is the OCI runtime; its default root is private to the user" {
  ln -s "$NSBOX" "$TEST_DIR/nsbox-oci"
  make_bundle "$TEST_DIR/b" 'echo via-symlink'
  run --separate-stderr as_user "$TEST_DIR/nsbox-oci" run -b "$TEST_DIR/b" s1
  assert_status 0
  assert_equal "$output" via-symlink
  run --separate-stderr as_user "$TEST_DIR/nsbox-oci" --version
  [[ $output == "nsbox-oci version "* ]] || { _show_run; false; }
  [[ $(stat -c %a "/tmp/nsbox-oci-$TEST_UID") == 700 ]]
}

@test "with --log and --log-format json, an error is also a JSON line in the log" {
  run --separate-stderr as_user "$NSBOX" oci --root "$ROOT" --log "$U/log" --log-format json state nope
  assert_status 125
  python3 -c '
import json, sys
(line,) = open(sys.argv[1]).read().splitlines()
e = json.loads(line)
assert e["level"] == "error" and "container nope does not exist" in e["msg"], e' "$U/log"
}

@test "a namespace given by path is joined: the container runs in that network namespace" {
  make_bundle "$TEST_DIR/b" 'ip -4 addr show lo'
  # As rootless podman does: the runtime runs as root of a user namespace
  # that owns the network namespace to join (joining one needs
  # CAP_SYS_ADMIN over it and where nsbox runs), with no user namespace
  # of the container's own.
  cat >"$U/join.sh" <<'EOF2'
set -e
unshare -n sh -c 'ip addr add 203.0.113.7/32 dev lo && echo ready >"$U/ready" && exec sleep 30' &
holder=$!
for i in $(seq 50); do [ -e "$U/ready" ] && break; sleep 0.1; done
python3 - "$B/config.json" "/proc/$holder/ns/net" "$1" <<'PY'
import json, sys
path, netns, kind = sys.argv[1:]
c = json.load(open(path))
ns = [n for n in c["linux"]["namespaces"] if n["type"] not in ("user", "network", kind)]
ns.append({"type": "network", "path": netns})
c["linux"]["namespaces"] = ns
c["linux"].pop("uidMappings", None); c["linux"].pop("gidMappings", None)
json.dump(c, open(path, "w"))
PY
status=0
"$NSBOX" oci --root "$ROOT" run -b "$B" "j-$1" || status=$?
kill "$holder"
exit "$status"
EOF2
  chown "$TEST_UID:$TEST_GID" "$U/join.sh"
  run --separate-stderr as_user env U="$U" B="$TEST_DIR/b" NSBOX="$NSBOX" ROOT="$ROOT" \
    unshare -Ur sh "$U/join.sh" none
  assert_status 0
  assert_output_has 203.0.113.7
}

# join_mnt_bundle CONFIG PID [user]: CONFIG joins the mount namespace of
# process PID (and with "user", its user namespace, with no mappings).
join_mnt_bundle() {
  python3 - "$1" "/proc/$2/ns" "${3-}" <<'PY'
import json, sys
path, ns, user = sys.argv[1:]
c = json.load(open(path))
drop = ("mount", "user") if user else ("mount",)
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] not in drop]
c["linux"]["namespaces"].append({"type": "mount", "path": ns + "/mnt"})
if user:
    c["linux"]["namespaces"].append({"type": "user", "path": ns + "/user"})
    c["linux"].pop("uidMappings"); c["linux"].pop("gidMappings")
json.dump(c, open(path, "w"))
PY
}

# The first container's process (its init, nsbox's, is not dumpable: only
# root may open its /proc/PID/ns; the process it runs may be).
container_process() {
  local init
  init=$(state_field "$1" pid)
  pgrep -P "$init" | head -n 1
}

@test "a mount namespace given by path is joined (rootless, with its user namespace): the second container sees the first one's tree, which keeps its root" {
  make_bundle "$TEST_DIR/b1" 'echo first >/dev/shm/mark; echo up >/out/up; sleep 30'
  make_bundle "$TEST_DIR/b2" 'cat /dev/shm/mark; test -e /only-b2 && echo own-root; echo second >/dev/shm/mark2; id -u'
  touch "$TEST_DIR/b2/rootfs/only-b2"
  oci_bg create -b "$TEST_DIR/b1" m1
  oci start m1
  wait_for_output "$OUT/up" up 10
  local pid
  pid=$(container_process m1)
  [[ -n $pid ]] || { echo "no process in m1" >&2; false; }
  join_mnt_bundle "$TEST_DIR/b2/config.json" "$pid" user
  run --separate-stderr oci run -b "$TEST_DIR/b2" m2
  assert_status 0
  # The first one's files, not the second bundle's root; root there is the
  # user, as in the first.
  assert_equal "$output" $'first\n0'
  # The first container still runs in its own root and sees what the
  # second wrote.
  run --separate-stderr oci exec m1 sh -c 'cat /dev/shm/mark2; test -e /only-b2 || echo same-root'
  assert_status 0
  assert_equal "$output" $'second\nsame-root'
  assert_equal "$(state_field m1 status)" running
}

@test "rootless, the kernel refuses a mount namespace whose user namespace is not joined too: said, with what to do" {
  make_bundle "$TEST_DIR/b1" 'echo up >/out/up; sleep 30'
  make_bundle "$TEST_DIR/b2" 'echo joined'
  oci_bg create -b "$TEST_DIR/b1" m1
  oci start m1
  wait_for_output "$OUT/up" up 10
  join_mnt_bundle "$TEST_DIR/b2/config.json" "$(container_process m1)"
  run --separate-stderr oci run -b "$TEST_DIR/b2" m2
  assert_status 125
  [[ $output != *joined* ]] || { _show_run; false; }
  [[ $stderr == *"join the mount namespace at /proc/"*"/ns/mnt: Operation not permitted"* ]] || { _show_run; false; }
  [[ $stderr == *"only with CAP_SYS_ADMIN in the user namespace that owns it: join that user namespace too"* ]] || { _show_run; false; }
  # A namespace listed twice is a contradiction.
  python3 - "$TEST_DIR/b2/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["linux"]["namespaces"].append({"type": "mount"})
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b2" m3
  assert_status 125
  [[ $stderr == *"config.json: the mount namespace is listed twice"* ]] || { _show_run; false; }
}

@test "as root, a mount namespace given by path is joined: the second container sees the first one's tree" {
  ((EUID == 0)) || skip "needs root: the root rows of the OCI suite"
  local b c rs=$TEST_DIR/root-state
  for b in "$TEST_DIR/r1" "$TEST_DIR/r2"; do
    mkdir -p "$b/rootfs/bin"
    cp /bin/busybox "$b/rootfs/bin/"
    for c in sh cat sleep test echo; do ln -sf busybox "$b/rootfs/bin/$c"; done
    (cd "$b" && "$NSBOX" oci spec)
  done
  touch "$TEST_DIR/r2/rootfs/only-r2"
  python3 - "$TEST_DIR/r1/config.json" 'echo first >/dev/shm/mark; exec sleep 30' \
    "$TEST_DIR/r2/config.json" 'cat /dev/shm/mark; test -e /only-r2 && echo own-root; true' <<'PY'
import json, sys
for path, script in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    c = json.load(open(path))
    c["process"].update(terminal=False, args=["sh", "-c", script])
    json.dump(c, open(path, "w"))
PY
  timeout 30 "$NSBOX" oci --root "$rs" run -d -b "$TEST_DIR/r1" rm1 </dev/null >/dev/null 2>&1
  local pid
  pid=$(timeout 10 "$NSBOX" oci --root "$rs" state rm1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  sleep 0.3
  # As root even init's namespace is open to the runtime.
  join_mnt_bundle "$TEST_DIR/r2/config.json" "$pid"
  run --separate-stderr timeout 60 "$NSBOX" oci --root "$rs" run -b "$TEST_DIR/r2" rm2
  timeout 10 "$NSBOX" oci --root "$rs" delete --force rm1 >/dev/null 2>&1 || true
  assert_status 0
  assert_equal "$output" first
}

@test "a config without a mount namespace is refused before anything is set up" {
  make_bundle "$TEST_DIR/b" 'echo ran'
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" nm1
  assert_status 125
  [[ $output != *ran* ]] || { _show_run; false; }
  [[ $stderr == *"config.json: no mount namespace in linux.namespaces"* ]] || { _show_run; false; }
  [[ ! -e $ROOT/nm1 ]]
  ((EUID == 0)) || return 0
  # As root the set-up would pivot_root the caller's mount namespace,
  # moving the root of every process in it: tried in a throwaway one.
  local b=$TEST_DIR/rb c
  mkdir -p "$b/rootfs/bin"
  cp /bin/busybox "$b/rootfs/bin/"
  ln -sf busybox "$b/rootfs/bin/sh"
  (cd "$b" && "$NSBOX" oci spec)
  python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"].update(terminal=False, args=["sh", "-c", "echo ran"])
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr timeout 60 unshare -m --propagation private sh -c \
    '"$1" oci --root "$2" run -b "$3" nm2; echo "rc=$?"; test -e /etc/os-release && echo "root kept"' \
    sh "$NSBOX" "$TEST_DIR/root-state" "$b"
  assert_equal "$output" $'rc=125\nroot kept'
  [[ $stderr == *"config.json: no mount namespace in linux.namespaces"* ]] || { _show_run; false; }
}

@test "a cgroup mount shows the host's cgroups read-only (this host is not pure cgroup v2)" {
  make_bundle "$TEST_DIR/b" 'ls /sys/fs/cgroup >/dev/null && touch /sys/fs/cgroup/x 2>&1; echo done'
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                    "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" g1
  assert_status 0
  [[ $output == *"Read-only file system"*done ]] || { _show_run; false; }
}

# add_hooks CONFIG KIND:PATH:SCRIPT[:TIMEOUT]...: hooks run by sh -c SCRIPT.
add_hooks() {
  python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
for spec in sys.argv[2:]:
    kind, exe, script, *t = spec.split(":", 3)
    h = {"path": exe, "args": ["sh", "-c", script], "env": ["PATH=/bin:/usr/bin"]}
    if t:
        h["timeout"] = int(t[0])
    c.setdefault("hooks", {}).setdefault(kind, []).append(h)
json.dump(c, open(path, "w"))
PY
}

# Each hook logs its name and the status and id of the state on its stdin.
log_hook() {
  echo "$1:/bin/sh:read s; echo \"$1 \$(echo \"\$s\" | tr , '\\n' | grep -E '\"(status|id)\"' | tr '\\n' ' ')\" >>$2"
}

@test "hooks run in the runtime-spec's order with the state on stdin: createRuntime, createContainer, startContainer, poststart, poststop" {
  make_bundle "$TEST_DIR/b" 'echo process >>/out/log; sleep 30'
  add_hooks "$TEST_DIR/b/config.json" "$(log_hook createRuntime "$OUT/log")" \
    "$(log_hook createContainer "$OUT/log")" "$(log_hook startContainer /out/log)" \
    "$(log_hook poststart "$OUT/log")" "$(log_hook poststop "$OUT/log")"
  oci_bg create -b "$TEST_DIR/b" h1
  run cat "$OUT/log"
  assert_equal "${lines[0]}" 'createRuntime "id":"h1" "status":"creating" '
  assert_equal "${lines[1]}" 'createContainer "id":"h1" "status":"creating" '
  assert_equal "${#lines[@]}" 2
  oci start h1
  for _ in $(seq 50); do grep -q process "$OUT/log" && break; sleep 0.1; done
  run cat "$OUT/log"
  [[ ${lines[2]} == "startContainer "* ]] || { _show_run; false; }
  [[ $output == *$'\npoststart "id":"h1" "status":"running" '* ]] || { _show_run; false; }
  [[ $output == *$'\nprocess'* ]] || { _show_run; false; }
  oci delete --force h1
  run tail -n 1 "$OUT/log"
  assert_equal "$output" 'poststop "id":"h1" "status":"stopped" '
}

@test "a failing createRuntime hook fails create naming it, and leaves no container" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran'
  add_hooks "$TEST_DIR/b/config.json" 'createRuntime:/bin/sh:exit 3'
  run --separate-stderr oci create -b "$TEST_DIR/b" h2
  assert_status 125
  [[ $stderr == *"hooks.createRuntime[0] /bin/sh: exit status 3"* ]] || { _show_run; false; }
  [[ ! -e $ROOT/h2 ]]
  [[ ! -e $OUT/ran ]]
}

@test "a createContainer hook that fails, and one that outlives its timeout, fail create" {
  make_bundle "$TEST_DIR/b" 'true'
  add_hooks "$TEST_DIR/b/config.json" 'createContainer:/bin/sh:exec sleep 20:1'
  local t0=$SECONDS
  run --separate-stderr oci create -b "$TEST_DIR/b" h3
  assert_status 125
  [[ $stderr == *"hooks.createContainer[0] /bin/sh: killed after its timeout of 1 s"* ]] || { _show_run; false; }
  ((SECONDS - t0 < 10))
  [[ ! -e $ROOT/h3 ]]
}

@test "a failing startContainer hook fails start, and the process never runs" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran; sleep 30'
  add_hooks "$TEST_DIR/b/config.json" 'startContainer:/bin/sh:exit 4'
  oci_bg create -b "$TEST_DIR/b" h4
  run --separate-stderr oci start h4
  assert_status 125
  [[ $stderr == *"hooks.startContainer[0] /bin/sh: exit status 4"* ]] || { _show_run; false; }
  for _ in $(seq 50); do [[ $(state_field h4 status) == stopped ]] && break; sleep 0.1; done
  assert_equal "$(state_field h4 status)" stopped
  [[ ! -e $OUT/ran ]]
}

@test "failing poststart and poststop hooks are warnings: start, run and delete succeed" {
  make_bundle "$TEST_DIR/b" 'echo ran'
  add_hooks "$TEST_DIR/b/config.json" 'poststart:/bin/sh:exit 5' 'poststop:/bin/sh:exit 6'
  run --separate-stderr oci run -b "$TEST_DIR/b" h5
  assert_status 0
  assert_equal "$output" ran
  [[ $stderr == *"warning: hooks.poststart[0] /bin/sh: exit status 5"* ]] || { _show_run; false; }
  [[ $stderr == *"warning: hooks.poststop[0] /bin/sh: exit status 6"* ]] || { _show_run; false; }
}

@test "prestart hooks run first, in the runtime's namespaces, with the state; hooks of a kind run in order" {
  make_bundle "$TEST_DIR/b" 'sleep 30'
  add_hooks "$TEST_DIR/b/config.json" "$(log_hook prestart "$OUT/log")" \
    "prestart:/bin/sh:readlink /proc/self/ns/mnt >>$OUT/log" \
    "$(log_hook createRuntime "$OUT/log")"
  oci_bg create -b "$TEST_DIR/b" p1
  run cat "$OUT/log"
  assert_equal "${lines[0]}" 'prestart "id":"p1" "status":"creating" '
  # The runtime's mount namespace, not the container's.
  assert_equal "${lines[1]}" "$(readlink /proc/self/ns/mnt)"
  assert_equal "${lines[2]}" 'createRuntime "id":"p1" "status":"creating" '
  assert_equal "${#lines[@]}" 3
}

@test "a failing prestart hook fails create naming it: no later hook runs, no container is left" {
  make_bundle "$TEST_DIR/b" 'touch /out/ran'
  add_hooks "$TEST_DIR/b/config.json" "prestart:/bin/sh:echo first >>$OUT/log" \
    'prestart:/bin/sh:exit 5' "prestart:/bin/sh:echo third >>$OUT/log" \
    "$(log_hook createRuntime "$OUT/log")" "$(log_hook poststop "$OUT/log")"
  run --separate-stderr oci create -b "$TEST_DIR/b" p2
  assert_status 125
  [[ $stderr == *"hooks.prestart[1] /bin/sh: exit status 5"* ]] || { _show_run; false; }
  assert_equal "$(cat "$OUT/log")" first
  [[ ! -e $ROOT/p2 ]]
  [[ ! -e $OUT/ran ]]
  run --separate-stderr oci state p2
  assert_status 125
  [[ $stderr == *"container p2 does not exist"* ]] || { _show_run; false; }
}

@test "a malformed hook is refused before anything is created" {
  make_bundle "$TEST_DIR/b" 'true'
  add_hooks "$TEST_DIR/b/config.json" 'prestart:bin/sh:true'
  run --separate-stderr oci create -b "$TEST_DIR/b" h6
  assert_status 125
  [[ $stderr == *"hooks.prestart[0]: path must be an absolute path"* ]] || { _show_run; false; }
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["hooks"] = {"preStart": []}
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci create -b "$TEST_DIR/b" h6
  assert_status 125
  [[ $stderr == *"hooks.preStart: not a kind of hook"* ]] || { _show_run; false; }
  [[ ! -e $ROOT/h6 ]]
}

@test "--preserve-fds hands the caller's descriptors 3 on to the process, and no others" {
  make_bundle "$TEST_DIR/b" 'cat <&3; ls /proc/self/fd | tr "\n" " "'
  echo passed-on >"$U/f3"
  echo kept-back >"$U/f4"
  chown "$TEST_UID:$TEST_GID" "$U/f3" "$U/f4"
  run --separate-stderr as_user sh -c 'exec 3<"$1" 4<"$2"; exec "$3" oci --root "$4" run --preserve-fds 1 -b "$5" p1' \
    sh "$U/f3" "$U/f4" "$NSBOX" "$ROOT" "$TEST_DIR/b"
  assert_status 0
  assert_equal "${lines[0]}" passed-on
  # ls's own directory descriptor is the one after 3.
  [[ ${lines[1]} == "0 1 2 3 "* && ${lines[1]} != *" 5 "* ]] || { _show_run; false; }
  [[ $(wc -w <<<"${lines[1]}") == 5 ]] || { _show_run; false; }
  # bats keeps its own output on 3: closed, so 3 is a gap.
  run --separate-stderr as_user sh -c 'exec 3<&- 4<"$1"; exec "$2" oci --root "$3" run --preserve-fds 2 -b "$4" p2' \
    sh "$U/f4" "$NSBOX" "$ROOT" "$TEST_DIR/b"
  assert_status 125
  [[ $stderr == *"--preserve-fds 2: descriptor 3 is not open"* ]] || { _show_run; false; }
}

@test "process.user.umask and process.oomScoreAdj are applied; a lower oomScoreAdj than allowed is an error" {
  make_bundle "$TEST_DIR/b" 'umask; cat /proc/self/oom_score_adj'
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["user"]["umask"] = 0o27
c["process"]["oomScoreAdj"] = 500
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" u1
  assert_status 0
  assert_equal "${lines[0]}" 0027
  assert_equal "${lines[1]}" 500
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["oomScoreAdj"] = -900
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" u2
  assert_status 125
  [[ $stderr == *"set oomScoreAdj to -900"* ]] || { _show_run; false; }
}

@test "linux.sysctl sets the container's own sysctls; one of the host's is refused naming it" {
  make_bundle "$TEST_DIR/b" 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start'
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "80"}
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" s1
  assert_status 0
  assert_equal "$output" 80
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["linux"]["sysctl"] = {"kernel.panic": "1"}
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" s2
  assert_status 125
  [[ $stderr == *"sysctl kernel.panic=1: "* ]] || { _show_run; false; }
}

@test "linux.devices: rootless, a host node is bound in; one the host has not is refused saying why" {
  [[ -c /dev/net/tun ]] || skip "this host has no /dev/net/tun to bind"
  make_bundle "$TEST_DIR/b" 'ls -l /dev/net/tun'
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["devices"] = [{"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 438}]
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" d1
  assert_status 0
  [[ $output == c*" 10, "*200* ]] || { _show_run; false; }
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["devices"] = [{"path": "/dev/nsbox-not-on-host", "type": "c", "major": 1, "minor": 3}]
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" d2
  assert_status 125
  [[ $stderr == *"device /dev/nsbox-not-on-host (c 1:3): the host has no such node to bind"* ]] || { _show_run; false; }
}

@test "linux.devices as root: the node is made with its mode and owner" {
  local b=$TEST_DIR/rb c
  mkdir -p "$b/rootfs/bin"
  cp /bin/busybox "$b/rootfs/bin/"
  for c in sh ls; do ln -sf busybox "$b/rootfs/bin/$c"; done
  (cd "$b" && "$NSBOX" oci spec)
  python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"].update(terminal=False, args=["ls", "-ln", "/dev/mynull"])
c["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                          "fileMode": 384, "uid": 7, "gid": 8}]
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr timeout 60 "$NSBOX" oci --root "$TEST_DIR/root-state" run -b "$b" r-dev
  assert_status 0
  [[ $output == "crw-------"*" 7 "*" 8 "*" 1, "*"3 "* ]] || { _show_run; false; }
}

@test "a user namespace given by path is joined: the container's ids are that namespace's" {
  make_bundle "$TEST_DIR/b" 'cat /proc/self/uid_map; id -u'
  as_user_bg "$U/holder.out" unshare -Ur sh -c 'echo ready; exec sleep 60'
  wait_for_output "$U/holder.out" ready 10
  python3 - "$TEST_DIR/b/config.json" "/proc/$BG_PID/ns/user" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "user"]
c["linux"]["namespaces"].append({"type": "user", "path": sys.argv[2]})
c["linux"].pop("uidMappings"); c["linux"].pop("gidMappings")
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" ju1
  assert_status 0
  [[ ${lines[0]} =~ ^\ +0\ +$TEST_UID\ +1$ ]] || { _show_run; false; }
  assert_equal "${lines[1]}" 0
  # Its own mappings besides are a contradiction.
  python3 - "$TEST_DIR/b/config.json" "$TEST_UID" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["uidMappings"] = c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": int(sys.argv[2]), "size": 1}]
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" ju2
  assert_status 125
  [[ $stderr == *"a user namespace joined by path has its own mappings"* ]] || { _show_run; false; }
}

@test "linux.resources where no cgroup v2 is delegated: a warning, and the container runs (engines set limits by default)" {
  make_bundle "$TEST_DIR/b" 'echo ran'
  python3 - "$TEST_DIR/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["linux"]["resources"] = {"pids": {"limit": 100}}
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr oci run -b "$TEST_DIR/b" r1
  assert_status 0
  assert_equal "$output" ran
  [[ $stderr == *"warning: linux.resources not applied: resource limits need a cgroup v2 subtree delegated"* ]] || { _show_run; false; }
}
