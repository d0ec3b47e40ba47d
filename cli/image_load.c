/* nsbox load -i PATH: a `docker save` archive, an OCI image layout directory
 * or an OCI layout tar.  Every blob goes through the store's verifying
 * writer; nothing is tagged until its image is complete and unpacked. */
#define _GNU_SOURCE
#include "cli/image.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_META (4 * 1024 * 1024)
#define REF_NAME "org.opencontainers.image.ref.name"
#define CONTAINERD_NAME "io.containerd.image.name"

struct load
{
  struct img_ctx *c;
  const char *path;
  char *stem;            /* "busybox" for busybox.tar: names untagged images */
  char *index_json;      /* OCI layout */
  char *manifest_json;   /* docker save */
  bool oci_layout;
  json_t *files;         /* docker save: archive name -> blob digest */
  int blobs_fd;          /* OCI layout dir: its blobs/sha256, else -1 */
  /* A tar is read in one pass, in whatever order it lists its files: each
   * goes (verified) into a staging store under blobs/.tmp, and only what
   * the images reference is then linked into the store; the rest goes with
   * the staging dir. */
  struct oci_store *staging;
  char *staging_dir;
};

static int open_staging (struct load *l, nb_error_t *err);

/* A repository name made from a file name ("My Image.tar" -> "my-image"),
 * for images that come without a name of their own. */
static char *
make_stem (const char *base)
{
  char *stem = strdup (base), *p, *out;

  if (stem == NULL)
    return NULL;
  if ((p = strchr (stem, '.')))
    *p = '\0';
  for (p = out = stem; *p; p++)
    {
      unsigned char ch = (unsigned char) *p;
      if (isalnum (ch))
        *out++ = (char) tolower (ch);
      else if (out > stem && out[-1] != '-')
        *out++ = '-';
    }
  while (out > stem && out[-1] == '-')
    out--;
  *out = '\0';
  if (*stem == '\0')
    {
      free (stem);
      stem = strdup ("image");
    }
  return stem;
}

static int
import_stream (struct load *l, const char *name, const char *expected,
               int (*read_fn) (void *, void *, size_t, size_t *), void *arg,
               nb_error_t *err)
{
  struct oci_blob_writer *w = NULL;
  char digest[OCI_DIGEST_LEN + 1];
  char buf[1 << 16];

  struct oci_store *dst = l->staging ? l->staging : l->c->store;

  if (oci_store_blob_begin (dst, expected, -1, &w, err) < 0)
    return -1;
  for (;;)
    {
      size_t n;
      if (read_fn (arg, buf, sizeof buf, &n) < 0)
        {
          oci_store_blob_abort (w);
          return nb_error_make (err, 0, "%s: read %s", l->path, name);
        }
      if (n == 0)
        break;
      if (oci_store_blob_write (w, buf, n, err) < 0)
        {
          oci_store_blob_abort (w);
          return -1;
        }
    }
  if (oci_store_blob_commit_digest (w, digest, err) < 0)
    return nb_error_wrap (err, "%s: %s", l->path, name);
  if (expected == NULL)
    json_object_set_new (l->files, name, json_string (digest));
  return 0;
}

/* "blobs/sha256/<hex>" names its digest; anything else in that dir is
 * refused before it can name a file. */
static const char *
blob_name_digest (const char *name, char out[OCI_DIGEST_LEN + 1])
{
  const char *p = name;
  if (strncmp (p, "./", 2) == 0)
    p += 2;
  if (strncmp (p, "blobs/sha256/", 13) != 0)
    return NULL;
  snprintf (out, OCI_DIGEST_LEN + 1, "sha256:%s", p + 13);
  return oci_digest_valid (out) ? out : NULL;
}

static int
read_archive_data (void *arg, void *buf, size_t size, size_t *n)
{
  la_ssize_t r = archive_read_data (arg, buf, size);
  if (r < 0)
    return -1;
  *n = (size_t) r;
  return 0;
}

static int
read_small (struct archive *a, const char *path, const char *name, char **out,
            nb_error_t *err)
{
  size_t cap = 0, len = 0;
  char *buf = NULL;
  for (;;)
    {
      la_ssize_t r;
      if (cap - len < 65536)
        {
          char *nb;
          cap = cap ? cap * 2 : 65536;
          if (cap > MAX_META)
            {
              free (buf);
              return nb_error_make (err, 0, "%s: %s is too large", path, name);
            }
          nb = realloc (buf, cap + 1);
          if (nb == NULL)
            {
              free (buf);
              return nb_error_make (err, ENOMEM, "%s", path);
            }
          buf = nb;
        }
      r = archive_read_data (a, buf + len, cap - len);
      if (r < 0)
        {
          free (buf);
          return nb_error_make (err, 0, "%s: %s: %s", path, name,
                                archive_error_string (a));
        }
      if (r == 0)
        break;
      len += (size_t) r;
    }
  buf[len] = '\0';
  free (*out);
  *out = buf;
  return 0;
}

