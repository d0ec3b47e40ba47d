#define _GNU_SOURCE
#include "cli/plan.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What of the host the host template shows, read-only. */
static const char *const host_system_dirs[]
    = { "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
        "/opt", NULL };

static const char *const masked_paths[]
    = { "/proc/acpi",          "/proc/asound",      "/proc/kcore",
        "/proc/keys",          "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats",   "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware",       "/sys/devices/virtual/powercap", NULL };

static const char *const readonly_paths[]
    = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
        NULL };

static json_t *
strv_json (const char *const *v)
{
  json_t *a = json_array ();
  for (; v && *v; v++)
    json_array_append_new (a, json_string (*v));
  return a;
}

static json_t *
mount_json (const char *dest, const char *type, const char *source,
            const char *const *options)
{
  json_t *m = json_pack ("{s:s, s:s, s:s}", "destination", dest, "type", type,
                         "source", source);
  json_object_set_new (m, "options", strv_json (options));
  return m;
}

/* What every template gets of its own: /proc, a minimal /dev with a private
 * devpts and /dev/shm, /dev/mqueue, a read-only /sys. */
static void
add_kernel_mounts (json_t *mounts)
{
  static const char *const proc_opts[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const dev_opts[]
      = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
  /* No gid= option: the tty group is not mapped into a rootless sandbox. */
  static const char *const pts_opts[] = { "nosuid", "noexec", "newinstance",
                                          "ptmxmode=0666", "mode=0620", NULL };
  static const char *const shm_opts[]
      = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
  static const char *const mq_opts[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const sys_opts[]
      = { "nosuid", "noexec", "nodev", "ro", NULL };

  json_array_append_new (mounts, mount_json ("/proc", "proc", "proc", proc_opts));
  json_array_append_new (mounts, mount_json ("/dev", "tmpfs", "tmpfs", dev_opts));
  json_array_append_new (mounts,
                         mount_json ("/dev/pts", "devpts", "devpts", pts_opts));
  json_array_append_new (mounts, mount_json ("/dev/shm", "tmpfs", "shm", shm_opts));
  json_array_append_new (mounts,
                         mount_json ("/dev/mqueue", "mqueue", "mqueue", mq_opts));
  json_array_append_new (mounts, mount_json ("/sys", "sysfs", "sysfs", sys_opts));
}

/* The user's -v binds, last: over everything else. */
static void
add_user_binds (json_t *mounts, const struct sb_plan *p)
{
  static const char *const ro_bind[]
      = { "rbind", "ro", "nosuid", "nodev", NULL };
  static const char *const rw_bind[] = { "rbind", "rw", "nosuid", "nodev", NULL };
  for (const char *const *b = p->user_binds; b && b[0] && b[1] && b[2];
       b += 3)
    json_array_append_new (mounts,
                           mount_json (b[1], "bind", b[0],
                                       strcmp (b[2], "ro") == 0 ? ro_bind
                                                                : rw_bind));
}

/* The agent's state volume, over its home. */
static void
add_state_binds (json_t *mounts, const struct sb_plan *p)
{
  static const char *const rw_bind[] = { "rbind", "rw", "nosuid", "nodev", NULL };
  for (const char *const *b = p->state_binds; b && b[0] && b[1]; b += 2)
    json_array_append_new (mounts, mount_json (b[1], "bind", b[0], rw_bind));
}

static void
add_mounts (json_t *mounts, const struct sb_plan *p)
{
  static const char *const ro_bind[]
      = { "rbind", "ro", "nosuid", "nodev", NULL };
  static const char *const tmp_opts[]
      = { "nosuid", "nodev", "mode=1777", NULL };
  static const char *const run_opts[] = { "nosuid", "nodev", "mode=755", NULL };
  static const char *const rw_bind[] = { "rbind", "rw", "nosuid", "nodev", NULL };
  struct stat st;

  add_kernel_mounts (mounts);
  for (const char *const *d = host_system_dirs; *d; d++)
    if (lstat (*d, &st) == 0 && S_ISDIR (st.st_mode))
      json_array_append_new (mounts, mount_json (*d, "bind", *d, ro_bind));
  json_array_append_new (mounts, mount_json ("/tmp", "tmpfs", "tmpfs", tmp_opts));
  json_array_append_new (mounts,
                         mount_json ("/var/tmp", "tmpfs", "tmpfs", tmp_opts));
  json_array_append_new (mounts, mount_json ("/run", "tmpfs", "tmpfs", run_opts));
  /* Home before the workspace: a workspace inside the home stays visible. */
  json_array_append_new (mounts,
                         mount_json (p->home, "bind", p->home_source, rw_bind));
  add_state_binds (mounts, p);
  json_array_append_new (mounts,
                         mount_json (p->workspace, "bind", p->workspace, rw_bind));
  add_user_binds (mounts, p);
}

int
sb_plan_host_spec (const struct sb_plan *p, json_t **out, nb_error_t *err)
{
  json_t *spec, *mounts = json_array (), *process, *linux_;
  static const char *const ns[]
      = { "user", "mount", "pid", "uts", "ipc", "network", "cgroup", NULL };
  json_t *nsarr = json_array ();

  for (const char *const *n = ns; *n; n++)
    json_array_append_new (nsarr, json_pack ("{s:s}", "type", *n));
  add_mounts (mounts, p);
  /* The agent runs as the user; it keeps no capabilities at all. */
  process = json_pack (
      "{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:b, s:{s:[], s:[], s:[], s:[], "
      "s:[]}}",
      "terminal", p->terminal, "user", "uid", (json_int_t) p->uid, "gid",
      (json_int_t) p->gid, "args", strv_json (p->argv), "env",
      strv_json (p->env), "cwd", p->workspace, "noNewPrivileges", 1,
      "capabilities", "bounding", "effective", "permitted", "inheritable",
      "ambient");
  linux_ = json_pack (
      "{s:o, s:[{s:I, s:I, s:i}], s:[{s:I, s:I, s:i}], s:o, s:o}",
      "namespaces", nsarr, "uidMappings", "containerID", (json_int_t) p->uid,
      "hostID", (json_int_t) p->host_uid, "size", 1, "gidMappings",
      "containerID", (json_int_t) p->gid, "hostID", (json_int_t) p->host_gid,
      "size", 1, "maskedPaths", strv_json (masked_paths), "readonlyPaths",
      strv_json (readonly_paths));
  if (linux_ && p->seccomp)
    json_object_set (linux_, "seccomp", p->seccomp);
  spec = json_pack ("{s:s, s:{s:s, s:b}, s:s, s:o, s:o, s:o}", "ociVersion",
                    "1.0.2", "root", "path", p->rootfs, "readonly", 1,
                    "hostname", p->hostname, "process", process, "mounts",
                    mounts, "linux", linux_);
  if (spec == NULL)
    return nb_error_make (err, ENOMEM, "plan the sandbox");
  *out = spec;
  return 0;
}

/* Docker's default set: what root in a container may do to its own files
 * and processes -- here only inside the sandbox's user namespace. */
static const char *const docker_caps[]
    = { "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",
        "CAP_FSETID", "CAP_KILL",         "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_SETFCAP",  "CAP_AUDIT_WRITE", NULL };

static json_t *
maps_json (const struct rt_idmap *m, size_t n)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    json_array_append_new (a, json_pack ("{s:I, s:I, s:I}", "containerID",
                                         (json_int_t) m[i].container_id,
                                         "hostID", (json_int_t) m[i].host_id,
                                         "size", (json_int_t) m[i].size));
  return a;
}

/* overlay's lowerdir lists the top layer first. */
static char *
lowerdir_option (const char *const *layers)
{
  size_t n = 0, len = strlen ("lowerdir=") + 1;
  char *opt, *p;

  while (layers[n])
    len += strlen (layers[n++]) + 1;
  opt = malloc (len);
  if (opt == NULL)
    return NULL;
  p = stpcpy (opt, "lowerdir=");
  for (size_t i = n; i-- > 0;)
    {
      p = stpcpy (p, layers[i]);
      if (i)
        *p++ = ':';
    }
  *p = '\0';
  return opt;
}

int
sb_plan_image_spec (const struct sb_plan *p, json_t **out, nb_error_t *err)
{
  static const char *const rw_bind[] = { "rbind", "rw", "nosuid", "nodev", NULL };
  static const char *const ns[]
      = { "user", "mount", "pid", "uts", "ipc", "network", "cgroup", NULL };
  cleanup_free char *lower = lowerdir_option (p->layers);
  cleanup_free char *upper = NULL, *work = NULL;
  json_t *spec, *mounts = json_array (), *process, *linux_, *caps, *none;
  json_t *nsarr = json_array ();

  if (lower == NULL || asprintf (&upper, "upperdir=%s", p->upper) < 0
      || asprintf (&work, "workdir=%s", p->work) < 0)
    return nb_error_make (err, ENOMEM, "plan the sandbox");
  {
    /* userxattr: whiteouts and opaque dirs as user.overlay.* xattrs, the
     * only kind an unprivileged overlay may write (what the extractor made
     * of the image's whiteouts). */
    const char *root_opts[] = { lower, upper, work, "userxattr", NULL };
    json_array_append_new (mounts,
                           mount_json ("/", "overlay", "overlay", root_opts));
  }
  add_kernel_mounts (mounts);
  add_state_binds (mounts, p);
  json_array_append_new (mounts,
                         mount_json (p->workspace, "bind", p->workspace, rw_bind));
  add_user_binds (mounts, p);
  for (const char *const *n = ns; *n; n++)
    json_array_append_new (nsarr, json_pack ("{s:s}", "type", *n));
  /* Root keeps Docker's set; another user has none, but may gain them
   * through the image's own sudo (the bounding set). */
  caps = strv_json (docker_caps);
  none = json_array ();
  process = json_pack (
      "{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:b, s:{s:O, s:O, s:O, s:[], "
      "s:[]}}",
      "terminal", p->terminal, "user", "uid", (json_int_t) p->uid, "gid",
      (json_int_t) p->gid, "args", strv_json (p->argv), "env",
      strv_json (p->env), "cwd", p->workspace, "noNewPrivileges",
      p->no_new_privs, "capabilities", "bounding", caps, "effective",
      p->uid == 0 ? caps : none, "permitted", p->uid == 0 ? caps : none,
      "inheritable", "ambient");
  json_decref (caps);
  json_decref (none);
  linux_ = json_pack ("{s:o, s:o, s:o, s:o, s:o}", "namespaces", nsarr,
                      "uidMappings", maps_json (p->uid_maps, p->n_uid_maps),
                      "gidMappings", maps_json (p->gid_maps, p->n_gid_maps),
                      "maskedPaths", strv_json (masked_paths),
                      "readonlyPaths", strv_json (readonly_paths));
  if (linux_ && p->seccomp)
    json_object_set (linux_, "seccomp", p->seccomp);
  spec = json_pack ("{s:s, s:{s:s, s:b}, s:s, s:o, s:o, s:o}", "ociVersion",
                    "1.0.2", "root", "path", p->rootfs, "readonly", 0,
                    "hostname", p->hostname, "process", process, "mounts",
                    mounts, "linux", linux_);
  if (spec == NULL)
    return nb_error_make (err, ENOMEM, "plan the sandbox");
  *out = spec;
  return 0;
}

int
sb_plan_host_rootfs (const char *rootfs, nb_error_t *err)
{
  if (nb_mkdir_p (rootfs, 0755, err) < 0)
    return -1;
  for (const char *const *d = host_system_dirs; *d; d++)
    {
      char target[PATH_MAX];
      cleanup_free char *link = NULL;
      ssize_t n = readlink (*d, target, sizeof target - 1);
      if (n < 0)
        continue;
      target[n] = '\0';
      link = nb_path_join (rootfs, *d);
      if (link == NULL)
        return nb_error_make (err, ENOMEM, "rootfs");
      if (symlink (target, link) < 0 && errno != EEXIST)
        return nb_error_make (err, errno, "symlink %s", link);
    }
  return 0;
}
