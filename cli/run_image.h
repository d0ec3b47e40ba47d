/* nsbox run on an image template (cli/cmd_run.c's other half). */
#ifndef SB_RUN_IMAGE_H
#define SB_RUN_IMAGE_H

#include <jansson.h>
#include <stddef.h>
#include "cli/profile.h"
#include "cli/sandbox.h"
#include "cli/state.h"
#include "runtime/base/error.h"

struct sb_image_run
{
  const char *template_name; /* as the user gave it */
  const char *pull;          /* always, missing (default), never */
  const char *const *argv;   /* the agent's command and arguments */
  const char *rootfs;        /* an empty dir to mount the overlay on */
  int terminal;
  json_t *seccomp;
  const char *credentials;   /* sandbox, host, none (see cli/state.h) */
  char *const *user_env;     /* -e, --env-file: KEY=VALUE, applied last */
  const char *const *user_binds; /* -v (see struct sb_plan) */
  struct sb_state_pins *state_pins; /* out: see cli/state.h */
};

/* Plan SB on the image: from the sandbox's record when it has resolved the
 * image before and its layers are there (no image library loaded), else
 * through nsbox-images.so (pulling the image first when needed), recording
 * the answer.  *SPEC gets the OCI runtime spec. */
int sb_image_plan (struct sb_sandbox *sb, const struct sb_profile *prof,
                   const struct sb_image_run *run, json_t **spec,
                   nb_error_t *err);

/* The command of an image template whose agent profile names none: the
 * image's Entrypoint, then ARGS (the user's, after --) or else its Cmd, as
 * docker run has it.  IMAGE is the sandbox's image record.  *OUT is
 * NULL-terminated, its strings borrowed from IMAGE and ARGS. */
int sb_image_argv (json_t *image, const char *const *args, const char ***out,
                   nb_error_t *err);

/* Add KEY=VALUE to a NULL-terminated environment (nothing when VALUE is
 * NULL); -1 when out of memory.  In cli/cmd_run.c. */
int sb_env_push (char ***env, size_t *n, const char *key, const char *value);
/* Each KEY=VALUE of KVS (NULL-terminated, may be NULL), replacing. */
int sb_env_push_all (char ***env, size_t *n, char *const *kvs);
/* What every sandbox's environment gets of nsbox's: TERM, the host's locale
 * variables, container=nsbox, NSBOX_SANDBOX=SANDBOX.  In cli/cmd_run.c. */
int sb_env_base (char ***env, size_t *n, const char *sandbox, int terminal);

#endif
