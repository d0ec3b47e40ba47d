/* nsbox-git.so: the user's git identity, read with libgit2 as git reads it
 * (system, global, XDG, then the workspace repository's own config, the
 * later winning).  A plugin: libgit2 and what it links cost more to load
 * than a sandbox start, and the identity rarely changes (cli/gitid.c). */
#define _GNU_SOURCE
#include <git2.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/error.h"

static char *
get (git_config *cfg, const char *key)
{
  git_config_entry *e = NULL;
  char *v = NULL;

  if (git_config_get_entry (&e, cfg, key) == 0 && e && e->value && *e->value)
    v = strdup (e->value);
  git_config_entry_free (e);
  return v;
}

__attribute__ ((visibility ("default"))) int
nsbox_git_identity (const char *workspace, char **name, char **email,
                    nb_error_t *err)
{
  git_repository *repo = NULL;
  git_config *cfg = NULL;
  int r;

  *name = *email = NULL;
  if (git_libgit2_init () < 0)
    return nb_error_make (err, 0, "git: %s", git_error_last ()->message);
  /* Inside a repository its config (and the global ones) decide; else the
   * global ones alone. */
  if (git_repository_open_ext (&repo, workspace, 0, NULL) == 0)
    r = git_repository_config_snapshot (&cfg, repo);
  else
    {
      git_config *live = NULL;
      r = git_config_open_default (&live);
      if (r == 0)
        r = git_config_snapshot (&cfg, live);
      git_config_free (live);
    }
  if (r == 0)
    {
      *name = get (cfg, "user.name");
      *email = get (cfg, "user.email");
    }
  else
    nb_error_make (err, 0, "git config: %s",
                   git_error_last () ? git_error_last ()->message : "?");
  git_config_free (cfg);
  git_repository_free (repo);
  git_libgit2_shutdown ();
  return r == 0 ? 0 : -1;
}
