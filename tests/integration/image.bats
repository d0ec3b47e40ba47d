#!/usr/bin/env bats
# The contract of the image verbs (nsbox-pull(1), nsbox-load(1), nsbox-images(1)):
#
#   nsbox pull [--insecure-registry HOST[:PORT]]... [-q] REF
#   nsbox load -i PATH            a docker save archive, an OCI layout dir or tar
#   nsbox images [--json] [-q];  nsbox rmi REF...;  nsbox image prune
#
# The store ($XDG_DATA_HOME/nsbox/store) is an OCI image layout; each layer is
# extracted once, verified against its diff_id, under layers/<diff_id hex>,
# with overlay whiteouts, and -- given subordinate ids -- with its files'
# owners shifted into the user's subordinate range.  Loopback registries speak
# plain HTTP.  Every failure exits 125 with "nsbox: ..." naming the cause and
# leaves a store that works: no name added, no blob that fails its digest, no
# temp file, no half-extracted layer.  Nothing in a layer writes outside it.
#
# The images come from tests/fixtures (expected.env holds their digests),
# served by a real registry (docker-registry, started once for this file) or by
# tests/fake-registry.py, which misbehaves on request.  Hostile images come
# from tests/fixtures/hostile-layer.py.  Security tests say in a comment which
# attack they try.

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
  # shellcheck source=/dev/null
  source "$FIXTURES/expected.env"
  IMAGE=$REGISTRY/nsbox-test/busybox
  read -r -a DIFF_IDS <<<"$EXPECTED_DIFF_IDS"
}

teardown() {
  fake_registry_stop_all
  if [[ -f $TEST_DIR/.netns ]]; then
    sh "$TEST_DIR/.netns" 2>/dev/null || true
  fi
  nsbox_teardown
}

# subid_start FILE: the start of the test user's range in /etc/subuid or subgid.
subid_start() {
  awk -F: -v name="$TEST_USER" -v uid="$TEST_UID" \
    '$1 == name || $1 == uid { print $2; exit }' "$1"
}

# --- pull from a registry -------------------------------------------------------

@test "pull names the image in the store by its canonical name and manifest digest" {
  run --separate-stderr nsbox_user pull "$IMAGE:latest"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$IMAGE:latest"
  assert_equal "$(images_field "$IMAGE:latest" digest)" "$EXPECTED_LATEST_DIGEST"
  assert_equal "$(images_field "$IMAGE:latest" manifest)" "$EXPECTED_LATEST_DIGEST"
  assert_equal "$(images_field "$IMAGE:latest" config)" "$EXPECTED_LATEST_CONFIG"
  assert_equal "$(images_field "$IMAGE:latest" layers)" "$EXPECTED_DIFF_IDS"
}

@test "the store is an OCI image layout that skopeo reads" {
  command -v skopeo >/dev/null || skip "skopeo is not installed (sh tests/deps.sh)"
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  [[ -d $STORE/blobs/sha256 ]]
  assert_equal "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["imageLayoutVersion"])' "$STORE/oci-layout")" 1.0.0
  python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1]))["manifests"], list)' "$STORE/index.json"
  run --separate-stderr as_user skopeo inspect --format '{{.Digest}}' "oci:$STORE:$IMAGE:latest"
  assert_status 0
  assert_equal "$output" "$EXPECTED_LATEST_DIGEST"
  assert_blobs_verify
}

@test "each layer is extracted once, under layers/<diff_id hex>" {
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  local d
  for d in "${DIFF_IDS[@]}"; do
    [[ -d $(layer_dir "$d") ]] || { echo "no layer dir for $d" >&2; ls -la "$LAYERS" >&2; false; }
  done
  assert_equal "$(count_layer_dirs)" 3
  assert_equal "$(cat "$(layer_dir "${DIFF_IDS[2]}")/etc/nsbox-test-layer3")" "$EXPECTED_LAYER3_CONTENT"
  [[ -x $(layer_dir "${DIFF_IDS[0]}")/bin/busybox ]]
  assert_no_temp_files

  # Another image with the same diff_ids (zstd blobs) reuses the layer dirs.
  local inodes
  inodes=$(for d in "${DIFF_IDS[@]}"; do stat -c %i "$(layer_dir "$d")"; done)
  run --separate-stderr nsbox_user pull -q "$IMAGE:zstd"
  assert_status 0
  assert_equal "$(count_layer_dirs)" 3
  assert_equal "$(for d in "${DIFF_IDS[@]}"; do stat -c %i "$(layer_dir "$d")"; done)" "$inodes"
}

