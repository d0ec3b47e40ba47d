#define _GNU_SOURCE
#include "runtime/init.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/proctitle.h"
#include "runtime/hooks.h"
#include "runtime/net.h"
#include "runtime/process.h"
#include "runtime/rootfs.h"
#include "runtime/state.h"
#include "runtime/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__ ((noreturn)) void
fail (int sock, nb_error_t *err)
{
  int status = (*err && (*err)->status > 0) ? (*err)->status : NB_EXIT_FAILED;
  if (sock >= 0)
    rt_sync_send_error (sock, err);
  else
    nb_error_report (err);
  _exit (status);
}

/* Open a pty in the sandbox's own devpts, so the agent's ttyname() is a path
 * that exists inside; the master goes to the monitor outside. */
int
rt_init_open_pty (int sock, char *slave, size_t size, unsigned winsize,
                  nb_error_t *err)
{
  cleanup_close int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  int r;

  if (master < 0)
    return nb_error_make (err, errno, "open /dev/ptmx in the sandbox");
  if (unlockpt (master) < 0 || ptsname_r (master, slave, size) != 0)
    return nb_error_make (err, errno, "set up the pty");
  /* The user's size before the agent starts: it may ask at once. */
  if (winsize)
    {
      struct winsize ws = { .ws_row = (unsigned short) (winsize >> 16),
                            .ws_col = (unsigned short) (winsize & 0xffff) };
      ioctl (master, TIOCSWINSZ, &ws);
    }
  r = rt_sync_send (sock, RT_SYNC_PTY, 0, NULL, master);
  if (r < 0)
    return nb_error_make (err, -r, "send the pty to nsbox");
  return 0;
}

/* Nothing of nsbox's caller reaches the agent: every descriptor but stdio
 * closes on exec (the sync socket already does, and must live until then
 * to carry an exec error back). */
