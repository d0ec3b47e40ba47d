/* The agent process: identity, capabilities, limits, exec. */
#ifndef RT_PROCESS_H
#define RT_PROCESS_H

#include "runtime/spec.h"

/* Drop to process.user with the spec's capabilities, rlimits and
 * no_new_privs.  Runs in the agent (child of init), after pivot_root. */
int rt_process_prepare (const struct rt_spec *spec, nb_error_t *err);
/* Drop every capability and set no_new_privs: what init keeps while it
 * waits inside the sandbox. */
int rt_process_drop_all (nb_error_t *err);
/* Execute process.args with process.env, searching PATH from that env.
 * Returns only on failure: status 127 (not found) or 126 (cannot run). */
int rt_process_exec (const struct rt_spec *spec, nb_error_t *err);
/* Docker's convention for a wait status: the code, or 128 + signal. */
int rt_exit_status (int wstatus);

#endif
