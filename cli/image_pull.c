/* nsbox pull [--insecure-registry HOST[:PORT]]... [-q] REF */
#define _GNU_SOURCE
#include "cli/image.h"
#include "oci/digest.h"
#include "oci/ref.h"
#include "oci/registry.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MAX_INSECURE 32

/* Registries the user allows over plain HTTP in
 * $XDG_CONFIG_HOME/nsbox/config.json: {"insecure-registries": [...]}. */
static int
config_insecure (const char **list, size_t *n, json_t **keep, nb_error_t *err)
{
  const char *xdg = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
  cleanup_free char *path = NULL;
  json_t *j, *arr, *v;
  size_t i;

  if (xdg && xdg[0] == '/')
    path = nb_path_join (xdg, "nsbox/config.json");
  else if (home && home[0] == '/')
    path = nb_path_join (home, ".config/nsbox/config.json");
  if (path == NULL || access (path, F_OK) < 0)
    return 0;
  j = nb_json_load_file (path, err);
  if (j == NULL)
    return -1;
  *keep = j;
  arr = json_object_get (j, "insecure-registries");
  if (arr && !json_is_array (arr))
    return nb_error_make (err, 0, "%s: insecure-registries: not an array",
                          path);
  json_array_foreach (arr, i, v)
  {
    if (!json_is_string (v))
      return nb_error_make (err, 0, "%s: insecure-registries[%zu]: not a "
                                    "string", path, i);
    if (*n < MAX_INSECURE)
      list[(*n)++] = json_string_value (v);
  }
  return 0;
}

/* Two pulls of the same image take turns, so the second finds the blobs and
 * layers in place and downloads nothing. */
