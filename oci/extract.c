#define _GNU_SOURCE
/* Layer extraction in one streaming pass:
 *
 *   fd --read--> [sha256: blob digest] --> outer libarchive reader (gzip,
 *   zstd or none; "raw" format: its data is the uncompressed stream)
 *   --> [sha256: diff_id] --> inner libarchive reader (tar) --> entries
 *
 * Entries are written by hand with fd-relative calls rather than by
 * archive_write_disk: every parent directory is opened with openat2
 * (RESOLVE_BENEATH), so neither "..", an absolute name nor a symlink planted
 * by an earlier entry can make a later entry land outside the layer dir. */
#include "oci/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#define BLOB_BUF_SIZE (1024 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OPAQUE_XATTR "user.overlay.opaque"

/* A directory whose final mode and mtime are applied after every entry has
 * been written: until then it stays 0700, so a read-only directory in the
 * layer does not stop later entries from landing in it. */
struct dir_fixup
{
  char *path; /* relative to the layer dir; "" is the layer dir itself */
  mode_t mode;
  struct timespec mtime;
  bool has_mtime;
  bool superseded; /* a later entry named the same directory */
};

struct extract
{
  int fd;   /* the blob */
  int dest; /* the layer dir */
  const struct oci_extract_opts *opts;
  char label[OCI_DIGEST_LEN + 32]; /* "layer sha256:..." for messages */

  unsigned char *buf;
  long long devices_skipped;
  struct oci_hasher *blob_hash;
  struct oci_hasher *tar_hash;
  unsigned long long blob_bytes;
  struct archive *outer;
  struct archive *inner;
  bool outer_eof;
  char *outer_error; /* why the outer reader failed, said instead of the
                        inner reader's echo of it */

  /* The parent directory of the previous entry: entries of one directory
   * come together in a tar, so this saves most openat2 calls. */
  char *parent_path;
  int parent_fd;
  int stale_fd; /* an invalidated parent_fd, still in use by the caller */

  struct dir_fixup *dirs;
  size_t n_dirs;
  size_t cap_dirs;
};

/* Names come from the layer: keep control characters (terminal escapes) and
 * unbounded lengths out of error messages. */
static const char *
printable (const char *s, char out[256])
{
  size_t i;
  for (i = 0; s[i] && i < 250; i++)
    out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
  if (s[i])
    {
      memcpy (out + i, "...", 3);
      i += 3;
    }
  out[i] = '\0';
  return out;
}

/* "LABEL: entry 'NAME'WHAT": WHAT starts with ": " or " ". */
static int entry_error (struct extract *x, nb_error_t *err, int errnum,
                        const char *name, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

static int
entry_error (struct extract *x, nb_error_t *err, int errnum, const char *name,
             const char *fmt, ...)
{
  cleanup_free char *what = NULL;
  char shown[256];
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&what, fmt, ap) < 0)
    what = NULL;
  va_end (ap);
  return nb_error_make (err, errnum, "%s: entry '%s'%s", x->label,
                        printable (name, shown), what ? what : ": ?");
}

/* "./a//b/./c/" -> "a/b/c"; "." or "./" -> "" (the layer dir itself).
 * Returns -1 for an absolute name, -2 for one with a ".." component. */
static int
normalize_name (const char *raw, char **out)
{
  size_t n = strlen (raw);
  const char *p = raw;
  char *o, *w;

  if (raw[0] == '/')
    return -1;
  o = w = malloc (n + 1);
  if (o == NULL)
    return -3;
  while (*p)
    {
      const char *s = p;
      size_t len;

      while (*p && *p != '/')
        p++;
      len = p - s;
      if (len == 2 && s[0] == '.' && s[1] == '.')
        {
          free (o);
          return -2;
        }
      if (len > 0 && !(len == 1 && s[0] == '.'))
        {
          if (w != o)
            *w++ = '/';
          memcpy (w, s, len);
          w += len;
        }
      while (*p == '/')
        p++;
    }
  *w = '\0';
  *out = o;
  return 0;
}

static int
check_name (struct extract *x, const char *raw, char **out, nb_error_t *err)
{
  switch (normalize_name (raw, out))
    {
    case 0:
      return 0;
    case -1:
      return entry_error (x, err, 0, raw,
                          " leaves the layer (an absolute name)");
    case -2:
      return entry_error (x, err, 0, raw,
                          " leaves the layer (a \"..\" component)");
    default:
      return entry_error (x, err, ENOMEM, raw, ": read the name");
    }
}

