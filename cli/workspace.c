#define _GNU_SOURCE
#include "cli/workspace.h"
#include "cli/run_opts.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a workspace must not be: unreadable, the root, or a folder holding
 * the user's home. */
static int
check_workspace (const char *real, const char *home, nb_error_t *err)
{
  if (access (real, R_OK | X_OK) < 0)
    return nb_error_make (err, errno, "workspace %s", real);
  if (strcmp (real, "/") == 0 || (home && nb_path_is_within (home, real)))
    {
      nb_error_make (err, 0,
                     "workspace %s: it holds your home directory, so the "
                     "sandbox would see all of it (~/.ssh included)",
                     real);
      return nb_error_hint (err, "run nsbox in a project folder, or pick one "
                                 "with -w DIR");
    }
  return 0;
}

int
sb_workspace_resolve (const char *given, const char *home, char **out,
                      int *fd, nb_error_t *err)
{
  char real[PATH_MAX];
  const char *path = given ? given : ".";

  if (sb_pin_path (path, true, fd, real) < 0)
    {
      if (given == NULL)
        return nb_error_make (err, errno, "workspace: the current directory");
      return nb_error_make (err, errno, "workspace %s", given);
    }
  if (check_workspace (real, home, err) < 0)
    return -1;
  *out = strdup (real);
  return *out ? 0 : nb_error_make (err, ENOMEM, "workspace");
}

/* PATH[:ro|:rw]: the mode is a suffix, as in docker sandbox run, so that a
 * path may hold other colons. */
static const char *
split_mode (char *arg)
{
  size_t len = strlen (arg);

  if (len > 3 && (strcmp (arg + len - 3, ":ro") == 0
                  || strcmp (arg + len - 3, ":rw") == 0))
    {
      arg[len - 3] = '\0';
      return arg + len - 2;
    }
  return "rw";
}

static int
add_one (struct sb_workspaces *w, const char *arg, const char *home,
         const char *workspace, nb_error_t *err)
{
  cleanup_free char *path = strdup (arg);
  cleanup_close int fd = -1;
  char real[PATH_MAX];
  const char *mode;
  char **nb;
  int *nfds;

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "run");
  mode = split_mode (path);
  if (sb_pin_path (path, true, &fd, real) < 0)
    {
      nb_error_make (err, errno, "run: workspace %s", path);
      return nb_error_hint (err, "extra workspaces are existing folders, "
                                 "PATH or PATH:ro; the agent's own "
                                 "arguments go after --");
    }
  if (check_workspace (real, home, err) < 0)
    return nb_error_wrap (err, "run");
  if (nb_path_is_within (workspace, real))
    return nb_error_make (err, 0, "run: workspace %s: it holds the "
                                  "sandbox's workspace %s",
                          real, workspace);
  for (size_t i = 0; i < w->n; i++)
    if (strcmp (w->binds[3 * i], real) == 0)
      return nb_error_make (err, 0, "run: workspace %s: given twice", real);
  nb = realloc (w->binds, (3 * w->n + 4) * sizeof (char *));
  if (nb == NULL)
    return nb_error_make (err, ENOMEM, "run");
  w->binds = nb;
  nfds = realloc (w->fds, (w->n + 1) * sizeof (int));
  if (nfds == NULL)
    return nb_error_make (err, ENOMEM, "run");
  w->fds = nfds;
  nb[3 * w->n] = strdup (real);
  nb[3 * w->n + 1] = strdup (real);
  nb[3 * w->n + 2] = strdup (mode);
  nb[3 * w->n + 3] = NULL;
  nfds[w->n++] = nb_steal_fd (&fd);
  if (!nb[3 * w->n - 3] || !nb[3 * w->n - 2] || !nb[3 * w->n - 1])
    return nb_error_make (err, ENOMEM, "run");
  return 0;
}

int
sb_workspaces_extra (char *const *args, size_t n_args, const char *home,
                     const char *workspace, struct sb_workspaces *out,
                     nb_error_t *err)
{
  for (size_t i = 0; i < n_args; i++)
    if (add_one (out, args[i], home, workspace, err) < 0)
      return -1;
  /* Insertion sort of the triples (a handful): a parent's mount must come
   * before a mount inside it, or it would hide that one. */
  for (size_t i = 1; i < out->n; i++)
    for (size_t j = i; j > 0 && strcmp (out->binds[3 * (j - 1)],
                                        out->binds[3 * j]) > 0;
         j--)
      {
        int fd = out->fds[j];
        for (int k = 0; k < 3; k++)
          {
            char *t = out->binds[3 * j + k];
            out->binds[3 * j + k] = out->binds[3 * (j - 1) + k];
            out->binds[3 * (j - 1) + k] = t;
          }
        out->fds[j] = out->fds[j - 1];
        out->fds[j - 1] = fd;
      }
  return 0;
}

json_t *
sb_workspaces_json (const struct sb_workspaces *w)
{
  json_t *a = json_array ();

  for (size_t i = 0; a && i < w->n; i++)
    if (json_array_append_new (a, json_sprintf ("%s:%s", w->binds[3 * i],
                                                w->binds[3 * i + 2]))
        < 0)
      {
        json_decref (a);
        return NULL;
      }
  return a;
}

void
sb_workspaces_clear (struct sb_workspaces *w)
{
  nb_free_strvp (&w->binds);
  for (size_t i = 0; i < w->n; i++)
    close (w->fds[i]);
  free (w->fds);
  w->fds = NULL;
  w->n = 0;
}
