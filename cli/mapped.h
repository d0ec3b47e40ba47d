/* Running code with the id mapping nsbox stores image files with (podman's
 * storage mapping): shared by the image verbs (extracting and pruning
 * layers) and the sandbox verbs (removing a sandbox's upper dir), in both
 * nsbox and nsbox-oci.so. */
#ifndef SB_MAPPED_H
#define SB_MAPPED_H

#include <stdbool.h>
#include "runtime/base/error.h"

/* Run FN(ARG) with the id mapping image files are stored with: in a child
 * inside a user namespace mapped to the user's subordinate ids when the host
 * has them (needed to create -- and to remove -- files of other owners), else
 * in this process.  *MAPPING (may be NULL) gets a description of it and
 * *KEEP_OWNERS whether files can keep their owners; both are set before FN
 * runs. */
int sb_call_mapped (int (*fn) (void *, nb_error_t *), void *arg,
                    char **mapping, bool *keep_owners, nb_error_t *err);

#endif
