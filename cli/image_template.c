/* An image as a sandbox template (in nsbox-images.so): what `nsbox run -t REF`
 * needs of it the first time -- its layers, extracted, and its config.  The
 * sandbox records the answer, so later runs never load this plugin. */
#define _GNU_SOURCE
#include "cli/image.h"
#include "cli/mapped.h"
#include "oci/ref.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
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

/* The user an image runs as: its config's User resolved against its own
 * /etc/passwd and /etc/group. */
struct image_user
{
  uint32_t uid, gid;
  char *name;
  char *home;
};

/* FILE (etc/passwd, etc/group) of the image: the topmost layer that has it;
 * never followed out of the layer (RESOLVE_BENEATH, no symlinks). */
static char *
image_file (json_t *dirs, const char *file)
{
  for (size_t i = json_array_size (dirs); i-- > 0;)
    {
      const char *dir = json_string_value (json_array_get (dirs, i));
      cleanup_close int dfd = dir ? open (dir, O_PATH | O_DIRECTORY
                                                   | O_CLOEXEC)
                                  : -1;
      struct open_how how = { .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC,
                              .resolve = RESOLVE_BENEATH
                                         | RESOLVE_NO_SYMLINKS
                                         | RESOLVE_NO_MAGICLINKS };
      cleanup_close int fd = -1;
      struct stat st;
      char *text;
      ssize_t n;

      if (dfd < 0)
        continue;
      if (fstatat (dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      /* A whiteout: removed in this layer, whatever lies below. */
      if (!S_ISREG (st.st_mode) || st.st_size > (1 << 20))
        return NULL;
      fd = (int) syscall (SYS_openat2, dfd, file, &how, sizeof how);
      if (fd < 0 || (text = malloc ((size_t) st.st_size + 1)) == NULL)
        return NULL;
      n = read (fd, text, (size_t) st.st_size);
      text[n > 0 ? n : 0] = '\0';
      return text;
    }
  return NULL;
}

/* The passwd(5) or group(5) line whose name or id is KEY: fields in F. */
static bool
find_entry (char *text, const char *key, char *f[7], int nf)
{
  for (char *line = text ? strtok (text, "\n") : NULL; line;
       line = strtok (NULL, "\n"))
    {
      int k = 0;
      char *p = line;
      for (; k < nf; k++)
        {
          f[k] = p;
          p = strchr (p, ':');
          if (p == NULL)
            break;
          *p++ = '\0';
        }
      if (k + 1 < nf - 1)
        continue;
      if (strcmp (f[0], key) == 0 || strcmp (f[2], key) == 0)
        return true;
    }
  return false;
}

static bool
numeric (const char *s, uint32_t *out)
{
  char *end;
  unsigned long v;
  if (*s == '\0')
    return false;
  errno = 0;
  v = strtoul (s, &end, 10);
  if (*end || errno || v > UINT32_MAX - 1)
    return false;
  *out = (uint32_t) v;
  return true;
}

static int
resolve_user (const char *spec, json_t *dirs, struct image_user *u,
              nb_error_t *err)
{
  cleanup_free char *copy = strdup (spec ? spec : "");
  cleanup_free char *passwd = image_file (dirs, "etc/passwd");
  cleanup_free char *group = NULL;
  char *user, *grp, *f[7];

  memset (u, 0, sizeof *u);
  if (copy == NULL)
    return nb_error_make (err, ENOMEM, "image user");
  user = copy;
  grp = strchr (copy, ':');
  if (grp)
    *grp++ = '\0';
  if (*user == '\0')
    user = (char *) "0";
  if (find_entry (passwd, user, f, 7))
    {
      if (!numeric (f[2], &u->uid) || !numeric (f[3], &u->gid))
        return nb_error_make (err, 0, "image user %s: a malformed /etc/passwd "
                                      "entry", user);
      u->name = strdup (f[0]);
      u->home = strdup (f[5]);
    }
  else if (numeric (user, &u->uid))
    u->gid = u->uid == 0 ? 0 : u->uid;
  else
    return nb_error_make (err, 0,
                          "image user '%s': not in the image's /etc/passwd",
                          user);
  if (grp && *grp)
    {
      group = image_file (dirs, "etc/group");
      if (find_entry (group, grp, f, 4))
        {
          if (!numeric (f[2], &u->gid))
            return nb_error_make (err, 0, "image group %s: a malformed "
                                          "/etc/group entry", grp);
        }
      else if (!numeric (grp, &u->gid))
        return nb_error_make (err, 0,
                              "image group '%s': not in the image's "
                              "/etc/group",
                              grp);
    }
  return 0;
}

/* The layer dirs of IMG, lowest first, each extracted with MAPPING. */
static json_t *
layer_dirs (struct img_ctx *c, const struct img_image *img, uint32_t kuid,
            uint32_t kgid, const char *mapping, nb_error_t *err)
{
  json_t *diff_ids = json_object_get (json_object_get (img->config, "rootfs"),
                                      "diff_ids");
  json_t *dirs = json_array (), *id;
  size_t i;

  json_array_foreach (diff_ids, i, id)
  {
    const char *d = json_string_value (id);
    cleanup_free char *dir = d ? img_layer_dir (c, d, kuid, kgid) : NULL;
    cleanup_free char *m = d ? img_layer_mapping (c, d, kuid, kgid) : NULL;
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
img_template (const char *ref, const char *pull, const char *user,
              json_t **out, nb_error_t *err)
{
  struct img_ctx c = { 0 };
  struct img_image img = { 0 };
  struct oci_descriptor d = { 0 };
  struct oci_ref *r = NULL;
  cleanup_free char *name = NULL, *mapping = NULL;
  struct image_user u = { 0 };
  json_t *dirs = NULL, *config;
  uint32_t kuid = 0, kgid = 0;
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
  dirs = layer_dirs (&c, &img, 0, 0, mapping, err);
  if (dirs == NULL)
    goto out;
  config = json_object_get (img.config, "config");
  /* The agent profile's user, else the image's own. */
  if (resolve_user (user ? user
                         : json_string_value (json_object_get (config, "User")),
                    dirs, &u, err)
      < 0)
    goto out;
  /* An image that runs as a user of its own (claude-code's agent, 1000):
   * its layers once more, with that uid mapped to the user (keep-id), so
   * the agent's files are the user's and the image's owners stay as they
   * are.  Without subordinate ids there is one id to map anyway, and the
   * store's layers serve. */
  if ((u.uid || u.gid) && sb_subids_available (NULL))
    {
      kuid = u.uid;
      kgid = u.gid;
      free (mapping);
      mapping = NULL;
      json_decref (dirs);
      dirs = NULL;
      if (img_unpack_keep (&c, &img, kuid, kgid, &mapping, err) < 0
          || (dirs = layer_dirs (&c, &img, kuid, kgid, mapping, err)) == NULL)
        goto out;
    }
  *out = json_pack ("{s:s, s:s, s:o, s:s, s:O, s:I, s:I, s:s?, s:s?, s:s?}",
                    "ref", name, "digest", img.manifest_digest, "layers",
                    dirs, "mapping", mapping, "config",
                    json_is_object (config) ? config : json_null (), "uid",
                    (json_int_t) u.uid, "gid", (json_int_t) u.gid, "user",
                    u.name, "home", u.home, "asked_user", user);
  dirs = NULL;
  if (*out == NULL)
    nb_error_make (err, ENOMEM, "template %s", name);
  else
    ret = 0;
out:
  if (ret < 0)
    nb_error_wrap (err, "template %s", name);
  json_decref (dirs);
  free (u.name);
  free (u.home);
  img_image_clear (&img);
  oci_descriptor_clear (&d);
  img_ctx_close (&c);
  return ret;
}

__attribute__ ((visibility ("default"))) int
nsbox_image_template (const char *ref, const char *pull, const char *user,
                      json_t **out, nb_error_t *err)
{
  return img_template (ref, pull, user, out, err);
}