static int
load_tar (struct load *l, nb_error_t *err)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  cleanup_close int fd = -1;
  int r, ret = -1;

  if (open_staging (l, err) < 0)
    {
      archive_read_free (a);
      return -1;
    }
  /* Only the decompressors libarchive has built in: filter_all would let a
   * file that looks like lrzip or lzop start that program. */
  archive_read_support_filter_gzip (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_filter_xz (a);
  archive_read_support_format_tar (a);
  fd = nb_open_regular_at (AT_FDCWD, l->path, 0, l->path, err);
  if (fd < 0)
    goto out;
  if (archive_read_open_fd (a, fd, 1 << 16) != ARCHIVE_OK)
    {
      nb_error_make (err, 0, "%s: %s", l->path, archive_error_string (a));
      goto out;
    }
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      const char *name = archive_entry_pathname (e);
      char digest[OCI_DIGEST_LEN + 1];
      const char *base;

      if (name == NULL || archive_entry_filetype (e) != AE_IFREG)
        continue;
      if (strncmp (name, "./", 2) == 0)
        name += 2;
      base = name;
      if (strcmp (base, "index.json") == 0)
        {
          if (read_small (a, l->path, name, &l->index_json, err) < 0)
            goto out;
        }
      else if (strcmp (base, "manifest.json") == 0)
        {
          if (read_small (a, l->path, name, &l->manifest_json, err) < 0)
            goto out;
        }
      else if (strcmp (base, "oci-layout") == 0)
        l->oci_layout = true;
      else if (blob_name_digest (name, digest))
        {
          if (import_stream (l, name, digest, read_archive_data, a, err) < 0)
            goto out;
        }
      else if (strncmp (name, "blobs/", 6) == 0)
        {
          nb_error_make (err, 0, "%s: %s: not a sha256 blob name", l->path,
                         name);
          goto out;
        }
      else if (strcmp (base, "repositories") != 0
               && import_stream (l, name, NULL, read_archive_data, a, err) < 0)
        goto out;
    }
  if (r != ARCHIVE_EOF)
    {
      nb_error_make (err, 0, "%s: %s", l->path, archive_error_string (a));
      goto out;
    }
  ret = 0;
out:
  archive_read_free (a);
  return ret;
}

static int
read_fd (void *arg, void *buf, size_t size, size_t *n)
{
  ssize_t r;
  do
    r = read (*(int *) arg, buf, size);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -1;
  *n = (size_t) r;
  return 0;
}

