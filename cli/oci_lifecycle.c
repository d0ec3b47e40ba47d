/* nsbox oci create/start/run/kill/delete/exec: runc's options over the one
 * lifecycle in runtime/ (runtime.h). */
#define _GNU_SOURCE
#include "cli/oci.h"
#include "cli/run_opts.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct create_opts
{
  const char *bundle, *pid_file, *console_socket;
  bool detach;
  unsigned preserve_fds;
  const char *id;
};


static int
parse_create (int argc, char **argv, bool is_run, struct create_opts *o,
              nb_error_t *err)
{
  static const struct option longopts[]
      = { { "bundle", required_argument, NULL, 'b' },
          { "pid-file", required_argument, NULL, 'p' },
          { "console-socket", required_argument, NULL, 'c' },
          { "preserve-fds", required_argument, NULL, 'P' },
          { "no-pivot", no_argument, NULL, 'N' },
          { "no-new-keyring", no_argument, NULL, 'K' },
          { "detach", no_argument, NULL, 'd' },
          { "keep", no_argument, NULL, 'k' },
          { "no-subreaper", no_argument, NULL, 'S' },
          { NULL, 0, NULL, 0 } };
  int c;

  o->bundle = ".";
  opterr = 0;
  while ((c = getopt_long (argc, argv, "+b:d", longopts, NULL)) != -1)
    switch (c)
      {
      case 'b':
        o->bundle = optarg;
        break;
      case 'p':
        o->pid_file = optarg;
        break;
      case 'c':
        o->console_socket = optarg;
        break;
      case 'P':
        if (sb_parse_preserve_fds (optarg, &o->preserve_fds, err) < 0)
          return -1;
        break;
      case 'd':
        if (!is_run)
          goto unknown;
        o->detach = true;
        break;
      case 'N': /* pivot_root always: there is no unsafe fallback */
      case 'K': /* no session keyring is made: keyctl is denied */
      case 'k':
      case 'S':
        break;
      default:
      unknown:
        return nb_error_make (err, 0, "%s: unknown or incomplete option '%s'",
                              argv[0], argv[optind - 1]);
      }
  if (optind + 1 != argc)
    return nb_error_make (err, 0, "%s: expects one container id", argv[0]);
  o->id = argv[optind];
  return 0;
}

/* The bundle's config.json as the executor's spec. */
static int
load_bundle (const char *bundle, char **real, struct rt_spec **spec,
             nb_error_t *err)
{
  char path[PATH_MAX];

  if (realpath (bundle, path) == NULL)
    return nb_error_make (err, errno, "bundle %s", bundle);
  *real = strdup (path);
  if (*real == NULL)
    return nb_error_make (err, ENOMEM, "bundle");
  if (rt_spec_load (path, spec, err) < 0)
    return nb_error_wrap (err, "bundle %s", path);
  return 0;
}

static int
make_state_dir (const struct oci_global *g, const char *id, char **dir,
                nb_error_t *err)
{
  if (oci_container_dir (g, id, false, dir, err) < 0)
    return -1;
  if (mkdir (*dir, 0700) < 0)
    {
      if (errno == EEXIST)
        return nb_error_make (err, 0, "container %s already exists", id);
      return nb_error_make (err, errno, "mkdir %s", *dir);
    }
  return 0;
}

static void
remove_state_dir (const char *dir)
{
  cleanup_error nb_error_t e = NULL;
  nb_rm_rf_at (AT_FDCWD, dir, &e);
}

