#!/usr/bin/env bats
# The escape suite: each test is an attack an agent could try from inside its
# sandbox, run as the agent with tests/security/probe.c (raw system calls, so
# that no libc wrapper decides for the kernel), asserting the precise
# failure.  What it proves is ../shared/DESIGN.md's contract: the seccomp
# profile (profiles/seccomp/default.json), init that cannot be ptraced or
# robbed, no descriptor of nsbox's caller inside, no terminal injection.
# Filesystem, process and network isolation attacks are in
# tests/integration/run.bats.

bats_require_minimum_version 1.5.0
load ../integration/helpers
load ../integration/registry

setup() {
  nsbox_setup
  PROBE=${NSBOX%/*}/probe
  [[ -x $PROBE ]] || {
    echo "no probe beside $NSBOX (make build/tests/probe; run through tests/check.sh)" >&2
    return 1
  }
  WS=$(mk_workspace ws)
  cp "$PROBE" "$WS/probe"
  chown "$TEST_UID:$TEST_GID" "$WS/probe"
}

teardown() {
  nsbox_teardown
}

# expect_probe WANT ARGS...: ./probe ARGS... prints WANT inside the sandbox.
expect_probe() {
  local want=$1
  shift
  sandbox_sh -- "./probe $*"
  assert_status 0
  [[ $output == "$want" ]] || {
    echo "probe $*: expected '$want', got '$output' (stderr: $stderr)" >&2
    return 1
  }
}

# --- system calls the default profile denies (EPERM) ---------------------------

@test "the kernel keyrings cannot be reached: keyctl, add_key, request_key fail with EPERM" {
  # Keys are not namespaced: a key the user keeps (an ssh or kerberos
  # secret) would be one keyctl away.
  expect_probe EPERM syscall keyctl
  expect_probe EPERM syscall add_key
  expect_probe EPERM syscall request_key
}

@test "eBPF programs cannot be loaded: bpf fails with EPERM" {
  expect_probe EPERM syscall bpf
}

@test "perf events cannot be opened: perf_event_open fails with EPERM" {
  expect_probe EPERM syscall perf_event_open
}

@test "userfaultfd, a tool of kernel exploits, fails with EPERM" {
  expect_probe EPERM syscall userfaultfd
}

@test "a new kernel cannot be loaded: kexec_load and kexec_file_load fail with EPERM" {
  expect_probe EPERM syscall kexec_load
  expect_probe EPERM syscall kexec_file_load
}

@test "kernel modules cannot be loaded or removed: init_module, finit_module, delete_module fail with EPERM" {
  expect_probe EPERM syscall init_module
  expect_probe EPERM syscall finit_module
  expect_probe EPERM syscall delete_module
}

@test "files cannot be opened by handle, around the mount tree: open_by_handle_at and name_to_handle_at fail with EPERM" {
  # The shocker attack (Docker 2014): a handle names a host file directly.
  expect_probe EPERM syscall open_by_handle_at
  expect_probe EPERM syscall name_to_handle_at
}

@test "swap, reboot and process accounting are refused with EPERM" {
  expect_probe EPERM syscall swapon
  expect_probe EPERM syscall swapoff
  expect_probe EPERM syscall reboot
  expect_probe EPERM syscall acct
}

@test "I/O ports cannot be opened: iopl and ioperm fail with EPERM" {
  expect_probe EPERM syscall iopl
  expect_probe EPERM syscall ioperm
}

@test "io_uring, which runs calls the filter never sees, fails with EPERM" {
  expect_probe EPERM syscall io_uring_setup
}

@test "nothing can be mounted or unmounted: mount, umount2, pivot_root, chroot fail with EPERM" {
  expect_probe EPERM syscall mount
  expect_probe EPERM syscall umount2
  expect_probe EPERM syscall pivot_root
  expect_probe EPERM syscall chroot
}

@test "the new mount API is refused too: fsopen, fsmount, open_tree, move_mount, mount_setattr fail with EPERM" {
  expect_probe EPERM syscall fsopen
  expect_probe EPERM syscall fsmount
  expect_probe EPERM syscall open_tree
  expect_probe EPERM syscall move_mount
  expect_probe EPERM syscall mount_setattr
}

@test "no nested namespace by unshare or setns (EPERM); unsharing plain process state still works" {
  # A nested user namespace hands the agent every capability inside it, and
  # the kernel's whole namespaced attack surface.
  expect_probe EPERM syscall unshare-user
  expect_probe EPERM syscall unshare-mount
  expect_probe EPERM syscall unshare-net
  expect_probe EPERM syscall setns
  expect_probe ok syscall unshare-files
}

@test "no nested user namespace by clone (EPERM); clone3 says ENOSYS so libc falls back to clone" {
  expect_probe EPERM syscall clone-newuser
  expect_probe ENOSYS syscall clone3
}

@test "unshare(1) cannot make a nested user namespace" {
  sandbox_sh -- 'unshare -Ur true'
  [[ $status -ne 0 && $stderr == *"Operation not permitted"* ]] || { _show_run; false; }
}

@test "vsock, which ignores network namespaces, is refused, also with high bits set in the family" {
  # With the network off, AF_VSOCK could still reach the host's services.
  expect_probe EPERM syscall socket-vsock
  expect_probe EPERM syscall socket-vsock-high-bits
  expect_probe ok syscall socket-unix
}

@test "personality cannot turn on READ_IMPLIES_EXEC; asking for the current one works" {
  expect_probe ENOSYS syscall personality-read-implies-exec
  expect_probe ok syscall personality-query
}

# Skip (saying so) where the kernel has no i386 ABI at all (IA32 emulation
# off, as ia32_emulation=0 or some VM kernels have it): there int 0x80
# faults (SIGSEGV) on the host too, before any filter sees it.
need_int80() {
  local rc=0
  as_user "$PROBE" int80 >/dev/null 2>&1 || rc=$?
  ((rc != 139)) || skip "this kernel has no i386 system call ABI: int 0x80 faults outside any sandbox too"
}

@test "the i386 system call ABI (int 0x80) is refused with EPERM" {
  # A 32-bit call has other numbers: a filter written for x86_64 alone
  # would let it through unexamined.
  need_int80
  expect_probe EPERM int80
}

@test "the x32 system call ABI is refused with EPERM" {
  expect_probe EPERM x32
}

@test "a system call the profile does not name fails with ENOSYS, so programs fall back" {
  expect_probe ENOSYS syscall unknown-syscall
  expect_probe ok syscall getpid
}

# --- nsbox's init --------------------------------------------------------------

@test "the agent cannot ptrace the sandbox's init" {
  # Init runs nsbox's code and knows the host's ids; traced, it could be
  # made to do anything nsbox can.
  expect_probe EPERM ptrace 1
}

@test "the agent cannot take a descriptor from init with pidfd_getfd" {
  expect_probe EPERM getfd 1 0
}

@test "nsbox's binary cannot be reopened for writing through /proc/1/exe" {
  # CVE-2019-5736: /proc/1/exe is nsbox's binary on the host; written, it
  # would run the agent's code outside the next time the user runs nsbox.
  local sum
  sum=$(sha256sum "$NSBOX" | cut -d' ' -f1)
  sandbox_sh -- './probe open-write /proc/1/exe; ls -l /proc/1/exe 2>&1; cat /proc/1/environ 2>&1 | head -c 20'
  assert_status 0
  [[ ${lines[0]} == EACCES || ${lines[0]} == EPERM ]] || { _show_run; false; }
  [[ $output == *"Permission denied"* ]] || { _show_run; false; }
  assert_equal "$(sha256sum "$NSBOX" | cut -d' ' -f1)" "$sum"
}

@test "init's root and cwd cannot be followed out through /proc/1/root" {
  sandbox_sh -- 'ls /proc/1/root/ 2>&1; ls /proc/1/cwd/ 2>&1'
  [[ $output == *"Permission denied"* && $output != *"probe"* ]] || { _show_run; false; }
}

# --- what the agent inherits ------------------------------------------------------

@test "no descriptor of nsbox's caller leaks into the sandbox" {
  # The shell that starts nsbox has a secret file open on fd 10 (and 7):
  # the agent must not be able to read it through an inherited descriptor.
  echo "secret of the caller" >"$TEST_DIR/secret"
  chmod 600 "$TEST_DIR/secret"
  chown "$TEST_UID:$TEST_GID" "$TEST_DIR/secret"
  run --separate-stderr as_user bash -c 'exec 10<"$1" 7<"$1"; cd "$2" && exec "$3" run shell -- -c "./probe fds"' \
    bash "$TEST_DIR/secret" "$WS" "$NSBOX"
  assert_status 0
  assert_equal "$output" none
}

@test "with only stdin on the user's terminal, the agent cannot push keystrokes into it (TIOCSTI)" {
  # bubblewrap's CVE-2017-5226: an injected "rm -rf ~\n" would run in the
  # user's shell after the sandbox exits.  Stdout is a pipe here, so nsbox
  # gives no pty of its own; the agent's own session keeps it out.
  run --separate-stderr as_user python3 -c '
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.run(sys.argv[1:], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.set_blocking(master, False)
try:
    pushed = os.read(master, 100)
except BlockingIOError:
    pushed = b""
sys.stdout.write(p.stdout.decode() + "pushed:" + repr(pushed) + "\n")
sys.exit(p.returncode)
' "$NSBOX" run -w "$WS" shell -- -c './probe tiocsti'
  assert_status 0
  [[ ${lines[0]} == EPERM || ${lines[0]} == EIO ]] || { _show_run; false; }
  [[ $output == *"pushed:b''"* ]] || { _show_run; false; }
}

# --- the profile itself -------------------------------------------------------------

@test "--security-opt seccomp=unconfined turns the filter off, with a warning" {
  # The proof that the filter is what refuses: without it, keyctl runs.
  sandbox_sh --security-opt seccomp=unconfined -- './probe syscall keyctl; grep ^Seccomp: /proc/self/status'
  assert_status 0
  [[ $stderr == *"warning: seccomp is off"* ]] || { _show_run; false; }
  [[ ${lines[0]} != EPERM && $output == *"Seccomp:"*0* ]] || { _show_run; false; }
  sandbox_sh -- 'grep ^Seccomp: /proc/self/status'
  [[ $output == *"Seccomp:"*2* ]] || { _show_run; false; }
}

@test "a user's profile is used: what it denies fails with its errno" {
  cat >"$TEST_DIR/profile.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
EOF
  chmod 644 "$TEST_DIR/profile.json"
  sandbox_sh --security-opt "seccomp=$TEST_DIR/profile.json" -- './probe syscall getpid; ./probe syscall keyctl'
  assert_status 0
  assert_equal "${lines[0]}" EACCES
  [[ ${lines[1]} != EPERM ]] || { _show_run; false; }
}

@test "a malformed profile is refused with 125 naming the entry: an unknown action, operator or architecture" {
  local bad
  for bad in '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_MAYBE"}]}|syscalls[0]: unknown action '"'"'SCMP_ACT_MAYBE'"'"'' \
    '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}|syscalls[0]: args[0]: unknown operator' \
    '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}|architectures[0]: unknown architecture' \
    '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "argz": []}]}|syscalls[0]: unknown key '"'"'argz'"'"'' \
    '[1, 2]|not a JSON object'; do
    printf '%s\n' "${bad%%|*}" >"$TEST_DIR/bad.json"
    chmod 644 "$TEST_DIR/bad.json"
    sandbox_sh --security-opt "seccomp=$TEST_DIR/bad.json" -- 'echo ran'
    assert_status 125
    [[ $output != *ran* && $stderr == "nsbox: "*"${bad#*|}"* ]] || { _show_run; false; }
  done
}

@test "a syscall name libseccomp does not know is a warning, and the rest of the profile holds" {
  cat >"$TEST_DIR/profile.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["no_such_call_nsbox", "getpid"], "action": "SCMP_ACT_ERRNO"}]}
EOF
  chmod 644 "$TEST_DIR/profile.json"
  sandbox_sh --security-opt "seccomp=$TEST_DIR/profile.json" -- './probe syscall getpid'
  assert_status 0
  assert_equal "$output" EPERM
  [[ $stderr == *"warning: seccomp: syscalls[0]: syscall 'no_such_call_nsbox' is unknown"* ]] || { _show_run; false; }
}

@test "the default profile is built in: a start needs neither libseccomp nor the compiler plugin" {
  # nsbox itself does not link libseccomp; with the plugin made unloadable
  # the default profile still applies.
  run ldd "$NSBOX"
  [[ $output != *libseccomp* ]] || { _show_run; false; }
  run --separate-stderr as_user env NSBOX_SECCOMP_LIB=/nonexistent/nsbox-seccomp.so \
    "$NSBOX" run -w "$WS" shell -- -c './probe syscall bpf'
  assert_status 0
  assert_equal "$output" EPERM
}

@test "a user's profile is compiled once: later starts take it from the cache" {
  cat >"$TEST_DIR/profile.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
EOF
  chmod 644 "$TEST_DIR/profile.json"
  sandbox_sh --security-opt "seccomp=$TEST_DIR/profile.json" -- './probe syscall getpid'
  assert_equal "$output" EACCES
  [[ -n $(find "$TEST_HOME/.cache/nsbox/seccomp" -name '*.bpf' 2>/dev/null) ]] || { echo "no cache file" >&2; false; }
  run --separate-stderr as_user env NSBOX_SECCOMP_LIB=/nonexistent/nsbox-seccomp.so \
    "$NSBOX" run -w "$WS" --security-opt "seccomp=$TEST_DIR/profile.json" shell -- -c './probe syscall getpid'
  assert_status 0
  assert_equal "$output" EACCES
  # A changed profile is not taken for the cached one: it needs the plugin.
  sed -i 's/13/14/' "$TEST_DIR/profile.json"
  run --separate-stderr as_user env NSBOX_SECCOMP_LIB=/nonexistent/nsbox-seccomp.so \
    "$NSBOX" run -w "$WS" --security-opt "seccomp=$TEST_DIR/profile.json" shell -- -c './probe syscall getpid'
  assert_status 125
  [[ $stderr == *"nsbox-seccomp.so"* ]] || { _show_run; false; }
}

@test "a cache file planted under the profile's name with another profile's text is not used" {
  # The cache key only names the file; its own copy of the profile decides.
  cat >"$TEST_DIR/profile.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
EOF
  chmod 644 "$TEST_DIR/profile.json"
  sandbox_sh --security-opt "seccomp=$TEST_DIR/profile.json" -- './probe syscall getpid'
  local f
  f=$(find "$TEST_HOME/.cache/nsbox/seccomp" -name '*.bpf' | head -1)
  # Same length, one byte of the recorded profile changed.
  as_user sed -i 's/"errnoRet":13/"errnoRet":12/' "$f"
  sandbox_sh --security-opt "seccomp=$TEST_DIR/profile.json" -- './probe syscall getpid'
  assert_status 0
  assert_equal "$output" EACCES
}

# --- nesting (the CI-runner case) ------------------------------------------------------

# nsbox_in_ws: a copy of nsbox (and its seccomp plugin) in the workspace,
# where the sandbox sees it.
nsbox_in_ws() {
  cp "$NSBOX" "$WS/nsbox"
  [[ ! -f ${NSBOX%/*}/nsbox-seccomp.so ]] || cp "${NSBOX%/*}/nsbox-seccomp.so" "$WS/"
  chown "$TEST_UID:$TEST_GID" "$WS/nsbox"
}

@test "without --allow-nested nsbox cannot start a sandbox inside a sandbox, and says what to do" {
  nsbox_in_ws
  sandbox_sh -- './nsbox run shell -- -c "echo inner"'
  [[ $status -ne 0 && $output != *inner* ]] || { _show_run; false; }
  [[ $stderr == *"start it with --allow-nested"* ]] || { _show_run; false; }
}

@test "with --allow-nested nsbox runs inside nsbox, the inner sandbox filtered again, and /proc falls back with a notice" {
  nsbox_in_ws
  sandbox_sh --allow-nested -- './nsbox run shell -- -c "echo inner \$(id -u); grep ^Seccomp_filters: /proc/self/status"'
  assert_status 0
  assert_equal "${lines[0]}" "inner $TEST_UID"
  # The outer's filter and the inner's, stacked.
  [[ ${lines[1]} == *2 ]] || { _show_run; false; }
  [[ $stderr == *"a fresh /proc cannot be mounted here"* ]] || { _show_run; false; }
}

@test "with --allow-nested the agent may make a user namespace, and the rest of the filter holds" {
  sandbox_sh --allow-nested -- 'unshare -Ur id -u; ./probe syscall keyctl; ./probe syscall bpf; ./probe syscall kexec_load'
  assert_status 0
  assert_equal "$output" "0"$'\n'"EPERM"$'\n'"EPERM"$'\n'"EPERM"
}

@test "a profile's allow_nested does what --allow-nested does" {
  as_user mkdir -p "$TEST_HOME/.config/nsbox/agents"
  as_user sh -c 'printf "%s\n" "{\"command\": [\"/bin/sh\"], \"allow_nested\": true}" >"$1"' sh \
    "$TEST_HOME/.config/nsbox/agents/nester.json"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" nester -- -c 'unshare -Ur id -u'
  assert_status 0
  assert_equal "$output" 0
}

# --- the sandbox's init socket -------------------------------------------------

@test "the agent cannot get namespaces from any sandbox's init, nor signal every process through it, even with its own user namespace as credential" {
  # The user's runtime dir as the workspace puts the init.sock of this
  # sandbox and of another one of the user's in the agent's reach.  Neither
  # init may answer it: not its own (the agent is inside its pid namespace)
  # and not the other's (it is outside that one's, as nsbox is) -- requests
  # must carry the user namespace nsbox runs in, which the agent cannot get.
  local run=/tmp/nsbox-$TEST_UID other
  mkdir -p -m 700 "$run" && chown "$TEST_UID:$TEST_GID" "$run"
  other=$(mk_workspace other)
  run --separate-stderr as_user "$NSBOX" run -d -w "$other" shell -- -c 'sleep 120'
  assert_status 0
  WS=$run
  sandbox_sh -- 'python3 - <<"EOF"
import fcntl, glob, os, socket, struct
own = os.open("/proc/self/ns/user", os.O_RDONLY)
try:
    cred = fcntl.ioctl(own, 0xB702)  # NS_GET_PARENT: the user namespace of nsbox
    print("got the parent user namespace")
except OSError as e:
    print("NS_GET_PARENT", e.errno)
    cred = own
tried = answered = 0
for path in glob.glob("'"$run"'/*/init.sock"):
    for req, arg in ((6, 0), (8, 9), (7, 0)):  # namespaces; SIGKILL all; start
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(path)
        except OSError:
            break  # a stale socket: no init behind it
        s.settimeout(5)
        try:
            s.sendmsg([struct.pack("ii", req, arg) + b"\0"],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", cred))])
            data, anc, flags, addr = s.recvmsg(4096, socket.CMSG_LEN(8 * 4))
        except (BrokenPipeError, ConnectionResetError):  # refused unread
            data, anc = b"", []
        if data or anc:
            answered += 1
            print("answered", path, req, len(data), len(anc))
        tried += 1
print("tried", tried, "answered", answered)
EOF'
  as_user "$NSBOX" stop -t 0 other-shell >/dev/null 2>&1 || true
  assert_status 0
  assert_output_has "NS_GET_PARENT 1"
  refute_output_has "answered /"
  # Both inits were tried: this sandbox's and the other one's.
  [[ $output =~ tried\ ([0-9]+)\ answered\ 0 ]] && ((BASH_REMATCH[1] >= 6)) || { _show_run; false; }
}

@test "a sandbox handed a sibling sandbox's namespaces cannot enter them, even with the filter off" {
  # Two sandboxes of one user on an image, as root inside (under the
  # id-mapping holder when the user has subordinate ids).  Each has a user
  # namespace of its own, so root in one has no capability over the other's
  # namespaces, however it gets hold of them: here the other sandbox hands
  # them over a socket in a directory both bind.  The filter refuses setns
  # anyway, and root's default capabilities lack CAP_SYS_ADMIN, which setns
  # needs: the filter is off and the capability added, so what is tested is
  # the user namespaces' part alone.
  local shared other
  FIXTURES=$(fixtures_dir)
  run --separate-stderr as_user "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
  shared=$(mk_workspace shared)
  other=$(mk_workspace other)
  cp "$PROBE" "$shared/probe"
  chown "$TEST_UID:$TEST_GID" "$shared/probe"
  run --separate-stderr as_user "$NSBOX" run -d -w "$other" -t localhost/oci:latest \
    --security-opt seccomp=unconfined -v "$shared:$shared" shell -- -c "$shared/probe send-ns $shared/sock"
  assert_status 0
  sandbox_sh -t localhost/oci:latest --security-opt seccomp=unconfined --cap-add SYS_ADMIN -v "$shared:$shared" -- \
    "id -u; ./probe setns /proc/self/ns/net; ./probe setns /proc/self/ns/uts; ./probe setns-from $shared/sock"
  as_user "$NSBOX" stop -t 0 other-shell >/dev/null 2>&1 || true
  assert_status 0
  assert_equal "${lines[0]}" 0
  # Its own namespaces it may enter: neither the filter nor a missing
  # capability is what refuses the other's.
  assert_equal "${lines[1]}" ok
  assert_equal "${lines[2]}" ok
  assert_equal "$(printf '%s\n' "${lines[@]:3}")" \
    "$(printf '%s EPERM\n' user mnt pid net uts ipc cgroup)"
}

# --- bind sources swapped while nsbox sets up ----------------------------------

@test "a workspace whose path is swapped for a symlink while nsbox sets up is not mounted from elsewhere" {
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] ||
    skip "needs newuidmap (run only with subordinate ids) as the moment to swap the path, between nsbox's check and its mount"
  FIXTURES=$(fixtures_dir)
  run --separate-stderr as_user "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
  # $base/flip holds the workspace; evil/ws is the secret.  newuidmap --
  # found in the user's PATH, run after nsbox checked the workspace and
  # before it mounts it -- swaps flip for a symlink to evil first.
  local base=$TEST_HOME/race
  mkdir -p "$base/flip/ws" "$base/evil/ws" "$base/bin"
  echo workspace >"$base/flip/ws/what"
  echo SECRET >"$base/evil/ws/what"
  cat >"$base/bin/newuidmap" <<EOF2
#!/bin/sh
[ -L "$base/flip" ] || { mv "$base/flip" "$base/flip.real" && ln -s evil "$base/flip"; }
exec /usr/bin/newuidmap "\$@"
EOF2
  chmod 755 "$base/bin/newuidmap"
  # A runtime dir of its own: no id-mapping holder yet, so this start runs
  # newuidmap (for the holder, see nsbox-run(1)) after the check.
  mkdir -m 700 "$base/rt"
  chown -R "$TEST_UID:$TEST_GID" "$base"
  run --separate-stderr as_user env PATH="$base/bin:/usr/bin:/bin" XDG_RUNTIME_DIR="$base/rt" \
    "$NSBOX" run -w "$base/flip/ws" -t localhost/oci:latest shell -- -c 'echo "$PWD $(cat what)"'
  [[ -L $base/flip ]] || { echo "the swap did not happen: the test shows nothing" >&2; false; }
  [[ $output != *SECRET* ]] || { echo "the sandbox was given the swapped-in folder: $output" >&2; false; }
  assert_status 125
  [[ $stderr == *"bind $base/flip/ws on $base/flip/ws: it changed while nsbox set the sandbox up"* ]] || { _show_run; false; }
}

@test "an extra workspace whose path is swapped for a symlink while nsbox sets up is not mounted from elsewhere" {
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] ||
    skip "needs newuidmap (run only with subordinate ids) as the moment to swap the path, between nsbox's check and its mount"
  FIXTURES=$(fixtures_dir)
  run --separate-stderr as_user "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
  # As above, for `nsbox run AGENT PATH`: flip/docs is checked, evil/docs
  # (the secret) is swapped in before the mount.
  local base=$TEST_HOME/race ws=$TEST_HOME/proj
  mkdir -p "$base/flip/docs" "$base/evil/docs" "$base/bin" "$ws"
  echo docs >"$base/flip/docs/what"
  echo SECRET >"$base/evil/docs/what"
  cat >"$base/bin/newuidmap" <<EOF2
#!/bin/sh
[ -L "$base/flip" ] || { mv "$base/flip" "$base/flip.real" && ln -s evil "$base/flip"; }
exec /usr/bin/newuidmap "\$@"
EOF2
  chmod 755 "$base/bin/newuidmap"
  # A runtime dir of its own: no id-mapping holder yet, so this start runs
  # newuidmap (for the holder, see nsbox-run(1)) after the check.
  mkdir -m 700 "$base/rt"
  chown -R "$TEST_UID:$TEST_GID" "$base" "$ws"
  run --separate-stderr as_user env PATH="$base/bin:/usr/bin:/bin" XDG_RUNTIME_DIR="$base/rt" \
    "$NSBOX" run -w "$ws" -t localhost/oci:latest shell "$base/flip/docs:ro" -- -c "cat $base/flip/docs/what"
  [[ -L $base/flip ]] || { echo "the swap did not happen: the test shows nothing" >&2; false; }
  [[ $output != *SECRET* ]] || { echo "the sandbox was given the swapped-in folder: $output" >&2; false; }
  assert_status 125
  [[ $stderr == *"bind $base/flip/docs on $base/flip/docs: it changed while nsbox set the sandbox up"* ]] || { _show_run; false; }
}