static int
load_dir (struct load *l, nb_error_t *err)
{
  cleanup_free char *blobs = NULL, *index = NULL;

  if (asprintf (&blobs, "%s/blobs/sha256", l->path) < 0
      || asprintf (&index, "%s/index.json", l->path) < 0)
    return nb_error_make (err, ENOMEM, "load");
  if (nb_read_file (index, &l->index_json, NULL, err) < 0)
    return nb_error_wrap (err, "%s: not an OCI image layout", l->path);
  l->oci_layout = true;
  l->blobs_fd = open (blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (l->blobs_fd < 0)
    return nb_error_make (err, errno, "%s", blobs);
  return 0;
}

/* Put the blob DIGEST into the store from what is being loaded: linked
 * from the staging store (a tar), or read from the layout dir, verified. */
static int
take_blob (struct load *l, const char *digest, nb_error_t *err)
{
  const char *hex = oci_digest_hex (digest);
  cleanup_free char *name = NULL, *what = NULL;
  cleanup_close int fd = -1;

  if (hex == NULL)
    return nb_error_make (err, 0, "%s: '%s' is not a sha256 digest", l->path,
                          digest);
  if (oci_store_has_blob (l->c->store, digest))
    return 0;
  if (l->staging)
    {
      if (oci_store_adopt_blob (l->c->store, l->staging, digest, err) == 0)
        return 0;
      if ((*err)->errno_val == ENOENT)
        {
          nb_error_free (err);
          return nb_error_make (err, 0, "%s: blob %s is not in the archive",
                                l->path, digest);
        }
      return nb_error_wrap (err, "%s", l->path);
    }
  if (asprintf (&name, "blobs/sha256/%s", hex) < 0
      || asprintf (&what, "%s/%s", l->path, name) < 0)
    return nb_error_make (err, ENOMEM, "load");
  fd = nb_open_regular_at (l->blobs_fd, hex, O_NOFOLLOW, what, err);
  if (fd < 0)
    return -1;
  return import_stream (l, name, digest, read_fd, &fd, err);
}

/* Take the manifest or index DIGEST and what it references for this host:
 * the platform's manifest (indexes nest, a bounded depth), its config and
 * its layers.  What is malformed is left for img_read_image to name. */
static int
take_image (struct load *l, const char *digest, int depth, nb_error_t *err)
{
  cleanup_free char *data = NULL;
  cleanup_json json_t *doc = NULL;
  json_t *m, *layer;
  size_t len, i;

  if (take_blob (l, digest, err) < 0)
    return -1;
  if (oci_store_read_blob (l->c->store, digest, &data, &len, err) < 0)
    return -1;
  doc = json_loadb (data, len, 0, NULL);
  if (!json_is_object (doc))
    return 0;
  if (json_is_array (json_object_get (doc, "manifests")))
    {
      const char *d;
      if (depth >= IMG_MAX_INDEX_DEPTH)
        return 0;
      if (img_select_platform (doc, digest, &m, err) < 0)
        {
          nb_error_free (err);
          return 0;
        }
      d = json_string_value (json_object_get (m, "digest"));
      return oci_digest_valid (d) ? take_image (l, d, depth + 1, err) : 0;
    }
  m = json_object_get (json_object_get (doc, "config"), "digest");
  if (oci_digest_valid (json_string_value (m))
      && take_blob (l, json_string_value (m), err) < 0)
    return -1;
  json_array_foreach (json_object_get (doc, "layers"), i, layer)
  {
    const char *d = json_string_value (json_object_get (layer, "digest"));
    if (oci_digest_valid (d) && take_blob (l, d, err) < 0)
      return -1;
  }
  return 0;
}

static int
open_staging (struct load *l, nb_error_t *err)
{
  if (asprintf (&l->staging_dir, "%s/blobs/.tmp/load-XXXXXX", l->c->store_dir)
      < 0)
    return nb_error_make (err, ENOMEM, "load");
  if (mkdtemp (l->staging_dir) == NULL)
    {
      nb_error_make (err, errno, "mkdtemp %s", l->staging_dir);
      free (l->staging_dir);
      l->staging_dir = NULL;
      return -1;
    }
  return oci_store_open (l->staging_dir, &l->staging, err);
}

static void
close_staging (struct load *l)
{
  cleanup_error nb_error_t e = NULL;

  if (l->staging)
    oci_store_close (l->staging);
  /* What is left (a full disk) goes with the next prune. */
  if (l->staging_dir)
    nb_rm_rf_at (AT_FDCWD, l->staging_dir, &e);
  free (l->staging_dir);
  l->staging = NULL;
  l->staging_dir = NULL;
}

/* A name for an entry of an OCI layout's index: containerd's full name, or
 * the ref.name annotation — a bare tag ("latest", as skopeo writes) is put
 * under localhost/<file name>. */
static char *
layout_name (struct load *l, json_t *entry, nb_error_t *err)
{
  json_t *ann = json_object_get (entry, "annotations");
  const char *full = json_string_value (json_object_get (ann, CONTAINERD_NAME));
  const char *rn = json_string_value (json_object_get (ann, REF_NAME));
  struct oci_ref *ref = NULL;
  cleanup_free char *tmp = NULL;
  char *out;

  if (full == NULL && rn == NULL)
    return NULL;
  if (full == NULL && strchr (rn, '/') == NULL && strchr (rn, ':') == NULL)
    {
      if (asprintf (&tmp, "localhost/%s:%s", l->stem, rn) < 0)
        return NULL;
      full = tmp;
    }
  else if (full == NULL)
    full = rn;
  if (oci_ref_parse (full, &ref, err) < 0)
    return NULL;
  out = oci_ref_string (ref);
  oci_ref_free (ref);
  return out;
}

static int
finish_image (struct load *l, const char *name,
              const struct oci_descriptor *desc, nb_error_t *err)
{
  struct img_image img;
  cleanup_free char *mapping = NULL;
  int ret;

  if (img_read_image (l->c, desc->digest, desc->media_type, &img, err) < 0)
    return nb_error_wrap (err, "%s: %s", l->path, name);
  ret = img_unpack (l->c, &img, &mapping, err);
  if (ret == 0)
    ret = oci_store_tag (l->c->store, name, desc, err);
  if (ret < 0)
    nb_error_wrap (err, "%s: %s", l->path, name);
  if (ret == 0)
    printf ("Loaded %s %s\n", name, img.manifest_digest);
  img_image_clear (&img);
  return ret;
}

static int
finish_layout (struct load *l, nb_error_t *err)
{
  json_t *idx = json_loads (l->index_json, 0, NULL), *list, *e;
  size_t i, loaded = 0;
  int ret = 0;

  list = json_object_get (idx, "manifests");
  if (!json_is_array (list))
    {
      json_decref (idx);
      return nb_error_make (err, 0, "%s: index.json is not an image index",
                            l->path);
    }
  json_array_foreach (list, i, e)
  {
    struct oci_descriptor d = { 0 };
    const char *digest = json_string_value (json_object_get (e, "digest"));
    cleanup_free char *name = layout_name (l, e, err);

    if (name == NULL)
      {
        if (*err)
          {
            ret = -1;
            break;
          }
        continue; /* an untagged entry: nothing to call it by */
      }
    if (digest == NULL || !oci_digest_valid (digest))
      {
        ret = nb_error_make (err, 0, "%s: index.json: %s has no valid digest",
                             l->path, name);
        break;
      }
    snprintf (d.digest, sizeof d.digest, "%s", digest);
    d.media_type = (char *) json_string_value (json_object_get (e, "mediaType"));
    d.size = json_integer_value (json_object_get (e, "size"));
    /* Checked before anything is extracted: the tag would refuse it last. */
    if (d.media_type == NULL || !json_is_integer (json_object_get (e, "size"))
        || d.size < 0)
      {
        ret = nb_error_make (err, 0,
                             "%s: index.json: %s: a descriptor without a "
                             "mediaType or a size (the image spec requires "
                             "both)",
                             l->path, name);
        break;
      }
    if ((ret = take_image (l, digest, 0, err)) < 0
        || (ret = finish_image (l, name, &d, err)) < 0)
      break;
    loaded++;
  }
  json_decref (idx);
  if (ret == 0 && loaded == 0)
    return nb_error_make (err, 0, "%s: no tagged image in index.json", l->path);
  return ret;
}

static const char *
layer_media_type (struct load *l, const char *digest)
{
  unsigned char magic[4] = { 0 };
  cleanup_error nb_error_t err = NULL;
  cleanup_close int fd = oci_store_open_blob (l->c->store, digest, &err);

  if (fd >= 0 && read (fd, magic, sizeof magic) == sizeof magic)
    {
      if (magic[0] == 0x1f && magic[1] == 0x8b)
        return "application/vnd.oci.image.layer.v1.tar+gzip";
      if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f
          && magic[3] == 0xfd)
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    }
  return "application/vnd.oci.image.layer.v1.tar";
}

