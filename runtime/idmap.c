#define _GNU_SOURCE
#include "runtime/idmap.h"
#include "runtime/base/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
write_proc (pid_t pid, const char *file, const char *data, nb_error_t *err)
{
  char path[64];
  cleanup_close int fd = -1;
  size_t len = strlen (data);

  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, file);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  if (write (fd, data, len) != (ssize_t) len)
    return nb_error_make (err, errno, "write %s", path);
  return 0;
}

static int
format_map (const struct rt_idmap *maps, size_t n, char *buf, size_t size)
{
  size_t off = 0;
  for (size_t i = 0; i < n; i++)
    {
      int w = snprintf (buf + off, size - off, "%u %u %u\n",
                        maps[i].container_id, maps[i].host_id, maps[i].size);
      if (w < 0 || (size_t) w >= size - off)
        return -1;
      off += (size_t) w;
    }
  return 0;
}

struct helper
{
  const char *name;
  pid_t pid;
  char pidbuf[16];
  char nums[3 * RT_MAX_IDMAPS][12];
  char *argv[3 + 3 * RT_MAX_IDMAPS];
};

/* Start HELPER (newuidmap, newgidmap) for PID's MAPS; waited for by
 * wait_helper, so that both run at once: each is an exec of a set-uid
 * program, the dearest part of mapping ids. */
static int
spawn_helper (struct helper *h, const char *name, pid_t pid,
              const struct rt_idmap *maps, size_t n, nb_error_t *err)
{
  extern char **environ;
  size_t a = 0;
  int r;

  h->name = name;
  snprintf (h->pidbuf, sizeof h->pidbuf, "%d", (int) pid);
  h->argv[a++] = (char *) name;
  h->argv[a++] = h->pidbuf;
  for (size_t i = 0; i < n; i++)
    {
      snprintf (h->nums[3 * i], 12, "%u", maps[i].container_id);
      snprintf (h->nums[3 * i + 1], 12, "%u", maps[i].host_id);
      snprintf (h->nums[3 * i + 2], 12, "%u", maps[i].size);
      h->argv[a++] = h->nums[3 * i];
      h->argv[a++] = h->nums[3 * i + 1];
      h->argv[a++] = h->nums[3 * i + 2];
    }
  h->argv[a] = NULL;
  r = posix_spawnp (&h->pid, name, NULL, NULL, h->argv, environ);
  if (r != 0)
    {
      h->pid = -1;
      nb_error_make (err, r, "run %s", name);
      return nb_error_hint (err, "install the uidmap package");
    }
  return 0;
}

static int
wait_helper (struct helper *h, nb_error_t *err)
{
  int status;

  if (h->pid < 0)
    return 0;
  while (waitpid (h->pid, &status, 0) < 0)
    if (errno != EINTR)
      return nb_error_make (err, errno, "wait for %s", h->name);
  h->pid = -1;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      nb_error_make (err, 0, "%s failed for the sandbox's id mapping",
                     h->name);
      return nb_error_hint (err, "check your ranges in /etc/subuid and "
                                 "/etc/subgid");
    }
  return 0;
}

bool
rt_idmap_is_own (const struct rt_idmap *maps, size_t n, unsigned id)
{
  return n == 1 && maps[0].size == 1 && maps[0].host_id == id;
}

int
rt_idmap_begin (pid_t pid, const struct rt_idmap *uid_maps, size_t n_uid,
                const struct rt_idmap *gid_maps, size_t n_gid,
                struct rt_idmap_job *job, nb_error_t *err)
{
  char buf[RT_MAX_IDMAPS * 36];
  bool direct_uid = rt_idmap_is_own (uid_maps, n_uid, geteuid ());
  bool direct_gid = rt_idmap_is_own (gid_maps, n_gid, getegid ());
  struct helper hu = { .pid = -1 }, hg = { .pid = -1 };
  cleanup_error nb_error_t err2 = NULL;
  int ret = 0;

  job->helper[0] = job->helper[1] = -1;
  if (!direct_uid && spawn_helper (&hu, "newuidmap", pid, uid_maps, n_uid, err)
                         < 0)
    return -1;
  if (!direct_gid
      && spawn_helper (&hg, "newgidmap", pid, gid_maps, n_gid, err) < 0)
    {
      wait_helper (&hu, &err2);
      return -1;
    }
  if (direct_uid)
    {
      if (format_map (uid_maps, n_uid, buf, sizeof buf) < 0)
        ret = nb_error_make (err, E2BIG, "uid map");
      else
        ret = write_proc (pid, "uid_map", buf, err);
    }
  if (ret == 0 && direct_gid)
    {
      /* Without newgidmap, setgroups must be denied first (user_namespaces(7)):
       * otherwise dropping a supplementary group could grant access. */
      if (write_proc (pid, "setgroups", "deny", err) < 0)
        ret = -1;
      else if (format_map (gid_maps, n_gid, buf, sizeof buf) < 0)
        ret = nb_error_make (err, E2BIG, "gid map");
      else
        ret = write_proc (pid, "gid_map", buf, err);
    }
  if (ret < 0)
    {
      wait_helper (&hu, &err2);
      wait_helper (&hg, &err2);
      return -1;
    }
  job->helper[0] = hu.pid;
  job->name[0] = hu.name;
  job->helper[1] = hg.pid;
  job->name[1] = hg.name;
  return 0;
}

int
rt_idmap_end (struct rt_idmap_job *job, nb_error_t *err)
{
  cleanup_error nb_error_t err2 = NULL;
  int ret = 0;

  /* Both helpers are reaped whatever happened; the first error is said. */
  for (int i = 0; i < 2; i++)
    {
      struct helper h = { .pid = job->helper[i], .name = job->name[i] };
      if (wait_helper (&h, ret < 0 ? &err2 : err) < 0)
        ret = -1;
      job->helper[i] = -1;
    }
  return ret;
}

int
rt_idmap_write (pid_t pid, const struct rt_idmap *uid_maps, size_t n_uid,
                const struct rt_idmap *gid_maps, size_t n_gid, nb_error_t *err)
{
  struct rt_idmap_job job;

  if (rt_idmap_begin (pid, uid_maps, n_uid, gid_maps, n_gid, &job, err) < 0)
    return -1;
  return rt_idmap_end (&job, err);
}

int
rt_idmap_write_direct (pid_t pid, const struct rt_idmap *uid_maps,
                       size_t n_uid, const struct rt_idmap *gid_maps,
                       size_t n_gid, nb_error_t *err)
{
  char buf[RT_MAX_IDMAPS * 36];

  if (format_map (uid_maps, n_uid, buf, sizeof buf) < 0)
    return nb_error_make (err, E2BIG, "uid map");
  if (write_proc (pid, "uid_map", buf, err) < 0)
    return -1;
  if (format_map (gid_maps, n_gid, buf, sizeof buf) < 0)
    return nb_error_make (err, E2BIG, "gid map");
  return write_proc (pid, "gid_map", buf, err);
}
