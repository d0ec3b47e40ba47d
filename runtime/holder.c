#define _GNU_SOURCE
#include "runtime/holder.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/proctitle.h"
#include "runtime/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* /proc/PID/FILE (uid_map, gid_map) as maps: the holder's own ids onto the
 * ids of the namespace we read it from (the host's). */
static int
read_maps (pid_t pid, const char *file, struct rt_idmap *maps, size_t *n)
{
  char path[64], buf[RT_MAX_IDMAPS * 40 + 1];
  cleanup_close int fd = -1;
  ssize_t len;
  char *p;

  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, file);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  len = read (fd, buf, sizeof buf - 1);
  if (len <= 0 || (size_t) len == sizeof buf - 1)
    return -1;
  buf[len] = '\0';
  *n = 0;
  for (p = buf; *p;)
    {
      unsigned c, hst, size;
      int used;
      if (*n == RT_MAX_IDMAPS
          || sscanf (p, "%u %u %u%n", &c, &hst, &size, &used) != 3)
        return -1;
      maps[(*n)++] = (struct rt_idmap){ c, hst, size };
      p += used;
      while (*p == '\n' || *p == ' ')
        p++;
    }
  return 0;
}

static bool
same_maps (const struct rt_idmap *a, size_t na, const struct rt_idmap *b,
           size_t nb)
{
  if (na != nb)
    return false;
  for (size_t i = 0; i < na; i++)
    if (a[i].container_id != b[i].container_id || a[i].host_id != b[i].host_id
        || a[i].size != b[i].size)
      return false;
  return true;
}

/* The process recorded as "PID INO": its user namespace when it is still
 * that one (a reused pid has another, or none we may open). */
