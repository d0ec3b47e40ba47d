/* libFuzzer harness, structure-aware: the input is a layer tar that the
 * harness wraps in a valid OCI image layout directory (oci-layout,
 * index.json tagging it "latest", blobs/sha256/ with true digests and the
 * config's diff_id the sha256 of the tar), so that `nsbox load -i DIR`
 * verifies every digest and goes on to extract the layer.
 *
 *   input := F0 F1 TAR
 *   F0 bit 0  gzip the layer (else it is stored as the plain tar)
 *      bit 1  docker media types (schema 2 manifest, manifest list)
 *      bit 2  index.json -> an image index blob -> the manifest
 *      bit 3  with bit 2: index.json -> index -> index -> the manifest
 *      bit 4  the config lists a wrong number of diff_ids
 *      bit 5  the layer's media type names the wrong compression
 *      bit 6  annotations whose names and values hold control characters
 *      bit 7  no mediaType in index.json's descriptor; the nested index
 *             offers another platform first
 *   F1 bit 0  keep TAR's header checksums as they are (else recomputed)
 *      bit 1  descriptor sizes off by one
 *      bit 2  a diff_id that is not a string
 *      bit 3  also name the image with io.containerd.image.name
 *      bit 4  an untagged entry first in index.json
 *      bit 5  the manifest's config digest names the layer
 *      bit 6  with F0 bit 4: no diff_ids at all (else one too many)
 *      bit 7  with F0 bit 6: control characters in the ref name itself
 *
 * nsbox's stdout and stderr go to /dev/null; FUZZ_VERBOSE=1 keeps them. */
#define _GNU_SOURCE
#include "tests/fuzz/fuzz_common.h"
#include "cli/image.h"
#include "oci/registry.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define REF_NAME "org.opencontainers.image.ref.name"
#define CONTAINERD_NAME "io.containerd.image.name"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define LAYOUT_TEXT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define CTRL_NAME "x-\x1b[31mred\x07\x01\x7f"
#define CTRL_VALUE "\x1b]0;title\x07\r\n\x08"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char layout[4200];

struct desc
{
  char digest[8 + 64];
  size_t size;
};

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  fz_setup ("layout", "layout");
  snprintf (layout, sizeof layout, "%s/layout", fz_work);
  return 0;
}

static void
put_blob (int blobs, const void *data, size_t len, struct desc *d)
{
  char hex[65];

  fz_sha256_hex (data, len, hex);
  snprintf (d->digest, sizeof d->digest, "sha256:%s", hex);
  d->size = len;
  if (fz_write_at (blobs, hex, data, len) < 0)
    abort ();
}

/* Dump DOC (a new reference, taken) as a blob. */
static void
put_json (int blobs, json_t *doc, struct desc *d)
{
  char *text = json_dumps (doc, JSON_COMPACT);

  if (text == NULL)
    abort ();
  put_blob (blobs, text, strlen (text), d);
  free (text);
  json_decref (doc);
}

static json_t *
descriptor (const char *media_type, const struct desc *d, bool size_off)
{
  json_t *o = json_pack ("{s:s, s:I}", "digest", d->digest, "size",
                         (json_int_t) (d->size + (size_off ? 1 : 0)));
  if (media_type)
    json_object_set_new (o, "mediaType", json_string (media_type));
  return o;
}

static json_t *
platform (const char *arch)
{
  return json_pack ("{s:s, s:s}", "architecture", arch, "os", "linux");
}

static json_t *
ctrl_annotations (void)
{
  return json_pack ("{s:s, s:s}", CTRL_NAME, CTRL_VALUE,
                    "org.opencontainers.image.title", CTRL_VALUE);
}

/* An index over D, for this host (after another platform with OTHER). */
static json_t *
make_index (const char *mt, const char *child_mt, const struct desc *d,
            bool other, bool size_off)
{
  json_t *list = json_array (), *e;

  if (other)
    {
      e = descriptor (child_mt, d, size_off);
      json_object_set_new (e, "platform", platform ("mips64le"));
      json_array_append_new (list, e);
    }
  e = descriptor (child_mt, d, size_off);
  json_object_set_new (e, "platform", platform (img_host_arch ()));
  json_array_append_new (list, e);
  return json_pack ("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", mt,
                    "manifests", list);
}

