/* An agent's credentials and state (its profile's "state" paths): kept in
 * a volume of the agent's, shared by all its sandboxes, never in a
 * workspace, surviving nsbox rm. */
#ifndef SB_STATE_H
#define SB_STATE_H

#include "cli/profile.h"
#include "runtime/base/error.h"

/* The bind mounts for PROF's state under HOME (the agent's home inside), as
 * a NULL-terminated list of source, destination pairs: from
 * $XDG_DATA_HOME/nsbox/volumes/AGENT-data ("sandbox", the default), from
 * the user's own home ("host"), or none ("none").  *OUT is NULL when there
 * is nothing to mount. */
int sb_state_binds (const struct sb_profile *prof, const char *agent,
                    const char *mode, const char *home, char ***out,
                    nb_error_t *err);

/* Add the profile's environment to ENV: pass_env from the host (when set
 * there), then env, a leading "~/" in a value standing for HOME. */
int sb_state_env (const struct sb_profile *prof, const char *home,
                  char ***env, size_t *n);

#endif
