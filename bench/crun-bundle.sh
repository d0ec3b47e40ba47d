#!/bin/sh
# Make a rootless crun bundle equivalent to nsbox's host template and bwrap's command line:
# empty read-only rootfs, /usr and /etc bound read-only, /bin /lib /lib64 /sbin as on the host
# (symlinks into usr on merged-/usr systems, read-only binds otherwise), private /tmp, the
# workspace bound at its own path and used as cwd, process `/bin/sh -c true`, no terminal.
# Namespaces from `crun spec --rootless`: user mount pid uts ipc net.
#
# usage: crun-bundle.sh BUNDLE_DIR WORKSPACE HOSTID [root]
# HOSTID is the id crun will see for the user: 0 when crun runs inside the `unshare -Urm`
# wrapper that hides the cgroup2 mount (the wrapper's 0 is the user's id on the host).
set -eu
bundle=$1 ws=$2 hostid=$3 kind=${4:-rootless}
mkdir -p "$bundle/rootfs"
cd "$bundle"
rm -f config.json
if [ "$kind" = root ]; then crun spec; else crun spec --rootless; fi
binds="/usr /etc"
for d in bin lib lib64 sbin; do
	if [ -L "/$d" ]; then
		ln -sfn "$(readlink "/$d")" "rootfs/$d"
	elif [ -d "/$d" ]; then
		binds="$binds /$d"
	fi
done
mkdir -p rootfs/usr rootfs/etc rootfs/tmp rootfs/proc rootfs/dev rootfs/sys "rootfs$ws"
python3 - "$ws" "$hostid" "$kind" $binds <<'EOF'
import json, sys
ws, hostid, kind, binds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
c = json.load(open("config.json"))
p = c["process"]
p.update(terminal=False, args=["/bin/sh", "-c", "true"], cwd=ws)
# no cgroup mount: nsbox, like bwrap, needs no cgroup unless limits are asked for
m = [x for x in c["mounts"] if x["destination"] != "/sys/fs/cgroup"]
for d in binds:
    m.append({"destination": d, "type": "bind", "source": d,
              "options": ["rbind", "ro", "nosuid", "nodev"]})
m.append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
          "options": ["nosuid", "nodev", "mode=1777"]})
m.append({"destination": ws, "type": "bind", "source": ws, "options": ["rbind", "rw"]})
c["mounts"] = m
if kind != "root":
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": hostid, "size": 1}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": hostid, "size": 1}]
json.dump(c, open("config.json", "w"), indent=1)
EOF
