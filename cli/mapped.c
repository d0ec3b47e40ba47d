#define _GNU_SOURCE
#include "cli/mapped.h"
#include "cli/subid.h"
#include "runtime/idmap.h"
#include "runtime/base/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run FN in a child inside a new user namespace mapped like rootless podman
 * maps its storage: 0 -> the user, 1..N -> the subordinate range; so a file
 * of uid 1000 in an image is stored as subuid start + 999 and reads as 1000
 * again inside a sandbox with that mapping — and only from in there can such
 * files be removed again without privileges. */
static int
call_in_userns (int (*fn) (void *, nb_error_t *), void *arg,
                const struct rt_idmap *uids, size_t nu,
                const struct rt_idmap *gids, size_t ng, int *wstatus,
                nb_error_t *err)
{
  int to_child[2], from_child[2], status;
  char buf[2048];
  ssize_t n;
  pid_t pid;

  if (pipe2 (to_child, O_CLOEXEC) < 0)
    return nb_error_make (err, errno, "pipe");
  if (pipe2 (from_child, O_CLOEXEC) < 0)
    {
      close (to_child[0]);
      close (to_child[1]);
      return nb_error_make (err, errno, "pipe");
    }
  pid = fork ();
  if (pid < 0)
    return nb_error_make (err, errno, "fork");
  if (pid == 0)
    {
      cleanup_error nb_error_t cerr = NULL;
      char go;
      close (to_child[1]);
      close (from_child[0]);
      if (unshare (CLONE_NEWUSER) < 0)
        {
          nb_error_make (&cerr, errno, "unshare a user namespace");
          goto fail;
        }
      if (write (from_child[1], "u", 1) != 1
          || read (to_child[0], &go, 1) != 1 || go != 'g')
        _exit (125);
      if (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)
        {
          nb_error_make (&cerr, errno, "become root in the user namespace");
          goto fail;
        }
      if (fn (arg, &cerr) == 0)
        _exit (0);
    fail:
      if (write (from_child[1], cerr->msg, strlen (cerr->msg)) < 0)
        _exit (125);
      /* 126, 127 (an exec that failed) say more than "nsbox failed". */
      _exit (cerr->status > 0 ? cerr->status : 125);
    }
  close (to_child[0]);
  close (from_child[1]);
  n = read (from_child[0], buf, 1);
  if (n == 1 && buf[0] == 'u'
      && rt_idmap_write (pid, uids, nu, gids, ng, err) == 0)
    {
      if (write (to_child[1], "g", 1) != 1)
        nb_error_make (err, errno, "start the child in the user namespace");
    }
  close (to_child[1]);
  n = read (from_child[0], buf, sizeof buf - 1);
  close (from_child[0]);
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return nb_error_make (err, errno, "wait for the child");
  if (*err)
    return -1;
  /* FN exec'd a command: its status is the caller's to read. */
  if (wstatus && n <= 0)
    {
      *wstatus = status;
      return 0;
    }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (n > 0)
    {
      buf[n] = '\0';
      return nb_error_set_text (err,
                                WIFEXITED (status)
                                        && (WEXITSTATUS (status) == 126
                                            || WEXITSTATUS (status) == 127)
                                    ? WEXITSTATUS (status)
                                    : 0,
                                buf);
    }
  return nb_error_make (err, 0, "the child in the user namespace failed "
                                "(status %d)", status);
}

/* The user's ids over N subordinate ones at START: HOST at KEEP inside,
 * the subordinate range around it (podman's keep-id); KEEP 0 puts the user
 * at 0 (podman's storage mapping). */
static size_t
make_maps (struct rt_idmap *m, uint32_t host, unsigned long start,
           unsigned long n, uint32_t keep)
{
  if (keep == 0)
    {
      m[0] = (struct rt_idmap){ 0, host, 1 };
      m[1] = (struct rt_idmap){ 1, (uint32_t) start, (uint32_t) n };
      return 2;
    }
  m[0] = (struct rt_idmap){ 0, (uint32_t) start, keep };
  m[1] = (struct rt_idmap){ keep, host, 1 };
  if (n == keep)
    return 2;
  m[2] = (struct rt_idmap){ keep + 1, (uint32_t) (start + keep),
                            (uint32_t) (n - keep) };
  return 3;
}

static char *
maps_text (const struct rt_idmap *m, size_t n)
{
  char *s = NULL, *t;

  for (size_t i = 0; i < n; i++)
    {
      if (asprintf (&t, "%s%s%u:%u:%u", s ? s : "", s ? "," : "",
                    m[i].container_id, m[i].host_id, m[i].size)
          < 0)
        {
          free (s);
          return NULL;
        }
      free (s);
      s = t;
    }
  return s;
}

/* The user's subordinate ranges, read once, when nsbox can map them
 * (newuidmap and newgidmap there); false otherwise. */
