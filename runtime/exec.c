/* Run another process in a running container: join the namespaces its init
 * hands out over init.sock (the user namespace first, for the capabilities
 * to join the rest; the mount namespace last, which also moves us to the
 * container's root), then exec as the spec's process says. */
#define _GNU_SOURCE
#include "runtime/runtime.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/init.h"
#include "runtime/process.h"
#include "runtime/rootfs.h"
#include "runtime/sync.h"
#include "runtime/terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The process, forked by the joiner into the container's pid namespace but
 * made our child (CLONE_PARENT), so that nsbox waits for it directly. */
static __attribute__ ((noreturn)) void
process_main (const struct rt_spec *spec, int sock, const sigset_t *mask,
              const struct rt_seccomp *seccomp, unsigned winsize)
{
  cleanup_error nb_error_t err = NULL;
  char slave[64];

  /* Resolved inside the container, from its root: nothing of the host's
   * file system is reachable from here (the CVE-2024-21626 class). */
  if (rt_chdir_in_root (spec->cwd, &err) < 0)
    {
      rt_sync_send_error (sock, &err);
      _exit (NB_EXIT_FAILED);
    }
  if (spec->terminal
      && rt_init_open_pty (sock, slave, sizeof slave, winsize, &err) < 0)
    {
      rt_sync_send_error (sock, &err);
      _exit (NB_EXIT_FAILED);
    }
  rt_init_agent_main (spec, sock, spec->terminal ? slave : NULL, mask,
                      seccomp);
}

static __attribute__ ((noreturn)) void
joiner_main (const struct rt_spec *spec, const int *ns_fds, int ns_mask,
             int sock, const sigset_t *mask, const struct rt_seccomp *seccomp,
             unsigned winsize, int cgroup_fd)
{
  cleanup_error nb_error_t err = NULL;
  /* Into the container's cgroup too, when it has one: its limits hold
   * for what exec starts. */
  struct clone_args args
      = { .flags = CLONE_PARENT | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
          .exit_signal = 0,
          .cgroup = (uint64_t) (cgroup_fd >= 0 ? cgroup_fd : 0) };
  size_t k = 0;
  pid_t pid;

  /* Inherited by the process.  Written here, through the host's /proc and
   * while this process is still dumpable (else its /proc files are
   * root's). */
  if (rt_init_set_oom_score_adj (spec, &err) < 0)
    {
      rt_sync_send_error (sock, &err);
      _exit (NB_EXIT_FAILED);
    }
  /* From here nsbox's binary runs in the container's namespaces until the
   * process execs: not dumpable, as init is, so that the agent cannot
   * reopen it through /proc/PID/exe (CVE-2019-5736; since Linux 6.11 a
   * running binary may be opened for writing), read its memory or take
   * its fds.  The clone below inherits it; exec resets it. */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    {
      nb_error_make (&err, errno, "make the exec'd process undumpable");
      rt_sync_send_error (sock, &err);
      _exit (NB_EXIT_FAILED);
    }
  for (int i = 0; i < RT_N_NS; i++)
    if (ns_mask & rt_ns_order[i].flag)
      {
        if (setns (ns_fds[k], rt_ns_order[i].flag) < 0)
          {
            nb_error_make (&err, errno, "join its %s namespace",
                           rt_ns_order[i].name);
            rt_sync_send_error (sock, &err);
            _exit (NB_EXIT_FAILED);
          }
        close (ns_fds[k++]);
      }
  pid = (pid_t) syscall (SYS_clone3, &args, sizeof args);
  if (pid < 0)
    {
      nb_error_make (&err, errno, "fork into the container");
      rt_sync_send_error (sock, &err);
      _exit (NB_EXIT_FAILED);
    }
  if (pid == 0)
    process_main (spec, sock, mask, seccomp, winsize);
  rt_sync_send (sock, RT_SYNC_PID, pid, NULL, -1);
  _exit (0);
}

