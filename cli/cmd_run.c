/* nsbox run [OPTIONS] [AGENT [WORKSPACE[:ro]...]] [-- ARGS...] */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/limits.h"
#include "cli/run_opts.h"
#include "cli/network.h"
#include "cli/run_net.h"
#include "cli/plan.h"
#include "cli/profile.h"
#include "cli/run_image.h"
#include "cli/state.h"
#include "cli/gitid.h"
#include "cli/join.h"
#include "cli/drift.h"
#include "cli/caps.h"
#include "cli/sandbox.h"
#include "cli/workspace.h"
#include "cli/mapped.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
#include "runtime/holder.h"
#include "runtime/idmap.h"
#include "runtime/runtime.h"
#include "runtime/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


int
sb_env_push (char ***env, size_t *n, const char *key, const char *value)
{
  char *kv = NULL, **nenv;
  if (value == NULL)
    return 0;
  if (asprintf (&kv, "%s=%s", key, value) < 0)
    return -1;
  /* A later value of a variable replaces the earlier one (the image's, then
   * nsbox's, the profile's, the user's -e), as docker run's do. */
  for (size_t i = 0; i < *n; i++)
    if (strncmp ((*env)[i], kv, strlen (key) + 1) == 0)
      {
        free ((*env)[i]);
        (*env)[i] = kv;
        return 0;
      }
  nenv = realloc (*env, (*n + 2) * sizeof (char *));
  if (nenv == NULL)
    {
      free (kv);
      return -1;
    }
  *env = nenv;
  (*env)[(*n)++] = kv;
  (*env)[*n] = NULL;
  return 0;
}

int
sb_env_push_all (char ***env, size_t *n, char *const *kvs)
{
  for (; kvs && *kvs; kvs++)
    {
      cleanup_free char *key = strndup (*kvs, strcspn (*kvs, "="));
      const char *eq = strchr (*kvs, '=');
      if (key == NULL || eq == NULL
          || sb_env_push (env, n, key, eq + 1) < 0)
        return -1;
    }
  return 0;
}

int
sb_env_base (char ***env, size_t *n, const char *sandbox, int terminal)
{
  static const char *const passed[]
      = { "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
          "COLORTERM", NULL };
  const char *term = getenv ("TERM");
  int r = 0;

  r |= sb_env_push (env, n, "TERM", term ? term : (terminal ? "xterm" : NULL));
  for (const char *const *p = passed; *p; p++)
    r |= sb_env_push (env, n, *p, getenv (*p));
  r |= sb_env_push (env, n, "container", "nsbox");
  r |= sb_env_push (env, n, "NSBOX_SANDBOX", sandbox);
  return r;
}

/* The host's environment is not passed on (it may hold secrets): only what
 * describes the user's terminal and locale. */