static int
lock_ref (struct img_ctx *c, const char *name, int *fd, nb_error_t *err)
{
  struct oci_hasher *h = oci_hasher_new ();
  char digest[OCI_DIGEST_LEN + 1];
  cleanup_free char *path = NULL;

  if (h == NULL)
    return nb_error_make (err, ENOMEM, "lock");
  oci_hasher_update (h, name, strlen (name));
  oci_hasher_finish (h, digest);
  if (asprintf (&path, "%s/.pull-%.16s.lock", c->store_dir,
                oci_digest_hex (digest))
      < 0)
    return nb_error_make (err, ENOMEM, "lock");
  *fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (*fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  if (flock (*fd, LOCK_EX) < 0)
    return nb_error_make (err, errno, "lock %s", path);
  return 0;
}

static int
put_manifest (struct img_ctx *c, const char *body, size_t len,
              const char *digest, nb_error_t *err)
{
  char got[OCI_DIGEST_LEN + 1];
  if (oci_store_put_blob (c->store, body, len, got, err) < 0)
    return -1;
  if (strcmp (got, digest) != 0)
    return nb_error_make (err, 0, "manifest %s: stored as %s", digest, got);
  return 0;
}

static int
fetch_image_blobs (struct oci_registry *r, struct img_ctx *c,
                   const char *manifest_body, size_t len, const char *what,
                   nb_error_t *err)
{
  json_error_t jerr;
  json_t *m = json_loadb (manifest_body, len, 0, &jerr), *layers, *l;
  struct oci_descriptor *descs = NULL;
  size_t i, n = 0;
  int ret = -1;

  if (m == NULL || !json_is_object (m))
    {
      json_decref (m);
      return nb_error_make (err, 0, "%s: the manifest is not JSON (%s)", what,
                            jerr.text);
    }
  layers = json_object_get (m, "layers");
  descs = calloc (json_array_size (layers) + 1, sizeof *descs);
  if (descs == NULL)
    goto out;
  /* The config first: it is small and says what the layers must hash to. */
  l = json_object_get (m, "config");
  for (i = 0;; i++)
    {
      const char *d = json_string_value (json_object_get (l, "digest"));
      json_t *size = json_object_get (l, "size");
      if (d == NULL || !oci_digest_valid (d) || !json_is_integer (size))
        {
          nb_error_make (err, 0, "%s: a descriptor without a valid digest "
                                 "and size", what);
          goto out;
        }
      snprintf (descs[n].digest, sizeof descs[n].digest, "%s", d);
      descs[n++].size = json_integer_value (size);
      if (i >= json_array_size (layers))
        break;
      l = json_array_get (layers, i);
    }
  ret = oci_registry_fetch_blobs (r, c->store, descs, n, err);
out:
  free (descs);
  json_decref (m);
  return ret;
}

/* Follow BODY, an index (nested ones too, a bounded depth) or a manifest,
 * down to the manifest for this host's platform; store each manifest on the
 * way and fetch the image's blobs. */
static int
fetch_platform_image (struct oci_registry *r, struct img_ctx *c,
                      const char *name, const char *body, size_t len,
                      const char *mt, const char *digest, nb_error_t *err)
{
  cleanup_free char *cur = NULL, *cur_mt = NULL;
  char cur_digest[OCI_DIGEST_LEN + 1];
  int depth;

  snprintf (cur_digest, sizeof cur_digest, "%s", digest);
  for (depth = 0; img_is_index_type (mt); depth++)
    {
      char *mbody = NULL, *mmt = NULL, where[OCI_DIGEST_LEN + 16];
      json_t *idx, *m;
      int ret;

      snprintf (where, sizeof where, "index %s", cur_digest);
      if (depth == IMG_MAX_INDEX_DEPTH)
        return nb_error_make (err, 0, "indexes nested more than %d deep",
                              IMG_MAX_INDEX_DEPTH);
      idx = json_loadb (body, len, 0, NULL);
      if (idx == NULL || !json_is_object (idx))
        {
          json_decref (idx);
          return nb_error_make (err, 0, "the image index %s is not JSON",
                                cur_digest);
        }
      ret = img_select_platform (idx, where, &m, err);
      if (ret == 0
          && !oci_digest_valid (json_string_value (json_object_get (m, "digest"))))
        ret = nb_error_make (err, 0, "%s: a manifest without a valid digest",
                             where);
      if (ret == 0)
        ret = oci_registry_get_manifest (
            r, json_string_value (json_object_get (m, "digest")), &mbody, &len,
            &mmt, cur_digest, err);
      json_decref (idx);
      if (ret < 0)
        return -1;
      free (cur);
      free (cur_mt);
      body = cur = mbody;
      mt = cur_mt = mmt;
      if (put_manifest (c, body, len, cur_digest, err) < 0)
        return -1;
    }
  return fetch_image_blobs (r, c, body, len, name, err);
}

static int
pull (const char *text, const char **insecure, bool quiet, nb_error_t *err)
{
  struct oci_ref *ref = NULL;
  struct oci_registry *r = NULL;
  struct img_ctx c = { 0 };
  struct img_image img = { 0 };
  struct oci_registry_opts opts = { .insecure = insecure,
                                    .progress = !quiet };
  cleanup_free char *name = NULL, *body = NULL, *mt = NULL, *mapping = NULL;
  cleanup_close int lock = -1;
  struct oci_descriptor top = { 0 };
  char digest[OCI_DIGEST_LEN + 1];
  size_t len;
  int ret = -1;

  if (oci_ref_parse (text, &ref, err) < 0)
    return -1;
  name = oci_ref_string (ref);
  if (name == NULL)
    {
      nb_error_make (err, ENOMEM, "pull");
      goto out;
    }
  /* The store lock, shared, keeps a prune from removing what this pull has
   * written before it is tagged. */
  if (img_ctx_open (&c, err) < 0 || lock_ref (&c, name, &lock, err) < 0
      || oci_store_lock (c.store, 0, err) < 0
      || oci_registry_new (ref, &opts, &r, err) < 0)
    goto out;
  if (oci_registry_get_manifest (r, ref->digest ? ref->digest : ref->tag,
                                 &body, &len, &mt, digest, err)
      < 0)
    goto out;
  if (put_manifest (&c, body, len, digest, err) < 0)
    goto out;
  top.media_type = mt;
  snprintf (top.digest, sizeof top.digest, "%s", digest);
  top.size = (long long) len;

  if (fetch_platform_image (r, &c, name, body, len, mt, digest, err) < 0)
    goto out;

  if (img_read_image (&c, digest, mt, &img, err) < 0
      || img_unpack (&c, &img, &mapping, err) < 0)
    goto out;
  ret = oci_store_tag (c.store, name, &top, err);
  if (ret == 0 && !quiet)
    printf ("%s %s\n", name, img.manifest_digest);

out:
  if (ret < 0)
    nb_error_wrap (err, "pull %s", name ? name : text);
  img_image_clear (&img);
  if (r)
    oci_registry_free (r);
  img_ctx_close (&c);
  if (ref)
    oci_ref_free (ref);
  return ret;
}

int
img_pull (const char *ref, bool quiet, nb_error_t *err)
{
  const char *insecure[MAX_INSECURE + 1] = { NULL };
  json_t *config = NULL;
  size_t n = 0;
  int ret = config_insecure (insecure, &n, &config, err);

  if (ret == 0)
    ret = pull (ref, insecure, quiet, err);
  json_decref (config);
  return ret;
}

int
img_cmd_pull (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "insecure-registry", required_argument, NULL, 'i' },
          { "quiet", no_argument, NULL, 'q' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  const char *insecure[MAX_INSECURE + 1] = { NULL };
  size_t n = 0;
  json_t *config = NULL;
  bool quiet = false;
  int c, ret;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "+qh", longopts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        if (n < MAX_INSECURE)
          insecure[n++] = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'h':
        printf ("usage: nsbox pull [--insecure-registry HOST[:PORT]]... [-q] "
                "REF\nSee nsbox-pull(1).\n");
        return 0;
      default:
        nb_error_make (&err, 0, "pull: unknown option '%s'", argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (optind != argc - 1)
    {
      nb_error_make (&err, 0, "pull: expects one image reference");
      return nb_error_report (&err);
    }
  if (config_insecure (insecure, &n, &config, &err) < 0)
    {
      json_decref (config);
      return nb_error_report (&err);
    }
  ret = pull (argv[optind], insecure, quiet, &err);
  json_decref (config);
  if (ret < 0)
    return nb_error_report (&err);
  return 0;
}
