/* Joining a running sandbox: `nsbox exec`, and a second `nsbox run` of a
 * sandbox that runs already (DESIGN.md: one init, one set of namespaces). */
#ifndef SB_JOIN_H
#define SB_JOIN_H

#include <stdbool.h>
#include "runtime/base/error.h"

struct sb_join
{
  char *const *argv;   /* the command; NULL: the sandbox's own */
  char *const *env;    /* KEY=VALUE, over the sandbox's environment */
  const char *cwd;     /* NULL: the sandbox's working directory */
  const char *user;    /* "root", "UID" or "UID:GID"; NULL: the agent's */
  bool terminal;
  bool detach;
  unsigned preserve_fds; /* see --preserve-fds */
};

/* Is the sandbox whose live state is RUN_DIR running? */
bool sb_join_running (const char *run_dir);
/* Run J's command in the sandbox NAME running from RUN_DIR. */
int sb_join_exec (const char *run_dir, const char *name,
                  const struct sb_join *j, int *status, nb_error_t *err);

#endif
