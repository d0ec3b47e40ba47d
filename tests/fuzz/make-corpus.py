#!/usr/bin/env python3
"""Write the seed corpora of the `nsbox load` fuzz harnesses.

    make-corpus.py OUTDIR

OUTDIR/archive/  inputs of fuzz_load_archive (`nsbox load -i in.tar`):
  oci-gzip.tar       an OCI layout tar, one gzip'd layer
  oci-plain.tar      the same with the layer uncompressed
  oci-nested.tar     index.json -> an image index -> the manifest
  docker-save.tar    a `docker save` tar: manifest.json (Config, RepoTags,
                     Layers), <id>.json, <id>/layer.tar, repositories
  docker-save.tar.gz the same, gzip'd (load decompresses the whole archive)
  docker-untagged.tar  no RepoTags: named after the file
OUTDIR/layout/   inputs of fuzz_load_layout: two flag bytes (see the harness)
  and a raw layer tar; the harness builds the layout around it.
OUTDIR/json/     inputs of fuzz_load_json: the manifest, config and (maybe)
  index.json text, NUL-separated, with @TOKEN@s for digests (see the harness).

The layer of every seed holds a directory, regular files, a symlink, a
whiteout (.wh.x) and an opaque marker (.wh..wh..opq); the layout seeds add
the attacks extraction must refuse (.., absolute names, a symlinked parent,
a hard link out of the layer, a device node) and shapes that stress it (a
read-only directory, a directory replaced by a file, long names).  Only the
standard library; the output is the same on every run; each file < 64 KiB.
"""

import gzip
import hashlib
import io
import json
import os
import platform
import sys
import tarfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
        "i686": "386"}.get(platform.machine(), platform.machine())
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """A tar of ENTRIES (tarinfo, data) without the padding to 10 KiB."""
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=fmt)
    for ti, data in entries:
        ti.mtime = ti.mtime or 1700000000
        tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    tf.close()
    return buf.getvalue()[:tf.offset]


def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="",
          uid=0, gid=0, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
        ti.size = len(data)
        return ti, data
    return ti, None


