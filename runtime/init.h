/* PID 1 of the sandbox: set the sandbox up, start the agent, then stay as
 * init — reap zombies, forward signals, exit with the agent's status. */
#ifndef RT_INIT_H
#define RT_INIT_H

#include <signal.h>
#include "runtime/seccomp.h"
#include "runtime/spec.h"

/* Never returns.  SOCK is the child's end of the sync pair; AGENT_MASK is the
 * signal mask the agent starts with; SECCOMP the filter the agent gets
 * last before exec. */
__attribute__ ((noreturn)) void rt_init_main (const struct rt_spec *spec,
                                               int sock,
                                               const sigset_t *agent_mask,
                                               const struct rt_seccomp *seccomp);

#endif
