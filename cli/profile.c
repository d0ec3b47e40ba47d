#define _GNU_SOURCE
#include "cli/profile.h"
#include "cli/network.h"
#include "proxy/policy.h"
#include "cli/embed.h"
#include "cli/limits.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
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
    = { "name", "description", "command", "template", "env", "state",
        "pass_env", "allow_nested", "network", "memory", "memory_swap",
        "cpus", "pids_limit", "user", NULL };

/* "~/..." without "." or ".." components: a path under the agent's home. */
static bool
valid_state_path (const char *s)
{
  if (strncmp (s, "~/", 2) != 0 || s[2] == '\0')
    return false;
  for (const char *p = s + 2; *p;)
    {
      size_t n = strcspn (p, "/");
      if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return false;
      p += n;
      if (*p == '/')
        p++;
    }
  return true;
}

/* An array of egress rules (KEY), or nothing. */
static int
string_array (json_t *v, const char *origin, const char *key, json_t **out,
              nb_error_t *err)
{
  size_t i;
  json_t *e;

  *out = v;
  if (v && !json_is_array (v))
    return nb_error_make (err, 0, "profile %s: \"%s\" must be an array of "
                                  "strings",
                          origin, key);
  json_array_foreach (v, i, e)
  {
    struct nb_rule rule;
    if (!json_is_string (e) || json_string_length (e) == 0)
      return nb_error_make (err, 0, "profile %s: %s[%zu]: not a string",
                            origin, key, i);
    if (nb_policy_parse_rule (json_string_value (e), &rule, err) < 0)
      return nb_error_wrap (err, "profile %s: %s[%zu]", origin, key, i);
  }
  return 0;
}

/* "network": "MODE", or { "mode": MODE, "allow": [...], "deny": [...] }. */
static int
parse_network (struct sb_profile *p, json_t *v, const char *origin,
               nb_error_t *err)
{
  enum sb_net_mode mode;
  json_t *m = v;
  const char *key;
  json_t *e;

  if (v == NULL)
    return 0;
  if (json_is_object (v))
    {
      json_object_foreach (v, key, e)
      {
        if (strcmp (key, "mode") && strcmp (key, "allow")
            && strcmp (key, "deny"))
          return nb_error_make (err, 0, "profile %s: network: unknown key "
                                        "\"%s\"",
                                origin, key);
      }
      m = json_object_get (v, "mode");
      if (string_array (json_object_get (v, "allow"), origin, "network.allow",
                        &p->net_allow, err)
              < 0
          || string_array (json_object_get (v, "deny"), origin,
                           "network.deny", &p->net_deny, err)
                 < 0)
        return -1;
    }
  if (m == NULL)
    return 0;
  if (!json_is_string (m) || sb_net_mode_parse (json_string_value (m), &mode,
                                                err)
                                 < 0)
    {
      nb_error_free (err);
      return nb_error_make (err, 0, "profile %s: network%s: expects none, "
                                    "open, filtered or host",
                            origin, m == v ? "" : ".mode");
    }
  p->network = json_string_value (m);
  return 0;
}

