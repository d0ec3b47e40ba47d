#define _GNU_SOURCE
#include "fs.h"
#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
nb_mkdir_p (const char *path, mode_t mode, nb_error_t *err)
{
  cleanup_free char *copy = strdup (path);
  char *p;

  if (copy == NULL)
    return nb_error_make (err, ENOMEM, "mkdir %s", path);
  /* Usually everything is there already: one syscall, not one a level. */
  if (mkdir (path, mode) == 0 || errno == EEXIST)
    return 0;
  if (errno != ENOENT)
    return nb_error_make (err, errno, "mkdir %s", path);
  for (p = copy + 1; *p; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdir (copy, mode) < 0 && errno != EEXIST)
        return nb_error_make (err, errno, "mkdir %s", copy);
      *p = '/';
    }
  if (mkdir (copy, mode) < 0 && errno != EEXIST)
    return nb_error_make (err, errno, "mkdir %s", copy);
  return 0;
}

int
nb_write_all (int fd, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

int
nb_write_file_atomic (const char *path, const void *data, size_t len,
                      mode_t mode, int durable, nb_error_t *err)
{
  cleanup_free char *tmp = NULL;
  cleanup_close int fd = -1;

  if (asprintf (&tmp, "%s.tmp-%d", path, (int) getpid ()) < 0)
    return nb_error_make (err, ENOMEM, "write %s", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    return nb_error_make (err, errno, "create %s", tmp);
  if (nb_write_all (fd, data, len) < 0)
    {
      int e = errno;
      unlink (tmp);
      return nb_error_make (err, e, "write %s", tmp);
    }
  if ((durable && fsync (fd) < 0) || close (nb_steal_fd (&fd)) < 0)
    {
      int e = errno;
      unlink (tmp);
      return nb_error_make (err, e, "write %s", tmp);
    }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return nb_error_make (err, e, "rename %s to %s", tmp, path);
    }
  return 0;
}

/* Does the regular file at PATH hold exactly DATA? */
static int
holds_exactly (const char *path, const char *data, size_t len)
{
  cleanup_close int fd
      = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  cleanup_free char *buf = NULL;
  struct stat st;
  size_t got = 0;

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (size_t) st.st_size != len || (buf = malloc (len + 1)) == NULL)
    return 0;
  while (got <= len)
    {
      ssize_t n = read (fd, buf + got, len + 1 - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t) n;
    }
  return got == len && memcmp (buf, data, len) == 0;
}

int
nb_update_file_atomic (const char *path, const void *data, size_t len,
                       mode_t mode, nb_error_t *err)
{
  if (holds_exactly (path, data, len))
    return 0;
  return nb_write_file_atomic (path, data, len, mode, 0, err);
}

static const char *
file_kind (mode_t mode)
{
  switch (mode & S_IFMT)
    {
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "not a regular file";
    }
}

int
nb_open_regular_at (int dfd, const char *name, int flags, const char *what,
                    nb_error_t *err)
{
  /* O_NONBLOCK: opening a FIFO must not wait for a writer that never comes
   * (a FIFO planted where a file was expected would hang nsbox). */
  cleanup_close int fd
      = openat (dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
  struct stat st;

  if (fd < 0 && errno == ELOOP && (flags & O_NOFOLLOW))
    return nb_error_make (err, 0, "%s: a symbolic link, not a regular file",
                          what);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s", what);
  if (fstat (fd, &st) < 0)
    return nb_error_make (err, errno, "stat %s", what);
  if (!S_ISREG (st.st_mode))
    return nb_error_make (err, 0, "%s: %s, not a regular file", what,
                          file_kind (st.st_mode));
  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK) < 0)
    return nb_error_make (err, errno, "open %s", what);
  return nb_steal_fd (&fd);
}