@test "--preserve-fds hands on only the descriptors it names: 3 is the agent's, 10 is not" {
  echo "passed on" >"$TEST_DIR/given"
  echo "secret of the caller" >"$TEST_DIR/secret"
  chmod 600 "$TEST_DIR/given" "$TEST_DIR/secret"
  chown "$TEST_UID:$TEST_GID" "$TEST_DIR/given" "$TEST_DIR/secret"
  run --separate-stderr as_user bash -c 'exec 3<"$1" 10<"$2"; cd "$3" && exec "$4" run --preserve-fds 1 shell -- -c "cat <&3; cat <&10"' \
    bash "$TEST_DIR/given" "$TEST_DIR/secret" "$WS" "$NSBOX"
  assert_equal "${lines[0]}" "passed on"
  [[ $output != *"secret of the caller"* ]] || { echo "fd 10 reached the agent" >&2; false; }
  [[ $stderr == *"Bad fd number"* || $stderr == *"Bad file descriptor"* ]] || { _show_run; false; }
  # A count that reaches a descriptor that is not open is refused.
  run --separate-stderr as_user bash -c 'exec 3<&-; cd "$1" && exec "$2" run --preserve-fds 1 shell -- -c true' bash "$WS" "$NSBOX"
  assert_status 125
  [[ $stderr == *"--preserve-fds 1: descriptor 3 is not open"* ]] || { _show_run; false; }
}