bool
sb_valid_env_name (const char *s)
{
  if (*s == '\0' || isdigit ((unsigned char) *s))
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char) *s) && *s != '_')
      return false;
  return true;
}

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
  p->limits = (struct rt_cgroup_limits) SB_LIMITS_UNSET;
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
  /* No command: the image's own (Entrypoint and Cmd), as docker run runs
   * an image; cli/cmd_run.c refuses that on the host template. */
  cmd = json_object_get (json, "command");
  if (cmd && (!json_is_array (cmd) || json_array_size (cmd) == 0))
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
  v = json_object_get (json, "user");
  if (v && (!json_is_string (v) || json_string_length (v) == 0
            || strpbrk (json_string_value (v), " \t\n")))
    return nb_error_make (err, 0, "profile %s: \"user\" must be a user as "
                                  "an image's User field gives one (NAME or "
                                  "UID, with :GROUP or :GID)",
                          origin);
  p->user = json_string_value (v);
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
  v = json_object_get (json, "allow_nested");
  if (v && !json_is_boolean (v))
    return nb_error_make (err, 0, "profile %s: \"allow_nested\" must be "
                                  "true or false",
                          origin);
  p->allow_nested = json_is_true (v);
  p->state = json_object_get (json, "state");
  if (p->state && !json_is_array (p->state))
    return nb_error_make (err, 0, "profile %s: \"state\" must be an array "
                                  "of \"~/...\" paths",
                          origin);
  json_array_foreach (p->state, i, v)
  {
    if (!json_is_string (v) || !valid_state_path (json_string_value (v)))
      return nb_error_make (err, 0,
                            "profile %s: state[%zu]: a path under the home "
                            "(\"~/.claude\"), without . or .. components",
                            origin, i);
  }
  if (sb_limits_from_profile (json, origin, &p->limits, &p->memory_shown,
                              err)
      < 0)
    return -1;
  p->pass_env = json_object_get (json, "pass_env");
  if (p->pass_env && !json_is_array (p->pass_env))
    return nb_error_make (err, 0, "profile %s: \"pass_env\" must be an "
                                  "array of variable names",
                          origin);
  json_array_foreach (p->pass_env, i, v)
  {
    if (!json_is_string (v) || !sb_valid_env_name (json_string_value (v)))
      return nb_error_make (err, 0,
                            "profile %s: pass_env[%zu]: not a variable name",
                            origin, i);
  }
  if (parse_network (p, json_object_get (json, "network"), origin, err) < 0)
    return -1;
  *out = steal_pointer (&p);
  return 0;
}

static const char *
user_agents_dir (char **path)
{
  const char *xdg = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
  *path = NULL;
  if (xdg && xdg[0] == '/')
    (void) !asprintf (path, "%s/nsbox/agents", xdg);
  else if (home && home[0] == '/')
    (void) !asprintf (path, "%s/.config/nsbox/agents", home);
  return *path;
}

int
sb_profile_each (void (*fn) (const char *name, struct sb_profile *p,
                             nb_error_t err, void *arg),
                 void *arg)
{
  cleanup_free char *dir = NULL;
  struct dirent **names = NULL;
  int n;

  for (const struct nb_embedded *e = nb_embedded_files; e->name; e++)
    {
      cleanup_free char *name = NULL, *udir = NULL, *user = NULL;
      struct sb_profile *p = NULL;
      nb_error_t err = NULL;
      const char *base;

      if (strncmp (e->name, "agents/", 7) != 0)
        continue;
      base = e->name + 7;
      name = strndup (base, strcspn (base, "."));
      /* Overridden by the user's own: listed with those. */
      if (name == NULL || (user_agents_dir (&udir)
                           && asprintf (&user, "%s/%s.json", udir, name) >= 0
                           && access (user, F_OK) == 0))
        continue;
      sb_profile_parse (e->data, e->name, &p, &err);
      fn (name, p, err, arg);
      sb_profile_free (p);
      nb_error_free (&err);
    }
  if (user_agents_dir (&dir) == NULL || (n = scandir (dir, &names, NULL,
                                                      alphasort)) < 0)
    return 0;
  for (int i = 0; i < n; i++)
    {
      const char *base = names[i]->d_name;
      size_t len = strlen (base);
      if (len > 5 && strcmp (base + len - 5, ".json") == 0)
        {
          cleanup_free char *name = strndup (base, len - 5);
          struct sb_profile *p = NULL;
          nb_error_t err = NULL;
          if (name && sb_valid_name (name))
            {
              sb_profile_load (name, &p, &err);
              fn (name, p, err, arg);
              sb_profile_free (p);
              nb_error_free (&err);
            }
        }
      free (names[i]);
    }
  free (names);
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
