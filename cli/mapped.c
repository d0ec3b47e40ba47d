#define _GNU_SOURCE
#include "cli/mapped.h"
#include "cli/subid.h"
#include "runtime/idmap.h"

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
                const struct rt_idmap *uids, const struct rt_idmap *gids,
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
        _exit (126);
      _exit (125);
    }
  close (to_child[0]);
  close (from_child[1]);
  n = read (from_child[0], buf, 1);
  if (n == 1 && buf[0] == 'u'
      && rt_idmap_write (pid, uids, 2, gids, 2, err) == 0)
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
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (n > 0)
    {
      buf[n] = '\0';
      return nb_error_set_text (err, 0, buf);
    }
  return nb_error_make (err, 0, "the child in the user namespace failed "
                                "(status %d)", status);
}

int
sb_call_mapped (int (*fn) (void *, nb_error_t *), void *arg, char **mapping,
                 bool *keep_owners, nb_error_t *err)
{
  struct passwd *pw = getpwuid (getuid ());
  struct sb_subid su, sg;
  int ret;

  sb_subid_read ("/etc/subuid", pw ? pw->pw_name : NULL, getuid (), &su);
  sb_subid_read ("/etc/subgid", pw ? pw->pw_name : NULL, getuid (), &sg);
  if (getuid () != 0 && su.count > 0 && sg.count > 0
      && access ("/usr/bin/newuidmap", X_OK) == 0
      && access ("/usr/bin/newgidmap", X_OK) == 0)
    {
      unsigned long n = su.count < sg.count ? su.count : sg.count;
      struct rt_idmap uids[2] = { { 0, (uint32_t) getuid (), 1 },
                                  { 1, (uint32_t) su.start, (uint32_t) n } };
      struct rt_idmap gids[2] = { { 0, (uint32_t) getgid (), 1 },
                                  { 1, (uint32_t) sg.start, (uint32_t) n } };
      if (mapping
          && asprintf (mapping,
                       "subids uid=0:%u:1,1:%lu:%lu gid=0:%u:1,1:%lu:%lu",
                       (unsigned) getuid (), su.start, n, (unsigned) getgid (),
                       sg.start, n)
                 < 0)
        return nb_error_make (err, ENOMEM, "id mapping");
      *keep_owners = true;
      return call_in_userns (fn, arg, uids, gids, err);
    }
  /* Without subordinate ids (or as root, who owns every id already) files
   * are stored as the user: the owners inside an image are lost. */
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