static int
close_inherited_fds (unsigned preserve, nb_error_t *err)
{
  /* --preserve-fds: 3 .. 3 + PRESERVE - 1 stay open across exec. */
  for (unsigned fd = 3; fd < 3 + preserve; fd++)
    {
      int fl = fcntl ((int) fd, F_GETFD);
      if (fl >= 0)
        fcntl ((int) fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
  if (syscall (SYS_close_range, 3U + preserve, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return 0;
  if (errno != ENOSYS && errno != EINVAL)
    return nb_error_make (err, errno, "close the descriptors nsbox inherited");
  /* Kernels before 5.11: one by one. */
  for (int fd = 3 + (int) preserve; fd < 65536; fd++)
    {
      int fl = fcntl (fd, F_GETFD);
      if (fl >= 0 && !(fl & FD_CLOEXEC))
        fcntl (fd, F_SETFD, fl | FD_CLOEXEC);
    }
  return 0;
}

/* process.oomScoreAdj.  Raising it needs no privilege; lowering it needs
 * CAP_SYS_RESOURCE, which a rootless container has not: said then.  It must
 * be written while the process is dumpable (else its /proc files are
 * root's), and children inherit it. */
int
rt_init_set_oom_score_adj (const struct rt_spec *spec, nb_error_t *err)
{
  char v[16];
  int fd, n;

  if (!spec->has_oom_score_adj)
    return 0;
  fd = open ("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  n = snprintf (v, sizeof v, "%d", spec->oom_score_adj);
  if (fd < 0 || write (fd, v, (size_t) n) != n)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return nb_error_make (err, e, "set oomScoreAdj to %d",
                            spec->oom_score_adj);
    }
  close (fd);
  return 0;
}

/* The container's state for its hooks, as nsbox sent it with GO (empty
 * when it has none that run inside). */
static char hook_state[RT_SYNC_TEXT];

/* In the container's namespaces, its mounts made, before pivot_root: the
 * hooks' paths resolve in the runtime's file system still. */
static int
create_container_hooks (void *arg, nb_error_t *err)
{
  const struct rt_spec *spec = arg;
  return rt_hooks_run (spec->hooks, "createContainer", hook_state, err);
}

void
rt_init_agent_main (const struct rt_spec *spec, int sock, const char *slave,
                    const sigset_t *mask, const struct rt_seccomp *seccomp)
{
  cleanup_error nb_error_t err = NULL;

  sigprocmask (SIG_SETMASK, mask, NULL);
  /* Before the process is executed, inside (the path resolves in the
   * container); not for exec'd processes, which have no hook state. */
  if (hook_state[0] && rt_hooks_any (spec->hooks, "startContainer")
      && rt_hooks_run (spec->hooks, "startContainer", hook_state, &err) < 0)
    fail (sock, &err);
  if (slave)
    {
      int fd;
      if (setsid () < 0)
        {
          nb_error_make (&err, errno, "setsid");
          fail (sock, &err);
        }
      fd = open (slave, O_RDWR | O_CLOEXEC);
      if (fd < 0 || ioctl (fd, TIOCSCTTY, 0) < 0)
        {
          nb_error_make (&err, errno, "open the terminal %s", slave);
          fail (sock, &err);
        }
      if (dup2 (fd, 0) < 0 || dup2 (fd, 1) < 0 || dup2 (fd, 2) < 0)
        {
          nb_error_make (&err, errno, "attach the terminal");
          fail (sock, &err);
        }
      close (fd);
    }
  if (close_inherited_fds (spec->preserve_fds, &err) < 0)
    fail (sock, &err);
  if (spec->umask >= 0)
    umask ((mode_t) spec->umask);
  /* The filter goes last, so that setting up needs nothing it denies --
   * unless no_new_privs is off: then loading it needs CAP_SYS_ADMIN, which
   * only the process before it drops its capabilities has. */
  if (!spec->no_new_privileges && rt_seccomp_load (seccomp, &err) < 0)
    fail (sock, &err);
  if (rt_process_prepare (spec, &err) < 0)
    fail (sock, &err);
  if (spec->no_new_privileges && rt_seccomp_load (seccomp, &err) < 0)
    fail (sock, &err);
  rt_process_exec (spec, &err);
  fail (sock, &err);
}

const struct rt_ns rt_ns_order[RT_N_NS]
    = { { CLONE_NEWUSER, "user" }, { CLONE_NEWIPC, "ipc" },
        { CLONE_NEWUTS, "uts" },   { CLONE_NEWNET, "net" },
        { CLONE_NEWPID, "pid" },   { CLONE_NEWCGROUP, "cgroup" },
        { CLONE_NEWNS, "mnt" } };

struct init
{
  const struct rt_spec *spec;
  const struct rt_init_opts *o;
  const sigset_t *agent_mask;
  const struct rt_seccomp *seccomp;
  pid_t agent;
  int sigfd;
  int ns_dir; /* the host /proc's view of our /proc/self/ns */
  int ns_mask;
  int work_lock; /* shared flock on the overlay's workdir (rootfs.h) */
};

static int
cmp_int (const void *a, const void *b)
{
  return *(const int *) a - *(const int *) b;
}

/* Close every descriptor but stdio and KEEP (N of them; -1s ignored). */
static void
close_all_but (const int *keep, size_t n)
{
  int sorted[RT_N_NS + 8], k = 0, from = 3;

  for (size_t i = 0; i < n && k < (int) (sizeof sorted / sizeof *sorted);
       i++)
    if (keep[i] >= 3)
      sorted[k++] = keep[i];
  qsort (sorted, (size_t) k, sizeof (int), cmp_int);
  for (int i = 0; i < k; i++)
    {
      if (sorted[i] > from)
        syscall (SYS_close_range, (unsigned) from, (unsigned) sorted[i] - 1,
                 0U);
      from = sorted[i] + 1;
    }
  syscall (SYS_close_range, (unsigned) from, ~0U, 0U);
}

/* Init keeps nothing it could lend the agent: no descriptor of nsbox's
 * caller (only its socket, its namespaces, the run lock, the lock on the
 * overlay's workdir), no capability. */
static void
shed (struct init *in)
{
  cleanup_error nb_error_t err = NULL;
  int keep[5];
  size_t n = 0;

  keep[n++] = in->work_lock;
  keep[n++] = in->sigfd;
  keep[n++] = in->o->listen_fd;
  keep[n++] = in->o->keep_fd;
  keep[n++] = in->ns_dir;
  close_all_but (keep, n);
  if (rt_process_drop_all (&err) < 0)
    nb_error_free (&err);
}

struct agent_start
{
  struct init *in;
  int sock;
  const char *slave;
};

static int
agent_main (void *arg)
{
  struct agent_start *a = arg;
  rt_init_agent_main (a->in->spec, a->sock, a->slave, a->in->agent_mask,
                      a->in->seccomp);
}

/* The agent's stack until it execs (CLONE_VM: it runs in init's memory). */
#define AGENT_STACK (1024 * 1024)

static pid_t
start_agent (struct init *in, int sock, const char *slave, nb_error_t *err)
{
  struct agent_start a = { in, sock, slave };
  char *stack = mmap (NULL, AGENT_STACK, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
                      -1, 0);
  pid_t agent;

  if (stack == MAP_FAILED)
    return nb_error_make (err, errno, "map the agent's stack");
  /* Named before the agent runs: it may read /proc/1/comm at once (a
   * created container's init was nsbox-created until now). */
  prctl (PR_SET_NAME, RT_INIT_NAME_RUNNING);
  /* As posix_spawn: the agent sets itself up in init's memory, with its own
   * descriptors, credentials and filter, and init waits until it execs
   * (or fails): no copy of init's memory for a process that execs. */
  agent = clone (agent_main, stack + AGENT_STACK,
                 CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  munmap (stack, AGENT_STACK);
  if (agent < 0)
    return nb_error_make (err, errno, "start the agent");
  in->agent = agent;
  return agent;
}

/* Where our namespaces are, for `exec` to join: /proc/self/ns of the
 * host's /proc, opened before pivot_root.  The files themselves are opened
 * when asked for, from this directory: not through the sandbox's /proc,
 * where an agent that may mount (--allow-nested) could put one of its own
 * and have nsbox exec join namespaces of its making; and not on every
 * start, which mostly never sees an exec. */
static int
open_ns_dir (struct init *in, nb_error_t *err)
{
  in->ns_dir = open ("/proc/self/ns", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (in->ns_dir < 0)
    return nb_error_make (err, errno, "open /proc/self/ns");
  for (int i = 0; i < RT_N_NS; i++)
    if ((in->spec->clone_flags | in->spec->join_flags) & rt_ns_order[i].flag)
      in->ns_mask |= rt_ns_order[i].flag;
  return 0;
}

/* RT_REQ_NS: our namespaces, in rt_ns_order, as the mask says. */
static void
send_namespaces (struct init *in, int conn)
{
  int fds[RT_N_NS];
  size_t n = 0;

  for (int i = 0; i < RT_N_NS; i++)
    {
      if (!(in->ns_mask & rt_ns_order[i].flag))
        continue;
      fds[n] = openat (in->ns_dir, rt_ns_order[i].name,
                       O_RDONLY | O_CLOEXEC);
      if (fds[n] < 0)
        {
          char text[64];
          snprintf (text, sizeof text, "open its %s namespace: %s",
                    rt_ns_order[i].name, strerror (errno));
          rt_sync_send (conn, RT_SYNC_ERROR, NB_EXIT_FAILED, text, -1);
          goto out;
        }
      n++;
    }
  rt_sync_send_fds (conn, RT_REPLY_OK, in->ns_mask, NULL, fds, n);
out:
  for (size_t i = 0; i < n; i++)
    close (fds[i]);
}

/* A request on init.sock.  Only a process outside the container may ask:
 * the agent must not be handed namespaces or start itself again, and a peer
 * in our pid namespace has a pid here (one outside shows as 0).  Without a
 * pid namespace of its own that cannot be told apart: the socket's mode and
 * its directory's (0700) are the gate then. */
static void
serve (struct init *in, int conn, const char *slave)
{
  cleanup_error nb_error_t err = NULL;
  struct timeval tv = { .tv_sec = 2 };
  struct ucred cred;
  socklen_t len = sizeof cred;
  struct rt_sync_msg msg;

  cleanup_close int userns = -1;
  struct stat ns;

  if (getsockopt (conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0
      || ((in->spec->clone_flags & CLONE_NEWPID) && cred.pid != 0))
    return;
  /* A client that says nothing does not hold init up for long. */
  setsockopt (conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (rt_sync_recv (conn, &msg, &userns) <= 0)
    return;
  /* Outside our pid namespace is not enough: another sandbox's agent is
   * too.  The request carries its sender's user namespace, which must be
   * the one we were made from -- an fd no process of a sandbox can have
   * (NS_GET_PARENT and NS_GET_USERNS refuse namespaces above the
   * caller's). */
  if (userns < 0 || fstat (userns, &ns) < 0
      || ns.st_dev != in->o->owner_userns_dev
      || ns.st_ino != in->o->owner_userns_ino)
    return;
  switch (msg.type)
    {
    case RT_REQ_NS:
      send_namespaces (in, conn);
      break;
    case RT_REQ_START:
      if (in->agent > 0)
        {
          rt_sync_send (conn, RT_SYNC_ERROR, NB_EXIT_FAILED,
                        "it was started already", -1);
          break;
        }
      /* The agent reports on CONN until it execs; the client then sees
       * EOF. */
      if (start_agent (in, conn, slave, &err) < 0)
        rt_sync_send_error (conn, &err);
      else
        shed (in);
      break;
    case RT_REQ_SIGNAL_ALL:
      /* As PID 1, kill(-1) reaches every other process of the namespace. */
      if (msg.status > 0 && msg.status < NSIG && getpid () == 1)
        kill (-1, msg.status);
      else if (msg.status > 0 && msg.status < NSIG && in->agent > 0)
        kill (in->agent, msg.status); /* a pid namespace joined, not ours */
      rt_sync_send (conn, RT_REPLY_OK, 0, NULL, -1);
      break;
    default:
      rt_sync_send (conn, RT_SYNC_ERROR, NB_EXIT_FAILED, "unknown request",
                    -1);
    }
}

/* Signals that end a created container whose process never started. */
static bool
ends_created (int sig)
{
  return sig != SIGCHLD && sig != SIGWINCH && sig != SIGURG
         && sig != SIGCONT;
}

/* Init's loop.  Every signal is blocked and read from a signalfd: as PID 1
 * the kernel would drop a signal with the default action, so forwarding must
 * be explicit (tini's technique). */
static __attribute__ ((noreturn)) void
init_loop (struct init *in, const char *slave)
{
  for (;;)
    {
      struct pollfd p[2] = { { .fd = in->sigfd, .events = POLLIN },
                             { .fd = in->o->listen_fd, .events = POLLIN } };
      struct signalfd_siginfo si;

      if (poll (p, in->o->listen_fd >= 0 ? 2 : 1, -1) < 0)
        continue;
      if (p[1].revents & POLLIN)
        {
          int conn = accept4 (in->o->listen_fd, NULL, NULL, SOCK_CLOEXEC);
          if (conn >= 0)
            {
              serve (in, conn, slave);
              close (conn);
            }
        }
      if (!(p[0].revents & POLLIN))
        continue;
      while (read (in->sigfd, &si, sizeof si) == sizeof si)
        {
          int sig = (int) si.ssi_signo;
          if (sig != SIGCHLD)
            {
              if (in->agent > 0)
                kill (in->agent, sig);
              else if (ends_created (sig))
                _exit (128 + sig);
              continue;
            }
          for (;;)
            {
              int st;
              pid_t p2 = waitpid (-1, &st, WNOHANG);
              if (p2 <= 0)
                break;
              /* The sandbox lives as long as its agent: when init exits,
               * the kernel kills whatever the agent left behind. */
              if (p2 == in->agent)
                _exit (rt_exit_status (st));
            }
        }
    }
}


static int
set_stdio (const int stdio[3], nb_error_t *err)
{
  for (int i = 0; i < 3; i++)
    if (stdio[i] >= 0 && stdio[i] != i && dup2 (stdio[i], i) < 0)
      return nb_error_make (err, errno, "set up the container's stdio");
  return 0;
}

void
rt_init_main (const struct rt_spec *spec, int sock, const sigset_t *agent_mask,
              const struct rt_seccomp *seccomp, const struct rt_init_opts *o)
{
  cleanup_error nb_error_t err = NULL;
  struct init in = { .spec = spec, .o = o, .agent_mask = agent_mask,
                     .seccomp = seccomp, .ns_dir = -1, .work_lock = -1 };
  struct rt_sync_msg msg;
  static char slave[64];
  /* Its overlay root mounted here (not a joined mount namespace's). */
  bool own_overlay = o->mnt_ns_fd < 0 && rt_rootfs_is_overlay (spec);
  sigset_t all;
  int r;

  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  /* Die with nsbox run rather than linger unowned; a detached one lives
   * on (its state dir says where). */
  if (!o->detach)
    prctl (PR_SET_PDEATHSIG, SIGKILL);
  /* ps, on the host and inside, shows init by its name, not by the
   * command line of the nsbox that made it. */
  nb_set_proctitle (RT_INIT_NAME_RUNNING);
  if (o->wait_start)
    prctl (PR_SET_NAME, RT_INIT_NAME_CREATED);
  r = rt_sync_recv (sock, &msg, NULL);
  if (r <= 0 || msg.type != RT_SYNC_GO)
    _exit (NB_EXIT_FAILED);
  if (rt_init_set_oom_score_adj (spec, &err) < 0)
    fail (sock, &err);
  /* The ids are mapped.  From now on the agent must not ptrace init, read
   * its memory, take its fds or reopen /proc/1/exe -- nsbox's binary on the
   * host (CVE-2019-5736): init is not dumpable, so all of that needs
   * CAP_SYS_PTRACE where nsbox was started. */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    {
      nb_error_make (&err, errno, "make the sandbox's init undumpable");
      fail (sock, &err);
    }
  in.sigfd = signalfd (-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
  if (in.sigfd < 0)
    {
      nb_error_make (&err, errno, "signalfd");
      fail (sock, &err);
    }
  if (set_stdio (o->stdio, &err) < 0)
    fail (sock, &err);

  /* Its namespaces, for exec: found now, through the host's /proc. */
  if (o->listen_fd >= 0 && open_ns_dir (&in, &err) < 0)
    fail (sock, &err);

  /* Leave the host's session: terminal signals then reach the sandbox only
   * through nsbox, once. */
  setsid ();
  if ((spec->clone_flags & CLONE_NEWUTS) && spec->hostname
      && sethostname (spec->hostname, strlen (spec->hostname)) < 0)
    {
      nb_error_make (&err, errno, "sethostname %s", spec->hostname);
      fail (sock, &err);
    }
  if ((spec->clone_flags & CLONE_NEWNET) && rt_net_loopback_up (&err) < 0)
    fail (sock, &err);
  if (msg.text[0])
    memcpy (hook_state, msg.text, sizeof hook_state);
  if (own_overlay)
    in.work_lock = rt_rootfs_lock_work (spec);
  if ((o->mnt_ns_fd >= 0
           ? rt_rootfs_join (spec, o->mnt_ns_fd,
                             rt_hooks_any (spec->hooks, "createContainer")
                                 ? create_container_hooks
                                 : NULL,
                             (void *) spec, &err)
           : rt_rootfs_setup (spec,
                              rt_hooks_any (spec->hooks, "createContainer")
                                  ? create_container_hooks
                                  : NULL,
                              (void *) spec, &err))
      < 0)
    fail (sock, &err);
  if (spec->terminal
      && rt_init_open_pty (sock, slave, sizeof slave, (unsigned) msg.status,
                           &err)
             < 0)
    fail (sock, &err);
  /* With a terminal the caller's stdio are not the container's: init lets
   * go of them, or an engine reading them (containerd's shim does) would
   * wait for their end as long as the container lives. */
  if (spec->terminal)
    {
      int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      if (null >= 0)
        {
          for (int i = 0; i < 3; i++)
            dup2 (null, i);
          close (null);
        }
    }

  /* The overlay root's last reference syncs its upper dir's filesystem,
   * and the mount namespace's end unmounts every mount in it: nsbox run
   * holds both past init and lets go of them in the background
   * (rt_container_run), so neither is at the end of every run. */
  if (o->send_root && own_overlay)
    {
      int held[2] = { open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC),
                      open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC) };
      if (held[0] >= 0)
        rt_sync_send_fds (sock, RT_SYNC_ROOT, 0, NULL, held,
                          held[1] >= 0 ? 2 : 1);
      for (int i = 0; i < 2; i++)
        if (held[i] >= 0)
          close (held[i]);
    }
  if (o->wait_start)
    {
      /* Created: the process starts when asked (RT_REQ_START).  Until
       * then init keeps its capabilities: the agent needs them to become
       * its user. */
      rt_sync_send (sock, RT_SYNC_READY, 0, NULL, -1);
      close (sock);
      init_loop (&in, spec->terminal ? slave : NULL);
    }
  if (start_agent (&in, sock, spec->terminal ? slave : NULL, &err) < 0)
    fail (sock, &err);
  close (sock);
  shed (&in);
  init_loop (&in, NULL);
}
