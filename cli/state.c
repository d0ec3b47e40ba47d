#define _GNU_SOURCE
#include "cli/state.h"
#include "cli/run_image.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include "cli/run_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void
sb_state_pins_clear (struct sb_state_pins *pins)
{
  for (size_t i = 0; i < pins->n; i++)
    {
      free (pins->sources[i]);
      if (pins->fds[i] >= 0)
        close (pins->fds[i]);
    }
  free (pins->sources);
  free (pins->fds);
  memset (pins, 0, sizeof *pins);
}

/* Make REL under the volume dir VOLFD one component at a time, never
 * following a symlink, and open the last (O_PATH).  The agent had the
 * volume mounted: it could have left a symlink in it (its state dir, or a
 * folder on the way to another agent state path), pointing to the user's
 * ~/.ssh, for the next run to create in or mount. */
static int
pin_beneath (int volfd, const char *volume, const char *rel, int *out,
             nb_error_t *err)
{
  cleanup_free char *copy = strdup (rel);
  cleanup_close int dfd = -1;
  char *save = NULL, *name;

  if (copy == NULL)
    return nb_error_make (err, ENOMEM, "volume");
  dfd = fcntl (volfd, F_DUPFD_CLOEXEC, 3);
  if (dfd < 0)
    return nb_error_make (err, errno, "volume %s", volume);
  for (name = strtok_r (copy, "/", &save); name;
       name = strtok_r (NULL, "/", &save))
    {
      struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                              .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
                                         | RESOLVE_NO_MAGICLINKS };
      int next;

      if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        return nb_error_make (err, 0, "volume %s: %s: '.' or '..' in a "
                                      "state path",
                              volume, rel);
      if (mkdirat (dfd, name, 0700) < 0 && errno != EEXIST)
        return nb_error_make (err, errno, "volume %s: make %s", volume, rel);
      next = (int) syscall (SYS_openat2, dfd, name, &how, sizeof how);
      if (next < 0)
        {
          int e = errno;
          nb_error_make (err, e, "volume %s: open %s", volume, rel);
          if (e == ELOOP || e == ENOTDIR)
            nb_error_hint (err, "a symlink or a file is where the agent's "
                                "state folder should be (%s): not followed; "
                                "remove it",
                           name);
          return -1;
        }
      close (dfd);
      dfd = next;
    }
  *out = nb_steal_fd (&dfd);
  return 0;
}

/* The real path of pinned FD, which the runtime opens again without
 * symlinks and compares. */
static char *
pinned_path (int fd)
{
  char link[64], real[PATH_MAX];
  ssize_t n;

  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, real, sizeof real - 1);
  if (n <= 0 || real[0] != '/')
    return NULL;
  real[n] = '\0';
  return strdup (real);
}

int
sb_state_binds (const struct sb_profile *prof, const char *agent,
                const char *mode, const char *home, char ***out,
                struct sb_state_pins *pins, nb_error_t *err)
{
  cleanup_free char *data = NULL, *volume = NULL;
  cleanup_close int volfd = -1;
  const char *host_home = getenv ("HOME");
  size_t n = json_array_size (prof->state), k = 0, i;
  cleanup_strv char **binds = NULL;
  json_t *v;

  *out = NULL;
  if (n == 0 || strcmp (mode, "none") == 0)
    return 0;
  if (strcmp (mode, "host") == 0)
    {
      if (host_home == NULL || host_home[0] != '/')
        return nb_error_make (err, 0, "--credentials host: HOME is not set");
    }
  else
    {
      if (nb_data_dir (&data, err) < 0)
        return -1;
      if (asprintf (&volume, "%s/volumes/%s-data", data, agent) < 0)
        return nb_error_make (err, ENOMEM, "volume");
      if (nb_mkdir_p (volume, 0700, err) < 0)
        return nb_error_wrap (err, "agent %s: volume", agent);
      volfd = open (volume, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (volfd < 0)
        return nb_error_make (err, errno, "agent %s: volume %s", agent,
                              volume);
    }
  binds = calloc (2 * n + 1, sizeof *binds);
  pins->sources = calloc (n, sizeof *pins->sources);
  pins->fds = malloc (n * sizeof *pins->fds);
  if (binds == NULL || pins->sources == NULL || pins->fds == NULL)
    return nb_error_make (err, ENOMEM, "volume");
  json_array_foreach (prof->state, i, v)
  {
    const char *rel = json_string_value (v) + 2; /* after "~/" */
    int fd = -1;

    if (volume)
      {
        if (pin_beneath (volfd, volume, rel, &fd, err) < 0)
          return nb_error_wrap (err, "agent %s: state %s", agent,
                                json_string_value (v));
      }
    else
      {
        /* --credentials host: the user's own folders, symlinks and all, as
         * for -v; pinned so that a swap after this is refused. */
        cleanup_free char *src = nb_path_join (host_home, rel);
        char real[PATH_MAX];
        if (src == NULL)
          return nb_error_make (err, ENOMEM, "volume");
        if (nb_mkdir_p (src, 0700, err) < 0)
          return nb_error_wrap (err, "agent %s: state %s", agent,
                                json_string_value (v));
        if (sb_pin_path (src, true, &fd, real) < 0)
          return nb_error_make (err, errno, "agent %s: state %s", agent,
                                src);
      }
    pins->fds[pins->n] = fd;
    pins->sources[pins->n] = pinned_path (fd);
    pins->n++;
    binds[k] = pins->sources[pins->n - 1]
                   ? strdup (pins->sources[pins->n - 1])
                   : NULL;
    binds[k + 1] = nb_path_join (home, rel);
    if (binds[k] == NULL || binds[k + 1] == NULL)
      return nb_error_make (err, ENOMEM, "volume");
    k += 2;
  }
  *out = steal_pointer (&binds);
  return 0;
}

int
sb_state_env (const struct sb_profile *prof, const char *home, char ***env,
              size_t *n)
{
  const char *key;
  json_t *v;
  size_t i;
  int r = 0;

  json_array_foreach (prof->pass_env, i, v)
      r |= sb_env_push (env, n, json_string_value (v),
                        getenv (json_string_value (v)));
  json_object_foreach (prof->env, key, v)
  {
    const char *value = json_string_value (v);
    cleanup_free char *expanded = NULL;
    if (strncmp (value, "~/", 2) == 0)
      {
        expanded = nb_path_join (home, value + 2);
        if (expanded == NULL)
          return -1;
        value = expanded;
      }
    r |= sb_env_push (env, n, key, value);
  }
  return r;
}