static bool
read_subids (struct sb_subid *su, struct sb_subid *sg)
{
  struct passwd *pw = getpwuid (getuid ());

  sb_subid_read ("/etc/subuid", pw ? pw->pw_name : NULL, getuid (), su);
  sb_subid_read ("/etc/subgid", pw ? pw->pw_name : NULL, getuid (), sg);
  return getuid () != 0 && su->count > 0 && sg->count > 0
         && access ("/usr/bin/newuidmap", X_OK) == 0
         && access ("/usr/bin/newgidmap", X_OK) == 0;
}

int
sb_subids_available (unsigned long *count)
{
  struct sb_subid su, sg;
  bool ok = read_subids (&su, &sg);

  if (count)
    *count = su.count < sg.count ? su.count : sg.count;
  return ok;
}

int
sb_call_mapped_keep (int (*fn) (void *, nb_error_t *), void *arg,
                     uint32_t keep_uid, uint32_t keep_gid, char **mapping,
                     bool *keep_owners, nb_error_t *err)
{
  struct sb_subid su, sg;
  int ret;

  if (read_subids (&su, &sg))
    {
      unsigned long n = su.count < sg.count ? su.count : sg.count;
      struct rt_idmap uids[3], gids[3];
      size_t nu, ng;
      cleanup_free char *ut = NULL, *gt = NULL;

      if (keep_uid > n || keep_gid > n)
        return nb_error_make (err, 0,
                              "id %u:%u is beyond the %lu subordinate ids "
                              "of this user",
                              keep_uid, keep_gid, n);
      nu = make_maps (uids, (uint32_t) getuid (), su.start, n, keep_uid);
      ng = make_maps (gids, (uint32_t) getgid (), sg.start, n, keep_gid);
      ut = maps_text (uids, nu);
      gt = maps_text (gids, ng);
      if (ut == NULL || gt == NULL
          || (mapping && asprintf (mapping, "subids uid=%s gid=%s", ut, gt) < 0))
        return nb_error_make (err, ENOMEM, "id mapping");
      *keep_owners = true;
      return call_in_userns (fn, arg, uids, nu, gids, ng, NULL, err);
    }
  /* Without subordinate ids (or as root, who owns every id already) files
   * are stored as the user, whatever KEEP: the owners inside an image are
   * lost. */
  if (getuid () == 0)
    ret = mapping ? asprintf (mapping, "host") : 0;
  else
    ret = mapping ? asprintf (mapping, "single uid=0:%u:1 gid=0:%u:1",
                              (unsigned) getuid (), (unsigned) getgid ())
                  : 0;
  if (ret < 0)
    return nb_error_make (err, ENOMEM, "id mapping");
  *keep_owners = getuid () == 0;
  return fn (arg, err);
}

int
sb_call_mapped (int (*fn) (void *, nb_error_t *), void *arg, char **mapping,
                bool *keep_owners, nb_error_t *err)
{
  return sb_call_mapped_keep (fn, arg, 0, 0, mapping, keep_owners, err);
}

static int
exec_cb (void *arg, nb_error_t *err)
{
  char **argv = arg;
  execvp (argv[0], argv);
  return nb_error_make_status (err, errno == ENOENT ? NB_EXIT_NOT_FOUND
                                                    : NB_EXIT_CANNOT_INVOKE,
                               errno, "exec %s", argv[0]);
}

int
sb_exec_mapped (char **argv, int *status, nb_error_t *err)
{
  struct sb_subid su, sg;
  unsigned long n;
  int wstatus = 0;

  if (!read_subids (&su, &sg))
    {
      /* Nothing to map: every file nsbox keeps is the user's already. */
      exec_cb (argv, err);
      return -1;
    }
  n = su.count < sg.count ? su.count : sg.count;
  {
    struct rt_idmap uids[3], gids[3];
    size_t nu = make_maps (uids, (uint32_t) getuid (), su.start, n, 0);
    size_t ng = make_maps (gids, (uint32_t) getgid (), sg.start, n, 0);
    if (call_in_userns (exec_cb, argv, uids, nu, gids, ng, &wstatus, err) < 0)
      return -1;
  }
  *status = WIFEXITED (wstatus)     ? WEXITSTATUS (wstatus)
            : WIFSIGNALED (wstatus) ? 128 + WTERMSIG (wstatus)
                                    : NB_EXIT_FAILED;
  return 0;
}

size_t
sb_storage_maps (struct rt_idmap *uids, struct rt_idmap *gids)
{
  struct sb_subid su, sg;
  unsigned long n;
  size_t nu;

  if (!read_subids (&su, &sg))
    return 0;
  n = su.count < sg.count ? su.count : sg.count;
  nu = make_maps (uids, (uint32_t) getuid (), su.start, n, 0);
  make_maps (gids, (uint32_t) getgid (), sg.start, n, 0);
  return nu;
}
