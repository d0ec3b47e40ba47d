/* The executor: run an OCI runtime spec as an isolated process tree, and the
 * one lifecycle both front doors use (nsbox run/exec/stop/ls and nsbox oci
 * create/start/state/kill/delete/exec): a live container has a state dir
 * (runtime/state.h) whose init answers on a socket. */
#ifndef RT_RUNTIME_H
#define RT_RUNTIME_H

#include <stdbool.h>
#include "runtime/cgroup.h"
#include "runtime/spec.h"
#include "runtime/state.h"

struct rt_holder;

struct rt_create_opts
{
  /* An existing directory for state.json and init.sock; NULL: the
   * container cannot be joined (and has no state). */
  const char *state_dir;
  const char *id, *bundle; /* recorded in the state */
  /* Return once created (rt_container_create): init outlives nsbox. */
  bool detach;
  /* The process waits for rt_container_start (OCI create). */
  bool wait_start;
  /* Descriptors init makes its stdin, stdout, stderr; -1: inherited. */
  int stdio[3];
  /* Kept open by init for as long as it lives (the sandbox's run lock),
   * or -1. */
  int keep_fd;
  /* A lock the caller holds while it creates the container (so that a
   * concurrent creator waits and then joins): released once the state is
   * recorded; or -1. */
  int release_fd;
  const char *pid_file; /* init's pid is written there */
  /* With process.terminal, detached: the pty master goes to this unix
   * socket (runc's --console-socket). */
  const char *console_socket;
  /* Resource limits (NULL or none: no cgroup is made) for a cgroup
   * called cgroup_name (see runtime/cgroup.h). */
  const struct rt_cgroup_limits *limits;
  const char *cgroup_name;
  /* Limits that cannot be applied are a warning, not an error (the OCI
   * door: engines set limits by default, where no cgroup is delegated
   * too). */
  bool limits_optional;
  /* For the out-of-memory report: the container's name (else its id) and
   * how the memory limit was asked. */
  const char *name, *memory_shown;
  /* Called once the container's namespaces exist and its ids are mapped,
   * before it sets up (and before any hook): what the front door provides
   * from outside -- nsbox run's network (pasta, the egress proxy) -- is
   * made here, while init's namespaces are still open to its owner.  PID
   * is the init's; failing ends the container.  NULL: nothing. */
  int (*net_setup) (pid_t pid, void *arg, nb_error_t *err);
  void *net_arg;
  /* A user namespace to make the container's inside (see
   * runtime/holder.h), so that its maps need no set-uid helper; NULL, or
   * maps it does not hold: the container's is made here. */
  const struct rt_holder *holder;
};

/* Foreground: create the container, run its process with stdio passed
 * through (or a pty proxied when process.terminal is set) and wait for it.
 * *STATUS gets its exit status, Docker's way (128+N for signal N).  Returns
 * < 0 when the container could not be set up or its command could not be
 * started; ERR then carries the step that failed and the status to exit
 * with (125, 126 or 127). */
int rt_container_run (const struct rt_spec *spec,
                      const struct rt_create_opts *opts, int *status,
                      nb_error_t *err);
/* Detached: create it (and start it, unless OPTS->wait_start) and return;
 * its state is in OPTS->state_dir. */
int rt_container_create (const struct rt_spec *spec,
                         const struct rt_create_opts *opts, nb_error_t *err);
/* Start a created container's process; errors of its exec are reported. */
int rt_container_start (const char *state_dir, nb_error_t *err);
/* Send SIG to its init (which passes it to the process), or with ALL to
 * every process in it. */
int rt_container_kill (const char *state_dir, int sig, bool all,
                       nb_error_t *err);
/* SIGTERM, then SIGKILL after TIMEOUT seconds; waits until it is gone. */
int rt_container_stop (const char *state_dir, int timeout, nb_error_t *err);
/* Remove a stopped container's state; FORCE kills a live one first. */
int rt_container_delete (const char *state_dir, bool force, nb_error_t *err);

/* A detached container whose init is gone: its cgroup (when the kernel
 * has emptied it) and its state removed, as stop would have.  Nothing
 * when it still runs or has no state. */
void rt_container_reap (const char *state_dir);

struct rt_stats
{
  pid_t pid;           /* its init */
  char *cgroup;        /* its own cgroup, or NULL: usage from /proc */
  struct rt_cgroup_stats usage; /* without a cgroup: the processes of its
                                   pid namespace, memory as their RSS and
                                   no limits (-1) */
};
/* What the running container of STATE_DIR uses; ERR when it does not
 * run. */
int rt_container_stats (const char *state_dir, struct rt_stats *s,
                        nb_error_t *err);
void rt_stats_clear (struct rt_stats *s);

struct rt_exec_opts
{
  bool detach;          /* return once the process runs */
  const char *pid_file; /* its pid is written there */
  const char *console_socket; /* as for create */
};

/* Run SPEC's process (args, env, cwd, user, capabilities, seccomp,
 * terminal) in the running container of STATE_DIR: its namespaces joined,
 * its root.  Foreground unless OPTS->detach; *STATUS as for run. */
int rt_container_exec (const char *state_dir, const struct rt_spec *spec,
                       const struct rt_exec_opts *opts, int *status,
                       nb_error_t *err);

#endif