# --- the agent's state volume ---------------------------------------------------

# state_profile NAME TEMPLATE STATE-JSON-ARRAY: the user's agent profile NAME.
state_profile() {
  as_user mkdir -p "$TEST_HOME/.config/nsbox/agents"
  as_user sh -c 'printf "%s\n" "$2" >"$1"' sh "$TEST_HOME/.config/nsbox/agents/$1.json" \
    "{\"command\": [\"/bin/sh\"], \"template\": \"$2\", \"state\": $3}"
}

@test "a symlink the agent leaves in its state volume is not followed by the next run: nothing is made or mounted in the user's ~/.ssh" {
  # The agent has ~/.keeper (its volume) read-write; the profile also keeps
  # ~/.keeper/inner/deep, which the next run makes and mounts from the
  # volume.  The agent swaps inner for a symlink to the user's ~/.ssh on the
  # host.  (The mount itself would also be refused at its destination,
  # inside ~/.keeper: what this proves is that nothing is followed before.)
  state_profile keeper host '["~/.keeper", "~/.keeper/inner/deep"]'
  as_user mkdir -m 700 "$TEST_HOME/.ssh"
  as_user sh -c 'echo PRIVATE KEY >"$1/.ssh/id_ed25519"' sh "$TEST_HOME"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'echo ok >~/.keeper/inner/mine'
  assert_status 0
  local vol=$TEST_HOME/.local/share/nsbox/volumes/keeper-data/.keeper
  [[ -d $vol/inner/deep ]] || { echo "no $vol/inner/deep: the test shows nothing" >&2; false; }
  # What the agent does (from outside here: inside, deep is a mount point).
  as_user sh -c 'rm -r "$1/inner" && ln -s "$2/.ssh" "$1/inner"' sh "$vol" "$TEST_HOME"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'cat ~/.keeper/inner/id_ed25519'
  [[ $output != *"PRIVATE KEY"* ]] || { echo "the user's ~/.ssh was mounted: $output" >&2; false; }
  assert_status 125
  # Nothing was made in the user's ~/.ssh.
  assert_equal "$(ls -A "$TEST_HOME/.ssh")" id_ed25519
  [[ $stderr == *"agent keeper: state ~/.keeper/inner/deep: volume $TEST_HOME/.local/share/nsbox/volumes/keeper-data: open .keeper/inner/deep: Too many levels of symbolic links"* ]] || { _show_run; false; }
  [[ $stderr == *"hint: a symlink or a file is where the agent's state folder should be (inner): not followed"* ]] || { _show_run; false; }
}

