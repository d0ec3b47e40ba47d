/* The user's git identity for the sandbox ("Commits carry the user's
 * name"): read with libgit2 through nsbox-git.so only when the git config
 * files changed since the sandbox recorded it. */
#ifndef SB_GITID_H
#define SB_GITID_H

#include <stddef.h>
#include "cli/sandbox.h"

/* Add GIT_CONFIG_COUNT/KEY_n/VALUE_n for user.name and user.email (what is
 * set on the host; nothing when neither is) to ENV.  Never fails the run:
 * a git config that cannot be read is a warning. */
int sb_git_env (struct sb_sandbox *sb, char ***env, size_t *n);

#endif
