/* Planning a sandbox: what `nsbox run` decides, written as a standard OCI
 * runtime spec that runtime/ then executes (DESIGN.md, "The seam"). */
#ifndef SB_PLAN_H
#define SB_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "runtime/base/error.h"
#include "runtime/spec.h"

struct sb_plan
{
  const char *rootfs;       /* root.path */
  const char *workspace;    /* host path, bound at the same path */
  const char *home_source;  /* the sandbox's persistent home on the host */
  const char *home;         /* where it appears inside; HOME */
  const char *hostname;
  const char *const *argv;  /* the agent's command and its arguments */
  const char *const *env;   /* KEY=VALUE */
  uid_t uid, host_uid;      /* the agent's uid inside; the user's on the host */
  gid_t gid, host_gid;
  bool terminal;
  json_t *seccomp;          /* linux.seccomp (a reference is taken); NULL:
                               none */
  /* Image templates only: */
  const char *const *layers; /* the image's layer dirs, lowest first */
  const char *upper, *work;  /* the sandbox's overlay upper and work dirs */
  const struct rt_idmap *uid_maps, *gid_maps; /* the layers' mapping */
  size_t n_uid_maps, n_gid_maps;
  bool no_new_privs;
  /* The agent's state: source, destination pairs, NULL-terminated. */
  const char *const *state_binds;
  /* -v: source, destination, "ro" or "rw" triples, NULL-terminated. */
  const char *const *user_binds;
};

/* The host template: the host's system folders read-only, nothing of its
 * homes, /root, /run, /tmp, /mnt, /media, /srv; private /tmp; the sandbox's
 * home; the workspace at its own path. */
int sb_plan_host_spec (const struct sb_plan *plan, json_t **out,
                       nb_error_t *err);
/* An image template: the image's layers under the sandbox's own upper dir
 * as the root (an overlay mount of "/"), a fresh /proc, /dev, /sys, the
 * workspace at its own path; the agent runs as UID:GID with the layers' id
 * mapping; as root with Docker's default capabilities (inside the
 * sandbox's user namespace only), as another user with none but that
 * bounding set. */
int sb_plan_image_spec (const struct sb_plan *plan, json_t **out,
                        nb_error_t *err);
/* Make the host template's root directory: an empty dir, plus the host's
 * top-level symlinks (/bin -> usr/bin on merged-/usr systems) so that paths
 * resolve as they do on the host. */
int sb_plan_host_rootfs (const char *rootfs, nb_error_t *err);

#endif
