/* A user namespace kept alive by one sleeping process of the user (podman's
 * pause process), mapped once with newuidmap/newgidmap.  A sandbox's own user
 * namespace is then made inside it, and its maps -- ids of the holder's
 * namespace -- are written directly: no set-uid helper runs on a warm start,
 * and each sandbox still has a user namespace of its own. */
#ifndef RT_HOLDER_H
#define RT_HOLDER_H

#include "runtime/spec.h"
#include <stdbool.h>
#include <sys/types.h>

struct rt_holder
{
  int nsfd; /* its user namespace */
  /* Its maps: its own ids onto the host's. */
  struct rt_idmap uid_maps[RT_MAX_IDMAPS], gid_maps[RT_MAX_IDMAPS];
  size_t n_uid, n_gid;
};

/* The holder recorded in PIDFILE when its namespace is still mapped with
 * these maps; else a new one, recorded there (an older one, mapped
 * otherwise, is ended).  H->nsfd is for the caller to close. */
int rt_holder_get (const char *pidfile, const struct rt_idmap *uids,
                   size_t n_uid, const struct rt_idmap *gids, size_t n_gid,
                   struct rt_holder *h, nb_error_t *err);

/* The pid of the holder recorded in PIDFILE while it runs, else 0. */
pid_t rt_holder_running (const char *pidfile);

/* End the holder recorded in PIDFILE, if it still runs (system reset). */
void rt_holder_stop (const char *pidfile);

/* MAPS (onto host ids) as maps onto the ids of the holder's namespace, in
 * OUT: false when a range is not wholly mapped there. */
bool rt_holder_translate (const struct rt_idmap *holder, size_t n_holder,
                          const struct rt_idmap *maps, size_t n,
                          struct rt_idmap *out);

/* Clone the container's init with FLAGS inside H's namespace, through a
 * helper that shares our memory and joins it (CLONE_PARENT: init is our
 * child all the same), and write init's maps UIDS/GIDS (already
 * translated).  Init runs FN(ARG), whose return is its exit status.
 * Returns init's pid (with *PIDFD), or -1 with nothing left running. */
pid_t rt_holder_clone (const struct rt_holder *h, int flags, int cgroup_fd,
                       const struct rt_idmap *uids, size_t n_uid,
                       const struct rt_idmap *gids, size_t n_gid,
                       int (*fn) (void *), void *arg, int *pidfd,
                       nb_error_t *err);

#endif
