#!/usr/bin/env bats
# nsbox run --cap-add/--cap-drop (nsbox-run(1)): root in an image sandbox
# has Docker's set, within the sandbox's user namespace only; these change
# it as docker run's do.  The agent user of the host template has none but
# the bounding set.

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
}

teardown() {
  nsbox_teardown
}

# cap_bit SET BIT: is capability BIT in SET (CapEff, CapBnd, ...) of the
# sandbox's process, as OUTPUT (its /proc/self/status) shows?
cap_bit() {
  local hex
  hex=$(awk -v k="$1:" '$1 == k {print $2}' <<<"$output")
  [[ -n $hex ]] || { echo "no $1 in: $output" >&2; return 2; }
  (( (16#$hex >> $2) & 1 ))
}

@test "--cap-drop takes a capability from root in an image sandbox; --cap-add gives one" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest shell -- -c 'cat /proc/self/status'
  assert_status 0
  cap_bit CapEff 0    # CAP_CHOWN: Docker's set has it
  ! cap_bit CapEff 13 # CAP_NET_RAW: Docker's set has it not (since 20.10)
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest --cap-drop chown --cap-add CAP_NET_RAW shell -- -c 'cat /proc/self/status'
  assert_status 0
  ! cap_bit CapEff 0
  ! cap_bit CapBnd 0
  cap_bit CapEff 13
  cap_bit CapBnd 13
}

@test "--cap-drop ALL leaves root in the sandbox with nothing" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  run --separate-stderr as_user "$NSBOX" run -w "$WS" -t localhost/oci:latest --cap-drop ALL shell -- -c 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status'
  assert_status 0
  assert_equal "$output" "$(printf 'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000')"
}

@test "on the host template the agent user gains nothing from --cap-add but the bounding set" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --cap-add SYS_PTRACE shell -- -c 'cat /proc/self/status'
  assert_status 0
  ! cap_bit CapEff 19
  cap_bit CapBnd 19
}

@test "an unknown capability is refused with 125 naming it" {
  run --separate-stderr as_user "$NSBOX" run -w "$WS" --cap-add NOPE shell -- -c 'echo started'
  assert_status 125
  [[ $output != *started* ]]
  [[ $stderr == *"--cap-add: NOPE: not a capability"* ]] || { _show_run; false; }
}