static int
open_recorded (int fd, pid_t *pid)
{
  char buf[64], path[64];
  unsigned long long ino;
  ssize_t len = pread (fd, buf, sizeof buf - 1, 0);
  int pid_i, nsfd;
  struct stat st;
  char *state;

  *pid = 0;
  if (len <= 0)
    return -1;
  buf[len] = '\0';
  if (sscanf (buf, "%d %llu", &pid_i, &ino) != 2 || pid_i <= 1)
    return -1;
  /* A killed holder's namespace stays reachable until its zombie is
   * reaped (by init, whenever it gets to it). */
  snprintf (path, sizeof path, "/proc/%d/stat", pid_i);
  nsfd = open (path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    return -1;
  len = read (nsfd, buf, sizeof buf - 1);
  close (nsfd);
  if (len <= 0)
    return -1;
  buf[len] = '\0';
  state = strrchr (buf, ')');
  if (state == NULL || state[1] != ' ' || state[2] == 'Z' || state[2] == 'X')
    return -1;
  snprintf (path, sizeof path, "/proc/%d/ns/user", pid_i);
  nsfd = open (path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    return -1;
  if (fstat (nsfd, &st) < 0 || st.st_ino != ino)
    {
      close (nsfd);
      return -1;
    }
  *pid = pid_i;
  return nsfd;
}

/* The holder's life: until PIDFILE no longer names it -- removed (system
 * reset, a runtime dir cleared at logout) or replaced -- or it is killed;
 * so no holder outlives its record.  Nothing else is held open. */
static _Noreturn void
hold (const char *pidfile)
{
  struct stat was, now;
  char buf[4096];
  int in = inotify_init1 (IN_CLOEXEC);

  if (in < 0 || stat (pidfile, &was) < 0
      || inotify_add_watch (in, pidfile,
                            IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
             < 0)
    {
      /* No watch on this file system: then until killed (system reset
       * does), rather than a new holder -- and newuidmap -- each start. */
      syscall (SYS_close_range, 0U, ~0U, 0);
      for (;;)
        pause ();
    }
  if (in > 0)
    syscall (SYS_close_range, 0U, (unsigned) in - 1, 0);
  syscall (SYS_close_range, (unsigned) in + 1, ~0U, 0);
  for (;;)
    {
      /* An unlink says IN_ATTRIB (the link count) before the inode goes. */
      if (read (in, buf, sizeof buf) < 0 && errno != EINTR)
        _exit (0);
      if (stat (pidfile, &now) < 0 || now.st_ino != was.st_ino
          || now.st_dev != was.st_dev)
        _exit (0);
    }
}

/* The holder: a grandchild in a session of its own (no terminal's signals
 * reach it), in a new user namespace, mapped by newuidmap/newgidmap; it
 * then sleeps until killed, holding nothing else open. */
static pid_t
spawn (const struct rt_holder *h, const char *pidfile, nb_error_t *err)
{
  cleanup_close int up_r = -1, up_w = -1, go_r = -1, go_w = -1;
  int fds[2], status;
  pid_t first, pid = -1;

  if (pipe2 (fds, O_CLOEXEC) < 0)
    return nb_error_make (err, errno, "pipe");
  up_r = fds[0];
  up_w = fds[1];
  if (pipe2 (fds, O_CLOEXEC) < 0)
    return nb_error_make (err, errno, "pipe");
  go_r = fds[0];
  go_w = fds[1];
  first = fork ();
  if (first < 0)
    return nb_error_make (err, errno, "fork");
  if (first == 0)
    {
      sigset_t none;
      char go;
      if (setsid () < 0 || fork () != 0)
        _exit (0);
      /* The holder. */
      if (unshare (CLONE_NEWUSER) < 0)
        _exit (1);
      pid = getpid ();
      if (write (up_w, &pid, sizeof pid) != sizeof pid
          || read (go_r, &go, 1) != 1 || go != 'g')
        _exit (1);
      /* It outlives the run it was forked from. */
      nb_set_proctitle ("nsbox-userns");
      if (chdir ("/") < 0)
        _exit (1);
      sigemptyset (&none);
      for (int s = 1; s < NSIG; s++)
        signal (s, SIG_DFL);
      sigprocmask (SIG_SETMASK, &none, NULL);
      hold (pidfile);
    }
  close (nb_steal_fd (&up_w));
  close (nb_steal_fd (&go_r));
  while (waitpid (first, &status, 0) < 0)
    if (errno != EINTR)
      return nb_error_make (err, errno, "wait for the id-mapping holder");
  if (read (up_r, &pid, sizeof pid) != sizeof pid || pid <= 0)
    return nb_error_make (err, 0, "start the id-mapping holder");
  if (rt_idmap_write (pid, h->uid_maps, h->n_uid, h->gid_maps, h->n_gid, err)
          < 0
      || write (go_w, "g", 1) != 1)
    {
      kill (pid, SIGKILL);
      if (!*err)
        nb_error_make (err, errno, "start the id-mapping holder");
      return -1;
    }
  return pid;
}

int
rt_holder_get (const char *pidfile, const struct rt_idmap *uids, size_t n_uid,
               const struct rt_idmap *gids, size_t n_gid, struct rt_holder *h,
               nb_error_t *err)
{
  cleanup_close int fd = -1;
  struct rt_idmap got[RT_MAX_IDMAPS];
  size_t n_got;
  struct stat st;
  char line[64];
  pid_t pid;
  int len;

  h->nsfd = -1;
  if (n_uid > RT_MAX_IDMAPS || n_gid > RT_MAX_IDMAPS)
    return nb_error_make (err, E2BIG, "id maps");
  memcpy (h->uid_maps, uids, n_uid * sizeof *uids);
  memcpy (h->gid_maps, gids, n_gid * sizeof *gids);
  h->n_uid = n_uid;
  h->n_gid = n_gid;
  fd = open (pidfile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s", pidfile);
  /* Two first starts at once make one holder. */
  if (flock (fd, LOCK_EX) < 0)
    return nb_error_make (err, errno, "lock %s", pidfile);
  h->nsfd = open_recorded (fd, &pid);
  if (h->nsfd >= 0)
    {
      if (read_maps (pid, "uid_map", got, &n_got) == 0
          && same_maps (got, n_got, uids, n_uid)
          && read_maps (pid, "gid_map", got, &n_got) == 0
          && same_maps (got, n_got, gids, n_gid))
        return 0;
      /* /etc/subuid changed since: that holder has done its time. */
      close (h->nsfd);
      h->nsfd = -1;
      kill (pid, SIGKILL);
    }
  pid = spawn (h, pidfile, err);
  if (pid < 0)
    return -1;
  snprintf (line, sizeof line, "/proc/%d/ns/user", (int) pid);
  h->nsfd = open (line, O_RDONLY | O_CLOEXEC);
  if (h->nsfd < 0 || fstat (h->nsfd, &st) < 0)
    {
      nb_error_make (err, errno, "open %s", line);
      kill (pid, SIGKILL);
      return -1;
    }
  len = snprintf (line, sizeof line, "%d %llu\n", (int) pid,
                  (unsigned long long) st.st_ino);
  if (ftruncate (fd, 0) < 0 || pwrite (fd, line, (size_t) len, 0) != len)
    {
      nb_error_make (err, errno, "write %s", pidfile);
      kill (pid, SIGKILL);
      close (h->nsfd);
      h->nsfd = -1;
      return -1;
    }
  return 0;
}

pid_t
rt_holder_running (const char *pidfile)
{
  cleanup_close int fd = open (pidfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_close int nsfd = -1;
  pid_t pid;

  if (fd < 0)
    return 0;
  nsfd = open_recorded (fd, &pid);
  return nsfd >= 0 ? pid : 0;
}

void
rt_holder_stop (const char *pidfile)
{
  pid_t pid = rt_holder_running (pidfile);

  if (pid > 0)
    kill (pid, SIGKILL);
}

bool
rt_holder_translate (const struct rt_idmap *holder, size_t n_holder,
                     const struct rt_idmap *maps, size_t n,
                     struct rt_idmap *out)
{
  for (size_t i = 0; i < n; i++)
    {
      size_t j;
      for (j = 0; j < n_holder; j++)
        if (maps[i].host_id >= holder[j].host_id
            && (uint64_t) maps[i].host_id + maps[i].size
                   <= (uint64_t) holder[j].host_id + holder[j].size)
          break;
      if (j == n_holder)
        return false;
      out[i] = (struct rt_idmap){ maps[i].container_id,
                                  holder[j].container_id
                                      + (maps[i].host_id - holder[j].host_id),
                                  maps[i].size };
    }
  return true;
}

/* What the helper tells nsbox: it shares our memory (CLONE_VM) and we
 * wait for it (CLONE_VFORK), so it writes here. */
struct job
{
  const struct rt_holder *h;
  int flags, cgroup_fd;
  const struct rt_idmap *uids, *gids;
  size_t n_uid, n_gid;
  int (*fn) (void *);
  void *arg;
  pid_t pid;
  int errnum;
  char what[200];
};

/* The helper: joins the holder's namespace, clones init there and maps its
 * ids.  Init runs FN on a copy of this stack. */
static int
helper_main (void *p)
{
  struct job *j = p;
  cleanup_error nb_error_t e = NULL;
  /* CLONE_PARENT: init is nsbox's child, as without a holder; its exit
   * signal is then the helper's own (clone3 wants 0 here). */
  struct clone_args args = {
    .flags = (uint64_t) j->flags | CLONE_PARENT
             | (j->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
    .cgroup = (uint64_t) (j->cgroup_fd >= 0 ? j->cgroup_fd : 0),
  };
  pid_t pid;

  if (setns (j->h->nsfd, CLONE_NEWUSER) < 0)
    {
      j->errnum = errno;
      snprintf (j->what, sizeof j->what, "join the id-mapping holder");
      return 0;
    }
  pid = (pid_t) syscall (SYS_clone3, &args, sizeof args);
  if (pid == 0)
    _exit (j->fn (j->arg));
  if (pid < 0)
    {
      j->errnum = errno;
      snprintf (j->what, sizeof j->what, "create the sandbox's namespaces");
      return 0;
    }
  j->pid = pid;
  if (rt_idmap_write_direct (pid, j->uids, j->n_uid, j->gids, j->n_gid, &e)
      < 0)
    {
      j->errnum = e->errno_val ? e->errno_val : EPERM;
      snprintf (j->what, sizeof j->what, "%s", e->msg);
    }
  return 0;
}

/* Init's stack, until it execs or ends: its copy of this mapping. */
#define HELPER_STACK (1024 * 1024)

pid_t
rt_holder_clone (const struct rt_holder *h, int flags, int cgroup_fd,
                 const struct rt_idmap *uids, size_t n_uid,
                 const struct rt_idmap *gids, size_t n_gid,
                 int (*fn) (void *), void *arg, int *pidfd, nb_error_t *err)
{
  struct job j = { h, flags, cgroup_fd, uids, gids, n_uid, n_gid, fn, arg,
                   0, 0, "" };
  char *stack;
  pid_t helper;
  int status;

  stack = mmap (NULL, HELPER_STACK, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1,
                0);
  if (stack == MAP_FAILED)
    return nb_error_make (err, errno, "map a stack");
  /* Like posix_spawn: no copy of our memory for a child that lives only
   * to clone init (which gets its own copy, as it would from us). */
  helper = clone (helper_main, stack + HELPER_STACK,
                  CLONE_VM | CLONE_VFORK | SIGCHLD, &j);
  if (helper < 0)
    {
      j.errnum = errno;
      snprintf (j.what, sizeof j.what, "start the id-mapping helper");
    }
  else
    while (waitpid (helper, &status, 0) < 0 && errno == EINTR)
      ;
  munmap (stack, HELPER_STACK);
  if (j.pid > 0 && j.errnum == 0)
    {
      *pidfd = (int) syscall (SYS_pidfd_open, j.pid, 0);
      if (*pidfd >= 0)
        return j.pid;
      j.errnum = errno;
      snprintf (j.what, sizeof j.what, "open init's pidfd");
    }
  if (j.pid > 0)
    {
      kill (j.pid, SIGKILL);
      while (waitpid (j.pid, &status, 0) < 0 && errno == EINTR)
        ;
    }
  return nb_error_make (err, j.errnum, "%s", j.what);
}
