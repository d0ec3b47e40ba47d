/* The workspace of nsbox run and its extra workspaces (`nsbox run AGENT
 * PATH[:ro]...`): each a host directory, opened once and checked through
 * that fd, bound at its own path inside. */
#ifndef SB_WORKSPACE_H
#define SB_WORKSPACE_H

#include <jansson.h>
#include <stddef.h>

#include "runtime/base/error.h"

/* GIVEN (NULL: the current directory) as a real path in *OUT, pinned in
 * *FD (O_PATH), refused when it is not a readable directory or would
 * expose HOME (and so ~/.ssh) or the whole host. */
int sb_workspace_resolve (const char *given, const char *home, char **out,
                          int *fd, nb_error_t *err);

struct sb_workspaces
{
  char **binds; /* path, path, "ro"|"rw" triples in path order, NULL-ended */
  int *fds;     /* each path, pinned */
  size_t n;
};

/* The extra workspaces ARGS (PATH or PATH:ro), each checked as the main
 * WORKSPACE is and none holding it (nor given twice).  Sorted by path, so
 * that a folder is mounted before one inside it. */
int sb_workspaces_extra (char *const *args, size_t n_args, const char *home,
                         const char *workspace, struct sb_workspaces *out,
                         nb_error_t *err);
/* As a start option (cli/drift.c): ["PATH:ro", "PATH:rw", ...]. */
json_t *sb_workspaces_json (const struct sb_workspaces *w);
void sb_workspaces_clear (struct sb_workspaces *w);

#endif
