/* An agent's credentials and state (its profile's "state" paths): kept in
 * a volume of the agent's, shared by all its sandboxes, never in a
 * workspace, surviving nsbox rm. */
#ifndef SB_STATE_H
#define SB_STATE_H

#include "cli/profile.h"
#include "runtime/base/error.h"

/* The state binds' sources, opened once (O_PATH) when they were made:
 * the runtime mounts them only if the path still leads to the same
 * directory (as for the workspace and -v sources). */
struct sb_state_pins
{
  char **sources; /* the real paths, as in the spec's mounts */
  int *fds;
  size_t n;
};
void sb_state_pins_clear (struct sb_state_pins *pins);

/* The bind mounts for PROF's state under HOME (the agent's home inside), as
 * a NULL-terminated list of source, destination pairs: from
 * $XDG_DATA_HOME/nsbox/volumes/AGENT-data ("sandbox", the default), from
 * the user's own home ("host"), or none ("none").  *OUT is NULL when there
 * is nothing to mount.  Each source is made and pinned into *PINS (which
 * the caller clears); in a volume no symlink is followed on the way. */
int sb_state_binds (const struct sb_profile *prof, const char *agent,
                    const char *mode, const char *home, char ***out,
                    struct sb_state_pins *pins, nb_error_t *err);

/* Add the profile's environment to ENV: pass_env from the host (when set
 * there), then env, a leading "~/" in a value standing for HOME. */
int sb_state_env (const struct sb_profile *prof, const char *home,
                  char ***env, size_t *n);

#endif
