#!/usr/bin/env bats
# The contract of `nsbox run` with the host template:
#
#   nsbox run [-w DIR] [-t host] [--name NAME] [AGENT] [-- ARGS...]
#
# The shell agent runs /bin/sh with ARGS appended, as the user's own uid/gid,
# in new user, mount, pid, uts, ipc and net (loopback only) namespaces; the
# host's /usr /etc /bin /sbin /lib* /opt read-only, nothing of its /home /root
# /run /tmp /mnt /media /srv; a private /tmp; a persistent per-workspace home
# at the user's $HOME path; the workspace read-write at its own path as cwd.
# Exit status: the agent's; 128+N for signal N; 127/126 not found/not
# executable; 125 when nsbox fails, with "nsbox: <what>: <why>" on stderr.
#
# Security tests say in a comment which attack they try.

bats_require_minimum_version 1.5.0
load helpers

setup() {
  nsbox_setup
  WS=$(mk_workspace project)
}

teardown() {
  if [[ -n ${SHM_ID-} ]]; then
    ipcrm -m "$SHM_ID" 2>/dev/null || true
  fi
  nsbox_teardown
}

# in_sandbox SCRIPT [ARG...]: /bin/sh -c SCRIPT sh ARG... in $WS's sandbox.
# Pass paths as ARGs ($1, $2, ...) rather than pasting them into SCRIPT.
in_sandbox() {
  local script=$1
  shift
  as_user "$NSBOX" run -w "$WS" shell -- -c "$script" sh "$@"
}

# assert_host_dir_hidden DIR: the sandbox's DIR (if any) is not the host's DIR,
# and no entry of the host's DIR shows through it.  Same device and inode
# means the same object, so this holds even for what the user may not list.
assert_host_dir_hidden() {
  local dir=$1 line id name host_id
  run --separate-stderr in_sandbox '
    [ -e "$1" ] || exit 0
    stat -c "%d:%i %n" "$1"
    for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
      if [ -e "$e" ] || [ -L "$e" ]; then stat -c "%d:%i %n" "$e"; fi
    done' "$dir"
  assert_status 0
  for line in "${lines[@]}"; do
    id=${line%% *}
    name=${line#* }
    host_id=$(stat -c %d:%i -- "$name" 2>/dev/null) || continue
    if [[ $id == "$host_id" ]]; then
      echo "the host's $name is visible inside the sandbox" >&2
      _show_run
      return 1
    fi
  done
}

# wait_exit PID SECONDS: wait for a background child, set $bg_status.
wait_exit() {
  local i state
  for ((i = 0; i < $2 * 20; i++)); do
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || break
    [[ $state == Z ]] && break
    sleep 0.05
  done
  bg_status=0
  if [[ -n $state && $state != Z ]]; then
    echo "pid $1 still running after $2 s" >&2
    return 1
  fi
  wait "$1" || bg_status=$?
}

# --- identity and the workspace -----------------------------------------------

@test "the agent runs as the user's own uid and gid" {
  run --separate-stderr in_sandbox 'id -u; id -g'
  assert_status 0
  assert_equal "${lines[0]}" "$TEST_UID"
  assert_equal "${lines[1]}" "$TEST_GID"
}

@test "files written in the workspace are owned by the user on the host" {
  run --separate-stderr in_sandbox 'echo hello > made-inside && mkdir dir-inside && echo x > dir-inside/file'
  assert_status 0
  assert_equal "$(stat -c %u:%g "$WS/made-inside")" "$TEST_UID:$TEST_GID"
  assert_equal "$(stat -c %u:%g "$WS/dir-inside")" "$TEST_UID:$TEST_GID"
  assert_equal "$(stat -c %u:%g "$WS/dir-inside/file")" "$TEST_UID:$TEST_GID"
  assert_equal "$(cat "$WS/made-inside")" hello
}

@test "the workspace is mounted read-write at its own path and is the working directory" {
  as_user sh -c 'echo from-host > "$1/host-file"' sh "$WS"
  run --separate-stderr in_sandbox 'pwd -P; cat host-file; echo from-inside > "$1/inside-file" && echo wrote' "$WS"
  assert_status 0
  assert_equal "${lines[0]}" "$WS"
  assert_equal "${lines[1]}" from-host
  assert_equal "${lines[2]}" wrote
  assert_equal "$(cat "$WS/inside-file")" from-inside
}

@test "without -w the current directory is the workspace" {
  cd "$WS"
  run --separate-stderr as_user "$NSBOX" run shell -- -c 'pwd -P; echo made > default-ws'
  assert_status 0
  assert_equal "$output" "$WS"
  assert_equal "$(cat "$WS/default-ws")" made
}

@test "without an agent name the shell agent runs with the arguments after --" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -- -c 'echo "default agent: $1"' sh ok
  assert_status 0
  assert_equal "$output" "default agent: ok"
}

