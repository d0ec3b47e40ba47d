/* The policy in force for a proxy: its fixed rules (flags, profile) and
 * the rules of its policy files, which are re-read when they change so that
 * `nsbox policy` applies to a running sandbox. */
#ifndef NB_PROXY_WATCH_H
#define NB_PROXY_WATCH_H

#include <stddef.h>
#include <sys/stat.h>

#include "proxy/log.h"
#include "proxy/policy.h"
#include "runtime/base/error.h"

struct nb_policy_file
{
  const char *path;
  int seen; /* stat succeeded last time */
  struct stat st;
  struct nb_policy pol; /* the last rules read that parsed */
};

struct nb_policy_watch
{
  struct nb_policy fixed, merged; /* MERGED: fixed + every file's */
  struct nb_policy_file *files;
  size_t n_files;
};

/* ALLOW, DENY and FILES are NULL-terminated (or NULL); an invalid fixed
 * rule is an error naming it.  The files are read at once (missing: no
 * rules; malformed: no rules and an "error" line in LOG). */
int nb_policy_watch_init (struct nb_policy_watch *w, const char *const *allow,
                          const char *const *deny, const char *const *files,
                          struct nb_proxy_log *log, nb_error_t *err);
/* Re-read the files that changed (inode, size, mtime) and rebuild MERGED.
 * A file that does not parse keeps its previous rules and logs an "error"
 * line: a bad edit must neither crash the proxy nor open it. */
void nb_policy_watch_refresh (struct nb_policy_watch *w,
                              struct nb_proxy_log *log);
void nb_policy_watch_free (struct nb_policy_watch *w);

#endif
