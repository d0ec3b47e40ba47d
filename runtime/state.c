#define _GNU_SOURCE
#include "runtime/state.h"
#include "runtime/sync.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int
rt_proc_stat (pid_t pid, unsigned long long *start, char *comm,
              size_t comm_size, char *state)
{
  char path[64], buf[1024], *open_p, *close_p, *p;
  cleanup_close int fd = -1;
  ssize_t n;
  int field;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    {
      errno = n < 0 ? errno : ESRCH;
      return -1;
    }
  buf[n] = '\0';
  /* "PID (COMM) S ...": COMM may hold spaces and parentheses; it ends at
   * the last ')'. */
  open_p = strchr (buf, '(');
  close_p = strrchr (buf, ')');
  if (open_p == NULL || close_p == NULL || close_p < open_p || !close_p[1])
    {
      errno = EINVAL;
      return -1;
    }
  if (comm)
    snprintf (comm, comm_size, "%.*s", (int) (close_p - open_p - 1),
              open_p + 1);
  p = close_p + 2;
  if (state)
    *state = *p;
  /* The state is field 3, the start time field 22. */
  for (field = 3; field < 22 && p; field++)
    {
      p = strchr (p, ' ');
      if (p)
        p++;
    }
  if (p == NULL)
    {
      errno = EINVAL;
      return -1;
    }
  *start = strtoull (p, NULL, 10);
  return 0;
}

static void
now_rfc3339 (char *buf, size_t n)
{
  struct timespec ts;
  struct tm tm;

  /* Not strftime: it reads the time zone (/etc/localtime) even for UTC. */
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  snprintf (buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec);
}

/* A JSON string: the few fields nsbox writes are paths and ids, so this
 * is all the encoder a start needs (jansson's pack and dump are not free,
 * and every start writes this file). */
static void
put_string (FILE *f, const char *s)
{
  fputc ('"', f);
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if (*p == '"' || *p == '\\')
      fprintf (f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf (f, "\\u%04x", *p);
    else
      fputc (*p, f);
  fputc ('"', f);
}

/* JSON text is UTF-8: a path that is not cannot be written as a string
 * (and would not be read back). */
static bool
valid_utf8 (const char *s)
{
  const unsigned char *p = (const unsigned char *) s;

  while (*p)
    {
      int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
              : (*p & 0xf8) == 0xf0 ? 3 : -1;
      if (n < 0 || (n == 1 && *p < 0xc2))
        return false;
      p++;
      for (; n > 0; n--, p++)
        if ((*p & 0xc0) != 0x80)
          return false;
    }
  return true;
}

static struct rt_state_stamp
stamp_of (const struct stat *st)
{
  return (struct rt_state_stamp) { .dev = st->st_dev, .ino = st->st_ino,
                                   .ctime = st->st_ctim };
}

int
rt_state_write (const char *dir, const char *id, const char *bundle,
                pid_t pid, json_t *annotations, const char *cgroup,
                struct rt_state_stamp *stamp, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (dir, "state.json");
  cleanup_free char *tmp = NULL, *extra = NULL;
  unsigned long long start;
  char created[64];
  struct stat st;
  FILE *f;
  int fd, bad;

  if (path == NULL || asprintf (&tmp, "%s.tmp-%d", path, (int) getpid ()) < 0)
    return nb_error_make (err, ENOMEM, "state");
  if (rt_proc_stat (pid, &start, NULL, 0, NULL) < 0)
    return nb_error_make (err, errno, "read the start time of process %d",
                          (int) pid);
  if (!valid_utf8 (id ? id : "") || !valid_utf8 (bundle ? bundle : "")
      || (cgroup && !valid_utf8 (cgroup)))
    return nb_error_make (err, EILSEQ, "state of %s", id ? id : "?");
  now_rfc3339 (created, sizeof created);
  /* Annotations come only from an OCI bundle; nsbox run has none. */
  if (json_is_object (annotations) && json_object_size (annotations)
      && (extra = json_dumps (annotations, JSON_COMPACT)) == NULL)
    return nb_error_make (err, ENOMEM, "state");
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
             0600);
  if (fd < 0)
    return nb_error_make (err, errno, "create %s", tmp);
  f = fdopen (fd, "w");
  if (f == NULL)
    {
      close (fd);
      unlink (tmp);
      return nb_error_make (err, ENOMEM, "state");
    }
  fputs ("{\"ociVersion\": \"1.0.2\", \"id\": ", f);
  put_string (f, id ? id : "");
  fprintf (f, ", \"pid\": %d, \"start_time\": %llu, \"bundle\": ", (int) pid,
           start);
  put_string (f, bundle ? bundle : "");
  fprintf (f, ", \"created\": \"%s\"", created);
  if (extra)
    fprintf (f, ", \"annotations\": %s", extra);
  if (cgroup)
    {
      fputs (", \"cgroup\": ", f);
      put_string (f, cgroup);
    }
  fputs ("}\n", f);
  /* Live state: it need not survive a crash (the runtime dir does not). */
  bad = fflush (f) != 0 || ferror (f);
  if (bad || rename (tmp, path) < 0)
    {
      int e = errno;
      fclose (f);
      unlink (tmp);
      return nb_error_make (err, e, "write %s", path);
    }
  /* Taken after the rename, which changes the file's ctime. */
  if (stamp && fstat (fd, &st) == 0)
    *stamp = stamp_of (&st);
  fclose (f);
  return 0;
}

