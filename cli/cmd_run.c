/* nsbox run [OPTIONS] [AGENT] [-- ARGS...] */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/plan.h"
#include "cli/profile.h"
#include "cli/run_image.h"
#include "cli/state.h"
#include "cli/gitid.h"
#include "cli/join.h"
#include "cli/drift.h"
#include "cli/caps.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct run_opts
{
  const char *workspace;
  const char *template_name;
  const char *name;
  const char *agent;
  const char *seccomp; /* --security-opt seccomp=...: a file, "unconfined" */
  const char *credentials; /* --credentials sandbox|host|none */
  bool allow_nested;       /* --allow-nested */
  char **env;              /* -e KEY=VALUE, -e KEY, --env-file: KEY=VALUE */
  size_t n_env;
  const char *pull;    /* --pull always|missing|never */
  bool detach;         /* -d */
  bool recreate;       /* --recreate */
  bool docker_socket;  /* --mount-docker-socket */
  char **cap_add, **cap_drop; /* --cap-add, --cap-drop: CAP_X names */
  struct rt_cgroup_limits limits; /* --memory, --memory-swap, --cpus,
                                     --pids-limit */
  const char *memory_shown;
  size_t n_cap_add, n_cap_drop;
  char **binds;        /* -v: source, destination, ro|rw triples */
  int *bind_fds;       /* each source, pinned (see pin_path) */
  size_t n_binds;
  char **args;
  int n_args;
};

static void
run_usage (FILE *out)
{
  fputs ("usage: nsbox run [-w DIR] [-t TEMPLATE] [--name NAME] [AGENT] "
         "[-- ARGS...]\n"
         "  -w, --workspace DIR   the workspace (default: the current "
         "directory)\n"
         "  -t, --template NAME   the template: 'host' or an image (default: "
         "the agent's)\n"
         "      --pull POLICY     missing (default), always or never\n"
         "      --credentials M   the agent's state: sandbox (default), host "
         "or none\n"
         "      --allow-nested    let the agent make sandboxes of its own "
         "(nsbox, bwrap, podman)\n"
         "  -e, --env KEY[=VALUE] set a variable (KEY alone: the host's value)\n"
         "  -v, --volume SRC:DEST[:ro]\n"
         "                        bind a host file or directory (SRC) at "
         "DEST\n"
         "      --env-file FILE   variables from FILE, one KEY[=VALUE] a line\n"
         "      --name NAME       use the sandbox called NAME\n"
         "  -d, --detach          start it in the background (output in "
         "nsbox's runtime dir)\n"
         "      --recreate        restart a running sandbox with these "
         "options\n"
         "      --mount-docker-socket\n"
         "                        the host's Docker or Podman socket inside "
         "(root-equivalent)\n"
         "      --memory SIZE, --memory-swap SIZE, --cpus N, --pids-limit N\n"
         "                        resource limits (a delegated cgroup v2)\n"
         "      --cap-add CAP, --cap-drop CAP\n"
         "                        capabilities of root in the sandbox "
         "(ALL for all)\n"
         "      --security-opt seccomp=FILE|unconfined\n"
         "                        another seccomp profile, or none\n"
         "See nsbox-run(1).\n",
         out);
}

/* KEY=VALUE as it is; KEY alone takes the host's value, and nothing when
 * the host has none (docker run -e KEY). */
static int
add_env_arg (struct run_opts *o, const char *arg, const char *where,
             nb_error_t *err)
{
  cleanup_free char *key = strndup (arg, strcspn (arg, "="));
  const char *eq = strchr (arg, '=');

  if (key == NULL)
    return nb_error_make (err, ENOMEM, "run");
  if (*key == '\0')
    return nb_error_make (err, 0, "run: %s %s: a variable needs a name",
                          where, arg);
  if (!sb_valid_env_name (key))
    return nb_error_make (err, 0, "run: %s %s: not a variable name", where,
                          arg);
  /* A later -e of the same name replaces an earlier one. */
  if (sb_env_push (&o->env, &o->n_env, key, eq ? eq + 1 : getenv (key)) < 0)
    return nb_error_make (err, ENOMEM, "run");
  return 0;
}