static long long
blob_size (struct load *l, const char *digest)
{
  cleanup_free char *p = oci_store_blob_path (l->c->store, digest);
  struct stat st;
  return p && stat (p, &st) == 0 ? (long long) st.st_size : -1;
}

/* The digest of the archive's file NAME, which is put into the store.
 * Docker 25+ names blobs by digest ("blobs/sha256/<hex>"). */
static const char *
file_digest (struct load *l, const char *name, nb_error_t *err)
{
  const char *d = json_string_value (json_object_get (l->files, name));
  char buf[OCI_DIGEST_LEN + 1];

  if (d == NULL && blob_name_digest (name, buf))
    {
      json_object_set_new (l->files, name, json_string (buf));
      d = json_string_value (json_object_get (l->files, name));
    }
  if (d == NULL)
    {
      nb_error_make (err, 0, "%s: manifest.json names %s, which is not in the "
                             "archive", l->path, name);
      return NULL;
    }
  return take_blob (l, d, err) < 0 ? NULL : d;
}

/* A `docker save` entry becomes an OCI manifest over the same blobs. */
static int
finish_docker (struct load *l, nb_error_t *err)
{
  json_t *list = json_loads (l->manifest_json, 0, NULL), *e;
  size_t i;
  int ret = 0;

  if (!json_is_array (list) || json_array_size (list) == 0)
    {
      json_decref (list);
      return nb_error_make (err, 0, "%s: manifest.json is not a docker save "
                                    "manifest", l->path);
    }
  json_array_foreach (list, i, e)
  {
    const char *cfg = file_digest (
        l, json_string_value (json_object_get (e, "Config")) ?: "", err);
    json_t *layers = json_object_get (e, "Layers"), *tags, *t, *m, *ls;
    struct oci_descriptor d = { .media_type = OCI_MT_OCI_MANIFEST };
    cleanup_free char *text = NULL;
    size_t k;

    if (cfg == NULL || !json_is_array (layers))
      {
        ret = -1;
        if (!*err)
          nb_error_make (err, 0, "%s: manifest.json entry %zu is malformed",
                         l->path, i);
        break;
      }
    ls = json_array ();
    json_array_foreach (layers, k, t)
    {
      const char *ld = file_digest (l, json_string_value (t) ?: "", err);
      if (ld == NULL)
        break;
      json_array_append_new (ls, json_pack ("{s:s, s:s, s:I}", "mediaType",
                                            layer_media_type (l, ld), "digest",
                                            ld, "size",
                                            (json_int_t) blob_size (l, ld)));
    }
    if (*err)
      {
        json_decref (ls);
        ret = -1;
        break;
      }
    m = json_pack ("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
                   "mediaType", OCI_MT_OCI_MANIFEST, "config", "mediaType",
                   "application/vnd.oci.image.config.v1+json", "digest", cfg,
                   "size", (json_int_t) blob_size (l, cfg), "layers", ls);
    text = json_dumps (m, JSON_COMPACT);
    json_decref (m);
    if (text == NULL
        || oci_store_put_blob (l->c->store, text, strlen (text), d.digest, err)
               < 0)
      {
        ret = text ? -1 : nb_error_make (err, ENOMEM, "load");
        break;
      }
    d.size = (long long) strlen (text);
    tags = json_object_get (e, "RepoTags");
    if (json_array_size (tags) == 0)
      {
        cleanup_free char *name = NULL;
        if (asprintf (&name, "localhost/%s:latest", l->stem) < 0)
          ret = nb_error_make (err, ENOMEM, "load");
        else
          ret = finish_image (l, name, &d, err);
      }
    json_array_foreach (tags, k, t)
    {
      struct oci_ref *ref = NULL;
      cleanup_free char *name = NULL;
      if ((ret = oci_ref_parse (json_string_value (t) ?: "", &ref, err)) < 0)
        break;
      name = oci_ref_string (ref);
      oci_ref_free (ref);
      if ((ret = finish_image (l, name, &d, err)) < 0)
        break;
    }
    if (ret < 0)
      break;
  }
  json_decref (list);
  return ret;
}

