#!/usr/bin/env bats
# nsbox run -t IMAGE (nsbox-run(1)): any OCI image as a sandbox's template.
# The rootfs is overlayfs: the image's extracted layers under the sandbox's
# own upper dir, so what a run changes persists for that workspace and
# nowhere else, and the layers themselves never change.  The agent runs as
# root of the sandbox, mapped to the user; the layers' owners are as the
# store keeps them (shifted into the subordinate range when the user has
# one).  The image comes from tests/fixtures (expected.json) -- loaded, or
# pulled from a loopback registry on first use.

bats_require_minimum_version 1.5.0
load helpers
load registry
load image_helpers

setup_file() {
  FIXTURES=$(fixtures_dir)
  export FIXTURES
  registry_start
  registry_push >/dev/null
}

teardown_file() {
  registry_stop
}

setup() {
  nsbox_setup
  image_paths
  IMAGE=localhost/oci:latest
  WS=$(mk_workspace ws)
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
}

teardown() {
  nsbox_teardown
}

# in_image [RUN-OPTIONS...] -- SCRIPT: sh -c SCRIPT in $WS's sandbox on $IMAGE.
in_image() {
  sandbox_sh -t "$IMAGE" "$@"
}

expected() {
  python3 -c 'import json,sys; print(eval("json.load(open(sys.argv[1]))" + sys.argv[2]))' \
    "$FIXTURES/expected.json" "$1"
}

@test "an image template runs the agent in the image's own files, layers applied in order" {
  in_image -- 'cat /etc/nsbox-test-layer3; nsbox-test-hello; ls /opt/replaced; test -e /etc/removed-by-whiteout || echo whiteout-honoured'
  assert_status 0
  assert_equal "${lines[0]}" "nsbox test layer 3"
  assert_equal "${lines[1]}" "$(expected '["hello_output"]')"
  # The opaque dir of layer 2 hides what layer 1 had there.
  assert_equal "${lines[2]}" new
  assert_equal "${lines[3]}" whiteout-honoured
}

@test "the workspace is at its own path and the working directory; what the agent writes there is the user's" {
  in_image -- 'pwd; id -u; echo made-inside >"$PWD/inside.txt"'
  assert_status 0
  assert_equal "${lines[0]}" "$WS"
  assert_equal "${lines[1]}" 0
  assert_equal "$(stat -c %u:%g "$WS/inside.txt")" "$TEST_UID:$TEST_GID"
  assert_equal "$(cat "$WS/inside.txt")" made-inside
}

@test "what a run installs in /usr/local, /var and /root is there in the next run of that workspace, and nowhere else" {
  in_image -- 'echo tool >/usr/local/bin/installed; mkdir -p /var/lib/state && echo s >/var/lib/state/f; echo h >/root/.history'
  assert_status 0
  in_image -- 'cat /usr/local/bin/installed /var/lib/state/f /root/.history'
  assert_status 0
  assert_equal "$output" "tool"$'\n'"s"$'\n'"h"
  # Another workspace on the same template starts from the image as it is.
  WS=$(mk_workspace other)
  in_image -- 'ls /usr/local/bin/installed /var/lib/state/f /root/.history 2>&1 | grep -c "No such file"'
  assert_equal "$output" 3
}

@test "root in the sandbox may change the image's files, and the layers on the host stay as they were" {
  local before
  before=$(find "$LAYERS" -mindepth 1 -exec stat -c '%n %s %Y %a' {} + | sort | sha256sum)
  in_image -- 'echo changed >/etc/nsbox-test-layer3; rm /bin/ls; mkdir /opt/new-dir; cat /etc/nsbox-test-layer3'
  assert_status 0
  assert_equal "$output" changed
  assert_equal "$(find "$LAYERS" -mindepth 1 -exec stat -c '%n %s %Y %a' {} + | sort | sha256sum)" "$before"
  in_image -- 'cat /etc/nsbox-test-layer3; test -e /bin/ls || echo ls-gone'
  assert_equal "$output" "changed"$'\n'"ls-gone"
}

@test "the image's owners are kept: with subordinate ids uid 1000's files are 1000 inside; without, root's with a notice" {
  in_image -- 'stat -c %u:%g /home/agent/owned-by-1000'
  assert_status 0
  if [[ $TEST_USER_HAS_SUBIDS == 1 ]]; then
    assert_equal "$output" 1000:1000
    [[ $stderr != *"no subordinate ids"* ]] || { _show_run; false; }
  else
    assert_equal "$output" 0:0
    [[ $stderr == *"note: no subordinate ids"* ]] || { _show_run; false; }
  fi
}