@test "a workspace path containing spaces works" {
  local ws
  ws=$(mk_workspace "my project dir")
  run --separate-stderr as_user "$NSBOX" run -w "$ws" shell -- -c 'pwd -P; echo spaced > "file name"'
  assert_status 0
  assert_equal "$output" "$ws"
  assert_equal "$(cat "$ws/file name")" spaced
}

@test "a workspace that does not exist is refused with status 125 and a message naming it" {
  local missing=$TEST_HOME/no-such-dir
  run --separate-stderr as_user "$NSBOX" run -w "$missing" shell -- -c 'echo ran'
  assert_status 125
  refute_output_has ran
  [[ $stderr == "nsbox: "* || $stderr == *$'\nnsbox: '* ]] || { _show_run; false; }
  [[ $stderr == *"$missing"* ]] || { _show_run; false; }
  [[ ! -e $missing ]]
}

@test "the user's home, an ancestor of it, or / is refused as the workspace" {
  # Attack: a workspace that contains HOME would put ~/.ssh, ~/.gnupg and
  # every token in the home read-write inside the sandbox.  Spellings that
  # resolve to HOME (trailing slash, .., a symlink) must not get around it.
  local ws
  as_user sh -c 'mkdir -m 700 "$HOME/.ssh" && echo PRIVATE-KEY-PROBE > "$HOME/.ssh/id_test"'
  ln -s "$TEST_HOME" "$TEST_DIR/link-to-home"
  for ws in "$TEST_HOME" "$TEST_HOME/" "$WS/.." "$TEST_DIR/link-to-home" "$TEST_DIR" /; do
    echo "# -w $ws" >&2
    run --separate-stderr as_user "$NSBOX" run -w "$ws" shell -- -c 'echo ran; cat .ssh/id_test'
    assert_status 125
    refute_output_has ran
    [[ $stderr == *"nsbox: "* ]] || { _show_run; false; }
  done
  echo "# cwd $TEST_HOME, no -w" >&2
  cd "$TEST_HOME"
  run --separate-stderr as_user "$NSBOX" run shell -- -c 'echo ran'
  assert_status 125
  refute_output_has ran
}

# --- the home ---------------------------------------------------------------

@test "the sandbox home is mounted at the user's home path and HOME points to it" {
  run --separate-stderr in_sandbox 'echo "$HOME"; cd && pwd -P; touch "$HOME/writable" && echo home-writable'
  assert_status 0
  assert_equal "${lines[0]}" "$TEST_HOME"
  assert_equal "${lines[1]}" "$TEST_HOME"
  assert_equal "${lines[2]}" home-writable
  # ... and it is not the host's home
  [[ ! -e $TEST_HOME/writable ]]
}

@test "the user's ~/.ssh on the host is not visible inside" {
  # Attack: steal the user's SSH private key, from HOME or by climbing out of
  # the workspace (which sits in HOME) with ..
  as_user sh -c 'mkdir -m 700 "$HOME/.ssh" && echo PRIVATE-KEY-PROBE > "$HOME/.ssh/id_test"'
  run --separate-stderr in_sandbox '
    cat "$HOME/.ssh/id_test" ../.ssh/id_test 2>/dev/null
    ls -A "$HOME"
    echo "home-id $(stat -c %d:%i "$HOME")"'
  assert_status 0
  refute_output_has PRIVATE-KEY-PROBE
  local line
  for line in "${lines[@]}"; do
    [[ $line != .ssh ]] || { _show_run; false; }
  done
  refute_output_has "home-id $(stat -c %d:%i "$TEST_HOME")"
}

@test "the sandbox home persists across runs of the same workspace" {
  run --separate-stderr in_sandbox 'echo persisted > "$HOME/marker"'
  assert_status 0
  run --separate-stderr in_sandbox 'cat "$HOME/marker"'
  assert_status 0
  assert_equal "$output" persisted
}