static int
open_beneath (int dirfd, const char *path, int flags)
{
  struct open_how how = {
    .flags = flags | O_CLOEXEC,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
  };
  int fd;

  do
    fd = syscall (SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd;
}

static int
parent_error (struct extract *x, const char *raw, int errnum, nb_error_t *err)
{
  if (errnum == EXDEV)
    return entry_error (x, err, 0, raw,
                        ": its parent leads outside the layer (symlink)");
  if (errnum == ELOOP)
    return entry_error (x, err, 0, raw,
                        ": its parent is a symlink loop or a magic link");
  return entry_error (x, err, errnum, raw, ": open its parent directory");
}

static void
invalidate_parent_cache (struct extract *x)
{
  free (x->parent_path);
  x->parent_path = NULL;
  if (x->stale_fd >= 0)
    close (x->stale_fd);
  x->stale_fd = x->parent_fd;
  x->parent_fd = -1;
}

/* Open PARENT (below the layer dir), creating missing directories one by
 * one, each resolved beneath the layer dir again.  A tar need not list the
 * directories of its files; tar(1) creates them too. */
static int
make_parents (struct extract *x, const char *raw, char *parent, nb_error_t *err)
{
  cleanup_close int prev = -1;
  char *p = parent;

  for (;;)
    {
      char *slash = strchr (p, '/');
      const char *comp = p;
      int fd;

      if (slash)
        *slash = '\0';
      fd = open_beneath (x->dest, parent, O_PATH | O_DIRECTORY);
      if (fd < 0 && errno == ENOENT)
        {
          const char *base = strrchr (parent, '/');
          comp = base ? base + 1 : parent;
          if (mkdirat (prev >= 0 ? prev : x->dest, comp, 0755) < 0
              && errno != EEXIST)
            {
              int e = errno;
              if (slash)
                *slash = '/';
              return entry_error (x, err, e, raw, ": create its parent");
            }
          fd = open_beneath (x->dest, parent, O_PATH | O_DIRECTORY);
        }
      if (slash)
        *slash = '/';
      if (fd < 0)
        return parent_error (x, raw, errno, err);
      if (prev >= 0)
        close (prev);
      prev = fd;
      if (slash == NULL)
        return nb_steal_fd (&prev);
      p = slash + 1;
    }
}

/* The directory PARENT ("" = the layer dir), borrowed: do not close. */
static int
get_parent (struct extract *x, const char *raw, char *parent, nb_error_t *err)
{
  int fd;

  if (parent[0] == '\0')
    return x->dest;
  if (x->parent_path && strcmp (x->parent_path, parent) == 0)
    return x->parent_fd;
  fd = open_beneath (x->dest, parent, O_PATH | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT)
    fd = make_parents (x, raw, parent, err);
  else if (fd < 0)
    return parent_error (x, raw, errno, err);
  if (fd < 0)
    return -1;
  invalidate_parent_cache (x);
  x->parent_path = strdup (parent);
  if (x->parent_path == NULL)
    {
      close (fd);
      return entry_error (x, err, ENOMEM, raw, ": open its parent directory");
    }
  x->parent_fd = fd;
  return fd;
}

/* Make room for an entry whose name is taken: a later entry replaces an
 * earlier one, as with tar(1).  Nothing is followed: unlinkat removes a
 * symlink, not what it points to. */
static int
remove_existing (struct extract *x, const char *raw, int pfd, const char *base,
                 nb_error_t *err)
{
  if (unlinkat (pfd, base, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR)
    return entry_error (x, err, errno, raw, ": replace the existing file");
  /* The cached parent may lie inside the directory being removed. */
  invalidate_parent_cache (x);
  if (nb_rm_rf_at (pfd, base, err) < 0)
    return nb_error_wrap (err, "%s: entry '%s': replace the directory",
                          x->label, raw);
  return 0;
}

static int
set_owner (struct extract *x, struct archive_entry *e, const char *raw, int fd,
           int pfd, const char *base, nb_error_t *err)
{
  uid_t uid = archive_entry_uid (e);
  gid_t gid = archive_entry_gid (e);
  int r;

  if (!x->opts->keep_owners)
    return 0;
  if (fd >= 0)
    r = fchown (fd, uid, gid);
  else
    r = fchownat (pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0)
    return entry_error (x, err, errno, raw,
                        ": set owner uid %u gid %u (each id must be mapped in "
                        "the user namespace)",
                        (unsigned)uid, (unsigned)gid);
  return 0;
}

static bool
entry_times (struct archive_entry *e, struct timespec ts[2])
{
  if (!archive_entry_mtime_is_set (e))
    return false;
  ts[1].tv_sec = archive_entry_mtime (e);
  ts[1].tv_nsec = archive_entry_mtime_nsec (e);
  if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
    ts[1].tv_nsec = 0;
  ts[0] = ts[1];
  return true;
}

/* Only user.* xattrs: security.* and trusted.* are not ours to set, and
 * user.overlay.* would let a layer steer overlayfs (redirects, metacopy)
 * behind the whiteout conversion's back. */
static int
apply_xattrs (struct extract *x, struct archive_entry *e, const char *raw,
              int fd, nb_error_t *err)
{
  const char *name;
  const void *value;
  size_t size;
  char shown[256];

  if (archive_entry_xattr_reset (e) == 0)
    return 0;
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      if (strncmp (name, "user.", 5) != 0
          || strncmp (name, "user.overlay.", 13) == 0)
        continue;
      if (fsetxattr (fd, name, value, size, 0) < 0)
        return entry_error (x, err, errno, raw, ": set xattr %s",
                            printable (name, shown));
    }
  return 0;
}

static int
record_dir (struct extract *x, struct archive_entry *e, const char *path,
            const char *raw, nb_error_t *err)
{
  struct dir_fixup *d;
  struct timespec ts[2];

  if (x->n_dirs == x->cap_dirs)
    {
      size_t cap = x->cap_dirs ? 2 * x->cap_dirs : 256;
      struct dir_fixup *n = reallocarray (x->dirs, cap, sizeof *n);
      if (n == NULL)
        return entry_error (x, err, ENOMEM, raw, ": record the directory");
      x->dirs = n;
      x->cap_dirs = cap;
    }
  d = &x->dirs[x->n_dirs];
  d->path = strdup (path);
  if (d->path == NULL)
    return entry_error (x, err, ENOMEM, raw, ": record the directory");
  d->mode = archive_entry_perm (e) & 07777;
  d->has_mtime = entry_times (e, ts);
  d->mtime = ts[1];
  d->superseded = false;
  x->n_dirs++;
  return 0;
}

static int
write_dir (struct extract *x, struct archive_entry *e, const char *raw,
           const char *path, int pfd, const char *base, nb_error_t *err)
{
  cleanup_close int fd = -1;
  struct stat st;

  if (path[0] == '\0')
    {
      /* "./": the layer dir itself (its mode becomes the root's mode when
       * this is the top layer). */
      fd = openat (x->dest, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return entry_error (x, err, errno, raw, ": open the layer dir");
    }
  else
    {
      if (mkdirat (pfd, base, 0700) < 0)
        {
          if (errno != EEXIST)
            return entry_error (x, err, errno, raw, ": create the directory");
          if (fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return entry_error (x, err, errno, raw, ": stat");
          if (!S_ISDIR (st.st_mode))
            {
              if (remove_existing (x, raw, pfd, base, err) < 0)
                return -1;
              if (mkdirat (pfd, base, 0700) < 0)
                return entry_error (x, err, errno, raw,
                                    ": create the directory");
            }
        }
      if (x->opts->keep_owners || archive_entry_xattr_count (e) > 0)
        {
          fd = openat (pfd, base,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (fd < 0)
            return entry_error (x, err, errno, raw, ": open the directory");
        }
    }
  if (fd >= 0 && set_owner (x, e, raw, fd, -1, NULL, err) < 0)
    return -1;
  if (fd >= 0 && apply_xattrs (x, e, raw, fd, err) < 0)
    return -1;
  return record_dir (x, e, path, raw, err);
}

static int tar_error (struct extract *x, nb_error_t *err);

static int
write_file (struct extract *x, struct archive_entry *e, const char *raw,
            int pfd, const char *base, nb_error_t *err)
{
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  cleanup_close int fd = openat (pfd, base, flags, 0600);
  struct timespec ts[2];
  la_int64_t pos = 0;

  if (fd < 0 && errno == EEXIST)
    {
      if (remove_existing (x, raw, pfd, base, err) < 0)
        return -1;
      fd = openat (pfd, base, flags, 0600);
    }
  if (fd < 0)
    return entry_error (x, err, errno, raw, ": create the file");

  for (;;)
    {
      const void *buf;
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block (x->inner, &buf, &size, &offset);

      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return tar_error (x, err);
      /* Sparse files: the holes stay holes. */
      if (offset != pos)
        {
          if (lseek (fd, offset, SEEK_SET) < 0)
            return entry_error (x, err, errno, raw, ": seek");
          pos = offset;
        }
      if (nb_write_all (fd, buf, size) < 0)
        return entry_error (x, err, errno, raw, ": write");
      pos += size;
    }
  if (archive_entry_size_is_set (e) && pos < archive_entry_size (e)
      && ftruncate (fd, archive_entry_size (e)) < 0)
    return entry_error (x, err, errno, raw, ": write");

  /* chown before chmod: chown clears the setuid and setgid bits. */
  if (set_owner (x, e, raw, fd, -1, NULL, err) < 0)
    return -1;
  if (fchmod (fd, archive_entry_perm (e) & 07777) < 0)
    return entry_error (x, err, errno, raw, ": set the mode");
  if (apply_xattrs (x, e, raw, fd, err) < 0)
    return -1;
  if (entry_times (e, ts) && futimens (fd, ts) < 0)
    return entry_error (x, err, errno, raw, ": set the times");
  return 0;
}

static int
write_symlink (struct extract *x, struct archive_entry *e, const char *raw,
               int pfd, const char *base, nb_error_t *err)
{
  /* The target is not checked: a symlink may point anywhere (it is resolved
   * inside the container).  What openat2 refuses is writing through it. */
  const char *target = archive_entry_symlink (e);
  struct timespec ts[2];

  if (target == NULL || target[0] == '\0')
    return entry_error (x, err, 0, raw, ": a symlink without a target");
  if (symlinkat (target, pfd, base) < 0)
    {
      if (errno != EEXIST)
        return entry_error (x, err, errno, raw, ": create the symlink");
      if (remove_existing (x, raw, pfd, base, err) < 0)
        return -1;
      if (symlinkat (target, pfd, base) < 0)
        return entry_error (x, err, errno, raw, ": create the symlink");
    }
  if (set_owner (x, e, raw, -1, pfd, base, err) < 0)
    return -1;
  if (entry_times (e, ts) && utimensat (pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return entry_error (x, err, errno, raw, ": set the times");
  return 0;
}

/* A hard link's source is resolved like any parent (beneath the layer dir)
 * and linkat does not follow a symlink source: what gets linked is always an
 * inode inside the layer. */
static int
write_hardlink (struct extract *x, struct archive_entry *e, const char *raw,
                const char *path, int pfd, const char *base, nb_error_t *err)
{
  const char *raw_src = archive_entry_hardlink (e);
  cleanup_free char *src = NULL;
  cleanup_close int own_fd = -1;
  const char *sparent, *sbase;
  char *slash;
  char shown[256];
  int spfd;

  switch (normalize_name (raw_src, &src))
    {
    case 0:
      break;
    case -1:
    case -2:
      return entry_error (x, err, 0, raw,
                          ": its hard link target '%s' leaves the layer",
                          printable (raw_src, shown));
    default:
      return entry_error (x, err, ENOMEM, raw, ": read the link target");
    }
  if (src[0] == '\0')
    return entry_error (x, err, 0, raw,
                        ": a hard link to the layer dir itself");
  if (strcmp (src, path) == 0)
    return 0;
  slash = strrchr (src, '/');
  if (slash)
    {
      *slash = '\0';
      sparent = src;
      sbase = slash + 1;
    }
  else
    {
      sparent = "";
      sbase = src;
    }
  if (sparent[0] == '\0')
    spfd = x->dest;
  else if (x->parent_path && strcmp (x->parent_path, sparent) == 0)
    spfd = x->parent_fd;
  else
    {
      own_fd = open_beneath (x->dest, sparent, O_PATH | O_DIRECTORY);
      if (own_fd < 0 && errno == EXDEV)
        return entry_error (x, err, 0, raw,
                            ": its hard link target '%s' leads outside the "
                            "layer (symlink)",
                            printable (raw_src, shown));
      if (own_fd < 0)
        return entry_error (x, err, errno, raw,
                            ": open the directory of its hard link target "
                            "'%s'",
                            printable (raw_src, shown));
      spfd = own_fd;
    }
  if (linkat (spfd, sbase, pfd, base, 0) == 0)
    return 0;
  if (errno == EEXIST)
    {
      if (remove_existing (x, raw, pfd, base, err) < 0)
        return -1;
      if (linkat (spfd, sbase, pfd, base, 0) == 0)
        return 0;
    }
  if (errno == ENOENT)
    return entry_error (x, err, 0, raw,
                        ": its hard link target '%s' is not in the layer",
                        printable (raw_src, shown));
  return entry_error (x, err, errno, raw, ": hard link to '%s'",
                      printable (raw_src, shown));
}

static int
write_fifo (struct extract *x, struct archive_entry *e, const char *raw,
            int pfd, const char *base, nb_error_t *err)
{
  struct timespec ts[2];

  if (mknodat (pfd, base, S_IFIFO | 0600, 0) < 0)
    {
      if (errno != EEXIST)
        return entry_error (x, err, errno, raw, ": create the fifo");
      if (remove_existing (x, raw, pfd, base, err) < 0)
        return -1;
      if (mknodat (pfd, base, S_IFIFO | 0600, 0) < 0)
        return entry_error (x, err, errno, raw, ": create the fifo");
    }
  if (set_owner (x, e, raw, -1, pfd, base, err) < 0)
    return -1;
  /* BASE is the fifo just created, in a directory only we write to. */
  if (fchmodat (pfd, base, archive_entry_perm (e) & 07777, 0) < 0)
    return entry_error (x, err, errno, raw, ": set the mode");
  if (entry_times (e, ts) && utimensat (pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return entry_error (x, err, errno, raw, ": set the times");
  return 0;
}

/* ".wh.NAME": NAME is deleted in this layer; overlayfs spells that as a 0:0
 * character device, which the kernel lets anyone create (no CAP_MKNOD
 * needed since Linux 5.8). */
static int
write_whiteout (struct extract *x, const char *raw, int pfd, const char *name,
                nb_error_t *err)
{
  if (name[0] == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return entry_error (x, err, 0, raw, ": a whiteout of no file");
  if (mknodat (pfd, name, S_IFCHR, makedev (0, 0)) == 0)
    return 0;
  if (errno != EEXIST)
    return entry_error (x, err, errno, raw, ": create the whiteout");
  if (remove_existing (x, raw, pfd, name, err) < 0)
    return -1;
  if (mknodat (pfd, name, S_IFCHR, makedev (0, 0)) < 0)
    return entry_error (x, err, errno, raw, ": create the whiteout");
  return 0;
}

/* ".wh..wh..opq": the directory hides what lower layers have in it. */
static int
write_opaque (struct extract *x, const char *raw, int pfd, nb_error_t *err)
{
  cleanup_close int fd = openat (pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return entry_error (x, err, errno, raw, ": open its directory");
  if (fsetxattr (fd, OPAQUE_XATTR, "y", 1, 0) < 0)
    {
      int e = errno;
      entry_error (x, err, e, raw, ": set %s on its directory", OPAQUE_XATTR);
      if (e == ENOTSUP)
        nb_error_hint (err, "the filesystem of the layer store does not "
                            "support user xattrs");
      return -1;
    }
  return 0;
}

static int
write_entry (struct extract *x, struct archive_entry *e, nb_error_t *err)
{
  const char *raw = archive_entry_pathname (e);
  cleanup_free char *path = NULL;
  cleanup_free char *parent_buf = NULL;
  char *parent;
  const char *base;
  char *slash;
  int pfd;
  mode_t type;

  if (raw == NULL)
    return nb_error_make (err, 0, "%s: an entry without a name", x->label);
  if (check_name (x, raw, &path, err) < 0)
    return -1;
  type = archive_entry_filetype (e);
  if (path[0] == '\0')
    {
      if (type != AE_IFDIR || archive_entry_hardlink (e))
        return entry_error (x, err, 0, raw,
                            ": names the layer dir but is not a directory");
      return write_dir (x, e, raw, path, x->dest, NULL, err);
    }

  parent_buf = strdup (path);
  if (parent_buf == NULL)
    return entry_error (x, err, ENOMEM, raw, ": read the name");
  slash = strrchr (parent_buf, '/');
  if (slash)
    {
      *slash = '\0';
      parent = parent_buf;
      base = slash + 1;
    }
  else
    {
      parent = parent_buf + strlen (parent_buf); /* "" */
      base = parent_buf;
    }

  if (strncmp (base, WHITEOUT_PREFIX, strlen (WHITEOUT_PREFIX)) == 0)
    {
      /* Other AUFS meta files (.wh..wh.plnk, .wh..wh.aufs) mean nothing to
       * overlayfs. */
      if (strcmp (base, WHITEOUT_OPAQUE) != 0
          && strncmp (base, WHITEOUT_META_PREFIX, strlen (WHITEOUT_META_PREFIX))
                 == 0)
        return 0;
      pfd = get_parent (x, raw, parent, err);
      if (pfd < 0)
        return -1;
      if (strcmp (base, WHITEOUT_OPAQUE) == 0)
        return write_opaque (x, raw, pfd, err);
      return write_whiteout (x, raw, pfd, base + strlen (WHITEOUT_PREFIX), err);
    }
  /* A device node could open the host's disk or memory; a user namespace
   * cannot make one anyway.  Left out, counted, said once (rootless podman
   * does the same): a sandbox's /dev is nsbox's own. */
  if ((type == AE_IFCHR || type == AE_IFBLK) && !archive_entry_hardlink (e))
    {
      x->devices_skipped++;
      return 0;
    }

  pfd = get_parent (x, raw, parent, err);
  if (pfd < 0)
    return -1;
  if (archive_entry_hardlink (e))
    return write_hardlink (x, e, raw, path, pfd, base, err);
  switch (type)
    {
    case AE_IFREG:
      return write_file (x, e, raw, pfd, base, err);
    case AE_IFDIR:
      return write_dir (x, e, raw, path, pfd, base, err);
    case AE_IFLNK:
      return write_symlink (x, e, raw, pfd, base, err);
    case AE_IFIFO:
      return write_fifo (x, e, raw, pfd, base, err);
    default:
      return entry_error (x, err, 0, raw, ": unsupported file type 0%o",
                          (unsigned)type);
    }
}

/* --- the two readers ------------------------------------------------------ */

/* Outer reader: the blob as it is stored, hashed on the way in. */
static la_ssize_t
blob_read (struct archive *a, void *data, const void **buf)
{
  struct extract *x = data;
  ssize_t n;

  do
    n = read (x->fd, x->buf, BLOB_BUF_SIZE);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      archive_set_error (a, errno, "read the blob");
      return ARCHIVE_FATAL;
    }
  oci_hasher_update (x->blob_hash, x->buf, n);
  x->blob_bytes += n;
  *buf = x->buf;
  return n;
}

static void
save_outer_error (struct extract *x)
{
  const char *msg = archive_error_string (x->outer);

  free (x->outer_error);
  x->outer_error = strdup (msg ? msg : "unknown error");
}

/* Inner reader: the uncompressed tar stream, hashed on the way through. */
static la_ssize_t
tar_read (struct archive *a, void *data, const void **buf)
{
  struct extract *x = data;

  while (!x->outer_eof)
    {
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block (x->outer, buf, &size, &offset);

      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        {
          save_outer_error (x);
          archive_set_error (a, EIO, "%s",
                             x->outer_error ? x->outer_error : "?");
          return ARCHIVE_FATAL;
        }
      if (size == 0)
        continue; /* 0 would mean end of stream to the inner reader */
      oci_hasher_update (x->tar_hash, *buf, size);
      return size;
    }
  x->outer_eof = true;
  return 0;
}

static int
tar_error (struct extract *x, nb_error_t *err)
{
  const char *msg;

  if (x->outer_error)
    {
      if (x->blob_bytes == 0)
        return nb_error_make (err, 0, "%s: the blob is empty", x->label);
      return nb_error_make (err, 0, "%s: decompress: %s", x->label,
                            x->outer_error);
    }
  msg = archive_error_string (x->inner);
  if (x->blob_bytes == 0)
    return nb_error_make (err, 0, "%s: the blob is empty", x->label);
  return nb_error_make (err, 0, "%s: read the tar: %s", x->label,
                        msg ? msg : "unknown error");
}

static int
outer_error (struct extract *x, const char *what, nb_error_t *err)
{
  const char *msg = archive_error_string (x->outer);

  if (x->blob_bytes == 0)
    return nb_error_make (err, 0, "%s: the blob is empty", x->label);
  return nb_error_make (err, 0, "%s: %s: %s", x->label, what,
                        msg ? msg : "unknown error");
}

static int
open_readers (struct extract *x, nb_error_t *err)
{
  struct archive_entry *e;
  int r;

  x->outer = archive_read_new ();
  x->inner = archive_read_new ();
  if (x->outer == NULL || x->inner == NULL)
    return nb_error_make (err, ENOMEM, "%s: open", x->label);
  /* Only the compressions OCI layers use, and only built-in decoders:
   * archive_read_support_filter_all would also let a blob that merely looks
   * like lrzip, lzop or grzip make libarchive run that program. */
  if (archive_read_support_filter_gzip (x->outer) != ARCHIVE_OK
      || archive_read_support_filter_zstd (x->outer) != ARCHIVE_OK)
    return nb_error_make (err, 0,
                          "%s: this libarchive decodes gzip or zstd only "
                          "through an external program: %s",
                          x->label, archive_error_string (x->outer));
  if (archive_read_support_format_raw (x->outer) != ARCHIVE_OK)
    return outer_error (x, "decompress", err);
  if (archive_read_open (x->outer, x, NULL, blob_read, NULL) != ARCHIVE_OK)
    return outer_error (x, "decompress", err);
  r = archive_read_next_header (x->outer, &e);
  if (r == ARCHIVE_EOF)
    return nb_error_make (err, 0, "%s: the blob is empty", x->label);
  if (r < ARCHIVE_WARN)
    return outer_error (x, "decompress", err);

  /* ustar, pax and GNU tar. */
  if (archive_read_support_format_tar (x->inner) != ARCHIVE_OK
      || archive_read_open (x->inner, x, NULL, tar_read, NULL) != ARCHIVE_OK)
    {
      if (x->outer_error || x->blob_bytes == 0)
        return tar_error (x, err);
      return nb_error_make (err, 0, "%s: not a tar archive: %s", x->label,
                            archive_error_string (x->inner));
    }
  return 0;
}

/* After the tar's end: the rest of the uncompressed stream (the padding to a
 * 10 KiB record, or anything else) counts in the diff_id, and the rest of
 * the blob counts in its digest. */
static int
drain (struct extract *x, nb_error_t *err)
{
  while (!x->outer_eof)
    {
      const void *buf;
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block (x->outer, &buf, &size, &offset);

      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return outer_error (x, "decompress", err);
      oci_hasher_update (x->tar_hash, buf, size);
    }
  x->outer_eof = true;
  for (;;)
    {
      ssize_t n = read (x->fd, x->buf, BLOB_BUF_SIZE);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return nb_error_make (err, errno, "%s: read the blob", x->label);
      if (n == 0)
        return 0;
      oci_hasher_update (x->blob_hash, x->buf, n);
      x->blob_bytes += n;
    }
}

/* --- directory modes and times, last ------------------------------------- */

static int
cmp_dir_index (const void *a, const void *b, void *data)
{
  const struct dir_fixup *dirs = data;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int c = strcmp (dirs[i].path, dirs[j].path);

  if (c)
    return c;
  return i < j ? -1 : i > j;
}

/* Children before parents (reverse tar order), so a parent turning
 * read-only or unsearchable does not stop its children's fixup; of a
 * directory listed twice, the last entry wins. */
static int
fixup_dirs (struct extract *x, nb_error_t *err)
{
  cleanup_free size_t *order = NULL;
  size_t i;

  if (x->n_dirs == 0)
    return 0;
  order = calloc (x->n_dirs, sizeof *order);
  if (order == NULL)
    return nb_error_make (err, ENOMEM, "%s: directory modes", x->label);
  for (i = 0; i < x->n_dirs; i++)
    order[i] = i;
  qsort_r (order, x->n_dirs, sizeof *order, cmp_dir_index, x->dirs);
  for (i = 0; i + 1 < x->n_dirs; i++)
    if (strcmp (x->dirs[order[i]].path, x->dirs[order[i + 1]].path) == 0)
      x->dirs[order[i]].superseded = true;

  for (i = x->n_dirs; i-- > 0;)
    {
      struct dir_fixup *d = &x->dirs[i];
      cleanup_close int fd = -1;

      if (d->superseded)
        continue;
      if (d->path[0] == '\0')
        fd = openat (x->dest, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      else
        fd = open_beneath (x->dest, d->path,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (fd < 0
          && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP
              || errno == EXDEV))
        continue; /* a later entry replaced it */
      if (fd < 0)
        return entry_error (x, err, errno, d->path, ": open the directory");
      if (fchmod (fd, d->mode) < 0)
        return entry_error (x, err, errno, d->path, ": set the mode");
      if (d->has_mtime)
        {
          struct timespec ts[2] = { d->mtime, d->mtime };
          if (futimens (fd, ts) < 0)
            return entry_error (x, err, errno, d->path, ": set the times");
        }
    }
  return 0;
}

/* --- the pass ------------------------------------------------------------- */

static int
check_digest (struct extract *x, const char *which, const char *digest,
              nb_error_t *err)
{
  if (digest && !oci_digest_valid (digest))
    return nb_error_make (err, 0, "%s: %s '%s' is not a sha256 digest",
                          x->label, which, digest);
  return 0;
}

static void
extract_free (struct extract *x)
{
  size_t i;

  if (x->inner)
    archive_read_free (x->inner);
  if (x->outer)
    archive_read_free (x->outer);
  oci_hasher_free (x->blob_hash);
  oci_hasher_free (x->tar_hash);
  free (x->buf);
  free (x->outer_error);
  free (x->parent_path);
  if (x->parent_fd >= 0)
    close (x->parent_fd);
  if (x->stale_fd >= 0)
    close (x->stale_fd);
  for (i = 0; i < x->n_dirs; i++)
    free (x->dirs[i].path);
  free (x->dirs);
}

static int
run (struct extract *x, struct oci_extract_result *res, nb_error_t *err)
{
  const struct oci_extract_opts *opts = x->opts;
  struct archive_entry *e;
  char blob_digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];

  if (check_digest (x, "blob digest", opts->blob_digest, err) < 0
      || check_digest (x, "diff_id", opts->diff_id, err) < 0)
    return -1;
  x->buf = malloc (BLOB_BUF_SIZE);
  x->blob_hash = oci_hasher_new ();
  x->tar_hash = oci_hasher_new ();
  if (x->buf == NULL || x->blob_hash == NULL || x->tar_hash == NULL)
    return nb_error_make (err, ENOMEM, "%s: extract", x->label);
  if (open_readers (x, err) < 0)
    return -1;

  for (;;)
    {
      /* ARCHIVE_EOF also at the end of a tar without the end-of-archive
       * trailer (umoci insert writes those). */
      int r = archive_read_next_header (x->inner, &e);

      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return tar_error (x, err);
      /* ARCHIVE_WARN: e.g. a pax UTF-8 name not convertible to the locale's
       * charset; the name is then kept as its bytes, which is what we
       * want. */
      res->entries++;
      if (write_entry (x, e, err) < 0)
        return -1;
    }
  res->devices_skipped = x->devices_skipped;
  if (drain (x, err) < 0)
    return -1;

  oci_hasher_finish (steal_pointer (&x->blob_hash), blob_digest);
  oci_hasher_finish (steal_pointer (&x->tar_hash), diff_id);
  memcpy (res->blob_digest, blob_digest, sizeof blob_digest);
  memcpy (res->diff_id, diff_id, sizeof diff_id);
  if (opts->blob_digest && strcmp (opts->blob_digest, blob_digest) != 0)
    return nb_error_make (err, 0,
                          "layer %s: content does not match its digest (got "
                          "%s)",
                          opts->blob_digest, blob_digest);
  if (opts->diff_id && strcmp (opts->diff_id, diff_id) != 0)
    return nb_error_make (err, 0,
                          "layer %s: uncompressed content does not match "
                          "diff_id %s (got %s)",
                          blob_digest, opts->diff_id, diff_id);

  /* Only once the content is known good: a read-only tree is harder to
   * remove, and the caller removes DEST on failure. */
  return fixup_dirs (x, err);
}

int
oci_extract_layer (int fd, int dest_dirfd, const struct oci_extract_opts *opts,
                   struct oci_extract_result *res, nb_error_t *err)
{
  static const struct oci_extract_opts no_opts;
  struct oci_extract_result ignored;
  struct extract x = {
    .fd = fd,
    .dest = dest_dirfd,
    .opts = opts ? opts : &no_opts,
    .parent_fd = -1,
    .stale_fd = -1,
  };
  int ret;

  if (res == NULL)
    res = &ignored;
  memset (res, 0, sizeof *res);
  if (x.opts->blob_digest)
    snprintf (x.label, sizeof x.label, "layer %.*s", OCI_DIGEST_LEN,
              x.opts->blob_digest);
  else if (x.opts->diff_id)
    snprintf (x.label, sizeof x.label, "layer with diff_id %.*s",
              OCI_DIGEST_LEN, x.opts->diff_id);
  else
    snprintf (x.label, sizeof x.label, "layer");
  ret = run (&x, res, err);
  extract_free (&x);
  return ret;
}
