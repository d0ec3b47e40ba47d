# Helpers for the image tests (image.bats):  load image_helpers
#
# Needs helpers.bash loaded first, and image_paths called from setup() (after
# nsbox_setup).
#
# Provided
#   image_paths            set DATA (the user's nsbox data dir), STORE (its
#                          OCI layout) and LAYERS (one dir per diff_id)
#   nsbox_user ARGS...     as_user "$NSBOX" ARGS...
#   images_field NAME KEY  KEY of image NAME in `nsbox images --json` (a list
#                          printed space-separated); fails if NAME is absent
#   json_image_field JSON NAME KEY   the same, from `images --json` output JSON
#   fake_registry_start [ARGS...]
#                          start tests/fake-registry.py on 127.0.0.1 (any free
#                          port), log to $FAKE_LOG; sets FAKE=127.0.0.1:PORT.
#                          Every one started is stopped by fake_registry_stop_all
#                          (call it from teardown before nsbox_teardown).
#   free_port              print a 127.0.0.1 port nothing listens on
#   layer_dir DIFF_ID      $LAYERS/<hex>
#   count_blobs, count_layer_dirs
#   wait_bg PID SECONDS    wait for a background child, set $bg_status;
#                          kill it and fail if it runs longer
#   assert_no_image        `nsbox images -q` succeeds and lists nothing
#   assert_blobs_verify    every file in blobs/sha256 hashes to its name
#   assert_no_temp_files   no temp file anywhere in the data dir: no .tmp-*
#                          layer dir, no *.tmp-* file, blobs/.tmp empty
#   assert_store_intact    the three above together: what a failed pull or
#                          load must leave
#   make_canary            $CANARY: a user-owned dir outside the store
#   hostile KIND [ARGS...] an OCI layout from hostile-layer.py in $HOSTILE
#   snapshot_outside_store everything under $TEST_DIR but the store
#   assert_refused WHY     the last run was a clean refusal saying WHY

# shellcheck disable=SC2034 # FAKE, FAKE_LOG, bg_status, HOSTILE_LAYER_PY: for the tests
FAKE_REGISTRY_PY=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)/fake-registry.py
HOSTILE_LAYER_PY=$(cd "${BASH_SOURCE[0]%/*}/../fixtures" && pwd)/hostile-layer.py

image_paths() {
  DATA=$TEST_HOME/.local/share/nsbox
  STORE=$DATA/store
  LAYERS=$DATA/layers
}

nsbox_user() {
  as_user "$NSBOX" "$@"
}

images_field() {
  local json
  json=$(nsbox_user images --json) || return 1
  json_image_field "$json" "$1" "$2"
}

json_image_field() {
  python3 -c '
import json, sys
name, key = sys.argv[1], sys.argv[2]
for image in json.loads(sys.stdin.read()):
    if image["name"] == name:
        value = image.get(key)
        print(" ".join(value) if isinstance(value, list) else value)
        sys.exit(0)
sys.exit("images --json: no image named %s" % name)
' "$2" "$3" <<<"$1"
}

layer_dir() {
  printf '%s/%s\n' "$LAYERS" "${1#sha256:}"
}

count_blobs() {
  find "$STORE/blobs/sha256" -mindepth 1 -maxdepth 1 -type f 2>/dev/null | wc -l
}

count_layer_dirs() {
  find "$LAYERS" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
}

# --- the fake registry ---------------------------------------------------------

fake_registry_start() {
  local port_file pid i port
  port_file=$(mktemp "$TEST_DIR/fake-registry.XXXXXX")
  FAKE_LOG=$port_file.log
  # 3>&-: bats waits for whatever holds its fd 3 open.
  python3 "$FAKE_REGISTRY_PY" --address 127.0.0.1 --port 0 "$@" \
    >"$port_file" 2>"$FAKE_LOG" </dev/null 3>&- &
  pid=$!
  echo "$pid" >>"$TEST_DIR/.fake-registry-pids"
  for ((i = 0; i < 200; i++)); do
    port=$(head -n 1 "$port_file")
    if [[ $port =~ ^[0-9]+$ ]]; then
      FAKE=127.0.0.1:$port
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "fake-registry.py $* exited:" >&2
      cat "$FAKE_LOG" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "fake-registry.py $* printed no port in 10 s" >&2
  return 1
}

