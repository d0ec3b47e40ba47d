/* cgroup v2 for a container's limits (DESIGN.md, "cgroups v2"): where this
 * process may make cgroups -- a subtree it can write, as systemd delegates
 * one -- and the container's own cgroup there, made before its init is
 * cloned into it (CLONE_INTO_CGROUP: nothing runs unlimited even for a
 * moment) and removed when it ends. */
#ifndef RT_CGROUP_H
#define RT_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/base/error.h"

struct rt_cgroup_limits
{
  int64_t memory;      /* memory.max in bytes, or -1 */
  int64_t memory_swap; /* memory.swap.max in bytes; -1: as much as memory
                          (docker's default); RT_CGROUP_UNTOUCHED: left */
  int64_t pids;        /* pids.max, or -1 */
  int64_t cpu_quota;   /* cpu.max: quota per period in us, or -1 */
  int64_t cpu_period;
};

#define RT_CGROUP_NO_LIMITS { -1, -1, -1, -1, 100000 }
#define RT_CGROUP_UNTOUCHED (-2)

bool rt_cgroup_any (const struct rt_cgroup_limits *l);

struct rt_cgroup
{
  char *path;  /* the container's cgroup directory */
  int fd;      /* open on it, for clone3's CLONE_INTO_CGROUP */
};

/* Make a cgroup called NAME for LIMITS where this process may: under the
 * parent of its own cgroup (its own holds processes, which cgroup v2 lets
 * have no controlled children), the controllers LIMITS need enabled there;
 * where that parent is not writable, in a transient scope with
 * Delegate=yes that the systemd user manager makes for this process
 * (nsbox-systemd.so).  When neither can be had, ERR says why and how
 * delegation is given. */
int rt_cgroup_create (const char *name, const struct rt_cgroup_limits *limits,
                      struct rt_cgroup *cg, nb_error_t *err);
/* Was a process of CG killed for memory (memory.events)? */
bool rt_cgroup_oom_killed (const struct rt_cgroup *cg);
/* Remove CG (its processes are gone) and close its fd. */
void rt_cgroup_remove (struct rt_cgroup *cg);
/* Change the limits of the cgroup at PATH to L (fields < 0: left as they
 * are), enabling in its parent the controllers they need. */
int rt_cgroup_update (const char *path, const struct rt_cgroup_limits *l,
                      nb_error_t *err);

/* What a cgroup uses: -1 where the file is missing (its controller is not
 * enabled), RT_CGROUP_STAT_MAX for "max" (no limit). */
#define RT_CGROUP_STAT_MAX (-2)
struct rt_cgroup_stats
{
  int64_t memory, memory_max; /* memory.current, memory.max: bytes */
  int64_t cpu_usec;           /* cpu.stat usage_usec */
  int64_t pids, pids_max;     /* pids.current, pids.max */
};
int rt_cgroup_stats (const char *path, struct rt_cgroup_stats *s,
                     nb_error_t *err);

/* What this host offers, for doctor: the delegated cgroup's parent and its
 * controllers, or NULL with *WHY. */
char *rt_cgroup_where (char **controllers, char **why);
/* Does a systemd user manager answer, to be asked for a delegated scope
 * where no subtree is writable (loads nsbox-systemd.so)?  0 and *VERSION,
 * or -1 and *WHY. */
int rt_cgroup_systemd_probe (char **version, char **why);

#endif