static int
create_or_run (const struct oci_global *g, int argc, char **argv,
               bool is_run, nb_error_t *err)
{
  struct create_opts o = { 0 };
  cleanup_free char *bundle = NULL, *dir = NULL, *cgroup_name = NULL;
  cleanup_spec struct rt_spec *spec = NULL;
  struct rt_create_opts co = { .stdio = { -1, -1, -1 },
                               .keep_fd = -1,
                               .release_fd = -1 };
  int status = 0, r;

  if (parse_create (argc, argv, is_run, &o, err) < 0)
    return -1;
  if (load_bundle (o.bundle, &bundle, &spec, err) < 0)
    return -1;
  spec->preserve_fds = o.preserve_fds;
  if (make_state_dir (g, o.id, &dir, err) < 0)
    return -1;
  co.state_dir = dir;
  co.id = o.id;
  co.bundle = bundle;
  co.pid_file = o.pid_file;
  co.console_socket = o.console_socket;
  co.detach = !is_run || o.detach;
  cgroup_name = NULL;
  if (rt_cgroup_any (&spec->resources)
      && asprintf (&cgroup_name, "nsbox-oci-%s", o.id) >= 0)
    {
      co.limits = &spec->resources;
      co.cgroup_name = cgroup_name;
      co.limits_optional = true;
    }
  co.wait_start = !is_run;
  if (co.detach)
    r = rt_container_create (spec, &co, err);
  else
    {
      /* Foreground: the terminal, if any, is ours unless a console socket
       * was named. */
      r = rt_container_run (spec, &co, &status, err);
    }
  if (r < 0 || !co.detach)
    remove_state_dir (dir);
  if (r < 0)
    return nb_error_wrap (err, "%s %s", argv[0], o.id);
  return status;
}

int
oci_create (const struct oci_global *g, int argc, char **argv,
            nb_error_t *err)
{
  return create_or_run (g, argc, argv, false, err);
}

int
oci_run (const struct oci_global *g, int argc, char **argv, nb_error_t *err)
{
  return create_or_run (g, argc, argv, true, err);
}

static int
one_id (int argc, char **argv, nb_error_t *err)
{
  if (optind + 1 != argc)
    return nb_error_make (err, 0, "%s: expects one container id", argv[0]);
  return 0;
}

int
oci_start (const struct oci_global *g, int argc, char **argv,
           nb_error_t *err)
{
  cleanup_free char *dir = NULL;

  optind = 1;
  if (one_id (argc, argv, err) < 0
      || oci_container_dir (g, argv[1], true, &dir, err) < 0)
    return -1;
  if (rt_container_start (dir, err) < 0)
    return nb_error_wrap (err, "start %s", argv[1]);
  return 0;
}

static const struct
{
  const char *name;
  int sig;
} signals[] = {
  { "HUP", SIGHUP },     { "INT", SIGINT },     { "QUIT", SIGQUIT },
  { "ILL", SIGILL },     { "TRAP", SIGTRAP },   { "ABRT", SIGABRT },
  { "IOT", SIGIOT },     { "BUS", SIGBUS },     { "FPE", SIGFPE },
  { "KILL", SIGKILL },   { "USR1", SIGUSR1 },   { "SEGV", SIGSEGV },
  { "USR2", SIGUSR2 },   { "PIPE", SIGPIPE },   { "ALRM", SIGALRM },
  { "TERM", SIGTERM },   { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD },
  { "CONT", SIGCONT },   { "STOP", SIGSTOP },   { "TSTP", SIGTSTP },
  { "TTIN", SIGTTIN },   { "TTOU", SIGTTOU },   { "URG", SIGURG },
  { "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM },
  { "PROF", SIGPROF },   { "WINCH", SIGWINCH }, { "IO", SIGIO },
  { "PWR", SIGPWR },     { "SYS", SIGSYS },     { NULL, 0 },
};

/* "TERM", "SIGTERM", "term", "15", "RTMIN+3". */
static int
parse_signal (const char *s, nb_error_t *err)
{
  char *end;
  long n;

  errno = 0;
  n = strtol (s, &end, 10);
  if (*s && *end == '\0' && errno == 0)
    {
      if (n <= 0 || n >= NSIG)
        return nb_error_make (err, 0, "kill: signal %s is out of range", s);
      return (int) n;
    }
  if (strncasecmp (s, "SIG", 3) == 0)
    s += 3;
  for (int i = 0; signals[i].name; i++)
    if (strcasecmp (s, signals[i].name) == 0)
      return signals[i].sig;
  if (strncasecmp (s, "RTMIN", 5) == 0)
    {
      n = s[5] == '+' ? strtol (s + 6, &end, 10) : 0;
      if ((s[5] == '\0' || (s[5] == '+' && *end == '\0'))
          && SIGRTMIN + n <= SIGRTMAX)
        return SIGRTMIN + (int) n;
    }
  return nb_error_make (err, 0, "kill: unknown signal %s", s);
}

int
oci_kill (const struct oci_global *g, int argc, char **argv, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "all", no_argument, NULL, 'a' },
          { "signal", required_argument, NULL, 's' },
          { NULL, 0, NULL, 0 } };
  cleanup_free char *dir = NULL;
  const char *signame = NULL;
  bool all = false;
  int c, sig;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "+as:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 's':
        signame = optarg;
        break;
      default:
        return nb_error_make (err, 0, "kill: unknown or incomplete option "
                                      "'%s'",
                              argv[optind - 1]);
      }
  if (optind == argc || argc - optind > 2)
    return nb_error_make (err, 0, "kill: expects a container id and a "
                                  "signal");
  if (optind + 1 < argc)
    signame = argv[optind + 1];
  sig = parse_signal (signame ? signame : "TERM", err);
  if (sig < 0)
    return -1;
  if (oci_container_dir (g, argv[optind], true, &dir, err) < 0)
    return -1;
  if (rt_container_kill (dir, sig, all, err) < 0)
    return nb_error_wrap (err, "kill %s", argv[optind]);
  return 0;
}

