#!/bin/sh
# Run nsbox's tests: the cmocka unit binaries, then the bats integration suite,
# and end with one line:  check: N passed, N failed, N skipped
#
#   sh tests/check.sh [OPTIONS] [UNIT_BINARY...] [FILE.bats|DIR...]
#
#   --unit-only         run only the unit binaries (make unit)
#   --integration-only  run only the bats suite
#   --user USER         as root: run the suite only as USER (nsbox-test or
#                       nsbox-test-sub) instead of as both
#   --filter REGEX      only bats tests whose name matches (bats --filter)
#   --setup-users       as root: create the test users, fix their subordinate
#                       ids, and exit
#
# Bats files or directories given as arguments replace the default
# tests/integration, e.g. to run one file:
#   sh tests/check.sh --integration-only tests/integration/run.bats
#
# nsbox is only ever run as an unprivileged user.  As root, this script creates
# two users -- nsbox-test (no subordinate ids) and nsbox-test-sub (a range in
# /etc/subuid and /etc/subgid) -- and runs the suite once as each; the bats
# process stays root so tests can plant probes where the user cannot (/root,
# another /home) and clean up whatever a sandbox leaves.  As any other user,
# the suite runs once, as that user.
#
# Counting comes from the TAP the runners print: "ok", "not ok", and either
# with a "# SKIP" directive.  A runner that crashes counts as failed: tests it
# planned but never reported, or one failure if it exited non-zero without
# reporting any.
set -u

REPO=$(cd "$(dirname "$0")/.." && pwd)
USER_NOSUB=nsbox-test
USER_SUB=nsbox-test-sub
SUBID_COUNT=65536

unit=1
integration=1
only_user=
filter=
setup_users_only=0
unit_bins=
bats_targets=

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --unit-only) integration=0 ;;
    --integration-only) unit=0 ;;
    --user)
      [ $# -ge 2 ] || { echo "check: --user needs a user name" >&2; exit 2; }
      only_user=$2
      shift
      ;;
    --filter)
      [ $# -ge 2 ] || { echo "check: --filter needs a regex" >&2; exit 2; }
      filter=$2
      shift
      ;;
    --setup-users) setup_users_only=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "check: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *.bats) bats_targets="$bats_targets$1
" ;;
    *)
      if [ -d "$1" ]; then
        bats_targets="$bats_targets$1
"
      else
        unit_bins="$unit_bins$1