/* The namespaces of DIR's init, in rt_ns_order. */
static int
get_namespaces (const char *dir, int *fds, size_t *n, int *mask,
                nb_error_t *err)
{
  cleanup_close int conn = rt_state_connect (dir, err);
  struct rt_sync_msg msg;
  int r;

  if (conn < 0)
    return -1;
  r = rt_state_request (conn, RT_REQ_NS, 0);
  if (r < 0)
    return nb_error_make (err, -r, "ask its init for its namespaces");
  r = rt_sync_recv_fds (conn, &msg, fds, RT_N_NS, n);
  if (r <= 0 || msg.type != RT_REPLY_OK)
    {
      for (size_t i = 0; i < *n; i++)
        close (fds[i]);
      if (r > 0 && msg.type == RT_SYNC_ERROR)
        return nb_error_make (err, 0, "its init did not hand out its "
                                      "namespaces: %s",
                              msg.text);
      return nb_error_make (err, r < 0 ? -r : 0,
                            "its init did not hand out its namespaces");
    }
  *mask = msg.status;
  return 0;
}

int
rt_container_exec (const char *state_dir, const struct rt_spec *spec,
                   const struct rt_exec_opts *o, int *status,
                   nb_error_t *err)
{
  cleanup_seccomp struct rt_seccomp seccomp = { 0 };
  cleanup_close int parent = -1, child = -1, sigfd = -1, pidfd = -1,
                    master = -1, cgroup_fd = -1;
  cleanup_error nb_error_t child_err = NULL;
  struct rt_state st;
  int ns_fds[RT_N_NS], ns_mask = 0, fds[2], wstatus, r;
  size_t n_ns = 0;
  sigset_t orig;
  pid_t joiner, pid = -1;

  if (rt_state_read (state_dir, &st, err) < 0)
    return -1;
  if (st.status != RT_STATUS_RUNNING)
    {
      nb_error_make (err, 0, "it is %s, not running",
                     rt_status_name (st.status));
      rt_state_clear (&st);
      return -1;
    }
  if (st.cgroup)
    cgroup_fd = open (st.cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC);
  rt_state_clear (&st);
  if (rt_seccomp_prepare (spec->seccomp, &seccomp, err) < 0)
    return -1;
  if (get_namespaces (state_dir, ns_fds, &n_ns, &ns_mask, err) < 0)
    return -1;
  if (rt_sync_pair (fds, err) < 0)
    {
      for (size_t i = 0; i < n_ns; i++)
        close (ns_fds[i]);
      return -1;
    }
  parent = fds[0];
  child = fds[1];

  sigfd = rt_monitor_signals (&orig, err);
  if (sigfd < 0)
    {
      for (size_t i = 0; i < n_ns; i++)
        close (ns_fds[i]);
      return -1;
    }
  joiner = fork ();
  if (joiner == 0)
    {
      close (parent);
      close (sigfd);
      joiner_main (spec, ns_fds, ns_mask, child, &orig, &seccomp,
                   spec->terminal ? rt_terminal_winsize () : 0, cgroup_fd);
    }
  for (size_t i = 0; i < n_ns; i++)
    close (ns_fds[i]);
  if (joiner < 0)
    {
      sigprocmask (SIG_SETMASK, &orig, NULL);
      return nb_error_make (err, errno, "fork");
    }
  close (nb_steal_fd (&child));

  /* EOF once the joiner exited and the process exec'd (or failed). */
  rt_sync_collect (parent, &master, &child_err, &pid, NULL);
  while (waitpid (joiner, &wstatus, 0) < 0 && errno == EINTR)
    ;
  if (pid > 0)
    pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (child_err || pid <= 0 || pidfd < 0)
    {
      if (pid > 0)
        while (waitpid (pid, &wstatus, 0) < 0 && errno == EINTR)
          ;
      sigprocmask (SIG_SETMASK, &orig, NULL);
      if (child_err)
        {
          *err = steal_pointer (&child_err);
          return -1;
        }
      return nb_error_make (err, errno, "start the process in it");
    }
  if (o && o->pid_file && rt_write_pid_file (o->pid_file, pid, err) < 0)
    {
      sigprocmask (SIG_SETMASK, &orig, NULL);
      return -1;
    }
  if (master >= 0 && o && o->console_socket)
    {
      if (rt_console_send (o->console_socket, master, err) < 0)
        {
          kill (pid, SIGKILL);
          while (waitpid (pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
          sigprocmask (SIG_SETMASK, &orig, NULL);
          return -1;
        }
      close (nb_steal_fd (&master));
    }
  if (o && o->detach)
    {
      sigprocmask (SIG_SETMASK, &orig, NULL);
      *status = 0;
      return 0;
    }
  r = rt_monitor_wait (pid, pidfd, sigfd, master, &wstatus, err);
  sigprocmask (SIG_SETMASK, &orig, NULL);
  if (r < 0)
    return -1;
  *status = rt_exit_status (wstatus);
  return 0;
}
