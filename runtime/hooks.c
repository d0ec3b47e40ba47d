#define _GNU_SOURCE
#include "runtime/hooks.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/json.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const kinds[]
    = { "prestart",       "createRuntime", "createContainer",
        "startContainer", "poststart",     "poststop",
        NULL };

static bool
str_array_ok (json_t *a)
{
  size_t i;
  json_t *v;
  if (a == NULL)
    return true;
  if (!json_is_array (a))
    return false;
  json_array_foreach (a, i, v)
  if (!json_is_string (v))
    return false;
  return true;
}

int
rt_hooks_check (json_t *hooks, nb_error_t *err)
{
  const char *kind;
  json_t *list;

  if (hooks == NULL)
    return 0;
  if (!json_is_object (hooks))
    return nb_error_make (err, 0, "config.json: hooks: not an object");
  json_object_foreach (hooks, kind, list)
  {
    size_t i, k;
    json_t *h;
    for (k = 0; kinds[k]; k++)
      if (strcmp (kind, kinds[k]) == 0)
        break;
    if (kinds[k] == NULL)
      return nb_error_make (err, 0, "config.json: hooks.%s: not a kind of "
                                    "hook",
                            kind);
    if (!json_is_array (list))
      return nb_error_make (err, 0, "config.json: hooks.%s: not an array",
                            kind);
    json_array_foreach (list, i, h)
    {
      const char *path = json_string_value (json_object_get (h, "path"));
      json_t *t = json_object_get (h, "timeout");
      if (path == NULL || path[0] != '/')
        return nb_error_make (err, 0, "config.json: hooks.%s[%zu]: path "
                                      "must be an absolute path",
                              kind, i);
      if (!str_array_ok (json_object_get (h, "args"))
          || !str_array_ok (json_object_get (h, "env")))
        return nb_error_make (err, 0, "config.json: hooks.%s[%zu]: args and "
                                      "env must be arrays of strings",
                              kind, i);
      if (t && (!json_is_integer (t) || json_integer_value (t) <= 0))
        return nb_error_make (err, 0, "config.json: hooks.%s[%zu]: timeout "
                                      "must be a positive number of seconds",
                              kind, i);
    }
  }
  return 0;
}

bool
rt_hooks_any (json_t *hooks, const char *kind)
{
  return json_array_size (json_object_get (hooks, kind)) > 0;
}

char *
rt_hooks_state (json_t *config, const char *id, const char *status,
                pid_t pid, const char *bundle)
{
  cleanup_json json_t *j
      = json_pack ("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.0.2", "id",
                   id ? id : "", "status", status, "pid", (int) pid, "bundle",
                   bundle ? bundle : "");
  json_t *ann = json_object_get (config, "annotations");

  if (j == NULL)
    return NULL;
  if (json_is_object (ann))
    json_object_set (j, "annotations", ann);
  return json_dumps (j, JSON_COMPACT);
}

static char **
strv (json_t *a, const char *first)
{
  size_t n = json_array_size (a), i;
  char **v = calloc (n + 2, sizeof (char *));
  json_t *s;

  if (v == NULL)
    return NULL;
  if (n == 0 && first)
    v[0] = (char *) first;
  json_array_foreach (a, i, s)
  v[i] = (char *) json_string_value (s);
  return v;
}

/* One hook: its stdin a socket (so that a hook that does not read its state
 * cannot kill us with SIGPIPE), waited for with a pidfd and its timeout. */
static int
run_one (json_t *h, const char *kind, size_t i, const char *state,
         nb_error_t *err)
{
  const char *path = json_string_value (json_object_get (h, "path"));
  json_int_t timeout = json_integer_value (json_object_get (h, "timeout"));
  cleanup_free char **argv = strv (json_object_get (h, "args"), path);
  cleanup_free char **envp = strv (json_object_get (h, "env"), NULL);
  cleanup_close int pidfd = -1;
  int sv[2], st, r;
  struct pollfd p;
  pid_t pid;

  if (argv == NULL || envp == NULL)
    return nb_error_make (err, ENOMEM, "hook");
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return nb_error_make (err, errno, "hooks.%s[%zu] %s", kind, i, path);
  pid = fork ();
  if (pid < 0)
    {
      close (sv[0]);
      close (sv[1]);
      return nb_error_make (err, errno, "hooks.%s[%zu] %s", kind, i, path);
    }
  if (pid == 0)
    {
      sigset_t none;
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      if (dup2 (sv[1], STDIN_FILENO) < 0)
        _exit (127);
      execve (path, argv, envp);
      fprintf (stderr, "nsbox: hooks.%s[%zu]: exec %s: %s\n", kind, i, path,
               strerror (errno));
      _exit (127);
    }
  close (sv[1]);
  pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (state)
    send (sv[0], state, strlen (state), MSG_NOSIGNAL);
  close (sv[0]);
  p.fd = pidfd;
  p.events = POLLIN;
  do
    r = pidfd >= 0 ? poll (&p, 1, timeout > 0 ? (int) timeout * 1000 : -1)
                   : 1;
  while (r < 0 && errno == EINTR);
  if (r == 0)
    {
      kill (pid, SIGKILL);
      while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
        ;
      return nb_error_make (err, 0, "hooks.%s[%zu] %s: killed after its "
                                    "timeout of %lld s",
                            kind, i, path, (long long) timeout);
    }
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (WIFEXITED (st) && WEXITSTATUS (st) == 0)
    return 0;
  if (WIFSIGNALED (st))
    return nb_error_make (err, 0, "hooks.%s[%zu] %s: killed by signal %d",
                          kind, i, path, WTERMSIG (st));
  return nb_error_make (err, 0, "hooks.%s[%zu] %s: exit status %d", kind, i,
                        path, WEXITSTATUS (st));
}

int
rt_hooks_run (json_t *hooks, const char *kind, const char *state,
              nb_error_t *err)
{
  json_t *list = json_object_get (hooks, kind), *h;
  size_t i;

  json_array_foreach (list, i, h)
  if (run_one (h, kind, i, state, err) < 0)
    return -1;
  return 0;
}

void
rt_hooks_run_warn (json_t *hooks, const char *kind, const char *state)
{
  json_t *list = json_object_get (hooks, kind), *h;
  size_t i;

  json_array_foreach (list, i, h)
  {
    cleanup_error nb_error_t err = NULL;
    if (run_one (h, kind, i, state, &err) < 0)
      fprintf (stderr, "nsbox: warning: %s\n", err->msg ? err->msg : kind);
  }
}
