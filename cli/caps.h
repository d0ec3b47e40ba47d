/* nsbox run --cap-add/--cap-drop: Docker's rules over the planned spec. */
#ifndef SB_CAPS_H
#define SB_CAPS_H

#include <jansson.h>
#include "runtime/base/error.h"

/* NAME ("chown", "CAP_CHOWN", "ALL") as "CAP_CHOWN"; NULL with ERR when it
 * is not a capability.  To free. */
char *sb_cap_name (const char *name, nb_error_t *err);
/* Drop the capabilities of DROP from every set of SPEC's process, then add
 * those of ADD to its bounding set and -- for a root process -- to its
 * effective and permitted sets ("CAP_ALL": all of them).  NULL-terminated
 * lists of sb_cap_name results; either may be NULL. */
int sb_caps_adjust (json_t *spec, char *const *add, char *const *drop,
                    nb_error_t *err);

#endif