@test "a state volume whose path is swapped for a symlink while nsbox sets up is not mounted from elsewhere" {
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] ||
    skip "needs newuidmap (run only with subordinate ids) as the moment to swap the path, between nsbox's check and its mount"
  FIXTURES=$(fixtures_dir)
  run --separate-stderr as_user "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
  state_profile keeper localhost/oci:latest '["~/.keeper"]'
  local vols=$TEST_HOME/.local/share/nsbox/volumes base=$TEST_HOME/race
  # A first run makes the volume; evil holds what the swap points to.
  run --separate-stderr as_user "$NSBOX" run -w "$WS" keeper -- -c 'echo mine >~/.keeper/what'
  assert_status 0
  mkdir -p "$base/bin" "$base/evil/.keeper"
  echo SECRET >"$base/evil/.keeper/what"
  cat >"$base/bin/newuidmap" <<EOF2
#!/bin/sh
[ -L "$vols/keeper-data" ] || { mv "$vols/keeper-data" "$vols/keeper-data.real" && ln -s "$base/evil" "$vols/keeper-data"; }
exec /usr/bin/newuidmap "\$@"
EOF2
  chmod 755 "$base/bin/newuidmap"
  # A runtime dir of its own: no id-mapping holder yet, so this start runs
  # newuidmap (for the holder, see nsbox-run(1)) after the check.
  mkdir -m 700 "$base/rt"
  chown -R "$TEST_UID:$TEST_GID" "$base"
  run --separate-stderr as_user env PATH="$base/bin:/usr/bin:/bin" XDG_RUNTIME_DIR="$base/rt" \
    "$NSBOX" run -w "$WS" keeper -- -c 'cat ~/.keeper/what'
  [[ -L $vols/keeper-data ]] || { echo "the swap did not happen: the test shows nothing" >&2; false; }
  [[ $output != *SECRET* ]] || { echo "the sandbox was given the swapped-in folder: $output" >&2; false; }
  assert_status 125
  [[ $stderr == *"bind $vols/keeper-data/.keeper on /root/.keeper: it changed while nsbox set the sandbox up"* ]] || { _show_run; false; }
}

