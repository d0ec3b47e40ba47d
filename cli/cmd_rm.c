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
