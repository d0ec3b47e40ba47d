#define _GNU_SOURCE
#include "cli/join.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool
sb_join_running (const char *run_dir)
{
  cleanup_error nb_error_t err = NULL;
  struct rt_state st;
  bool running;

  if (rt_state_read (run_dir, &st, &err) < 0)
    return false;
  running = st.status == RT_STATUS_RUNNING;
  rt_state_clear (&st);
  return running;
}

/* "root", "UID" or "UID:GID" (the gid defaults to the uid's, as docker's
 * numeric -u does). */
static int
parse_user (const char *user, json_t *process, nb_error_t *err)
{
  unsigned long uid, gid;
  char *end;

  if (strcmp (user, "root") == 0)
    uid = gid = 0;
  else
    {
      errno = 0;
      uid = strtoul (user, &end, 10);
      gid = uid;
      if (*end == ':')
        gid = strtoul (end + 1, &end, 10);
      if (errno || end == user || *end || uid > 0xfffffffeUL
          || gid > 0xfffffffeUL)
        {
          nb_error_make (err, 0, "-u %s: not a user nsbox knows", user);
          return nb_error_hint (err, "give root, UID or UID:GID");
        }
    }
  json_object_set_new (process, "user",
                       json_pack ("{s:I, s:I}", "uid", (json_int_t) uid, "gid",
                                  (json_int_t) gid));
  /* Root in the sandbox has what the sandbox's bounding set allows (Docker's
   * set for an image template, within its user namespace only); another
   * user nothing. */
  {
    json_t *caps = json_object_get (process, "capabilities");
    json_t *bounding = json_object_get (caps, "bounding");
    if (json_is_object (caps) && json_is_array (bounding))
      {
        json_t *none = json_array ();
        json_object_set (caps, "effective", uid == 0 ? bounding : none);
        json_object_set (caps, "permitted", uid == 0 ? bounding : none);
        json_object_set_new (caps, "ambient", json_array ());
        json_object_set_new (caps, "inheritable", json_array ());
        json_decref (none);
      }
  }
  return 0;
}

static int
set_env (json_t *process, char *const *env)
{
  json_t *list = json_object_get (process, "env");
  if (!json_is_array (list))
    {
      list = json_array ();
      json_object_set_new (process, "env", list);
    }
  for (; env && *env; env++)
    {
      size_t klen = strcspn (*env, "=") + 1;
      size_t i;
      json_t *v;
      bool replaced = false;
      json_array_foreach (list, i, v)
        if (json_is_string (v) && strncmp (json_string_value (v), *env, klen) == 0)
          {
            json_array_set_new (list, i, json_string (*env));
            replaced = true;
            break;
          }
      if (!replaced && json_array_append_new (list, json_string (*env)) < 0)
        return -1;
    }
  return 0;
}

int
sb_join_exec (const char *run_dir, const char *name, const struct sb_join *j,
              int *status, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (run_dir, "config.json");
  cleanup_json json_t *config = NULL;
  cleanup_spec struct rt_spec *spec = NULL;
  struct rt_exec_opts eo = { .detach = j->detach };
  json_t *process;

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "exec");
  /* The spec it was started with: the process joins the same sandbox, as
   * the same user, with the same environment and filter. */
  config = nb_json_load_file (path, err);
  if (config == NULL)
    return nb_error_wrap (err, "%s", name);
  process = json_object_get (config, "process");
  if (!json_is_object (process))
    return nb_error_make (err, 0, "%s: %s has no process", name, path);
  if (j->argv && j->argv[0])
    {
      json_t *args = json_array ();
      for (char *const *a = j->argv; *a; a++)
        json_array_append_new (args, json_string (*a));
      json_object_set_new (process, "args", args);
    }
  json_object_set_new (process, "terminal", json_boolean (j->terminal));
  if (j->cwd)
    json_object_set_new (process, "cwd", json_string (j->cwd));
  if (set_env (process, j->env) < 0)
    return nb_error_make (err, ENOMEM, "exec");
  if (j->user && parse_user (j->user, process, err) < 0)
    return -1;
  if (rt_spec_from_json (config, run_dir, &spec, err) < 0)
    return nb_error_wrap (err, "%s", name);
  spec->preserve_fds = j->preserve_fds;
  if (rt_container_exec (run_dir, spec, &eo, status, err) < 0)
    return nb_error_wrap (err, "exec in %s", name);
  return 0;
}