@test "zstd and uncompressed layers extract to the same diff_ids as gzip" {
  local tag var data d
  for tag in zstd uncompressed; do
    var=EXPECTED_${tag^^}_DIGEST
    # A store of its own for each, so each extracts its layers itself.
    data=$TEST_HOME/data-$tag
    run --separate-stderr as_user env XDG_DATA_HOME="$data" "$NSBOX" pull -q "$IMAGE:$tag"
    assert_status 0
    run --separate-stderr as_user env XDG_DATA_HOME="$data" "$NSBOX" images --json
    assert_status 0
    assert_equal "$(json_image_field "$output" "$IMAGE:$tag" digest)" "${!var}"
    assert_equal "$(json_image_field "$output" "$IMAGE:$tag" layers)" "$EXPECTED_DIFF_IDS"
    for d in "${DIFF_IDS[@]}"; do
      [[ -d $data/nsbox/layers/${d#sha256:} ]] || { echo "$tag: no layer dir for $d" >&2; false; }
    done
  done
}

@test "a digest reference pins the manifest and names the image REPO@DIGEST" {
  run --separate-stderr nsbox_user pull -q "$IMAGE@$EXPECTED_ZSTD_DIGEST"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$IMAGE@$EXPECTED_ZSTD_DIGEST"
  assert_equal "$(images_field "$IMAGE@$EXPECTED_ZSTD_DIGEST" digest)" "$EXPECTED_ZSTD_DIGEST"
}

@test "an image index resolves to the manifest for linux and the host's architecture" {
  run --separate-stderr nsbox_user pull -q "$IMAGE:multi"
  assert_status 0
  assert_equal "$(images_field "$IMAGE:multi" digest)" "$EXPECTED_MULTI_DIGEST"
  assert_equal "$(images_field "$IMAGE:multi" manifest)" "$EXPECTED_MULTI_HOST_DIGEST"
  assert_equal "$(images_field "$IMAGE:multi" config)" "$EXPECTED_MULTI_HOST_CONFIG"
  assert_equal "$(images_field "$IMAGE:multi" layers)" "$EXPECTED_DIFF_IDS"
}

@test "whiteouts become overlay whiteouts: a 0:0 character device and user.overlay.opaque" {
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  local layer2
  layer2=$(layer_dir "${DIFF_IDS[1]}")
  assert_equal "$(stat -c '%F %t:%T' "$layer2/etc/removed-by-whiteout")" "character special file 0:0"
  assert_equal "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.overlay.opaque").decode())' "$layer2/opt/replaced")" y
  [[ -f $layer2/opt/replaced/new ]]
  # The AUFS-style marker files themselves are gone.
  assert_equal "$(find "$layer2" -name '.wh.*')" ""
}

@test "with subordinate ids, image files keep their owners, shifted into the subordinate range" {
  ((TEST_USER_HAS_SUBIDS)) || skip "$TEST_USER has no subordinate ids (the nsbox-test-sub run covers this)"
  local uid0 gid0
  uid0=$(subid_start /etc/subuid)
  gid0=$(subid_start /etc/subgid)
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  # uid 1000 in the image is subordinate id 999 (0 is the user, 1.. the range).
  assert_equal "$(stat -c %u:%g "$(layer_dir "${DIFF_IDS[1]}")/home/agent/owned-by-1000")" \
    "$((uid0 + 999)):$((gid0 + 999))"
  assert_equal "$(stat -c %u:%g "$(layer_dir "${DIFF_IDS[0]}")/etc/passwd")" "$TEST_UID:$TEST_GID"
  [[ $(images_field "$IMAGE:latest" idmap) == "subids uid=0:$TEST_UID:1,1:$uid0:"*" gid=0:$TEST_GID:1,1:$gid0:"* ]] ||
    { images_field "$IMAGE:latest" idmap >&2; false; }
}

@test "without subordinate ids, every image file belongs to the user" {
  ((!TEST_USER_HAS_SUBIDS)) || skip "$TEST_USER has subordinate ids (the nsbox-test run covers this)"
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  assert_equal "$(stat -c %u:%g "$(layer_dir "${DIFF_IDS[1]}")/home/agent/owned-by-1000")" "$TEST_UID:$TEST_GID"
  assert_equal "$(stat -c %u:%g "$(layer_dir "${DIFF_IDS[0]}")/etc/passwd")" "$TEST_UID:$TEST_GID"
  assert_equal "$(images_field "$IMAGE:latest" idmap)" "single uid=0:$TEST_UID:1 gid=0:$TEST_GID:1"
}

# --- load ------------------------------------------------------------------------

@test "load of a docker save archive names it by its RepoTags, over the same config and diff_ids" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/docker-archive.tar"
  assert_status 0
  local name=docker.io/nsbox-test/busybox:latest d
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$name"
  # docker save has no manifest: nsbox writes an OCI one over the same blobs.
  assert_equal "$(images_field "$name" config)" "$EXPECTED_DOCKER_ARCHIVE_CONFIG"
  assert_equal "$(images_field "$name" layers)" "$EXPECTED_DIFF_IDS"
  for d in "${DIFF_IDS[@]}"; do [[ -d $(layer_dir "$d") ]]; done
  assert_blobs_verify
}

