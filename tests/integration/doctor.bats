#!/usr/bin/env bats
# nsbox doctor: what the host allows, as the unprivileged user sees it.

load helpers

# Print doctor's JSON (on stdin) as "check status" lines, failing on anything
# that is not the documented shape.
json_checks() {
  python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert isinstance(doc, list), "not an array"
for e in doc:
    assert set(e) == {"check", "status", "detail", "hint"}, e
    assert e["status"] in ("ok", "warn", "fail"), e
    assert isinstance(e["detail"], str) and e["detail"], e
    assert (e["hint"] is None) == (e["status"] == "ok"), e
    print(e["check"], e["status"])
'
}

# Run doctor as the test user in a private mount namespace where /etc/subuid
# and /etc/subgid are the files given: the kernel and newuidmap stay real,
# only the ranges differ.
doctor_with_subid_files() {
  if ((EUID != 0)); then
    skip "needs root to bind-mount stand-in /etc/subuid and /etc/subgid files"
  fi
  export -f as_user _as_user_env _as_user_prefix
  export TEST_HOME TEST_UID TEST_GID NSBOX_TEST_CMD_TIMEOUT
  run unshare -m --propagation private bash -c '
    mount --bind "$1" /etc/subuid && mount --bind "$2" /etc/subgid &&
      as_user "$NSBOX" doctor' _ "$1" "$2"
}

@test "doctor reports that unprivileged user namespaces work and exits 0" {
  run as_user "$NSBOX" doctor
  assert_status 0
  assert_output_has "ok    userns: created a user namespace and mapped uid $TEST_UID in it"
}

