#define _GNU_SOURCE
#include "runtime/rootfs.h"
#include "runtime/base/cleanup.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <unistd.h>

static int
openat2_in_root (int rootfd, const char *path, int flags)
{
  struct open_how how = {
    .flags = (uint64_t) (flags | O_CLOEXEC),
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  while (*path == '/')
    path++;
  if (*path == '\0')
    path = ".";
  return (int) syscall (SYS_openat2, rootfd, path, &how, sizeof how);
}

int
rt_open_in_root (int rootfd, const char *path, int create, nb_error_t *err)
{
  cleanup_free char *copy = NULL;
  char *slash;
  int fd;

  fd = openat2_in_root (rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || !create)
    {
      if (fd < 0)
        return nb_error_make (err, errno, "open %s in the rootfs", path);
      return fd;
    }
  copy = strdup (path);
  if (copy == NULL)
    return nb_error_make (err, ENOMEM, "open %s", path);
  /* Walk prefix by prefix, each resolved from the root again, creating what
   * is missing in the directory that resolution landed in. */
  for (slash = copy + 1;; slash++)
    {
      char *end = strchr (slash, '/');
      bool last = end == NULL || end[1] == '\0';
      cleanup_close int parent = -1;
      char *name;

      if (end)
        *end = '\0';
      name = strrchr (copy, '/');
      *name = '\0';
      parent = openat2_in_root (rootfd, copy[0] ? copy : "/",
                                O_PATH | O_DIRECTORY);
      *name = '/';
      name++;
      if (parent < 0)
        return nb_error_make (err, errno, "open %s in the rootfs", copy);
      if (last && create == 'f')
        {
          int f = openat (parent, name,
                          O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
                          0644);
          if (f < 0 && errno != EEXIST)
            return nb_error_make (err, errno, "create %s in the rootfs", path);
          if (f >= 0)
            close (f);
        }
      else if (mkdirat (parent, name, 0755) < 0 && errno != EEXIST)
        return nb_error_make (err, errno, "mkdir %s in the rootfs", copy);
      if (last)
        break;
      *end = '/';
      slash = end;
    }
  fd = openat2_in_root (rootfd, path, O_PATH);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s in the rootfs", path);
  return fd;
}

static int
set_attrs (int tree, const char *what, uint64_t attrs, bool recursive,
           nb_error_t *err)
{
  struct mount_attr attr = { .attr_set = attrs };
  if (attrs == 0)
    return 0;
  if (mount_setattr (tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0),
                     &attr, sizeof attr)
      < 0)
    return nb_error_make (err, errno, "set mount options of %s", what);
  return 0;
}

/* Clone SOURCE (a host path, or the tree at SRCFD when SOURCE is NULL) and
 * attach it at DESTFD with ATTRS. */
