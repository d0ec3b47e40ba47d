/* The OCI runtime spec (config.json), parsed into what the executor needs.
 * Strings point into the owned JSON document. */
#ifndef RT_SPEC_H
#define RT_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/base/error.h"
#include "runtime/cgroup.h"

struct rt_mount
{
  const char *destination;
  const char *type;   /* NULL for a bind mount */
  const char *source;
  unsigned long flags;    /* MS_* for mount(2) */
  uint64_t attr_set;      /* MOUNT_ATTR_* applied after a bind */
  uint64_t propagation;   /* MS_PRIVATE, MS_SLAVE, ... or 0 */
  bool bind, recursive;
  char *data;             /* filesystem-specific options, comma-joined */
};

struct rt_idmap
{
  uint32_t container_id, host_id, size;
};

struct rt_bind_fd
{
  const char *source;
  int fd;
};

struct rt_rlimit
{
  int resource;
  uint64_t soft, hard;
};

#define RT_MAX_IDMAPS 340 /* the kernel's limit per map */

struct rt_spec
{
  json_t *json;
  const char *root_path;
  bool root_readonly;
  const char *hostname;

  bool terminal;
  uid_t uid;
  gid_t gid;
  gid_t *additional_gids;
  size_t n_additional_gids;
  const char **args; /* NULL-terminated */
  const char **env;  /* NULL-terminated */
  const char *cwd;
  bool no_new_privileges;
  int umask;            /* process.user.umask, or -1 */
  bool has_oom_score_adj;
  int oom_score_adj;    /* process.oomScoreAdj */
  /* Not of config.json: the caller's descriptors 3 .. 3 + N - 1 that the
   * process keeps (runc's --preserve-fds). */
  unsigned preserve_fds;
  /* Not of config.json either: bind sources the caller opened (O_PATH) when
   * it checked them, mounted from those fds -- a path swapped for a symlink
   * since cannot redirect the mount (the CVE-2021-30465 class). */
  const struct rt_bind_fd *bind_fds;
  size_t n_bind_fds;
  /* Capability sets as libcap values; -1 terminated. */
  int *caps_bounding, *caps_effective, *caps_permitted, *caps_inheritable,
      *caps_ambient;
  struct rt_rlimit *rlimits;
  size_t n_rlimits;

  struct rt_mount *mounts;
  size_t n_mounts;
  int clone_flags; /* CLONE_NEW* to create */
  /* Namespaces to join (linux.namespaces[].path): network, ipc, uts, pid,
   * cgroup -- joined by nsbox before it clones the container's init. */
  struct
  {
    int flag;
    const char *path;
  } joins[8];
  size_t n_joins;
  int join_flags;
  /* A mount namespace to join (linux.namespaces[].path), or NULL: init
   * enters it instead of setting a root up (see rt_rootfs_join). */
  const char *mnt_join_path;
  struct rt_idmap uid_maps[RT_MAX_IDMAPS], gid_maps[RT_MAX_IDMAPS];
  size_t n_uid_maps, n_gid_maps;
  const char **masked_paths;   /* NULL-terminated */
  const char **readonly_paths; /* NULL-terminated */
  unsigned long rootfs_propagation;
  json_t *seccomp; /* linux.seccomp (borrowed), or NULL */
  json_t *hooks;   /* hooks (borrowed, checked), or NULL */
  json_t *devices; /* linux.devices (borrowed, checked), or NULL */
  /* linux.resources, as cgroup v2 limits (RT_CGROUP_NO_LIMITS: none). */
  struct rt_cgroup_limits resources;
  json_t *sysctl;  /* linux.sysctl (borrowed, checked), or NULL */
};

/* Parse a config.json document; takes a reference on JSON.  BUNDLE resolves
 * a relative root.path (NULL: the current directory). */
int rt_spec_from_json (json_t *json, const char *bundle, struct rt_spec **out,
                       nb_error_t *err);
int rt_spec_load (const char *bundle, struct rt_spec **out, nb_error_t *err);
void rt_spec_free (struct rt_spec *spec);
/* Parse one mount option list into M (flags, attrs, data). */
int rt_mount_parse_options (struct rt_mount *m, const char *const *options,
                            size_t n, nb_error_t *err);

static inline void
rt_spec_freep (struct rt_spec **s)
{
  if (*s)
    rt_spec_free (*s);
}
#define cleanup_spec __attribute__ ((cleanup (rt_spec_freep)))

#endif