int
nb_read_file (const char *path, char **out, size_t *len, nb_error_t *err)
{
  cleanup_close int fd = nb_open_regular_at (AT_FDCWD, path, 0, path, err);
  cleanup_free char *buf = NULL;
  size_t size = 0, cap = 0;

  if (fd < 0)
    return -1;
  for (;;)
    {
      ssize_t n;
      if (cap - size < 4096)
        {
          char *nbuf;
          if (cap >= NB_READ_FILE_MAX)
            return nb_error_make (err, 0, "read %s: larger than %d MiB", path,
                                  NB_READ_FILE_MAX >> 20);
          nbuf = realloc (buf, cap ? cap * 2 : 8192);
          if (nbuf == NULL)
            return nb_error_make (err, ENOMEM, "read %s", path);
          buf = nbuf;
          cap = cap ? cap * 2 : 8192;
        }
      n = read (fd, buf + size, cap - size - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return nb_error_make (err, errno, "read %s", path);
      if (n == 0)
        break;
      size += (size_t) n;
    }
  buf[size] = '\0';
  if (len)
    *len = size;
  *out = steal_pointer (&buf);
  return 0;
}

char *
nb_path_join (const char *a, const char *b)
{
  char *s = NULL;
  size_t la = strlen (a);
  while (*b == '/')
    b++;
  if (asprintf (&s, "%s%s%s", a, (la && a[la - 1] == '/') ? "" : "/", b) < 0)
    return NULL;
  return s;
}

int
nb_path_is_within (const char *child, const char *parent)
{
  size_t lp = strlen (parent);
  if (strcmp (parent, "/") == 0)
    return child[0] == '/';
  if (strncmp (child, parent, lp) != 0)
    return 0;
  return child[lp] == '\0' || child[lp] == '/';
}

int
nb_data_dir (char **out, nb_error_t *err)
{
  const char *xdg = getenv ("XDG_DATA_HOME");
  const char *home = getenv ("HOME");

  if (xdg && xdg[0] == '/')
    *out = nb_path_join (xdg, "nsbox");
  else if (home && home[0] == '/')
    *out = nb_path_join (home, ".local/share/nsbox");
  else
    return nb_error_make (err, 0,
                          "data dir: neither XDG_DATA_HOME nor HOME is set "
                          "to an absolute path");
  if (*out == NULL)
    return nb_error_make (err, ENOMEM, "data dir");
  return 0;
}

int
nb_runtime_dir (char **out, nb_error_t *err)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  struct stat st;

  if (xdg && xdg[0] == '/' && access (xdg, W_OK) == 0)
    {
      *out = nb_path_join (xdg, "nsbox");
      return *out ? 0 : nb_error_make (err, ENOMEM, "runtime dir");
    }
  if (asprintf (out, "/tmp/nsbox-%u", (unsigned) getuid ()) < 0)
    return nb_error_make (err, ENOMEM, "runtime dir");
  if (mkdir (*out, 0700) < 0 && errno != EEXIST)
    return nb_error_make (err, errno, "mkdir %s", *out);
  if (lstat (*out, &st) < 0)
    return nb_error_make (err, errno, "stat %s", *out);
  if (!S_ISDIR (st.st_mode) || st.st_uid != getuid ()
      || (st.st_mode & 077) != 0)
    {
      nb_error_make (err, 0,
                     "runtime dir %s: not a private directory of uid %u "
                     "(someone else may have created it)",
                     *out, (unsigned) getuid ());
      return nb_error_hint (err, "set XDG_RUNTIME_DIR to a directory of yours");
    }
  return 0;
}

/* Removal at any depth with two directory fds at a time, the way fts does
 * it: go down by name, come back up by "..", and check that ".." is the very
 * directory we came down from (device and inode), so that a tree moved
 * under us cannot lead the removal outside it.  Directories without write
 * or search permission (read-only dirs of image layers) are made u+rwx
 * first: they are going anyway.  The levels stack holds names, not fds. */

struct rm_level
{
  char *name; /* in the level above */
  dev_t dev;
  ino_t ino;
};

struct rm_walk
{
  struct rm_level *lv;
  size_t n, cap;
};

static void
rm_walk_free (struct rm_walk *w)
{
  for (size_t i = 0; i < w->n; i++)
    free (w->lv[i].name);
  free (w->lv);
}