# --- host processes, file systems, devices, network -------------------------------

@test "a host process cannot be signalled, ptraced or entered by its pid: ESRCH, ESRCH, no /proc entry" {
  # A process of the user's own on the host: same uid, so only the pid
  # namespace stands between the agent and it.
  as_user_bg "$TEST_DIR/victim.out" sleep 60
  local pid=$BG_PID
  kill -0 "$pid"
  sandbox_sh -- "./probe kill $pid; ./probe ptrace $pid; ls /proc/$pid/root/ 2>&1 | head -n 1"
  assert_status 0
  assert_equal "${lines[0]}" ESRCH
  assert_equal "${lines[1]}" ESRCH
  [[ ${lines[2]} == *"/proc/$pid/root/"*"No such file or directory" ]] || { _show_run; false; }
  kill -0 "$pid"
}

@test "proc, sysfs and a tmpfs cannot be mounted, with real arguments: EPERM" {
  sandbox_sh -- 'mkdir -p /tmp/m; ./probe mount-fs proc /tmp/m; ./probe mount-fs sysfs /tmp/m; ./probe mount-fs tmpfs /tmp/m'
  assert_status 0
  assert_equal "$output" $'EPERM\nEPERM\nEPERM'
}

@test "device nodes beyond the minimal set are absent: no disk, /dev/mem, kvm, vsock or fuse" {
  # Each file is stat'ed: find's -type reads the directory's entry, which
  # for a bind-mounted node is the placeholder file's type.
  sandbox_sh -- 'for f in $(find /dev ! -type d ! -type l); do { [ -c "$f" ] || [ -b "$f" ]; } && echo "$f"; done | sort; for d in sda vda mem kmem port kvm vsock fuse net/tun; do [ -e /dev/$d ] && echo "present /dev/$d"; done; true'
  assert_status 0
  assert_equal "$output" "$(printf '%s\n' /dev/full /dev/null /dev/pts/ptmx /dev/random /dev/tty /dev/urandom /dev/zero)"
}

