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

int
nb_read_file (const char *path, char **out, size_t *len, nb_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_free char *buf = NULL;
  size_t size = 0, cap = 0;

  if (fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  for (;;)
    {
      ssize_t n;
      if (cap - size < 4096)
        {
          char *nbuf = realloc (buf, cap ? cap * 2 : 8192);
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

int
nb_rm_rf_at (int dfd, const char *name, nb_error_t *err)
{
  cleanup_close int fd = -1;
  DIR *d;
  struct dirent *de;

  if (unlinkat (dfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return nb_error_make (err, errno, "remove %s", name);
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s", name);
  d = fdopendir (fd);
  if (d == NULL)
    return nb_error_make (err, errno, "open %s", name);
  fd = -1;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (nb_rm_rf_at (dirfd (d), de->d_name, err) < 0)
        {
          closedir (d);
          return nb_error_wrap (err, "remove %s", name);
        }
    }
  closedir (d);
  if (unlinkat (dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return nb_error_make (err, errno, "remove %s", name);
  return 0;
}
