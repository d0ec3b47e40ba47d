/* What a sandbox was started with, and what a later run asks for: a run that
 * joins a running sandbox cannot change how it was set up, so it says what
 * differs instead of silently ignoring it (the seed's "you must recreate"
 * trap), and --recreate restarts it with the new options. */
#ifndef SB_DRIFT_H
#define SB_DRIFT_H

#include <jansson.h>
#include <stdbool.h>

/* The options of a start that shape the sandbox (not the command or its
 * environment, which a joined process takes anew). */
json_t *sb_run_options (const char *credentials, const char *const *binds,
                        bool nested, const char *seccomp, char *const *env,
                        char *const *cap_add, char *const *cap_drop);
/* NULL when NOW asks for what RECORDED has (keys of RECORDED missing from
 * NOW and env names aside); else a description, "-v ...: now X, running
 * with Y; ...", to free. */
char *sb_options_drift (json_t *recorded, json_t *now);

#endif