@test "each workspace has its own sandbox home" {
  local ws_b
  ws_b=$(mk_workspace project-b)
  run --separate-stderr in_sandbox 'echo from-a > "$HOME/marker"'
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$ws_b" shell -- -c 'cat "$HOME/marker" 2>/dev/null || echo no-marker'
  assert_status 0
  assert_equal "$output" no-marker
}

@test "the sandbox home is kept under ~/.local/share/nsbox/sandboxes by default" {
  run --separate-stderr in_sandbox 'echo stored > "$HOME/marker"'
  assert_status 0
  local found=("$TEST_HOME"/.local/share/nsbox/sandboxes/*/home/marker)
  [[ -f ${found[0]} ]] || { echo "no $TEST_HOME/.local/share/nsbox/sandboxes/*/home/marker" >&2; false; }
  assert_equal "$(cat "${found[0]}")" stored
}

@test "the sandbox home is kept under \$XDG_DATA_HOME/nsbox/sandboxes when it is set" {
  local data
  data=$(mk_workspace "$TEST_DIR/xdg-data")
  run --separate-stderr as_user env XDG_DATA_HOME="$data" \
    "$NSBOX" run -w "$WS" shell -- -c 'echo stored > "$HOME/marker"'
  assert_status 0
  local found=("$data"/nsbox/sandboxes/*/home/marker)
  [[ -f ${found[0]} ]] || { echo "no $data/nsbox/sandboxes/*/home/marker" >&2; false; }
  assert_equal "$(cat "${found[0]}")" stored
  [[ ! -e $TEST_HOME/.local/share/nsbox ]]
}

# --- what of the host is hidden --------------------------------------------

@test "other users' homes under /home are not visible" {
  # Attack: read another user's files in /home (often world-readable).
  local other=
  if ((EUID == 0)); then
    other=$(mktemp -d /home/nsbox-it-other.XXXXXX)
    cleanup_later "$other"
    chmod 755 "$other"
    echo OTHER-USER-PROBE >"$other/secret"
    chmod 644 "$other/secret"
  fi
  if [[ -n $other ]]; then
    run --separate-stderr in_sandbox 'cat "$1/secret" 2>/dev/null; ls -A /home 2>/dev/null; true' "$other"
    assert_status 0
    refute_output_has OTHER-USER-PROBE
    refute_output_has "${other##*/}"
  fi
  assert_host_dir_hidden /home
}

@test "root's home /root is not visible" {
  # Attack: read root's files (/root/.ssh, shell history, credentials).
  local probe=
  if ((EUID == 0)); then
    probe=$(mktemp /root/nsbox-it-probe.XXXXXX)
    cleanup_later "$probe"
    echo ROOT-PROBE >"$probe"
    run --separate-stderr in_sandbox 'cat "$1" 2>/dev/null; ls -A /root 2>/dev/null; true' "$probe"
    assert_status 0
    refute_output_has ROOT-PROBE
    refute_output_has "${probe##*/}"
  fi
  # /root is 0700: even mounted it could not be listed, so compare identities.
  assert_host_dir_hidden /root
}

@test "the host's /run is not visible" {
  # Attack: reach host daemons through their sockets in /run (the docker
  # socket is root; the user's /run/user/UID has dbus and the systemd manager).
  assert_host_dir_hidden /run
}

@test "the host's /mnt, /media and /srv are not visible" {
  # Attack: read mounted disks and served data that the workspace did not grant.
  local dir
  for dir in /mnt /media /srv; do
    [[ -e $dir ]] || continue
    assert_host_dir_hidden "$dir"
  done
}

@test "/tmp inside is private in both directions" {
  # Attack: read other programs' files in the host's /tmp, or plant files
  # there for host programs to pick up.
  local probe inner=/tmp/nsbox-it-inner.$$.$RANDOM
  probe=$(mktemp /tmp/nsbox-it-host-probe.XXXXXX)
  cleanup_later "$probe"
  cleanup_later "$inner"
  echo HOST-TMP-PROBE >"$probe"
  chmod 644 "$probe"
  run --separate-stderr in_sandbox 'cat "$1" 2>/dev/null; ls -A /tmp; echo inside > "$2" && echo wrote' "$probe" "$inner"
  assert_status 0
  refute_output_has HOST-TMP-PROBE
  refute_output_has "${probe##*/}"
  assert_output_has wrote
  [[ ! -e $inner ]] || { echo "$inner appeared on the host" >&2; false; }
  assert_host_dir_hidden /tmp
}

# --- the host's system folders are read-only -------------------------------

# The test user could not write these on the host anyway; what the sandbox
# promises is a read-only mount, so the error must be EROFS, not EACCES.

@test "writing to /usr fails (read-only) and nothing lands on the host" {
  # Attack: plant a trojan in the host's /usr.
  local probe=/usr/nsbox-it-probe.$$.$RANDOM
  cleanup_later "$probe"
  run --separate-stderr in_sandbox 'touch "$1"' "$probe"
  [[ $status -ne 0 ]] || { _show_run; false; }
  [[ $stderr == *"Read-only file system"* ]] || { _show_run; false; }
  [[ ! -e $probe ]]
}

@test "writing to /etc fails (read-only) and nothing lands on the host" {
  # Attack: add a profile.d script, a sudoers drop-in, a cron job on the host.
  local probe=/etc/nsbox-it-probe.$$.$RANDOM
  cleanup_later "$probe"
  run --separate-stderr in_sandbox 'touch "$1"' "$probe"
  [[ $status -ne 0 ]] || { _show_run; false; }
  [[ $stderr == *"Read-only file system"* ]] || { _show_run; false; }
  [[ ! -e $probe ]]
}

@test "/bin, /sbin, /lib* and /opt are read-only inside" {
  # Attack: replace a host binary or library (where those are real folders).
  local dir probe
  for dir in /bin /sbin /lib /lib32 /lib64 /libx32 /opt; do
    [[ -d $dir && ! -L $dir ]] || continue
    probe=$dir/nsbox-it-probe.$$.$RANDOM
    cleanup_later "$probe"
    echo "# $dir" >&2
    run --separate-stderr in_sandbox 'touch "$1"' "$probe"
    [[ $status -ne 0 ]] || { _show_run; false; }
    [[ $stderr == *"Read-only file system"* ]] || { _show_run; false; }
    [[ ! -e $probe ]]
  done
}

# --- namespaces ---------------------------------------------------------------

@test "the agent runs in its own user, mount, pid, uts, ipc and net namespaces" {
  run --separate-stderr in_sandbox 'for ns in user mnt pid uts ipc net; do readlink /proc/self/ns/$ns; done'
  assert_status 0
  local i=0 ns
  for ns in user mnt pid uts ipc net; do
    [[ ${lines[i]} == "$ns:["* ]] || { _show_run; false; }
    [[ ${lines[i]} != "$(readlink /proc/self/ns/$ns)" ]] || {
      echo "the sandbox shares the host's $ns namespace" >&2
      _show_run
      false
    }
    i=$((i + 1))
  done
}

@test "host processes are not visible" {
  # Attack: find the user's other processes on the host to read their
  # environment and memory, or signal them.
  as_user_bg "$TEST_DIR/sleep.out" sleep 1000
  local host_sleep=$BG_PID host_init
  host_init=$(cat /proc/1/comm)
  run --separate-stderr in_sandbox '
    ls /proc | grep -c "^[0-9]"
    cat /proc/[0-9]*/comm 2>/dev/null
    echo "pid1 $(cat /proc/1/comm)"
    if kill -0 "$1" 2>/dev/null; then echo can-signal-host-sleep; fi' "$host_sleep"
  assert_status 0
  kill -0 "$host_sleep" # the host process was there all along
  ((lines[0] <= 10)) || { echo "too many processes inside" >&2; _show_run; false; }
  local line
  for line in "${lines[@]:1}"; do
    [[ $line != sleep ]] || { echo "the host's sleep is visible inside" >&2; _show_run; false; }
  done
  refute_output_has "pid1 $host_init"
  refute_output_has "pid1 systemd"
  refute_output_has can-signal-host-sleep
}

@test "PID 1 is nsbox's init and the agent is its child, not PID 1" {
  run --separate-stderr in_sandbox 'echo $$; cut -d" " -f4 /proc/$$/stat; cat /proc/1/comm'
  assert_status 0
  [[ ${lines[0]} != 1 ]] || { echo "the agent is PID 1" >&2; _show_run; false; }
  assert_equal "${lines[1]}" 1
  [[ ${lines[2]} != sh && ${lines[2]} != "$(cat /proc/1/comm)" ]] || { _show_run; false; }
}

@test "orphaned processes are reaped by PID 1" {
  # The subshell exits at once, so sleep is orphaned and reparented to PID 1;
  # when it exits, only PID 1 can reap it.  A PID 1 that never calls wait()
  # leaves it a zombie (state Z), and zombies pile up until the pid space is
  # exhausted.
  run --separate-stderr in_sandbox '
    (sleep 0.5 &)
    orphan= i=0
    while [ -z "$orphan" ] && [ $i -lt 500 ]; do
      for s in /proc/[0-9]*/stat; do
        read -r pid comm state ppid rest 2>/dev/null <"$s" || continue
        [ "$comm" = "(sleep)" ] && orphan=$pid oppid=$ppid
      done
      i=$((i + 1))
    done
    echo "orphan $orphan parent $oppid"
    sleep 1.5
    for s in /proc/[0-9]*/stat; do
      read -r pid comm state rest 2>/dev/null <"$s" && echo "$pid $comm $state"
    done
    true'
  assert_status 0
  [[ ${lines[0]} =~ ^orphan\ ([0-9]+)\ parent\ 1$ ]] || { echo "no orphan reparented to PID 1" >&2; _show_run; false; }
  local orphan=${BASH_REMATCH[1]} line
  for line in "${lines[@]:1}"; do
    [[ $line != "$orphan "* ]] || { echo "the orphan was not reaped" >&2; _show_run; false; }
    [[ $line != *" Z" ]] || { echo "a zombie is left" >&2; _show_run; false; }
  done
}

@test "the hostname inside is the sandbox's name, not the host's" {
  run --separate-stderr as_user "$NSBOX" run --name it-hostname -w "$WS" shell -- -c 'uname -n'
  assert_status 0
  assert_equal "$output" it-hostname
  run --separate-stderr in_sandbox 'uname -n'
  assert_status 0
  [[ -n $output && $output != "$(uname -n)" ]] || { _show_run; false; }
}

@test "host SysV shared memory is not visible" {
  # Attack: read other processes' SysV shared memory segments (X11 MIT-SHM,
  # database buffers) through a shared ipc namespace.
  SHM_ID=$(as_user ipcmk -M 4096 | awk '{print $NF}')
  [[ $SHM_ID =~ ^[0-9]+$ ]]
  awk -v id="$SHM_ID" 'NR > 1 && $2 == id { found = 1 } END { exit !found }' /proc/sysvipc/shm
  run --separate-stderr in_sandbox 'awk "NR > 1 { print \$2 }" /proc/sysvipc/shm'
  assert_status 0
  local line
  for line in "${lines[@]}"; do
    [[ $line != "$SHM_ID" ]] || { echo "the host's segment $SHM_ID is visible" >&2; _show_run; false; }
  done
}

# --- network ------------------------------------------------------------------

@test "the network has only loopback, and loopback is up" {
  command -v python3 >/dev/null || skip "python3 is not installed (sh tests/deps.sh)"
  run --separate-stderr in_sandbox '
    tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "
    python3 -c "
import socket
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen()
c = socket.create_connection(s.getsockname(), timeout=3)
print(\"loopback-works\")"'
  assert_status 0
  assert_equal "${lines[0]}" lo
  assert_equal "${lines[1]}" loopback-works
  assert_equal "${#lines[@]}" 2
}

# A listener on the host's loopback (TCP) and in the abstract unix socket
# namespace, which belongs to the network namespace, not to the file system.
LISTENER='
import socket, sys, time
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen()
u = socket.socket(socket.AF_UNIX); u.bind("\0" + sys.argv[1]); u.listen()
print("port", t.getsockname()[1], flush=True)
time.sleep(300)
'
PROBER='
import socket, sys
def probe(family, addr):
    s = socket.socket(family); s.settimeout(3)
    try:
        s.connect(addr)
        return "reached"
    except OSError as e:
        return "unreachable: %s" % e
print("tcp", probe(socket.AF_INET, ("127.0.0.1", int(sys.argv[1]))))
print("abstract", probe(socket.AF_UNIX, "\0" + sys.argv[2]))
'

@test "services on the host's loopback and abstract unix sockets are not reachable" {
  # Attack: talk to host services bound to 127.0.0.1 (databases, dev servers,
  # a docker API on tcp) or to abstract sockets (X11, dbus, ssh-agent
  # forwarders), which ignore the mount namespace.
  command -v python3 >/dev/null || skip "python3 is not installed (sh tests/deps.sh)"
  local name=nsbox-it-$$-$RANDOM port
  as_user_bg "$TEST_DIR/listener.out" python3 -c "$LISTENER" "$name"
  wait_for_output "$TEST_DIR/listener.out" '^port ' 10
  port=$(awk '/^port /{print $2}' "$TEST_DIR/listener.out")
  # The probe does reach them from the host ...
  run --separate-stderr as_user python3 -c "$PROBER" "$port" "$name"
  assert_equal "$output" $'tcp reached\nabstract reached'
  # ... and not from the sandbox.
  run --separate-stderr in_sandbox 'python3 -c "$1" "$2" "$3"' "$PROBER" "$port" "$name"
  assert_status 0
  [[ ${lines[0]} == "tcp unreachable"* ]] || { _show_run; false; }
  [[ ${lines[1]} == "abstract unreachable"* ]] || { _show_run; false; }
}

# --- exit status ----------------------------------------------------------------

@test "nsbox exits with the agent's exit status" {
  run in_sandbox 'exit 0'
  assert_status 0
  run in_sandbox 'exit 7'
  assert_status 7
  run in_sandbox 'exit 255'
  assert_status 255
}

@test "an agent killed by a signal gives 128 + the signal: SIGTERM 143, SIGKILL 137" {
  run in_sandbox 'kill -TERM $$'
  assert_status 143
  run in_sandbox 'kill -KILL $$'
  assert_status 137
}

@test "a command that is not found gives status 127" {
  run -127 --separate-stderr in_sandbox 'nsbox-no-such-command'
  assert_status 127
}

@test "a file that is not executable gives status 126" {
  as_user sh -c 'printf "#!/bin/sh\necho ran\n" > "$1/not-exec" && chmod 644 "$1/not-exec"' sh "$WS"
  run --separate-stderr in_sandbox './not-exec'
  assert_status 126
  refute_output_has ran
}

@test "an unknown agent or template is refused with status 125" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" nsbox-no-such-agent -- -c 'echo ran'
  assert_status 125
  refute_output_has ran
  [[ $stderr == *"nsbox: "* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t nsbox-no-such-template shell -- -c 'echo ran'
  assert_status 125
  refute_output_has ran
  [[ $stderr == *"nsbox: "* ]] || { _show_run; false; }
}

# --- stdio, signals, terminal ---------------------------------------------------

@test "stdin passes through when it is not a terminal" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c cat <<<hi
  assert_status 0
  assert_equal "$output" hi
  seq 1 200000 >"$TEST_DIR/input"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" shell -- -c 'wc -l' <"$TEST_DIR/input"
  assert_status 0
  assert_equal "$output" 200000
}

@test "stdout and stderr of the agent pass through separately" {
  run --separate-stderr in_sandbox 'echo to-out; echo to-err >&2'
  assert_status 0
  assert_equal "$output" to-out
  [[ $stderr == *to-err* ]] || { _show_run; false; }
}

@test "SIGTERM sent to nsbox run on the host reaches the agent" {
  local out=$TEST_DIR/term.out
  as_user_bg "$out" "$NSBOX" run -w "$WS" shell -- -c \
    'trap "echo got-term; exit 3" TERM; echo ready; sleep 10 & wait'
  wait_for_output "$out" ready 10
  kill -TERM "$BG_PID"
  wait_exit "$BG_PID" 5
  grep -q got-term "$out" || { echo "the agent did not get SIGTERM; output:" >&2; cat "$out" >&2; false; }
  assert_equal "$bg_status" 3
}

@test "on a terminal the agent gets its own pty and the terminal settings come back" {
  command -v script >/dev/null || skip "script(1) (util-linux/bsdutils) is not installed"
  # script(1) gives the command a pty as its terminal; stty -g before and
  # after nsbox shows whether nsbox restored what it set to raw mode.
  # script's stdin stays open: at EOF it types the EOF character into the
  # pty, which would race with the test's output.
  mkfifo "$TEST_DIR/tty-in"
  sleep 60 >"$TEST_DIR/tty-in" &
  echo "$!" >>"$TEST_DIR/.bg-pids"
  run as_user env NSBOX="$NSBOX" WS="$WS" script -qec \
    'stty -g; "$NSBOX" run -w "$WS" shell -- -c "tty; test -t 0 && test -t 1 && echo is-a-tty"; stty -g' \
    /dev/null <"$TEST_DIR/tty-in"
  assert_status 0
  output=${output//$'\r'/}
  local -a l
  mapfile -t l <<<"$output"
  [[ $output =~ (^|$'\n')/dev/pts/[0-9]+($'\n'|$) ]] || { _show_run; false; }
  assert_output_has is-a-tty
  assert_equal "${l[-1]}" "${l[0]}"
}

@test "on a terminal Ctrl-C reaches the agent and the window size is the user's" {
  local ws
  ws=$(mk_workspace proj)
  cd "$ws"
  run as_user python3 "$BATS_TEST_DIRNAME/pty-drive.py" 33 111 ready '\x03' \
    "$NSBOX" run shell -- -c 'stty size; echo ready; sleep 20; echo not-interrupted'
  assert_status 130
  assert_output_has "33 111"
  refute_output_has not-interrupted
}

@test "a workspace deleted and made again is noticed, and its sandbox keeps its home" {
  local ws
  ws=$(mk_workspace proj)
  cd "$ws"
  run as_user "$NSBOX" run shell -- -c 'echo kept > ~/marker'
  assert_status 0
  cd /
  rm -rf "$ws"
  ws=$(mk_workspace proj)
  cd "$ws"
  run as_user "$NSBOX" run shell -- -c 'cat ~/marker'
  assert_status 0
  assert_output_has "was deleted and made again"
  assert_output_has kept
  # Noticed once: the record now holds the new folder.
  run as_user "$NSBOX" run shell -- -c true
  refute_output_has "made again"
}

@test "the kernel's sensitive /proc files are masked and /proc/sys is read-only" {
  # Attack: read kernel memory, keyrings or timers through /proc and /sys, or
  # retune the kernel through /proc/sys.  Only what this kernel has is checked.
  local p files=() dirs=() ro=()
  for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats; do
    [[ -e $p ]] && files+=("$p")
  done
  for p in /proc/acpi /proc/asound /proc/scsi /sys/firmware; do
    [[ -d $p ]] && dirs+=("$p")
  done
  for p in /proc/sys /proc/bus /proc/fs /proc/irq /proc/sysrq-trigger; do
    [[ -e $p ]] && ro+=("$p")
  done
  ((${#files[@]} && ${#dirs[@]} && ${#ro[@]})) || skip "this kernel has none of the masked paths"
  run --separate-stderr in_sandbox '
    for f in '"${files[*]}"'; do stat -c "%n %F %t:%T" "$f"; done
    for d in '"${dirs[*]}"'; do printf "%s [%s]\n" "$d" "$(ls -A "$d")"; done
    for r in '"${ro[*]}"'; do
      awk -v m="$r" "\$5 == m { split(\$6, o, \",\"); print m, o[1] }" /proc/self/mountinfo
    done'
  assert_status 0
  for p in "${files[@]}"; do assert_output_has "$p character special file 1:3"; done
  for p in "${dirs[@]}"; do assert_output_has "$p []"; done
  for p in "${ro[@]}"; do assert_output_has "$p ro"; done
}

@test "the agent has no capabilities and no_new_privs, so set-uid programs gain nothing" {
  # Attack: a capability left in the bounding set, or a set-uid binary of
  # the host (su, passwd) lifting the agent above the user.
  run --separate-stderr in_sandbox '
    grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status
    for b in /usr/bin/passwd /bin/su /usr/bin/su; do
      [ -u "$b" ] && { "$b" --help >/dev/null 2>&1 & wait; }
    done
    id -u'
  assert_status 0
  local cap
  for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
    assert_output_has "$cap:	0000000000000000"
  done
  assert_output_has "NoNewPrivs:	1"
  assert_output_has "$TEST_UID"
}

@test "limits asked where no cgroup v2 subtree is delegated are refused with 125, saying why and how to delegate" {
  local ws
  ws=$(mk_workspace proj)
  run --separate-stderr as_user "$NSBOX" run -w "$ws" --memory 64m shell -- -c 'echo started'
  assert_status 125
  [[ $output != *started* ]] || { _show_run; false; }
  [[ $stderr == *"resource limits need a cgroup v2 subtree delegated to this user, and there is none"* ]] || { _show_run; false; }
  [[ $stderr == *"Delegate="* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$ws" --memory lots shell -- -c true
  assert_status 125
  [[ $stderr == *"--memory lots: expects a size"* ]] || { _show_run; false; }
  run --separate-stderr as_user "$NSBOX" run -w "$ws" --cpus 0 shell -- -c true
  assert_status 125
}
