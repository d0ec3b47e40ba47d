#!/usr/bin/env bats
# The image store under hostile input (nsbox-load(1), nsbox-images(1)): what
# a user, a colleague's tarball or an image an agent built can throw at
# `nsbox load` -- files that are not files, trees deeper than a process has
# descriptors, nested indexes, archives padded with what no image needs,
# names with terminal escapes -- gets a clear refusal or is handled, and the
# store stays one that works: no temp dir left, and prune can always finish.
#
# The images come from tests/fixtures/hostile-layer.py; no registry is needed.

bats_require_minimum_version 1.5.0
load helpers
load image_helpers

setup() {
  nsbox_setup
  image_paths
}

teardown() {
  nsbox_teardown
}

# manifest_of LAYOUT: the digest index.json names;  layer_of LAYOUT: the
# first layer's digest of the (non-nested) manifest.
manifest_of() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1] + "/index.json"))["manifests"][0]["digest"])' "$1"
}
layer_of() {
  python3 - "$1" <<'EOF'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/index.json"))["manifests"][0]["digest"]
print(json.load(open(d + "/blobs/sha256/" + m[7:]))["layers"][0]["digest"])
EOF
}

# Fails the test if the last `run` took longer than it should: a hang.
assert_quick() {
  [[ $status -ne 124 ]] || { echo "nsbox hung (killed by timeout)" >&2; return 1; }
}

@test "a blob that is a FIFO is refused at once instead of waited on" {
  # Attack: a FIFO planted under the layer's digest in a layout dir (and a
  # FIFO given as the archive): a blocking open would wait for a writer
  # forever.
  hostile junk --size 0
  local layer
  layer=$(layer_of "$HOSTILE")
  rm "$HOSTILE/blobs/sha256/${layer#sha256:}"
  mkfifo -m 644 "$HOSTILE/blobs/sha256/${layer#sha256:}"
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr as_user timeout 20 "$NSBOX" load -i "$HOSTILE"
  assert_quick
  assert_refused "a FIFO, not a regular file"

  mkfifo -m 644 "$TEST_DIR/archive.tar"
  run --separate-stderr as_user timeout 20 "$NSBOX" load -i "$TEST_DIR/archive.tar"
  assert_quick
  assert_status 125
  [[ $stderr == *"archive.tar: a FIFO, not a regular file"* ]] || { _show_run; false; }
}

@test "a blob that is a symlink is refused, not followed" {
  # Attack: the layer's blob name is a symlink to a file of the user's.
  hostile junk --size 0
  local layer
  layer=$(layer_of "$HOSTILE")
  rm "$HOSTILE/blobs/sha256/${layer#sha256:}"
  ln -s /etc/passwd "$HOSTILE/blobs/sha256/${layer#sha256:}"
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "a symbolic link, not a regular file"
}

@test "an image with a tree deeper than the descriptor limit loads, and prune removes it after rmi" {
  # 1500 nested dirs: one open fd a level would pass the usual limit (1024;
  # 256 here to make sure).
  hostile deep --depth 1500
  run --separate-stderr as_user sh -c 'ulimit -n 256 && exec "$@"' sh "$NSBOX" load -i "$HOSTILE"
  assert_status 0
  # The bottom file made it, 1500 levels down.
  [[ $(find "$LAYERS" -name bottom | wc -l) -eq 1 ]]
  run --separate-stderr nsbox_user rmi "localhost/$(basename "$HOSTILE"):latest"
  assert_status 0
  run --separate-stderr as_user sh -c 'ulimit -n 256 && exec "$@"' sh "$NSBOX" image prune
  assert_status 0
  assert_equal "$(count_layer_dirs)" 0
  assert_store_intact
}

@test "a layer refused after a deep tree leaves no temp dir behind" {
  # The refusal comes after 1500 levels were written: all of it must go.
  hostile deep-then-dotdot --depth 1500
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr as_user sh -c 'ulimit -n 256 && exec "$@"' sh "$NSBOX" load -i "$HOSTILE"
  assert_refused "leaves the layer"
}

@test "what a killed extraction left is removed by the next load of that layer and by prune" {
  # A killed nsbox leaves layers/.tmp-<diff_id>-XXXXXX (no process holds its
  # lock any more): here two such dirs, deep and read-only as layers are.
  hostile junk --size 0
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_status 0
  local hex
  hex=$(basename "$(find "$LAYERS" -mindepth 1 -maxdepth 1 -type d | head -1)")
  run --separate-stderr nsbox_user rmi "localhost/$(basename "$HOSTILE"):latest"
  run --separate-stderr nsbox_user image prune
  assert_status 0
  local stale
  for stale in ".tmp-$hex-AAAAAA" ".tmp-$(printf 'e%.0s' $(seq 64))-BBBBBB"; do
    as_user sh -c 'mkdir -p "$1/$(printf "d/%.0s" $(seq 1200))" && chmod -R a-w "$1"' sh "$LAYERS/$stale"
  done
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_status 0
  [[ ! -e $LAYERS/.tmp-$hex-AAAAAA ]]
  [[ -e $LAYERS/.tmp-$(printf 'e%.0s' $(seq 64))-BBBBBB ]]
  run --separate-stderr nsbox_user image prune
  assert_status 0
  assert_no_temp_files
}

