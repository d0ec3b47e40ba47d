#define _GNU_SOURCE
#include "runtime/spec.h"
#include "runtime/hooks.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/json.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>

static const char *
get_str (json_t *obj, const char *key)
{
  json_t *v = json_object_get (obj, key);
  return json_is_string (v) ? json_string_value (v) : NULL;
}

/* A NULL-terminated array of the strings in a JSON array (borrowed). */
static int
str_array (json_t *arr, const char *what, const char ***out, nb_error_t *err)
{
  size_t i, n = json_is_array (arr) ? json_array_size (arr) : 0;
  const char **v;

  if (arr && !json_is_array (arr))
    return nb_error_make (err, 0, "config.json: %s: not an array", what);
  v = calloc (n + 1, sizeof *v);
  if (v == NULL)
    return nb_error_make (err, ENOMEM, "config.json: %s", what);
  for (i = 0; i < n; i++)
    {
      json_t *s = json_array_get (arr, i);
      if (!json_is_string (s))
        {
          free (v);
          return nb_error_make (err, 0, "config.json: %s[%zu]: not a string",
                                what, i);
        }
      v[i] = json_string_value (s);
    }
  *out = v;
  return 0;
}

struct flag_opt
{
  const char *name;
  bool clear;
  unsigned long flag;
  uint64_t attr;
};

/* Options that are flags rather than filesystem data.  ATTR is what a bind
 * mount gets through mount_setattr(2), which (unlike MS_REMOUNT) leaves the
 * flags the kernel locked in a user namespace alone. */
static const struct flag_opt flag_opts[] = {
  { "ro", false, MS_RDONLY, MOUNT_ATTR_RDONLY },
  { "rw", true, MS_RDONLY, 0 },
  { "nosuid", false, MS_NOSUID, MOUNT_ATTR_NOSUID },
  { "suid", true, MS_NOSUID, 0 },
  { "nodev", false, MS_NODEV, MOUNT_ATTR_NODEV },
  { "dev", true, MS_NODEV, 0 },
  { "noexec", false, MS_NOEXEC, MOUNT_ATTR_NOEXEC },
  { "exec", true, MS_NOEXEC, 0 },
  { "sync", false, MS_SYNCHRONOUS, 0 },
  { "async", true, MS_SYNCHRONOUS, 0 },
  { "noatime", false, MS_NOATIME, MOUNT_ATTR_NOATIME },
  { "atime", true, MS_NOATIME, 0 },
  { "nodiratime", false, MS_NODIRATIME, MOUNT_ATTR_NODIRATIME },
  { "diratime", true, MS_NODIRATIME, 0 },
  { "relatime", false, MS_RELATIME, MOUNT_ATTR_RELATIME },
  { "norelatime", true, MS_RELATIME, 0 },
  { "strictatime", false, MS_STRICTATIME, MOUNT_ATTR_STRICTATIME },
  { "nostrictatime", true, MS_STRICTATIME, 0 },
  { "mand", false, MS_MANDLOCK, 0 },
  { "nomand", true, MS_MANDLOCK, 0 },
  { "dirsync", false, MS_DIRSYNC, 0 },
  { NULL, false, 0, 0 },
};

