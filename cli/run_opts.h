/* nsbox run's command line: what the user asked for, checked (cli/cmd_run.c
 * acts on it). */
#ifndef SB_RUN_OPTS_H
#define SB_RUN_OPTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/base/error.h"
#include "runtime/cgroup.h"

struct run_opts
{
  const char *workspace;
  const char *template_name;
  const char *name;
  const char *agent;
  const char *seccomp; /* --security-opt seccomp=...: a file, "unconfined" */
  const char *credentials; /* --credentials sandbox|host|none */
  bool allow_nested;       /* --allow-nested */
  char **env;              /* -e KEY=VALUE, -e KEY, --env-file: KEY=VALUE */
  size_t n_env;
  const char *pull;    /* --pull always|missing|never */
  bool detach;         /* -d */
  bool recreate;       /* --recreate */
  bool docker_socket;  /* --mount-docker-socket */
  unsigned preserve_fds; /* --preserve-fds N */
  char **cap_add, **cap_drop; /* --cap-add, --cap-drop: CAP_X names */
  struct rt_cgroup_limits limits; /* --memory, --memory-swap, --cpus,
                                     --pids-limit */
  const char *memory_shown;
  size_t n_cap_add, n_cap_drop;
  char **binds;        /* -v: source, destination, ro|rw triples */
  int *bind_fds;       /* each source, pinned (see pin_path) */
  size_t n_binds;
  const char *network;  /* --network none|open|filtered|host */
  char **publish;       /* -p, as pasta takes it: ADDR/HOST_PORT:PORT */
  size_t n_publish;
  char *host_ports;     /* --allow-host-port: "P1,P2", as pasta's -T takes */
  char **egress_allow, **egress_deny; /* --egress-allow, --egress-deny */
  size_t n_egress_allow, n_egress_deny;
  char **workspaces;   /* extra workspaces, PATH[:ro] (in argv) */
  size_t n_workspaces;
  char **args;
  int n_args;
};

/* Parse nsbox run's options into O (which starts as { .limits =
 * RT_CGROUP_NO_LIMITS }); -h prints the usage and exits. */
int sb_run_parse_args (int argc, char **argv, struct run_opts *o,
                       nb_error_t *err);
void sb_run_opts_clear (struct run_opts *o);
/* Open PATH once, O_PATH (a directory with DIR), and say what it is from
 * the fd (see cli/run_opts.c). */
int sb_pin_path (const char *path, bool dir, int *fd, char real[PATH_MAX]);
/* --preserve-fds N: the caller's descriptors 3 .. 3 + N - 1, each of which
 * must be open. */
int sb_parse_preserve_fds (const char *arg, unsigned *out, nb_error_t *err);

#endif