@test "doctor mounts overlay in a user namespace, with copy-up and whiteouts" {
  local release major minor rest
  release=$(uname -r)
  major=${release%%.*} rest=${release#*.}
  minor=${rest%%[!0-9]*}
  if ((major < 5 || (major == 5 && minor < 11))); then
    skip "kernel $release has no overlay in a user namespace (needs 5.11)"
  fi
  run as_user "$NSBOX" doctor
  assert_status 0
  assert_output_has "ok    overlay: mounted overlay (userxattr) in a user namespace under /tmp; copy-up and whiteouts work"
}

@test "doctor probes overlay in XDG_RUNTIME_DIR and leaves nothing behind" {
  local xdg
  xdg=$(mk_workspace xdg-runtime)
  chmod 700 "$xdg"
  run as_user env XDG_RUNTIME_DIR="$xdg" "$NSBOX" doctor
  assert_status 0
  assert_output_has "ok    overlay: mounted overlay (userxattr) in a user namespace under $xdg; "
  assert_equal "$(ls -A "$xdg")" ""
}

@test "doctor --json is a JSON array with one entry per check, agreeing with the text" {
  local from_json from_text
  run as_user "$NSBOX" doctor --json
  assert_status 0
  run json_checks <<<"$output"
  assert_status 0
  from_json=$output
  assert_equal "$(cut -d' ' -f1 <<<"$from_json" | tr '\n' ' ')" "userns overlay subids cgroup pasta "

  run as_user "$NSBOX" doctor
  assert_status 0
  from_text=$(grep -v '^      hint: ' <<<"$output" | sed -E 's/^(ok|warn|fail) +([a-z]+): .*/\2 \1/')
  assert_equal "$from_text" "$from_json"
}

@test "doctor's subids line matches whether the test user has subordinate ids" {
  run as_user "$NSBOX" doctor
  assert_status 0
  if ((TEST_USER_HAS_SUBIDS)); then
    assert_output_has "ok    subids: $TEST_USER has "
    refute_output_has "usermod"
  else
    assert_output_has "warn  subids: no subuid range for $TEST_USER in /etc/subuid; no subgid range for $TEST_USER in /etc/subgid"
    assert_output_has "      hint: as root: usermod --add-subuids "
  fi
}

@test "without subordinate ids doctor warns what is lost and gives the usermod command" {
  : >"$TEST_DIR/subuid"
  : >"$TEST_DIR/subgid"
  chmod 0644 "$TEST_DIR/subuid" "$TEST_DIR/subgid"
  doctor_with_subid_files "$TEST_DIR/subuid" "$TEST_DIR/subgid"
  # Missing subordinate ids cost a feature, not the ability to run.
  assert_status 0
  assert_output_has "warn  subids: no subuid range for $TEST_USER in /etc/subuid; no subgid range for $TEST_USER in /etc/subgid"
  assert_output_has "only your own id can be mapped, so files of an image's other owners collapse onto one id"
  assert_output_has "      hint: as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $TEST_USER"
}

@test "doctor finds a range given by uid number and suggests one past everyone else's" {
  printf 'someone-else:100000:65536\n%s:300000:65536\n' "$TEST_UID" >"$TEST_DIR/subuid"
  printf 'someone-else:100000:65536\n' >"$TEST_DIR/subgid"
  chmod 0644 "$TEST_DIR/subuid" "$TEST_DIR/subgid"
  doctor_with_subid_files "$TEST_DIR/subuid" "$TEST_DIR/subgid"
  assert_status 0
  refute_output_has "no subuid range"
  assert_output_has "warn  subids: no subgid range for $TEST_USER in /etc/subgid"
  # Only the missing half, in a block that overlaps no one's.
  assert_output_has "      hint: as root: usermod --add-subgids 365536-431071 $TEST_USER"
}

@test "an unreadable /etc/subuid is reported as such, not as a missing range" {
  printf '%s:100000:65536\n' "$TEST_USER" >"$TEST_DIR/subuid"
  cp "$TEST_DIR/subuid" "$TEST_DIR/subgid"
  chmod 0600 "$TEST_DIR/subuid"
  chmod 0644 "$TEST_DIR/subgid"
  doctor_with_subid_files "$TEST_DIR/subuid" "$TEST_DIR/subgid"
  assert_status 0
  assert_output_has "warn  subids: cannot read /etc/subuid: Permission denied"
  assert_output_has "      hint: as root: chmod 0644 /etc/subuid /etc/subgid"
  refute_output_has "usermod"
}

@test "when the kernel refuses user namespaces doctor fails the check, hints, and exits 1" {
  # A user namespace's own user.max_user_namespaces limits the namespaces
  # created inside it: set to 0 there, the kernel really refuses (ENOSPC).
  run as_user unshare -Ur sh -c \
    'echo 0 >/proc/sys/user/max_user_namespaces && exec "$0" doctor' "$NSBOX"
  assert_status 1
  assert_output_has "fail  userns: unshare(CLONE_NEWUSER): No space left on device (user.max_user_namespaces is 0)"
  assert_output_has "      hint: as root: sysctl -w user.max_user_namespaces="
  assert_output_has "fail  overlay: not tried: needs a user namespace"
}

@test "doctor --json also exits 1 and says fail when user namespaces are refused" {
  run as_user unshare -Ur sh -c \
    'echo 0 >/proc/sys/user/max_user_namespaces && exec "$0" doctor --json' "$NSBOX"
  assert_status 1
  run json_checks <<<"$output"
  assert_status 0
  assert_equal "$(head -n 2 <<<"$output")" $'userns fail\noverlay fail'
}

@test "doctor's cgroup line tells a hybrid v1/v2 host from a unified one" {
  run as_user "$NSBOX" doctor
  assert_status 0
  case "$(stat -f -c %T /sys/fs/cgroup)" in
  cgroup2fs)
    [[ $output == *$'\n'"ok    cgroup: cgroup v2, "* || $output == *$'\n'"warn  cgroup: cgroup v2, "* ]] ||
      assert_output_has "cgroup: cgroup v2, "
    ;;
  tmpfs)
    if [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
      assert_output_has "warn  cgroup: hybrid v1/v2 host: limits (--memory/--cpus/--pids) unavailable"
    else
      assert_output_has "warn  cgroup: cgroup v1 host: limits (--memory/--cpus/--pids) unavailable"
    fi
    ;;
  *)
    assert_output_has "warn  cgroup: "
    ;;
  esac
}

@test "doctor's pasta line says whether the user can use pasta and /dev/net/tun" {
  run as_user "$NSBOX" doctor
  assert_status 0
  if ! as_user sh -c 'command -v pasta || command -v slirp4netns' >/dev/null; then
    assert_output_has "warn  pasta: neither pasta nor slirp4netns in PATH: --network open unavailable"
    assert_output_has "      hint: as root: apt-get install passt"
  elif as_user test -r /dev/net/tun -a -w /dev/net/tun; then
    assert_output_has "/dev/net/tun opens read-write"
    assert_output_has "ok    pasta: "
  elif [[ -e /dev/net/tun ]]; then
    assert_output_has "/dev/net/tun: Permission denied: --network open unavailable"
    assert_output_has "      hint: as root: chmod 0666 /dev/net/tun"
  else
    assert_output_has "/dev/net/tun: No such file or directory: --network open unavailable"
    assert_output_has "      hint: as root: modprobe tun"
  fi
}

@test "doctor --help prints usage; a bad option is refused with status 125" {
  run as_user "$NSBOX" doctor --help
  assert_status 0
  [[ $output == "usage: nsbox doctor [--json]"* ]]
  run as_user "$NSBOX" doctor --no-such-option
  assert_status 125
  assert_output_has "nsbox: doctor: unknown option '--no-such-option'"
}
