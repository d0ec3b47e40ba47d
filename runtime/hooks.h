/* OCI hooks (config.json "hooks"): programs run at points of the lifecycle
 * with the container's state on their stdin, in the order and with the
 * failure rules of the runtime-spec (config.md, "POSIX-platform Hooks"). */
#ifndef RT_HOOKS_H
#define RT_HOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "runtime/base/error.h"

/* Check HOOKS (config.json's "hooks", or NULL): known kinds, each hook an
 * object with an absolute path, string arrays args and env, a positive
 * timeout. */
int rt_hooks_check (json_t *hooks, nb_error_t *err);
/* Does HOOKS have any of KIND? */
bool rt_hooks_any (json_t *hooks, const char *kind);
/* The state a hook reads: the runtime-spec state object, as text. */
char *rt_hooks_state (json_t *config, const char *id, const char *status,
                      pid_t pid, const char *bundle);
/* Run the hooks of KIND in order, STATE on each one's stdin; a hook that
 * exits non-zero or outlives its timeout (it is killed then) is the error,
 * and the rest are not run. */
int rt_hooks_run (json_t *hooks, const char *kind, const char *state,
                  nb_error_t *err);
/* The same for the kinds whose failure is only a warning (poststart,
 * poststop): said on stderr, all of them run. */
void rt_hooks_run_warn (json_t *hooks, const char *kind, const char *state);

#endif
