/* The executor: run an OCI runtime spec as an isolated process tree. */
#ifndef RT_RUNTIME_H
#define RT_RUNTIME_H

#include "runtime/spec.h"

/* Create the sandbox described by SPEC, run its process in the foreground
 * (stdio passed through, or a pty proxied when process.terminal is set) and
 * wait for it.  *STATUS gets its exit status, Docker's way (128+N for signal
 * N).  Returns < 0 when the sandbox could not be set up or the command could
 * not be started; ERR then carries the step that failed and the status to
 * exit with (125, 126 or 127). */
int rt_container_run (const struct rt_spec *spec, int *status,
                      nb_error_t *err);

#endif
