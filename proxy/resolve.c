#define _GNU_SOURCE
#include "proxy/resolve.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

struct nb_resolver
{
  ares_channel channel;
  int epfd;
  uint64_t tag;
  char *hosts_file;
};

struct nb_lookup
{
  nb_resolve_cb cb; /* NULL once cancelled */
  void *arg;
  int starting, done;
  char error[160];
  struct sockaddr_storage addrs[NB_RESOLVE_MAX];
  size_t n;
};

static void
sock_state (void *data, ares_socket_t fd, int readable, int writable)
{
  struct nb_resolver *r = data;
  struct epoll_event ev = { 0 };

  if (!readable && !writable)
    {
      epoll_ctl (r->epfd, EPOLL_CTL_DEL, fd, NULL);
      return;
    }
  ev.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
  ev.data.u64 = r->tag | (uint32_t)fd;
  if (epoll_ctl (r->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
    epoll_ctl (r->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
nb_resolver_new (int epfd, uint64_t tag, const char *hosts_file,
                 const char *resolv_conf, struct nb_resolver **out,
                 nb_error_t *err)
{
  struct ares_options o;
  int mask, ret;
  struct nb_resolver *r;

  ret = ares_library_init (ARES_LIB_INIT_ALL);
  if (ret != ARES_SUCCESS)
    return nb_error_make (err, 0, "c-ares: %s", ares_strerror (ret));
  r = calloc (1, sizeof *r);
  if (r == NULL)
    return nb_error_make (err, ENOMEM, "resolver");
  r->epfd = epfd;
  r->tag = tag;
  if (hosts_file && (r->hosts_file = strdup (hosts_file)) == NULL)
    {
      free (r);
      return nb_error_make (err, ENOMEM, "resolver");
    }
  memset (&o, 0, sizeof o);
  o.sock_state_cb = sock_state;
  o.sock_state_cb_data = r;
  /* With a hosts file of our own, /etc/hosts is not consulted: the file
   * given is the whole local truth (tests rely on it). */
  o.lookups = (char *)(hosts_file ? "b" : "fb");
  o.timeout = 3000;
  o.tries = 2;
  mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS
         | ARES_OPT_TRIES;
  if (resolv_conf)
    {
      o.resolvconf_path = (char *)resolv_conf;
      mask |= ARES_OPT_RESOLVCONF;
    }
  ret = ares_init_options (&r->channel, &o, mask);
  if (ret != ARES_SUCCESS)
    {
      free (r->hosts_file);
      free (r);
      return nb_error_make (err, 0, "c-ares: %s%s%s", ares_strerror (ret),
                            resolv_conf ? " reading " : "",
                            resolv_conf ? resolv_conf : "");
    }
  *out = r;
  return 0;
}

void
nb_resolver_free (struct nb_resolver *r)
{
  if (r == NULL)
    return;
  ares_destroy (r->channel);
  free (r->hosts_file);
  free (r);
  ares_library_cleanup ();
}

void
nb_lookup_cancel (struct nb_lookup *l)
{
  if (l)
    l->cb = NULL;
}

static void
on_addrinfo (void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
  struct nb_lookup *l = arg;
  (void)timeouts;

  l->n = 0;
  if (status == ARES_SUCCESS && res)
    for (struct ares_addrinfo_node *n = res->nodes; n && l->n < NB_RESOLVE_MAX;
         n = n->ai_next)
      {
        if ((n->ai_family != AF_INET && n->ai_family != AF_INET6)
            || n->ai_addrlen > sizeof l->addrs[0])
          continue;
        memset (&l->addrs[l->n], 0, sizeof l->addrs[0]);
        memcpy (&l->addrs[l->n], n->ai_addr, n->ai_addrlen);
        l->n++;
      }
  if (res)
    ares_freeaddrinfo (res);
  if (status != ARES_SUCCESS)
    snprintf (l->error, sizeof l->error, "%s", ares_strerror (status));
  else if (l->n == 0)
    snprintf (l->error, sizeof l->error, "no IPv4 or IPv6 address");
  if (l->starting)
    {
      l->done = 1;
      return;
    }
  if (l->cb)
    l->cb (l->arg, l->n ? NULL : l->error, l->addrs, l->n);
  free (l);
}

size_t
nb_hosts_lookup (const char *text, const char *host,
                 struct sockaddr_storage *addrs, size_t max)
{
  size_t n = 0, hlen = strlen (host);
  const char *line = text;

  while (line && *line && n < max)
    {
      const char *next = strchr (line, '\n');
      size_t len = next ? (size_t)(next - line) : strlen (line);
      const char *hash = memchr (line, '#', len);
      if (hash)
        len = (size_t)(hash - line);
      char addr[INET6_ADDRSTRLEN + 1];
      size_t i = 0, a;
      while (i < len && isspace ((unsigned char)line[i]))
        i++;
      a = i;
      while (i < len && !isspace ((unsigned char)line[i]))
        i++;
      if (i > a && i - a < sizeof addr)
        {
          memcpy (addr, line + a, i - a);
          addr[i - a] = '\0';
          struct sockaddr_storage ss;
          memset (&ss, 0, sizeof ss);
          int family = AF_UNSPEC;
          if (inet_pton (AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr)
              == 1)
            family = AF_INET;
          else if (inet_pton (AF_INET6, addr,
                              &((struct sockaddr_in6 *)&ss)->sin6_addr)
                   == 1)
            family = AF_INET6;
          ss.ss_family = (sa_family_t)family;
          while (family != AF_UNSPEC && i < len)
            {
              while (i < len && isspace ((unsigned char)line[i]))
                i++;
              size_t s = i;
              while (i < len && !isspace ((unsigned char)line[i]))
                i++;
              size_t nl = i - s;
              if (nl > 0 && line[s + nl - 1] == '.')
                nl--;
              if (nl == hlen && nl > 0 && strncasecmp (line + s, host, nl) == 0)
                {
                  addrs[n++] = ss;
                  break;
                }
            }
        }
      line = next ? next + 1 : NULL;
    }
  return n;
}

int
nb_resolver_lookup (struct nb_resolver *r, const char *host, nb_resolve_cb cb,
                    void *arg, struct sockaddr_storage *addrs, size_t *n,
                    char *errbuf, size_t errlen, struct nb_lookup **handle)
{
  struct ares_addrinfo_hints hints;
  struct nb_lookup *l;

  *handle = NULL;
  *n = 0;
  if (r->hosts_file)
    {
      cleanup_free char *text = NULL;
      size_t len;
      nb_error_t err = NULL;
      /* Read at each lookup: small, and a test may change it. */
      if (nb_read_file (r->hosts_file, &text, &len, &err) == 0)
        {
          *n = nb_hosts_lookup (text, host, addrs, NB_RESOLVE_MAX);
          if (*n > 0)
            return 1;
        }
      nb_error_free (&err);
    }
  l = calloc (1, sizeof *l);
  if (l == NULL)
    {
      snprintf (errbuf, errlen, "out of memory");
      return 1;
    }
  l->cb = cb;
  l->arg = arg;
  l->starting = 1;
  memset (&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NOSORT;
  ares_getaddrinfo (r->channel, host, NULL, &hints, on_addrinfo, l);
  l->starting = 0;
  if (l->done)
    {
      *n = l->n;
      memcpy (addrs, l->addrs, l->n * sizeof *addrs);
      if (l->n == 0)
        snprintf (errbuf, errlen, "%s", l->error);
      free (l);
      return 1;
    }
  *handle = l;
  return 0;
}

void
nb_resolver_process (struct nb_resolver *r, int fd, uint32_t events)
{
  ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    rfd = fd;
  if (events & EPOLLOUT)
    wfd = fd;
  ares_process_fd (r->channel, rfd, wfd);
}

int
nb_resolver_next_timeout (struct nb_resolver *r)
{
  struct timeval tv, *t = ares_timeout (r->channel, NULL, &tv);
  if (t == NULL)
    return -1;
  return (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
}

void
nb_resolver_timeout (struct nb_resolver *r)
{
  ares_process_fd (r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}