static const struct
{
  const char *name;
  unsigned long flag;
} propagation_opts[] = {
  { "private", MS_PRIVATE },   { "rprivate", MS_PRIVATE | MS_REC },
  { "slave", MS_SLAVE },       { "rslave", MS_SLAVE | MS_REC },
  { "shared", MS_SHARED },     { "rshared", MS_SHARED | MS_REC },
  { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
  { NULL, 0 },
};

int
rt_mount_parse_options (struct rt_mount *m, const char *const *options,
                        size_t n, nb_error_t *err)
{
  size_t i, len = 0;
  char *data = NULL;

  for (i = 0; i < n; i++)
    {
      const char *o = options[i];
      const struct flag_opt *f;
      bool done = false;

      if (strcmp (o, "bind") == 0 || strcmp (o, "rbind") == 0)
        {
          m->bind = true;
          m->recursive = o[0] == 'r';
          continue;
        }
      for (f = flag_opts; f->name; f++)
        if (strcmp (o, f->name) == 0)
          {
            if (f->clear)
              m->flags &= ~f->flag;
            else
              {
                m->flags |= f->flag;
                m->attr_set |= f->attr;
              }
            done = true;
            break;
          }
      for (size_t p = 0; !done && propagation_opts[p].name; p++)
        if (strcmp (o, propagation_opts[p].name) == 0)
          {
            m->propagation = propagation_opts[p].flag;
            done = true;
          }
      if (done)
        continue;
      /* Anything else is the filesystem's own option (mode=, size=, ...). */
      {
        size_t l = strlen (o);
        char *nd = realloc (data, len + l + 2);
        if (nd == NULL)
          {
            free (data);
            return nb_error_make (err, ENOMEM, "mount options");
          }
        data = nd;
        if (len)
          data[len++] = ',';
        memcpy (data + len, o, l + 1);
        len += l;
      }
    }
  if (!(m->flags & MS_RDONLY))
    m->attr_set &= ~(uint64_t) MOUNT_ATTR_RDONLY;
  m->data = data;
  return 0;
}

static int
parse_mounts (json_t *arr, struct rt_spec *s, nb_error_t *err)
{
  size_t i, n;

  if (arr == NULL)
    return 0;
  if (!json_is_array (arr))
    return nb_error_make (err, 0, "config.json: mounts: not an array");
  n = json_array_size (arr);
  s->mounts = calloc (n ? n : 1, sizeof *s->mounts);
  if (s->mounts == NULL)
    return nb_error_make (err, ENOMEM, "config.json: mounts");
  for (i = 0; i < n; i++)
    {
      json_t *j = json_array_get (arr, i);
      struct rt_mount *m = &s->mounts[i];
      cleanup_free const char **opts = NULL;
      size_t n_opts;

      s->n_mounts = i + 1;
      m->destination = get_str (j, "destination");
      m->type = get_str (j, "type");
      m->source = get_str (j, "source");
      if (m->destination == NULL || m->destination[0] != '/')
        return nb_error_make (err, 0,
                              "config.json: mounts[%zu]: destination must be "
                              "an absolute path",
                              i);
      if (str_array (json_object_get (j, "options"), "mount options", &opts,
                     err)
          < 0)
        return -1;
      for (n_opts = 0; opts[n_opts]; n_opts++)
        ;
      if (rt_mount_parse_options (m, opts, n_opts, err) < 0)
        return nb_error_wrap (err, "mount %s", m->destination);
      if (m->type && strcmp (m->type, "bind") == 0)
        {
          m->type = NULL;
          m->bind = true;
        }
      if (m->bind && (m->source == NULL || m->source[0] != '/'))
        return nb_error_make (err, 0,
                              "config.json: mount %s: a bind mount needs an "
                              "absolute source",
                              m->destination);
      if (!m->bind && m->type == NULL)
        return nb_error_make (err, 0, "config.json: mount %s: no type",
                              m->destination);
    }
  return 0;
}

static const struct
{
  const char *name;
  int flag;
} ns_types[] = {
  { "user", CLONE_NEWUSER }, { "mount", CLONE_NEWNS },
  { "pid", CLONE_NEWPID },   { "network", CLONE_NEWNET },
  { "uts", CLONE_NEWUTS },   { "ipc", CLONE_NEWIPC },
  { "cgroup", CLONE_NEWCGROUP }, { NULL, 0 },
};

static int
parse_namespaces (json_t *arr, struct rt_spec *s, nb_error_t *err)
{
  size_t i;
  json_t *j;

  json_array_foreach (arr, i, j)
  {
    const char *type = get_str (j, "type");
    size_t k;
    for (k = 0; ns_types[k].name; k++)
      if (type && strcmp (type, ns_types[k].name) == 0)
        break;
    if (ns_types[k].name == NULL)
      return nb_error_make (err, 0, "config.json: unknown namespace type %s",
                            type ? type : "(none)");
    if (get_str (j, "path"))
      {
        /* Joined from outside before the clone; a mount namespace by
         * init, after it (see rt_rootfs_join). */
        int flag = ns_types[k].flag;
        if ((s->join_flags | s->clone_flags) & flag)
          return nb_error_make (err, 0, "config.json: the %s namespace is "
                                        "listed twice", type);
        s->join_flags |= flag;
        if (flag == CLONE_NEWNS)
          {
            s->mnt_join_path = get_str (j, "path");
            continue;
          }
        s->joins[s->n_joins].flag = flag;
        s->joins[s->n_joins++].path = get_str (j, "path");
        continue;
      }
    if ((s->join_flags | s->clone_flags) & ns_types[k].flag)
      return nb_error_make (err, 0, "config.json: the %s namespace is "
                                    "listed twice", type);
    s->clone_flags |= ns_types[k].flag;
  }
  return 0;
}

static int
parse_idmaps (json_t *arr, struct rt_idmap *maps, size_t *n, const char *what,
              nb_error_t *err)
{
  size_t i;
  json_t *j;

  if (json_array_size (arr) > RT_MAX_IDMAPS)
    return nb_error_make (err, 0, "config.json: %s: too many ranges", what);
  json_array_foreach (arr, i, j)
  {
    json_t *c = json_object_get (j, "containerID"),
           *h = json_object_get (j, "hostID"), *sz = json_object_get (j, "size");
    if (!json_is_integer (c) || !json_is_integer (h) || !json_is_integer (sz)
        || json_integer_value (sz) <= 0)
      return nb_error_make (err, 0, "config.json: %s[%zu]: bad range", what, i);
    maps[i].container_id = (uint32_t) json_integer_value (c);
    maps[i].host_id = (uint32_t) json_integer_value (h);
    maps[i].size = (uint32_t) json_integer_value (sz);
  }
  *n = json_array_size (arr);
  return 0;
}

static int
parse_caps (json_t *arr, int **out, nb_error_t *err)
{
  size_t i, n = json_array_size (arr);
  int *v = calloc (n + 1, sizeof *v);
  json_t *j;

  if (v == NULL)
    return nb_error_make (err, ENOMEM, "capabilities");
  json_array_foreach (arr, i, j)
  {
    const char *name = json_string_value (j);
    char lower[64];
    cap_value_t cap;
    size_t k;

    if (name == NULL || strlen (name) >= sizeof lower)
      {
        free (v);
        return nb_error_make (err, 0, "config.json: bad capability");
      }
    for (k = 0; name[k]; k++)
      lower[k] = (char) tolower ((unsigned char) name[k]);
    lower[k] = '\0';
    if (cap_from_name (lower, &cap) < 0)
      {
        free (v);
        return nb_error_make (err, 0, "config.json: unknown capability %s",
                              name);
      }
    v[i] = cap;
  }
  v[n] = -1;
  *out = v;
  return 0;
}

static const struct
{
  const char *name;
  int resource;
} rlimit_names[] = {
  { "RLIMIT_AS", RLIMIT_AS },         { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_CPU", RLIMIT_CPU },       { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },   { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_NPROC", RLIMIT_NPROC },   { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
  { NULL, 0 },
};

static int
parse_process (json_t *p, struct rt_spec *s, nb_error_t *err)
{
  json_t *user = json_object_get (p, "user"), *caps, *rl, *j;
  size_t i;

  if (!json_is_object (p))
    return nb_error_make (err, 0, "config.json: no process");
  s->terminal = json_is_true (json_object_get (p, "terminal"));
  s->cwd = get_str (p, "cwd");
  if (s->cwd == NULL || s->cwd[0] != '/')
    return nb_error_make (err, 0,
                          "config.json: process.cwd must be an absolute path");
  s->no_new_privileges = json_is_true (json_object_get (p, "noNewPrivileges"));
  s->umask = -1;
  if ((j = json_object_get (user, "umask")) != NULL)
    {
      if (!json_is_integer (j) || json_integer_value (j) < 0
          || json_integer_value (j) > 0777)
        return nb_error_make (err, 0, "config.json: process.user.umask: "
                                      "expects 0 to 0777");
      s->umask = (int) json_integer_value (j);
    }
  if ((j = json_object_get (p, "oomScoreAdj")) != NULL)
    {
      if (!json_is_integer (j) || json_integer_value (j) < -1000
          || json_integer_value (j) > 1000)
        return nb_error_make (err, 0, "config.json: process.oomScoreAdj: "
                                      "expects -1000 to 1000");
      s->has_oom_score_adj = true;
      s->oom_score_adj = (int) json_integer_value (j);
    }
  if (str_array (json_object_get (p, "args"), "process.args", &s->args, err)
      < 0)
    return -1;
  if (s->args[0] == NULL)
    return nb_error_make (err, 0, "config.json: process.args is empty");
  if (str_array (json_object_get (p, "env"), "process.env", &s->env, err) < 0)
    return -1;
  s->uid = (uid_t) json_integer_value (json_object_get (user, "uid"));
  s->gid = (gid_t) json_integer_value (json_object_get (user, "gid"));
  j = json_object_get (user, "additionalGids");
  s->n_additional_gids = json_array_size (j);
  s->additional_gids = calloc (s->n_additional_gids + 1, sizeof (gid_t));
  if (s->additional_gids == NULL)
    return nb_error_make (err, ENOMEM, "config.json");
  for (i = 0; i < s->n_additional_gids; i++)
    s->additional_gids[i]
        = (gid_t) json_integer_value (json_array_get (j, i));

  caps = json_object_get (p, "capabilities");
  if (parse_caps (json_object_get (caps, "bounding"), &s->caps_bounding, err)
          < 0
      || parse_caps (json_object_get (caps, "effective"), &s->caps_effective,
                     err)
             < 0
      || parse_caps (json_object_get (caps, "permitted"), &s->caps_permitted,
                     err)
             < 0
      || parse_caps (json_object_get (caps, "inheritable"),
                     &s->caps_inheritable, err)
             < 0
      || parse_caps (json_object_get (caps, "ambient"), &s->caps_ambient, err)
             < 0)
    return -1;

  rl = json_object_get (p, "rlimits");
  s->rlimits = calloc (json_array_size (rl) + 1, sizeof *s->rlimits);
  if (s->rlimits == NULL)
    return nb_error_make (err, ENOMEM, "config.json");
  json_array_foreach (rl, i, j)
  {
    const char *type = get_str (j, "type");
    size_t k;
    for (k = 0; rlimit_names[k].name; k++)
      if (type && strcmp (type, rlimit_names[k].name) == 0)
        break;
    if (rlimit_names[k].name == NULL)
      return nb_error_make (err, 0, "config.json: unknown rlimit %s",
                            type ? type : "(none)");
    s->rlimits[i].resource = rlimit_names[k].resource;
    s->rlimits[i].soft = (uint64_t) json_integer_value (json_object_get (j, "soft"));
    s->rlimits[i].hard = (uint64_t) json_integer_value (json_object_get (j, "hard"));
    s->n_rlimits = i + 1;
  }
  return 0;
}

/* linux.resources: memory.limit and .swap (runc's memory + swap, which
 * cgroup v2 counts apart), pids.limit, cpu.quota and .period.  A value of
 * -1 or 0 asks for no limit. */
static int
parse_resources (json_t *r, struct rt_spec *s, nb_error_t *err)
{
  struct rt_cgroup_limits l = RT_CGROUP_NO_LIMITS;
  json_t *mem = json_object_get (r, "memory"), *pids = json_object_get (r, "pids");
  json_t *cpu = json_object_get (r, "cpu"), *v;

  l.memory_swap = RT_CGROUP_UNTOUCHED;
  if (r && !json_is_object (r))
    return nb_error_make (err, 0, "config.json: linux.resources: not an "
                                  "object");
  if ((v = json_object_get (mem, "limit")) && json_integer_value (v) > 0)
    l.memory = json_integer_value (v);
  if ((v = json_object_get (mem, "swap")) && json_integer_value (v) > 0
      && l.memory > 0)
    {
      if (json_integer_value (v) < l.memory)
        return nb_error_make (err, 0, "config.json: linux.resources.memory: "
                                      "swap (memory + swap) is below limit");
      l.memory_swap = json_integer_value (v) - l.memory;
    }
  if ((v = json_object_get (pids, "limit")) && json_integer_value (v) > 0)
    l.pids = json_integer_value (v);
  if ((v = json_object_get (cpu, "quota")) && json_integer_value (v) > 0)
    {
      l.cpu_quota = json_integer_value (v);
      v = json_object_get (cpu, "period");
      l.cpu_period = v && json_integer_value (v) > 0 ? json_integer_value (v)
                                                     : 100000;
    }
  s->resources = l;
  return 0;
}

/* linux.devices: {path, type (c, b, u, p), major, minor, fileMode, uid,
 * gid}. */
static int
parse_devices (json_t *arr, struct rt_spec *s, nb_error_t *err)
{
  size_t i;
  json_t *d;

  if (arr == NULL)
    return 0;
  if (!json_is_array (arr))
    return nb_error_make (err, 0, "config.json: linux.devices: not an "
                                  "array");
  json_array_foreach (arr, i, d)
  {
    const char *path = get_str (d, "path"), *type = get_str (d, "type");
    if (path == NULL || path[0] != '/' || strstr (path, "/../"))
      return nb_error_make (err, 0, "config.json: linux.devices[%zu]: path "
                                    "must be an absolute path",
                            i);
    if (type == NULL || strlen (type) != 1 || !strchr ("cbup", type[0]))
      return nb_error_make (err, 0, "config.json: linux.devices[%zu] %s: "
                                    "type must be c, b, u or p",
                            i, path);
    if (type[0] != 'p'
        && (!json_is_integer (json_object_get (d, "major"))
            || !json_is_integer (json_object_get (d, "minor"))))
      return nb_error_make (err, 0, "config.json: linux.devices[%zu] %s: "
                                    "needs major and minor",
                            i, path);
  }
  s->devices = arr;
  return 0;
}

int
rt_spec_from_json (json_t *json, const char *bundle, struct rt_spec **out,
                   nb_error_t *err)
{
  cleanup_spec struct rt_spec *s = calloc (1, sizeof *s);
  json_t *root, *linux_;
  const char *prop;

  if (s == NULL)
    return nb_error_make (err, ENOMEM, "config.json");
  s->json = json_incref (json);
  if (!json_is_object (json))
    return nb_error_make (err, 0, "config.json: not a JSON object");
  root = json_object_get (json, "root");
  s->root_path = get_str (root, "path");
  if (s->root_path == NULL)
    return nb_error_make (err, 0, "config.json: no root.path");
  if (s->root_path[0] != '/')
    {
      char *abs = NULL;
      if (asprintf (&abs, "%s/%s", bundle ? bundle : ".", s->root_path) < 0)
        return nb_error_make (err, ENOMEM, "config.json");
      json_object_set_new (root, "path", json_string (abs));
      free (abs);
      s->root_path = get_str (root, "path");
    }
  s->root_readonly = json_is_true (json_object_get (root, "readonly"));
  s->hostname = get_str (json, "hostname");
  if (parse_process (json_object_get (json, "process"), s, err) < 0)
    return -1;
  if (parse_mounts (json_object_get (json, "mounts"), s, err) < 0)
    return -1;

  linux_ = json_object_get (json, "linux");
  if (parse_namespaces (json_object_get (linux_, "namespaces"), s, err) < 0)
    return -1;
  if (parse_idmaps (json_object_get (linux_, "uidMappings"), s->uid_maps,
                    &s->n_uid_maps, "uidMappings", err)
          < 0
      || parse_idmaps (json_object_get (linux_, "gidMappings"), s->gid_maps,
                       &s->n_gid_maps, "gidMappings", err)
             < 0)
    return -1;
  if ((s->join_flags & CLONE_NEWUSER) && (s->n_uid_maps || s->n_gid_maps))
    return nb_error_make (err, 0, "config.json: a user namespace joined by "
                                  "path has its own mappings: give no "
                                  "uidMappings or gidMappings");
  if ((s->clone_flags & CLONE_NEWUSER) && (!s->n_uid_maps || !s->n_gid_maps))
    return nb_error_make (err, 0,
                          "config.json: a user namespace needs uidMappings "
                          "and gidMappings");
  /* The root is set up -- private propagation, binds, pivot_root -- in
   * the container's mount namespace.  In the caller's, pivot_root would
   * move the root of every process there (as root: the host's). */
  if (!((s->clone_flags | s->join_flags) & CLONE_NEWNS))
    {
      nb_error_make (err, 0, "config.json: no mount namespace in "
                             "linux.namespaces: the container's root is set "
                             "up in a mount namespace of its own, or in one "
                             "given by path");
      return nb_error_hint (err, "add {\"type\": \"mount\"} to "
                                 "linux.namespaces");
    }
  if (str_array (json_object_get (linux_, "maskedPaths"), "maskedPaths",
                 &s->masked_paths, err)
          < 0
      || str_array (json_object_get (linux_, "readonlyPaths"), "readonlyPaths",
                    &s->readonly_paths, err)
             < 0)
    return -1;
  if (parse_devices (json_object_get (linux_, "devices"), s, err) < 0)
    return -1;
  if (parse_resources (json_object_get (linux_, "resources"), s, err) < 0)
    return -1;
  s->sysctl = json_object_get (linux_, "sysctl");
  if (s->sysctl)
    {
      const char *k;
      json_t *v;
      if (!json_is_object (s->sysctl))
        return nb_error_make (err, 0, "config.json: linux.sysctl: not an "
                                      "object");
      json_object_foreach (s->sysctl, k, v)
      if (!json_is_string (v) || strstr (k, "..") || strchr (k, '/')
          || k[0] == '.' || k[0] == '\0')
        return nb_error_make (err, 0, "config.json: linux.sysctl: %s: not a "
                                      "key and string value",
                              k);
    }
  s->hooks = json_object_get (json, "hooks");
  if (rt_hooks_check (s->hooks, err) < 0)
    return -1;
  /* An object, or nsbox run's stand-in for the built-in profile (a
   * string): rt_seccomp_prepare tells them apart, and refuses the rest
   * before anything starts. */
  s->seccomp = json_object_get (linux_, "seccomp");
  if (s->seccomp && !json_is_object (s->seccomp)
      && !json_is_string (s->seccomp))
    return nb_error_make (err, 0, "config.json: linux.seccomp: not an object");
  s->rootfs_propagation = MS_PRIVATE | MS_REC;
  prop = get_str (linux_, "rootfsPropagation");
  if (prop)
    {
      size_t k;
      for (k = 0; propagation_opts[k].name; k++)
        if (strcmp (prop, propagation_opts[k].name) == 0)
          break;
      if (propagation_opts[k].name == NULL)
        return nb_error_make (err, 0, "config.json: rootfsPropagation %s",
                              prop);
      s->rootfs_propagation = propagation_opts[k].flag;
    }
  *out = steal_pointer (&s);
  return 0;
}

int
rt_spec_load (const char *bundle, struct rt_spec **out, nb_error_t *err)
{
  cleanup_free char *path = NULL;
  json_t *json;
  int ret;

  if (asprintf (&path, "%s/config.json", bundle) < 0)
    return nb_error_make (err, ENOMEM, "config.json");
  json = nb_json_load_file (path, err);
  if (json == NULL)
    return -1;
  ret = rt_spec_from_json (json, bundle, out, err);
  json_decref (json);
  return ret;
}

void
rt_spec_free (struct rt_spec *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n_mounts; i++)
    free (s->mounts[i].data);
  free (s->mounts);
  free (s->args);
  free (s->env);
  free (s->additional_gids);
  free (s->caps_bounding);
  free (s->caps_effective);
  free (s->caps_permitted);
  free (s->caps_inheritable);
  free (s->caps_ambient);
  free (s->rlimits);
  free (s->masked_paths);
  free (s->readonly_paths);
  json_decref (s->json);
  free (s);
}
