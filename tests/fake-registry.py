#!/usr/bin/env python3
"""A misbehaving OCI registry on 127.0.0.1, for testing nsbox's client.

It serves one image -- an OCI layout given with --layout, or a small built-in
one (two gzip'd tar layers, optionally behind an image index) -- under any
repository name (or only --repo), and can be told to fail in the ways real
registries and networks do.  It prints the port it listens on (--port 0, the
default, picks a free one) as the first line on stdout, then serves until
killed.

  fake-registry.py                          # healthy, anonymous
  fake-registry.py --manifest-status 404    # MANIFEST_UNKNOWN
  fake-registry.py --manifest-status 503 --fail-times 2   # then healthy
  fake-registry.py --blob-status 500
  fake-registry.py --close-mid-blob [--fail-times N]      # partial transfer
  fake-registry.py --reset-mid-blob         # TCP RST in the middle of a blob
  fake-registry.py --stall-blob SECONDS     # half a blob, then silence
  fake-registry.py --corrupt-blob           # content does not match digest
  fake-registry.py --non-json-manifest      # an HTML page as the manifest
  fake-registry.py --wrong-digest-header    # Docker-Content-Digest lies
  fake-registry.py --corrupt-manifest       # content differs from its digest
  fake-registry.py --auth bearer [--user U --password P] [--token-field F]
  fake-registry.py --auth basic --user U --password P
  fake-registry.py --redirect-blobs         # 307 to http://localhost:PORT/storage
                                            # which refuses an Authorization
  fake-registry.py --log                    # one line per request on stderr

Only the Python standard library is used.
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import platform
import random
import secrets
import socket
import struct
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def host_arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
            "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
            "riscv64": "riscv64"}.get(m, m)


def make_layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes)


class Image:
    """Blobs by digest, manifests by digest, and tags -> manifest digest."""

    def __init__(self):
        self.blobs = {}      # digest -> bytes
        self.manifests = {}  # digest -> (media type, bytes)
        self.tags = {}       # tag -> digest

    def add_blob(self, data):
        d = sha256(data)
        self.blobs[d] = data
        return d

    def add_manifest(self, media_type, obj):
        data = json.dumps(obj, indent=2).encode()
        d = sha256(data)
        self.manifests[d] = (media_type, data)
        return d, len(data)

    @classmethod
    def builtin(cls, tag, layer_size, index):
        img = cls()
        # A layer of LAYER_SIZE incompressible bytes makes a visible download;
        # seeded, so that one set of flags always serves the same digests.
        big = random.Random(layer_size).randbytes(layer_size)
        layers = [make_layer([("hello.txt", b"hello from the fake registry\n")]),
                  make_layer([("data/blob.bin", big)])]
        config = {
            "architecture": host_arch(), "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]},
        }
        cdata = json.dumps(config).encode()
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": img.add_blob(cdata),
                       "size": len(cdata)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": img.add_blob(l[0]),
                        "size": len(l[0])} for l in layers],
        }
        md, msize = img.add_manifest(OCI_MANIFEST, manifest)
        if index:
            idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": md, "size": msize,
                 "platform": {"architecture": host_arch(), "os": "linux"}}]}
            md, _ = img.add_manifest(OCI_INDEX, idx)
        img.tags[tag] = md
        return img

    @classmethod
    def from_layout(cls, path):
        img = cls()
        blobdir = os.path.join(path, "blobs", "sha256")
        for name in os.listdir(blobdir):
            with open(os.path.join(blobdir, name), "rb") as f:
                img.blobs["sha256:" + name] = f.read()
        with open(os.path.join(path, "index.json")) as f:
            index = json.load(f)

        def walk(desc):
            data = img.blobs[desc["digest"]]
            img.manifests[desc["digest"]] = (desc["mediaType"], data)
            if desc["mediaType"] in (OCI_INDEX,
                                     "application/vnd.docker.distribution.manifest.list.v2+json"):
                for child in json.loads(data).get("manifests", []):
                    walk(child)

        for desc in index.get("manifests", []):
            walk(desc)
            name = desc.get("annotations", {}).get("org.opencontainers.image.ref.name")
            if name:
                img.tags[name.rsplit(":", 1)[-1] if "/" in name else name] = desc["digest"]
        return img


class Registry(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, opts, image):
        super().__init__(addr, Handler)
        self.opts = opts
        self.image = image
        self.lock = threading.Lock()
        self.counts = {"manifest": 0, "blob": 0}
        self.tokens = {}  # token -> uses left (None: unlimited)

    def handle_error(self, request, client_address):
        # A client that hangs up or speaks TLS to us is part of the game.
        if self.opts.log:
            sys.stderr.write("fake-registry: %s from %s:%d\n"
                             % (sys.exc_info()[1] or "error", *client_address))

    def should_fail(self, kind):
        """Count a request of KIND; is it one of the first --fail-times?"""
        with self.lock:
            self.counts[kind] += 1
            n = self.counts[kind]
        return self.opts.fail_times == 0 or n <= self.opts.fail_times


# Status -> (code, message) of the distribution spec's JSON error body.
ERRORS = {
    400: ("BAD_REQUEST", "bad request"),
    401: ("UNAUTHORIZED", "authentication required"),
    403: ("DENIED", "requested access to the resource is denied"),
    404: ("MANIFEST_UNKNOWN", "manifest unknown"),
    429: ("TOOMANYREQUESTS", "too many requests"),
    500: ("UNKNOWN", "internal server error"),
    502: ("UNKNOWN", "bad gateway"),
    503: ("UNAVAILABLE", "service unavailable"),
    504: ("UNKNOWN", "gateway timeout"),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-registry/1"

    def log_message(self, fmt, *args):
        if self.server.opts.log:
            sys.stderr.write("fake-registry: %s\n" % (fmt % args))

    def log_request(self, code="-", size="-"):
        if self.server.opts.log:
            headers = getattr(self, "headers", None)  # absent on a bad request
            auth = headers.get("Authorization") if headers else None
            kind = auth.split(" ", 1)[0] if auth else "none"
            sys.stderr.write("fake-registry: %s %s -> %s (auth: %s)\n"
                             % (self.command, self.path, code, kind))

    # -- answers --------------------------------------------------------------

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code=None, message=None, headers=()):
        dcode, dmessage = ERRORS.get(status, ("UNKNOWN", "unknown error"))
        code, message = code or dcode, message or dmessage
        body = json.dumps({"errors": [{"code": code, "message": message,
                                       "detail": None}]}).encode()
        self.send(status, body, headers=headers)

    # -- auth -----------------------------------------------------------------

    def basic_ok(self):
        o = self.server.opts
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (o.user, o.password)).encode()).decode()
        return self.headers.get("Authorization") == want

    def authorized(self, repo):
        o = self.server.opts
        if o.auth == "none":
            return True
        if o.auth == "basic":
            if self.basic_ok():
                return True
            self.error(401, "UNAUTHORIZED", "authentication required",
                       [("WWW-Authenticate", 'Basic realm="fake-registry"')])
            return False
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[7:]
            with self.server.lock:
                if tok in self.server.tokens:
                    left = self.server.tokens[tok]
                    if left is None:
                        return True
                    if left > 0:
                        self.server.tokens[tok] = left - 1
                        return True
        realm = o.realm or "http://127.0.0.1:%d/token" % self.server.server_port
        challenge = 'Bearer realm="%s",service="fake-registry",scope="repository:%s:pull"' % (realm, repo)
        self.error(401, "UNAUTHORIZED", "authentication required",
                   [("WWW-Authenticate", challenge)])
        return False

    def token(self):
        o = self.server.opts
        if o.user is not None and not self.basic_ok():
            self.error(401, "UNAUTHORIZED", "bad credentials for the token service",
                       [("WWW-Authenticate", 'Basic realm="fake-registry-token"')])
            return
        tok = secrets.token_hex(16)
        with self.server.lock:
            self.server.tokens[tok] = o.token_uses or None
        self.send(200, json.dumps({o.token_field: tok, "expires_in": 300}).encode())

    # -- routes ---------------------------------------------------------------

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        o = self.server.opts
        path = self.path.split("?", 1)[0]
        if path == "/token":
            return self.token()
        if path.startswith("/storage/"):
            return self.storage(path[len("/storage/"):])
        if path in ("/v2", "/v2/"):
            if self.authorized(""):
                self.send(200, b"{}")
            return
        if not path.startswith("/v2/"):
            return self.error(404, "NOT_FOUND", "not found")
        rest = path[4:]
        for sep, kind in (("/manifests/", "manifest"), ("/blobs/", "blob")):
            if sep in rest:
                repo, ref = rest.rsplit(sep, 1)
                break
        else:
            return self.error(404, "NOT_FOUND", "not found")
        if not self.authorized(repo):
            return
        if o.repo and repo != o.repo:
            return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if kind == "manifest":
            return self.manifest(ref)
        return self.blob(ref)

    def manifest(self, ref):
        o, img = self.server.opts, self.server.image
        if o.manifest_status and self.server.should_fail("manifest"):
            return self.error(o.manifest_status,
                              headers=[("Retry-After", "0")] if o.manifest_status == 429 else ())
        if o.non_json_manifest:
            return self.send(200, b"<html><body>Welcome to the captive portal</body></html>",
                             "text/html")
        digest = img.tags.get(ref, ref)
        if digest not in img.manifests:
            return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        mtype, data = img.manifests[digest]
        if o.corrupt_manifest:
            data += b"\n"
            return self.send(200, data, mtype)
        if o.wrong_digest_header:
            digest = "sha256:" + "0" * 64
        self.send(200, data, mtype, [("Docker-Content-Digest", digest)])

    def blob(self, digest):
        o, img = self.server.opts, self.server.image
        if digest not in img.blobs:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        if o.blob_status and self.server.should_fail("blob"):
            if o.blob_status == 404:
                return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            return self.error(o.blob_status)
        if o.redirect_blobs:
            loc = "http://localhost:%d/storage/%s" % (self.server.server_port, digest)
            return self.send(307, b"", headers=[("Location", loc)])
        self.send_blob(digest)

    def storage(self, digest):
        if self.headers.get("Authorization"):
            # Like S3 refusing a presigned URL that also carries a token.
            sys.stderr.write("fake-registry: storage got an Authorization header!\n")
            return self.send(400, b'{"error":"Authorization header forwarded to storage"}')
        if digest not in self.server.image.blobs:
            return self.send(404, b"")
        self.send_blob(digest)

    def send_blob(self, digest):
        o = self.server.opts
        data = self.server.image.blobs[digest]
        if o.corrupt_blob and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        broken = (o.close_mid_blob or o.reset_mid_blob or o.stall_blob) \
            and self.server.should_fail("blob")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command == "HEAD":
            return
        if broken:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if o.stall_blob:
                time.sleep(o.stall_blob)
            if o.reset_mid_blob:
                # SO_LINGER 0: close sends a TCP RST, "Connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)  # FIN: a short body
            self.close_connection = True
            self.connection.close()
            return
        chunk = 64 * 1024
        for i in range(0, len(data), chunk):
            self.wfile.write(data[i:i + chunk])
            if o.blob_delay:
                time.sleep(o.blob_delay / 1000.0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--address", default="127.0.0.1",
                   help="a loopback address (or 203.0.113.x in a test netns)")
    p.add_argument("--layout", help="serve this OCI layout's tagged images")
    p.add_argument("--repo", help="only this repository exists (else any)")
    p.add_argument("--tag", default="latest", help="tag of the built-in image")
    p.add_argument("--index", action="store_true",
                   help="the built-in tag names an image index")
    p.add_argument("--layer-size", type=int, default=4096,
                   help="bytes of random data in the built-in second layer")
    p.add_argument("--blob-delay", type=int, default=0,
                   help="ms to sleep after each 64 KiB of a blob")
    p.add_argument("--manifest-status", type=int, default=0)
    p.add_argument("--blob-status", type=int, default=0)
    p.add_argument("--fail-times", type=int, default=0,
                   help="fail only the first N manifest/blob requests (0: all)")
    p.add_argument("--close-mid-blob", action="store_true")
    p.add_argument("--reset-mid-blob", action="store_true")
    p.add_argument("--stall-blob", type=float, default=0)
    p.add_argument("--corrupt-blob", action="store_true")
    p.add_argument("--non-json-manifest", action="store_true")
    p.add_argument("--wrong-digest-header", action="store_true")
    p.add_argument("--corrupt-manifest", action="store_true",
                   help="a byte more than the manifest, no digest header")
    p.add_argument("--auth", choices=["none", "bearer", "basic"], default="none")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--token-field", choices=["token", "access_token"], default="token")
    p.add_argument("--token-uses", type=int, default=0,
                   help="a token is good for N requests (0: unlimited)")
    p.add_argument("--realm", help="the realm to announce in Bearer challenges")
    p.add_argument("--redirect-blobs", action="store_true")
    p.add_argument("--log", action="store_true")
    opts = p.parse_args()
    if opts.auth == "basic" and opts.user is None:
        p.error("--auth basic needs --user and --password")
    if opts.user is not None and opts.password is None:
        p.error("--user needs --password")

    image = (Image.from_layout(opts.layout) if opts.layout
             else Image.builtin(opts.tag, opts.layer_size, opts.index))
    # Loopback, or a test host in a network namespace the tests made
    # (203.0.113.0/24, TEST-NET-3): never an address anyone else has.
    if not (opts.address.startswith("127.") or opts.address.startswith("203.0.113.")):
        p.error("--address must be in 127.0.0.0/8 or 203.0.113.0/24: this is a test double")
    server = Registry((opts.address, opts.port), opts, image)
    print(server.server_port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
