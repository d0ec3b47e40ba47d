#define _GNU_SOURCE
#include "cli/profile.h"
#include "cli/embed.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *
nb_embedded_get (const char *name, size_t *len)
{
  for (const struct nb_embedded *e = nb_embedded_files; e->name; e++)
    if (strcmp (e->name, name) == 0)
      {
        if (len)
          *len = (size_t) (e->end - e->data);
        return e->data;
      }
  return NULL;
}

int
sb_valid_name (const char *name)
{
  size_t n = strlen (name);
  if (n == 0 || n > 63 || !isalnum ((unsigned char) name[0]))
    return 0;
  for (const char *p = name; *p; p++)
    if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '_' && *p != '.')
      return 0;
  return 1;
}

void
sb_profile_free (struct sb_profile *p)
{
  if (p == NULL)
    return;
  free (p->command);
  free (p->origin);
  json_decref (p->json);
  free (p);
}

static const char *const known_keys[]
    = { "name", "description", "command", "template", "env", NULL };

static void
sb_profile_freep (struct sb_profile **p)
{
  sb_profile_free (*p);
}

int
sb_profile_parse (const char *text, const char *origin,
                  struct sb_profile **out, nb_error_t *err)
{
  __attribute__ ((cleanup (sb_profile_freep))) struct sb_profile *p = NULL;
  json_error_t jerr;
  json_t *json, *cmd, *v;
  const char *key;
  size_t i;

  json = json_loads (text, 0, &jerr);
  if (json == NULL)
    return nb_error_make (err, 0, "profile %s: line %d: %s", origin,
                          jerr.line, jerr.text);
  p = calloc (1, sizeof *p);
  if (p == NULL)
    {
      json_decref (json);
      return nb_error_make (err, ENOMEM, "profile %s", origin);
    }
  p->json = json;
  p->origin = strdup (origin);
  if (!json_is_object (json))
    return nb_error_make (err, 0, "profile %s: not a JSON object", origin);
  json_object_foreach (json, key, v)
  {
    size_t k;
    for (k = 0; known_keys[k]; k++)
      if (strcmp (key, known_keys[k]) == 0)
        break;
    if (known_keys[k] == NULL)
      return nb_error_make (err, 0, "profile %s: unknown key \"%s\"", origin,
                            key);
  }
  p->name = json_string_value (json_object_get (json, "name"));
  p->description = json_string_value (json_object_get (json, "description"));
  p->template_name = json_string_value (json_object_get (json, "template"));
  if (p->template_name == NULL)
    p->template_name = "host";
  cmd = json_object_get (json, "command");
  if (!json_is_array (cmd) || json_array_size (cmd) == 0)
    return nb_error_make (err, 0,
                          "profile %s: \"command\" must be a non-empty array "
                          "of strings",
                          origin);
  p->command = calloc (json_array_size (cmd) + 1, sizeof (char *));
  if (p->command == NULL)
    return nb_error_make (err, ENOMEM, "profile %s", origin);
  json_array_foreach (cmd, i, v)
  {
    if (!json_is_string (v))
      return nb_error_make (err, 0, "profile %s: command[%zu] is not a string",
                            origin, i);
    p->command[i] = json_string_value (v);
  }
  p->env = json_object_get (json, "env");
  if (p->env && !json_is_object (p->env))
    return nb_error_make (err, 0, "profile %s: \"env\" must be an object",
                          origin);
  json_object_foreach (p->env, key, v)
  {
    if (!json_is_string (v) || strchr (key, '=') || key[0] == '\0')
      return nb_error_make (err, 0,
                            "profile %s: env %s: a variable needs a name "
                            "without '=' and a string value",
                            origin, key);
  }
  *out = steal_pointer (&p);
  return 0;
}

int
sb_profile_load (const char *name, struct sb_profile **out, nb_error_t *err)
{
  cleanup_free char *path = NULL, *text = NULL, *key = NULL;
  const char *xdg = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
  const char *embedded;

  if (!sb_valid_name (name))
    return nb_error_make (err, 0, "agent '%s': not a valid profile name", name);
  if (xdg && xdg[0] == '/')
    (void) !asprintf (&path, "%s/nsbox/agents/%s.json", xdg, name);
  else if (home && home[0] == '/')
    (void) !asprintf (&path, "%s/.config/nsbox/agents/%s.json", home, name);
  if (path)
    {
      cleanup_error nb_error_t read_err = NULL;
      if (nb_read_file (path, &text, NULL, &read_err) == 0)
        return sb_profile_parse (text, path, out, err);
      if (read_err->errno_val != ENOENT)
        {
          *err = steal_pointer (&read_err);
          return nb_error_wrap (err, "agent %s", name);
        }
    }
  if (asprintf (&key, "agents/%s.json", name) < 0)
    return nb_error_make (err, ENOMEM, "agent %s", name);
  embedded = nb_embedded_get (key, NULL);
  if (embedded == NULL)
    {
      nb_error_make_status (err, NB_EXIT_FAILED, 0,
                            "agent '%s': no such profile", name);
      return nb_error_hint (err, "profiles are built in (shell) or read from "
                                 "~/.config/nsbox/agents/NAME.json; see "
                                 "nsbox-profiles(5)");
    }
  return sb_profile_parse (embedded, key, out, err);
}
