#!/usr/bin/env bats
# nsbox doctor: what the host allows, as the unprivileged user sees it.

bats_require_minimum_version 1.5.0
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

# Run CMD... as the test user in a user namespace of its own whose
# user.max_user_namespaces is 0, so that the kernel really refuses the next
# one (ENOSPC); the knobs doctor and run explain it with are read from
# $TEST_DIR/sys (NSBOX_TEST_PROC_SYS) where it has them, which stand in for
# sysctls this host does not have (Debian's unprivileged_userns_clone,
# Ubuntu's AppArmor restriction), else from /proc/sys.  Root in that
# namespace needs a runtime dir of its own.
with_userns_refused() {
  mkdir -p -m 700 "$TEST_DIR/rt" && chown "$TEST_UID:$TEST_GID" "$TEST_DIR/rt"
  run --separate-stderr as_user env NSBOX_TEST_PROC_SYS="$TEST_DIR/sys" XDG_RUNTIME_DIR="$TEST_DIR/rt" unshare -Ur sh -c \
    'echo 0 >/proc/sys/user/max_user_namespaces && exec "$@"' sh "$@"
}

stand_in_knob() {
  mkdir -p "$TEST_DIR/sys/${1%/*}"
  echo "$2" >"$TEST_DIR/sys/$1"
}

@test "a Debian kernel's kernel.unprivileged_userns_clone=0 is named, with the sysctl that lifts it" {
  stand_in_knob kernel/unprivileged_userns_clone 0
  stand_in_knob user/max_user_namespaces 63707
  with_userns_refused "$NSBOX" doctor
  assert_status 1
  assert_output_has "fail  userns: unshare(CLONE_NEWUSER): No space left on device (kernel.unprivileged_userns_clone is 0)"
  assert_output_has "      hint: as root: sysctl -w kernel.unprivileged_userns_clone=1 (and set it in /etc/sysctl.d/ to keep it)"
}

@test "Ubuntu's AppArmor restriction of user namespaces is named, with the profile for this nsbox binary" {
  stand_in_knob kernel/apparmor_restrict_unprivileged_userns 1
  stand_in_knob user/max_user_namespaces 63707  # Ubuntu's; the real 0 only makes the refusal
  with_userns_refused "$NSBOX" doctor
  assert_status 1
  assert_output_has "(AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns is 1)"
  assert_output_has "'make install-apparmor' from nsbox's source, or as root:"
  assert_output_has "profile nsbox $NSBOX flags=(unconfined) {\n  userns,\n}"
  assert_output_has "      hint: or lift the restriction for every program: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
}

@test "the knobs are only read to explain a refusal: with user namespaces working, a restrictive knob changes nothing" {
  stand_in_knob kernel/unprivileged_userns_clone 0
  stand_in_knob kernel/apparmor_restrict_unprivileged_userns 1
  run as_user env NSBOX_TEST_PROC_SYS="$TEST_DIR/sys" "$NSBOX" doctor
  assert_status 0
  assert_output_has "ok    userns: created a user namespace"
  refute_output_has "AppArmor"
}

@test "a container's seccomp filter that refuses unshare is named, with what to change" {
  # A real filter: nsbox's own sandbox without --allow-nested refuses
  # unshare(CLONE_NEWUSER) with EPERM, as docker's and podman's default
  # profiles do.
  local ws
  ws=$(mk_workspace ws)
  cp "$NSBOX" "$ws/nsbox"
  chown "$TEST_UID:$TEST_GID" "$ws/nsbox"
  run --separate-stderr as_user "$NSBOX" run -w "$ws" shell -- -c './nsbox doctor'
  assert_status 1
  assert_output_has "fail  userns: unshare(CLONE_NEWUSER): Operation not permitted (a seccomp filter is on this process (Seccomp: 2 in /proc/self/status))"
  assert_output_has "its seccomp profile forbids new user namespaces: run nsbox on the host, or give the container a profile that allows unshare, clone and clone3 with CLONE_NEWUSER"
}

