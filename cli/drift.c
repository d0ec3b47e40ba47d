#define _GNU_SOURCE
#include "cli/drift.h"
#include "runtime/base/cleanup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
strv_json (char *const *v)
{
  json_t *a = json_array ();
  for (; v && *v; v++)
    json_array_append_new (a, json_string (*v));
  return a;
}

json_t *
sb_run_options (const char *credentials, const char *const *binds,
                bool nested, const char *seccomp, char *const *env,
                char *const *cap_add, char *const *cap_drop)
{
  json_t *vols = json_array (), *names = json_array ();

  for (const char *const *b = binds; b && b[0] && b[1] && b[2]; b += 3)
    json_array_append_new (vols, json_sprintf ("%s:%s:%s", b[0], b[1], b[2]));
  /* Names only: values may be secrets, and they are not the sandbox's. */
  for (char *const *e = env; e && *e; e++)
    json_array_append_new (names,
                           json_stringn (*e, strcspn (*e, "=")));
  return json_pack ("{s:s, s:o, s:b, s:s, s:o, s:o, s:o}", "credentials",
                    credentials, "volumes", vols, "allow_nested", nested,
                    "seccomp", seccomp ? seccomp : "default", "env", names,
                    "cap_add", strv_json (cap_add), "cap_drop",
                    strv_json (cap_drop));
}

static char *
shown (json_t *v)
{
  if (json_is_array (v) && json_array_size (v) == 0)
    return strdup ("none");
  if (json_is_string (v))
    return strdup (json_string_value (v));
  return json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *
sb_options_drift (json_t *recorded, json_t *now)
{
  static const struct
  {
    const char *key, *flag;
  } keys[] = { { "workspaces", "extra workspaces" },
               { "volumes", "-v" },
               { "credentials", "--credentials" },
               { "allow_nested", "--allow-nested" },
               { "seccomp", "--security-opt seccomp" },
               { "cap_add", "--cap-add" },
               { "cap_drop", "--cap-drop" },
               { "limits", "--memory/--cpus/--pids-limit" },
               { "network", "--network" },
               { NULL, NULL } };
  char *text = NULL;
  size_t len = 0;
  FILE *f;

  if (!json_is_object (recorded))
    return NULL;
  f = open_memstream (&text, &len);
  if (f == NULL)
    return NULL;
  for (int i = 0; keys[i].key; i++)
    {
      json_t *was = json_object_get (recorded, keys[i].key);
      json_t *is = json_object_get (now, keys[i].key);
      /* Limits asked now and none then (or the other way) differ too. */
      if (strcmp (keys[i].key, "limits") == 0 && (was || is)
          && !json_equal (was, is))
        {
          cleanup_free char *a = is ? shown (is) : strdup ("none");
          cleanup_free char *b = was ? shown (was) : strdup ("none");
          fprintf (f, "%s%s: asked %s, running with %s",
                   ftell (f) > 0 ? "; " : "", keys[i].flag, a ? a : "?",
                   b ? b : "?");
          continue;
        }
      if (was && is && !json_equal (was, is))
        {
          cleanup_free char *a = shown (is), *b = shown (was);
          fprintf (f, "%s%s: asked %s, running with %s", ftell (f) > 0 ? "; " : "",
                   keys[i].flag, a ? a : "?", b ? b : "?");
        }
    }
  fclose (f);
  if (text && text[0] == '\0')
    {
      free (text);
      return NULL;
    }
  return text;
}
