/* Resource limits as nsbox says them -- the flags of nsbox-run(1) and
 * nsbox-update(1) (--memory, --memory-swap, --cpus, --pids-limit), the keys
 * of an agent profile (nsbox-profiles(5)) -- and as a sandbox's record
 * keeps them, turned into the cgroup v2 values runtime/cgroup.h writes. */
#ifndef SB_LIMITS_H
#define SB_LIMITS_H

#include <jansson.h>
#include "runtime/base/error.h"
#include "runtime/cgroup.h"

/* As nsbox run starts: nothing asked (memory_swap -1: docker's default). */
#define SB_LIMITS_UNSET { -1, -1, -1, -1, 100000 }

/* One flag's value (FLAG is "--memory", "--memory-swap", "--cpus" or
 * "--pids-limit") into L; ERR names the flag and what it expects.
 * --memory-swap is docker's: memory and swap together, until
 * sb_limits_finish. */
int sb_limits_flag (const char *flag, const char *value,
                    struct rt_cgroup_limits *l, nb_error_t *err);
/* The keys "memory", "memory_swap" (strings as the flags take them),
 * "cpus" (a number) and "pids_limit" (an integer) of PROFILE; ERR names
 * ORIGIN and the key.  *MEMORY_SHOWN borrows the memory string. */
int sb_limits_from_profile (json_t *profile, const char *origin,
                            struct rt_cgroup_limits *l,
                            const char **memory_shown, nb_error_t *err);
/* The fields of L that were not asked take DEFAULTS'. */
void sb_limits_fill (struct rt_cgroup_limits *l,
                     const struct rt_cgroup_limits *defaults);
/* Docker's memory+swap to cgroup v2's swap alone (memory.swap.max), once L
 * is complete; ERR when the total is less than the memory. */
int sb_limits_finish (struct rt_cgroup_limits *l, nb_error_t *err);
/* The record's form ({"memory", "memory_swap", "pids", "cpu_quota"}), and
 * back (missing keys: not asked). */
json_t *sb_limits_json (const struct rt_cgroup_limits *l);
void sb_limits_from_json (json_t *j, struct rt_cgroup_limits *l);

#endif