"
      fi
      ;;
  esac
  shift
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nsbox-check.XXXXXX") || exit 2
BIN_DIR=
cleanup() {
  rm -rf "$TMP"
  [ -z "$BIN_DIR" ] || rm -rf "$BIN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
skipped=0
nlog=0

say() { printf 'check: %s\n' "$*"; }

# copy_beside DIR FILE...: copy each FILE of the repo that exists into DIR,
# readable (and, if it was, executable) by everyone.
copy_beside() {
  dir=$1
  shift
  for f in "$@"; do
    [ -f "$REPO/$f" ] || continue
    cp "$REPO/$f" "$dir/" && chmod a+rX "$dir/${f##*/}" || return 1
  done
}

# tally NAME LOG STATUS: add the TAP results in LOG to the totals.
tally() {
  # shellcheck disable=SC2046 # four numbers from awk
  set -- "$1" "$2" "$3" $(awk '
    /^1\.\.[0-9]+/ { n = $0; sub(/^1\.\./, "", n); sub(/[^0-9].*$/, "", n); plan += n; seen_plan = 1; next }
    /^(not )?ok([ \t]|$)/ {
      if ($0 ~ /[ \t]#[ \t]*[Ss][Kk][Ii][Pp]/) skip++
      else if ($0 ~ /^not ok/ && $0 ~ /[ \t]#[ \t]*[Tt][Oo][Dd][Oo]/) skip++
      else if ($0 ~ /^not ok/) fail++
      else pass++
    }
    END { printf "%d %d %d %d\n", pass, fail, skip, seen_plan ? plan : -1 }
  ' "$2")
  name=$1 status=$3 p=$4 f=$5 s=$6 plan=$7
  reported=$((p + f + s))
  if [ "$plan" -lt 0 ] && [ "$reported" -eq 0 ]; then
    say "$name printed no TAP (exit status $status); counting it as 1 failure"
    f=$((f + 1))
  elif [ "$plan" -gt "$reported" ]; then
    say "$name planned $plan tests but reported $reported (exit status $status); counting $((plan - reported)) missing as failed"
    f=$((f + plan - reported))
  fi
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    say "$name exited with status $status without reporting a failure; counting it as 1 failure"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
}

# run_tap NAME CMD...: run CMD showing its output, keep a copy, tally it.
run_tap() {
  name=$1
  shift
  nlog=$((nlog + 1))
  log=$TMP/$nlog.tap
  rcfile=$TMP/$nlog.rc
  { "$@"; echo $? >"$rcfile"; } 2>&1 | tee "$log"
  status=$(cat "$rcfile" 2>/dev/null) || status=255
  tally "$name" "$log" "${status:-255}"
}

# --- unit -------------------------------------------------------------------

run_units() {
  # UBSan reports and carries on unless told to stop; a report must fail the test.
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  export UBSAN_OPTIONS
  printf '%s' "$unit_bins" | while IFS= read -r bin; do
    [ -n "$bin" ] && printf '%s\n' "$bin"
  done >"$TMP/units"
  while IFS= read -r bin; do
    echo "# unit: $bin"
    if [ ! -x "$bin" ]; then
      say "$bin: not an executable unit test binary; counting it as 1 failure"
      failed=$((failed + 1))
      continue
    fi
    run_tap "$bin" env CMOCKA_MESSAGE_OUTPUT=TAP "$bin"
  done <"$TMP/units"
}

# --- users (root) -----------------------------------------------------------

# has_subids USER: 1 if USER has a range in both /etc/subuid and /etc/subgid.
has_subids() {
  uid=$(id -u "$1") || return 1
  if grep -Eq "^($1|$uid):" /etc/subuid 2>/dev/null &&
    grep -Eq "^($1|$uid):" /etc/subgid 2>/dev/null; then
    echo 1
  else
    echo 0
  fi
}

ensure_user() {
  getent passwd "$1" >/dev/null && return 0
  # SUB_*_COUNT=0: no automatic subordinate range; ranges are decided below.
  useradd -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -U -m -s /bin/sh \
    -c "nsbox integration tests" "$1" ||
    { echo "check: useradd $1 failed" >&2; return 1; }
  say "created user $1 (uid $(id -u "$1"))"
}

drop_subids() {
  uid=$(id -u "$1")
  for f in /etc/subuid /etc/subgid; do
    [ -f "$f" ] || continue
    if grep -Eq "^($1|$uid):" "$f"; then
      sed -i -E "/^($1|$uid):/d" "$f"
      say "removed $1's range from $f"
    fi
  done
}

# free_subid_start: the first start >= 200000 (in steps of the count) whose
# range overlaps no range of /etc/subuid nor /etc/subgid.
free_subid_start() {
  cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: -v count="$SUBID_COUNT" '
    NF >= 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ { n++; lo[n] = $2 + 0; hi[n] = $2 + $3 }
    END {
      for (start = 200000; start + count <= 4294967295; start += count) {
        ok = 1
        for (i = 1; i <= n; i++)
          if (start < hi[i] && lo[i] < start + count) { ok = 0; break }
        if (ok) { print start; exit }
      }
      exit 1
    }'
}

give_subids() {
  uid=$(id -u "$1")
  start=
  for f in /etc/subuid /etc/subgid; do
    [ -f "$f" ] || : >"$f"
    grep -Eq "^($1|$uid):" "$f" && continue
    # One start free in both files, so uids and gids get the same range.
    [ -n "$start" ] || start=$(free_subid_start) ||
      { echo "check: no free subordinate id range for $1" >&2; return 1; }
    printf '%s:%s:%s\n' "$1" "$start" "$SUBID_COUNT" >>"$f"
    say "gave $1 the range $start:$SUBID_COUNT in $f"
  done
}

setup_users() {
  # Two check.sh runs at once must not both pick the same free range.
  lock=/run/lock/nsbox-check-users.lock
  [ -d /run/lock ] && [ -w /run/lock ] || lock=/tmp/nsbox-check-users.lock
  exec 9>"$lock"
  flock 9
  ensure_user "$USER_NOSUB" && drop_subids "$USER_NOSUB" &&
    ensure_user "$USER_SUB" && give_subids "$USER_SUB"
  ret=$?
  exec 9>&-
  if ! [ -u /usr/bin/newuidmap ] && ! getcap /usr/bin/newuidmap 2>/dev/null | grep -q cap_setuid; then
    say "warning: /usr/bin/newuidmap missing or not privileged (package uidmap); $USER_SUB cannot use its subordinate ids"
  fi
  return $ret
}

# --- integration ------------------------------------------------------------

run_suite_as() { # USER HAS_SUBIDS
  if ! command -v bats >/dev/null; then
    say "bats is not installed (sh tests/deps.sh); counting the integration suite as 1 failure"
    failed=$((failed + 1))
    return
  fi
  if [ "$2" -eq 1 ]; then
    echo "# integration as $1 (with subordinate ids)"
  else
    echo "# integration as $1 (no subordinate ids)"
  fi
  printf '%s' "${bats_targets:-$REPO/tests/integration
$REPO/tests/security
}" >"$TMP/targets"
  set --  "$1" "$2"
  while IFS= read -r t; do
    [ -n "$t" ] && set -- "$@" "$t"
  done <"$TMP/targets"
  user=$1 subids=$2
  shift 2
  [ -z "$filter" ] || set -- --filter "$filter" "$@"
  # No stdin: a test must not depend on the terminal check.sh was started from.
  run_tap "bats as $user" env TEST_USER="$user" TEST_USER_HAS_SUBIDS="$subids" \
    NSBOX="$NSBOX" BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-120}" \
    bats --tap "$@" </dev/null
}

# The cgroup v2 suite needs a pure cgroup v2 kernel and root to boot one:
# tests/cgroup/uml.sh runs it in user-mode-linux as USER (skipped, saying
# why, where it cannot).  Only with the default targets or tests/cgroup.
run_cgroup_as() { # USER HAS_SUBIDS
  case "${bats_targets:-all}" in
    all | *tests/cgroup*) ;;
    *) return ;;
  esac
  echo "# cgroup v2 in user-mode-linux as $1"
  run_tap "cgroup suite as $1" sh "$REPO/tests/cgroup/uml.sh" "$NSBOX" "$1" "$2"
}

