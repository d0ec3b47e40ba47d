#define _GNU_SOURCE
#include "runtime/runtime.h"
#include "runtime/base/cleanup.h"
#include "runtime/idmap.h"
#include "runtime/init.h"
#include "runtime/process.h"
#include "runtime/sync.h"
#include "runtime/terminal.h"

#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals the monitor takes and passes on to the sandbox's init. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
                                 SIGUSR2, SIGWINCH, SIGCHLD, 0 };

/* clone3 behaves like fork here (no new stack): the child continues in this
 * function with a copy of our memory, already inside the new namespaces, and
 * the pidfd lets us wait without racing a reused pid. */
static pid_t
clone_sandbox (int flags, int *pidfd)
{
  struct clone_args args = {
    .flags = (uint64_t) flags | CLONE_PIDFD,
    .pidfd = (uint64_t) (uintptr_t) pidfd,
    .exit_signal = SIGCHLD,
  };
  return (pid_t) syscall (SYS_clone3, &args, sizeof args);
}

static void
kill_and_reap (pid_t pid)
{
  int st;
  kill (pid, SIGKILL);
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
}

int
rt_container_run (const struct rt_spec *spec, int *status, nb_error_t *err)
{
  cleanup_close int parent = -1, child = -1, pidfd = -1, sigfd = -1,
                    master = -1;
  cleanup_error nb_error_t child_err = NULL;
  cleanup_seccomp struct rt_seccomp seccomp = { 0 };
  sigset_t mask, orig;
  int fds[2], wstatus, r;
  pid_t pid;

  /* Found (or compiled) here, before any namespace exists: a bad profile
   * is reported before anything started. */
  if (rt_seccomp_prepare (spec->seccomp, &seccomp, err) < 0)
    return -1;
  if (rt_sync_pair (fds, err) < 0)
    return -1;
  parent = fds[0];
  child = fds[1];

  sigemptyset (&mask);
  for (const int *s = forwarded; *s; s++)
    sigaddset (&mask, *s);
  sigprocmask (SIG_BLOCK, &mask, &orig);
  sigfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0)
    {
      sigprocmask (SIG_SETMASK, &orig, NULL);
      return nb_error_make (err, errno, "signalfd");
    }

  pid = clone_sandbox (spec->clone_flags, &pidfd);
  if (pid < 0)
    {
      int e = errno;
      sigprocmask (SIG_SETMASK, &orig, NULL);
      nb_error_make (err, e, "create the sandbox's namespaces");
      /* Inside an nsbox sandbox without --allow-nested, its seccomp
       * profile says ENOSYS to clone3. */
      if ((e == ENOSYS || e == EPERM) && getenv ("NSBOX_SANDBOX"))
        nb_error_hint (err, "this is inside the nsbox sandbox %s: start it "
                            "with --allow-nested to run sandboxes in it",
                       getenv ("NSBOX_SANDBOX"));
      else if (e == EPERM || e == ENOSPC || e == EACCES)
        nb_error_hint (err, "unprivileged user namespaces may be disabled "
                            "here: run 'nsbox doctor'");
      return -1;
    }
  if (pid == 0)
    {
      close (parent);
      close (sigfd);
      rt_init_main (spec, child, &orig, &seccomp);
    }
  close (nb_steal_fd (&child));

  if ((spec->clone_flags & CLONE_NEWUSER) && rt_idmap_write (pid, spec->uid_maps, spec->n_uid_maps,
                                             spec->gid_maps, spec->n_gid_maps, err) < 0)
    {
      kill_and_reap (pid);
      sigprocmask (SIG_SETMASK, &orig, NULL);
      return nb_error_wrap (err, "map ids into the sandbox");
    }
  rt_sync_send (parent, RT_SYNC_GO, 0, NULL, -1);

  /* Messages end with EOF: the agent's copy of the socket closes on exec. */
  for (;;)
    {
      struct rt_sync_msg msg;
      int fd;
      r = rt_sync_recv (parent, &msg, &fd);
      if (r <= 0)
        break;
      if (msg.type == RT_SYNC_PTY && fd >= 0)
        {
          if (master >= 0)
            close (master);
          master = fd;
        }
      else if (msg.type == RT_SYNC_ERROR)
        nb_error_set_text (&child_err, msg.status, msg.text);
      else if (fd >= 0)
        close (fd);
    }

  r = rt_monitor_wait (pid, pidfd, sigfd, child_err ? -1 : master, &wstatus,
                       err);
  sigprocmask (SIG_SETMASK, &orig, NULL);
  if (r < 0)
    return -1;
  *status = rt_exit_status (wstatus);
  if (child_err)
    {
      *err = steal_pointer (&child_err);
      return -1;
    }
  return 0;
}