/* "top/a/b/…/y/z": the path of the current level, for messages. */
static char *
rm_path (const struct rm_walk *w, const char *leaf)
{
  char *s = NULL, *t;
  size_t n = w->n;

  if (asprintf (&s, "%s", w->lv[0].name) < 0)
    return NULL;
  for (size_t i = 1; i < n; i++)
    {
      if (n > 8 && i == 3)
        {
          if (asprintf (&t, "%s/… %zu more …", s, n - 6) < 0)
            break;
          free (s);
          s = t;
          i = n - 3;
        }
      if (asprintf (&t, "%s/%s", s, w->lv[i].name) < 0)
        break;
      free (s);
      s = t;
    }
  if (leaf && asprintf (&t, "%s/%s", s, leaf) >= 0)
    {
      free (s);
      s = t;
    }
  return s;
}

static int
rm_error (const struct rm_walk *w, const char *leaf, int errnum,
          nb_error_t *err)
{
  cleanup_free char *path = rm_path (w, leaf);
  return nb_error_make (err, errnum, "remove %s", path ? path : "?");
}

/* EACCES on a directory of another uid (in nsbox's case: files of
 * subordinate ids, removable only from inside their user namespace). */
static int
rm_access_error (const struct rm_walk *w, const char *leaf, uid_t owner,
                 nb_error_t *err)
{
  cleanup_free char *path = NULL;

  if (owner == (uid_t) -1 || owner == geteuid ())
    return rm_error (w, leaf, EACCES, err);
  path = rm_path (w, leaf);
  return nb_error_make (err, 0, "remove %s: owned by uid %u, not by us (%s)",
                        path ? path : "?", (unsigned) owner,
                        strerror (EACCES));
}

static int
rm_push (struct rm_walk *w, const char *name, int fd)
{
  struct stat st;

  if (fstat (fd, &st) < 0)
    return -1;
  if (w->n == w->cap)
    {
      size_t cap = w->cap ? w->cap * 2 : 16;
      struct rm_level *lv = realloc (w->lv, cap * sizeof *lv);
      if (lv == NULL)
        return -1;
      w->lv = lv;
      w->cap = cap;
    }
  w->lv[w->n].name = strdup (name);
  if (w->lv[w->n].name == NULL)
    return -1;
  w->lv[w->n].dev = st.st_dev;
  w->lv[w->n].ino = st.st_ino;
  w->n++;
  return 0;
}

/* Open DFD/NAME as a directory to empty; make it u+rwx when it is not.
 * *OWNER gets the owner of a directory that could not be opened for lack
 * of permission (-1 otherwise). */
static int
rm_open_dir (int dfd, const char *name, uid_t *owner)
{
  int fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;

  *owner = (uid_t) -1;
  if (fd >= 0 || errno != EACCES)
    goto check;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    *owner = st.st_uid;
  /* No following: NAME swapped for a symlink must not chmod its target
   * (glibc does this through /proc; without /proc, fall back). */
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode)
      || (fchmodat (dfd, name, (st.st_mode & 07777) | S_IRWXU,
                    AT_SYMLINK_NOFOLLOW)
              < 0
          && (errno != EOPNOTSUPP
              || fchmodat (dfd, name, (st.st_mode & 07777) | S_IRWXU, 0) < 0)))
    {
      errno = EACCES;
      return -1;
    }
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
check:
  if (fd >= 0 && fstat (fd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU)
    fchmod (fd, (st.st_mode & 07777) | S_IRWXU);
  return fd;
}

/* Remove every entry of directory FD that is not a directory; put the name
 * of the first subdirectory in *SUB (NULL when there is none).  Returns 0,
 * or -1 with errno and *BAD naming the entry. */
