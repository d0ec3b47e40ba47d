/* Shared by the image verbs: the store, reading images back, unpacking. */
#define _GNU_SOURCE
#include "cli/image.h"
#include "cli/mapped.h"
#include "oci/extract.h"
#include "oci/registry.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/idmap.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

int
img_ctx_open (struct img_ctx *c, nb_error_t *err)
{
  memset (c, 0, sizeof *c);
  if (nb_data_dir (&c->data_dir, err) < 0)
    return -1;
  c->store_dir = nb_path_join (c->data_dir, "store");
  c->layers_dir = nb_path_join (c->data_dir, "layers");
  if (c->store_dir == NULL || c->layers_dir == NULL)
    return nb_error_make (err, ENOMEM, "image store");
  if (nb_mkdir_p (c->layers_dir, 0700, err) < 0)
    return -1;
  return oci_store_open (c->store_dir, &c->store, err);
}

void
img_ctx_close (struct img_ctx *c)
{
  if (c->store)
    oci_store_close (c->store);
  free (c->data_dir);
  free (c->store_dir);
  free (c->layers_dir);
  memset (c, 0, sizeof *c);
}

void
img_image_clear (struct img_image *img)
{
  json_decref (img->manifest);
  json_decref (img->config);
  memset (img, 0, sizeof *img);
}

