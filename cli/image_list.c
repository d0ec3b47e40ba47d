/* nsbox images [--json] [-q]; nsbox rmi REF...; nsbox image prune */
#define _GNU_SOURCE
#include "cli/image.h"
#include "cli/mapped.h"
#include "cli/sandbox.h"
#include "oci/ref.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define REF_NAME "org.opencontainers.image.ref.name"

static void
human_size (long long n, char *buf, size_t size)
{
  if (n >= 1000LL * 1000 * 1000)
    snprintf (buf, size, "%.1f GB", (double) n / 1e9);
  else if (n >= 1000LL * 1000)
    snprintf (buf, size, "%.1f MB", (double) n / 1e6);
  else
    snprintf (buf, size, "%.1f kB", (double) n / 1e3);
}

/* One entry of the store's index as `images --json` shows it. */
static json_t *
describe (struct img_ctx *c, json_t *entry, nb_error_t *err)
{
  const char *name = json_string_value (
      json_object_get (json_object_get (entry, "annotations"), REF_NAME));
  const char *digest = json_string_value (json_object_get (entry, "digest"));
  const char *mt = json_string_value (json_object_get (entry, "mediaType"));
  struct img_image img;
  json_t *out, *layers, *l, *diff_ids, *ids = json_array ();
  long long size = 0;
  cleanup_free char *mapping = NULL;
  size_t i;

  if (name == NULL || digest == NULL || !oci_digest_valid (digest))
    return NULL;
  if (img_read_image (c, digest, mt, &img, err) < 0)
    {
      json_decref (ids);
      return NULL;
    }
  layers = json_object_get (img.manifest, "layers");
  json_array_foreach (layers, i, l)
      size += json_integer_value (json_object_get (l, "size"));
  diff_ids = json_object_get (json_object_get (img.config, "rootfs"),
                              "diff_ids");
  json_array_foreach (diff_ids, i, l)
  {
    char *m = img_layer_mapping (c, json_string_value (l), 0, 0);
    json_array_append (ids, l);
    if (m && mapping && strcmp (m, mapping) != 0)
      {
        free (mapping);
        mapping = strdup ("mixed");
      }
    if (m && mapping == NULL)
      mapping = m;
    else
      free (m);
  }
  out = json_pack ("{s:s, s:s, s:s, s:s?, s:s?, s:I, s:o, s:s?}", "name", name,
                   "digest", digest, "manifest", img.manifest_digest, "config",
                   json_string_value (json_object_get (
                       json_object_get (img.manifest, "config"), "digest")),
                   "created",
                   json_string_value (json_object_get (img.config, "created")),
                   "size", (json_int_t) size, "layers", ids, "idmap", mapping);
  img_image_clear (&img);
  return out;
}

