#define _GNU_SOURCE
#include "cli/state.h"
#include "cli/run_image.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sb_state_binds (const struct sb_profile *prof, const char *agent,
                const char *mode, const char *home, char ***out,
                nb_error_t *err)
{
  cleanup_free char *data = NULL, *volume = NULL;
  const char *host_home = getenv ("HOME");
  size_t n = json_array_size (prof->state), k = 0, i;
  char **binds;
  json_t *v;

  *out = NULL;
  if (n == 0 || strcmp (mode, "none") == 0)
    return 0;
  if (strcmp (mode, "host") == 0)
    {
      if (host_home == NULL || host_home[0] != '/')
        return nb_error_make (err, 0, "--credentials host: HOME is not set");
    }
  else if (nb_data_dir (&data, err) < 0
           || asprintf (&volume, "%s/volumes/%s-data", data, agent) < 0)
    return data ? nb_error_make (err, ENOMEM, "volume") : -1;
  binds = calloc (2 * n + 1, sizeof *binds);
  if (binds == NULL)
    return nb_error_make (err, ENOMEM, "volume");
  json_array_foreach (prof->state, i, v)
  {
    const char *rel = json_string_value (v) + 2; /* after "~/" */
    char *src = nb_path_join (volume ? volume : host_home, rel);
    char *dst = nb_path_join (home, rel);
    binds[k++] = src;
    binds[k++] = dst;
    if (src == NULL || dst == NULL)
      {
        nb_free_strvp (&binds);
        return nb_error_make (err, ENOMEM, "volume");
      }
    /* The state is a directory the agent owns: made on first use, in the
     * volume or, for --credentials host, in the user's home. */
    if (nb_mkdir_p (src, 0700, err) < 0)
      {
        nb_free_strvp (&binds);
        return nb_error_wrap (err, "agent %s: state %s", agent,
                              json_string_value (v));
      }
  }
  *out = binds;
  return 0;
}

int
sb_state_env (const struct sb_profile *prof, const char *home, char ***env,
              size_t *n)
{
  const char *key;
  json_t *v;
  size_t i;
  int r = 0;

  json_array_foreach (prof->pass_env, i, v)
      r |= sb_env_push (env, n, json_string_value (v),
                        getenv (json_string_value (v)));
  json_object_foreach (prof->env, key, v)
  {
    const char *value = json_string_value (v);
    cleanup_free char *expanded = NULL;
    if (strncmp (value, "~/", 2) == 0)
      {
        expanded = nb_path_join (home, value + 2);
        if (expanded == NULL)
          return -1;
        value = expanded;
      }
    r |= sb_env_push (env, n, key, value);
  }
  return r;
}