@test "an index that points to another index loads as the platform's manifest" {
  hostile nested-index --depth 3
  local manifest
  manifest=$(python3 "$HOSTILE_LAYER_PY" nested-index "$TEST_DIR/again" --depth 3)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_status 0
  [[ $output == "Loaded localhost/$(basename "$HOSTILE"):latest $manifest" ]] || { _show_run; false; }
}

@test "indexes nested deeper than 4 are refused saying so" {
  hostile nested-index --depth 5
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "indexes nested more than 4 deep"
}

@test "an index.json entry without a mediaType is refused before anything is extracted" {
  # Found by the fuzzer: the tag step refused it, after every layer was
  # extracted, and the layers stayed until a prune.
  hostile junk --size 0
  python3 -c 'import json,sys; p=sys.argv[1]+"/index.json"; j=json.load(open(p)); del j["manifests"][0]["mediaType"]; json.dump(j, open(p, "w"))' "$HOSTILE"
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "a descriptor without a mediaType or a size"
}

@test "a config whose diff_ids do not match the layers is refused naming both counts" {
  hostile diff-id-mismatch
  nsbox_user images >/dev/null
  BEFORE=$(snapshot_outside_store)
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_refused "the config lists 2 diff_ids for 1 layers"
}

@test "an OCI archive keeps in the store only what its images reference" {
  # Attack: 256 MiB of zeros in a non-blob file and in a blob nothing names,
  # a few hundred kB once compressed.
  hostile junk --size $((256 << 20))
  (cd "$HOSTILE" && tar -cf - .) | gzip -9 >"$TEST_DIR/junk.tar.gz"
  chmod 644 "$TEST_DIR/junk.tar.gz"
  [[ $(stat -c %s "$TEST_DIR/junk.tar.gz") -lt $((2 << 20)) ]]
  run --separate-stderr nsbox_user load -i "$TEST_DIR/junk.tar.gz"
  assert_status 0
  # The image's three blobs (manifest, config, layer), nothing else.
  assert_equal "$(count_blobs)" 3
  [[ $(du -sm "$STORE" | cut -f1) -lt 2 ]] || { du -sh "$STORE" >&2; false; }
  assert_no_temp_files
  # The layout dir loads only what it references, too.
  run --separate-stderr nsbox_user rmi "localhost/junk:latest"
  run --separate-stderr nsbox_user image prune
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_status 0
  assert_equal "$(count_blobs)" 3
  assert_no_temp_files
}

@test "a failed load of an archive leaves nothing of it in the store" {
  # The layer blob of the archive is missing: refused, and the archive's
  # other files do not stay behind.
  hostile junk --size $((1 << 20))
  rm "$HOSTILE/blobs/sha256/$(layer_of "$HOSTILE" | cut -d: -f2)"
  (cd "$HOSTILE" && tar -cf - .) >"$TEST_DIR/broken.tar"
  chmod 644 "$TEST_DIR/broken.tar"
  run --separate-stderr nsbox_user load -i "$TEST_DIR/broken.tar"
  assert_status 125
  [[ $stderr == *"is not in the archive"* ]] || { _show_run; false; }
  assert_store_intact
  # What the image needed may stay (verified, prune's to remove); the
  # archive's junk (a 1 MiB file and blob) does not.
  assert_equal "$(find "$STORE" -type f -size +512k | wc -l)" 0
}

@test "control characters in a reference or a parse error reach the terminal escaped" {
  # Attack: a name that moves the cursor, colours the terminal and fakes a
  # line of output; a config file whose parse error quotes a DEL byte.
  run --separate-stderr nsbox_user pull $'evil\e[31mRED\nnsbox: all good'
  assert_status 125
  [[ $stderr != *$'\e'* && $stderr != *$'\n'* ]] || { _show_run; false; }
  [[ $stderr == *'evil\x1b[31mRED\x0ansbox: all good'* ]] || { _show_run; false; }

  local config=$TEST_HOME/config
  as_user mkdir -p "$config/nsbox"
  as_user sh -c 'printf "{\"insecure-registries\": [\177]}" >"$1"' sh "$config/nsbox/config.json"
  run --separate-stderr as_user env XDG_CONFIG_HOME="$config" "$NSBOX" pull -q 127.0.0.1:1/x
  assert_status 125
  [[ $stderr != *$'\177'* && $stderr == *'\x7f'* ]] || { _show_run; false; }
}

@test "image names and dates from the store are printed escaped" {
  # Attack: an image whose config's "created" holds a terminal escape.
  hostile junk --size 0
  python3 - "$HOSTILE" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(d, "blobs/sha256", h), "wb").write(data)
    return "sha256:" + h, len(data)
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
cfg = json.load(open(d + "/blobs/sha256/" + m["config"]["digest"][7:]))
cfg["created"] = "2024\u001b[2J\u001b]0;pwned\u0007"
m["config"]["digest"], m["config"]["size"] = blob(json.dumps(cfg).encode())
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = blob(json.dumps(m).encode())
json.dump(idx, open(d + "/index.json", "w"))
EOF
  chmod -R a+rX "$HOSTILE"
  run --separate-stderr nsbox_user load -i "$HOSTILE"
  assert_status 0
  run --separate-stderr nsbox_user images
  assert_status 0
  [[ $output != *$'\e'* && $output == *'2024\x1b[2J'* ]] || { _show_run; false; }
}
