#define _GNU_SOURCE
#include "cli/run_opts.h"
#include "cli/limits.h"
#include "cli/caps.h"
#include "cli/network.h"
#include "proxy/policy.h"
#include "cli/profile.h"
#include "cli/run_image.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static void
run_usage (FILE *out)
{
  fputs ("usage: nsbox run [-w DIR] [-t TEMPLATE] [--name NAME] "
         "[AGENT [WORKSPACE[:ro]...]] [-- ARGS...]\n"
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
         "      --preserve-fds N  hand the agent descriptors 3 .. 3+N-1\n"
         "      --mount-docker-socket\n"
         "                        the host's Docker or Podman socket inside "
         "(root-equivalent)\n"
         "      --memory SIZE, --memory-swap SIZE, --cpus N, --pids-limit N\n"
         "                        resource limits (a delegated cgroup v2)\n"
         "      --cap-add CAP, --cap-drop CAP\n"
         "                        capabilities of root in the sandbox "
         "(ALL for all)\n"
         "      --network MODE    none (loopback only), open, filtered "
         "(the egress proxy)\n"
         "                        or host (no isolation); default: the "
         "agent's\n"
         "  -p, --publish [IP:]HOST_PORT:PORT\n"
         "                        publish a sandbox port (open; host "
         "loopback by default)\n"
         "      --allow-host-port PORT\n"
         "                        the host's loopback PORT, as "
         "host.nsbox.internal:PORT (open)\n"
         "      --egress-allow PATTERN, --egress-deny PATTERN\n"
         "                        rules of the filtered network "
         "(nsbox-network(7))\n"
         "      --security-opt seccomp=FILE|unconfined\n"
         "                        another seccomp profile, or none\n"
         "See nsbox-run(1).\n",
         out);
}

static int
push_str (char ***v, size_t *n, const char *s)
{
  char **nv = realloc (*v, (*n + 2) * sizeof *nv);
  if (nv == NULL)
    return -1;
  *v = nv;
  if ((nv[*n] = strdup (s)) == NULL)
    return -1;
  nv[++*n] = NULL;
  return 0;
}

static bool
valid_port (const char *s, size_t len)
{
  unsigned long v = 0;
  if (len == 0 || len > 5)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return false;
      v = v * 10 + (unsigned long) (s[i] - '0');
    }
  return v >= 1 && v <= 65535;
}

/* -p [HOST_IP:]HOST_PORT:SANDBOX_PORT (docker run's), on the host's
 * loopback unless an address is given; kept as pasta's
 * ADDR/HOST_PORT:SANDBOX_PORT. */