@test "with the network none there is no route out: a connection to an outside address fails with ENETUNREACH" {
  # 192.0.2.1 (TEST-NET-1): no namespace serves it; outside a sandbox it
  # would leave through the host's gateway.
  sandbox_sh -- './probe connect 192.0.2.1 80; ./probe connect 10.0.2.2 53'
  assert_status 0
  assert_equal "$output" $'ENETUNREACH\nENETUNREACH'
}

@test "a setuid-root binary of the host gains nothing in the host template: it runs with the agent's ids" {
  ((EUID == 0)) || skip "needs root to put a setuid-root binary in a host folder the host template shows (/opt)"
  local dir
  dir=$(mktemp -d /opt/nsbox-suid.XXXXXX)
  cleanup_later "$dir"
  chmod 755 "$dir"
  cp "$PROBE" "$dir/probe"
  chown root:root "$dir/probe"
  chmod 4755 "$dir/probe"
  # Outside, it would run as root: the test shows something.
  run setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --clear-groups "$dir/probe" ids
  assert_equal "$output" "$TEST_UID 0"
  sandbox_sh -- "$dir/probe ids; grep NoNewPrivs /proc/self/status"
  assert_status 0
  assert_equal "${lines[0]}" "$TEST_UID $TEST_UID"
  [[ ${lines[1]} == "NoNewPrivs:"*1 ]] || { _show_run; false; }
}

