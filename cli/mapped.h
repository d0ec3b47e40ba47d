/* Running code with the id mapping nsbox stores image files with (podman's
 * storage mapping): shared by the image verbs (extracting and pruning
 * layers) and the sandbox verbs (removing a sandbox's upper dir), in both
 * nsbox and nsbox-images.so. */
#ifndef SB_MAPPED_H
#define SB_MAPPED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/error.h"

/* Run FN(ARG) with the id mapping image files are stored with: in a child
 * inside a user namespace mapped to the user's subordinate ids when the host
 * has them (needed to create -- and to remove -- files of other owners), else
 * in this process.  *MAPPING (may be NULL) gets a description of it and
 * *KEEP_OWNERS whether files can keep their owners; both are set before FN
 * runs. */
int sb_call_mapped (int (*fn) (void *, nb_error_t *), void *arg,
                    char **mapping, bool *keep_owners, nb_error_t *err);

/* The same with the keep-id mapping: the user at KEEP_UID:KEEP_GID inside,
 * the subordinate ids around (with subordinate ids; else as above). */
int sb_call_mapped_keep (int (*fn) (void *, nb_error_t *), void *arg,
                         uint32_t keep_uid, uint32_t keep_gid, char **mapping,
                         bool *keep_owners, nb_error_t *err);
/* Does this user have subordinate ids nsbox can map (and newuidmap)?
 * *COUNT (may be NULL) gets how many, of uids and gids both. */
int sb_subids_available (unsigned long *count);

/* Run ARGV in that user namespace, as its root (podman unshare): *STATUS
 * gets its exit status (128+N for signal N).  Without subordinate ids
 * there is nothing to map: ARGV is exec'd in this process.  -1 when it
 * cannot be started. */
int sb_exec_mapped (char **argv, int *status, nb_error_t *err);

/* The storage mapping itself, for an id-mapping holder (runtime/holder.h):
 * how many ranges UIDS and GIDS (RT_MAX_IDMAPS each) got, the same for
 * both; 0 without subordinate ids. */
struct rt_idmap;
#define SB_HOLDER_FILE "userns.pid" /* in the runtime dir */
size_t sb_storage_maps (struct rt_idmap *uids, struct rt_idmap *gids);

#endif
