# Shared by every integration test:  load helpers
#
# nsbox is only ever run as the unprivileged test user, through as_user.  The
# bats process itself may be root (tests/check.sh as root) or the test user
# (check.sh as anyone else); tests must work either way.
#
# Provided
#   $NSBOX                 the nsbox binary (a copy any user can execute, with
#                          nsbox-images.so beside it)
#   $TEST_USER, $TEST_UID, $TEST_GID
#   $TEST_USER_HAS_SUBIDS  1 if the user has /etc/subuid and /etc/subgid ranges
#   $TEST_DIR              this test's own directory (mode 755), removed afterwards
#   $TEST_HOME             the test user's HOME for this test: $TEST_DIR/home,
#                          owned by the user, mode 700, empty
#   as_user CMD...         run CMD as the test user in a clean environment:
#                          HOME=$TEST_HOME USER LOGNAME PATH=/usr/local/bin:/usr/bin:/bin
#                          LANG=C, nothing else (no XDG_*, no TERM).  Exit
#                          status, stdin, stdout and stderr pass through, so
#                          `run as_user "$NSBOX" run ...` sets $status/$output.
#                          More variables:  as_user env XDG_DATA_HOME=... CMD
#                          Killed after $NSBOX_TEST_CMD_TIMEOUT s (default 60).
#   as_user_bg OUT CMD...  the same in the background, stdout+stderr to OUT;
#                          $BG_PID is CMD's own pid (no wrapper in between), so
#                          `kill -TERM "$BG_PID"` signals it and `wait "$BG_PID"`
#                          gives its status.  Killed at teardown if still running.
#   mk_workspace NAME      create $TEST_HOME/NAME (or NAME if absolute) owned by
#                          the user and print its path
#   cleanup_later PATH     remove PATH (made outside $TEST_DIR) at teardown
#   sandbox_sh [OPTS...] -- SCRIPT
#                          run sh -c SCRIPT as the agent in $WS's sandbox
#                          (bats run: sets $status, $output, $stderr)
#   stop_user_sandboxes    stop every sandbox of the test user (a teardown's
#                          first step where tests leave detached ones)
#   wait_for_output FILE TEXT SECONDS
#                          wait until FILE holds TEXT; fail showing FILE after
#                          SECONDS
#   assert_status N, assert_equal ACTUAL EXPECTED, assert_output_has STR,
#   refute_output_has STR  checks that print what they got when they fail
#
# setup() and teardown() below make the per-test dirs; a file that needs its
# own must call nsbox_setup first in setup() and nsbox_teardown in teardown().
#
# Stdin of every test is /dev/null: nothing may depend on the terminal the
# suite was started from.  The cwd is $TEST_DIR, which nsbox must refuse as a
# workspace (an ancestor of HOME): pass -w, or cd into a workspace first.

: "${NSBOX:?NSBOX is not set: run the suite through tests/check.sh or bats tests/integration (setup_suite.bash sets it)}"
: "${TEST_USER:?TEST_USER is not set: run the suite through tests/check.sh or bats tests/integration}"
: "${TEST_USER_HAS_SUBIDS:?TEST_USER_HAS_SUBIDS is not set}"
TEST_UID=$(id -u "$TEST_USER")
TEST_GID=$(id -g "$TEST_USER")
NSBOX_TEST_CMD_TIMEOUT=${NSBOX_TEST_CMD_TIMEOUT:-60}

nsbox_setup() {
  exec </dev/null
  TEST_DIR=$(mktemp -d "${NSBOX_TEST_TMPDIR:-/tmp}/nsbox-it.XXXXXX")
  chmod 755 "$TEST_DIR"
  TEST_HOME=$TEST_DIR/home
  mkdir -m 700 "$TEST_HOME"
  chown "$TEST_UID:$TEST_GID" "$TEST_HOME"
  cd "$TEST_DIR" || return 1
}

nsbox_teardown() {
  [[ -n ${TEST_DIR-} && -d $TEST_DIR ]] || return 0
  cd / || true
  local pid path
  if [[ -f $TEST_DIR/.bg-pids ]]; then
    while read -r pid; do
      kill -TERM "$pid" 2>/dev/null || continue
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done <"$TEST_DIR/.bg-pids"
  fi
  if [[ -f $TEST_DIR/.cleanup ]]; then
    while IFS= read -r path; do
      rm -rf -- "$path" || true
    done <"$TEST_DIR/.cleanup"
  fi
  if ! rm -rf -- "$TEST_DIR" 2>/dev/null && ((EUID != 0)); then
    # Files a sandbox left with subordinate owners: only a user namespace
    # with those ids mapped may delete them.
    unshare --map-auto --map-root-user rm -rf -- "$TEST_DIR" 2>/dev/null || true
  fi
  if [[ -e $TEST_DIR ]]; then
    echo "# teardown: could not remove $TEST_DIR" >&3
  fi
  return 0
}

