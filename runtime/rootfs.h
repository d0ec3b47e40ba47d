/* The sandbox's filesystem view: private propagation, the root, the spec's
 * mounts, a minimal /dev, masked and read-only paths, pivot_root. */
#ifndef RT_ROOTFS_H
#define RT_ROOTFS_H

#include "runtime/spec.h"

/* Run in the child, inside the new user and mount namespaces, before
 * pivot_root; on return "/" is the sandbox's root and cwd is process.cwd.
 * BEFORE_PIVOT (or NULL) is called with ARG once everything is mounted,
 * just before pivot_root (the createContainer hooks' moment). */
int rt_rootfs_setup (const struct rt_spec *spec,
                     int (*before_pivot) (void *arg, nb_error_t *err),
                     void *arg, nb_error_t *err);

/* Is the spec's root an overlay that rt_rootfs_setup mounts itself? */
bool rt_rootfs_is_overlay (const struct rt_spec *spec);
/* That overlay's workdir: a new string; NULL when there is none (or it is
 * not an absolute path).  The kernel works in WORKDIR/work, which a mount
 * makes, the overlay's end leaves behind, and the next mount finds, empties
 * and makes anew -- half a millisecond of a start.  So whoever uses the
 * overlay holds a shared flock on WORKDIR (rt_rootfs_lock_work), and the
 * one that ends it removes WORKDIR/work under an exclusive one when it
 * gets that (container.c's release): never while a mount may use it. */
char *rt_rootfs_overlay_workdir (const struct rt_spec *spec);
/* The shared flock on the workdir, for as long as the returned descriptor
 * is open (init holds it for its life); -1 when there is none to take. */
int rt_rootfs_lock_work (const struct rt_spec *spec);
/* Instead of rt_rootfs_setup, for a spec that joins a mount namespace by
 * path: enter the namespace MNT_FD and take its root and mounts as they
 * are; on return cwd is process.cwd.  BEFORE_PIVOT as above. */
int rt_rootfs_join (const struct rt_spec *spec, int mnt_fd,
                    int (*before_pivot) (void *arg, nb_error_t *err),
                    void *arg, nb_error_t *err);

/* Make CWD (resolved as if "/" were the root, no /proc magic link
 * followed) the working directory, and check that it is under the root:
 * a descriptor nsbox's caller left open must not become a way out (the
 * CVE-2024-21626 class). */
int rt_chdir_in_root (const char *cwd, nb_error_t *err);

/* Open PATH (absolute, resolved as if ROOTFD were "/", so symlinks in a
 * hostile rootfs cannot lead outside it) as an O_PATH fd.  With CREATE set,
 * missing parents are made as directories and the last component as a
 * directory (CREATE == 'd') or an empty file (CREATE == 'f'). */
int rt_open_in_root (int rootfd, const char *path, int create,
                     nb_error_t *err);

#endif
