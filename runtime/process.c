#define _GNU_SOURCE
#include "runtime/process.h"
#include "runtime/base/cleanup.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool
in_set (const int *set, int cap)
{
  for (; set && *set >= 0; set++)
    if (*set == cap)
      return true;
  return false;
}

static int
drop_bounding (const int *keep, nb_error_t *err)
{
  /* The running kernel's capabilities, not the headers': one lookup instead
   * of a PR_CAPBSET_READ per capability on every sandbox start. */
  int last = (int) cap_max_bits () - 1;

  for (int cap = 0; cap <= last; cap++)
    {
      if (in_set (keep, cap))
        continue;
      if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
        return nb_error_make (err, errno, "drop capability %s from the "
                              "bounding set", cap_to_name (cap));
    }
  return 0;
}

static int
set_caps (const struct rt_spec *s, nb_error_t *err)
{
  cap_t caps = cap_init ();
  int ret = 0;

  if (caps == NULL)
    return nb_error_make (err, errno, "capabilities");
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
    {
      cap_value_t v = cap;
      if (in_set (s->caps_effective, cap))
        cap_set_flag (caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
      if (in_set (s->caps_permitted, cap))
        cap_set_flag (caps, CAP_PERMITTED, 1, &v, CAP_SET);
      if (in_set (s->caps_inheritable, cap))
        cap_set_flag (caps, CAP_INHERITABLE, 1, &v, CAP_SET);
    }
  if (cap_set_proc (caps) < 0)
    ret = nb_error_make (err, errno, "set capabilities");
  cap_free (caps);
  if (ret < 0)
    return ret;
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0
      && errno != EINVAL)
    return nb_error_make (err, errno, "clear ambient capabilities");
  /* The kernel raises an ambient capability only when it is permitted and
   * inheritable; one that is not is skipped, as runc does. */
  for (const int *c = s->caps_ambient; c && *c >= 0; c++)
    if (in_set (s->caps_permitted, *c) && in_set (s->caps_inheritable, *c)
        && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, *c, 0, 0) < 0)
      return nb_error_make (err, errno, "raise ambient capability %s",
                            cap_to_name (*c));
  return 0;
}

int
rt_process_prepare (const struct rt_spec *s, nb_error_t *err)
{
  for (size_t i = 0; i < s->n_rlimits; i++)
    {
      struct rlimit rl = { .rlim_cur = s->rlimits[i].soft,
                           .rlim_max = s->rlimits[i].hard };
      if (setrlimit (s->rlimits[i].resource, &rl) < 0)
        return nb_error_make (err, errno, "setrlimit %d",
                              s->rlimits[i].resource);
    }
  if (drop_bounding (s->caps_bounding, err) < 0)
    return -1;
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return nb_error_make (err, errno, "keep capabilities");
  if (s->n_additional_gids
      && setgroups (s->n_additional_gids, s->additional_gids) < 0)
    return nb_error_make (err, errno, "setgroups");
  if (setresgid (s->gid, s->gid, s->gid) < 0)
    return nb_error_make (err, errno, "setgid %u", (unsigned) s->gid);
  if (setresuid (s->uid, s->uid, s->uid) < 0)
    return nb_error_make (err, errno, "setuid %u", (unsigned) s->uid);
  if (set_caps (s, err) < 0)
    return -1;
  if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return nb_error_make (err, errno, "keep capabilities");
  if (s->no_new_privileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return nb_error_make (err, errno, "set no_new_privs");
  return 0;
}

int
rt_process_drop_all (nb_error_t *err)
{
  static const int none[] = { -1 };
  struct rt_spec empty = { .caps_effective = (int *) none };

  if (drop_bounding (none, err) < 0 || set_caps (&empty, err) < 0)
    return -1;
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return nb_error_make (err, errno, "set no_new_privs");
  return 0;
}

static const char *
env_path (const char *const *env)
{
  for (; env && *env; env++)
    if (strncmp (*env, "PATH=", 5) == 0)
      return *env + 5;
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

static int
exec_error (const char *cmd, int e, nb_error_t *err)
{
  if (e == ENOENT || e == ENOTDIR)
    return nb_error_make_status (err, NB_EXIT_NOT_FOUND, e, "exec %s", cmd);
  return nb_error_make_status (err, NB_EXIT_CANNOT_INVOKE, e, "exec %s", cmd);
}

int
rt_process_exec (const struct rt_spec *s, nb_error_t *err)
{
  const char *cmd = s->args[0];
  char *const *argv = (char *const *) s->args;
  char *const *envp = (char *const *) s->env;
  const char *path, *p;
  int saved = ENOENT;

  if (strchr (cmd, '/'))
    {
      execve (cmd, argv, envp);
      return exec_error (cmd, errno, err);
    }
  path = env_path (s->env);
  for (p = path;; p = strchr (p, ':') + 1)
    {
      const char *end = strchr (p, ':');
      size_t len = end ? (size_t) (end - p) : strlen (p);
      char full[PATH_MAX];

      if (len > 0
          && snprintf (full, sizeof full, "%.*s/%s", (int) len, p, cmd)
                 < (int) sizeof full)
        {
          execve (full, argv, envp);
          /* Remember a file that exists but cannot run (126) over a miss. */
          if (errno != ENOENT && errno != ENOTDIR)
            saved = errno;
        }
      if (end == NULL)
        break;
    }
  if (saved == ENOENT)
    return nb_error_make_status (err, NB_EXIT_NOT_FOUND, 0,
                                 "exec %s: command not found in PATH (%s)",
                                 cmd, path);
  return exec_error (cmd, saved, err);
}

int
rt_exit_status (int wstatus)
{
  if (WIFEXITED (wstatus))
    return WEXITSTATUS (wstatus);
  if (WIFSIGNALED (wstatus))
    return 128 + WTERMSIG (wstatus);
  return NB_EXIT_FAILED;
}
