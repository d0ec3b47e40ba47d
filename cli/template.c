#define _GNU_SOURCE
#include "cli/template.h"
#include "runtime/base/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*template_fn) (const char *, const char *, const char *,
                            json_t **, nb_error_t *);

int
sb_template_resolve (const char *ref, const char *pull, const char *user,
                     json_t **out, nb_error_t *err)
{
  void *h = nb_plugin_open ("nsbox-images.so", "NSBOX_IMAGES_LIB", err);
  template_fn fn;

  if (h == NULL)
    return nb_error_wrap (err, "template %s", ref);
  fn = (template_fn) dlsym (h, "nsbox_image_template");
  if (fn == NULL)
    return nb_error_make (err, 0, "nsbox-images.so: %s", dlerror ());
  return fn (ref, pull, user, out, err);
}

/* "0:1000:1,1:100000:65536" after "uid=" or "gid=". */
static int
parse_maps (const char *text, const char *key, struct rt_idmap *maps,
            size_t *n, size_t max)
{
  const char *p = strstr (text, key);

  *n = 0;
  if (p == NULL)
    return -1;
  p += strlen (key);
  while (*p && *p != ' ')
    {
      unsigned long c, h, s;
      int used = 0;
      if (*n == max || sscanf (p, "%lu:%lu:%lu%n", &c, &h, &s, &used) != 3
          || s == 0 || c > UINT32_MAX || h > UINT32_MAX || s > UINT32_MAX)
        return -1;
      maps[*n].container_id = (uint32_t) c;
      maps[*n].host_id = (uint32_t) h;
      maps[*n].size = (uint32_t) s;
      (*n)++;
      p += used;
      if (*p == ',')
        p++;
    }
  return *n > 0 ? 0 : -1;
}

int
sb_template_mapping (const char *mapping, struct rt_idmap *uids,
                     size_t *n_uids, struct rt_idmap *gids, size_t *n_gids,
                     size_t max, nb_error_t *err)
{
  if (mapping == NULL
      || (strncmp (mapping, "subids ", 7) != 0
          && strncmp (mapping, "single ", 7) != 0)
      || parse_maps (mapping, "uid=", uids, n_uids, max) < 0
      || parse_maps (mapping, "gid=", gids, n_gids, max) < 0)
    return nb_error_make (err, 0, "the layers' id mapping '%s' is not one "
                                  "nsbox can run with",
                          mapping ? mapping : "(none)");
  return 0;
}