run_integration() {
  if [ ! -x "$REPO/nsbox" ]; then
    say "$REPO/nsbox is not built (make nsbox); counting the integration suite as 1 failure"
    failed=$((failed + 1))
    return
  fi
  # The repo may sit where the test user cannot read (/root): give it a copy
  # everyone can execute.  nsbox loads its plugins (nsbox-images.so,
  # nsbox-seccomp.so) from its own directory; the escape suite's probe goes
  # along too.
  BIN_DIR=$(mktemp -d /tmp/nsbox-bin.XXXXXX) && chmod 755 "$BIN_DIR" &&
    cp "$REPO/nsbox" "$BIN_DIR/nsbox" && chmod 755 "$BIN_DIR/nsbox" &&
    copy_beside "$BIN_DIR" nsbox-images.so nsbox-seccomp.so nsbox-git.so nsbox-proxy.so nsbox-systemd.so build/tests/probe build/tests/proxy-run build/tests/fake-systemd ||
    { say "cannot copy nsbox to a temp dir; counting the integration suite as 1 failure"; failed=$((failed + 1)); return; }
  NSBOX=$BIN_DIR/nsbox

  if [ "$(id -u)" -eq 0 ]; then
    if ! setup_users; then
      say "cannot set up the test users; counting the integration suite as 1 failure"
      failed=$((failed + 1))
      return
    fi
    for spec in "$USER_NOSUB 0" "$USER_SUB 1"; do
      set -- $spec
      [ -z "$only_user" ] || [ "$only_user" = "$1" ] || continue
      if [ "$(has_subids "$1")" != "$2" ]; then
        say "$1 should have subids=$2 but /etc/subuid says otherwise; counting as 1 failure"
        failed=$((failed + 1))
        continue
      fi
      run_suite_as "$1" "$2"
      run_cgroup_as "$1" "$2"
    done
  else
    me=$(id -un)
    if [ -n "$only_user" ] && [ "$only_user" != "$me" ]; then
      say "--user $only_user needs root; running as $me"
    fi
    run_suite_as "$me" "$(has_subids "$me")"
  fi
}

# --- main -------------------------------------------------------------------

if [ "$setup_users_only" -eq 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "check: --setup-users needs root" >&2; exit 2; }
  setup_users
  exit
fi

[ "$unit" -eq 0 ] || run_units
[ "$integration" -eq 0 ] || run_integration

echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