static char **
make_env (struct sb_sandbox *sb, const struct sb_profile *prof,
          const char *home, const char *user, int terminal,
          char *const *user_env)
{
  char **env = NULL;
  size_t n = 0;
  int r = 0;

  r |= sb_env_push (&env, &n, "PATH",
                 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  r |= sb_env_push (&env, &n, "HOME", home);
  r |= sb_env_push (&env, &n, "USER", user);
  r |= sb_env_push (&env, &n, "LOGNAME", user);
  r |= sb_env_base (&env, &n, sb->name, terminal);
  r |= sb_state_env (prof, home, &env, &n);
  r |= sb_git_env (sb, &env, &n);
  r |= sb_env_push_all (&env, &n, user_env);
  if (r < 0)
    {
      nb_free_strvp (&env);
      return NULL;
    }
  return env;
}

/* The seccomp profile for linux.seccomp: the built-in default, the user's
 * file (checked when it is compiled), or none. */
static int
seccomp_profile (const char *opt, bool nested, json_t **out, nb_error_t *err)
{
  *out = NULL;
  if (opt && strcmp (opt, "unconfined") == 0)
    {
      fprintf (stderr, "nsbox: warning: seccomp is off "
                       "(--security-opt seccomp=unconfined): the agent may "
                       "use every system call the kernel offers\n");
      return 0;
    }
  if (opt)
    {
      *out = nb_json_load_file (opt, err);
      if (*out && !json_is_object (*out))
        {
          json_decref (*out);
          *out = NULL;
          nb_error_make (err, 0, "%s: not a JSON object", opt);
        }
      return *out ? 0 : nb_error_wrap (err, "seccomp profile");
    }
  /* Nesting: the default with namespaces and mounts allowed -- all of them
   * in the sandbox's own user namespace, where the agent's capabilities
   * count for nothing outside. */
  *out = nested ? rt_seccomp_nested () : rt_seccomp_default ();
  return *out ? 0 : nb_error_make (err, ENOMEM, "the built-in seccomp profile");
}

static char **
make_argv (const struct sb_profile *prof, char **args, int n_args)
{
  size_t n = 0, i = 0;
  char **argv;

  while (prof->command[n])
    n++;
  argv = calloc (n + (size_t) n_args + 1, sizeof (char *));
  if (argv == NULL)
    return NULL;
  for (; i < n; i++)
    argv[i] = (char *) prof->command[i];
  for (int k = 0; k < n_args; k++)
    argv[i++] = args[k];
  return argv;
}

static int
lock_start (const struct sb_sandbox *sb, int *fd, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (sb->run_dir, ".start");

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "run");
  *fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (*fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  if (flock (*fd, LOCK_EX) < 0)
    return nb_error_make (err, errno, "lock %s", path);
  return 0;
}

/* A detached sandbox reads nothing and writes to output.log in its runtime
 * dir (kept until the next start). */
static int
detached_stdio (const struct sb_sandbox *sb, int *null_fd, int *out_fd,
                nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (sb->run_dir, "output.log");

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "run");
  *null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (*null_fd < 0)
    return nb_error_make (err, errno, "open /dev/null");
  *out_fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC
                            | O_NOFOLLOW,
                  0600);
  if (*out_fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  return 0;
}

/* What is bound over the root after the workspace: the extra workspaces,
 * then the -v binds (over everything else), as triples. */
static int
join_binds (const struct sb_workspaces *extra, const struct run_opts *o,
            char ***out, nb_error_t *err)
{
  size_t n = 3 * (extra->n + o->n_binds), k = 0;

  *out = calloc (n + 1, sizeof (char *));
  if (*out == NULL)
    return nb_error_make (err, ENOMEM, "run");
  for (size_t i = 0; i < 3 * extra->n; i++, k++)
    if (((*out)[k] = strdup (extra->binds[i])) == NULL)
      return nb_error_make (err, ENOMEM, "run");
  for (size_t i = 0; i < 3 * o->n_binds; i++, k++)
    if (((*out)[k] = strdup (o->binds[i])) == NULL)
      return nb_error_make (err, ENOMEM, "run");
  return 0;
}

/* The id-mapping holder (runtime/holder.h) when this start maps subordinate
 * ids: its warm starts then run no set-uid newuidmap/newgidmap, the dearest
 * part of a start.  Whatever fails here, the start maps its ids without
 * it, and says so only if that fails too. */
static const struct rt_holder *
get_holder (const struct rt_spec *spec, struct rt_holder *h)
{
  struct rt_idmap uids[RT_MAX_IDMAPS], gids[RT_MAX_IDMAPS];
  cleanup_free char *run = NULL, *pidfile = NULL;
  cleanup_error nb_error_t e = NULL;
  size_t n;

  if (!(spec->clone_flags & CLONE_NEWUSER)
      || (rt_idmap_is_own (spec->uid_maps, spec->n_uid_maps, getuid ())
          && rt_idmap_is_own (spec->gid_maps, spec->n_gid_maps, getgid ()))
      || (n = sb_storage_maps (uids, gids)) == 0
      || nb_runtime_dir (&run, &e) < 0
      || (pidfile = nb_path_join (run, SB_HOLDER_FILE)) == NULL
      || rt_holder_get (pidfile, uids, n, gids, n, h, &e) < 0)
    return NULL;
  return h;
}