# --- symlinks and '..' in the workspace and in -v sources -------------------------

@test "a symlink and '..' in the workspace lead to the sandbox's files, not the host's" {
  # The user's home on the host holds a secret beside the workspace.
  as_user sh -c 'echo SECRET >"$1/secret"; mkdir -p "$1/.ssh"; echo KEY >"$1/.ssh/id"' sh "$TEST_HOME"
  as_user ln -s "$TEST_HOME/.ssh/id" "$WS/key"
  as_user ln -s ../secret "$WS/up"
  sandbox_sh -- "cat key 2>&1; cat up 2>&1; cat ../secret 2>&1; cat $WS/../../home/secret 2>&1; true"
  assert_status 0
  [[ $output != *SECRET* && $output != *KEY* ]] || { _show_run; false; }
  assert_equal "${#lines[@]}" 4
  for l in "${lines[@]}"; do
    [[ $l == *"No such file or directory" ]] || { _show_run; false; }
  done
}

@test "a -v source whose path is swapped for a symlink while nsbox sets up is not mounted from elsewhere" {
  [[ $TEST_USER_HAS_SUBIDS == 1 ]] ||
    skip "needs newuidmap (run only with subordinate ids) as the moment to swap the path, between nsbox's check and its mount"
  FIXTURES=$(fixtures_dir)
  run --separate-stderr as_user "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
  local base=$TEST_HOME/vrace
  mkdir -p "$base/flip/data" "$base/evil/data" "$base/bin"
  echo mine >"$base/flip/data/what"
  echo SECRET >"$base/evil/data/what"
  cat >"$base/bin/newuidmap" <<EOF2
#!/bin/sh
[ -L "$base/flip" ] || { mv "$base/flip" "$base/flip.real" && ln -s evil "$base/flip"; }
exec /usr/bin/newuidmap "\$@"
EOF2
  chmod 755 "$base/bin/newuidmap"
  # A runtime dir of its own: no id-mapping holder yet, so this start runs
  # newuidmap (for the holder, see nsbox-run(1)) after the check.
  mkdir -m 700 "$base/rt"
  chown -R "$TEST_UID:$TEST_GID" "$base"
  run --separate-stderr as_user env PATH="$base/bin:/usr/bin:/bin" XDG_RUNTIME_DIR="$base/rt" \
    "$NSBOX" run -w "$WS" -v "$base/flip/data:/data" -t localhost/oci:latest shell -- -c 'cat /data/what'
  [[ -L $base/flip ]] || { echo "the swap did not happen: the test shows nothing" >&2; false; }
  [[ $output != *SECRET* ]] || { echo "the sandbox was given the swapped-in folder: $output" >&2; false; }
  assert_status 125
  [[ $stderr == *"bind $base/flip/data on /data: it changed while nsbox set the sandbox up"* ]] || { _show_run; false; }
}

# --- the working directory (the CVE-2024-21626 class) -----------------------------