static int
bind_tree (int srcfd, const char *source, int destfd, const char *dest,
           uint64_t attrs, bool recursive, nb_error_t *err)
{
  cleanup_close int tree = -1;
  unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
                       | (recursive ? AT_RECURSIVE : 0);

  if (source)
    tree = open_tree (AT_FDCWD, source, flags);
  else
    tree = open_tree (srcfd, "", flags | AT_EMPTY_PATH);
  if (tree < 0)
    return nb_error_make (err, errno, "bind %s on %s", source ? source : dest,
                          dest);
  if (set_attrs (tree, dest, attrs, recursive, err) < 0)
    return -1;
  if (move_mount (tree, "", destfd, "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
      < 0)
    return nb_error_make (err, errno, "bind %s on %s", source ? source : dest,
                          dest);
  return 0;
}

static int
mount_at_fd (const char *source, int fd, const char *dest, const char *type,
             unsigned long flags, const char *data, nb_error_t *err)
{
  char target[64];
  snprintf (target, sizeof target, "/proc/self/fd/%d", fd);
  if (mount (source, target, type, flags, data) < 0)
    return nb_error_make (err, errno, "mount %s on %s", type, dest);
  return 0;
}

static int
do_mount (int rootfd, const struct rt_spec *spec, const struct rt_mount *m,
          nb_error_t *err)
{
  cleanup_close int dest = -1;
  int srcfd = -1;
  int create = 'd';

  cleanup_close int here = -1;

  for (size_t i = 0; m->bind && i < spec->n_bind_fds; i++)
    if (strcmp (spec->bind_fds[i].source, m->source) == 0)
      {
        /* The fd nsbox pinned belongs to the mount namespace it was opened
         * in, which open_tree cannot clone from here; so the source is
         * opened again in ours, with no symlink allowed on the way, and must
         * be the very same file. */
        struct open_how how = { .flags = O_PATH | O_CLOEXEC,
                                .resolve = RESOLVE_NO_SYMLINKS
                                           | RESOLVE_NO_MAGICLINKS };
        struct stat pin, now;
        here = (int) syscall (SYS_openat2, AT_FDCWD, m->source, &how,
                              sizeof how);
        if (here < 0 || fstat (spec->bind_fds[i].fd, &pin) < 0
            || fstat (here, &now) < 0 || pin.st_dev != now.st_dev
            || pin.st_ino != now.st_ino)
          {
            nb_error_make (err, here < 0 ? errno : 0,
                           "bind %s on %s: it changed while nsbox set the "
                           "sandbox up",
                           m->source, m->destination);
            return nb_error_hint (err, "something swapped it (or a folder "
                                       "on its path) for another or for a "
                                       "symlink: not followed");
          }
        srcfd = here;
        break;
      }
  if (m->bind)
    {
      struct stat st;
      if (srcfd >= 0 ? fstat (srcfd, &st) < 0 : stat (m->source, &st) < 0)
        return nb_error_make (err, errno, "bind %s on %s", m->source,
                              m->destination);
      if (!S_ISDIR (st.st_mode))
        create = 'f';
    }
  dest = rt_open_in_root (rootfd, m->destination, create, err);
  if (dest < 0)
    return nb_error_wrap (err, "mount %s", m->destination);

  if (m->bind)
    {
      if (bind_tree (srcfd, srcfd >= 0 ? NULL : m->source, dest,
                     m->destination, m->attr_set,
                     m->recursive, err)
          < 0)
        return -1;
    }
  else if (strcmp (m->type, "cgroup") == 0)
    {
      /* Engines ask for "cgroup" and mean the host's kind: cgroup2 where
       * the host is pure v2 (the cgroup namespace then shows the
       * container's own subtree); on a v1 or hybrid host, whose
       * hierarchies are mounted already, a read-only view of the host's
       * /sys/fs/cgroup (what crun does there, in essence). */
      struct statfs sfs;
      bool v2 = statfs ("/sys/fs/cgroup", &sfs) == 0
                && sfs.f_type == CGROUP2_SUPER_MAGIC;
      if (v2)
        {
          if (mount_at_fd ("cgroup2", dest, m->destination, "cgroup2",
                           m->flags, NULL, err)
              < 0)
            return -1;
        }
      else if (bind_tree (-1, "/sys/fs/cgroup", dest, m->destination,
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
                              | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                          true, err)
               < 0)
        return -1;
    }
  else if (mount_at_fd (m->source ? m->source : m->type, dest, m->destination,
                        m->type, m->flags, m->data, err)
           < 0)
    {
      /* sysfs needs a network namespace of our own; where we share the
       * host's, fall back to a read-only view of the host's (as crun does).
       * A fresh proc (or sysfs) is refused where the one above has masked
       * paths -- inside another sandbox (the kernel's mount_too_revealing):
       * then the one above is bound, masks and all, and the agent sees its
       * processes; said once. */
      bool is_proc = strcmp (m->type, "proc") == 0;
      if ((!is_proc && strcmp (m->type, "sysfs") != 0)
          || (*err)->errno_val != EPERM)
        return -1;
      nb_error_free (err);
      if (is_proc)
        fprintf (stderr, "nsbox: note: a fresh /proc cannot be mounted here "
                         "(nsbox runs in a sandbox whose /proc has masked "
                         "paths); the sandbox sees that /proc instead\n");
      if (bind_tree (-1, is_proc ? "/proc" : "/sys", dest, m->destination,
                     (is_proc ? 0 : MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NOSUID
                         | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     true, err)
          < 0)
        return -1;
    }
  if (m->propagation)
    {
      char target[64];
      cleanup_close int fresh = rt_open_in_root (rootfd, m->destination, 0, err);
      if (fresh < 0)
        return -1;
      snprintf (target, sizeof target, "/proc/self/fd/%d", fresh);
      if (mount (NULL, target, NULL, m->propagation, NULL) < 0)
        return nb_error_make (err, errno, "set propagation of %s",
                              m->destination);
    }
  return 0;
}

/* A user namespace cannot mknod, so the standard devices are the host's
 * nodes bind-mounted (crun does the same rootless). */
static const char *const devices[]
    = { "null", "zero", "full", "random", "urandom", "tty", NULL };

static int
setup_dev (int rootfd, nb_error_t *err)
{
  static const char *const links[][2] = {
    { "fd", "/proc/self/fd" },   { "stdin", "/proc/self/fd/0" },
    { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
    { "ptmx", "pts/ptmx" },
  };
  cleanup_close int devfd = -1;

  devfd = openat2_in_root (rootfd, "/dev", O_PATH | O_DIRECTORY);
  if (devfd < 0)
    return nb_error_make (err, errno, "open /dev in the rootfs");
  for (size_t i = 0; devices[i]; i++)
    {
      char host[32], *inside = host;
      cleanup_close int dest = -1;
      snprintf (host, sizeof host, "/dev/%s", devices[i]);
      /* The mount point, made in /dev itself (the walk from the root is
       * for what already exists there, which may be a symlink). */
      dest = openat (devfd, devices[i],
                     O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
                     0644);
      if (dest < 0 && errno != EEXIST)
        return nb_error_make (err, errno, "create %s in the rootfs", inside);
      if (dest < 0)
        dest = rt_open_in_root (rootfd, inside, 'f', err);
      if (dest < 0)
        return -1;
      if (bind_tree (-1, host, dest, inside, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                     false, err)
          < 0)
        return -1;
    }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    {
      if (symlinkat (links[i][1], devfd, links[i][0]) == 0 || errno == EEXIST)
        continue;
      return nb_error_make (err, errno, "symlink /dev/%s", links[i][0]);
    }
  return 0;
}

static bool
has_mount_at (const struct rt_spec *spec, const char *dest)
{
  for (size_t i = 0; i < spec->n_mounts; i++)
    if (strcmp (spec->mounts[i].destination, dest) == 0)
      return true;
  return false;
}

static int
mask_paths (int rootfd, const char *const *paths, nb_error_t *err)
{
  for (; paths && *paths; paths++)
    {
      cleanup_close int fd = openat2_in_root (rootfd, *paths, O_PATH);
      struct stat st;
      if (fd < 0 && errno == ENOENT)
        continue;
      if (fd < 0 || fstat (fd, &st) < 0)
        return nb_error_make (err, errno, "mask %s", *paths);
      if (S_ISDIR (st.st_mode))
        {
          if (mount_at_fd ("tmpfs", fd, *paths, "tmpfs", MS_RDONLY, NULL, err)
              < 0)
            return nb_error_wrap (err, "mask %s", *paths);
        }
      else if (bind_tree (-1, "/dev/null", fd, *paths, MOUNT_ATTR_RDONLY,
                          false, err)
               < 0)
        return nb_error_wrap (err, "mask %s", *paths);
    }
  return 0;
}

static int
readonly_paths (int rootfd, const char *const *paths, nb_error_t *err)
{
  for (; paths && *paths; paths++)
    {
      cleanup_close int fd = openat2_in_root (rootfd, *paths, O_PATH);
      if (fd < 0 && errno == ENOENT)
        continue;
      if (fd < 0)
        return nb_error_make (err, errno, "make %s read-only", *paths);
      if (bind_tree (fd, NULL, fd, *paths,
                     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
                         | MOUNT_ATTR_NOEXEC,
                     true, err)
          < 0)
        return nb_error_wrap (err, "make %s read-only", *paths);
    }
  return 0;
}

/* An overlay mount whose destination is "/" is the rootfs itself (nsbox's
 * image templates: the image's layers under the sandbox's own upper dir),
 * mounted on root.path in the sandbox's mount namespace -- rootless overlay
 * needs the user namespace that owns it. */
static bool
is_overlay_root (const struct rt_mount *m)
{
  return m->type && strcmp (m->type, "overlay") == 0
         && strcmp (m->destination, "/") == 0;
}

/* Where KEY ("name=") starts an option of the comma-separated DATA; NULL
 * when none does. */
static const char *
find_option (const char *data, const char *key)
{
  const char *k;

  for (k = strstr (data, key); k && k != data && k[-1] != ',';
       k = strstr (k + 1, key))
    ;
  return k;
}

bool
rt_rootfs_is_overlay (const struct rt_spec *spec)
{
  return spec->n_mounts > 0 && is_overlay_root (&spec->mounts[0]);
}

char *
rt_rootfs_overlay_workdir (const struct rt_spec *spec)
{
  const char *data, *w;

  if (!rt_rootfs_is_overlay (spec) || (data = spec->mounts[0].data) == NULL)
    return NULL;
  w = find_option (data, "workdir=");
  if (w == NULL || w[8] != '/')
    return NULL;
  w += 8;
  return strndup (w, strcspn (w, ","));
}

int
rt_rootfs_lock_work (const struct rt_spec *spec)
{
  cleanup_free char *dir = rt_rootfs_overlay_workdir (spec);
  int fd = dir ? open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

  if (fd < 0)
    return -1;
  while (flock (fd, LOCK_SH) < 0)
    if (errno != EINTR)
      {
        close (fd);
        return -1;
      }
  return fd;
}

/* mount(2) takes one page of options, and layer paths are long: when every
 * lowerdir shares one parent (nsbox's layers/), name them from there. */
static char *
shorten_lowerdirs (const char *data, char **cwd)
{
  const char *lo = find_option (data, "lowerdir=");
  char *out = NULL, *list, *end, *parent = NULL;
  size_t plen = 0;

  *cwd = NULL;
  if (lo == NULL)
    return strdup (data);
  list = strndup (lo + 9, strcspn (lo + 9, ","));
  if (list == NULL)
    return NULL;
  for (char *p = list; *p; p = *end ? end + 1 : end)
    {
      char *slash;
      end = p + strcspn (p, ":");
      slash = memrchr (p, '/', (size_t) (end - p));
      if (p[0] != '/' || slash == NULL || slash == p)
        goto keep;
      if (parent == NULL)
        {
          parent = p;
          plen = (size_t) (slash - p);
        }
      else if ((size_t) (slash - p) != plen || memcmp (p, parent, plen) != 0)
        goto keep;
    }
  if (parent == NULL)
    goto keep;
  {
    size_t o = 0;
    char *short_list = malloc (strlen (list) + 1);
    if (short_list == NULL)
      goto keep;
    for (char *p = list; *p; p = *end ? end + 1 : end)
      {
        end = p + strcspn (p, ":");
        if (o)
          short_list[o++] = ':';
        memcpy (short_list + o, p + plen + 1, (size_t) (end - p) - plen - 1);
        o += (size_t) (end - p) - plen - 1;
      }
    short_list[o] = '\0';
    *cwd = strndup (parent, plen);
    if (asprintf (&out, "%.*slowerdir=%s%s", (int) (lo - data), data,
                  short_list, lo + 9 + strlen (list))
        < 0)
      out = NULL;
    free (short_list);
  }
  free (list);
  return out;
keep:
  free (list);
  return strdup (data);
}

static int
mount_overlay_root (const char *root, const struct rt_mount *m,
                    nb_error_t *err)
{
  cleanup_free char *cwd = NULL;
  cleanup_free char *data = shorten_lowerdirs (m->data ? m->data : "", &cwd);
  int e;

  if (data == NULL)
    return nb_error_make (err, ENOMEM, "mount the overlay rootfs");
  if (cwd && chdir (cwd) < 0)
    return nb_error_make (err, errno, "chdir to the layers in %s", cwd);
  if (mount ("overlay", root, "overlay", m->flags, data) == 0)
    return chdir ("/") < 0 ? nb_error_make (err, errno, "chdir /") : 0;
  e = errno;
  nb_error_make (err, e, "mount the overlay rootfs on %s", root);
  if (e == EPERM || e == ENODEV)
    nb_error_hint (err, "overlayfs in a user namespace needs Linux 5.11 or "
                        "later and the overlay module: run 'nsbox doctor'");
  else if (e == EINVAL || e == EOPNOTSUPP)
    nb_error_hint (err, "the sandbox's upper dir must be on a filesystem with "
                        "user extended attributes (ext4, xfs, btrfs, tmpfs)");
  return -1;
}

/* linux.devices: a node the standard /dev already has is left alone;
 * others are made with mknod where nsbox may (no user namespace of the
 * container's: root), and bound from the host's node of the same path and
 * number in a user namespace, where mknod is refused (crun's way). */
static int
make_devices (int rootfd, const struct rt_spec *spec, nb_error_t *err)
{
  bool userns = (spec->clone_flags & CLONE_NEWUSER) != 0;
  size_t i;
  json_t *d;

  json_array_foreach (spec->devices, i, d)
  {
    const char *path = json_string_value (json_object_get (d, "path"));
    char type = json_string_value (json_object_get (d, "type"))[0];
    unsigned major = (unsigned) json_integer_value (json_object_get (d, "major"));
    unsigned minor = (unsigned) json_integer_value (json_object_get (d, "minor"));
    json_t *jm = json_object_get (d, "fileMode");
    mode_t mode = jm ? (mode_t) json_integer_value (jm) & 07777 : 0666;
    mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
    dev_t rdev = makedev (major, minor);
    cleanup_close int have = openat2_in_root (rootfd, path, O_PATH);
    cleanup_close int parent = -1, dest = -1;
    cleanup_free char *dir = strdup (path);
    const char *name = strrchr (path, '/') + 1;
    struct stat st;

    if (have >= 0 && fstat (have, &st) == 0 && (st.st_mode & S_IFMT) == kind
        && (kind == S_IFIFO || st.st_rdev == rdev))
      continue;
    if (dir == NULL)
      return nb_error_make (err, ENOMEM, "devices");
    *strrchr (dir, '/') = '\0';
    if (!userns || kind == S_IFIFO)
      {
        cleanup_close int p = rt_open_in_root (rootfd, dir[0] ? dir : "/",
                                               'd', err);
        cleanup_close int pd = -1;
        char at[64];
        if (p < 0)
          return nb_error_wrap (err, "device %s", path);
        snprintf (at, sizeof at, "/proc/self/fd/%d", p);
        pd = open (at, O_DIRECTORY | O_CLOEXEC);
        if (pd < 0 || mknodat (pd, name, kind | mode, rdev) < 0)
          return nb_error_make (err, errno, "mknod %s", path);
        if (fchownat (pd, name,
                      (uid_t) json_integer_value (json_object_get (d, "uid")),
                      (gid_t) json_integer_value (json_object_get (d, "gid")),
                      AT_SYMLINK_NOFOLLOW)
            < 0)
          return nb_error_make (err, errno, "chown %s", path);
        continue;
      }
    if (stat (path, &st) < 0 || (st.st_mode & S_IFMT) != kind
        || st.st_rdev != rdev)
      {
        nb_error_make (err, 0, "device %s (%c %u:%u): the host has no such "
                               "node to bind",
                       path, type, major, minor);
        return nb_error_hint (err, "in a user namespace device nodes cannot "
                                   "be made, only bound from the host's");
      }
    dest = rt_open_in_root (rootfd, path, 'f', err);
    if (dest < 0)
      return nb_error_wrap (err, "device %s", path);
    if (bind_tree (-1, path, dest, path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                   false, err)
        < 0)
      return -1;
  }
  return 0;
}

/* linux.sysctl, through the container's own /proc (the kernel says which
 * are the container's to set: those of its namespaces). */
static int
apply_sysctl (int rootfd, const struct rt_spec *spec, nb_error_t *err)
{
  const char *key;
  json_t *v;

  json_object_foreach (spec->sysctl, key, v)
  {
    char path[512];
    const char *val = json_string_value (v);
    int n = snprintf (path, sizeof path, "/proc/sys/%s", key), fd;
    if (n >= (int) sizeof path)
      return nb_error_make (err, ENAMETOOLONG, "sysctl %s", key);
    for (char *p = path + 10; *p; p++)
      if (*p == '.')
        *p = '/';
    fd = openat2_in_root (rootfd, path, O_WRONLY);
    if (fd < 0 || write (fd, val, strlen (val)) != (ssize_t) strlen (val))
      {
        int e = errno;
        if (fd >= 0)
          close (fd);
        return nb_error_make (err, e, "sysctl %s=%s", key, val);
      }
    close (fd);
  }
  return 0;
}

int
rt_rootfs_setup (const struct rt_spec *spec,
                 int (*before_pivot) (void *arg, nb_error_t *err), void *arg,
                 nb_error_t *err)
{
  cleanup_close int rootfd = -1;
  size_t first = 0;

  /* Nothing we mount may propagate back to the host. */
  if (mount (NULL, "/", NULL, spec->rootfs_propagation, NULL) < 0)
    return nb_error_make (err, errno, "make / private");
  /* The root must be a mount point for pivot_root. */
  if (spec->n_mounts > 0 && is_overlay_root (&spec->mounts[0]))
    {
      if (mount_overlay_root (spec->root_path, &spec->mounts[0], err) < 0)
        return -1;
      first = 1;
    }
  else if (mount (spec->root_path, spec->root_path, NULL, MS_BIND | MS_REC,
                  NULL)
           < 0)
    return nb_error_make (err, errno, "bind the rootfs %s", spec->root_path);
  rootfd = open (spec->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return nb_error_make (err, errno, "open the rootfs %s", spec->root_path);

  for (size_t i = first; i < spec->n_mounts; i++)
    if (do_mount (rootfd, spec, &spec->mounts[i], err) < 0)
      return -1;
  if (has_mount_at (spec, "/dev") && setup_dev (rootfd, err) < 0)
    return -1;
  if (spec->devices && make_devices (rootfd, spec, err) < 0)
    return -1;
  if (spec->sysctl && apply_sysctl (rootfd, spec, err) < 0)
    return -1;
  if (mask_paths (rootfd, spec->masked_paths, err) < 0
      || readonly_paths (rootfd, spec->readonly_paths, err) < 0)
    return -1;
  if (spec->root_readonly
      && set_attrs (rootfd, "/", MOUNT_ATTR_RDONLY, false, err) < 0)
    return -1;

  if (before_pivot && before_pivot (arg, err) < 0)
    return -1;
  /* pivot_root(".", ".") stacks the old root under the new one; detaching
   * it leaves no path back to the host's tree (the runc/lxc idiom). */
  if (fchdir (rootfd) < 0)
    return nb_error_make (err, errno, "chdir to the rootfs");
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return nb_error_make (err, errno, "pivot_root to %s", spec->root_path);
  if (umount2 (".", MNT_DETACH) < 0)
    return nb_error_make (err, errno, "detach the old root");
  return rt_chdir_in_root (spec->cwd, err);
}

/* A mount namespace given by path is someone else's tree, already set up
 * (another container's, a pod's): the container takes it as it is.  Its
 * root, mounts, masked paths, devices and sysctls were made by whoever made
 * the namespace; setting ours up there would change theirs, and
 * pivot_root would move every process of the namespace whose root is the
 * old one -- the other container's too (runc's issue #1700 shows where
 * running the set-up there leads).  setns sets our root and cwd to the
 * namespace's root. */
int
rt_rootfs_join (const struct rt_spec *spec, int mnt_fd,
                int (*before_pivot) (void *arg, nb_error_t *err), void *arg,
                nb_error_t *err)
{
  if (setns (mnt_fd, CLONE_NEWNS) < 0)
    {
      int e = errno;
      nb_error_make (err, e, "join the mount namespace at %s",
                     spec->mnt_join_path);
      if (e == EPERM)
        return nb_error_hint (err, "the kernel lets a process join a mount "
                                   "namespace only with CAP_SYS_ADMIN in "
                                   "the user namespace that owns it: join "
                                   "that user namespace too (its "
                                   "/proc/PID/ns/user), with no new one");
      if (e == EINVAL)
        return nb_error_hint (err, "it is not a mount namespace");
      return -1;
    }
  if (before_pivot && before_pivot (arg, err) < 0)
    return -1;
  return rt_chdir_in_root (spec->cwd, err);
}

int
rt_chdir_in_root (const char *cwd, nb_error_t *err)
{
  cleanup_close int root = -1, fd = -1;
  char buf[PATH_MAX];

  root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return nb_error_make (err, errno, "open /");
  fd = openat2_in_root (root, cwd, O_PATH | O_DIRECTORY);
  if (fd < 0)
    {
      int e = errno;
      nb_error_make (err, e, "chdir to %s", cwd);
      if (e == ELOOP || e == EXDEV)
        return nb_error_hint (err, "a /proc magic link (such as "
                                   "/proc/self/fd/N) is not followed to the "
                                   "working directory: it may lead out of "
                                   "the container (the CVE-2024-21626 "
                                   "class)");
      return -1;
    }
  if (fchdir (fd) < 0)
    return nb_error_make (err, errno, "chdir to %s", cwd);
  /* However it got there: the kernel shows a directory outside our root
   * as unreachable, which getcwd reports as ENOENT. */
  if (getcwd (buf, sizeof buf) == NULL && errno == ENOENT)
    return nb_error_make (err, 0, "chdir to %s: it is outside the "
                                  "container's root",
                          cwd);
  return 0;
}