static int
run (int argc, char **argv, int *status, nb_error_t *err)
{
  struct run_opts o = { .limits = RT_CGROUP_NO_LIMITS };
  struct sb_profile *prof = NULL;
  struct sb_sandbox *sb = NULL;
  cleanup_free char *workspace = NULL, *rootfs = NULL, *bundle = NULL,
                    *text = NULL, *home = NULL, *user = NULL;
  cleanup_free char **cmd = NULL;
  cleanup_strv char **env = NULL, **binds = NULL, **run_env = NULL,
                    **all_binds = NULL;
  struct sb_net net = { .mode = SB_NET_NONE };
  struct sb_workspaces extra = { 0 };
  struct rt_spec *spec = NULL;
  json_t *json = NULL, *seccomp = NULL, *options = NULL;
  cleanup_close int run_lock = -1, start_lock = -1, out_fd = -1,
                    null_fd = -1, ws_fd = -1;
  cleanup_free struct rt_bind_fd *pinned = NULL;
  struct sb_state_pins state_pins = { 0 };
  struct rt_holder holder = { .nsfd = -1 };
  char cgroup_name[32];
  struct passwd *pw = NULL; /* looked up only when needed */
  const char *tmpl;
  int ret = -1, terminal = isatty (STDIN_FILENO) && isatty (STDOUT_FILENO);

  if (sb_run_parse_args (argc, argv, &o, err) < 0)
    return -1;
  if (getenv ("HOME") && getenv ("HOME")[0] == '/')
    home = strdup (getenv ("HOME"));
  else
    {
      pw = getpwuid (getuid ());
      home = strdup (pw ? pw->pw_dir : "/");
    }
  if (home == NULL)
    return nb_error_make (err, ENOMEM, "run");
  if (sb_profile_load (o.agent ? o.agent : "shell", &prof, err) < 0)
    return -1;
  /* The profile's limits, field by field where no flag asked. */
  sb_limits_fill (&o.limits, &prof->limits);
  if (o.memory_shown == NULL)
    o.memory_shown = prof->memory_shown;
  if (sb_limits_finish (&o.limits, err) < 0)
    {
      nb_error_wrap (err, "run");
      goto out;
    }
  tmpl = o.template_name ? o.template_name : prof->template_name;
  if (prof->command[0] == NULL && strcmp (tmpl, "host") == 0)
    {
      nb_error_make (err, 0, "agent %s: its profile names no command, and "
                             "only an image has one of its own",
                     prof->name ? prof->name : o.agent);
      nb_error_hint (err, "run it on an image (-t IMAGE), or give it a "
                          "\"command\" in %s",
                     prof->origin ? prof->origin : "its profile");
      goto out;
    }
  if (sb_workspace_resolve (o.workspace, home, &workspace, &ws_fd, err) < 0
      || sb_workspaces_extra (o.workspaces, o.n_workspaces, home, workspace,
                              &extra, err)
             < 0
      || join_binds (&extra, &o, &all_binds, err) < 0)
    goto out;
  if (sb_sandbox_open (workspace, o.agent ? o.agent : "shell", o.name, tmpl,
                       &sb, err)
      < 0)
    goto out;
  if (sb_sandbox_lock_run (sb, &run_lock, err) < 0)
    goto out;
  cmd = make_argv (prof, o.args, o.n_args);
  if (cmd == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (o.detach)
    terminal = 0;
  /* One sandbox, one init: a run that finds it running joins it.  The lock
   * makes the check and the start one step for concurrent runs. */
  if (lock_start (sb, &start_lock, err) < 0)
    goto out;
  options = sb_run_options (o.credentials ? o.credentials : "sandbox",
                            (const char *const *) o.binds,
                            o.allow_nested || prof->allow_nested, o.seccomp,
                            o.env, o.cap_add, o.cap_drop);
  if (options == NULL
      || json_object_set_new (options, "workspaces",
                              sb_workspaces_json (&extra))
             < 0)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (rt_cgroup_any (&o.limits))
    json_object_set_new (options, "limits", sb_limits_json (&o.limits));
  if (sb_run_plan_network (&o, prof, sb, &net, options, err) < 0)
    goto out;
  if (sb_join_running (sb->run_dir))
    {
      cleanup_free char *drift
          = sb_options_drift (json_object_get (sb->record, "options"),
                              options);
      if (drift && !o.recreate)
        {
          nb_error_make (err, 0, "sandbox %s is running with other options "
                                 "(%s)",
                         sb->name, drift);
          nb_error_hint (err, "stop it first (nsbox stop %s), or run with "
                              "--recreate to restart it with these; its "
                              "files and volumes are kept",
                         sb->name);
          goto out;
        }
      if (drift)
        {
          if (rt_container_stop (sb->run_dir, 10, err) < 0)
            {
              nb_error_wrap (err, "run --recreate %s: stop it", sb->name);
              goto out;
            }
          goto start;
        }
    }
  if (sb_join_running (sb->run_dir))
    {
      cleanup_free const char **image_cmd = NULL;
      struct sb_join j = { .argv = cmd, .env = o.env,
                           .terminal = terminal,
                           .preserve_fds = o.preserve_fds };
      close (nb_steal_fd (&start_lock));
      if (o.detach)
        {
          cleanup_free char *shown = nb_escape (sb->name);
          fprintf (stderr, "nsbox: sandbox %s is running already\n",
                   shown ? shown : sb->id);
          *status = 0;
          ret = 0;
          goto out;
        }
      /* The image's own command, from the running sandbox's record. */
      if (prof->command[0] == NULL)
        {
          if (sb_image_argv (sb_sandbox_image (sb), (const char *const *) cmd,
                             &image_cmd, err)
              < 0)
            goto out;
          j.argv = (char **) image_cmd;
        }
      ret = sb_join_exec (sb->run_dir, sb->name, &j, status, err);
      goto out;
    }
start:
  /* Remembered for the next run (and for inspect): written only when it
   * changed, so a warm start writes nothing here. */
  if (!json_equal (json_object_get (sb->record, "options"), options))
    {
      json_object_set (sb->record, "options", options);
      if (sb_sandbox_save (sb, err) < 0)
        goto out;
    }
  if (asprintf (&rootfs, "%s/rootfs", sb->run_dir) < 0
      || asprintf (&bundle, "%s/config.json", sb->run_dir) < 0)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (seccomp_profile (o.seccomp, o.allow_nested || prof->allow_nested,
                       &seccomp, err)
      < 0)
    goto out;
  /* The proxy's variables first: the user's -e may still override them. */
  {
    size_t n = 0;
    if (net.mode == SB_NET_FILTERED && sb_net_proxy_env (&run_env, &n) < 0)
      {
        nb_error_make (err, ENOMEM, "run");
        goto out;
      }
    for (char **e = o.env; e && *e; e++)
      if (sb_env_push_all (&run_env, &n, (char *const[]){ *e, NULL }) < 0)
        {
          nb_error_make (err, ENOMEM, "run");
          goto out;
        }
  }
  if (strcmp (tmpl, "host") != 0)
    {
      struct sb_image_run ir = { .template_name = tmpl,
                                 .credentials = o.credentials
                                                    ? o.credentials
                                                    : "sandbox",
                                 .pull = o.pull ? o.pull : "missing",
                                 .argv = (const char *const *) cmd,
                                 .rootfs = rootfs,
                                 .terminal = terminal,
                                 .seccomp = seccomp,
                                 .user_env = run_env,
                                 .user_binds = (const char *const *) all_binds,
                                 .state_pins = &state_pins };
      if (sb_image_plan (sb, prof, &ir, &json, err) < 0)
        goto out;
      goto planned;
    }
  if (sb_plan_host_rootfs (rootfs, err) < 0)
    goto out;
  if (pw == NULL)
    pw = getpwuid (getuid ());
  user = strdup (pw ? pw->pw_name : "user");
  env = user ? make_env (sb, prof, home, user, terminal, run_env) : NULL;
  if (env == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (sb_state_binds (prof, sb->agent,
                      o.credentials ? o.credentials : "sandbox", home, &binds,
                      &state_pins, err)
      < 0)
    goto out;
  {
    struct sb_plan plan = {
      .rootfs = rootfs,
      .workspace = workspace,
      .home_source = sb->home,
      .home = home,
      .hostname = sb->name,
      .argv = (const char *const *) cmd,
      .env = (const char *const *) env,
      .uid = getuid (),
      .host_uid = getuid (),
      .gid = getgid (),
      .host_gid = getgid (),
      .terminal = terminal,
      .seccomp = seccomp,
      .state_binds = (const char *const *) binds,
      .user_binds = (const char *const *) all_binds,
    };
    if (sb_plan_host_spec (&plan, &json, err) < 0)
      goto out;
  }
planned:
  if (sb_run_net_spec (json, &net, sb, strcmp (tmpl, "host") != 0, err) < 0)
    goto out;
  if ((o.cap_add || o.cap_drop)
      && sb_caps_adjust (json, o.cap_add, o.cap_drop, err) < 0)
    goto out;
  /* The plan is a standard config.json: kept in the sandbox's runtime dir
   * for inspection, and executed by the same engine as `nsbox oci`.  A warm
   * start plans what the last one did: the file is then left as it is.
   * The built-in seccomp profile goes in as text (rt_seccomp_default). */
  {
    cleanup_free char *dumped = json_dumps (json, JSON_INDENT (2));
    text = dumped ? rt_seccomp_expand (dumped) : NULL;
  }
  if (text == NULL
      || nb_update_file_atomic (bundle, text, strlen (text), 0600, err) < 0)
    {
      if (text == NULL)
        nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (rt_spec_from_json (json, sb->run_dir, &spec, err) < 0)
    goto out;
  /* The workspaces, the -v sources and the state volume are mounted only
   * as what they were when they were checked (their fds). */
  pinned = calloc (1 + extra.n + o.n_binds + state_pins.n, sizeof *pinned);
  if (pinned == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  pinned[0].source = workspace;
  pinned[0].fd = ws_fd;
  for (size_t i = 0; i < extra.n; i++)
    {
      pinned[1 + i].source = extra.binds[3 * i];
      pinned[1 + i].fd = extra.fds[i];
    }
  for (size_t i = 0; i < o.n_binds; i++)
    {
      pinned[1 + extra.n + i].source = o.binds[3 * i];
      pinned[1 + extra.n + i].fd = o.bind_fds[i];
    }
  for (size_t i = 0; i < state_pins.n; i++)
    {
      pinned[1 + extra.n + o.n_binds + i].source = state_pins.sources[i];
      pinned[1 + extra.n + o.n_binds + i].fd = state_pins.fds[i];
    }
  spec->bind_fds = pinned;
  spec->n_bind_fds = 1 + extra.n + o.n_binds + state_pins.n;
  spec->preserve_fds = o.preserve_fds;
  {
    struct rt_create_opts co = { .state_dir = sb->run_dir,
                                 .id = sb->id,
                                 .bundle = sb->run_dir,
                                 .detach = o.detach,
                                 .stdio = { -1, -1, -1 },
                                 .keep_fd = run_lock,
                                 .release_fd = start_lock,
                                 .limits = &o.limits,
                                 .cgroup_name = cgroup_name,
                                 .memory_shown = o.memory_shown };
    snprintf (cgroup_name, sizeof cgroup_name, "nsbox-%s", sb->id);
    co.name = sb->name;
    co.net_setup = sb_net_setup;
    co.net_arg = &net;
    co.holder = get_holder (spec, &holder);
    if (!o.detach)
      ret = rt_container_run (spec, &co, status, err);
    else if (detached_stdio (sb, &null_fd, &out_fd, err) == 0)
      {
        co.stdio[0] = null_fd;
        co.stdio[1] = co.stdio[2] = out_fd;
        ret = rt_container_create (spec, &co, err);
        if (ret == 0)
          {
            cleanup_free char *shown = nb_escape (sb->name);
            printf ("%s\n", shown ? shown : sb->id);
            *status = 0;
          }
      }
  }
  if (holder.nsfd >= 0)
    close (holder.nsfd);
  if (ret < 0)
    nb_error_wrap (err, "run %s", sb->name);

out:
  /* A foreground run that ended is the end of nsbox: what it holds goes
   * with the process.  Freeing it first would touch every page of the plan
   * once more, each a trap since init was forked from us (about 0.3 ms of a
   * warm start); so would the libraries' destructors and exit handlers
   * (nsbox registers none): stdio is flushed, and that is all. */
  if (ret == 0 && !o.detach)
    {
      fflush (NULL);
      _exit (*status);
    }
  rt_spec_free (spec);
  sb_state_pins_clear (&state_pins);
  json_decref (json);
  json_decref (seccomp);
  json_decref (options);
  sb_run_opts_clear (&o);
  sb_net_clear (&net);
  sb_workspaces_clear (&extra);
  sb_sandbox_free (sb);
  sb_profile_free (prof);
  return ret;
}

int
cmd_run (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  int status = NB_EXIT_FAILED;

  if (run (argc, argv, &status, &err) < 0)
    return nb_error_report (&err);
  return status;
}