int
oci_delete (const struct oci_global *g, int argc, char **argv,
            nb_error_t *err)
{
  static const struct option longopts[]
      = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  cleanup_free char *dir = NULL, *state = NULL;
  bool force = false;
  int c;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "+f", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        force = true;
        break;
      default:
        return nb_error_make (err, 0, "delete: unknown option '%s'",
                              argv[optind - 1]);
      }
  if (one_id (argc, argv, err) < 0)
    return -1;
  if (oci_container_dir (g, argv[optind], true, &dir, err) < 0)
    {
      /* runc's --force: what is not there is deleted already. */
      if (force && dir == NULL && err && *err
          && strstr ((*err)->msg, "does not exist"))
        {
          nb_error_free (err);
          return 0;
        }
      return -1;
    }
  /* A state dir without a record (create killed half-way) just goes. */
  state = nb_path_join (dir, "state.json");
  if (state && access (state, F_OK) == 0
      && rt_container_delete (dir, force, err) < 0)
    return nb_error_wrap (err, "delete %s", argv[optind]);
  remove_state_dir (dir);
  return 0;
}

/* exec's process: --process FILE whole, else the container's own process
 * with ARGS and the options over it. */
struct exec_opts
{
  const char *process, *cwd, *user, *console_socket, *pid_file;
  bool tty, detach;
  json_t *env;
};

static int
exec_process (json_t *config, const struct exec_opts *o, char **args,
              nb_error_t *err)
{
  json_t *p;

  if (o->process)
    {
      p = nb_json_load_file (o->process, err);
      if (p == NULL)
        return nb_error_wrap (err, "--process");
      json_object_set_new (config, "process", p);
    }
  p = json_object_get (config, "process");
  if (!json_is_object (p))
    return nb_error_make (err, 0, "the bundle's config.json has no process");
  if (!o->process)
    {
      json_t *a = json_array ();
      if (args == NULL || args[0] == NULL)
        {
          json_decref (a);
          return nb_error_make (err, 0, "exec: expects a command (or "
                                        "--process FILE)");
        }
      for (; *args; args++)
        json_array_append_new (a, json_string (*args));
      json_object_set_new (p, "args", a);
      json_object_set_new (p, "terminal", json_boolean (o->tty));
    }
  if (o->cwd)
    json_object_set_new (p, "cwd", json_string (o->cwd));
  if (o->user)
    {
      unsigned long uid, gid;
      char *end;
      uid = strtoul (o->user, &end, 10);
      gid = *end == ':' ? strtoul (end + 1, &end, 10) : 0;
      if (end == o->user || *end)
        return nb_error_make (err, 0, "exec: --user %s: expects UID[:GID]",
                              o->user);
      json_object_set_new (p, "user", json_pack ("{s:I, s:I}", "uid",
                                                 (json_int_t) uid, "gid",
                                                 (json_int_t) gid));
    }
  if (o->env && json_array_size (o->env))
    {
      json_t *env = json_object_get (p, "env");
      if (!json_is_array (env))
        json_object_set_new (p, "env", env = json_array ());
      json_array_extend (env, o->env);
    }
  return 0;
}

