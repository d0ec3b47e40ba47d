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
  char *upper;     /* sandboxes/<id>/upper: an image template's changes */
  char *work;      /* sandboxes/<id>/work: overlayfs's work dir */
  int created;     /* made by this call */
  json_t *record;  /* sandbox.json as read or written */
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
/* What an image template resolved to when the sandbox was created (see
 * img_template), or NULL: borrowed from the record. */
json_t *sb_sandbox_image (const struct sb_sandbox *sb);
/* Record IMAGE in sandbox.json, so that later runs need not resolve it. */
int sb_sandbox_save_image (struct sb_sandbox *sb, json_t *image,
                           nb_error_t *err);

/* Write the record (sb->record) back to sandbox.json, atomically. */
int sb_sandbox_save (struct sb_sandbox *sb, nb_error_t *err);
/* Hold the sandbox's run lock (shared) for as long as FD is open: what
 * `ls` shows as running and `rm` refuses to remove. */
int sb_sandbox_lock_run (const struct sb_sandbox *sb, int *fd,
                         nb_error_t *err);
/* Is someone running the sandbox in DIR (sandboxes/<id>)? */
int sb_sandbox_running (const char *dir);
/* FN (DIR, RECORD, ARG) for every sandbox of the user, by id; stops at the
 * first FN that returns non-zero, and returns that. */
int sb_sandbox_each (int (*fn) (const char *dir, json_t *record, void *arg),
                     void *arg, nb_error_t *err);

/* A sandbox found by name or id (`nsbox rm/exec/stop NAME|ID`). */
struct sb_found
{
  char *dir;     /* sandboxes/<id> */
  char *name, *id;
  char *run_dir; /* its live state: $XDG_RUNTIME_DIR/nsbox/<id> */
  json_t *record; /* sandbox.json, or NULL when unreadable */
};
/* ERR says "no such sandbox" when there is none (the caller names it). */
int sb_sandbox_find (const char *what, struct sb_found *f, nb_error_t *err);
void sb_found_clear (struct sb_found *f);
/* Write F's record back to its sandbox.json, atomically. */
int sb_found_save (const struct sb_found *f, nb_error_t *err);

#endif
