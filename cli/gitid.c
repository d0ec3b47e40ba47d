#define _GNU_SOURCE
#include "cli/gitid.h"
#include "cli/run_image.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef int (*git_identity_fn) (const char *, char **, char **, nb_error_t *);

/* Where git reads the identity from, and when each last changed: the
 * record is reused while this text stays the same. */
static char *
config_stamp (const char *workspace)
{
  const char *home = getenv ("HOME"), *xdg = getenv ("XDG_CONFIG_HOME");
  cleanup_free char *g = NULL, *x = NULL, *w = NULL;
  const char *files[5] = { "/etc/gitconfig", NULL, NULL, NULL, NULL };
  char *stamp = strdup (""), *t;

  if (home && asprintf (&g, "%s/.gitconfig", home) >= 0)
    files[1] = g;
  if (((xdg && xdg[0] == '/' && asprintf (&x, "%s/git/config", xdg) >= 0)
       || (home && asprintf (&x, "%s/.config/git/config", home) >= 0)))
    files[2] = x;
  if (asprintf (&w, "%s/.git/config", workspace) >= 0)
    files[3] = w;
  for (size_t i = 0; stamp && i < 4; i++)
    {
      struct stat st;
      if (files[i] == NULL || stat (files[i], &st) < 0)
        continue;
      if (asprintf (&t, "%s%s:%lld.%09ld;", stamp, files[i],
                    (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
          < 0)
        t = NULL;
      free (stamp);
      stamp = t;
    }
  return stamp;
}

static int
read_identity (const char *workspace, char **name, char **email)
{
  cleanup_error nb_error_t err = NULL;
  void *h = nb_plugin_open ("nsbox-git.so", "NSBOX_GIT_LIB", &err);
  git_identity_fn fn = h ? (git_identity_fn) dlsym (h, "nsbox_git_identity")
                         : NULL;

  if (fn == NULL || fn (workspace, name, email, &err) < 0)
    {
      fprintf (stderr, "nsbox: warning: the git identity is not set in the "
                       "sandbox: %s\n",
               err && err->msg ? err->msg : "nsbox-git.so has no entry point");
      return -1;
    }
  return 0;
}

int
sb_git_env (struct sb_sandbox *sb, char ***env, size_t *n)
{
  cleanup_free char *stamp = config_stamp (sb->workspace);
  json_t *rec = json_object_get (sb->record, "git");
  const char *name, *email;
  int k = 0, r = 0;
  char count[4];

  if (stamp == NULL)
    return -1;
  if (!json_is_object (rec)
      || strcmp (json_string_value (json_object_get (rec, "stamp")) ?: "",
                 stamp)
             != 0)
    {
      cleanup_free char *nm = NULL, *em = NULL;
      cleanup_error nb_error_t err = NULL;
      /* What could not be read is recorded as no identity, said once: the
       * next try is when the git config changes. */
      read_identity (sb->workspace, &nm, &em);
      rec = json_pack ("{s:s, s:s?, s:s?}", "stamp", stamp, "name", nm,
                       "email", em);
      if (rec == NULL)
        return -1;
      json_object_set_new (sb->record, "git", rec);
      /* Remembered, so that the next run reads no git config. */
      if (sb_sandbox_save (sb, &err) < 0)
        fprintf (stderr, "nsbox: warning: %s\n", err->msg);
    }
  name = json_string_value (json_object_get (rec, "name"));
  email = json_string_value (json_object_get (rec, "email"));
  /* Config from the environment (git 2.31+): `git config user.name` says
   * it, and commits carry it, in any repository of the sandbox. */
  if (name)
    {
      r |= sb_env_push (env, n, "GIT_CONFIG_KEY_0", "user.name");
      r |= sb_env_push (env, n, "GIT_CONFIG_VALUE_0", name);
      k++;
    }
  if (email)
    {
      r |= sb_env_push (env, n, k ? "GIT_CONFIG_KEY_1" : "GIT_CONFIG_KEY_0",
                        "user.email");
      r |= sb_env_push (env, n, k ? "GIT_CONFIG_VALUE_1" : "GIT_CONFIG_VALUE_0",
                        email);
      k++;
    }
  if (k)
    {
      snprintf (count, sizeof count, "%d", k);
      r |= sb_env_push (env, n, "GIT_CONFIG_COUNT", count);
    }
  return r;
}
