/* A sandbox's identity and persistent state (DESIGN.md, "Storage"):
 * $XDG_DATA_HOME/nsbox/sandboxes/<id>/{sandbox.json,home/} and the live
 * state in $XDG_RUNTIME_DIR/nsbox/<id>/. */
#ifndef SB_SANDBOX_H
#define SB_SANDBOX_H

#include <jansson.h>
#include "runtime/base/error.h"

struct sb_sandbox
{
  char id[13];
  char *name;
  char *workspace; /* real path */
  char *agent;
  char *template_name;
  char *dir;       /* sandboxes/<id> */
  char *home;      /* sandboxes/<id>/home */
  char *run_dir;   /* runtime dir for this sandbox: the bundle */
  int created;     /* made by this call */
};

/* The id: 12 hex digits of sha256 over the workspace's real path and the
 * agent, or over the name when the user picked one with --name. */
void sb_sandbox_id (const char *workspace, const char *agent, const char *name,
                    char id[13]);
/* The default name: "<workspace basename>-<agent>", made hostname-safe. */
char *sb_sandbox_default_name (const char *workspace, const char *agent);
/* Find or create the sandbox for WORKSPACE (a real path) and AGENT. */
int sb_sandbox_open (const char *workspace, const char *agent,
                     const char *name, const char *template_name,
                     struct sb_sandbox **out, nb_error_t *err);
void sb_sandbox_free (struct sb_sandbox *sb);

#endif