/* --env-file: KEY[=VALUE] a line; blank lines and # comments skipped. */
static int
read_env_file (struct run_opts *o, const char *path, nb_error_t *err)
{
  cleanup_free char *text = NULL;
  char where[64];
  int line = 0;

  if (nb_read_file (path, &text, NULL, err) < 0)
    return nb_error_wrap (err, "run: --env-file");
  for (char *p = text, *next; p; p = next)
    {
      size_t len;
      next = strchr (p, '\n');
      if (next)
        *next++ = '\0';
      line++;
      len = strlen (p);
      if (len && p[len - 1] == '\r')
        p[len - 1] = '\0';
      while (*p == ' ' || *p == '\t')
        p++;
      if (*p == '\0' || *p == '#')
        continue;
      snprintf (where, sizeof where, "--env-file line %d:", line);
      if (add_env_arg (o, p, where, err) < 0)
        return nb_error_wrap (err, "%s", path);
    }
  return 0;
}

/* Open PATH once, O_PATH (a directory with DIR), and say what it is from
 * the fd: the checks then apply to exactly what will be mounted, which no
 * later swap of a path component for a symlink can change. */
static int
pin_path (const char *path, bool dir, int *fd, char real[PATH_MAX])
{
  char link[64];
  ssize_t n;

  *fd = open (path, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
  if (*fd < 0)
    return -1;
  snprintf (link, sizeof link, "/proc/self/fd/%d", *fd);
  n = readlink (link, real, PATH_MAX - 1);
  if (n <= 0 || real[0] != '/')
    {
      close (*fd);
      *fd = -1;
      errno = n < 0 ? errno : ENOENT;
      return -1;
    }
  real[n] = '\0';
  return 0;
}

/* -v SRC:DEST[:ro|:rw]: SRC a host path that exists (made real: the
 * sandbox binds what it is now), DEST an absolute path inside.  A later -v
 * of the same DEST replaces an earlier one. */
static int
add_bind_arg (struct run_opts *o, const char *arg, nb_error_t *err)
{
  cleanup_free char *copy = strdup (arg);
  char real[PATH_MAX], *dest, *mode, **nb;
  const char *how = "rw";
  int fd, *nfds;

  if (copy == NULL)
    return nb_error_make (err, ENOMEM, "run");
  dest = strchr (copy, ':');
  if (dest == NULL || dest == copy || dest[1] == '\0')
    {
      nb_error_make (err, 0, "run: -v %s: expects SRC:DEST[:ro]", arg);
      return nb_error_hint (err, "e.g. -v ~/datasets:/data:ro");
    }
  *dest++ = '\0';
  mode = strchr (dest, ':');
  if (mode)
    {
      *mode++ = '\0';
      if (strcmp (mode, "ro") && strcmp (mode, "rw"))
        return nb_error_make (err, 0, "run: -v %s: %s: expects ro or rw",
                              arg, mode);
      how = mode;
    }
  if (dest[0] != '/' || strcmp (dest, "/") == 0 || strstr (dest, "/../")
      || (strlen (dest) >= 3 && strcmp (dest + strlen (dest) - 3, "/..") == 0))
    return nb_error_make (err, 0, "run: -v %s: %s: give an absolute path "
                                  "inside the sandbox (not / and no '..')",
                          arg, dest);
  if (pin_path (copy, false, &fd, real) < 0)
    return nb_error_make (err, errno, "run: -v %s", copy);
  for (size_t i = 0; i < o->n_binds; i++)
    if (strcmp (o->binds[3 * i + 1], dest) == 0)
      {
        char *s = strdup (real), *m = strdup (how);
        if (s == NULL || m == NULL)
          {
            free (s);
            free (m);
            close (fd);
            return nb_error_make (err, ENOMEM, "run");
          }
        free (o->binds[3 * i]);
        free (o->binds[3 * i + 2]);
        close (o->bind_fds[i]);
        o->binds[3 * i] = s;
        o->binds[3 * i + 2] = m;
        o->bind_fds[i] = fd;
        return 0;
      }
  nb = realloc (o->binds, (3 * o->n_binds + 4) * sizeof (char *));
  nfds = nb ? realloc (o->bind_fds, (o->n_binds + 1) * sizeof (int)) : NULL;
  if (nb)
    o->binds = nb;
  if (nfds == NULL)
    {
      close (fd);
      return nb_error_make (err, ENOMEM, "run");
    }
  o->bind_fds = nfds;
  nfds[o->n_binds] = fd;
  nb[3 * o->n_binds] = strdup (real);
  nb[3 * o->n_binds + 1] = strdup (dest);
  nb[3 * o->n_binds + 2] = strdup (how);
  o->n_binds++;
  nb[3 * o->n_binds] = NULL;
  if (!nb[3 * o->n_binds - 3] || !nb[3 * o->n_binds - 2]
      || !nb[3 * o->n_binds - 1])
    return nb_error_make (err, ENOMEM, "run");
  return 0;
}

/* "512m", "2g", "100k", "1048576" -> bytes (docker's units, powers of
 * 1024). */
static int
parse_size (const char *s, int64_t *out)
{
  char *end;
  double v = strtod (s, &end);
  double mul = 1;

  if (end == s || v < 0)
    return -1;
  switch (*end)
    {
    case 'b': case 'B': case '\0': break;
    case 'k': case 'K': mul = 1024.0; break;
    case 'm': case 'M': mul = 1024.0 * 1024; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
    default: return -1;
    }
  if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
    return -1;
  if (v * mul < 4096 || v * mul > 9.0e18)
    return -1;
  *out = (int64_t) (v * mul);
  return 0;
}

/* --mount-docker-socket: the socket DOCKER_HOST names, else Docker's, else
 * rootless Docker's or Podman's, bound at /run/docker.sock with
 * DOCKER_HOST pointing there. */
static int
add_docker_socket (struct run_opts *o, nb_error_t *err)
{
  const char *dh = getenv ("DOCKER_HOST"), *xdg = getenv ("XDG_RUNTIME_DIR");
  char cand[5][PATH_MAX], *arg = NULL;
  int n = 0, r;

  if (dh && strncmp (dh, "unix://", 7) == 0)
    snprintf (cand[n++], PATH_MAX, "%s", dh + 7);
  snprintf (cand[n++], PATH_MAX, "/run/docker.sock");
  if (xdg && xdg[0] == '/')
    {
      snprintf (cand[n++], PATH_MAX, "%s/docker.sock", xdg);
      snprintf (cand[n++], PATH_MAX, "%s/podman/podman.sock", xdg);
    }
  snprintf (cand[n++], PATH_MAX, "/run/user/%u/podman/podman.sock",
            (unsigned) getuid ());
  for (int i = 0; i < n; i++)
    {
      struct stat st;
      if (stat (cand[i], &st) < 0 || !S_ISSOCK (st.st_mode))
        continue;
      fprintf (stderr, "nsbox: warning: --mount-docker-socket: the sandbox "
                       "gets %s, and with it whatever that engine may do: "
                       "for Docker that is root on this host\n",
               cand[i]);
      if (asprintf (&arg, "%s:/run/docker.sock", cand[i]) < 0)
        return nb_error_make (err, ENOMEM, "run");
      r = add_bind_arg (o, arg, err);
      free (arg);
      if (r < 0)
        return -1;
      if (sb_env_push (&o->env, &o->n_env, "DOCKER_HOST",
                       "unix:///run/docker.sock")
          < 0)
        return nb_error_make (err, ENOMEM, "run");
      return 0;
    }
  nb_error_make (err, 0, "run: --mount-docker-socket: no Docker or Podman "
                         "socket here (DOCKER_HOST, /run/docker.sock, "
                         "$XDG_RUNTIME_DIR/docker.sock, "
                         "$XDG_RUNTIME_DIR/podman/podman.sock)");
  return nb_error_hint (err, "start one (e.g. systemctl --user start "
                             "podman.socket), or set DOCKER_HOST");
}

static int
parse_args (int argc, char **argv, struct run_opts *o, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "workspace", required_argument, NULL, 'w' },
          { "template", required_argument, NULL, 't' },
          { "name", required_argument, NULL, 'n' },
          { "security-opt", required_argument, NULL, 's' },
          { "pull", required_argument, NULL, 'p' },
          { "credentials", required_argument, NULL, 'c' },
          { "allow-nested", no_argument, NULL, 'N' },
          { "env", required_argument, NULL, 'e' },
          { "env-file", required_argument, NULL, 'E' },
          { "volume", required_argument, NULL, 'v' },
          { "recreate", no_argument, NULL, 'R' },
          { "mount-docker-socket", no_argument, NULL, 'K' },
          { "cap-add", required_argument, NULL, 'A' },
          { "memory", required_argument, NULL, 'm' },
          { "memory-swap", required_argument, NULL, 'S' },
          { "cpus", required_argument, NULL, 'C' },
          { "pids-limit", required_argument, NULL, 'P' },
          { "cap-drop", required_argument, NULL, 'D' },
          { "detach", no_argument, NULL, 'd' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  int c;

  opterr = 0;
  /* '+': options stop at the agent; what follows belongs to it. */
  while ((c = getopt_long (argc, argv, "+w:t:e:v:dh", longopts, NULL)) != -1)
    switch (c)
      {
      case 'w':
        o->workspace = optarg;
        break;
      case 't':
        o->template_name = optarg;
        break;
      case 'n':
        o->name = optarg;
        break;
      case 'N':
        o->allow_nested = true;
        break;
      case 'd':
        o->detach = true;
        break;
      case 'R':
        o->recreate = true;
        break;
      case 'K':
        o->docker_socket = true;
        break;
      case 'm':
      case 'S':
        {
          int64_t *v = c == 'm' ? &o->limits.memory : &o->limits.memory_swap;
          if (parse_size (optarg, v) < 0)
            {
              nb_error_make (err, 0, "run: %s %s: expects a size", 
                             c == 'm' ? "--memory" : "--memory-swap", optarg);
              return nb_error_hint (err, "bytes, or with k, m or g: 512m, "
                                         "2g");
            }
          if (c == 'm')
            o->memory_shown = optarg;
          break;
        }
      case 'C':
        {
          char *end;
          double cpus = strtod (optarg, &end);
          if (*end || end == optarg || !(cpus >= 0.01 && cpus <= 1024))
            return nb_error_make (err, 0, "run: --cpus %s: expects a number "
                                          "of CPUs (0.01 to 1024)",
                                  optarg);
          o->limits.cpu_period = 100000;
          o->limits.cpu_quota = (int64_t) (cpus * 100000 + 0.5);
          break;
        }
      case 'P':
        {
          char *end;
          long long n = strtoll (optarg, &end, 10);
          if (*end || end == optarg || n < 1)
            return nb_error_make (err, 0, "run: --pids-limit %s: expects a "
                                          "number of processes",
                                  optarg);
          o->limits.pids = n;
          break;
        }
      case 'A':
      case 'D':
        {
          char *cap = sb_cap_name (optarg, err);
          char ***v = c == 'A' ? &o->cap_add : &o->cap_drop;
          size_t *n = c == 'A' ? &o->n_cap_add : &o->n_cap_drop;
          char **nv;
          if (cap == NULL)
            return nb_error_wrap (err, "run: %s",
                                  c == 'A' ? "--cap-add" : "--cap-drop");
          nv = realloc (*v, (*n + 2) * sizeof (char *));
          if (nv == NULL)
            {
              free (cap);
              return nb_error_make (err, ENOMEM, "run");
            }
          *v = nv;
          nv[(*n)++] = cap;
          nv[*n] = NULL;
          break;
        }
      case 'e':
        if (add_env_arg (o, optarg, "-e", err) < 0)
          return -1;
        break;
      case 'E':
        if (read_env_file (o, optarg, err) < 0)
          return -1;
        break;
      case 'v':
        if (add_bind_arg (o, optarg, err) < 0)
          return -1;
        break;
      case 'c':
        if (strcmp (optarg, "sandbox") && strcmp (optarg, "host")
            && strcmp (optarg, "none"))
          return nb_error_make (err, 0, "run: --credentials %s: expects "
                                        "sandbox, host or none",
                                optarg);
        o->credentials = optarg;
        break;
      case 'p':
        if (strcmp (optarg, "always") && strcmp (optarg, "missing")
            && strcmp (optarg, "never"))
          return nb_error_make (err, 0, "run: --pull %s: expects always, "
                                        "missing or never",
                                optarg);
        o->pull = optarg;
        break;
      case 's':
        if (strncmp (optarg, "seccomp=", 8) != 0 || optarg[8] == '\0')
          {
            nb_error_make (err, 0, "run: --security-opt %s: not known",
                           optarg);
            return nb_error_hint (err, "nsbox knows seccomp=FILE and "
                                       "seccomp=unconfined");
          }
        o->seccomp = optarg + 8;
        break;
      case 'h':
        run_usage (stdout);
        exit (0);
      default:
        return nb_error_make (err, 0, "run: unknown or incomplete option '%s'",
                              argv[optind - 1]);
      }
  /* "nsbox run -- ARGS" names no agent; "nsbox run AGENT [--] ARGS" does. */
  if (optind < argc && strcmp (argv[optind - 1], "--") != 0)
    {
      o->agent = argv[optind++];
      if (optind < argc && strcmp (argv[optind], "--") == 0)
        optind++;
    }
  o->args = argv + optind;
  o->n_args = argc - optind;
  if (o->docker_socket && add_docker_socket (o, err) < 0)
    return -1;
  if (o->name && !sb_valid_name (o->name))
    return nb_error_make (err, 0,
                          "run: --name %s: use letters, digits, '-', '_' and "
                          "'.' (at most 63)",
                          o->name);
  return 0;
}

/* The workspace as a real path, refused when it would expose the user's home
 * (and so ~/.ssh) or the whole host. */
static int
resolve_workspace (const char *given, const char *home, char **out, int *fd,
                   nb_error_t *err)
{
  char real[PATH_MAX];
  const char *path = given ? given : ".";

  if (pin_path (path, true, fd, real) < 0)
    {
      if (given == NULL)
        return nb_error_make (err, errno, "workspace: the current directory");
      return nb_error_make (err, errno, "workspace %s", given);
    }
  if (access (real, R_OK | X_OK) < 0)
    return nb_error_make (err, errno, "workspace %s", real);
  if (strcmp (real, "/") == 0 || (home && nb_path_is_within (home, real)))
    {
      nb_error_make (err, 0,
                     "workspace %s: it holds your home directory, so the "
                     "sandbox would see all of it (~/.ssh included)",
                     real);
      return nb_error_hint (err, "run nsbox in a project folder, or pick one "
                                 "with -w DIR");
    }
  *out = strdup (real);
  return *out ? 0 : nb_error_make (err, ENOMEM, "workspace");
}

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

static int
run (int argc, char **argv, int *status, nb_error_t *err)
{
  struct run_opts o = { .limits = RT_CGROUP_NO_LIMITS };
  struct sb_profile *prof = NULL;
  struct sb_sandbox *sb = NULL;
  cleanup_free char *workspace = NULL, *rootfs = NULL, *bundle = NULL,
                    *text = NULL, *home = NULL, *user = NULL;
  cleanup_free char **cmd = NULL;
  cleanup_strv char **env = NULL, **binds = NULL;
  struct rt_spec *spec = NULL;
  json_t *json = NULL, *seccomp = NULL, *options = NULL;
  cleanup_close int run_lock = -1, start_lock = -1, out_fd = -1,
                    null_fd = -1, ws_fd = -1;
  cleanup_free struct rt_bind_fd *pinned = NULL;
  char cgroup_name[32];
  struct passwd *pw = getpwuid (getuid ());
  const char *tmpl;
  int ret = -1, terminal = isatty (STDIN_FILENO) && isatty (STDOUT_FILENO);

  if (parse_args (argc, argv, &o, err) < 0)
    return -1;
  home = strdup (getenv ("HOME") && getenv ("HOME")[0] == '/'
                     ? getenv ("HOME")
                     : (pw ? pw->pw_dir : "/"));
  user = strdup (pw ? pw->pw_name : "user");
  if (home == NULL || user == NULL)
    return nb_error_make (err, ENOMEM, "run");
  if (sb_profile_load (o.agent ? o.agent : "shell", &prof, err) < 0)
    return -1;
  tmpl = o.template_name ? o.template_name : prof->template_name;
  if (resolve_workspace (o.workspace, home, &workspace, &ws_fd, err) < 0)
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
  if (options == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (rt_cgroup_any (&o.limits))
    json_object_set_new (
        options, "limits",
        json_pack ("{s:I, s:I, s:I, s:I}", "memory",
                   (json_int_t) o.limits.memory, "memory_swap",
                   (json_int_t) o.limits.memory_swap, "pids",
                   (json_int_t) o.limits.pids, "cpu_quota",
                   (json_int_t) o.limits.cpu_quota));
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
      struct sb_join j = { .argv = cmd, .env = o.env,
                           .terminal = terminal };
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
                                 .user_env = o.env,
                                 .user_binds = (const char *const *) o.binds };
      if (sb_image_plan (sb, prof, &ir, &json, err) < 0)
        goto out;
      goto planned;
    }
  if (sb_plan_host_rootfs (rootfs, err) < 0)
    goto out;
  env = make_env (sb, prof, home, user, terminal, o.env);
  if (env == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (sb_state_binds (prof, sb->agent,
                      o.credentials ? o.credentials : "sandbox", home, &binds,
                      err)
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
      .user_binds = (const char *const *) o.binds,
    };
    if (sb_plan_host_spec (&plan, &json, err) < 0)
      goto out;
  }
planned:
  if ((o.cap_add || o.cap_drop)
      && sb_caps_adjust (json, o.cap_add, o.cap_drop, err) < 0)
    goto out;
  /* The plan is a standard config.json: kept in the sandbox's runtime dir
   * for inspection, and executed by the same engine as `nsbox oci`. */
  text = json_dumps (json, JSON_INDENT (2));
  if (text == NULL
      || nb_write_file_atomic (bundle, text, strlen (text), 0600, 0, err) < 0)
    {
      if (text == NULL)
        nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  if (rt_spec_from_json (json, sb->run_dir, &spec, err) < 0)
    goto out;
  /* The workspace and the -v sources are mounted from the fds opened when
   * they were checked. */
  pinned = calloc (o.n_binds + 1, sizeof *pinned);
  if (pinned == NULL)
    {
      nb_error_make (err, ENOMEM, "run");
      goto out;
    }
  pinned[0].source = workspace;
  pinned[0].fd = ws_fd;
  for (size_t i = 0; i < o.n_binds; i++)
    {
      pinned[i + 1].source = o.binds[3 * i];
      pinned[i + 1].fd = o.bind_fds[i];
    }
  spec->bind_fds = pinned;
  spec->n_bind_fds = o.n_binds + 1;
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
  if (ret < 0)
    nb_error_wrap (err, "run %s", sb->name);

out:
  rt_spec_free (spec);
  json_decref (json);
  json_decref (seccomp);
  json_decref (options);
  nb_free_strvp (&o.env);
  nb_free_strvp (&o.binds);
  for (size_t i = 0; i < o.n_binds; i++)
    close (o.bind_fds[i]);
  free (o.bind_fds);
  nb_free_strvp (&o.cap_add);
  nb_free_strvp (&o.cap_drop);
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