@test "a Docker schema 2 manifest pulls like an OCI one" {
  # skopeo converts the docker-save fixture to Docker's own manifest format.
  skopeo copy -q --dest-tls-verify=false --format v2s2 \
    "docker-archive:$FIXTURES/docker-archive.tar" "docker://$IMAGE:docker-v2s2"
  run --separate-stderr nsbox_user pull -q "$IMAGE:docker-v2s2"
  assert_status 0
  local manifest
  manifest=$(images_field "$IMAGE:docker-v2s2" manifest)
  grep -q 'application/vnd.docker.distribution.manifest.v2+json' \
    "$STORE/blobs/sha256/${manifest#sha256:}"
  assert_equal "$(images_field "$IMAGE:docker-v2s2" config)" "$EXPECTED_LATEST_CONFIG"
  assert_equal "$(images_field "$IMAGE:docker-v2s2" layers)" "$EXPECTED_DIFF_IDS"
  assert_blobs_verify
}

@test "load of an OCI layout dir names each tag localhost/<dir name>:<tag> with its digest" {
  local d
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci"
  assert_status 0
  assert_equal "$(images_field localhost/oci:latest digest)" "$EXPECTED_LATEST_DIGEST"
  assert_equal "$(images_field localhost/oci:zstd digest)" "$EXPECTED_ZSTD_DIGEST"
  assert_equal "$(images_field localhost/oci:uncompressed digest)" "$EXPECTED_UNCOMPRESSED_DIGEST"
  assert_equal "$(images_field localhost/oci:multi digest)" "$EXPECTED_MULTI_DIGEST"
  assert_equal "$(images_field localhost/oci:multi manifest)" "$EXPECTED_MULTI_HOST_DIGEST"
  assert_equal "$(images_field localhost/oci:zstd layers)" "$EXPECTED_DIFF_IDS"
  for d in "${DIFF_IDS[@]}"; do [[ -d $(layer_dir "$d") ]]; done
}

@test "load of an OCI layout tar works as the dir does" {
  run --separate-stderr nsbox_user load -i "$FIXTURES/oci.tar"
  assert_status 0
  assert_equal "$(images_field localhost/oci:latest digest)" "$EXPECTED_LATEST_DIGEST"
  assert_equal "$(images_field localhost/oci:latest config)" "$EXPECTED_LATEST_CONFIG"
  assert_equal "$(images_field localhost/oci:multi manifest)" "$EXPECTED_MULTI_HOST_DIGEST"
  assert_equal "$(images_field localhost/oci:latest layers)" "$EXPECTED_DIFF_IDS"
  assert_blobs_verify
  assert_no_temp_files
}