@test "with subordinate ids root in the sandbox can take any id of the image; the agent has no capability outside" {
  in_image -- 'chown 1000:1000 /root/x 2>/dev/null; touch /root/x && chown 1000:1000 /root/x && stat -c %u /root/x; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status'
  if [[ $TEST_USER_HAS_SUBIDS == 1 ]]; then
    assert_status 0
    assert_equal "${lines[0]}" 1000
    # Image templates may run the image's own sudo: no_new_privs is off.
    [[ $output == *"NoNewPrivs:"*0* ]] || { _show_run; false; }
  else
    # One id only: there is no 1000 to give a file to, and nothing to
    # become, so no_new_privs stays on.
    [[ $output == *"NoNewPrivs:"*1* ]] || { _show_run; false; }
  fi
  # Whatever root holds inside, it is the user's on the host.
  [[ ! -e /root/x ]]
}

@test "the default seccomp profile and the masked /proc hold in an image template too" {
  cp "${NSBOX%/*}/probe" "$WS/probe" 2>/dev/null || skip "no probe beside $NSBOX (run through tests/check.sh)"
  chown "$TEST_UID:$TEST_GID" "$WS/probe"
  in_image -- './probe syscall keyctl; ./probe syscall unshare-user; echo x 2>&1 >/proc/sys/kernel/domainname'
  assert_equal "${lines[0]}" EPERM
  assert_equal "${lines[1]}" EPERM
  [[ $output == *"Read-only file system"* ]] || { _show_run; false; }
}

# A run's plan holds a stand-in for the built-in profile, written into
# config.json as the profile's own text: exec reads it from there.
@test "a process exec'd into a running image sandbox has the default seccomp profile of config.json" {
  local id config
  cp "${NSBOX%/*}/probe" "$WS/probe" 2>/dev/null || skip "no probe beside $NSBOX (run through tests/check.sh)"
  chown "$TEST_UID:$TEST_GID" "$WS/probe"
  in_image -d -- 'sleep 60'
  assert_status 0
  id=$(as_user "$NSBOX" inspect ws-shell | python3 -c 'import json,sys; d=json.load(sys.stdin); print((d[0] if isinstance(d, list) else d)["id"])')
  config=${NSBOX_TEST_RUNTIME_DIR:-/tmp/nsbox-$TEST_UID}
  [[ -n ${NSBOX_TEST_RUNTIME_DIR-} ]] && config+=/nsbox
  config+=/$id/config.json
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["linux"]["seccomp"]; assert isinstance(s, dict) and s["defaultAction"] and s["syscalls"], s' "$config"
  run --separate-stderr as_user "$NSBOX" exec ws-shell ./probe syscall keyctl
  assert_status 0
  assert_equal "$output" EPERM
  run --separate-stderr as_user "$NSBOX" stop -t 1 ws-shell
  assert_status 0
}

@test "a later run needs nothing but the sandbox's record: not even the image plugin" {
  in_image -- 'true'
  assert_status 0
  run --separate-stderr as_user env NSBOX_IMAGES_LIB=/nonexistent/nsbox-images.so \
    "$NSBOX" run -w "$WS" -t "$IMAGE" shell -- -c 'cat /etc/nsbox-test-layer3'
  assert_status 0
  assert_equal "$output" "nsbox test layer 3"
}

# Until no nsbox-release of the test user lives, at most 5 s.
wait_releases() {
  for _ in $(seq 50); do
    [[ -z $(live_procs nsbox-release) ]] && return 0
    sleep 0.1
  done
  echo "nsbox-release still running: $(live_procs nsbox-release)" >&2
  return 1
}

# The overlay root's last reference syncs the upper dir's filesystem: a run
# lets go of it in a process of its own (nsbox-release) once init is gone,
# so the user does not wait for that.  That process holds nothing of the
# run's: not its output (the pipe ends with the run), not the sandbox's
# locks (rm right after finds it stopped), and it ends by itself.
@test "the overlay is let go of in the background, by a process that holds nothing of the run's and ends" {
  local n
  for n in 1 2 3; do
    in_image -- "echo run-$n >>/var/tmp/runs; echo out-$n"
    assert_status 0
    assert_equal "$output" "out-$n"
  done
  in_image -- 'cat /var/tmp/runs'
  assert_equal "$output" "run-1"$'\n'"run-2"$'\n'"run-3"
  run --separate-stderr as_user "$NSBOX" rm ws-shell
  assert_status 0
  wait_releases
  assert_equal "$(as_user find "$TEST_HOME/.local/share/nsbox/sandboxes" -mindepth 1 2>/dev/null)" ""
}

