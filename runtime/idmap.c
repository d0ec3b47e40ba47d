#define _GNU_SOURCE
#include "runtime/idmap.h"
#include "runtime/base/cleanup.h"

#include <errno.h>
#include <fcntl.h>
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

static int
run_helper (const char *helper, pid_t pid, const struct rt_idmap *maps,
            size_t n, nb_error_t *err)
{
  char pidbuf[16], *argv[3 + 3 * RT_MAX_IDMAPS];
  char nums[3 * RT_MAX_IDMAPS][12];
  size_t a = 0;
  pid_t child;
  int status;

  snprintf (pidbuf, sizeof pidbuf, "%d", (int) pid);
  argv[a++] = (char *) helper;
  argv[a++] = pidbuf;
  for (size_t i = 0; i < n; i++)
    {
      snprintf (nums[3 * i], 12, "%u", maps[i].container_id);
      snprintf (nums[3 * i + 1], 12, "%u", maps[i].host_id);
      snprintf (nums[3 * i + 2], 12, "%u", maps[i].size);
      argv[a++] = nums[3 * i];
      argv[a++] = nums[3 * i + 1];
      argv[a++] = nums[3 * i + 2];
    }
  argv[a] = NULL;
  child = fork ();
  if (child < 0)
    return nb_error_make (err, errno, "fork %s", helper);
  if (child == 0)
    {
      execvp (helper, argv);
      fprintf (stderr, "nsbox: exec %s: %s\n", helper, strerror (errno));
      _exit (127);
    }
  while (waitpid (child, &status, 0) < 0)
    if (errno != EINTR)
      return nb_error_make (err, errno, "wait for %s", helper);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      nb_error_make (err, 0, "%s failed for the sandbox's id mapping", helper);
      return nb_error_hint (err, "%s",
                            WIFEXITED (status) && WEXITSTATUS (status) == 127
                                ? "install the uidmap package"
                                : "check your ranges in /etc/subuid and "
                                  "/etc/subgid");
    }
  return 0;
}

static bool
is_own_single (const struct rt_idmap *maps, size_t n, unsigned id)
{
  return n == 1 && maps[0].size == 1 && maps[0].host_id == id;
}

int
rt_idmap_write (pid_t pid, const struct rt_idmap *uid_maps, size_t n_uid,
                const struct rt_idmap *gid_maps, size_t n_gid, nb_error_t *err)
{
  char buf[RT_MAX_IDMAPS * 36];
  bool direct_uid = is_own_single (uid_maps, n_uid, geteuid ());
  bool direct_gid = is_own_single (gid_maps, n_gid, getegid ());

  if (direct_uid)
    {
      if (format_map (uid_maps, n_uid, buf, sizeof buf) < 0)
        return nb_error_make (err, E2BIG, "uid map");
      if (write_proc (pid, "uid_map", buf, err) < 0)
        return -1;
    }
  else if (run_helper ("newuidmap", pid, uid_maps, n_uid, err)
           < 0)
    return -1;

  if (direct_gid)
    {
      /* Without newgidmap, setgroups must be denied first (user_namespaces(7)):
       * otherwise dropping a supplementary group could grant access. */
      if (write_proc (pid, "setgroups", "deny", err) < 0)
        return -1;
      if (format_map (gid_maps, n_gid, buf, sizeof buf) < 0)
        return nb_error_make (err, E2BIG, "gid map");
      if (write_proc (pid, "gid_map", buf, err) < 0)
        return -1;
    }
  else if (run_helper ("newgidmap", pid, gid_maps, n_gid, err)
           < 0)
    return -1;
  return 0;
}