fake_registry_stop_all() {
  local pid
  [[ -n ${TEST_DIR-} && -f $TEST_DIR/.fake-registry-pids ]] || return 0
  while read -r pid; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done <"$TEST_DIR/.fake-registry-pids"
  rm -f "$TEST_DIR/.fake-registry-pids"
  return 0
}

free_port() {
  # Bound and closed again: nothing listens there now.
  python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

wait_bg() {
  local pid=$1 i state
  for ((i = 0; i < $2 * 20; i++)); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
    [[ $state == Z ]] && break
    sleep 0.05
  done
  bg_status=0
  if [[ -n $state && $state != Z ]]; then
    echo "pid $pid still running after $2 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid" || bg_status=$?
}

# --- what every failure must leave ---------------------------------------------

assert_no_image() {
  local out rc=0
  out=$(nsbox_user images -q 2>&1) || rc=$?
  if ((rc != 0)) || [[ -n $out ]]; then
    echo "expected 'nsbox images -q' to succeed and list nothing; status $rc, output:" >&2
    printf '%s\n' "$out" | sed 's/^/  | /' >&2
    return 1
  fi
}

assert_blobs_verify() {
  local f sum bad=0
  for f in "$STORE"/blobs/sha256/*; do
    [[ -e $f ]] || continue
    sum=$(sha256sum <"$f")
    sum=${sum%% *}
    if [[ $sum != "${f##*/}" ]]; then
      echo "blobs/sha256/${f##*/} holds content whose sha256 is $sum" >&2
      bad=1
    fi
  done
  return "$bad"
}

assert_no_temp_files() {
  local left
  left=$(find "$DATA" -path "$STORE/blobs/.tmp" -prune -o \
    \( -name '.tmp*' -o -name '*.tmp' -o -name '*.tmp-*' \) -print 2>/dev/null)
  if [[ -n $left ]]; then
    echo "temp files left in the data dir:" >&2
    printf '  %s\n' "$left" >&2
    return 1
  fi
  left=$(ls -A "$STORE/blobs/.tmp" 2>/dev/null)
  if [[ -n $left ]]; then
    echo "files left in $STORE/blobs/.tmp:" >&2
    printf '  %s\n' "$left" >&2
    return 1
  fi
}

assert_store_intact() {
  assert_no_image && assert_blobs_verify && assert_no_temp_files
}

# --- hostile images (tests/fixtures/hostile-layer.py) ---------------------------

# A user-owned dir outside the store where an escaping entry would land.
make_canary() {
  CANARY=$TEST_DIR/canary
  mkdir -m 755 "$CANARY"
  chown "$TEST_UID:$TEST_GID" "$CANARY"
}

# hostile KIND [ARGS...]: an OCI layout at $TEST_DIR/hostile-KIND-N, in
# $HOSTILE (nsbox load names it localhost/hostile-KIND-N:latest).
hostile() {
  local kind=$1
  shift
  HOSTILE_N=$((${HOSTILE_N:-0} + 1))
  HOSTILE=$TEST_DIR/hostile-$kind-$HOSTILE_N
  mkdir -m 755 "$HOSTILE"
  python3 "$HOSTILE_LAYER_PY" "$kind" "$HOSTILE" "$@" >/dev/null
  chmod -R a+rX "$HOSTILE"
}

# Everything under $TEST_DIR but the store's own OCI layout (which a refused
# image may still add verified blobs to): the layers dir, HOME, the canary.
snapshot_outside_store() {
  find "$TEST_DIR" -path "$STORE" -prune -o -print 2>/dev/null | sort
}

# assert_refused WHY: the last `run` was a refusal, exit 125 with a message
# containing WHY; no image was named, no layer dir (half-written or not) is
# left, every blob verifies, and nothing outside the store changed since
# $BEFORE (a snapshot_outside_store).
assert_refused() {
  assert_status 125
  [[ $stderr == "nsbox: "* ]] || { _show_run; return 1; }
  [[ $stderr == *"$1"* ]] || { echo "expected the message to say: $1" >&2; _show_run; return 1; }
  assert_store_intact
  assert_equal "$(count_layer_dirs)" 0
  assert_equal "$(snapshot_outside_store)" "$BEFORE"
}