static uint8_t *
gzip (const uint8_t *in, size_t n, size_t *out_len)
{
  z_stream zs = { 0 };
  uint8_t *out;

  if (deflateInit2 (&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
      != Z_OK)
    abort ();
  *out_len = deflateBound (&zs, n);
  out = malloc (*out_len ? *out_len : 1);
  if (out == NULL)
    abort ();
  zs.next_in = (Bytef *) in;
  zs.avail_in = (uInt) n;
  zs.next_out = out;
  zs.avail_out = (uInt) *out_len;
  if (deflate (&zs, Z_FINISH) != Z_STREAM_END)
    abort ();
  *out_len = zs.total_out;
  deflateEnd (&zs);
  return out;
}

static void
build_layout (uint8_t f0, uint8_t f1, uint8_t *tar, size_t n)
{
  const bool gz = f0 & 1, docker = f0 & 2, ctrl = f0 & 0x40;
  const bool size_off = f1 & 2;
  const char *mt_manifest = docker ? OCI_MT_DOCKER_MANIFEST : OCI_MT_OCI_MANIFEST;
  const char *mt_index = docker ? OCI_MT_DOCKER_LIST : OCI_MT_OCI_INDEX;
  const char *mt_layer, *top_mt, *ref;
  char diff_id[8 + 64], hex[65];
  struct desc layer, config, top;
  json_t *diff_ids, *manifest, *entries, *entry, *ann;
  int dir, blobs;

  if (!(f1 & 1))
    fz_fix_tar_checksums (tar, n);
  fz_sha256_hex (tar, n, hex);
  snprintf (diff_id, sizeof diff_id, "sha256:%s", hex);

  if (mkdir (layout, 0700) < 0
      || (dir = open (layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0
      || mkdirat (dir, "blobs", 0700) < 0
      || mkdirat (dir, "blobs/sha256", 0700) < 0
      || fz_write_at (dir, "oci-layout", LAYOUT_TEXT, strlen (LAYOUT_TEXT))
             < 0
      || (blobs = openat (dir, "blobs/sha256",
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC))
             < 0)
    abort ();

  if (gz)
    {
      size_t zn;
      uint8_t *z = gzip (tar, n, &zn);
      put_blob (blobs, z, zn, &layer);
      free (z);
    }
  else
    put_blob (blobs, tar, n, &layer);
  if (docker)
    mt_layer = (gz != !!(f0 & 0x20))
                   ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
                   : "application/vnd.docker.image.rootfs.diff.tar";
  else if (f0 & 0x20)
    mt_layer = gz ? "application/vnd.oci.image.layer.v1.tar+zstd"
                  : "application/vnd.oci.image.layer.v1.tar+gzip";
  else
    mt_layer = gz ? "application/vnd.oci.image.layer.v1.tar+gzip"
                  : "application/vnd.oci.image.layer.v1.tar";

  diff_ids = json_array ();
  if (f1 & 4)
    json_array_append_new (diff_ids, json_integer (42));
  else if (!(f0 & 0x10) || !(f1 & 0x40))
    json_array_append_new (diff_ids, json_string (diff_id));
  if ((f0 & 0x10) && !(f1 & 0x40))
    json_array_append_new (diff_ids, json_string (diff_id));
  put_json (blobs,
            json_pack ("{s:s, s:s, s:{s:s, s:o}, s:{}}", "architecture",
                       img_host_arch (), "os", "linux", "rootfs", "type",
                       "layers", "diff_ids", diff_ids, "config"),
            &config);

  manifest = json_pack (
      "{s:i, s:s, s:o, s:[o]}", "schemaVersion", 2, "mediaType", mt_manifest,
      "config",
      descriptor (docker ? MT_DOCKER_CONFIG : MT_OCI_CONFIG,
                  (f1 & 0x20) ? &layer : &config, size_off),
      "layers", descriptor (mt_layer, &layer, size_off));
  if (ctrl)
    json_object_set_new (manifest, "annotations", ctrl_annotations ());
  put_json (blobs, manifest, &top);
  top_mt = mt_manifest;
  if (f0 & 4)
    {
      put_json (blobs, make_index (mt_index, top_mt, &top, f0 & 0x80, size_off),
                &top);
      top_mt = mt_index;
      if (f0 & 8)
        put_json (blobs,
                  make_index (mt_index, top_mt, &top, f0 & 0x80, size_off),
                  &top);
    }
  close (blobs);

  entries = json_array ();
  if (f1 & 0x10)
    json_array_append_new (entries, descriptor (top_mt, &top, size_off));
  entry = descriptor ((f0 & 0x80) ? NULL : top_mt, &top, size_off);
  ref = (ctrl && (f1 & 0x80)) ? "lat\x1b[2Jest\r" : "latest";
  ann = ctrl ? ctrl_annotations () : json_object ();
  json_object_set_new (ann, REF_NAME, json_string (ref));
  if (f1 & 8)
    json_object_set_new (ann, CONTAINERD_NAME,
                         json_string ("docker.io/library/fuzz:latest"));
  json_object_set_new (entry, "annotations", ann);
  json_array_append_new (entries, entry);
  {
    json_t *index = json_pack ("{s:i, s:s, s:o}", "schemaVersion", 2,
                               "mediaType", OCI_MT_OCI_INDEX, "manifests",
                               entries);
    char *text = json_dumps (index, JSON_COMPACT);
    if (text == NULL
        || fz_write_at (dir, "index.json", text, strlen (text)) < 0)
      abort ();
    free (text);
    json_decref (index);
  }
  close (dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  uint8_t *tar;
  int status;

  if (size < 2)
    return 0;
  tar = malloc (size - 2 ? size - 2 : 1);
  if (tar == NULL)
    return 0;
  memcpy (tar, data + 2, size - 2);
  if (fz_rm_rf (AT_FDCWD, layout) < 0)
    abort ();
  build_layout (data[0], data[1], tar, size - 2);
  free (tar);
  status = fz_load (layout);
  fz_check_and_reset (status);
  return 0;
}