int
oci_exec (const struct oci_global *g, int argc, char **argv, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "process", required_argument, NULL, 'p' },
          { "tty", no_argument, NULL, 't' },
          { "detach", no_argument, NULL, 'd' },
          { "cwd", required_argument, NULL, 'w' },
          { "env", required_argument, NULL, 'e' },
          { "user", required_argument, NULL, 'u' },
          { "pid-file", required_argument, NULL, 'P' },
          { "console-socket", required_argument, NULL, 'c' },
          { "preserve-fds", required_argument, NULL, 'F' },
          { "no-new-privs", no_argument, NULL, 'n' },
          { "cap", required_argument, NULL, 'C' },
          { "process-label", required_argument, NULL, 'L' },
          { "apparmor", required_argument, NULL, 'A' },
          { NULL, 0, NULL, 0 } };
  struct exec_opts o = { 0 };
  cleanup_json json_t *env = json_array (), *config = NULL;
  cleanup_free char *dir = NULL, *cfg = NULL;
  cleanup_spec struct rt_spec *spec = NULL;
  struct rt_state st;
  struct rt_exec_opts eo = { 0 };
  const char *id;
  unsigned preserve = 0;
  int c, status = 0;

  opterr = 0;
  o.env = env;
  while ((c = getopt_long (argc, argv, "+p:tdw:e:u:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        o.process = optarg;
        break;
      case 't':
        o.tty = true;
        break;
      case 'd':
        o.detach = true;
        break;
      case 'w':
        o.cwd = optarg;
        break;
      case 'e':
        if (strchr (optarg, '=') == NULL)
          return nb_error_make (err, 0, "exec: --env %s: expects KEY=VALUE",
                                optarg);
        json_array_append_new (env, json_string (optarg));
        break;
      case 'u':
        o.user = optarg;
        break;
      case 'P':
        o.pid_file = optarg;
        break;
      case 'c':
        o.console_socket = optarg;
        break;
      case 'F':
        if (sb_parse_preserve_fds (optarg, &preserve, err) < 0)
          return -1;
        break;
      case 'n': /* the process's own noNewPrivileges holds either way */
      case 'C':
      case 'L':
      case 'A':
        break;
      default:
        return nb_error_make (err, 0, "exec: unknown or incomplete option "
                                      "'%s'",
                              argv[optind - 1]);
      }
  if (optind == argc)
    return nb_error_make (err, 0, "exec: expects a container id");
  id = argv[optind];
  if (oci_container_dir (g, id, true, &dir, err) < 0)
    return -1;
  if (rt_state_read (dir, &st, err) < 0)
    return nb_error_wrap (err, "exec %s", id);
  cfg = st.bundle ? nb_path_join (st.bundle, "config.json") : NULL;
  config = cfg ? nb_json_load_file (cfg, err) : NULL;
  if (config == NULL)
    {
      if (cfg == NULL)
        nb_error_make (err, 0, "its state names no bundle");
      nb_error_wrap (err, "exec %s", id);
      rt_state_clear (&st);
      return -1;
    }
  if (exec_process (config, &o, argv + optind + 1, err) < 0
      || rt_spec_from_json (config, st.bundle, &spec, err) < 0)
    {
      rt_state_clear (&st);
      return nb_error_wrap (err, "exec %s", id);
    }
  rt_state_clear (&st);
  spec->preserve_fds = preserve;
  if (spec->terminal && o.detach && o.console_socket == NULL)
    return nb_error_make (err, 0, "exec %s: a detached terminal needs "
                                  "--console-socket",
                          id);
  eo.detach = o.detach;
  eo.pid_file = o.pid_file;
  eo.console_socket = o.console_socket;
  if (rt_container_exec (dir, spec, &eo, &status, err) < 0)
    return nb_error_wrap (err, "exec %s", id);
  return status;
}
