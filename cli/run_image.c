#define _GNU_SOURCE
#include "cli/run_image.h"
#include "cli/plan.h"
#include "cli/state.h"
#include "cli/gitid.h"
#include "cli/template.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The recorded image is usable as it is: the same template, every layer
 * still extracted (a prune may have removed one). */
static bool
record_usable (json_t *image, const char *pull, const char *user)
{
  const char *asked
      = json_string_value (json_object_get (image, "asked_user"));
  json_t *l;
  size_t i;

  if (image == NULL || strcmp (pull, "always") == 0)
    return false;
  /* The profile's user changed since: resolved anew (its layers may need
   * another id mapping). */
  if ((asked == NULL) != (user == NULL) || (user && strcmp (asked, user)))
    return false;
  json_array_foreach (json_object_get (image, "layers"), i, l)
  {
    struct stat st;
    const char *dir = json_string_value (l);
    if (dir == NULL || stat (dir, &st) < 0 || !S_ISDIR (st.st_mode))
      return false;
  }
  return json_array_size (json_object_get (image, "layers")) > 0;
}

/* The image's Env, then what nsbox sets (as make_env does for the host):
 * the host's own environment stays out. */
static char **
image_env (struct sb_sandbox *sb, const struct sb_profile *prof,
           json_t *image, int terminal, char *const *user_env)
{
  json_t *config = json_object_get (image, "config");
  const char *home = json_string_value (json_object_get (image, "home"));
  const char *user = json_string_value (json_object_get (image, "user"));
  bool has_path = false, has_home = false;
  char **env = NULL;
  size_t n = 0, i;
  json_t *v;
  int r = 0;

  json_array_foreach (json_object_get (config, "Env"), i, v)
  {
    const char *kv = json_string_value (v);
    const char *eq = kv ? strchr (kv, '=') : NULL;
    if (eq == NULL)
      continue;
    has_path = has_path || strncmp (kv, "PATH=", 5) == 0;
    has_home = has_home || strncmp (kv, "HOME=", 5) == 0;
    {
      cleanup_free char *k = strndup (kv, (size_t) (eq - kv));
      r |= k ? sb_env_push (&env, &n, k, eq + 1) : -1;
    }
  }
  if (!has_path)
    r |= sb_env_push (&env, &n, "PATH", "/usr/local/sbin:/usr/local/bin:"
                                        "/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_home)
    r |= sb_env_push (&env, &n, "HOME", home && *home ? home : "/");
  r |= sb_env_push (&env, &n, "USER", user);
  r |= sb_env_push (&env, &n, "LOGNAME", user);
  r |= sb_env_base (&env, &n, sb->name, terminal);
  r |= sb_state_env (prof, home && *home ? home : "/", &env, &n);
  r |= sb_git_env (sb, &env, &n);
  r |= sb_env_push_all (&env, &n, user_env);
  if (r < 0)
    {
      nb_free_strvp (&env);
      return NULL;
    }
  return env;
}

int
sb_image_argv (json_t *image, const char *const *args, const char ***out,
               nb_error_t *err)
{
  json_t *config = json_object_get (image, "config");
  json_t *entry = json_object_get (config, "Entrypoint");
  json_t *cmd = json_object_get (config, "Cmd"), *v;
  size_t n = json_array_size (entry) + json_array_size (cmd), k = 0, i;
  const char **argv;

  for (const char *const *a = args; a && *a; a++)
    n++;
  argv = calloc (n + 1, sizeof *argv);
  if (argv == NULL)
    return nb_error_make (err, ENOMEM, "run");
  json_array_foreach (entry, i, v)
    if (json_is_string (v))
      argv[k++] = json_string_value (v);
  if (args && *args)
    for (const char *const *a = args; *a; a++)
      argv[k++] = *a;
  else
    json_array_foreach (cmd, i, v)
      if (json_is_string (v))
        argv[k++] = json_string_value (v);
  if (k == 0)
    {
      free (argv);
      nb_error_make (err, 0, "image %s has no Entrypoint or Cmd, and the "
                             "agent's profile no command",
                     json_string_value (json_object_get (image, "ref"))
                         ?: "?");
      return nb_error_hint (err, "give one after --, or a \"command\" in "
                                 "the agent's profile");
    }
  *out = argv;
  return 0;
}

int
sb_image_plan (struct sb_sandbox *sb, const struct sb_profile *prof,
               const struct sb_image_run *run, json_t **spec, nb_error_t *err)
{
  struct rt_idmap uids[RT_MAX_IDMAPS], gids[RT_MAX_IDMAPS];
  size_t nu = 0, ng = 0, i, nl;
  json_t *image = sb_sandbox_image (sb), *fresh = NULL, *l;
  cleanup_free const char **layers = NULL, **argv = NULL;
  cleanup_strv char **env = NULL, **binds = NULL;
  const char *mapping, *home;
  uint32_t uid, gid;
  int ret = -1;

  if (!record_usable (image, run->pull, prof->user))
    {
      if (sb_template_resolve (run->template_name, run->pull, prof->user,
                               &fresh, err)
          < 0)
        return -1;
      if (sb_sandbox_save_image (sb, fresh, err) < 0)
        goto out;
      image = fresh;
    }
  if (prof->command[0] == NULL
      && sb_image_argv (image, run->argv, &argv, err) < 0)
    goto out;
  mapping = json_string_value (json_object_get (image, "mapping"));
  if (sb_template_mapping (mapping, uids, &nu, gids, &ng, RT_MAX_IDMAPS, err)
      < 0)
    goto out;
  /* The agent runs as the image's user; the layers were extracted with
   * that uid mapped to the user (keep-id), so whatever it writes is the
   * user's.  With a single id, that one id is the agent's. */
  uid = (uint32_t) json_integer_value (json_object_get (image, "uid"));
  gid = (uint32_t) json_integer_value (json_object_get (image, "gid"));
  if (strncmp (mapping, "single ", 7) == 0)
    {
      uids[0].container_id = uid;
      gids[0].container_id = gid;
    }
  if (strncmp (mapping, "single ", 7) == 0 && sb->created)
    fprintf (stderr, "nsbox: note: no subordinate ids for this user "
                     "(/etc/subuid): every file of the image belongs to "
                     "the agent's uid %u inside, the only id there\n",
             uid);
  home = json_string_value (json_object_get (image, "home"));
  if (sb_state_binds (prof, sb->agent, run->credentials, home && *home ? home : "/",
                      &binds, run->state_pins, err)
      < 0)
    goto out;
  nl = json_array_size (json_object_get (image, "layers"));
  layers = calloc (nl + 1, sizeof *layers);
  env = image_env (sb, prof, image, run->terminal, run->user_env);
  if (layers == NULL || env == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  json_array_foreach (json_object_get (image, "layers"), i, l)
      layers[i] = json_string_value (l);
  /* The upper dir is the merged root's own directory: 0755 as an image's
   * root is; the rootfs is only where the overlay is mounted. */
  if (nb_mkdir_p (sb->upper, 0755, err) < 0
      || nb_mkdir_p (sb->work, 0700, err) < 0
      || nb_mkdir_p (run->rootfs, 0755, err) < 0)
    goto out;
  {
    struct sb_plan plan = {
      .rootfs = run->rootfs,
      .workspace = sb->workspace,
      .hostname = sb->name,
      .argv = argv ? argv : run->argv,
      .env = (const char *const *) env,
      .uid = uid,
      .gid = gid,
      .terminal = run->terminal,
      .seccomp = run->seccomp,
      .layers = layers,
      .upper = sb->upper,
      .work = sb->work,
      .uid_maps = uids,
      .n_uid_maps = nu,
      .gid_maps = gids,
      .n_gid_maps = ng,
      /* With subordinate ids the image's own setuid sudo may work: its root
       * is root only in the sandbox's user namespace.  With one id there is
       * nobody to become. */
      .no_new_privs = strncmp (mapping, "subids ", 7) != 0,
      .state_binds = (const char *const *) binds,
      .user_binds = run->user_binds,
    };
    ret = sb_plan_image_spec (&plan, spec, err);
  }
out:
  json_decref (fresh);
  return ret;
}
