/* An image as a sandbox template (in nsbox-oci.so): what `nsbox run -t REF`
 * needs of it the first time -- its layers, extracted, and its config.  The
 * sandbox records the answer, so later runs never load this plugin. */
#define _GNU_SOURCE
#include "cli/image.h"
#include "oci/ref.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
resolve (struct img_ctx *c, const char *name, struct oci_descriptor *d,
         nb_error_t *err)
{
  return oci_store_resolve (c->store, name, d, err);
}

/* The layer dirs of IMG, lowest first, each extracted with MAPPING. */
static json_t *
layer_dirs (struct img_ctx *c, const struct img_image *img,
            const char *mapping, nb_error_t *err)
{
  json_t *diff_ids = json_object_get (json_object_get (img->config, "rootfs"),
                                      "diff_ids");
  json_t *dirs = json_array (), *id;
  size_t i;

  json_array_foreach (diff_ids, i, id)
  {
    const char *hex = oci_digest_hex (json_string_value (id));
    cleanup_free char *dir = hex ? nb_path_join (c->layers_dir, hex) : NULL;
    cleanup_free char *m = hex ? img_layer_mapping (c, json_string_value (id))
                               : NULL;
    struct stat st;

    if (dir == NULL || stat (dir, &st) < 0 || !S_ISDIR (st.st_mode))
      {
        json_decref (dirs);
        nb_error_make (err, 0, "image %s: layer %s is not extracted",
                       img->manifest_digest,
                       json_string_value (id) ? json_string_value (id) : "?");
        return NULL;
      }
    /* Owners on disk depend on the mapping a layer was extracted with; the
     * sandbox must run with that same one. */
    if (m == NULL || strcmp (m, mapping) != 0)
      {
        json_decref (dirs);
        nb_error_make (err, 0,
                       "image %s: layer %s was extracted for another id "
                       "mapping (%s, not %s)",
                       img->manifest_digest, json_string_value (id),
                       m ? m : "unknown", mapping);
        nb_error_hint (err, "remove the image and its layers (nsbox rmi, "
                            "nsbox image prune) and pull it again");
        return NULL;
      }
    json_array_append_new (dirs, json_string (dir));
  }
  return dirs;
}

int
img_template (const char *ref, const char *pull, json_t **out,
              nb_error_t *err)
{
  struct img_ctx c = { 0 };
  struct img_image img = { 0 };
  struct oci_descriptor d = { 0 };
  struct oci_ref *r = NULL;
  cleanup_free char *name = NULL, *mapping = NULL;
  json_t *dirs = NULL, *config;
  int ret = -1;

  *out = NULL;
  if (strcmp (pull, "always") && strcmp (pull, "missing")
      && strcmp (pull, "never"))
    return nb_error_make (err, 0,
                          "--pull %s: expects always, missing or never", pull);
  if (oci_ref_parse (ref, &r, err) < 0)
    return -1;
  name = oci_ref_string (r);
  oci_ref_free (r);
  if (name == NULL)
    return nb_error_make (err, ENOMEM, "template %s", ref);
  if (strcmp (pull, "always") == 0 && img_pull (name, true, err) < 0)
    return -1;
  if (img_ctx_open (&c, err) < 0 || oci_store_lock (c.store, 0, err) < 0)
    goto out;
  if (resolve (&c, name, &d, err) < 0)
    {
      if ((*err)->errno_val != ENOENT || strcmp (pull, "missing") != 0)
        {
          if ((*err)->errno_val == ENOENT)
            nb_error_hint (err, "nsbox pull %s (or --pull missing)", name);
          goto out;
        }
      nb_error_free (err);
      /* Not here yet: pull it, with its progress, as docker run does. */
      oci_store_unlock (c.store);
      if (img_pull (name, true, err) < 0)
        goto out;
      if (oci_store_lock (c.store, 0, err) < 0
          || resolve (&c, name, &d, err) < 0)
        goto out;
    }
  if (img_read_image (&c, d.digest, d.media_type, &img, err) < 0)
    goto out;
  /* A layer that went missing (a prune) is extracted again; MAPPING is
   * the store's for this user now. */
  if (img_unpack (&c, &img, &mapping, err) < 0)
    goto out;
  dirs = layer_dirs (&c, &img, mapping, err);
  if (dirs == NULL)
    goto out;
  config = json_object_get (img.config, "config");
  *out = json_pack ("{s:s, s:s, s:o, s:s, s:O}", "ref", name, "digest",
                    img.manifest_digest, "layers", dirs, "mapping", mapping,
                    "config", json_is_object (config) ? config : json_null ());
  if (*out == NULL)
    nb_error_make (err, ENOMEM, "template %s", name);
  else
    ret = 0;
out:
  if (ret < 0)
    nb_error_wrap (err, "template %s", name);
  img_image_clear (&img);
  oci_descriptor_clear (&d);
  img_ctx_close (&c);
  return ret;
}

__attribute__ ((visibility ("default"))) int
nsbox_image_template (const char *ref, const char *pull, json_t **out,
                      nb_error_t *err)
{
  return img_template (ref, pull, out, err);
}
