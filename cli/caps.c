#define _GNU_SOURCE
#include "cli/caps.h"
#include "runtime/base/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

char *
sb_cap_name (const char *name, nb_error_t *err)
{
  char lower[64], *out;
  cap_value_t v;
  size_t n = 0;

  if (strncasecmp (name, "CAP_", 4) == 0)
    name += 4;
  if (strcasecmp (name, "ALL") == 0)
    return strdup ("CAP_ALL");
  if (strlen (name) + 5 > sizeof lower)
    goto bad;
  memcpy (lower, "cap_", 4);
  for (n = 0; name[n]; n++)
    lower[4 + n] = (char) tolower ((unsigned char) name[n]);
  lower[4 + n] = '\0';
  if (cap_from_name (lower, &v) < 0)
    goto bad;
  out = strdup (lower);
  for (char *p = out; p && *p; p++)
    *p = (char) toupper ((unsigned char) *p);
  return out;
bad:
  nb_error_make (err, 0, "%s: not a capability", name);
  nb_error_hint (err, "names as in capabilities(7): CHOWN, NET_RAW, "
                      "SYS_PTRACE, ... or ALL");
  return NULL;
}

static bool
listed (char *const *v, const char *cap)
{
  for (; v && *v; v++)
    if (strcmp (*v, "CAP_ALL") == 0 || strcmp (*v, cap) == 0)
      return true;
  return false;
}

static void
drop_from (json_t *set, char *const *drop)
{
  for (size_t i = json_array_size (set); i-- > 0;)
    if (listed (drop, json_string_value (json_array_get (set, i))))
      json_array_remove (set, i);
}

static int
add_to (json_t *set, const char *cap)
{
  size_t i;
  json_t *v;
  json_array_foreach (set, i, v)
  if (strcmp (json_string_value (v), cap) == 0)
    return 0;
  return json_array_append_new (set, json_string (cap));
}

int
sb_caps_adjust (json_t *spec, char *const *add, char *const *drop,
                nb_error_t *err)
{
  static const char *const sets[]
      = { "bounding", "effective", "permitted", "inheritable", "ambient",
          NULL };
  json_t *process = json_object_get (spec, "process");
  json_t *caps = json_object_get (process, "capabilities");
  json_int_t uid = json_integer_value (
      json_object_get (json_object_get (process, "user"), "uid"));
  int r = 0;

  if (!json_is_object (caps))
    return nb_error_make (err, 0, "the sandbox's spec has no capabilities");
  for (const char *const *s = sets; *s; s++)
    drop_from (json_object_get (caps, *s), drop);
  for (char *const *a = add; a && *a; a++)
    for (int c = 0; c <= CAP_LAST_CAP; c++)
      {
        cleanup_free char *name = NULL;
        char *lower = cap_to_name (c);
        if (lower == NULL)
          continue;
        name = strdup (lower);
        cap_free (lower);
        for (char *p = name; p && *p; p++)
          *p = (char) toupper ((unsigned char) *p);
        if (name == NULL || (strcmp (*a, "CAP_ALL") && strcmp (*a, name)))
          continue;
        r |= add_to (json_object_get (caps, "bounding"), name);
        if (uid == 0)
          {
            r |= add_to (json_object_get (caps, "effective"), name);
            r |= add_to (json_object_get (caps, "permitted"), name);
          }
      }
  return r < 0 ? nb_error_make (err, ENOMEM, "capabilities") : 0;
}
