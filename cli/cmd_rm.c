/* nsbox rm NAME|ID...: remove sandboxes, their upper dir and home included,
 * files of subordinate ids too (from inside nsbox's user namespace: the
 * user never needs sudo for it). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/mapped.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int
remove_cb (void *arg, nb_error_t *err)
{
  return nb_rm_rf_at (AT_FDCWD, arg, err);
}

/* The run lock, exclusive: held until the files are gone, so that a run
 * that starts meanwhile waits, and then finds no sandbox.  After a stop,
 * nsbox run's own copy of the lock goes a moment after the sandbox. */
static int
lock_out_runs (int fd, bool wait)
{
  for (int i = 0; i < (wait ? 100 : 1); i++)
    {
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
      if (errno != EWOULDBLOCK)
        return 0;
      if (wait)
        usleep (50000);
    }
  return -1;
}

static int
remove_one (const char *what, bool force, nb_error_t *err)
{
  struct sb_found f;
  cleanup_free char *lock = NULL;
  cleanup_close int fd = -1;
  bool keep, stopped = false;
  int ret;

  if (sb_sandbox_find (what, &f, err) < 0)
    return nb_error_wrap (err, "rm %s", what);
  lock = nb_path_join (f.dir, ".lock");
  fd = lock ? open (lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
  if (fd >= 0 && sb_sandbox_running (f.dir))
    {
      if (!force)
        {
          nb_error_make (err, 0, "rm %s: the sandbox is running", f.name);
          ret = nb_error_hint (err, "stop it first (nsbox stop %s), or "
                                    "remove it with rm -f",
                               f.name);
          goto out;
        }
      if (access (f.run_dir, F_OK) == 0
          && rt_container_stop (f.run_dir, 0, err) < 0)
        {
          ret = nb_error_wrap (err, "rm %s: stop it", f.name);
          goto out;
        }
      stopped = true;
    }
  if (fd >= 0 && lock_out_runs (fd, stopped) < 0)
    {
      nb_error_make (err, 0, "rm %s: the sandbox is running", f.name);
      ret = nb_error_hint (err, "stop it first (nsbox stop %s)", f.name);
      goto out;
    }
  /* The upper dir holds files of the image's ids, stored as subordinate
   * ids: only nsbox's user namespace may remove those. */
  ret = sb_call_mapped (remove_cb, f.dir, NULL, &keep, err);
  if (ret < 0)
    {
      nb_error_wrap (err, "rm %s", f.name);
      goto out;
    }
  /* Its live state: the bundle and the rootfs mount point. */
  {
    cleanup_error nb_error_t e = NULL;
    nb_rm_rf_at (AT_FDCWD, f.run_dir, &e);
  }
  {
    cleanup_free char *shown = nb_escape (f.name);
    printf ("%s\n", shown ? shown : f.id);
  }
  ret = 0;
out:
  sb_found_clear (&f);
  return ret;
}

int
cmd_rm (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "force", no_argument, NULL, 'f' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  bool force = false;
  cleanup_error nb_error_t err = NULL;
  int c, status = 0;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "fh", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        force = true;
        break;
      case 'h':
        printf ("usage: nsbox rm [-f] NAME|ID...\n"
                "  -f, --force   stop a running sandbox first\n"
                "See nsbox-rm(1).\n");
        return 0;
      default:
        nb_error_make (&err, 0, "rm: unknown option '%s'", argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (optind == argc)
    {
      nb_error_make (&err, 0, "rm: expects one or more sandbox names or ids");
      return nb_error_report (&err);
    }
  /* Each is removed or said why not; the status says whether all were. */
  for (int i = optind; i < argc; i++)
    if (remove_one (argv[i], force, &err) < 0)
      status = nb_error_report (&err);
  return status;
}

struct gone
{
  char **ids, **names;
  size_t n;
};

/* A sandbox whose workspace no longer exists, and that does not run. */
static int
collect_gone (const char *dir, json_t *rec, void *arg)
{
  struct gone *g = arg;
  const char *ws = json_string_value (json_object_get (rec, "workspace"));
  const char *id = json_string_value (json_object_get (rec, "id"));
  const char *name = json_string_value (json_object_get (rec, "name"));
  struct stat st;
  char **ids, **names;

  if (ws == NULL || id == NULL || lstat (ws, &st) == 0 || errno != ENOENT
      || sb_sandbox_running (dir))
    return 0;
  ids = realloc (g->ids, (g->n + 1) * sizeof (char *));
  if (ids)
    g->ids = ids;
  names = realloc (g->names, (g->n + 1) * sizeof (char *));
  if (names)
    g->names = names;
  if (ids == NULL || names == NULL)
    return -1;
  g->ids[g->n] = strdup (id);
  g->names[g->n] = strdup (name ? name : id);
  g->n++;
  return 0;
}

int
cmd_prune (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "force", no_argument, NULL, 'f' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  struct gone g = { 0 };
  bool force = false;
  int c, status = 0;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "fh", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        force = true;
        break;
      case 'h':
        printf ("usage: nsbox prune [-f]\n"
                "  -f, --force   do not ask\n"
                "See nsbox-prune(1).\n");
        return 0;
      default:
        nb_error_make (&err, 0, "prune: unknown option '%s'",
                       argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (sb_sandbox_each (collect_gone, &g, &err) < 0 || err)
    {
      if (err == NULL)
        nb_error_make (&err, ENOMEM, "prune");
      return nb_error_report (&err);
    }
  if (g.n > 0 && !force)
    {
      char answer[16] = "";
      /* What goes holds what its runs installed: asked, as docker's prune
       * asks, unless -f. */
      if (!isatty (STDIN_FILENO))
        {
          nb_error_make (&err, 0, "prune: %zu sandbox%s whose workspace is "
                                  "gone would be removed",
                         g.n, g.n == 1 ? "" : "es");
          nb_error_hint (&err, "run nsbox prune -f to remove them");
          status = nb_error_report (&err);
          goto out;
        }
      fprintf (stderr, "These sandboxes' workspaces are gone:\n");
      for (size_t i = 0; i < g.n; i++)
        {
          cleanup_free char *shown = nb_escape (g.names[i]);
          fprintf (stderr, "  %s\n", shown ? shown : g.ids[i]);
        }
      fprintf (stderr, "Remove them and all they keep? [y/N] ");
      if (fgets (answer, sizeof answer, stdin) == NULL
          || (answer[0] != 'y' && answer[0] != 'Y'))
        goto out;
    }
  for (size_t i = 0; i < g.n; i++)
    if (remove_one (g.ids[i], false, &err) < 0)
      status = nb_error_report (&err);
out:
  for (size_t i = 0; i < g.n; i++)
    {
      free (g.ids[i]);
      free (g.names[i]);
    }
  free (g.ids);
  free (g.names);
  return status;
}