@test "load names an image after a file name that is not a repository name" {
  cp -r "$FIXTURES/oci" "$TEST_DIR/My Image_v2"
  chmod -R a+rX "$TEST_DIR/My Image_v2"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/My Image_v2"
  assert_status 0
  assert_equal "$(images_field localhost/my-image-v2:latest digest)" "$EXPECTED_LATEST_DIGEST"
}

@test "load of a gzip-compressed OCI layout tar works as the plain tar does" {
  gzip -c "$FIXTURES/oci.tar" >"$TEST_DIR/busybox.tar.gz"
  chmod 644 "$TEST_DIR/busybox.tar.gz"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/busybox.tar.gz"
  assert_status 0
  # The name's stem is the file name up to its first dot.
  assert_equal "$(images_field localhost/busybox:latest digest)" "$EXPECTED_LATEST_DIGEST"
  assert_equal "$(images_field localhost/busybox:zstd digest)" "$EXPECTED_ZSTD_DIGEST"
}

# --- images, rmi, prune ---------------------------------------------------------

@test "images -q prints only the names, one a line" {
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  run --separate-stderr nsbox_user pull -q "$IMAGE:zstd"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_status 0
  assert_equal "$(sort <<<"$output")" "$(printf '%s\n' "$IMAGE:latest" "$IMAGE:zstd" | sort)"
}

@test "rmi removes the name; removing it again fails with 125 and 'not in the store'" {
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  run --separate-stderr nsbox_user rmi "$IMAGE:latest"
  assert_status 0
  assert_no_image
  run --separate-stderr nsbox_user rmi "$IMAGE:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"not in the store"* ]] || { _show_run; false; }
}