@test "nsbox run refused a user namespace says why and what to change, as doctor does" {
  local ws
  ws=$(mk_workspace ws)
  with_userns_refused "$NSBOX" run -w "$ws" shell -- -c 'echo inside'
  assert_status 125
  [[ $output != *inside* ]] || { _show_run; false; }
  assert_equal "${stderr_lines[0]}" "nsbox: run ws-shell: create the sandbox's namespaces: No space left on device"
  assert_equal "${stderr_lines[1]}" "  hint: refused because user.max_user_namespaces is 0"
  assert_equal "${stderr_lines[2]}" "  hint: as root: sysctl -w user.max_user_namespaces=15000 (and set it in /etc/sysctl.d/ to keep it)"

  stand_in_knob kernel/apparmor_restrict_unprivileged_userns 1
  stand_in_knob user/max_user_namespaces 63707  # Ubuntu's; the real 0 only makes the refusal
  with_userns_refused "$NSBOX" run -w "$ws" shell -- -c 'echo inside'
  assert_status 125
  [[ $stderr == *"hint: refused because AppArmor restricts unprivileged user namespaces"* ]] || { _show_run; false; }
  [[ $stderr == *"'make install-apparmor' from nsbox's source"* ]] || { _show_run; false; }
}

@test "nsbox run under a container's seccomp filter (not nsbox's) names the filter" {
  local ws
  ws=$(mk_workspace ws)
  cp "$NSBOX" "$ws/nsbox"
  chown "$TEST_UID:$TEST_GID" "$ws/nsbox"
  # Without NSBOX_SANDBOX the inner nsbox cannot tell the filter is nsbox's.
  run --separate-stderr as_user "$NSBOX" run -w "$ws" shell -- -c \
    'env -u NSBOX_SANDBOX ./nsbox run -w "$PWD" shell -- -c "echo inner"'
  assert_status 125
  [[ $output != *inner* ]] || { _show_run; false; }
  [[ $stderr == *"create the sandbox's namespaces: Function not implemented"* ]] || { _show_run; false; }
  [[ $stderr == *"hint: refused because a seccomp filter is on this process"* ]] || { _show_run; false; }
}

@test "make install-apparmor writes the profile for the installed binary into DESTDIR, and is a no-op without AppArmor" {
  local src=$BATS_TEST_DIRNAME/../..
  [[ -f $src/profiles/apparmor/nsbox.in ]] || skip "not run from a source tree (no profiles/apparmor/nsbox.in)"
  run make -s -C "$src" install-apparmor DESTDIR="$TEST_DIR/dest" BINDIR=/opt/nb/bin
  assert_status 0
  local prof=$TEST_DIR/dest/etc/apparmor.d/nsbox
  [[ -f $prof ]] || { _show_run; false; }
  grep -qx 'abi <abi/4.0>,' "$prof"
  grep -qx 'profile nsbox /opt/nb/bin/nsbox flags=(unconfined) {' "$prof"
  grep -qx '  userns,' "$prof"
  assert_equal "$(stat -c %a "$prof")" 644
  if [[ ! -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]]; then
    # Installing on this host: nothing to do, and no failure.
    run make -s -C "$src" install-apparmor APPARMORDIR="$TEST_DIR/etc-aa"
    assert_status 0
    assert_output_has "not installed: this kernel does not restrict user namespaces through AppArmor"
    [[ ! -e $TEST_DIR/etc-aa ]] || { _show_run; false; }
  fi
  if ! command -v apparmor_parser >/dev/null || [[ ! -e /etc/apparmor.d/abi/4.0 ]]; then
    skip "apparmor_parser with abi 4.0 (AppArmor >= 4, Ubuntu 23.10+) is not installed: the profile's syntax is not checked"
  fi
  run apparmor_parser -Q -K "$prof"
  assert_status 0
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
