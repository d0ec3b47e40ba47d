# Run once per bats invocation on tests/integration (bats finds this file next
# to the .bats files).  tests/check.sh sets everything; run by hand, it fills in:
#   TEST_USER             nsbox-test as root (made by: sh tests/check.sh --setup-users),
#                         else the current user
#   TEST_USER_HAS_SUBIDS  from /etc/subuid and /etc/subgid
#   NSBOX                 a copy of the repo's ./nsbox (and nsbox-images.so) that any
#                         user can execute
# e.g.  sudo TEST_USER=nsbox-test-sub bats tests/integration/run.bats

setup_suite() {
  local repo uid actual
  repo=$(cd "${BATS_TEST_FILENAME%/*}/../.." && pwd)

  if [[ -z ${TEST_USER-} ]]; then
    if ((EUID == 0)); then TEST_USER=nsbox-test; else TEST_USER=$(id -un); fi
  fi
  if ! uid=$(id -u "$TEST_USER" 2>/dev/null); then
    echo "setup_suite: no user '$TEST_USER'; as root run: sh tests/check.sh --setup-users" >&2
    return 1
  fi
  if ((uid == 0)); then
    echo "setup_suite: nsbox is tested as an unprivileged user, never as root (TEST_USER=$TEST_USER)" >&2
    return 1
  fi
  if ((EUID != 0 && EUID != uid)); then
    echo "setup_suite: as $(id -un) the suite can only run as that user, not $TEST_USER" >&2
    return 1
  fi

  actual=0
  if grep -Eq "^($TEST_USER|$uid):" /etc/subuid 2>/dev/null &&
    grep -Eq "^($TEST_USER|$uid):" /etc/subgid 2>/dev/null; then
    actual=1
  fi
  if [[ -z ${TEST_USER_HAS_SUBIDS-} ]]; then
    TEST_USER_HAS_SUBIDS=$actual
  elif [[ $TEST_USER_HAS_SUBIDS != "$actual" ]]; then
    echo "setup_suite: TEST_USER_HAS_SUBIDS=$TEST_USER_HAS_SUBIDS but /etc/subuid and /etc/subgid say $actual for $TEST_USER" >&2
    return 1
  fi

  if [[ -z ${NSBOX-} ]]; then
    if [[ ! -x $repo/nsbox ]]; then
      echo "setup_suite: $repo/nsbox is not built (make nsbox)" >&2
      return 1
    fi
    NSBOX_SUITE_BIN_DIR=$(mktemp -d /tmp/nsbox-bin.XXXXXX)
    chmod 755 "$NSBOX_SUITE_BIN_DIR"
    cp "$repo/nsbox" "$NSBOX_SUITE_BIN_DIR/nsbox"
    chmod 755 "$NSBOX_SUITE_BIN_DIR/nsbox"
    # nsbox loads its plugins from its own directory; the escape suite's
    # probe goes along too.
    local f
    for f in nsbox-images.so nsbox-seccomp.so nsbox-git.so nsbox-proxy.so build/tests/probe build/tests/proxy-run; do
      if [[ -f $repo/$f ]]; then
        cp "$repo/$f" "$NSBOX_SUITE_BIN_DIR/"
        chmod a+rX "$NSBOX_SUITE_BIN_DIR/${f##*/}"
      fi
    done
    NSBOX=$NSBOX_SUITE_BIN_DIR/nsbox
    export NSBOX_SUITE_BIN_DIR
  fi
  if ((EUID == 0)) && ! setpriv --reuid="$uid" --regid="$(id -g "$TEST_USER")" --init-groups -- test -x "$NSBOX"; then
    echo "setup_suite: $TEST_USER cannot execute NSBOX=$NSBOX (under a directory it cannot read?); unset NSBOX to use a copy" >&2
    return 1
  fi

  export TEST_USER TEST_USER_HAS_SUBIDS NSBOX
}

teardown_suite() {
  # The test user's id-mapping holder (nsbox run with subordinate ids keeps
  # one, recorded in the runtime dir, which outlives the suite): it would
  # sleep on after the suite.
  if [[ -n ${TEST_USER-} ]]; then
    pkill -KILL -u "$TEST_USER" -x nsbox-userns 2>/dev/null || true
  fi
  if [[ -n ${NSBOX_SUITE_BIN_DIR-} ]]; then
    rm -rf "$NSBOX_SUITE_BIN_DIR"
  fi
  return 0
}