static int
rm_entries (int fd, char **sub, char **bad)
{
  int dfd = fcntl (fd, F_DUPFD_CLOEXEC, 0);
  DIR *d;
  struct dirent *de;

  *sub = *bad = NULL;
  if (dfd < 0 || (d = fdopendir (dfd)) == NULL)
    {
      int e = errno;
      if (dfd >= 0)
        close (dfd);
      errno = e;
      return -1;
    }
  rewinddir (d);
  while ((errno = 0, de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (de->d_type != DT_DIR)
        {
          if (unlinkat (fd, de->d_name, 0) == 0 || errno == ENOENT)
            continue;
          if (errno != EISDIR && errno != EPERM)
            goto fail;
        }
      *sub = strdup (de->d_name);
      if (*sub == NULL)
        goto fail;
      break;
    }
  if (errno && *sub == NULL)
    goto fail;
  closedir (d);
  return 0;
fail:
  {
    int e = errno;
    *bad = strdup (de ? de->d_name : "");
    closedir (d);
    errno = e;
    return -1;
  }
}

int
nb_rm_rf_at (int dfd, const char *name, nb_error_t *err)
{
  struct rm_walk w = { 0 };
  int fd = -1, ret = -1;

  if (unlinkat (dfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return nb_error_make (err, errno, "remove %s", name);
  {
    uid_t owner;
    fd = rm_open_dir (dfd, name, &owner);
    if (fd < 0 && errno == EACCES && owner != (uid_t) -1
        && owner != geteuid ())
      return nb_error_make (err, 0,
                            "remove %s: owned by uid %u, not by us (%s)", name,
                            (unsigned) owner, strerror (EACCES));
    if (fd < 0)
      return nb_error_make (err, errno, "remove %s", name);
  }
  if (rm_push (&w, name, fd) < 0)
    {
      nb_error_make (err, ENOMEM, "remove %s", name);
      goto out;
    }
  while (w.n > 0)
    {
      cleanup_free char *sub = NULL, *bad = NULL;
      struct rm_level *top;
      struct stat st;
      int up;

      if (rm_entries (fd, &sub, &bad) < 0)
        {
          int e = errno;
          /* A read-only directory: unlink said EACCES; make it writable. */
          if (e == EACCES && fstat (fd, &st) == 0
              && (st.st_mode & S_IWUSR) == 0
              && fchmod (fd, (st.st_mode & 07777) | S_IRWXU) == 0)
            continue;
          if (e == EACCES && fstat (fd, &st) == 0)
            rm_access_error (&w, bad, st.st_uid, err);
          else
            rm_error (&w, bad, e, err);
          goto out;
        }
      if (sub)
        {
          uid_t owner;
          int child = rm_open_dir (fd, sub, &owner);
          if (child < 0 && errno == EACCES)
            {
              rm_access_error (&w, sub, owner, err);
              goto out;
            }
          if (child < 0)
            {
              /* Not a directory after all: unlink said EPERM (immutable,
               * append-only), and that is the cause to report. */
              rm_error (&w, sub, errno == ENOTDIR ? EPERM : errno, err);
              goto out;
            }
          if (rm_push (&w, sub, child) < 0)
            {
              close (child);
              rm_error (&w, sub, ENOMEM, err);
              goto out;
            }
          close (fd);
          fd = child;
          continue;
        }
      /* FD is empty: go up and remove it. */
      top = &w.lv[w.n - 1];
      if (w.n == 1)
        up = dfd;
      else
        {
          struct rm_level *parent = &w.lv[w.n - 2];
          up = openat (fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (up < 0)
            {
              rm_error (&w, "..", errno, err);
              goto out;
            }
          if (fstat (up, &st) < 0 || st.st_dev != parent->dev
              || st.st_ino != parent->ino)
            {
              cleanup_free char *path = rm_path (&w, NULL);
              close (up);
              nb_error_make (err, 0,
                             "remove %s: its parent is no longer the "
                             "directory it was found in (moved meanwhile?)",
                             path ? path : name);
              goto out;
            }
        }
      close (fd);
      fd = -1;
      if (unlinkat (up, top->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        {
          int e = errno;
          if (up != dfd)
            close (up);
          rm_error (&w, NULL, e, err);
          goto out;
        }
      free (top->name);
      w.n--;
      if (w.n == 0)
        break;
      fd = up;
    }
  ret = 0;
out:
  if (fd >= 0)
    close (fd);
  rm_walk_free (&w);
  return ret;
}

char *
nb_find_in_path (const char *name)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy = strdup (path ? path : "/bin:/usr/bin");
  char *save = NULL;

  if (copy == NULL)
    return NULL;
  for (char *d = strtok_r (copy, ":", &save); d;
       d = strtok_r (NULL, ":", &save))
    {
      char *p;
      if (d[0] != '/')
        continue;
      p = nb_path_join (d, name);
      if (p && access (p, X_OK) == 0)
        return p;
      free (p);
    }
  return NULL;
}