def basic_layer():
    return [
        entry("etc/", tarfile.DIRTYPE, mode=0o755),
        entry("etc/hostname", data=b"fuzz\n"),
        entry("etc/.wh..wh..opq"),
        entry("hello.txt", data=b"hello, world\n", mode=0o600, uid=1000),
        entry("bin/", tarfile.DIRTYPE, mode=0o755),
        entry("bin/sh", data=b"#!/bin/true\n", mode=0o755),
        entry("link", tarfile.SYMTYPE, link="hello.txt"),
        entry("hard", tarfile.LNKTYPE, link="hello.txt"),
        entry(".wh.x"),
    ]


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def js(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def config_for(layers):
    return js({"architecture": ARCH, "os": "linux", "config": {},
               "rootfs": {"type": "layers",
                          "diff_ids": [sha(t) for t in layers]}})


def oci_layout_tar(layer, compress, nested=False):
    blob = gz(layer) if compress else layer
    config = config_for([layer])
    mt_layer = "application/vnd.oci.image.layer.v1.tar" + (
        "+gzip" if compress else "")
    manifest = js({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                   "config": {"mediaType": MT_CONFIG, "digest": sha(config),
                              "size": len(config)},
                   "layers": [{"mediaType": mt_layer, "digest": sha(blob),
                               "size": len(blob)}]})
    blobs = [blob, config, manifest]
    top, top_mt = manifest, MT_MANIFEST
    if nested:
        top = js({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
            {"mediaType": MT_MANIFEST, "digest": sha(manifest),
             "size": len(manifest),
             "platform": {"architecture": ARCH, "os": "linux"}}]})
        top_mt = MT_INDEX
        blobs.append(top)
    index = js({"schemaVersion": 2, "manifests": [
        {"mediaType": top_mt, "digest": sha(top), "size": len(top),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]})
    entries = [entry("oci-layout", data=b'{"imageLayoutVersion":"1.0.0"}'),
               entry("index.json", data=index),
               entry("blobs/", tarfile.DIRTYPE, mode=0o755),
               entry("blobs/sha256/", tarfile.DIRTYPE, mode=0o755)]
    entries += [entry("blobs/sha256/" + sha(b)[7:], data=b) for b in blobs]
    return tar_bytes(entries)


def docker_save_tar(layer, tags=("fuzz/seed:1",)):
    config = config_for([layer])
    cid = sha(config)[7:]
    lid = sha(layer)[7:]
    manifest = js([{"Config": cid + ".json", "RepoTags": list(tags),
                    "Layers": [lid + "/layer.tar"]}])
    return tar_bytes([
        entry(lid + "/", tarfile.DIRTYPE, mode=0o755),
        entry(lid + "/VERSION", data=b"1.0"),
        entry(lid + "/layer.tar", data=layer),
        entry(cid + ".json", data=config),
        entry("manifest.json", data=manifest),
        entry("repositories", data=js({"fuzz/seed": {"1": lid}})),
    ], fmt=tarfile.USTAR_FORMAT)


def layout_seeds(basic):
    long_name = "d/" + "n" * 200 + "/" + "f" * 120
    seeds = {
        "plain": (0x00, 0x00, basic),
        "gzip": (0x01, 0x00, basic),
        "nested-index": (0x05, 0x00, basic),
        "docker-types": (0x03, 0x00, basic),
        "ctrl-annotations": (0x41, 0x00, basic),
        "gnu-format": (0x00, 0x00, tar_bytes(basic_layer(), tarfile.GNU_FORMAT)),
        "dotdot": (0x00, 0x00, tar_bytes(
            [entry("ok.txt", data=b"ok"), entry("../escape", data=b"x")])),
        "absolute": (0x00, 0x00, tar_bytes(
            [entry("ok.txt", data=b"ok"), entry("/tmp/evil", data=b"x")])),
        "symlink-escape": (0x00, 0x00, tar_bytes(
            [entry("link", tarfile.SYMTYPE, link="../../../../.."),
             entry("link/canary/evil", data=b"x")])),
        "hardlink-escape": (0x00, 0x00, tar_bytes(
            [entry("h", tarfile.LNKTYPE, link="../../../../etc/passwd")])),
        "device": (0x00, 0x00, tar_bytes(
            [entry("dev/sda", tarfile.CHRTYPE, dev=(8, 0))])),
        "fifo": (0x00, 0x00, tar_bytes(
            [entry("run/", tarfile.DIRTYPE, mode=0o755),
             entry("run/fifo", tarfile.FIFOTYPE, mode=0o600)])),
        "read-only-dir": (0x00, 0x00, tar_bytes(
            [entry("ro/", tarfile.DIRTYPE, mode=0o500),
             entry("ro/file", data=b"x", mode=0o400),
             entry("noexec/", tarfile.DIRTYPE, mode=0o000),
             entry("noexec/inner/", tarfile.DIRTYPE, mode=0o000)])),
        "replace": (0x00, 0x00, tar_bytes(
            [entry("a/", tarfile.DIRTYPE), entry("a/b", data=b"1"),
             entry("a", data=b"now a file"),
             entry("a/", tarfile.DIRTYPE), entry("a", tarfile.SYMTYPE,
                                                link="/etc")])),
        "long-names": (0x00, 0x00, tar_bytes(
            [entry(long_name, data=b"long"),
             entry("l", tarfile.SYMTYPE, link="t" * 300)])),
        "whiteouts": (0x00, 0x00, tar_bytes(
            [entry(".wh..wh..opq"), entry("d/.wh.gone"), entry(".wh..wh.plnk"),
             entry("e/.wh..wh..opq"), entry(".wh.."), entry("d/.wh.")])),
    }
    return {name: bytes([f0, f1]) + tar for name, (f0, f1, tar) in
            seeds.items()}


def json_seeds():
    """Inputs of fuzz_load_json: MANIFEST NUL CONFIG [NUL INDEX], with the
    @TOKEN@s the harness fills in with true digests and sizes."""
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar",
             "digest": "@LAYER@", "size": "@LAYERSIZE@"}
    manifest = {"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "@CONFIG@", "size": "@CONFIGSIZE@"},
                "layers": [layer]}
    config = {"architecture": ARCH, "os": "linux",
              "config": {"User": "1000:1000", "Env": ["PATH=/bin", "HOME=/h"],
                         "WorkingDir": "/w", "Entrypoint": ["/bin/sh"],
                         "Cmd": ["-c", "true"], "Labels": {"a": "b"}},
              "rootfs": {"type": "layers", "diff_ids": ["@DIFFID@"]},
              "history": [{"created_by": "seed"}]}
    docker_manifest = dict(manifest,
                           mediaType="application/vnd.docker.distribution.manifest.v2+json")
    docker_manifest["config"] = dict(
        manifest["config"], mediaType="application/vnd.docker.container.image.v1+json")
    index = {"schemaVersion": 2,
             "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": "@MANIFEST@", "size": "@MANIFESTSIZE@",
                            "platform": {"architecture": ARCH, "os": "linux"},
                            "annotations": {"org.opencontainers.image.ref.name": "latest",
                                            "io.containerd.image.name": "docker.io/x/y:1"}}]}

    def enc(doc):
        # Sizes are numbers: the quoted tokens become bare ones.
        text = json.dumps(doc)
        for t in ("@LAYERSIZE@", "@CONFIGSIZE@", "@MANIFESTSIZE@"):
            text = text.replace('"%s"' % t, t)
        return text.encode()

    seeds = {
        "plain": (manifest, config, None),
        "docker": (docker_manifest, config, None),
        "index-json": (manifest, config, index),
        "no-user": (manifest, dict(config, config={}), None),
        "user-name": (manifest, dict(config, config={"User": "agent"}), None),
        "two-diff-ids": (manifest, dict(config, rootfs={"type": "layers",
                                                        "diff_ids": ["@DIFFID@", "@DIFFID@"]}), None),
        "null-fields": (dict(manifest, layers=None), dict(config, rootfs=None), None),
    }
    out = {}
    for name, (m, c, i) in seeds.items():
        data = enc(m) + b"\0" + enc(c)
        if i is not None:
            data += b"\0" + enc(i)
        out[name] = data
    return out


def main():
    out = sys.argv[1]
    basic = tar_bytes(basic_layer())
    files = {
        "archive/oci-gzip.tar": oci_layout_tar(basic, True),
        "archive/oci-plain.tar": oci_layout_tar(basic, False),
        "archive/oci-nested.tar": oci_layout_tar(basic, True, nested=True),
        "archive/docker-save.tar": docker_save_tar(basic),
        "archive/docker-save.tar.gz": gz(docker_save_tar(basic)),
        "archive/docker-untagged.tar": docker_save_tar(basic, tags=()),
    }
    for name, data in layout_seeds(basic).items():
        files["layout/" + name] = data
    for name, data in json_seeds().items():
        files["json/" + name] = data
    for name, data in files.items():
        assert len(data) < 64 * 1024, name
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
