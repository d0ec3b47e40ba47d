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

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct find
{
  const char *what;
  char *dir;
  char *name;
  char *id;
};

static int
match (const char *dir, json_t *rec, void *arg)
{
  struct find *f = arg;
  const char *id = json_string_value (json_object_get (rec, "id"));
  const char *name = json_string_value (json_object_get (rec, "name"));

  if ((id && strcmp (id, f->what) == 0) || (name && strcmp (name, f->what) == 0))
    {
      f->dir = strdup (dir);
      f->name = strdup (name ? name : f->what);
      f->id = strdup (id ? id : "");
      return 1;
    }
  return 0;
}

/* A sandbox dir without a readable record (a removal cut short, a record
 * broken by hand) is still removable by its id. */
static int
by_id (const char *what, struct find *f, nb_error_t *err)
{
  cleanup_free char *data = NULL, *dir = NULL;
  struct stat st;
  size_t n = strlen (what);

  if (n != 12 || strspn (what, "0123456789abcdef") != n)
    return 0;
  if (nb_data_dir (&data, err) < 0)
    return -1;
  if (asprintf (&dir, "%s/sandboxes/%s", data, what) < 0)
    return nb_error_make (err, ENOMEM, "rm");
  if (lstat (dir, &st) == 0 && S_ISDIR (st.st_mode))
    {
      f->dir = steal_pointer (&dir);
      f->name = strdup (what);
      f->id = strdup (what);
    }
  return 0;
}

static int
remove_cb (void *arg, nb_error_t *err)
{
  return nb_rm_rf_at (AT_FDCWD, arg, err);
}

static int
remove_one (const char *what, nb_error_t *err)
{
  struct find f = { .what = what };
  cleanup_free char *lock = NULL, *run = NULL, *live = NULL;
  cleanup_close int fd = -1;
  bool keep;
  int ret;

  if (sb_sandbox_each (match, &f, err) < 0)
    return -1;
  if (f.dir == NULL && by_id (what, &f, err) < 0)
    return -1;
  if (f.dir == NULL)
    return nb_error_make (err, 0, "rm %s: no such sandbox", what);
  lock = nb_path_join (f.dir, ".lock");
  fd = lock ? open (lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
  /* Held until the files are gone: a run that starts meanwhile waits, and
   * then finds no sandbox. */
  if (fd >= 0 && flock (fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
    {
      nb_error_make (err, 0, "rm %s: the sandbox is running", f.name);
      ret = nb_error_hint (err, "end its nsbox run first");
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
  if (nb_runtime_dir (&run, err) == 0 && (live = nb_path_join (run, f.id)))
    {
      cleanup_error nb_error_t e = NULL;
      nb_rm_rf_at (AT_FDCWD, live, &e);
    }
  nb_error_free (err);
  {
    cleanup_free char *shown = nb_escape (f.name);
    printf ("%s\n", shown ? shown : f.id);
  }
  ret = 0;
out:
  free (f.dir);
  free (f.name);
  free (f.id);
  return ret;
}

int
cmd_rm (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  int c, status = 0;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'h':
        printf ("usage: nsbox rm NAME|ID...\nSee nsbox-rm(1).\n");
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
    if (remove_one (argv[i], &err) < 0)
      status = nb_error_report (&err);
  return status;
}