static enum rt_status
derive_status (const struct rt_state *st)
{
  unsigned long long start;
  char comm[32], state;

  if (st->pid <= 0
      || rt_proc_stat (st->pid, &start, comm, sizeof comm, &state) < 0
      || start != st->start_time || state == 'Z' || state == 'X')
    return RT_STATUS_STOPPED;
  if (strcmp (comm, RT_INIT_NAME_CREATED) == 0)
    return RT_STATUS_CREATED;
  return RT_STATUS_RUNNING;
}

int
rt_state_read (const char *dir, struct rt_state *st, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (dir, "state.json");
  json_int_t pid = 0, start = 0;

  memset (st, 0, sizeof *st);
  if (path == NULL)
    return nb_error_make (err, ENOMEM, "state");
  if (access (path, F_OK) < 0)
    return nb_error_make (err, errno, "no such container");
  st->json = nb_json_load_file (path, err);
  if (st->json == NULL)
    return -1;
  if (json_unpack (st->json, "{s:s, s:I, s:I, s?s, s?s, s?s}", "id",
                   &st->id, "pid", &pid, "start_time", &start, "bundle",
                   &st->bundle, "created", &st->created, "cgroup",
                   &st->cgroup)
      < 0)
    {
      rt_state_clear (st);
      return nb_error_make (err, 0, "%s: not a state nsbox wrote", path);
    }
  st->pid = (pid_t) pid;
  st->start_time = (unsigned long long) start;
  st->status = derive_status (st);
  return 0;
}

void
rt_state_clear (struct rt_state *st)
{
  json_decref (st->json);
  memset (st, 0, sizeof *st);
}

const char *
rt_status_name (enum rt_status status)
{
  switch (status)
    {
    case RT_STATUS_CREATED:
      return "created";
    case RT_STATUS_RUNNING:
      return "running";
    default:
      return "stopped";
    }
}

int
rt_state_pidfd (const struct rt_state *st, nb_error_t *err)
{
  unsigned long long start;
  int fd;

  fd = (int) syscall (SYS_pidfd_open, st->pid, 0);
  if (fd < 0)
    {
      if (errno == ESRCH)
        return nb_error_make (err, 0, "it is not running");
      return nb_error_make (err, errno, "pidfd_open %d", (int) st->pid);
    }
  /* The pidfd pins the process: if it is still the one recorded now, every
   * signal sent through the pidfd reaches it and no other. */
  if (rt_proc_stat (st->pid, &start, NULL, 0, NULL) < 0
      || start != st->start_time)
    {
      close (fd);
      return nb_error_make (err, 0, "it is not running");
    }
  return fd;
}

int
rt_state_sock_addr (const char *dir, struct sockaddr_un *addr, socklen_t *len,
                    int *dirfd, nb_error_t *err)
{
  int n;

  *dirfd = -1;
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  n = snprintf (addr->sun_path, sizeof addr->sun_path, "%s/init.sock", dir);
  if (n >= (int) sizeof addr->sun_path)
    {
      *dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (*dirfd < 0)
        return nb_error_make (err, errno, "open %s", dir);
      n = snprintf (addr->sun_path, sizeof addr->sun_path,
                    "/proc/self/fd/%d/init.sock", *dirfd);
    }
  *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + (size_t) n
                      + 1);
  return 0;
}

int
rt_state_request (int conn, int type, int status)
{
  cleanup_close int userns = open ("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);

  if (userns < 0)
    return -errno;
  return rt_sync_send (conn, type, status, NULL, userns);
}

int
rt_state_connect (const char *dir, nb_error_t *err)
{
  struct sockaddr_un addr;
  socklen_t len;
  cleanup_close int dirfd = -1, fd = -1;

  if (rt_state_sock_addr (dir, &addr, &len, &dirfd, err) < 0)
    return -1;
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nb_error_make (err, errno, "socket");
  if (connect (fd, (struct sockaddr *) &addr, len) < 0)
    return nb_error_make (err, errno, "connect to its init (%s/init.sock)",
                          dir);
  return nb_steal_fd (&fd);
}

void
rt_state_remove (const char *dir)
{
  cleanup_free char *state = nb_path_join (dir, "state.json");
  cleanup_free char *sock = nb_path_join (dir, "init.sock");
  if (state)
    unlink (state);
  if (sock)
    unlink (sock);
}

int
rt_state_stamp (const char *dir, struct rt_state_stamp *stamp)
{
  cleanup_free char *path = nb_path_join (dir, "state.json");
  struct stat st;

  if (path == NULL || stat (path, &st) < 0)
    return -1;
  *stamp = stamp_of (&st);
  return 0;
}

void
rt_state_remove_own (const char *dir, const struct rt_state_stamp *stamp)
{
  struct rt_state_stamp now;

  /* The very file this start wrote (a later one's rename would have put
   * another inode there): no need to read it back. */
  if (rt_state_stamp (dir, &now) == 0 && now.dev == stamp->dev
      && now.ino == stamp->ino && now.ctime.tv_sec == stamp->ctime.tv_sec
      && now.ctime.tv_nsec == stamp->ctime.tv_nsec)
    rt_state_remove (dir);
}

int
rt_write_pid_file (const char *path, pid_t pid, nb_error_t *err)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%d", (int) pid);
  return nb_write_file_atomic (path, buf, (size_t) n, 0644, 0, err);
}
