/* nsbox unshare [CMD...] and nsbox system reset [-f]: for the files nsbox
 * keeps with the user's subordinate ids (image layers, sandboxes' upper
 * dirs), which the user cannot touch from outside nsbox's user namespace. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/mapped.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/holder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
cmd_unshare (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  char *shell[] = { getenv ("SHELL") ? getenv ("SHELL") : (char *) "/bin/sh",
                    NULL };
  int status = 0;

  if (argc > 1 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0))
    {
      printf ("usage: nsbox unshare [CMD [ARGS...]]\nSee nsbox-unshare(1).\n");
      return 0;
    }
  if (sb_exec_mapped (argc > 1 ? argv + 1 : shell, &status, &err) < 0)
    {
      nb_error_wrap (&err, "unshare");
      return nb_error_report (&err);
    }
  return status;
}

static int
any_running (const char *dir, json_t *record, void *arg)
{
  const char **name = arg;
  if (sb_sandbox_running (dir))
    {
      *name = json_string_value (json_object_get (record, "name"));
      *name = *name ? strdup (*name) : strdup ("?");
      return 1;
    }
  return 0;
}

static int
remove_cb (void *arg, nb_error_t *err)
{
  return nb_rm_rf_at (AT_FDCWD, arg, err);
}

int
cmd_system (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *data = NULL, *run = NULL, *cache = NULL;
  cleanup_free char *running = NULL;
  const char *xdg_cache = getenv ("XDG_CACHE_HOME"), *home = getenv ("HOME");
  bool force = false, keep;

  if (argc < 2 || strcmp (argv[1], "reset") != 0)
    {
      printf ("usage: nsbox system reset [-f]\nSee nsbox-system(1).\n");
      return argc >= 2 && (strcmp (argv[1], "-h") == 0
                           || strcmp (argv[1], "--help") == 0)
                 ? 0
                 : NB_EXIT_FAILED;
    }
  for (int i = 2; i < argc; i++)
    if (strcmp (argv[i], "-f") == 0 || strcmp (argv[i], "--force") == 0)
      force = true;
    else
      {
        nb_error_make (&err, 0, "system reset: unknown option '%s'", argv[i]);
        return nb_error_report (&err);
      }
  if (nb_data_dir (&data, &err) < 0)
    return nb_error_report (&err);
  if (sb_sandbox_each (any_running, &running, &err) < 0)
    return nb_error_report (&err);
  if (running)
    {
      nb_error_make (&err, 0, "system reset: the sandbox %s is running",
                     running);
      nb_error_hint (&err, "stop it first (nsbox stop %s)", running);
      return nb_error_report (&err);
    }
  if (!force)
    {
      char answer[8] = "";
      if (!isatty (STDIN_FILENO))
        {
          nb_error_make (&err, 0, "system reset: removes every sandbox, "
                                  "image, layer and volume in %s; -f to do "
                                  "it without asking",
                         data);
          return nb_error_report (&err);
        }
      fprintf (stderr, "This removes every sandbox (with its home and "
                       "changes), image, layer and agent volume in %s.\n"
                       "Continue? [y/N] ",
               data);
      if (fgets (answer, sizeof answer, stdin) == NULL
          || (answer[0] != 'y' && answer[0] != 'Y'))
        return 1;
    }
  /* Files of subordinate ids: removed from inside the user namespace. */
  if (sb_call_mapped (remove_cb, data, NULL, &keep, &err) < 0)
    {
      nb_error_wrap (&err, "system reset");
      return nb_error_report (&err);
    }
  if (nb_runtime_dir (&run, &err) == 0)
    {
      cleanup_free char *holder = nb_path_join (run, SB_HOLDER_FILE);
      if (holder)
        rt_holder_stop (holder);
      nb_rm_rf_at (AT_FDCWD, run, &err);
    }
  nb_error_free (&err);
  if ((xdg_cache && xdg_cache[0] == '/'
       && asprintf (&cache, "%s/nsbox", xdg_cache) >= 0)
      || (home && home[0] == '/'
          && asprintf (&cache, "%s/.cache/nsbox", home) >= 0))
    nb_rm_rf_at (AT_FDCWD, cache, &err);
  nb_error_free (&err);
  printf ("Removed %s\n", data);
  return 0;
}