@test "a working directory through a descriptor the caller left open (/proc/self/fd/7) is refused, not followed out of the root" {
  # runc's CVE-2024-21626: process.cwd /proc/self/fd/N, N a directory fd
  # the runtime holds, puts the process in the host's tree.  Here the
  # caller (an engine) has fd 7 open on a host folder with a secret.
  local b=$TEST_DIR/b c
  mkdir -p "$b/rootfs/bin" "$TEST_DIR/hostdir"
  echo HOSTSECRET >"$TEST_DIR/hostdir/s"
  cp /bin/busybox "$b/rootfs/bin/"
  for c in sh cat; do ln -sf busybox "$b/rootfs/bin/$c"; done
  chown -R "$TEST_UID:$TEST_GID" "$b" "$TEST_DIR/hostdir"
  (cd "$b" && as_user "$NSBOX" oci spec --rootless)
  python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"].update(terminal=False, args=["sh", "-c", "cat s"], cwd="/proc/self/fd/7")
json.dump(c, open(sys.argv[1], "w"))
PY
  run --separate-stderr as_user bash -c 'exec 7<"$1"; exec "$2" oci --root "$3" run -b "$4" cwd1' \
    bash "$TEST_DIR/hostdir" "$NSBOX" "$TEST_HOME/oci-root" "$b"
  [[ $output != *HOSTSECRET* ]] || { echo "the process ran in the host's folder: $output" >&2; false; }
  assert_status 125
  [[ $stderr == *"chdir to /proc/self/fd/7: Too many levels of symbolic links"* ]] || { _show_run; false; }
  [[ $stderr == *"hint: a /proc magic link (such as /proc/self/fd/N) is not followed to the working directory"* ]] || { _show_run; false; }
}

@test "nsbox exec -w through a descriptor the caller left open is refused too" {
  echo HOSTSECRET >"$TEST_DIR/s"
  chown "$TEST_UID:$TEST_GID" "$TEST_DIR/s"
  run --separate-stderr as_user "$NSBOX" run -d -w "$WS" shell -- -c 'sleep 60'
  assert_status 0
  run --separate-stderr as_user bash -c 'exec 7<"$1"; exec "$2" exec -w /proc/self/fd/7 ws-shell cat s' \
    bash "$TEST_DIR" "$NSBOX"
  as_user "$NSBOX" stop -t 1 ws-shell >/dev/null 2>&1 || true
  [[ $output != *HOSTSECRET* ]] || { echo "the process ran in the host's folder: $output" >&2; false; }
  assert_status 125
  [[ $stderr == *"chdir to /proc/self/fd/7: Too many levels of symbolic links"* ]] || { _show_run; false; }
}

# --- as root in the sandbox ---------------------------------------------------------

@test "root in an image sandbox, with its capabilities, is refused as the agent is: modules, mounts, keyrings, bpf, nested namespaces, init, /proc/sys" {
  FIXTURES=$(fixtures_dir)
  run --separate-stderr as_user "$NSBOX" load -i "$FIXTURES/oci"
  assert_status 0
  # The image has no user: its processes run as root (uid 0) inside.
  sandbox_sh -t localhost/oci:latest -- 'id -u; grep ^CapEff /proc/self/status;
    for c in finit_module delete_module keyctl bpf unshare-user; do ./probe syscall $c; done
    mkdir -p /tmp/m; ./probe mount-fs proc /tmp/m; ./probe ptrace 1; ./probe open-write /proc/1/exe
    echo x 2>&1 >/proc/sys/kernel/hostname; true'
  assert_status 0
  assert_equal "${lines[0]}" 0
  # Root there has capabilities (the Docker-like set), which is the point.
  [[ ${lines[1]} != *"0000000000000000" ]] || { _show_run; false; }
  assert_equal "$(printf '%s\n' "${lines[@]:2:8}")" "$(printf '%s\n' EPERM EPERM EPERM EPERM EPERM EPERM EPERM EACCES)"
  [[ ${lines[10]} == *"Read-only file system"* ]] || { _show_run; false; }
}

# --- nsbox exec's process before it execs -----------------------------------------

@test "the process nsbox exec starts cannot be robbed before it execs: its exe hidden, not writable, no fd taken" {
  ((EUID == 0)) || skip "needs root: strace holds the process at its execve, inside the sandbox, for the agent to find"
  command -v strace >/dev/null || skip "needs strace (to hold the process at its execve)"
  # Until its execve, the process runs nsbox's binary inside the sandbox's
  # pid namespace (CVE-2019-5736's moment); strace delays that execve
  # so the agent's watcher surely finds it.  The binary is the user's own
  # (~/bin/nsbox, as a user's build is), so only the kernel's checks stand
  # between the agent and it.
  local bin=$TEST_HOME/bin
  mkdir -p "$bin"
  cp "$NSBOX" "$bin/nsbox"
  chown -R "$TEST_UID:$TEST_GID" "$bin"
  cat >"$WS/watch.sh" <<'EOF2'
end=$(( $(date +%s) + 20 ))
while [ $(date +%s) -lt $end ]; do
  for p in /proc/[0-9]*; do
    [ "$(cat $p/comm 2>/dev/null)" = nsbox ] || continue
    echo "seen $(readlink $p/exe >/dev/null 2>&1 && echo exe-readable || echo exe-hidden) $(./probe open-write $p/exe) $(./probe getfd ${p#/proc/} 0)" >found
    exit 0
  done
done
echo none >found
EOF2
  chown "$TEST_UID:$TEST_GID" "$WS/watch.sh"
  run --separate-stderr as_user "$bin/nsbox" run -d -w "$WS" shell -- -c 'sh watch.sh; sleep 30'
  assert_status 0
  sleep 0.5
  run timeout 40 strace -f -qq -o /dev/null -e trace=execve -e inject=execve:delay_enter=1500000 \
    setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups -- /usr/bin/env -i HOME="$TEST_HOME" \
    PATH=/usr/bin:/bin "$bin/nsbox" exec ws-shell true
  for _ in $(seq 50); do [[ -s $WS/found ]] && break; sleep 0.1; done
  as_user "$bin/nsbox" stop -t 1 ws-shell >/dev/null 2>&1 || true
  # Dumpable, it read "seen exe-readable ETXTBSY ok": fd 0 taken.
  assert_equal "$(cat "$WS/found")" "seen exe-hidden EACCES EPERM"
}