setup() { nsbox_setup; }
teardown() { nsbox_teardown; }

# sandbox_sh [NSBOX-RUN-OPTIONS...] -- SCRIPT: sh -c SCRIPT as the agent in
# $WS's sandbox (shell agent), through bats' run: $status, $output, $stderr.
sandbox_sh() {
  local opts=()
  while [[ $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  shift
  run --separate-stderr as_user "$NSBOX" run -w "$WS" "${opts[@]}" shell -- -c "$1"
}

# live_procs NAME: the pids of the test user's live processes called NAME
# (an exited one may wait a moment as a zombie for the host's init to reap
# it, and is not counted).
live_procs() {
  local p
  for p in $(pgrep -u "$TEST_UID" -x "$1"); do
    [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) == [RSD] ]] && echo "$p"
  done
  return 0
}

# Detached sandboxes outlive the commands that made them: a teardown ends
# the test user's with this, before nsbox_teardown.
stop_user_sandboxes() {
  local n
  for n in $(as_user "$NSBOX" ls -q 2>/dev/null); do
    as_user "$NSBOX" stop -t 0 "$n" >/dev/null 2>&1 || true
  done
}

# as_user's parts.  doctor.bats exports as_user with these (export -f) to call
# it from a child bash: keep their names, or change both files together.
_as_user_env() {
  _user_env=(HOME="$TEST_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER"
    PATH=/usr/local/bin:/usr/bin:/bin LANG=C)
  # tests/cgroup/uml-init.sh gives the user a runtime dir of its own.
  [[ -z ${NSBOX_TEST_RUNTIME_DIR-} ]] || _user_env+=(XDG_RUNTIME_DIR="$NSBOX_TEST_RUNTIME_DIR")
}

_as_user_prefix() {
  if ((EUID == TEST_UID)); then
    _user_prefix=()
  else
    _user_prefix=(setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups --)
  fi
}

as_user() {
  if [[ -z ${TEST_HOME-} ]]; then
    echo "as_user: no per-test HOME; call nsbox_setup from setup()" >&2
    return 99
  fi
  local _user_env _user_prefix rc=0
  _as_user_env
  _as_user_prefix
  "${_user_prefix[@]}" env -i "${_user_env[@]}" \
    timeout -k 10 "$NSBOX_TEST_CMD_TIMEOUT" "$@" || rc=$?
  if ((rc == 124)); then
    echo "as_user: '$*' timed out after ${NSBOX_TEST_CMD_TIMEOUT}s" >&2
  fi
  return "$rc"
}

as_user_bg() {
  local out=$1 _user_env _user_prefix
  shift
  _as_user_env
  _as_user_prefix
  # A simple command with & is forked and exec'd directly: setpriv and env
  # exec in turn, so $! is the command itself.
  "${_user_prefix[@]}" env -i "${_user_env[@]}" "$@" >"$out" 2>&1 </dev/null &
  BG_PID=$!
  echo "$BG_PID" >>"$TEST_DIR/.bg-pids"
}

mk_workspace() {
  local path=$1 p
  [[ $path == /* ]] || path=$TEST_HOME/$path
  mkdir -p -- "$path"
  # Own every component this test created (not $TEST_DIR itself).
  p=$path
  while [[ $p == "$TEST_DIR"/* ]]; do
    chown "$TEST_UID:$TEST_GID" -- "$p"
    p=${p%/*}
  done
  printf '%s\n' "$path"
}

cleanup_later() {
  printf '%s\n' "$1" >>"$TEST_DIR/.cleanup"
}

# --- checks that say what they got ---------------------------------------------

_show_run() {
  {
    echo "status: $status"
    echo "output:"
    printf '%s\n' "$output" | sed 's/^/  | /'
    if [[ -n ${stderr+x} ]]; then
      echo "stderr:"
      printf '%s\n' "$stderr" | sed 's/^/  | /'
    fi
  } >&2
}

assert_status() {
  if [[ $status != "$1" ]]; then
    echo "expected exit status $1" >&2
    _show_run
    return 1
  fi
}

assert_equal() {
  if [[ $1 != "$2" ]]; then
    printf 'expected: %q\n     got: %q\n' "$2" "$1" >&2
    return 1
  fi
}

assert_output_has() {
  if [[ $output != *"$1"* ]]; then
    echo "expected the output to contain: $1" >&2
    _show_run
    return 1
  fi
}

refute_output_has() {
  if [[ $output == *"$1"* ]]; then
    echo "expected the output not to contain: $1" >&2
    _show_run
    return 1
  fi
}

# wait_for_output FILE TEXT SECONDS
wait_for_output() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "no '$2' in $1 after $3 s; it holds:" >&2
  cat "$1" >&2
  return 1
}