int
img_cmd_load (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "input", required_argument, NULL, 'i' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  struct img_ctx c = { 0 };
  struct load l = { .c = &c, .blobs_fd = -1 };
  cleanup_free char *copy = NULL;
  struct stat st;
  int opt, ret = -1;

  opterr = 0;
  while ((opt = getopt_long (argc, argv, "i:h", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'i':
        l.path = optarg;
        break;
      case 'h':
        printf ("usage: nsbox load -i PATH\nSee nsbox-load(1).\n");
        return 0;
      default:
        nb_error_make (&err, 0, "load: unknown option '%s'", argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (l.path == NULL || optind != argc)
    {
      nb_error_make (&err, 0, "load: expects -i PATH (a docker save archive, "
                              "an OCI layout directory or tar)");
      return nb_error_report (&err);
    }
  copy = strdup (l.path);
  l.stem = make_stem (basename (copy));
  l.files = json_object ();
  if (stat (l.path, &st) < 0)
    nb_error_make (&err, errno, "load %s", l.path);
  else if (img_ctx_open (&c, &err) == 0
           && oci_store_lock (c.store, 0, &err) == 0)
    {
      ret = S_ISDIR (st.st_mode) ? load_dir (&l, &err) : load_tar (&l, &err);
      if (ret == 0 && l.oci_layout && l.index_json)
        ret = finish_layout (&l, &err);
      else if (ret == 0 && l.manifest_json)
        ret = finish_docker (&l, &err);
      else if (ret == 0)
        ret = nb_error_make (&err, 0, "%s: neither an OCI image layout nor a "
                                      "docker save archive", l.path);
    }
  close_staging (&l);
  if (l.blobs_fd >= 0)
    close (l.blobs_fd);
  img_ctx_close (&c);
  free (l.stem);
  free (l.index_json);
  free (l.manifest_json);
  json_decref (l.files);
  if (ret < 0)
    {
      nb_error_wrap (&err, "load");
      return nb_error_report (&err);
    }
  return 0;
}
