#define _GNU_SOURCE
#include "runtime/cgroup.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/plugin.h"
#include "runtime/systemd_scope.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

bool
rt_cgroup_any (const struct rt_cgroup_limits *l)
{
  return l->memory >= 0 || l->memory_swap >= 0 || l->pids >= 0
         || l->cpu_quota >= 0;
}

/* The cgroup2 mount: /sys/fs/cgroup on a pure v2 host, the unified one of
 * a hybrid host. */
static const char *
v2_mount (void)
{
  struct statfs sfs;
  if (statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    return "/sys/fs/cgroup";
  if (statfs ("/sys/fs/cgroup/unified", &sfs) == 0
      && sfs.f_type == CGROUP2_SUPER_MAGIC)
    return "/sys/fs/cgroup/unified";
  return NULL;
}

/* This process's cgroup v2 directory. */
static char *
own_cgroup (char **why)
{
  cleanup_free char *text = NULL;
  cleanup_error nb_error_t e = NULL;
  const char *mnt = v2_mount ();
  char *line, *out = NULL;

  if (mnt == NULL)
    {
      *why = strdup ("no cgroup v2 hierarchy is mounted");
      return NULL;
    }
  if (nb_read_file ("/proc/self/cgroup", &text, NULL, &e) < 0)
    {
      *why = strdup ("/proc/self/cgroup cannot be read");
      return NULL;
    }
  for (line = strtok (text, "\n"); line; line = strtok (NULL, "\n"))
    if (strncmp (line, "0::", 3) == 0)
      {
        if (strcmp (line + 3, "/") == 0)
          {
            *why = strdup ("this process is in the root cgroup, which is not "
                           "delegated");
            return NULL;
          }
        if (asprintf (&out, "%s%s", mnt, strcmp (line + 3, "/") ? line + 3 : "")
            < 0)
          out = NULL;
        break;
      }
  if (out == NULL)
    *why = strdup ("this process is in no cgroup v2");
  return out;
}

static int
write_at (const char *dir, const char *file, const char *value)
{
  char path[4096];
  int fd, ok;

  snprintf (path, sizeof path, "%s/%s", dir, file);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ok = write (fd, value, strlen (value)) == (ssize_t) strlen (value);
  if (!ok)
    {
      int e = errno;
      close (fd);
      errno = e;
      return -1;
    }
  close (fd);
  return 0;
}

static bool
has_word (const char *list, const char *word)
{
  size_t n = strlen (word);
  for (const char *p = list; (p = strstr (p, word)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
      return true;
  return false;
}

static char *
read_at (const char *dir, const char *file)
{
  cleanup_error nb_error_t e = NULL;
  cleanup_free char *path = nb_path_join (dir, file);
  char *text = NULL;
  if (path == NULL || nb_read_file (path, &text, NULL, &e) < 0)
    return NULL;
  return text;
}

/* The parent of this process's cgroup, if this user may make cgroups in
 * it: a cgroup holding processes may have no controlled children, so the
 * container's goes beside ours, as systemd's delegated trees are laid out
 * (processes in leaves). */
static char *
delegated_parent (char **why)
{
  cleanup_free char *own = own_cgroup (why);
  char *parent, *slash;

  if (own == NULL)
    return NULL;
  parent = strdup (own);
  slash = parent ? strrchr (parent, '/') : NULL;
  if (slash == NULL || slash == parent)
    {
      free (parent);
      *why = strdup ("this process is in the root cgroup");
      return NULL;
    }
  *slash = '\0';
  if (access (parent, W_OK) < 0)
    {
      if (asprintf (why, "%s is not writable by uid %u: no cgroup is "
                         "delegated to this user",
                    parent, (unsigned) getuid ())
          < 0)
        *why = NULL;
      free (parent);
      return NULL;
    }
  return parent;
}

char *
rt_cgroup_where (char **controllers, char **why)
{
  char *parent = delegated_parent (why);
  *controllers = parent ? read_at (parent, "cgroup.controllers") : NULL;
  return parent;
}

static int
not_delegated (nb_error_t *err, const char *why)
{
  nb_error_make (err, 0, "resource limits need a cgroup v2 subtree "
                         "delegated to this user, and there is none: %s",
                 why ? why : "unknown");
  return nb_error_hint (err,
                        "with systemd, run nsbox in a delegated unit (e.g. "
                        "systemd-run --user --scope -p Delegate=yes nsbox "
                        "run ...), or delegate controllers with a drop-in "
                        "/etc/systemd/system/user@.service.d/delegate.conf: "
                        "[Service] Delegate=cpu memory pids; "
                        "'nsbox doctor' shows what this host offers");
}

static int
enable (const char *parent, const char *ctl, nb_error_t *err)
{
  cleanup_free char *avail = read_at (parent, "cgroup.controllers");
  cleanup_free char *on = read_at (parent, "cgroup.subtree_control");
  char plus[32];

  if (on && has_word (on, ctl))
    return 0;
  if (avail == NULL || !has_word (avail, ctl))
    {
      cleanup_free char *why = NULL;
      if (asprintf (&why, "the %s controller is not delegated to %s", ctl,
                    parent)
          < 0)
        why = NULL;
      return not_delegated (err, why);
    }
  snprintf (plus, sizeof plus, "+%s", ctl);
  if (write_at (parent, "cgroup.subtree_control", plus) < 0)
    return nb_error_make (err, errno, "enable the %s controller in %s", ctl,
                          parent);
  return 0;
}

/* The controllers L needs, enabled for PARENT's children. */
static int
enable_for (const char *parent, const struct rt_cgroup_limits *l,
            nb_error_t *err)
{
  if ((l->memory >= 0 || l->memory_swap >= 0)
      && enable (parent, "memory", err) < 0)
    return -1;
  if (l->pids >= 0 && enable (parent, "pids", err) < 0)
    return -1;
  if (l->cpu_quota >= 0 && enable (parent, "cpu", err) < 0)
    return -1;
  return 0;
}

/* L's limits into the cgroup DIR (fields < 0 are not written); -1 with
 * errno. */
static int
write_limits (const char *dir, const struct rt_cgroup_limits *l)
{
  char v[64];

  if (l->memory >= 0)
    {
      snprintf (v, sizeof v, "%lld", (long long) l->memory);
      if (write_at (dir, "memory.max", v) < 0)
        return -1;
      /* Docker's --memory without --memory-swap: as much swap again. */
      snprintf (v, sizeof v, "%lld",
                (long long) (l->memory_swap >= 0 ? l->memory_swap : l->memory));
      if (l->memory_swap != RT_CGROUP_UNTOUCHED
          && write_at (dir, "memory.swap.max", v) < 0 && errno != ENOENT)
        return -1;
    }
  if (l->pids >= 0)
    {
      snprintf (v, sizeof v, "%lld", (long long) l->pids);
      if (write_at (dir, "pids.max", v) < 0)
        return -1;
    }
  if (l->cpu_quota >= 0)
    {
      snprintf (v, sizeof v, "%lld %lld", (long long) l->cpu_quota,
                (long long) l->cpu_period);
      if (write_at (dir, "cpu.max", v) < 0)
        return -1;
    }
  return 0;
}

/* Is there a bus where a systemd user manager could answer? */
static bool
user_bus (void)
{
  const char *a = getenv ("DBUS_SESSION_BUS_ADDRESS");
  const char *rt = getenv ("XDG_RUNTIME_DIR");
  char path[4096];

  if (a && a[0])
    return true;
  if (rt == NULL || rt[0] != '/')
    return false;
  snprintf (path, sizeof path, "%s/bus", rt);
  return access (path, F_OK) == 0;
}

static void
append_why (char **why, const char *fmt, const char *arg)
{
  char *more = NULL, *joined = NULL;
  if (asprintf (&more, fmt, arg) < 0)
    return;
  if (asprintf (&joined, "%s; %s", *why ? *why : "", more) >= 0)
    {
      free (*why);
      *why = joined;
    }
  free (more);
}

int
rt_cgroup_systemd_probe (char **version, char **why)
{
  cleanup_error nb_error_t e = NULL;
  rt_systemd_probe_fn probe;
  void *h;

  *version = *why = NULL;
  if (!user_bus ())
    {
      *why = strdup ("$DBUS_SESSION_BUS_ADDRESS is not set and there is no "
                     "$XDG_RUNTIME_DIR/bus");
      return -1;
    }
  h = nb_plugin_open (RT_SYSTEMD_PLUGIN, "NSBOX_SYSTEMD_LIB", &e);
  probe = h ? (rt_systemd_probe_fn) dlsym (h, RT_SYSTEMD_PROBE_SYM) : NULL;
  if (probe == NULL || probe (version, &e) < 0)
    {
      *why = strdup (e && e->msg ? e->msg : RT_SYSTEMD_PLUGIN " has no entry "
                                                             "point");
      return -1;
    }
  return 0;
}

/* Way 2: a transient scope with Delegate=yes from the systemd user
 * manager, asked for with nsbox-systemd.so (libsystemd is loaded only
 * here).  Once this process is in it, it moves to a leaf of it ("nsbox"),
 * since a cgroup with processes may have no controlled children, and the
 * scope is the parent of the sandbox's cgroup. */
static char *
systemd_parent (const char *name, char **why)
{
  cleanup_error nb_error_t e = NULL;
  cleanup_free char *unit = NULL, *own = NULL, *leaf = NULL, *w = NULL;
  rt_systemd_scope_fn scope;
  void *h;

  if (!user_bus ())
    {
      append_why (why, "%s", "no systemd user manager to ask for one "
                             "($DBUS_SESSION_BUS_ADDRESS is not set and "
                             "there is no $XDG_RUNTIME_DIR/bus)");
      return NULL;
    }
  h = nb_plugin_open (RT_SYSTEMD_PLUGIN, "NSBOX_SYSTEMD_LIB", &e);
  scope = h ? (rt_systemd_scope_fn) dlsym (h, RT_SYSTEMD_SCOPE_SYM) : NULL;
  if (asprintf (&unit, "%s-%d.scope", name, (int) getpid ()) < 0)
    return NULL;
  if (scope == NULL || scope (unit, &e) < 0)
    {
      append_why (why, "nor a delegated scope from the systemd user "
                       "manager: %s",
                  e && e->msg ? e->msg : RT_SYSTEMD_PLUGIN " has no entry "
                                                         "point");
      return NULL;
    }
  own = own_cgroup (&w);
  if (own == NULL || strstr (own, unit) == NULL
      || strcmp (own + strlen (own) - strlen (unit), unit) != 0)
    {
      append_why (why, "systemd started the scope, but this process is not "
                       "in it (it is in %s)",
                  own ? own : w ? w : "no cgroup");
      return NULL;
    }
  leaf = nb_path_join (own, "nsbox");
  if (leaf == NULL || (mkdir (leaf, 0755) < 0 && errno != EEXIST)
      || write_at (leaf, "cgroup.procs", "0") < 0)
    {
      append_why (why, "move into a leaf of the scope: %s", strerror (errno));
      return NULL;
    }
  return steal_pointer (&own);
}

int
rt_cgroup_create (const char *name, const struct rt_cgroup_limits *l,
                  struct rt_cgroup *cg, nb_error_t *err)
{
  cleanup_free char *why = NULL, *parent = delegated_parent (&why);

  cg->path = NULL;
  cg->fd = -1;
  if (parent == NULL)
    parent = systemd_parent (name, &why);
  if (parent == NULL)
    return not_delegated (err, why);
  if (enable_for (parent, l, err) < 0)
    return -1;
  cg->path = nb_path_join (parent, name);
  if (cg->path == NULL)
    return nb_error_make (err, ENOMEM, "cgroup");
  /* One left by a killed nsbox: empty, so it goes. */
  rmdir (cg->path);
  if (mkdir (cg->path, 0755) < 0)
    {
      nb_error_make (err, errno, "mkdir %s", cg->path);
      free (cg->path);
      cg->path = NULL;
      return -1;
    }
  if (write_limits (cg->path, l) < 0)
    goto fail;
  cg->fd = open (cg->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cg->fd < 0)
    goto fail;
  return 0;
fail:
  nb_error_make (err, errno, "set the limits of %s", cg->path);
  rmdir (cg->path);
  free (cg->path);
  cg->path = NULL;
  return -1;
}

int
rt_cgroup_update (const char *path, const struct rt_cgroup_limits *l,
                  nb_error_t *err)
{
  cleanup_free char *parent = strdup (path);
  char *slash = parent ? strrchr (parent, '/') : NULL;

  if (slash == NULL)
    return nb_error_make (err, ENOMEM, "cgroup %s", path);
  *slash = '\0';
  /* A limit the sandbox was started without needs its controller in the
   * parent's subtree_control first (its cgroup has no such file before). */
  if (enable_for (parent, l, err) < 0)
    return -1;
  if (write_limits (path, l) < 0)
    return nb_error_make (err, errno, "set the limits of %s", path);
  return 0;
}

bool
rt_cgroup_oom_killed (const struct rt_cgroup *cg)
{
  cleanup_free char *ev = cg->path ? read_at (cg->path, "memory.events") : NULL;
  const char *p = ev ? strstr (ev, "oom_kill ") : NULL;
  return p && strtoll (p + 9, NULL, 10) > 0;
}

void
rt_cgroup_remove (struct rt_cgroup *cg)
{
  if (cg->fd >= 0)
    close (cg->fd);
  cg->fd = -1;
  if (cg->path)
    {
      /* The kernel empties it a moment after the last process is reaped. */
      for (int i = 0; i < 100 && rmdir (cg->path) < 0 && errno == EBUSY; i++)
        {
          struct timespec ts = { 0, 10 * 1000 * 1000 };
          nanosleep (&ts, NULL);
        }
      free (cg->path);
      cg->path = NULL;
    }
}

/* A number from a cgroup file: "max" is RT_CGROUP_STAT_MAX; a missing file
 * (its controller not enabled) is -1. */
static int64_t
read_number (const char *dir, const char *file)
{
  cleanup_free char *text = read_at (dir, file);
  if (text == NULL)
    return -1;
  if (strncmp (text, "max", 3) == 0)
    return RT_CGROUP_STAT_MAX;
  return strtoll (text, NULL, 10);
}

int
rt_cgroup_stats (const char *path, struct rt_cgroup_stats *s, nb_error_t *err)
{
  cleanup_free char *cpu = read_at (path, "cpu.stat");
  const char *u = cpu ? strstr (cpu, "usage_usec ") : NULL;

  /* cpu.stat is there without the cpu controller: its absence means the
   * cgroup itself is gone. */
  if (cpu == NULL)
    return nb_error_make (err, errno ? errno : ENOENT, "read %s/cpu.stat",
                          path);
  s->cpu_usec = u ? strtoll (u + 11, NULL, 10) : -1;
  s->memory = read_number (path, "memory.current");
  s->memory_max = read_number (path, "memory.max");
  s->pids = read_number (path, "pids.current");
  s->pids_max = read_number (path, "pids.max");
  return 0;
}