@test "image prune removes the blobs and layers no named image reaches, and keeps the rest" {
  fake_registry_start
  run --separate-stderr nsbox_user pull -q "$IMAGE:latest"
  assert_status 0
  run --separate-stderr nsbox_user pull -q "$FAKE/other/app:latest"
  assert_status 0
  # busybox: manifest, config, 3 layers; the fake image: manifest, config, 2.
  assert_equal "$(count_blobs)" 9
  assert_equal "$(count_layer_dirs)" 5
  run --separate-stderr nsbox_user rmi "$FAKE/other/app:latest"
  assert_status 0
  # rmi alone removes nothing but the name.
  assert_equal "$(count_blobs)" 9
  assert_equal "$(count_layer_dirs)" 5

  run --separate-stderr nsbox_user image prune
  assert_status 0
  assert_equal "$(count_blobs)" 5
  assert_equal "$(count_layer_dirs)" 3
  local blob d
  for blob in $EXPECTED_LATEST_DIGEST $EXPECTED_LATEST_CONFIG $EXPECTED_LATEST_LAYERS; do
    [[ -f $STORE/blobs/sha256/${blob#sha256:} ]] || { echo "prune removed $blob" >&2; false; }
  done
  for d in "${DIFF_IDS[@]}"; do [[ -d $(layer_dir "$d") ]]; done
  assert_equal "$(images_field "$IMAGE:latest" digest)" "$EXPECTED_LATEST_DIGEST"
  assert_no_temp_files
}

# --- hostile images ---------------------------------------------------------------

@test "a layer entry with a '..' component is refused and writes nothing outside the layer" {
  # Attack: "../escape" lands next to the layer dir, in layers/ itself; the
  # deeper one in the user's HOME.
  local name
  for name in ../escape ../../../../../escape; do
    hostile dotdot --name "$name"
    nsbox_user images >/dev/null
    BEFORE=$(snapshot_outside_store)
    run --separate-stderr nsbox_user load -i "$HOSTILE"
    assert_refused "leaves the layer"
    [[ ! -e $LAYERS/escape && ! -e $TEST_HOME/escape ]]
  done
}

@test "a layer entry with an absolute name is refused and writes nothing there" {
  # Attack: an absolute name in the tar header, pointing at a dir the user
  # may write to (/etc/evil would only fail for lack of permission).
  make_canary
  hostile absolute --name "$CANARY/evil"
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "leaves the layer"
  [[ ! -e $CANARY/evil ]]
}

@test "a symlink in a layer cannot carry a later entry outside the layer" {
  # Attack: "link" -> the canary dir (absolute, then relative: six '..' from
  # the layer dir under layers/ reach $TEST_DIR), then a file "link/evil".
  make_canary
  local target
  for target in "$CANARY" ../../../../../../canary; do
    hostile symlink-escape --target "$target"
    nsbox_user images >/dev/null
    BEFORE=$(snapshot_outside_store)
    run --separate-stderr nsbox_user load -i "$HOSTILE"
    assert_refused "outside the layer"
    [[ ! -e $CANARY/evil ]]
  done
}

@test "a hard link in a layer cannot reach a file outside the layer" {
  # Attack: "h" hard-linked to a file of the user's outside the store, by an
  # absolute and by a relative name: once in a layer, writing to it from a
  # sandbox would write the user's file.
  make_canary
  echo secret >"$CANARY/secret"
  chown "$TEST_UID:$TEST_GID" "$CANARY/secret"
  local target
  for target in "$CANARY/secret" ../../../../../../canary/secret; do
    hostile hardlink-escape --target "$target"
    nsbox_user images >/dev/null
    BEFORE=$(snapshot_outside_store)
    run --separate-stderr nsbox_user load -i "$HOSTILE"
    assert_refused "leaves the layer"
    assert_equal "$(stat -c %h "$CANARY/secret")" 1
  done
}

@test "a device node in a layer is left out with one notice, and the rest of the layer loads" {
  # Attack: a char device 8:0 (/dev/sda) that a sandbox could open.
  hostile device
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_status 0
  [[ $stderr == *"note: layer sha256:"*": 1 device node left out"* ]] || { _show_run; false; }
  [[ -z $(find "$LAYERS" \( -type b -o -type c \) -name sda) ]]
  [[ -n $(find "$LAYERS" -name ok.txt) ]]
}

@test "a layer blob whose content does not match its digest is refused" {
  # Attack: a blob swapped under the name of the digest the manifest pins.
  hostile bad-digest
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "does not match"
}

@test "a manifest that is not JSON is refused" {
  hostile not-json
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "JSON"
}

@test "an image config that is not JSON is refused" {
  hostile config-not-json
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "JSON"
}

@test "hostile layers pulled from a registry are refused as loaded ones are" {
  # The same attacks, through the registry client and pull's unpack.
  local kind why
  make_canary
  for kind in dotdot absolute symlink-escape hardlink-escape; do
    case $kind in
      dotdot) hostile dotdot; why="leaves the layer" ;;
      absolute) hostile absolute --name "$CANARY/evil"; why="leaves the layer" ;;
      symlink-escape) hostile symlink-escape --target "$CANARY"; why="outside the layer" ;;
      hardlink-escape) hostile hardlink-escape; why="leaves the layer" ;;
    esac
    fake_registry_start --layout "$HOSTILE"
    nsbox_user images >/dev/null
    BEFORE=$(snapshot_outside_store)
    run --separate-stderr nsbox_user pull -q "$FAKE/hostile/$kind:latest"
    assert_refused "$why"
    [[ ! -e $CANARY/evil ]]
  done
}

@test "a device node in a pulled layer is left out with a notice, as in a loaded one" {
  hostile device
  fake_registry_start --layout "$HOSTILE"
  run --separate-stderr nsbox_user pull -q "$FAKE/hostile/device:latest"
  assert_status 0
  [[ $stderr == *"1 device node left out"* ]] || { _show_run; false; }
  [[ -z $(find "$LAYERS" \( -type b -o -type c \) -name sda) ]]
}

# --- registry failures ---------------------------------------------------------------

