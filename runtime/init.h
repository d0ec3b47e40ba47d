/* PID 1 of the sandbox: set the sandbox up, start the agent, then stay as
 * init — reap zombies, forward signals, answer on the container's socket,
 * exit with the agent's status. */
#ifndef RT_INIT_H
#define RT_INIT_H

#include <signal.h>
#include <stdbool.h>
#include "runtime/seccomp.h"
#include "runtime/spec.h"

struct rt_init_opts
{
  int listen_fd;    /* the container's init.sock, listening; or -1 */
  int keep_fd;      /* held open as long as init lives; or -1 */
  bool detach;      /* outlive nsbox (no parent-death signal) */
  bool wait_start;  /* start the agent on RT_REQ_START only */
  int stdio[3];     /* made stdin/out/err; -1: as inherited */
  int mnt_ns_fd;    /* the mount namespace to join (spec's path); or -1 */
  bool send_root;   /* an overlay root goes to nsbox too (RT_SYNC_ROOT) */
  /* The user namespace the container was made from (nsbox's own, before
   * it joined any): only a process in it may ask init for anything. */
  dev_t owner_userns_dev;
  ino_t owner_userns_ino;
};

/* The namespaces init hands to a joiner, in the order they are joined:
 * the user namespace first (it gives the capabilities the others need),
 * the mount namespace last. */
struct rt_ns
{
  int flag;
  const char *name;
};
extern const struct rt_ns rt_ns_order[];
#define RT_N_NS 7

/* Never returns.  SOCK is the child's end of the sync pair; AGENT_MASK is the
 * signal mask the agent starts with; SECCOMP the filter the agent gets
 * last before exec. */
__attribute__ ((noreturn)) void rt_init_main (const struct rt_spec *spec,
                                               int sock,
                                               const sigset_t *agent_mask,
                                               const struct rt_seccomp *seccomp,
                                               const struct rt_init_opts *o);

/* Apply process.oomScoreAdj to this process (and so its children). */
int rt_init_set_oom_score_adj (const struct rt_spec *spec, nb_error_t *err);
/* Open a pty in the container's devpts, of WINSIZE (rows << 16 | cols; 0:
 * the kernel's default), and send its master over SOCK; SLAVE gets its
 * path. */
int rt_init_open_pty (int sock, char *slave, size_t size, unsigned winsize,
                      nb_error_t *err);
/* The agent's (or an exec'd process's) last steps: its terminal (SLAVE, or
 * NULL), no inherited fds, seccomp, identity, exec.  Errors go to SOCK, or
 * to stderr when SOCK < 0. */
__attribute__ ((noreturn)) void
rt_init_agent_main (const struct rt_spec *spec, int sock, const char *slave,
                    const sigset_t *mask, const struct rt_seccomp *seccomp);

#endif