# The overlay leaves WORKDIR/work behind, which the next mount would have to
# empty and make again: the release removes it, but only under an exclusive
# flock of WORKDIR, which every init of the sandbox holds shared for its
# life -- never while an overlay may be using it.
@test "the release removes the overlay's work dir after the run, never while a holder of the workdir's lock lives" {
  local workdir
  in_image -- 'echo one >/var/tmp/f'
  assert_status 0
  workdir=$(ls -d "$TEST_HOME"/.local/share/nsbox/sandboxes/*/work)
  wait_releases
  [[ -d $workdir && ! -e $workdir/work ]] || { ls -la "$workdir" >&2; false; }
  # A running sandbox's init holds the workdir's lock, shared.
  in_image -d -- 'sleep 60'
  assert_status 0
  grep -E "FLOCK +ADVISORY +READ .*:$(stat -c %i "$workdir") " /proc/locks || { cat /proc/locks >&2; false; }
  run --separate-stderr as_user "$NSBOX" stop -t 1 ws-shell
  assert_status 0
  # A shared lock held as a live init holds it: the work dir stays.
  as_user_bg "$TEST_DIR/flock.out" flock -s -o "$workdir" sleep 60
  for _ in $(seq 50); do
    grep -q ":$(stat -c %i "$workdir") " /proc/locks 2>/dev/null && break
    sleep 0.1
  done
  in_image -- 'cat /var/tmp/f'
  assert_status 0
  assert_equal "$output" one
  wait_releases
  [[ -d $workdir/work ]] || { ls -la "$workdir" >&2; false; }
  pkill -P "$BG_PID" sleep || true
  kill "$BG_PID" 2>/dev/null || true
  wait "$BG_PID" 2>/dev/null || true
  # Free again: the next run's release removes it.
  in_image -- 'cat /var/tmp/f'
  assert_equal "$output" one
  wait_releases
  [[ ! -e $workdir/work ]] || { ls -la "$workdir" >&2; false; }
}

# The end of a mount namespace unmounts every mount in it, which init's exit
# would otherwise wait for: init hands its mount namespace to nsbox run along
# with its root, and the release lets go of both.
@test "a run holds its sandbox's mount namespace past init, and the release lets go of it" {
  local ns fd p held=""
  in_image -- 'true'
  assert_status 0
  as_user_bg "$TEST_DIR/run.out" "$NSBOX" run -w "$WS" -t "$IMAGE" shell -- -c 'readlink /proc/self/ns/mnt; sleep 2'
  wait_for_output "$TEST_DIR/run.out" 'mnt:' 10
  ns=$(head -n 1 "$TEST_DIR/run.out")
  # Init sent it before the agent started; nsbox may take a moment to read it.
  for _ in $(seq 20); do
    for fd in /proc/"$BG_PID"/fd/*; do
      [[ $(readlink "$fd") == "$ns" ]] && held=1
    done
    [[ -n $held ]] && break
    sleep 0.05
  done
  [[ -n $held ]] || { echo "nsbox run holds no $ns" >&2; ls -l /proc/"$BG_PID"/fd >&2; false; }
  wait "$BG_PID"
  wait_releases
  # Nothing of the user's holds it any more: no descriptor, no process in it.
  for p in $(pgrep -u "$TEST_UID"); do
    for fd in /proc/"$p"/fd/* /proc/"$p"/ns/mnt; do
      if [[ $(readlink "$fd" 2>/dev/null) == "$ns" ]]; then
        echo "$ns still held by $p ($(cat /proc/"$p"/comm 2>/dev/null)): $fd" >&2
        false
      fi
    done
  done
}

@test "an image not in the store is pulled on first use, with --pull missing (the default)" {
  IMAGE=$REGISTRY/nsbox-test/busybox:zstd
  in_image -- 'cat /etc/nsbox-test-layer3'
  assert_status 0
  assert_equal "$output" "nsbox test layer 3"
  run --separate-stderr nsbox_user images -q
  [[ $output == *"$IMAGE"* ]] || { _show_run; false; }
}

@test "--pull never refuses an image that is not in the store, with 125 and the pull command" {
  IMAGE=$REGISTRY/nsbox-test/busybox:uncompressed
  in_image --pull never -- 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == *"not in the store"* && $stderr == *"nsbox pull"* ]] || { _show_run; false; }
  in_image --pull sometimes -- 'echo ran'
  assert_status 125
  [[ $stderr == *"--pull sometimes: expects always, missing or never"* ]] || { _show_run; false; }
}

@test "a sandbox made on one template refuses another, naming both" {
  in_image -- 'true'
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t host shell -- -c 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == *"created with the template $IMAGE, not host"* ]] || { _show_run; false; }
}

@test "a template that is neither host nor a valid image reference is refused with 125" {
  IMAGE='Not A Reference'
  in_image -- 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == "nsbox: "* ]] || { _show_run; false; }
}

# --- an image with a user of its own (claude-code's agent, 1000) ---------------------

# user_image NAME USER: load the fixture image with config User=USER as
# localhost/NAME:latest; sets IMAGE.
user_image() {
  python3 "$BATS_TEST_DIRNAME/../fixtures/set-config.py" "$FIXTURES/oci" "$TEST_DIR/$1" "User=$2" >/dev/null
  chmod -R a+rX "$TEST_DIR/$1"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/$1"
  assert_status 0
  IMAGE=localhost/$1:latest
}

@test "an image's own user runs the agent, with its home, and what it writes in the workspace is the user's" {
  user_image agentimg agent
  in_image -- 'id -u; id -g; echo "$HOME $USER"; touch "$PWD/by-agent"; echo kept >"$HOME/notes"'
  assert_status 0
  assert_equal "${lines[0]}" 1000
  assert_equal "${lines[1]}" 1000
  assert_equal "${lines[2]}" "/home/agent agent"
  assert_equal "$(stat -c %u:%g "$WS/by-agent")" "$TEST_UID:$TEST_GID"
  in_image -- 'cat "$HOME/notes"'
  assert_equal "$output" kept
}

@test "with subordinate ids the image's owners stay as they are around its user: root's files are root's, 1000's are the agent's" {
  user_image agentimg agent
  in_image -- 'stat -c %u:%g /root /etc/passwd /home/agent/owned-by-1000; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status'
  assert_status 0
  if [[ $TEST_USER_HAS_SUBIDS == 1 ]]; then
    assert_equal "${lines[0]}" 0:0
    assert_equal "${lines[1]}" 0:0
    assert_equal "${lines[2]}" 1000:1000
    # The agent holds no capability; the image's sudo could give root's.
    [[ ${lines[3]} == *0000000000000000 && ${lines[4]} == *0 ]] || { _show_run; false; }
  else
    # One id: everything is the agent's, and a notice says so.
    assert_equal "${lines[0]}" 1000:1000
    [[ $stderr == *"belongs to the agent's uid 1000 inside"* ]] || { _show_run; false; }
  fi
}

@test "a numeric user and group work as a name does" {
  user_image numimg 1000:1000
  in_image -- 'id -u; id -g'
  assert_status 0
  assert_equal "$output" "1000"$'\n'"1000"
}

@test "an image user that its /etc/passwd does not know is refused with 125" {
  user_image ghostimg ghost
  in_image -- 'echo ran'
  assert_status 125
  [[ $output != *ran* && $stderr == *"image user 'ghost': not in the image's /etc/passwd"* ]] || { _show_run; false; }
}

@test "layers are extracted once per id mapping and shared by every sandbox that uses it; prune removes them with the image" {
  user_image agentimg agent
  in_image -- 'true'
  assert_status 0
  local before
  before=$(find "$LAYERS" -mindepth 1 -maxdepth 1 | sort)
  WS=$(mk_workspace second)
  in_image -- 'true'
  assert_status 0
  assert_equal "$(find "$LAYERS" -mindepth 1 -maxdepth 1 | sort)" "$before"
  if [[ $TEST_USER_HAS_SUBIDS == 1 ]]; then
    [[ $(find "$LAYERS" -mindepth 1 -maxdepth 1 -type d -name '*.keep-1000-1000' | wc -l) -eq 3 ]] || { echo "$before" >&2; false; }
  fi
  run --separate-stderr nsbox_user rm ws-shell second-shell
  assert_status 0
  run --separate-stderr nsbox_user rmi localhost/agentimg:latest localhost/oci:latest localhost/oci:gzip \
    localhost/oci:zstd localhost/oci:uncompressed localhost/oci:multi
  assert_status 0
  run --separate-stderr nsbox_user image prune
  assert_status 0
  assert_equal "$(find "$LAYERS" -mindepth 1 -maxdepth 1 | wc -l)" 0
}

@test "image prune keeps the layers a sandbox runs on after its image's names are gone; after rm they go" {
  user_image agentimg agent
  in_image -- 'echo mine >"$HOME/work"'
  assert_status 0
  run --separate-stderr nsbox_user rmi localhost/agentimg:latest localhost/oci:latest localhost/oci:gzip \
    localhost/oci:zstd localhost/oci:uncompressed localhost/oci:multi
  assert_status 0
  run --separate-stderr nsbox_user image prune
  assert_status 0
  [[ $(count_layer_dirs) -gt 0 ]]
  # The sandbox still runs, on its layers, without the image.
  in_image -- 'cat /etc/nsbox-test-layer3 "$HOME/work"'
  assert_status 0
  assert_equal "$output" "nsbox test layer 3"$'\n'"mine"
  run --separate-stderr nsbox_user rm ws-shell
  assert_status 0
  run --separate-stderr nsbox_user image prune
  assert_status 0
  assert_equal "$(find "$LAYERS" -mindepth 1 -maxdepth 1 | wc -l)" 0
}

# --- an agent without a command of its own: the image's -----------------------------

@test "an agent whose profile names no command runs the image's Entrypoint and Cmd; arguments after -- replace the Cmd; inspect shows the image's labels" {
  python3 "$BATS_TEST_DIRNAME/../fixtures/set-config.py" "$FIXTURES/oci" "$TEST_DIR/cmdimg" \
    'Entrypoint=["/bin/echo","from-entrypoint"]' 'Cmd=["default-cmd"]' 'Labels={"org.example.kind":"fixture"}' >/dev/null
  chmod -R a+rX "$TEST_DIR/cmdimg"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/cmdimg"
  assert_status 0
  as_user mkdir -p "$TEST_HOME/.config/nsbox/agents"
  as_user sh -c 'printf "%s\n" "$1" >"$2"' sh \
    '{"description": "the image as it is", "template": "localhost/cmdimg:latest"}' "$TEST_HOME/.config/nsbox/agents/own.json"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" own
  assert_status 0
  assert_equal "$output" "from-entrypoint default-cmd"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" own -- given args
  assert_status 0
  assert_equal "$output" "from-entrypoint given args"
  run --separate-stderr nsbox_user inspect ws-own
  assert_status 0
  python3 -c 'import json,sys; (s,) = json.loads(sys.argv[1]); assert s["image"]["labels"] == {"org.example.kind": "fixture"}, s["image"]' "$output"
  # The host has no command of its own to offer.
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t host own
  assert_status 125
  [[ $stderr == *"agent own: its profile names no command, and only an image has one of its own"* ]] || { _show_run; false; }
}

@test "an image with neither Entrypoint nor Cmd, run by an agent without a command, is refused with 125 saying so" {
  python3 "$BATS_TEST_DIRNAME/../fixtures/set-config.py" "$FIXTURES/oci" "$TEST_DIR/bareimg" 'Entrypoint=null' 'Cmd=null' >/dev/null
  chmod -R a+rX "$TEST_DIR/bareimg"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/bareimg"
  assert_status 0
  as_user mkdir -p "$TEST_HOME/.config/nsbox/agents"
  as_user sh -c 'printf "%s\n" "$1" >"$2"' sh '{"template": "localhost/bareimg:latest"}' "$TEST_HOME/.config/nsbox/agents/own.json"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" own
  assert_status 125
  [[ $stderr == *"has no Entrypoint or Cmd, and the agent's profile no command"* ]] || { _show_run; false; }
}

@test "a profile's user runs the agent instead of the image's, and a changed one is taken at the next run" {
  as_user mkdir -p "$TEST_HOME/.config/nsbox/agents"
  local prof=$TEST_HOME/.config/nsbox/agents/who.json
  as_user sh -c 'printf "%s\n" "$1" >"$2"' sh '{"command": ["/bin/sh"], "template": "localhost/oci:latest", "user": "agent"}' "$prof"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" who -- -c 'id -u; id -g; echo "$HOME"; touch "$PWD/by-who"'
  assert_status 0
  assert_equal "$output" "1000"$'\n'"1000"$'\n'"/home/agent"
  assert_equal "$(stat -c %u:%g "$WS/by-who")" "$TEST_UID:$TEST_GID"
  as_user sh -c 'printf "%s\n" "$1" >"$2"' sh '{"command": ["/bin/sh"], "template": "localhost/oci:latest", "user": "0:0"}' "$prof"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" who -- -c 'id -u; id -g'
  assert_status 0
  assert_equal "$output" "0"$'\n'"0"
}