@test "pull of a tag that does not exist fails with 125 and 'manifest unknown'" {
  run --separate-stderr nsbox_user pull -q "$IMAGE:no-such-tag"
  assert_status 125
  [[ $stderr == "nsbox: pull $IMAGE:no-such-tag: manifest unknown"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "pull from a registry that wants Basic auth fails without credentials with 125 and 'unauthorized'" {
  fake_registry_start --auth basic --user alice --password s3cret
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"unauthorized"* ]] || { _show_run; false; }
  assert_store_intact
}

# write_auth FILE HOST USER PASS: a docker/containers auth file for HOST.
write_auth() {
  local dir=${1%/*}
  as_user mkdir -p "$dir"
  as_user sh -c 'umask 077; cat >"$1"' sh "$1" <<EOF
{"auths": {"$2": {"auth": "$(printf '%s:%s' "$3" "$4" | base64 -w0)"}}}
EOF
}

@test "pull uses credentials from \$XDG_RUNTIME_DIR/containers/auth.json" {
  fake_registry_start --auth basic --user alice --password s3cret
  local run_dir=$TEST_DIR/run
  mkdir -m 700 "$run_dir"
  chown "$TEST_UID:$TEST_GID" "$run_dir"
  write_auth "$run_dir/containers/auth.json" "$FAKE" alice s3cret
  run --separate-stderr as_user env XDG_RUNTIME_DIR="$run_dir" "$NSBOX" pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$FAKE/nsbox-test/fake:latest"
}

@test "pull uses credentials from ~/.docker/config.json" {
  fake_registry_start --auth basic --user alice --password s3cret
  write_auth "$TEST_HOME/.docker/config.json" "$FAKE" alice s3cret
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$FAKE/nsbox-test/fake:latest"
}

@test "pull with credentials the registry refuses fails with 125 and says whose they were" {
  fake_registry_start --auth basic --user alice --password s3cret
  write_auth "$TEST_HOME/.docker/config.json" "$FAKE" alice wrong
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"unauthorized"*"config.json"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "pull gets a Bearer token with the user's credentials" {
  fake_registry_start --auth bearer --user alice --password s3cret
  write_auth "$TEST_HOME/.docker/config.json" "$FAKE" alice s3cret
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$FAKE/nsbox-test/fake:latest"
}

@test "credentials are not sent along a blob redirect to another host" {
  # Attack: a registry redirecting blob downloads to storage it does not
  # control, which would receive the user's password (fake-registry's
  # storage logs an Authorization header it gets and refuses the request).
  fake_registry_start --auth basic --user alice --password s3cret --redirect-blobs --log
  write_auth "$TEST_HOME/.docker/config.json" "$FAKE" alice s3cret
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 0
  grep -q 'GET /storage/' "$FAKE_LOG" || { cat "$FAKE_LOG" >&2; false; }
  ! grep -q 'storage got an Authorization header' "$FAKE_LOG" || { cat "$FAKE_LOG" >&2; false; }
}

@test "a registry that always answers 500 fails the pull with 125 naming HTTP 500" {
  fake_registry_start --manifest-status 500
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"HTTP 500"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "a blob that always answers 500 fails the pull with 125 naming HTTP 500" {
  fake_registry_start --blob-status 500
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"HTTP 500"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "transient failures are retried: two 503s, then the pull succeeds" {
  fake_registry_start --manifest-status 503 --fail-times 2
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$FAKE/nsbox-test/fake:latest"
}

@test "a connection closed in the middle of every blob fails the pull with 125" {
  fake_registry_start --close-mid-blob
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: pull $FAKE/nsbox-test/fake:latest: "* ]] || { _show_run; false; }
  assert_store_intact
}

@test "a connection closed in the middle of a blob once is retried and the pull succeeds" {
  fake_registry_start --close-mid-blob --fail-times 1
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 0
  assert_blobs_verify
  assert_no_temp_files
}

@test "a blob whose content does not match its digest fails the pull with 125" {
  # Attack: a registry (or a proxy) serving other bytes under a pinned digest.
  fake_registry_start --corrupt-blob
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"does not match"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "a manifest that is not JSON fails the pull with 125" {
  # e.g. a captive portal's HTML page.
  fake_registry_start --non-json-manifest
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"not a JSON object"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "a manifest pulled by digest must hash to that digest" {
  # Attack: a registry answering a pinned digest with other content.
  local digest
  fake_registry_start
  digest=sha256:$(curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
    "http://$FAKE/v2/nsbox-test/fake/manifests/latest" | sha256sum | cut -d' ' -f1)
  fake_registry_start --corrupt-manifest
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake@$digest"
  assert_status 125
  [[ $stderr == "nsbox: "*"$digest"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "a Docker-Content-Digest header that contradicts the manifest fails the pull with 125" {
  fake_registry_start --wrong-digest-header
  run --separate-stderr nsbox_user pull -q "$FAKE/nsbox-test/fake:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"Docker-Content-Digest"* ]] || { _show_run; false; }
  assert_store_intact
}

@test "an unreachable registry fails the pull with 125 and 'unreachable'" {
  local port
  port=$(free_port)
  run --separate-stderr nsbox_user pull -q "127.0.0.1:$port/nsbox-test/busybox:latest"
  assert_status 125
  [[ $stderr == "nsbox: "*"127.0.0.1:$port unreachable"* ]] || { _show_run; false; }
  assert_store_intact
}

# --- interruption and concurrency ------------------------------------------------------

# wait_partial_blob OUT: until a download in progress has more than 64 KiB in
# blobs/.tmp (OUT: the pull's output, shown if none appears).
wait_partial_blob() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -n $(find "$STORE/blobs/.tmp" -type f -size +64k 2>/dev/null) ]] && return 0
    sleep 0.05
  done
  echo "no partial blob appeared in 10 s; the pull said:" >&2
  cat "$1" >&2
  return 1
}

@test "a pull killed in the middle of a download leaves a store that works, and pulling again completes it" {
  # 4 MiB in 64 KiB chunks, 20 ms apart: about 1.3 s of download.
  fake_registry_start --layer-size 4194304 --blob-delay 20
  local ref=$FAKE/nsbox-test/slow:latest
  as_user_bg "$TEST_DIR/pull.out" "$NSBOX" pull -q "$ref"
  wait_partial_blob "$TEST_DIR/pull.out"
  kill -KILL "$BG_PID"
  wait "$BG_PID" || true

  assert_no_image
  assert_blobs_verify
  run --separate-stderr nsbox_user pull -q "$ref"
  assert_status 0
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$ref"
  assert_blobs_verify
  # What the killed pull left in blobs/.tmp goes with the next prune.
  run --separate-stderr nsbox_user image prune
  assert_status 0
  assert_no_temp_files
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$ref"
}

@test "two pulls of the same image at once both succeed and download each blob once" {
  fake_registry_start --log --layer-size 1048576 --blob-delay 10
  local ref=$FAKE/nsbox-test/fake:latest pid1 s1 s2
  as_user_bg "$TEST_DIR/pull1.out" "$NSBOX" pull -q "$ref"
  pid1=$BG_PID
  as_user_bg "$TEST_DIR/pull2.out" "$NSBOX" pull -q "$ref"
  wait_bg "$pid1" 30
  s1=$bg_status
  wait_bg "$BG_PID" 30
  s2=$bg_status
  assert_equal "$s1 $s2" "0 0" || { cat "$TEST_DIR/pull1.out" "$TEST_DIR/pull2.out" >&2; false; }
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$ref"
  local gets
  gets=$(grep -o 'GET /v2/[^ ]*/blobs/sha256:[0-9a-f]* -> 200' "$FAKE_LOG" | sort)
  # The config and two layers, each fetched by exactly one of the two.
  assert_equal "$(uniq <<<"$gets" | wc -l)" 3 || { cat "$FAKE_LOG" >&2; false; }
  assert_equal "$(uniq -d <<<"$gets")" "" || { cat "$FAKE_LOG" >&2; false; }
  assert_blobs_verify
  assert_no_temp_files
}

@test "image prune during a pull waits for it and removes nothing the pull needs" {
  fake_registry_start --layer-size 2097152 --blob-delay 20
  local ref=$FAKE/nsbox-test/slow:latest
  as_user_bg "$TEST_DIR/pull.out" "$NSBOX" pull -q "$ref"
  wait_partial_blob "$TEST_DIR/pull.out"
  run --separate-stderr nsbox_user image prune
  assert_status 0
  wait_bg "$BG_PID" 30
  assert_equal "$bg_status" 0 || { cat "$TEST_DIR/pull.out" >&2; false; }
  run --separate-stderr nsbox_user images -q
  assert_equal "$output" "$ref"
  # Manifest, config and two layers; both layers extracted.
  assert_equal "$(count_blobs)" 4
  assert_equal "$(count_layer_dirs)" 2
  assert_blobs_verify
}

# --- plain HTTP ---------------------------------------------------------------------------

@test "plain HTTP is refused for a registry that is not on the loopback" {
  # The attack: a registry that is not on this machine answers over plain
  # HTTP, where anyone on the path could swap what it serves.  The test host
  # is 203.0.113.2 in a network namespace of the test's own.
  ((EUID == 0)) || skip "needs root to make a network namespace for the test host"
  local ns=nsbox-it-$$ port_file port i
  ip netns add "$ns"
  echo "ip netns del $ns" >>"$TEST_DIR/.netns"
  ip -n "$ns" link set lo up
  # On lo it is this namespace's own address; nsbox only sees a name that is
  # not a loopback one.
  ip -n "$ns" addr add 203.0.113.2/32 dev lo
  port_file=$TEST_DIR/netns-registry.port
  ip netns exec "$ns" python3 "$FAKE_REGISTRY_PY" --address 203.0.113.2 --port 0 \
    >"$port_file" 2>"$port_file.log" </dev/null 3>&- &
  echo "$!" >>"$TEST_DIR/.fake-registry-pids"
  for ((i = 0; i < 200; i++)); do
    port=$(head -n 1 "$port_file")
    [[ $port =~ ^[0-9]+$ ]] && break
    sleep 0.05
  done
  [[ $port =~ ^[0-9]+$ ]] || { cat "$port_file.log" >&2; false; }

  local _user_env _user_prefix
  _as_user_env
  _as_user_prefix
  run ip netns exec "$ns" "${_user_prefix[@]}" env -i "${_user_env[@]}" \
    timeout 60 "$NSBOX" pull -q "203.0.113.2:$port/test/img:latest"
  assert_status 125
  assert_output_has "insecure"
  run ip netns exec "$ns" "${_user_prefix[@]}" env -i "${_user_env[@]}" \
    timeout 60 "$NSBOX" pull -q --insecure-registry "203.0.113.2:$port" \
    "203.0.113.2:$port/test/img:latest"
  assert_status 0
}

@test "--insecure-registry is accepted, by host:port and by host" {
  run --separate-stderr nsbox_user pull -q --insecure-registry "$REGISTRY" "$IMAGE:latest"
  assert_status 0
  run --separate-stderr nsbox_user pull -q --insecure-registry 127.0.0.1 "$IMAGE:zstd"
  assert_status 0
  assert_equal "$(images_field "$IMAGE:latest" digest)" "$EXPECTED_LATEST_DIGEST"
  assert_equal "$(images_field "$IMAGE:zstd" digest)" "$EXPECTED_ZSTD_DIGEST"
}

@test "insecure-registries in \$XDG_CONFIG_HOME/nsbox/config.json is read, and a malformed one refused" {
  local config=$TEST_HOME/config
  as_user mkdir -p "$config/nsbox"
  as_user sh -c 'printf "%s\n" "$2" >"$1"' sh "$config/nsbox/config.json" "{\"insecure-registries\": [\"$REGISTRY\"]}"
  run --separate-stderr as_user env XDG_CONFIG_HOME="$config" "$NSBOX" pull -q "$IMAGE:latest"
  assert_status 0
  as_user sh -c 'printf "%s\n" "$2" >"$1"' sh "$config/nsbox/config.json" '{"insecure-registries": "127.0.0.1"}'
  run --separate-stderr as_user env XDG_CONFIG_HOME="$config" "$NSBOX" pull -q "$IMAGE:zstd"
  assert_status 125
  [[ $stderr == "nsbox: $config/nsbox/config.json: insecure-registries"* ]] || { _show_run; false; }
}

@test "image prune removes the lock files that finished pulls left" {
  run --separate-stderr nsbox_user pull -q "$REGISTRY/nsbox-test/busybox:latest"
  assert_status 0
  run --separate-stderr nsbox_user pull -q "$REGISTRY/nsbox-test/busybox:no-such-tag"
  assert_status 125
  compgen -G "$STORE/.pull-*.lock" >/dev/null
  run --separate-stderr nsbox_user image prune
  assert_status 0
  ! compgen -G "$STORE/.pull-*.lock" >/dev/null
}