const char *
img_host_arch (void)
{
  static const struct
  {
    const char *uname, *oci;
  } arches[] = { { "x86_64", "amd64" },   { "aarch64", "arm64" },
                 { "armv7l", "arm" },     { "i686", "386" },
                 { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
                 { "riscv64", "riscv64" }, { NULL, NULL } };
  static struct utsname u;

  if (u.machine[0] == '\0')
    uname (&u);
  for (size_t i = 0; arches[i].uname; i++)
    if (strcmp (u.machine, arches[i].uname) == 0)
      return arches[i].oci;
  return u.machine;
}

bool
img_is_index_type (const char *media_type)
{
  return media_type
         && (strcmp (media_type, OCI_MT_OCI_INDEX) == 0
             || strcmp (media_type, OCI_MT_DOCKER_LIST) == 0);
}

int
img_select_platform (json_t *index, const char *what, json_t **manifest,
                     nb_error_t *err)
{
  const char *arch = img_host_arch ();
  json_t *list = json_object_get (index, "manifests"), *m, *nested = NULL;
  cleanup_free char *offered = NULL;
  size_t i;

  if (!json_is_array (list))
    return nb_error_make (err, 0, "%s: an image index without manifests",
                          what);
  json_array_foreach (list, i, m)
  {
    json_t *p = json_object_get (m, "platform");
    const char *os = json_string_value (json_object_get (p, "os"));
    const char *a = json_string_value (json_object_get (p, "architecture"));
    char *more = NULL;

    if (os && a && strcmp (os, "linux") == 0 && strcmp (a, arch) == 0)
      {
        *manifest = m;
        return 0;
      }
    /* An index may list further indexes, which carry the platforms. */
    if (p == NULL && nested == NULL
        && img_is_index_type (
            json_string_value (json_object_get (m, "mediaType"))))
      nested = m;
    if (asprintf (&more, "%s%s%s/%s", offered ? offered : "",
                  offered ? ", " : "", os ? os : "?", a ? a : "?")
        >= 0)
      {
        free (offered);
        offered = more;
      }
  }
  if (nested)
    {
      *manifest = nested;
      return 0;
    }
  return nb_error_make (err, 0, "%s: no image for linux/%s (it has %s)", what,
                        arch, offered ? offered : "none");
}

static int
read_json_blob (struct img_ctx *c, const char *digest, json_t **out,
                nb_error_t *err)
{
  cleanup_free char *data = NULL;
  json_error_t jerr;
  size_t len;

  if (oci_store_read_blob (c->store, digest, &data, &len, err) < 0)
    return -1;
  *out = json_loadb (data, len, 0, &jerr);
  if (*out == NULL || !json_is_object (*out))
    {
      json_decref (*out);
      *out = NULL;
      return nb_error_make (err, 0, "blob %s: not a JSON object (%s)", digest,
                            jerr.text);
    }
  return 0;
}

static bool
is_index (const char *media_type, json_t *doc)
{
  const char *mt = media_type;
  if (mt == NULL)
    mt = json_string_value (json_object_get (doc, "mediaType"));
  if (mt)
    return img_is_index_type (mt);
  return json_is_array (json_object_get (doc, "manifests"));
}

int
img_read_image (struct img_ctx *c, const char *digest, const char *media_type,
                struct img_image *img, nb_error_t *err)
{
  json_t *doc = NULL, *config, *layers, *diff_ids;
  const char *cfg_digest;
  int depth;

  memset (img, 0, sizeof *img);
  if (read_json_blob (c, digest, &doc, err) < 0)
    return -1;
  snprintf (img->manifest_digest, sizeof img->manifest_digest, "%s", digest);
  /* Indexes may nest (image-spec: an index's manifests may be indexes);
   * follow them down to the platform's manifest, a bounded way. */
  for (depth = 0; is_index (media_type, doc); depth++)
    {
      json_t *m;
      const char *d;
      char where[OCI_DIGEST_LEN + 16];

      snprintf (where, sizeof where, "index %s", img->manifest_digest);
      if (depth == IMG_MAX_INDEX_DEPTH)
        {
          json_decref (doc);
          return nb_error_make (err, 0,
                                "image %s: indexes nested more than %d deep",
                                digest, IMG_MAX_INDEX_DEPTH);
        }
      if (img_select_platform (doc, where, &m, err) < 0)
        {
          json_decref (doc);
          return -1;
        }
      d = json_string_value (json_object_get (m, "digest"));
      if (d == NULL || !oci_digest_valid (d))
        {
          json_decref (doc);
          return nb_error_make (err, 0, "%s: a manifest without a valid "
                                        "digest", where);
        }
      snprintf (img->manifest_digest, sizeof img->manifest_digest, "%s", d);
      media_type = json_string_value (json_object_get (m, "mediaType"));
      /* The descriptor's media type goes with DOC: copy it before DOC goes. */
      media_type = media_type && img_is_index_type (media_type)
                       ? OCI_MT_OCI_INDEX
                       : NULL;
      json_decref (doc);
      doc = NULL;
      if (read_json_blob (c, img->manifest_digest, &doc, err) < 0)
        return -1;
    }
  img->manifest = doc;
  config = json_object_get (doc, "config");
  layers = json_object_get (doc, "layers");
  cfg_digest = json_string_value (json_object_get (config, "digest"));
  if (cfg_digest == NULL || !oci_digest_valid (cfg_digest)
      || !json_is_array (layers))
    {
      const char *mt = json_string_value (json_object_get (doc, "mediaType"));
      char what[160];
      snprintf (what, sizeof what, "%s%s%s", mt ? " (media type " : "",
                mt ? mt : "", mt ? ")" : "");
      nb_error_make (err, 0,
                     "manifest %s%s: not an image manifest: no valid config "
                     "digest or layers list",
                     img->manifest_digest, what);
      img_image_clear (img);
      return -1;
    }
  if (read_json_blob (c, cfg_digest, &img->config, err) < 0)
    {
      img_image_clear (img);
      return -1;
    }
  diff_ids = json_object_get (json_object_get (img->config, "rootfs"),
                              "diff_ids");
  if (json_array_size (diff_ids) != json_array_size (layers))
    {
      /* Counted before the clear: LAYERS and DIFF_IDS live in IMG. */
      size_t nd = json_array_size (diff_ids), nl = json_array_size (layers);
      img_image_clear (img);
      return nb_error_make (err, 0,
                            "image %s: the config lists %zu diff_ids for %zu "
                            "layers",
                            digest, nd, nl);
    }
  return 0;
}

/* --- unpacking --- */

struct unpack_job
{
  struct img_ctx *c;
  const struct img_image *img;
  bool keep_owners;
  char **mapping;
  uint32_t keep_uid, keep_gid;
};

char *
img_layer_dir (struct img_ctx *c, const char *diff_id, uint32_t keep_uid,
               uint32_t keep_gid)
{
  const char *hex = oci_digest_hex (diff_id);
  char *p = NULL;

  if (hex == NULL)
    return NULL;
  /* "<hex>.keep-U-G": a companion of "<hex>" for prune, kept and removed
   * with it. */
  if (keep_uid == 0 && keep_gid == 0)
    return nb_path_join (c->layers_dir, hex);
  if (asprintf (&p, "%s/%s.keep-%u-%u", c->layers_dir, hex, keep_uid,
                keep_gid)
      < 0)
    return NULL;
  return p;
}

static int
layer_present (struct unpack_job *j, const char *diff_id)
{
  cleanup_free char *p = img_layer_dir (j->c, diff_id, j->keep_uid,
                                        j->keep_gid);
  struct stat st;
  return p && stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

char *
img_layer_mapping (struct img_ctx *c, const char *diff_id, uint32_t keep_uid,
                   uint32_t keep_gid)
{
  cleanup_free char *dir = img_layer_dir (c, diff_id, keep_uid, keep_gid);
  cleanup_free char *p = NULL;
  char *text = NULL;
  cleanup_error nb_error_t err = NULL;

  if (dir == NULL || asprintf (&p, "%s.mapping", dir) < 0)
    return NULL;
  if (nb_read_file (p, &text, NULL, &err) < 0)
    return NULL;
  text[strcspn (text, "\n")] = '\0';
  return text;
}

/* Temp dirs of an extraction that died (killed, power cut): each live
 * extraction holds a flock on its temp dir, so one that can be locked is
 * stale.  Best effort: prune removes whatever is left. */
static void
sweep_stale_tmp (struct img_ctx *c, const char *hex)
{
  cleanup_close int lfd = open (c->layers_dir, O_RDONLY | O_DIRECTORY
                                                   | O_CLOEXEC);
  char prefix[80];
  struct dirent *de;
  DIR *d;

  if (lfd < 0 || (d = fdopendir (fcntl (lfd, F_DUPFD_CLOEXEC, 0))) == NULL)
    return;
  snprintf (prefix, sizeof prefix, ".tmp-%s-", hex);
  while ((de = readdir (d)))
    {
      cleanup_close int fd = -1;
      cleanup_error nb_error_t e = NULL;

      if (strncmp (de->d_name, prefix, strlen (prefix)) != 0)
        continue;
      fd = openat (lfd, de->d_name,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && flock (fd, LOCK_EX | LOCK_NB) == 0)
        nb_rm_rf_at (lfd, de->d_name, &e);
    }
  closedir (d);
}

static int
unpack_one (struct unpack_job *j, const char *digest, const char *diff_id,
            nb_error_t *err)
{
  struct img_ctx *c = j->c;
  const char *hex = oci_digest_hex (diff_id);
  cleanup_free char *tmp = NULL, *final = NULL, *mapfile = NULL;
  cleanup_close int blob = -1, dir = -1;
  cleanup_error nb_error_t rm_err = NULL;
  struct oci_extract_opts opts = { .blob_digest = digest,
                                   .diff_id = diff_id,
                                   .keep_owners = j->keep_owners };
  struct oci_extract_result res;

  if (asprintf (&tmp, "%s/.tmp-%s-XXXXXX", c->layers_dir, hex) < 0
      || (final = img_layer_dir (c, diff_id, j->keep_uid, j->keep_gid)) == NULL
      || asprintf (&mapfile, "%s.mapping", final) < 0)
    return nb_error_make (err, ENOMEM, "layer %s", digest);
  sweep_stale_tmp (c, hex);
  if (mkdtemp (tmp) == NULL)
    return nb_error_make (err, errno, "layer %s: mkdtemp in %s", digest,
                          c->layers_dir);
  chmod (tmp, 0755);
  dir = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* Held until the rename: it tells a later pull that we are alive. */
  if (dir < 0 || flock (dir, LOCK_EX) < 0)
    {
      nb_error_make (err, errno, "open %s", tmp);
      goto fail;
    }
  blob = oci_store_open_blob (c->store, digest, err);
  if (blob < 0 || oci_extract_layer (blob, dir, &opts, &res, err) < 0)
    goto fail;
  if (res.devices_skipped > 0)
    fprintf (stderr,
             "nsbox: note: layer %s: %lld device node%s left out (a rootless "
             "sandbox cannot have them; its /dev is nsbox's own)\n",
             digest, res.devices_skipped, res.devices_skipped == 1 ? "" : "s");
  /* 0644: written as root of the extraction's namespace, which for a
   * keep-id mapping is a subordinate id, not the user who reads it. */
  if (nb_write_file_atomic (mapfile, *j->mapping, strlen (*j->mapping), 0644,
                            1, err)
      < 0)
    goto fail;
  if (rename (tmp, final) < 0)
    {
      int e = errno;
      nb_rm_rf_at (AT_FDCWD, tmp, &rm_err);
      /* Another nsbox extracted the same layer meanwhile: keep theirs. */
      if (e != EEXIST && e != ENOTEMPTY)
        return nb_error_make (err, e, "rename %s to %s", tmp, final);
    }
  return 0;
fail:
  /* A failed extraction leaves nothing behind; if even that fails (a full
   * disk), say so: the temp dir is prune's to remove then. */
  if (nb_rm_rf_at (AT_FDCWD, tmp, &rm_err) < 0)
    nb_error_hint (err, "could not remove %s (%s); nsbox image prune will",
                   tmp, rm_err->msg);
  return -1;
}

static int
unpack_all (struct unpack_job *j, nb_error_t *err)
{
  json_t *layers = json_object_get (j->img->manifest, "layers");
  json_t *diff_ids
      = json_object_get (json_object_get (j->img->config, "rootfs"), "diff_ids");
  size_t i;
  json_t *l;

  json_array_foreach (layers, i, l)
  {
    const char *digest = json_string_value (json_object_get (l, "digest"));
    const char *diff_id = json_string_value (json_array_get (diff_ids, i));

    if (!digest || !diff_id || !oci_digest_valid (digest)
        || !oci_digest_valid (diff_id))
      return nb_error_make (err, 0, "manifest %s: layer %zu: bad digest",
                            j->img->manifest_digest, i);
    if (layer_present (j, diff_id))
      continue;
    if (unpack_one (j, digest, diff_id, err) < 0)
      return -1;
  }
  return 0;
}

static int
unpack_cb (void *arg, nb_error_t *err)
{
  return unpack_all (arg, err);
}

int
img_unpack_keep (struct img_ctx *c, const struct img_image *img,
                 uint32_t keep_uid, uint32_t keep_gid, char **mapping,
                 nb_error_t *err)
{
  /* sb_call_mapped_keep fills *MAPPING and keep_owners before FN runs (in
   * the child it forks, which sees them through the job). */
  struct unpack_job j = { .c = c, .img = img, .mapping = mapping,
                          .keep_uid = keep_uid, .keep_gid = keep_gid };
  return sb_call_mapped_keep (unpack_cb, &j, keep_uid, keep_gid, mapping,
                              &j.keep_owners, err);
}

int
img_unpack (struct img_ctx *c, const struct img_image *img, char **mapping,
            nb_error_t *err)
{
  return img_unpack_keep (c, img, 0, 0, mapping, err);
}