int
img_cmd_images (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "json", no_argument, NULL, 'j' },
          { "quiet", no_argument, NULL, 'q' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  struct img_ctx c;
  json_t *list, *e, *all = json_array ();
  int opt, json = 0, quiet = 0, ret = 0;
  size_t i;

  opterr = 0;
  while ((opt = getopt_long (argc, argv, "qh", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'j':
        json = 1;
        break;
      case 'q':
        quiet = 1;
        break;
      case 'h':
        printf ("usage: nsbox images [--json] [-q]\nSee nsbox-images(1).\n");
        json_decref (all);
        return 0;
      default:
        json_decref (all);
        nb_error_make (&err, 0, "images: unknown option '%s'",
                       argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (img_ctx_open (&c, &err) < 0 || oci_store_lock (c.store, 0, &err) < 0
      || oci_store_list (c.store, &list, &err) < 0)
    {
      img_ctx_close (&c);
      json_decref (all);
      return nb_error_report (&err);
    }
  json_array_foreach (list, i, e)
  {
    json_t *d = describe (&c, e, &err);
    if (d)
      json_array_append_new (all, d);
    else if (err)
      {
        /* One broken image must not hide the others: say it and go on. */
        fprintf (stderr, "nsbox: warning: %s\n", err->msg);
        nb_error_free (&err);
        ret = 1;
      }
  }
  oci_store_unlock (c.store);
  img_ctx_close (&c);

  if (json)
    {
      char *s = json_dumps (all, JSON_INDENT (2));
      puts (s ? s : "[]");
      free (s);
    }
  else
    {
      if (!quiet)
        printf ("%-50s %-14s %-22s %s\n", "NAME", "ID", "CREATED", "SIZE");
      json_array_foreach (all, i, e)
      {
        const char *cfg = json_string_value (json_object_get (e, "config"));
        const char *created
            = json_string_value (json_object_get (e, "created"));
        /* Names and dates come from index.json and image configs. */
        cleanup_free char *name = nb_escape (
            json_string_value (json_object_get (e, "name")) ?: "-");
        cleanup_free char *when = nb_escape (created ? created : "-");
        char size[32];
        human_size (json_integer_value (json_object_get (e, "size")), size,
                    sizeof size);
        if (quiet)
          printf ("%s\n", name ? name : "?");
        else
          printf ("%-50s %-14.12s %-22.20s %s\n", name ? name : "?",
                  cfg && oci_digest_hex (cfg) ? oci_digest_hex (cfg) : "-",
                  when ? when : "?", size);
      }
    }
  json_decref (all);
  return ret;
}

int
img_cmd_rmi (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  struct img_ctx c;
  int status = 0;

  if (argc < 2 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0)
    {
      printf ("usage: nsbox rmi REF...\nSee nsbox-rmi(1).\n");
      return argc < 2 ? 125 : 0;
    }
  if (img_ctx_open (&c, &err) < 0 || oci_store_lock (c.store, 0, &err) < 0)
    {
      img_ctx_close (&c);
      return nb_error_report (&err);
    }
  for (int i = 1; i < argc; i++)
    {
      struct oci_ref *ref = NULL;
      cleanup_free char *name = NULL;
      if (oci_ref_parse (argv[i], &ref, &err) == 0)
        {
          name = oci_ref_string (ref);
          oci_ref_free (ref);
          if (name && oci_store_untag (c.store, name, &err) == 0)
            {
              printf ("Untagged: %s\n", name);
              continue;
            }
        }
      nb_error_wrap (&err, "rmi %s", argv[i]);
      status = nb_error_report (&err);
    }
  oci_store_unlock (c.store);
  img_ctx_close (&c);
  return status;
}

/* Pulls leave a lock file per reference (store/.pull-*.lock); those no pull
 * holds now go with a prune.  One that a pull opens just before it goes
 * only costs that pull its turn-taking, never correctness: blobs and layers
 * are written atomically either way. */
static void
remove_stale_pull_locks (struct img_ctx *c)
{
  DIR *d = opendir (c->store_dir);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir (d)))
    {
      int fd;
      if (strncmp (de->d_name, ".pull-", 6) != 0
          || strstr (de->d_name, ".lock") == NULL)
        continue;
      fd = openat (dirfd (d), de->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        continue;
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        unlinkat (dirfd (d), de->d_name, 0);
      close (fd);
    }
  closedir (d);
}

struct prune_job
{
  struct img_ctx *c;
  size_t blobs, layers;
  json_t *in_use; /* diff_id hex -> true: layers sandboxes run on */
};

/* A sandbox on an image template runs on the layer dirs its record names,
 * whatever became of the image's name: prune keeps them. */
static int
collect_in_use (const char *dir, json_t *record, void *arg)
{
  json_t *in_use = arg, *l;
  size_t i;

  (void) dir;
  json_array_foreach (json_object_get (json_object_get (record, "image"),
                                       "layers"),
                      i, l)
  {
    const char *path = json_string_value (l), *base;
    char hex[65];
    if (path == NULL || (base = strrchr (path, '/')) == NULL
        || strlen (base + 1) < 64)
      continue;
    memcpy (hex, base + 1, 64);
    hex[64] = '\0';
    json_object_set_new (in_use, hex, json_true ());
  }
  return 0;
}

static int
prune_cb (void *arg, nb_error_t *err)
{
  struct prune_job *j = arg;
  if (oci_store_prune_keep (j->c->store, j->c->layers_dir, j->in_use,
                            &j->blobs, &j->layers, err)
      < 0)
    return -1;
  /* Said here: this may run in a child inside the user namespace. */
  printf ("Removed %zu blobs and %zu layers\n", j->blobs, j->layers);
  fflush (stdout);
  return 0;
}

int
img_cmd_image (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  struct img_ctx c;
  struct prune_job j = { .c = &c };
  bool keep;
  int ret;

  if (argc < 2 || strcmp (argv[1], "prune") != 0)
    {
      printf ("usage: nsbox image prune\nSee nsbox-image(1).\n");
      return argc >= 2 && (strcmp (argv[1], "-h") == 0
                           || strcmp (argv[1], "--help") == 0)
                 ? 0
                 : 125;
    }
  if (img_ctx_open (&c, &err) < 0)
    {
      img_ctx_close (&c);
      return nb_error_report (&err);
    }
  j.in_use = json_object ();
  if (j.in_use == NULL || sb_sandbox_each (collect_in_use, j.in_use, &err) < 0)
    {
      json_decref (j.in_use);
      img_ctx_close (&c);
      nb_error_wrap (&err, "image prune: read the sandboxes");
      return nb_error_report (&err);
    }
  /* Layers hold files of subordinate owners: only from inside the user
   * namespace can they be removed without privileges. */
  ret = sb_call_mapped (prune_cb, &j, NULL, &keep, &err);
  json_decref (j.in_use);
  if (ret == 0)
    remove_stale_pull_locks (&c);
  img_ctx_close (&c);
  if (ret < 0)
    {
      nb_error_wrap (&err, "image prune");
      return nb_error_report (&err);
    }
  return 0;
}
