#define _GNU_SOURCE
#include "cli/network.h"
#include "proxy/proxy.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/proctitle.h"
#include "runtime/base/fs.h"
#include "runtime/base/plugin.h"
#include "runtime/net.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void
sb_net_clear (struct sb_net *net)
{
  for (size_t i = 0; i < sizeof net->owned / sizeof *net->owned; i++)
    free (net->owned[i]);
  free (net->owned_allow);
  free (net->owned_deny);
  memset (net, 0, sizeof *net);
}

int
sb_net_proxy_env (char ***env, size_t *n)
{
  static const char *const vars[] = {
    "HTTP_PROXY=http://127.0.0.1:3128",
    "http_proxy=http://127.0.0.1:3128",
    "HTTPS_PROXY=http://127.0.0.1:3128",
    "https_proxy=http://127.0.0.1:3128",
    /* socks5h: the proxy resolves names, so its policy sees them. */
    "ALL_PROXY=socks5h://127.0.0.1:1080",
    "all_proxy=socks5h://127.0.0.1:1080",
    "NO_PROXY=localhost,127.0.0.1,::1",
    "no_proxy=localhost,127.0.0.1,::1",
  };
  size_t k = sizeof vars / sizeof *vars;
  char **grown = realloc (*env, (*n + k + 1) * sizeof *grown);

  if (grown == NULL)
    return -1;
  *env = grown;
  for (size_t i = 0; i < k; i++)
    {
      grown[*n] = strdup (vars[i]);
      if (grown[*n] == NULL)
        return -1;
      grown[++*n] = NULL;
    }
  return 0;
}

static int
cmp_int (const void *a, const void *b)
{
  return *(const int *) a - *(const int *) b;
}

/* Close every descriptor from 3 up but those in KEEP. */
static void
close_all_but (int *keep, size_t n)
{
  unsigned from = 3;

  qsort (keep, n, sizeof *keep, cmp_int);
  for (size_t i = 0; i < n; i++)
    {
      if (keep[i] < (int) from)
        continue;
      if ((unsigned) keep[i] > from)
        syscall (SYS_close_range, from, (unsigned) keep[i] - 1, 0);
      from = (unsigned) keep[i] + 1;
    }
  syscall (SYS_close_range, from, ~0U, 0);
}

/* Read what READ_FD says until it is closed: nothing means ready. */
static int
await_ready (int read_fd, nb_error_t *err)
{
  char text[2048];
  size_t len = 0;
  struct pollfd p = { .fd = read_fd, .events = POLLIN };

  for (;;)
    {
      ssize_t r;
      int ready = poll (&p, 1, 20000);
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready == 0)
        return nb_error_make (err, 0, "the sandbox's network was not ready "
                                      "after 20 s");
      r = read (read_fd, text + len, sizeof text - 1 - len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0 || len + (size_t) r >= sizeof text - 1)
        {
          if (r > 0)
            len += (size_t) r;
          break;
        }
      len += (size_t) r;
    }
  if (len == 0)
    return 0;
  text[len] = '\0';
  while (len > 0 && text[len - 1] == '\n')
    text[--len] = '\0';
  /* nsbox's own words (an error with its hint), made in the guardian. */
  return nb_error_set_text (err, 0, text);
}

int
sb_net_guardian (int init_pidfd, const int *keep, size_t n_keep,
                 int (*body) (int stop_fd, int ready_fd, void *arg),
                 void *arg, nb_error_t *err)
{
  cleanup_close int rd = -1, wr = -1;
  int fds[2], st;
  pid_t kid;

  if (pipe2 (fds, O_CLOEXEC) < 0)
    return nb_error_make (err, errno, "pipe");
  rd = fds[0];
  wr = fds[1];
  kid = fork ();
  if (kid < 0)
    return nb_error_make (err, errno, "fork");
  if (kid == 0)
    {
      int kept[16], n = 0, null;
      sigset_t none;

      /* Twice: the guardian is not nsbox's child, so nsbox neither waits
       * for it nor hears of its end. */
      if (fork () != 0)
        _exit (0);
      setsid ();
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      signal (SIGPIPE, SIG_IGN);
      nb_set_proctitle ("nsbox-net");
      null = open ("/dev/null", O_RDWR | O_CLOEXEC);
      for (int i = 0; i < 3 && null >= 0; i++)
        dup2 (null, i);
      kept[n++] = init_pidfd;
      kept[n++] = wr;
      for (size_t i = 0; i < n_keep && n < 16; i++)
        kept[n++] = keep[i];
      close_all_but (kept, (size_t) n);
      if (body (init_pidfd, wr, arg) < 0)
        _exit (1);
      _exit (0);
    }
  close (nb_steal_fd (&wr));
  while (waitpid (kid, &st, 0) < 0 && errno == EINTR)
    ;
  return await_ready (rd, err);
}

