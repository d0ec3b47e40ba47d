/* Agent profiles: profiles/agents/NAME.json (see nsbox-profiles(5)). */
#ifndef SB_PROFILE_H
#define SB_PROFILE_H

#include <jansson.h>
#include <stdbool.h>
#include "runtime/base/error.h"
#include "runtime/cgroup.h"

struct sb_profile
{
  json_t *json;
  const char *name;
  const char *description;
  const char **command; /* NULL-terminated, borrowed from json; empty when
                           the profile has none (the image's own) */
  const char *template_name;
  json_t *env;          /* object of strings, may be NULL */
  json_t *state;        /* array of "~/..." paths kept in the agent's
                           credential volume, may be NULL */
  json_t *pass_env;     /* array of host variable names, may be NULL */
  bool allow_nested;    /* "allow_nested": sandboxes inside (--allow-nested) */
  const char *network;  /* "network" (.mode): its default mode, or NULL */
  json_t *net_allow, *net_deny; /* "network": its egress rules, or NULL */
  /* "memory", "memory_swap", "cpus", "pids_limit": the limits a run
     asks for unless its flags say otherwise (fields not set: -1). */
  struct rt_cgroup_limits limits;
  const char *memory_shown; /* "memory" as written, for the OOM report */
  const char *user;     /* "user": who the agent runs as on an image
                           template (NAME|UID[:GROUP|GID]); NULL: the
                           image's User */
  char *origin;         /* where it was read from */
};

/* Load NAME: $XDG_CONFIG_HOME/nsbox/agents/NAME.json (or ~/.config/...) if
 * present, else the profile built into nsbox. */
int sb_profile_load (const char *name, struct sb_profile **out,
                     nb_error_t *err);
/* Parse and validate a profile document; ORIGIN names it in errors. */
int sb_profile_parse (const char *text, const char *origin,
                      struct sb_profile **out, nb_error_t *err);
void sb_profile_free (struct sb_profile *p);
/* Every profile there is: the built-in ones, then the user's (which
 * override the built-in ones of the same name).  FN gets each, parsed (or,
 * for a malformed one, NULL and the error). */
int sb_profile_each (void (*fn) (const char *name, struct sb_profile *p,
                                 nb_error_t err, void *arg),
                     void *arg);
/* Is NAME an environment variable's name (letters, digits, _, not starting
 * with a digit)? */
bool sb_valid_env_name (const char *name);
/* Is NAME acceptable as a profile or sandbox name? */
int sb_valid_name (const char *name);

#endif
