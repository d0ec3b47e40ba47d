#!/usr/bin/env bats
# nsbox run -v SRC:DEST[:ro] (nsbox-run(1)): a host file or directory bound
# into the sandbox, read-write or read-only, on the host template and on
# image templates; bad specifications refused before anything starts.

bats_require_minimum_version 1.5.0
load helpers
load registry
load image_helpers

setup_file() {
  FIXTURES=$(fixtures_dir)
  export FIXTURES
}

setup() {
  nsbox_setup
  image_paths
  WS=$(mk_workspace proj)
  DATA_DIR=$(mk_workspace data)
  echo from-host >"$DATA_DIR/in"
  chown "$TEST_UID:$TEST_GID" "$DATA_DIR/in"
}

teardown() {
  nsbox_teardown
}

@test "-v binds a host directory read-write: what the agent writes there is the user's on the host" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -v "$DATA_DIR:/data" shell -- -c 'cat /data/in; echo made >/data/out'
  assert_status 0
  assert_equal "$output" from-host
  assert_equal "$(cat "$DATA_DIR/out")" made
  assert_equal "$(stat -c %u:%g "$DATA_DIR/out")" "$TEST_UID:$TEST_GID"
}

@test "-v SRC:DEST:ro is read-only inside, and the host's file is untouched" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -v "$DATA_DIR:/data:ro" shell -- -c 'cat /data/in; echo x >/data/in'
  assert_status 2
  assert_equal "$output" from-host
  [[ $stderr == *"Read-only file system"* ]] || { _show_run; false; }
  assert_equal "$(cat "$DATA_DIR/in")" from-host
}

@test "-v binds a single file, and a relative source is taken from the current directory" {
  cd "$DATA_DIR"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -v ./in:/tmp/one-file:ro shell -- -c 'cat /tmp/one-file'
  assert_status 0
  assert_equal "$output" from-host
}

@test "-v on an image template binds the same way" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest -v "$DATA_DIR:/mnt/data:ro" shell -- -c 'cat /mnt/data/in; touch /mnt/data/x'
  assert_status 1
  assert_equal "$output" from-host
  [[ $stderr == *"Read-only file system"* ]] || { _show_run; false; }
}

@test "a bad -v is refused with 125 before anything starts: no source, no destination, a relative or '..' destination, an unknown mode" {
  local bad
  for bad in "$TEST_DIR/missing:/data" "$DATA_DIR" "$DATA_DIR:" "$DATA_DIR:data" "$DATA_DIR:/a/../etc" "$DATA_DIR:/" "$DATA_DIR:/data:rx"; do
    run --separate-stderr as_user "$NSBOX" run -w "$WS" -v "$bad" shell -- -c 'echo started'
    assert_status 125
    [[ $output != *started* ]] || { _show_run; false; }
    [[ $stderr == *"-v "* ]] || { _show_run; false; }
  done
}

@test "--mount-docker-socket binds the engine's socket at /run/docker.sock with DOCKER_HOST, warning it is root-equivalent; without it there is none" {
  local sock=$TEST_HOME/engine.sock
  as_user_bg "$TEST_DIR/sock.out" python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); print("ready", flush=True); time.sleep(60)' "$sock"
  wait_for_output "$TEST_DIR/sock.out" ready 10
  run --separate-stderr as_user env DOCKER_HOST="unix://$sock" "$NSBOX" run -w "$WS" --mount-docker-socket shell -- -c 'test -S /run/docker.sock && echo "$DOCKER_HOST"'
  assert_status 0
  assert_equal "$output" unix:///run/docker.sock
  [[ $stderr == *"warning: --mount-docker-socket: the sandbox gets $sock"*"root on this host"* ]] || { _show_run; false; }
  run --separate-stderr as_user env DOCKER_HOST="unix://$sock" "$NSBOX" run -w "$WS" shell -- -c 'ls /run/docker.sock /var/run/docker.sock 2>&1; echo "[$DOCKER_HOST]"'
  [[ $output == *"No such file"*"[]" ]] || { _show_run; false; }
  run --separate-stderr as_user env DOCKER_HOST="unix://$TEST_HOME/none.sock" XDG_RUNTIME_DIR="$TEST_HOME" "$NSBOX" run -w "$WS" --mount-docker-socket shell -- -c true
  if [[ ! -S /run/docker.sock && ! -S /run/user/$TEST_UID/podman/podman.sock ]]; then
    assert_status 125
    [[ $stderr == *"--mount-docker-socket: no Docker or Podman socket here"* ]] || { _show_run; false; }
  fi
}