/* In the guardian: say why it failed (READY_FD goes to nsbox). */
static int
fail_to (int ready_fd, const char *fmt, ...)
{
  char text[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (text, sizeof text, fmt, ap);
  va_end (ap);
  if (write (ready_fd, text, strlen (text)) < 0)
    return -1;
  return -1;
}

/* Is PROG an executable in $PATH, where execvp finds it? */
static bool
in_path (const char *prog)
{
  cleanup_free char *path = nb_find_in_path (prog);
  return path != NULL;
}

struct helper
{
  const struct sb_net *net;
  pid_t init_pid;
  bool pasta; /* else slirp4netns */
};

/* The helper's command line.  Its readiness comes on fd 3: pasta writes
 * its pid file there once the namespace is configured, slirp4netns its
 * ready byte. */
static char **
helper_argv (const struct helper *h)
{
  static char pid[16];
  static const char *pasta[64] = {
    "pasta", "--foreground", "--config-net",
    "--address", SB_NET_ADDR, "--netmask", "24",
    "--gateway", SB_NET_GATEWAY,
    "--dns-forward", SB_NET_DNS,
    /* The gateway is not the host: the host's loopback stays out of
     * reach (DESIGN: only a port asked for). */
    "--no-map-gw",
    "--mtu", "65520",
    "-u", "none", "-U", "none",
    "--pid", "/proc/self/fd/3",
  };
  static const char *slirp[] = {
    "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
    "--enable-ipv6", "--ready-fd=3", pid, "tap0", NULL,
  };
  size_t n = 0;

  snprintf (pid, sizeof pid, "%d", (int) h->init_pid);
  if (!h->pasta)
    return (char **) slirp;
  while (pasta[n])
    n++;
  /* The host's loopback: only the ports asked for, forwarded from the
   * sandbox's own loopback. */
  pasta[n++] = "-T";
  pasta[n++] = h->net->host_ports ? h->net->host_ports : "none";
  if (h->net->publish == NULL || h->net->publish[0] == NULL)
    {
      pasta[n++] = "-t";
      pasta[n++] = "none";
    }
  for (const char *const *p = h->net->publish; p && *p && n < 60; p++)
    {
      pasta[n++] = "-t";
      pasta[n++] = *p;
    }
  pasta[n++] = pid;
  pasta[n] = NULL;
  return (char **) pasta;
}

/* In the guardian: run pasta (or slirp4netns) for the sandbox, say when
 * its network is up, stop it when the sandbox ends. */
static int
helper_body (int stop_fd, int ready_fd, void *arg)
{
  const struct helper *h = arg;
  char **argv = helper_argv (h);
  char errtext[1024];
  size_t errlen = 0;
  int readyp[2], errp[2], hfd, st;
  bool ready = false;
  pid_t kid;

  if (pipe2 (readyp, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)
    return fail_to (ready_fd, "pipe: %s", strerror (errno));
  kid = fork ();
  if (kid < 0)
    return fail_to (ready_fd, "fork: %s", strerror (errno));
  if (kid == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      /* pasta takes an ignored SIGPIPE for a failure to set it up. */
      signal (SIGPIPE, SIG_DFL);
      dup2 (errp[1], 2);
      dup2 (readyp[1], 3);
      execvp (argv[0], argv);
      dprintf (2, "exec %s: %s", argv[0], strerror (errno));
      _exit (127);
    }
  close (readyp[1]);
  close (errp[1]);
  hfd = (int) syscall (SYS_pidfd_open, kid, 0);
  if (hfd < 0)
    return fail_to (ready_fd, "pidfd_open: %s", strerror (errno));
  for (;;)
    {
      struct pollfd p[4] = {
        { .fd = stop_fd, .events = POLLIN },
        { .fd = hfd, .events = POLLIN },
        { .fd = errp[0], .events = POLLIN },
        { .fd = ready ? -1 : readyp[0], .events = POLLIN },
      };
      if (poll (p, 4, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents)
        {
          /* The sandbox ended: so does its network. */
          kill (kid, SIGTERM);
          break;
        }
      if (p[2].revents)
        {
          char buf[512];
          ssize_t r = read (errp[0], buf, sizeof buf);
          if (r <= 0)
            {
              close (errp[0]);
              errp[0] = -1;
            }
          else if (!ready)
            {
              size_t k = (size_t) r;
              if (k > sizeof errtext - 1 - errlen)
                k = sizeof errtext - 1 - errlen;
              memcpy (errtext + errlen, buf, k);
              errlen += k;
            }
        }
      if (p[3].revents)
        {
          char buf[32];
          if (read (readyp[0], buf, sizeof buf) > 0)
            {
              ready = true;
              close (ready_fd);
              ready_fd = -1;
            }
          else
            {
              close (readyp[0]);
              readyp[0] = -1;
            }
        }
      if (p[1].revents)
        break;
    }
  while (waitpid (kid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!ready)
    {
      /* Its last line says most. */
      errtext[errlen] = '\0';
      while (errlen > 0 && (errtext[errlen - 1] == '\n' || errtext[errlen - 1] == ' '))
        errtext[--errlen] = '\0';
      char *last = strrchr (errtext, '\n');
      return fail_to (ready_fd, "%s failed%s%s", argv[0],
                      errlen ? ": " : " before its network was up",
                      last ? last + 1 : errtext);
    }
  return 0;
}

static int
start_open (pid_t init_pid, int init_pidfd, const struct sb_net *net,
            nb_error_t *err)
{
  struct helper h = { .net = net, .init_pid = init_pid };

  if (in_path ("pasta"))
    h.pasta = true;
  else if (in_path ("slirp4netns"))
    {
      if ((net->publish && net->publish[0]) || net->host_ports)
        return nb_error_make (err, 0, "-p and --allow-host-port need pasta, "
                                      "from Debian's passt package");
    }
  else
    {
      nb_error_make (err, 0, "--network open needs pasta or slirp4netns, "
                             "and neither is installed");
      return nb_error_hint (err, "install Debian's passt package (or "
                                 "slirp4netns)");
    }
  if (sb_net_guardian (init_pidfd, NULL, 0, helper_body, &h, err) < 0)
    {
      if (access ("/dev/net/tun", R_OK | W_OK) < 0)
        return nb_error_hint (err, "/dev/net/tun is not open to this user "
                                   "(mode 0600?): as root, chmod 0666 "
                                   "/dev/net/tun");
      return -1;
    }
  return 0;
}

struct proxy_arg
{
  const struct sb_net *net;
  int http_fd, socks_fd;
};

/* In the guardian: the egress proxy, until the sandbox ends.  Its
 * libraries (c-ares) are loaded here, never in nsbox run itself. */
static int
proxy_body (int stop_fd, int ready_fd, void *arg)
{
  const struct proxy_arg *a = arg;
  nb_error_t e = NULL;
  int (*serve) (const struct nb_proxy_config *, nb_error_t *);
  const char *policies[3] = { NULL, NULL, NULL };
  struct nb_proxy_config cfg = {
    .http_fd = a->http_fd,
    .socks_fd = a->socks_fd,
    .stop_fd = stop_fd,
    .sandbox = a->net->sandbox,
    .allow = a->net->allow,
    .deny = a->net->deny,
    .policy_files = policies,
    .log_path = a->net->log_path,
    /* Tests point names at their own servers (nsbox-network(7)). */
    .hosts_file = getenv ("NSBOX_PROXY_HOSTS"),
    .ready_fd = ready_fd,
  };
  void *plugin = nb_plugin_open ("nsbox-proxy.so", "NSBOX_PROXY_PLUGIN", &e);

  for (size_t i = 0, n = 0; i < 2; i++)
    if (a->net->policy_files[i])
      policies[n++] = a->net->policy_files[i];
  if (plugin == NULL)
    return fail_to (ready_fd, "%s", e && e->msg ? e->msg : "no proxy plugin");
  *(void **) &serve = dlsym (plugin, "nsbox_proxy_main");
  if (serve == NULL)
    return fail_to (ready_fd, "nsbox-proxy.so: %s", dlerror ());
  /* It closes READY_FD once it serves; a failure to set up is said on
   * it, and the sandbox does not start without its proxy. */
  if (serve (&cfg, &e) < 0 && fcntl (ready_fd, F_GETFD) >= 0)
    return fail_to (ready_fd, "%s", e && e->msg ? e->msg : "the proxy failed");
  return 0;
}

int
sb_net_start_proxy (pid_t init_pid, int init_pidfd, const struct sb_net *net,
                    nb_error_t *err)
{
  struct sockaddr_in addrs[2] = {
    { .sin_family = AF_INET, .sin_port = htons (SB_NET_HTTP_PROXY_PORT) },
    { .sin_family = AF_INET, .sin_port = htons (SB_NET_SOCKS_PROXY_PORT) },
  };
  int fds[2] = { -1, -1 };
  struct proxy_arg a = { .net = net };
  int r;

  addrs[0].sin_addr.s_addr = addrs[1].sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (rt_net_listen_in (init_pid, addrs, 2, fds, err) < 0)
    return -1;
  a.http_fd = fds[0];
  a.socks_fd = fds[1];
  r = sb_net_guardian (init_pidfd, fds, 2, proxy_body, &a, err);
  close (fds[0]);
  close (fds[1]);
  return r;
}

int
sb_net_setup (pid_t init_pid, void *arg, nb_error_t *err)
{
  const struct sb_net *net = arg;
  cleanup_close int pidfd = -1;
  int r;

  if (net->mode != SB_NET_OPEN && net->mode != SB_NET_FILTERED)
    return 0;
  pidfd = (int) syscall (SYS_pidfd_open, init_pid, 0);
  if (pidfd < 0)
    return nb_error_make (err, errno, "pidfd_open");
  if (net->mode == SB_NET_OPEN)
    r = start_open (init_pid, pidfd, net, err);
  else
    r = sb_net_start_proxy (init_pid, pidfd, net, err);
  if (r < 0)
    return nb_error_wrap (err, "network %s", sb_net_mode_name (net->mode));
  return 0;
}
