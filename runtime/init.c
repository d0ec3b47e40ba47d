#define _GNU_SOURCE
#include "runtime/init.h"
#include "runtime/base/cleanup.h"
#include "runtime/net.h"
#include "runtime/process.h"
#include "runtime/rootfs.h"
#include "runtime/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__ ((noreturn)) void
fail (int sock, nb_error_t *err)
{
  int status = (*err && (*err)->status > 0) ? (*err)->status : NB_EXIT_FAILED;
  rt_sync_send_error (sock, err);
  _exit (status);
}

/* Open a pty in the sandbox's own devpts, so the agent's ttyname() is a path
 * that exists inside; the master goes to the monitor outside. */
static int
open_pty (int sock, char *slave, size_t size, nb_error_t *err)
{
  cleanup_close int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  int r;

  if (master < 0)
    return nb_error_make (err, errno, "open /dev/ptmx in the sandbox");
  if (unlockpt (master) < 0 || ptsname_r (master, slave, size) != 0)
    return nb_error_make (err, errno, "set up the pty");
  r = rt_sync_send (sock, RT_SYNC_PTY, 0, NULL, master);
  if (r < 0)
    return nb_error_make (err, -r, "send the pty to nsbox");
  return 0;
}

/* Nothing of nsbox's caller reaches the agent: every descriptor but stdio
 * closes on exec (the sync socket already does, and must live until then
 * to carry an exec error back). */
static int
close_inherited_fds (nb_error_t *err)
{
  if (syscall (SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return 0;
  if (errno != ENOSYS && errno != EINVAL)
    return nb_error_make (err, errno, "close the descriptors nsbox inherited");
  /* Kernels before 5.11: one by one. */
  for (int fd = 3; fd < 65536; fd++)
    {
      int fl = fcntl (fd, F_GETFD);
      if (fl >= 0 && !(fl & FD_CLOEXEC))
        fcntl (fd, F_SETFD, fl | FD_CLOEXEC);
    }
  return 0;
}

static __attribute__ ((noreturn)) void
agent_main (const struct rt_spec *spec, int sock, const char *slave,
            const sigset_t *mask, const struct rt_seccomp *seccomp)
{
  cleanup_error nb_error_t err = NULL;

  sigprocmask (SIG_SETMASK, mask, NULL);
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
  if (close_inherited_fds (&err) < 0)
    fail (sock, &err);
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

/* Init's loop.  Every signal is blocked and taken with sigwaitinfo: as PID 1
 * the kernel would drop a signal with the default action, so forwarding must
 * be explicit (tini's technique). */
static __attribute__ ((noreturn)) void
init_loop (pid_t agent)
{
  sigset_t all;

  sigfillset (&all);
  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&all, &si);

      if (sig < 0)
        continue;
      if (sig != SIGCHLD)
        {
          kill (agent, sig);
          continue;
        }
      for (;;)
        {
          int st;
          pid_t p = waitpid (-1, &st, WNOHANG);
          if (p <= 0)
            break;
          /* The sandbox lives as long as its agent: when init exits, the
           * kernel kills whatever the agent left behind. */
          if (p == agent)
            _exit (rt_exit_status (st));
        }
    }
}

void
rt_init_main (const struct rt_spec *spec, int sock, const sigset_t *agent_mask,
              const struct rt_seccomp *seccomp)
{
  cleanup_error nb_error_t err = NULL;
  struct rt_sync_msg msg;
  char slave[64];
  sigset_t all;
  pid_t agent;
  int r;

  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  /* Die with nsbox run rather than linger unowned. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  prctl (PR_SET_NAME, "nsbox-init");
  r = rt_sync_recv (sock, &msg, NULL);
  if (r <= 0 || msg.type != RT_SYNC_GO)
    _exit (NB_EXIT_FAILED);
  /* The ids are mapped.  From now on the agent must not ptrace init, read
   * its memory, take its fds or reopen /proc/1/exe -- nsbox's binary on the
   * host (CVE-2019-5736): init is not dumpable, so all of that needs
   * CAP_SYS_PTRACE where nsbox was started. */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    {
      nb_error_make (&err, errno, "make the sandbox's init undumpable");
      fail (sock, &err);
    }

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
  if (rt_rootfs_setup (spec, &err) < 0)
    fail (sock, &err);
  if (spec->terminal && open_pty (sock, slave, sizeof slave, &err) < 0)
    fail (sock, &err);

  agent = fork ();
  if (agent < 0)
    {
      nb_error_make (&err, errno, "fork the agent");
      fail (sock, &err);
    }
  if (agent == 0)
    agent_main (spec, sock, spec->terminal ? slave : NULL, agent_mask,
                seccomp);

  close (sock);
  /* Init keeps nothing it could lend the agent: no descriptor of nsbox's
   * caller, no capability. */
  syscall (SYS_close_range, 3U, ~0U, 0U);
  if (rt_process_drop_all (&err) < 0)
    nb_error_free (&err);
  init_loop (agent);
}
