#!/bin/sh
# Install what nsbox needs to build and test on Debian 12 (bookworm).
#
#   sh tests/deps.sh           build + test packages
#   sh tests/deps.sh --bench   also the peers `make bench` compares against
#
# Fast when there is nothing to do: packages already installed are found with
# dpkg-query and apt-get is not run at all.  A user with sudo is asked for
# it; without sudo it only prints the command to run and exits 1.
set -eu

# Build: compiler and the libraries the Makefile asks pkg-config for (c-ares
# for the egress proxy plugin).
# Test: cmocka (unit), bats (integration), uidmap (newuidmap/newgidmap for the
# subordinate-id user), busybox-static (offline test images), python3 (socket
# probes in tests), procps (ps, used by bats' test timeout), util-linux
# (setpriv, script's pty via bsdutils, flock, ipcmk), iproute2 (ip); zstd,
# docker-registry and skopeo build and serve the offline test images; podman,
# conmon and slirp4netns, and containerd, drive nsbox-oci as real engines do;
# user-mode-linux boots the pure cgroup v2 kernel the cgroup suite runs in;
# clang builds the fuzz targets CI runs briefly; passt (pasta) gives
# --network open its rootless network, curl is the network suite's client;
# libsystemd-dev (sd-bus, for nsbox-systemd.so) and dbus-daemon (the
# private bus of the systemd stand-in in tests): the systemd way to a cgroup.
REQUIRED="build-essential pkg-config
libseccomp-dev libcap-dev libmount-dev libjansson-dev libgit2-dev
libcurl4-openssl-dev libarchive-dev libssl-dev libzstd-dev zlib1g-dev
libc-ares-dev libcmocka-dev bats uidmap busybox-static python3 procps util-linux iproute2
zstd docker-registry skopeo podman conmon slirp4netns containerd
user-mode-linux clang passt curl libsystemd-dev dbus-daemon"

# Only for `make bench`: the runtimes nsbox is measured against.
BENCH="hyperfine bubblewrap crun runc"

want=$REQUIRED
case "${1-}" in
  --bench | --all) want="$REQUIRED $BENCH" ;;
  "") ;;
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  *)
    echo "deps.sh: unknown option '$1' (try --help)" >&2
    exit 2
    ;;
esac

missing=
for pkg in $want; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing="$missing $pkg"
done
missing=${missing# }

if [ -z "$missing" ]; then
  echo "deps: all packages installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  echo "deps: installing as root with sudo: $missing"
  exec sudo sh "$0" "$@"
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: $missing" >&2
  echo "deps: run as root:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: installing: $missing"

# docker-registry's package would start a registry on :5000; the tests start
# their own on 127.0.0.1.  A policy-rc.d that says no keeps it from starting.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
trap '[ "$own_policy" -eq 0 ] || rm -f "$policy"' EXIT

# Refresh the package lists only when they are absent or older than a day;
# otherwise try with what we have and refresh once if that fails (a stale list
# can name .debs the mirror no longer has).
fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)
updated=0
if [ -z "$fresh" ]; then
  apt-get update
  updated=1
fi
# shellcheck disable=SC2086 # $missing is a word list on purpose
if ! apt-get install -y --no-install-recommends $missing; then
  [ "$updated" -eq 0 ] || exit 1
  apt-get update
  apt-get install -y --no-install-recommends $missing
fi
