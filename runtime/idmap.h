/* Writing a child's uid/gid maps from the parent. */
#ifndef RT_IDMAP_H
#define RT_IDMAP_H

#include <stdbool.h>
#include <sys/types.h>
#include "runtime/spec.h"

/* MAPS maps just the one host id ID (a single range of size 1): what an
 * unprivileged process may write for itself, without a helper. */
bool rt_idmap_is_own (const struct rt_idmap *maps, size_t n, unsigned id);

/* A single range mapping only our own id is written directly (an unprivileged
 * process may do that, after "deny" in setgroups); anything else goes through
 * the setuid newuidmap/newgidmap helpers, which check /etc/subuid. */
int rt_idmap_write (pid_t pid, const struct rt_idmap *uid_maps, size_t n_uid,
                    const struct rt_idmap *gid_maps, size_t n_gid,
                    nb_error_t *err);

/* The same in two steps, so that the caller may do other work while the
 * helpers run: begin writes what it may itself and starts the helpers;
 * end waits for them (always call it after a begin that returned 0). */
struct rt_idmap_job
{
  pid_t helper[2];
  const char *name[2];
};
int rt_idmap_begin (pid_t pid, const struct rt_idmap *uid_maps, size_t n_uid,
                    const struct rt_idmap *gid_maps, size_t n_gid,
                    struct rt_idmap_job *job, nb_error_t *err);
int rt_idmap_end (struct rt_idmap_job *job, nb_error_t *err);

/* Both maps written by this process, which holds CAP_SETUID and CAP_SETGID
 * in PID's parent user namespace (a holder's, see runtime/holder.h), with
 * ids of that namespace; setgroups is left as it is. */
int rt_idmap_write_direct (pid_t pid, const struct rt_idmap *uid_maps,
                           size_t n_uid, const struct rt_idmap *gid_maps,
                           size_t n_gid, nb_error_t *err);

#endif
