# Test images and a local registry for the integration tests:
#
#   load helpers
#   load registry
#
#   setup_file() {
#     registry_start                      # or: registry_start --htpasswd alice:secret
#     registry_push                       # every fixture tag to $REGISTRY
#   }
#   teardown_file() { registry_stop; }
#
# Provided
#   fixtures_dir           build the test images once per bats run (flock'd, so
#                          parallel files share one build) and print the
#                          directory: oci/ (OCI layout, tags latest gzip zstd
#                          uncompressed multi), oci.tar, docker-archive.tar
#                          (nsbox-test/busybox:latest), expected.json and
#                          expected.env (digests; `source` it).  The directory
#                          is $NSBOX_FIXTURES if set (kept across runs, rebuilt
#                          when the build scripts or /bin/busybox change), else
#                          $BATS_RUN_TMPDIR/fixtures.  It is readable by
#                          $TEST_USER.
#   registry_start [--htpasswd USER:PASS]
#                          start docker-registry on 127.0.0.1:<free port> with
#                          its state in a new temp dir; exports
#                          REGISTRY=127.0.0.1:PORT and REGISTRY_STATE.  With
#                          --htpasswd every /v2/ request needs Basic auth
#                          (401 + WWW-Authenticate: Basic realm="nsbox-test"
#                          otherwise); also exports REGISTRY_USER and
#                          REGISTRY_PASS.
#   registry_push [DIR]    push the fixtures (DIR, default fixtures_dir) to
#                          $REGISTRY as nsbox-test/busybox:TAG, digests kept
#                          (checked against expected.json)
#   registry_stop          stop it and remove REGISTRY_STATE (a registry whose
#                          state dir disappears also stops by itself within 1 s)
#
# The registry runs as whoever runs bats (root under tests/check.sh); nsbox, as
# the test user, only talks HTTP to it.  It never listens beyond 127.0.0.1.

NSBOX_FIXTURES_SRC=$(cd "${BASH_SOURCE[0]%/*}/../fixtures" && pwd)

_fixtures_stamp() {
  cat "$NSBOX_FIXTURES_SRC/build-images.sh" "$NSBOX_FIXTURES_SRC/build-images.py" \
    /bin/busybox 2>/dev/null | sha256sum | cut -d' ' -f1
}

fixtures_dir() {
  local dir=${NSBOX_FIXTURES:-} stamp
  if [[ -z $dir ]]; then
    dir=${BATS_RUN_TMPDIR:?fixtures_dir: BATS_RUN_TMPDIR is not set (run under bats, or set NSBOX_FIXTURES)}/fixtures
    # bats makes its run dir 0700; the test user needs to reach (not list)
    # the fixtures in it.
    if ((EUID == 0)); then
      chmod go+x "$BATS_RUN_TMPDIR" || return 1
    fi
  fi
  mkdir -p -- "$dir" || return 1
  dir=$(cd -- "$dir" && pwd) || return 1
  stamp=$(_fixtures_stamp)
  (
    flock 9 || exit 1
    if [[ ! -s $dir/expected.json || $(cat "$dir/.stamp" 2>/dev/null) != "$stamp" ]]; then
      rm -f "$dir/.stamp"
      sh "$NSBOX_FIXTURES_SRC/build-images.sh" "$dir" >&2 ||
        { echo "fixtures_dir: build-images.sh $dir failed" >&2; exit 1; }
      echo "$stamp" >"$dir/.stamp"
    fi
  ) 9>"$dir/.lock" || return 1
  chmod 755 "$dir"
  if ((EUID == 0)) && [[ -n ${TEST_USER-} ]] && [[ $TEST_USER != root ]] &&
    ! setpriv --reuid="$(id -u "$TEST_USER")" --regid="$(id -g "$TEST_USER")" \
      --init-groups -- test -r "$dir/oci/index.json"; then
    echo "fixtures_dir: $TEST_USER cannot read $dir (a parent directory is private?)" >&2
    return 1
  fi
  printf '%s\n' "$dir"
}

registry_start() {
  local state addr
  if [[ -n ${REGISTRY_STATE-} ]] && [[ -d $REGISTRY_STATE ]] &&
    sh "$NSBOX_FIXTURES_SRC/registry.sh" status "$REGISTRY_STATE" >/dev/null 2>&1; then
    echo "registry_start: a registry is already running ($REGISTRY); registry_stop first" >&2
    return 1
  fi
  state=$(mktemp -d "${BATS_RUN_TMPDIR:-${TMPDIR:-/tmp}}/registry.XXXXXX") || return 1
  if ! addr=$(sh "$NSBOX_FIXTURES_SRC/registry.sh" start "$state" "$@"); then
    rm -rf -- "$state"
    return 1
  fi
  REGISTRY=$addr
  REGISTRY_STATE=$state
  export REGISTRY REGISTRY_STATE
  if [[ -s $state/creds ]]; then
    REGISTRY_USER=$(cut -d: -f1 "$state/creds")
    REGISTRY_PASS=$(cut -d: -f2- "$state/creds")
    export REGISTRY_USER REGISTRY_PASS
  else
    unset REGISTRY_USER REGISTRY_PASS
  fi
}

registry_push() {
  local dir=${1-}
  [[ -n ${REGISTRY_STATE-} ]] || { echo "registry_push: registry_start first" >&2; return 1; }
  if [[ -z $dir ]]; then
    dir=$(fixtures_dir) || return 1
  fi
  sh "$NSBOX_FIXTURES_SRC/registry.sh" push "$REGISTRY_STATE" "$dir"
}

registry_stop() {
  [[ -n ${REGISTRY_STATE-} ]] || return 0
  sh "$NSBOX_FIXTURES_SRC/registry.sh" stop "$REGISTRY_STATE" || true
  rm -rf -- "$REGISTRY_STATE"
  unset REGISTRY REGISTRY_STATE REGISTRY_USER REGISTRY_PASS
  return 0
}