static int
add_publish_arg (struct run_opts *o, const char *arg, nb_error_t *err)
{
  cleanup_free char *spec = NULL;
  const char *ports = arg, *colon = strchr (arg, ':'), *more;
  struct in_addr a;
  char ip[INET_ADDRSTRLEN] = "127.0.0.1";

  if (colon == NULL)
    goto bad;
  more = strchr (colon + 1, ':');
  if (more)
    {
      size_t iplen = (size_t) (colon - arg);
      if (iplen == 0 || iplen >= sizeof ip)
        goto bad;
      memcpy (ip, arg, iplen);
      ip[iplen] = '\0';
      if (inet_pton (AF_INET, ip, &a) != 1)
        goto bad;
      ports = colon + 1;
      colon = more;
    }
  if (strchr (colon + 1, ':') || !valid_port (ports, (size_t) (colon - ports))
      || !valid_port (colon + 1, strlen (colon + 1)))
    goto bad;
  if (asprintf (&spec, "%s/%.*s:%s", ip, (int) (colon - ports), ports,
                colon + 1)
          < 0
      || push_str (&o->publish, &o->n_publish, spec) < 0)
    return nb_error_make (err, ENOMEM, "run");
  return 0;
bad:
  nb_error_make (err, 0, "run: -p %s: expects [HOST_IP:]HOST_PORT:PORT", arg);
  return nb_error_hint (err, "e.g. -p 8080:80, or -p 0.0.0.0:8080:80 to "
                             "publish beyond this host's loopback");
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
int
sb_pin_path (const char *path, bool dir, int *fd, char real[PATH_MAX])
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
  if (sb_pin_path (copy, false, &fd, real) < 0)
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

int
sb_run_parse_args (int argc, char **argv, struct run_opts *o,
                   nb_error_t *err)
{
  static const struct option longopts[]
      = { { "workspace", required_argument, NULL, 'w' },
          { "template", required_argument, NULL, 't' },
          { "name", required_argument, NULL, 'n' },
          { "security-opt", required_argument, NULL, 's' },
          { "pull", required_argument, NULL, 'u' },
          { "network", required_argument, NULL, 'O' },
          { "publish", required_argument, NULL, 'p' },
          { "allow-host-port", required_argument, NULL, 'H' },
          { "egress-allow", required_argument, NULL, 'a' },
          { "egress-deny", required_argument, NULL, 'x' },
          { "credentials", required_argument, NULL, 'c' },
          { "allow-nested", no_argument, NULL, 'N' },
          { "env", required_argument, NULL, 'e' },
          { "env-file", required_argument, NULL, 'E' },
          { "volume", required_argument, NULL, 'v' },
          { "recreate", no_argument, NULL, 'R' },
          { "mount-docker-socket", no_argument, NULL, 'K' },
          { "preserve-fds", required_argument, NULL, 'F' },
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
  while ((c = getopt_long (argc, argv, "+w:t:e:v:p:dh", longopts, NULL)) != -1)
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
      case 'F':
        if (sb_parse_preserve_fds (optarg, &o->preserve_fds, err) < 0)
          return nb_error_wrap (err, "run");
        break;
      case 'm':
      case 'S':
      case 'C':
      case 'P':
        {
          const char *flag = c == 'm'   ? "--memory"
                             : c == 'S' ? "--memory-swap"
                             : c == 'C' ? "--cpus"
                                        : "--pids-limit";
          if (sb_limits_flag (flag, optarg, &o->limits, err) < 0)
            return nb_error_wrap (err, "run");
          if (c == 'm')
            o->memory_shown = optarg;
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
      case 'O':
        {
          enum sb_net_mode mode;
          if (sb_net_mode_parse (optarg, &mode, err) < 0)
            return nb_error_wrap (err, "run: --network");
          o->network = optarg;
          break;
        }
      case 'p':
        if (add_publish_arg (o, optarg, err) < 0)
          return -1;
        break;
      case 'H':
        {
          char *joined = NULL;
          if (!valid_port (optarg, strlen (optarg)))
            return nb_error_make (err, 0, "run: --allow-host-port %s: "
                                          "expects a port (1 to 65535)",
                                  optarg);
          if (asprintf (&joined, "%s%s%s", o->host_ports ? o->host_ports : "",
                        o->host_ports ? "," : "", optarg)
              < 0)
            return nb_error_make (err, ENOMEM, "run");
          free (o->host_ports);
          o->host_ports = joined;
          break;
        }
      case 'a':
      case 'x':
        {
          struct nb_rule rule;
          if (nb_policy_parse_rule (optarg, &rule, err) < 0)
            return nb_error_wrap (err, "run: %s",
                                  c == 'a' ? "--egress-allow"
                                           : "--egress-deny");
        }
        if (push_str (c == 'a' ? &o->egress_allow : &o->egress_deny,
                      c == 'a' ? &o->n_egress_allow : &o->n_egress_deny,
                      optarg)
            < 0)
          return nb_error_make (err, ENOMEM, "run");
        break;
      case 'u':
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
  /* "nsbox run -- ARGS" names no agent.  "nsbox run AGENT [WORKSPACE...]
   * [-- ARGS]" does, with more workspaces after it, as docker sandbox run
   * has them: the agent's arguments come only after "--". */
  if (optind < argc && strcmp (argv[optind - 1], "--") != 0)
    {
      o->agent = argv[optind++];
      o->workspaces = argv + optind;
      while (optind < argc && strcmp (argv[optind], "--") != 0)
        {
          if (argv[optind][0] == '-')
            {
              nb_error_make (err, 0, "run: %s after the agent: nsbox's "
                                     "options go before it, the agent's "
                                     "after --",
                             argv[optind]);
              return nb_error_hint (err, "e.g. nsbox run -e KEY %s -- %s",
                                    o->agent, argv[optind]);
            }
          o->n_workspaces++;
          optind++;
        }
      if (optind < argc)
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

/* --preserve-fds N: the caller's fds 3 .. 3 + N - 1 go to the process. */
int
sb_parse_preserve_fds (const char *arg, unsigned *out, nb_error_t *err)
{
  char *end;
  unsigned long n;

  errno = 0;
  n = strtoul (arg, &end, 10);
  if (errno || *end || end == arg || n > 4096)
    return nb_error_make (err, 0, "--preserve-fds %s: expects a count (0 "
                                  "to 4096)",
                          arg);
  /* Every one of them must be open now: else a descriptor nsbox opens
   * later could take a free number among them and be handed on. */
  for (unsigned long fd = 3; fd < 3 + n; fd++)
    if (fcntl ((int) fd, F_GETFD) < 0)
      return nb_error_make (err, 0, "--preserve-fds %s: descriptor %lu is "
                                    "not open",
                            arg, fd);
  *out = (unsigned) n;
  return 0;
}

void
sb_run_opts_clear (struct run_opts *o)
{
  nb_free_strvp (&o->env);
  nb_free_strvp (&o->binds);
  for (size_t i = 0; i < o->n_binds; i++)
    close (o->bind_fds[i]);
  free (o->bind_fds);
  nb_free_strvp (&o->cap_add);
  nb_free_strvp (&o->cap_drop);
  nb_free_strvp (&o->publish);
  free (o->host_ports);
  nb_free_strvp (&o->egress_allow);
  nb_free_strvp (&o->egress_deny);
}
