/* proxy-run: the egress proxy alone, for tests and the bench.
 *
 *   proxy-run [--http PORT] [--socks PORT] [--sandbox NAME]
 *             [--allow RULE]... [--deny RULE]... [--policy FILE]...
 *             [--log FILE] [--hosts FILE] [--resolv-conf FILE]
 *             [--plugin nsbox-proxy.so]
 *
 * Listens on 127.0.0.1:PORT for each proxy asked (0: a free port), prints
 * "http PORT" and "socks PORT" lines on stdout once it listens, and serves
 * until SIGTERM, SIGINT or SIGHUP, or until its stdin closes when stdin is a
 * pipe, FIFO or socket (a terminal or /dev/null is not watched).  With
 * --plugin it runs the proxy through the plugin's nsbox_proxy_main, as nsbox
 * does; otherwise the proxy linked in. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/proxy.h"

#define MAX_RULES 256

static int
listen_on (const char *port_text, unsigned *port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t sl = sizeof sin;
  char *end;
  long p = strtol (port_text, &end, 10);
  int one = 1;

  if (*end || p < 0 || p > 65535)
    {
      fprintf (stderr, "proxy-run: invalid port '%s'\n", port_text);
      exit (2);
    }
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sin.sin_port = htons ((uint16_t)p);
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind (fd, (struct sockaddr *)&sin, sizeof sin) < 0
      || listen (fd, 1024) < 0
      || getsockname (fd, (struct sockaddr *)&sin, &sl) < 0)
    {
      fprintf (stderr, "proxy-run: listen on 127.0.0.1:%ld: %s\n", p,
               strerror (errno));
      exit (1);
    }
  *port = ntohs (sin.sin_port);
  return fd;
}

static void *
watch_stdin (void *arg)
{
  char buf[256];
  (void)arg;
  while (read (0, buf, sizeof buf) > 0 || errno == EINTR)
    ;
  kill (getpid (), SIGTERM);
  return NULL;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = { { "http", 1, 0, 'h' },
                                        { "socks", 1, 0, 's' },
                                        { "sandbox", 1, 0, 'n' },
                                        { "allow", 1, 0, 'a' },
                                        { "deny", 1, 0, 'd' },
                                        { "policy", 1, 0, 'p' },
                                        { "log", 1, 0, 'l' },
                                        { "hosts", 1, 0, 'H' },
                                        { "resolv-conf", 1, 0, 'r' },
                                        { "plugin", 1, 0, 'P' },
                                        { 0, 0, 0, 0 } };
  const char *allow[MAX_RULES + 1] = { 0 }, *deny[MAX_RULES + 1] = { 0 },
                                *files[MAX_RULES + 1] = { 0 };
  size_t na = 0, nd = 0, nf = 0;
  const char *http = NULL, *socks = NULL, *plugin = NULL;
  struct nb_proxy_config cfg = {
    .http_fd = -1, .socks_fd = -1, .ready_fd = -1, .sandbox = "test"
  };
  int o;

  while ((o = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (o)
      {
      case 'h':
        http = optarg;
        break;
      case 's':
        socks = optarg;
        break;
      case 'n':
        cfg.sandbox = optarg;
        break;
      case 'a':
        if (na < MAX_RULES)
          allow[na++] = optarg;
        break;
      case 'd':
        if (nd < MAX_RULES)
          deny[nd++] = optarg;
        break;
      case 'p':
        if (nf < MAX_RULES)
          files[nf++] = optarg;
        break;
      case 'l':
        cfg.log_path = optarg;
        break;
      case 'H':
        cfg.hosts_file = optarg;
        break;
      case 'r':
        cfg.resolv_conf = optarg;
        break;
      case 'P':
        plugin = optarg;
        break;
      default:
        fprintf (stderr,
                 "usage: proxy-run [--http PORT] [--socks PORT] "
                 "[--allow RULE]... [--deny RULE]... [--policy FILE]... "
                 "[--log FILE] [--hosts FILE] [--resolv-conf FILE] "
                 "[--sandbox NAME] [--plugin SO]\n");
        return 2;
      }
  cfg.allow = allow;
  cfg.deny = deny;
  cfg.policy_files = files;

  int (*run) (const struct nb_proxy_config *, nb_error_t *) = nb_proxy_run;
  if (plugin)
    {
      void *h = dlopen (plugin, RTLD_NOW | RTLD_LOCAL);
      if (h == NULL
          || (run = (int (*) (const struct nb_proxy_config *,
                              nb_error_t *))dlsym (h, "nsbox_proxy_main"))
                 == NULL)
        {
          fprintf (stderr, "proxy-run: %s: %s\n", plugin, dlerror ());
          return 1;
        }
    }

  unsigned port;
  if (http)
    {
      cfg.http_fd = listen_on (http, &port);
      printf ("http %u\n", port);
    }
  if (socks)
    {
      cfg.socks_fd = listen_on (socks, &port);
      printf ("socks %u\n", port);
    }
  fflush (stdout);

  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  sigprocmask (SIG_BLOCK, &set, NULL);
  cfg.stop_fd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  struct stat st;
  if (fstat (0, &st) == 0 && (S_ISFIFO (st.st_mode) || S_ISSOCK (st.st_mode)))
    {
      pthread_t t;
      pthread_create (&t, NULL, watch_stdin, NULL);
      pthread_detach (t);
    }

  nb_error_t err = NULL;
  if (run (&cfg, &err) < 0)
    {
      fprintf (stderr, "proxy-run: %s\n",
               err && err->msg ? err->msg : "failed");
      nb_error_free (&err);
      return 1;
    }
  return 0;
}
