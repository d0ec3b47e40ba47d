/* What a running container uses (nsbox stats): its own cgroup's counters,
 * or, for one started without a cgroup, what /proc says of the processes
 * in its pid namespace. */
#define _GNU_SOURCE
#include "runtime/runtime.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct proc
{
  pid_t pid, ppid;
  long long ticks, rss; /* utime + stime (clock ticks), rss (pages) */
};

/* /proc/PID/stat, which anyone may read (only addresses are hidden). */
static int
proc_read (int proc_fd, const char *pid, struct proc *p)
{
  char path[300], buf[1024], *s;
  cleanup_close int fd = -1;
  unsigned long long ut, st;
  int ppid;
  ssize_t n;

  snprintf (path, sizeof path, "%s/stat", pid);
  fd = openat (proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || (n = read (fd, buf, sizeof buf - 1)) <= 0)
    return -1;
  buf[n] = '\0';
  /* The name may hold spaces and parentheses: fields count from the last
   * ')'.  After it: state(3) ppid(4) ... utime(14) stime(15) ... rss(24). */
  s = strrchr (buf, ')');
  if (s == NULL
      || sscanf (s + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
                        "%llu %*d %*d %*d %*d %*d %*d %*u %*u %lld",
                 &ppid, &ut, &st, &p->rss)
             != 4)
    return -1;
  p->pid = (pid_t) atoi (pid);
  p->ppid = (pid_t) ppid;
  p->ticks = (long long) (ut + st);
  return 0;
}

static bool
same_ns (int proc_fd, pid_t pid, const struct stat *ns)
{
  char path[64];
  struct stat o;
  snprintf (path, sizeof path, "%d/ns/pid", (int) pid);
  return fstatat (proc_fd, path, &o, 0) == 0 && o.st_ino == ns->st_ino
         && o.st_dev == ns->st_dev;
}

/* The processes of init's pid namespace: init's descendants (init itself
 * is not dumpable, so its ns link is closed to us), and what exec joined
 * (a child of nsbox exec, outside that tree), found by the pid namespace
 * of a descendant. */
static int
proc_stats (pid_t init, struct rt_cgroup_stats *s, nb_error_t *err)
{
  cleanup_close int proc_fd = open ("/proc", O_RDONLY | O_DIRECTORY
                                                 | O_CLOEXEC);
  cleanup_free struct proc *all = NULL;
  cleanup_free bool *in = NULL;
  size_t n = 0, cap = 0;
  long long ticks = 0, rss = 0, count = 0;
  struct stat ns;
  bool have_ns = false, grew;
  DIR *d;
  struct dirent *e;

  if (proc_fd < 0 || (d = fdopendir (dup (proc_fd))) == NULL)
    return nb_error_make (err, errno, "read /proc");
  while ((e = readdir (d)) != NULL)
    {
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      if (n == cap)
        {
          struct proc *m = realloc (all, (cap = cap * 2 + 256) * sizeof *m);
          if (m == NULL)
            {
              closedir (d);
              return nb_error_make (err, ENOMEM, "read /proc");
            }
          all = m;
        }
      if (proc_read (proc_fd, e->d_name, &all[n]) == 0)
        n++;
    }
  closedir (d);
  in = calloc (n + 1, sizeof *in);
  if (in == NULL)
    return nb_error_make (err, ENOMEM, "read /proc");
  for (size_t i = 0; i < n; i++)
    in[i] = all[i].pid == init;
  do
    {
      grew = false;
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; !in[i] && j < n; j++)
          if (in[j] && all[i].ppid == all[j].pid)
            in[i] = grew = true;
    }
  while (grew);
  for (size_t i = 0; i < n && !have_ns; i++)
    if (in[i] && all[i].pid != init)
      {
        char path[64];
        snprintf (path, sizeof path, "%d/ns/pid", (int) all[i].pid);
        have_ns = fstatat (proc_fd, path, &ns, 0) == 0;
      }
  for (size_t i = 0; i < n; i++)
    {
      if (!in[i] && !(have_ns && same_ns (proc_fd, all[i].pid, &ns)))
        continue;
      count++;
      ticks += all[i].ticks;
      rss += all[i].rss;
    }
  s->pids = count;
  s->cpu_usec = ticks * (1000000 / sysconf (_SC_CLK_TCK));
  s->memory = rss * sysconf (_SC_PAGESIZE);
  s->memory_max = s->pids_max = -1;
  return 0;
}

int
rt_container_stats (const char *state_dir, struct rt_stats *out,
                    nb_error_t *err)
{
  struct rt_state st;
  int r;

  memset (out, 0, sizeof *out);
  if (rt_state_read (state_dir, &st, err) < 0)
    {
      /* No state: it never ran, or ended and cleared it. */
      nb_error_free (err);
      return nb_error_make (err, 0, "it is not running");
    }
  if (st.status == RT_STATUS_STOPPED)
    {
      rt_state_clear (&st);
      return nb_error_make (err, 0, "it is not running");
    }
  out->pid = st.pid;
  if (st.cgroup)
    {
      out->cgroup = strdup (st.cgroup);
      r = out->cgroup ? rt_cgroup_stats (st.cgroup, &out->usage, err)
                      : nb_error_make (err, ENOMEM, "stats");
    }
  else
    r = proc_stats (st.pid, &out->usage, err);
  rt_state_clear (&st);
  return r;
}

void
rt_stats_clear (struct rt_stats *s)
{
  free (s->cgroup);
  s->cgroup = NULL;
}
