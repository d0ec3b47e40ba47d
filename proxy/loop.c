#define _GNU_SOURCE
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxy/http.h"
#include "proxy/log.h"
#include "proxy/policy.h"
#include "proxy/resolve.h"
#include "proxy/socks.h"
#include "proxy/tunnel.h"
#include "proxy/watch.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#define HEAD_TIMEOUT_MS 10000
#define RESOLVE_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 10000
#define DRAIN_TIMEOUT_MS 2000
#define LINGER_TIMEOUT_MS 30000
#define DRAIN_MAX (64 * 1024)
#define MAX_CONNS 1024

enum kind
{
  K_HTTP_LISTEN = 1,
  K_SOCKS_LISTEN,
  K_STOP,
  K_ARES,
  K_CONN,
};
#define TAG(k) ((uint64_t)(k) << 56)
#define KIND(u) ((int)((u) >> 56))

enum state
{
  S_HTTP_HEAD,
  S_SOCKS_GREETING,
  S_SOCKS_REQUEST,
  S_RESOLVING,
  S_CONNECTING,
  S_TUNNEL,
  S_DRAIN,
};

enum proto
{
  P_HTTP,
  P_CONNECT,
  P_SOCKS,
};

static const char *const proto_names[] = { "http", "connect", "socks5" };

struct proxy;

struct conn
{
  struct proxy *px;
  uint32_t slot;
  uint16_t gen;
  int client, upstream;
  enum state state;
  enum proto proto;
  char method[32];
  char host[NB_HOST_MAX + 1];
  unsigned port;
  char *buf; /* the request head as it arrives */
  size_t len;
  struct nb_http_request req;
  struct nb_decision decision;
  struct sockaddr_storage addrs[NB_RESOLVE_MAX];
  size_t n_addrs, next_addr;
  char address[INET6_ADDRSTRLEN];
  struct nb_lookup *lookup;
  int64_t deadline; /* ms on CLOCK_MONOTONIC, 0: none */
  struct nb_tunnel_dir up, down;
  size_t drained;
  int connected;
};

struct proxy
{
  const struct nb_proxy_config *cfg;
  int epfd;
  struct nb_resolver *resolver;
  struct nb_proxy_log log;
  struct nb_policy_watch policy;
  struct conn **conns;
  size_t max_conns, n_conns;
  uint16_t gen;
};

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
conn_tag (const struct conn *c)
{
  return TAG (K_CONN) | (uint64_t)c->gen << 32 | c->slot;
}

/* --- connections --------------------------------------------------------- */

static void
log_decision (struct conn *c, int decision, const char *rule, int status,
              const char *error)
{
  struct nb_log_entry e = {
    .event = "decision",
    .proto = proto_names[c->proto],
    .method = c->method,
    .host = c->host,
    .port = c->port,
    .address = c->connected ? c->address : NULL,
    .decision = decision,
    .rule = rule,
    .status = status,
    .error = error,
  };
  nb_proxy_log_write (&c->px->log, &e);
}

static void
conn_close (struct conn *c)
{
  struct proxy *px = c->px;

  if (c->connected)
    {
      struct nb_log_entry e = {
        .event = "close",
        .proto = proto_names[c->proto],
        .method = c->method,
        .host = c->host,
        .port = c->port,
        .address = c->address,
        .decision = 1,
        .rule = c->decision.rule,
        .status = -1,
        .has_bytes = 1,
        .bytes_up = c->up.bytes,
        .bytes_down = c->down.bytes,
      };
      nb_proxy_log_write (&px->log, &e);
    }
  nb_lookup_cancel (c->lookup);
  if (c->client >= 0)
    close (c->client);
  if (c->upstream >= 0)
    close (c->upstream);
  nb_tunnel_dir_free (&c->up);
  nb_tunnel_dir_free (&c->down);
  nb_http_request_clear (&c->req);
  free (c->buf);
  px->conns[c->slot] = NULL;
  px->n_conns--;
  free (c);
}

static void
send_best_effort (int fd, const void *data, size_t len)
{
  /* A reply on a fresh connection: the send buffer is empty, so it goes
   * at once or the client is gone. */
  (void)send (fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* After a refusal: the reply is sent; read and drop what the client still
 * sends for a moment, so that closing with unread bytes does not reset the
 * connection before the client read the reply. */
static void
conn_drain (struct conn *c)
{
  if (c->upstream >= 0)
    {
      close (c->upstream);
      c->upstream = -1;
    }
  shutdown (c->client, SHUT_WR);
  c->state = S_DRAIN;
  c->deadline = now_ms () + DRAIN_TIMEOUT_MS;
  for (;;)
    {
      char junk[4096];
      ssize_t n = recv (c->client, junk, sizeof junk, MSG_DONTWAIT);
      if (n > 0 && (c->drained += (size_t)n) < DRAIN_MAX)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      conn_close (c);
      return;
    }
}

static void
http_reply (struct conn *c, int status, const char *body)
{
  char head[256];
  int n = snprintf (head, sizeof head,
                    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                    "charset=utf-8\r\nContent-Length: %zu\r\nConnection: "
                    "close\r\n\r\n",
                    status, nb_http_reason (status), strlen (body));
  cleanup_free char *all = malloc ((size_t)n + strlen (body));
  if (all == NULL)
    return;
  memcpy (all, head, (size_t)n);
  memcpy (all + n, body, strlen (body));
  send_best_effort (c->client, all, (size_t)n + strlen (body));
}

static void
socks_reply_error (struct conn *c, unsigned char code)
{
  unsigned char r[NB_SOCKS_REPLY_MAX];
  send_best_effort (c->client, r, nb_socks_reply (r, code, NULL));
}

/* HOST or HOST:PORT as a rule would name it. */
static void
rule_for (const struct conn *c, char *out, size_t len)
{
  int v6 = strchr (c->host, ':') != NULL;
  unsigned def = c->proto == P_HTTP ? 80 : c->proto == P_CONNECT ? 443 : 0;
  if (c->port == def)
    snprintf (out, len, "%s", c->host);
  else
    snprintf (out, len, v6 ? "[%s]:%u" : "%s:%u", c->host, c->port);
}

static void
deny (struct conn *c, const struct nb_decision *d)
{
  const char *sb = c->px->cfg->sandbox ? c->px->cfg->sandbox : "NAME";
  char target[NB_HOST_MAX + 16], body[2048], what[NB_HOST_MAX + 16];
  const char *addr = c->address;

  log_decision (c, 0, d->rule, c->proto == P_SOCKS ? NB_SOCKS_NOT_ALLOWED : 403,
                NULL);
  if (c->proto == P_SOCKS)
    {
      socks_reply_error (c, NB_SOCKS_NOT_ALLOWED);
      conn_drain (c);
      return;
    }
  rule_for (c, target, sizeof target);
  snprintf (what, sizeof what, strchr (c->host, ':') ? "[%s]:%u" : "%s:%u",
            c->host, c->port);
  /* Rules see an IPv4-mapped address as the IPv4 address. */
  if (strncmp (addr, "::ffff:", 7) == 0 && strchr (addr, '.'))
    addr += 7;
  if (d->by_rule)
    snprintf (body, sizeof body,
              "nsbox: %s %s is denied for sandbox %s by the rule '%s'.\n"
              "Deny rules win over allow rules: remove that rule to allow "
              "it, then\n  nsbox policy allow --sandbox %s %s\n",
              c->method, what, sb, d->rule, sb, target);
  else if (strcmp (d->rule, "no allow rule matches") == 0)
    snprintf (body, sizeof body,
              "nsbox: %s %s is denied for sandbox %s: no allow rule "
              "matches.\nTo allow it:\n  nsbox policy allow --sandbox %s %s\n",
              c->method, what, sb, sb, target);
  else
    snprintf (body, sizeof body,
              "nsbox: %s %s is denied for sandbox %s: %s.\nTo allow it "
              "(only if you mean to reach that address):\n  nsbox policy "
              "allow --sandbox %s %s/%s\n",
              c->method, what, sb, d->rule, sb, addr,
              strchr (addr, ':') ? "128" : "32");
  http_reply (c, 403, body);
  conn_drain (c);
}

/* An allowed request that could not be served (resolution, connection). */
static void
fail (struct conn *c, int status, unsigned char socks_code, const char *error)
{
  char body[1024];

  log_decision (c, 1, c->decision.rule,
                c->proto == P_SOCKS ? socks_code : status, error);
  if (c->proto == P_SOCKS)
    socks_reply_error (c, socks_code);
  else
    {
      snprintf (body, sizeof body,
                strchr (c->host, ':') ? "nsbox: %s [%s]:%u: %s\n"
                                      : "nsbox: %s %s:%u: %s\n",
                c->method, c->host, c->port, error);
      http_reply (c, status, body);
    }
  conn_drain (c);
}

static void
pump (struct conn *c)
{
  uint64_t before = c->up.bytes + c->down.bytes;

  if (nb_tunnel_pump (&c->up) < 0 || nb_tunnel_pump (&c->down) < 0)
    {
      conn_close (c);
      return;
    }
  if (c->up.shut && c->down.shut)
    {
      conn_close (c);
      return;
    }
  /* A forwarded request is over when the origin has answered and closed
   * (it was told Connection: close). */
  if (c->down.shut && c->proto == P_HTTP)
    {
      conn_close (c);
      return;
    }
  /* Half closed: the other way may still carry a long answer, but one
   * that stays idle is ended, so that a peer that never closes its side
   * does not hold the connection for ever. */
  if ((c->up.shut || c->down.shut)
      && (c->deadline == 0 || c->up.bytes + c->down.bytes != before))
    c->deadline = now_ms () + LINGER_TIMEOUT_MS;
}

static void
on_connected (struct conn *c)
{
  static const char established[]
      = "HTTP/1.1 200 Connection established\r\n\r\n";
  size_t rest = c->len - c->req.head_len;

  c->connected = 1;
  c->deadline = 0;
  log_decision (c, 1, c->decision.rule,
                c->proto == P_SOCKS     ? NB_SOCKS_OK
                : c->proto == P_CONNECT ? 200
                                        : -1,
                NULL);
  int one = 1;
  setsockopt (c->upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  c->up.src = c->client;
  c->up.dst = c->upstream;
  c->down.src = c->upstream;
  c->down.dst = c->client;
  c->up.pre_counts = 1;
  /* Toward the origin: the rewritten head, then what the client sent after
   * its head (a body, or a TLS hello sent without waiting for our 200). */
  size_t head = c->proto == P_HTTP ? c->req.out_len : 0;
  if (head + rest > 0)
    {
      c->up.pre = malloc (head + rest);
      if (c->up.pre == NULL)
        {
          conn_close (c);
          return;
        }
      if (head)
        memcpy (c->up.pre, c->req.out, head);
      memcpy (c->up.pre + head, c->buf + c->req.head_len, rest);
      c->up.pre_len = head + rest;
    }
  if (c->proto != P_HTTP)
    {
      c->down.pre = malloc (sizeof established);
      if (c->down.pre == NULL)
        {
          conn_close (c);
          return;
        }
      if (c->proto == P_CONNECT)
        {
          memcpy (c->down.pre, established, sizeof established - 1);
          c->down.pre_len = sizeof established - 1;
        }
      else
        {
          struct sockaddr_storage bound;
          socklen_t bl = sizeof bound;
          if (getsockname (c->upstream, (struct sockaddr *)&bound, &bl) < 0)
            bound.ss_family = AF_UNSPEC;
          c->down.pre_len
              = nb_socks_reply ((unsigned char *)c->down.pre, NB_SOCKS_OK,
                                (struct sockaddr *)&bound);
        }
    }
  free (c->buf);
  c->buf = NULL;
  nb_http_request_clear (&c->req);
  if (nb_tunnel_open (&c->up) < 0 || nb_tunnel_open (&c->down) < 0)
    {
      conn_close (c);
      return;
    }
  c->state = S_TUNNEL;
  pump (c);
}

static void try_connect (struct conn *c, const char *last_error);

static void
connect_failed (struct conn *c, int errnum)
{
  char error[160];
  snprintf (error, sizeof error, "connect to %s port %u: %s", c->address,
            c->port, strerror (errnum));
  epoll_ctl (c->px->epfd, EPOLL_CTL_DEL, c->upstream, NULL);
  close (c->upstream);
  c->upstream = -1;
  try_connect (c, error);
}

static void
try_connect (struct conn *c, const char *last_error)
{
  while (c->next_addr < c->n_addrs)
    {
      struct sockaddr_storage *ss = &c->addrs[c->next_addr++];
      socklen_t sl;
      const void *a;
      if (ss->ss_family == AF_INET)
        {
          ((struct sockaddr_in *)ss)->sin_port = htons ((uint16_t)c->port);
          sl = sizeof (struct sockaddr_in);
          a = &((struct sockaddr_in *)ss)->sin_addr;
        }
      else
        {
          ((struct sockaddr_in6 *)ss)->sin6_port = htons ((uint16_t)c->port);
          sl = sizeof (struct sockaddr_in6);
          a = &((struct sockaddr_in6 *)ss)->sin6_addr;
        }
      inet_ntop (ss->ss_family, a, c->address, sizeof c->address);
      c->upstream = socket (ss->ss_family,
                            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c->upstream < 0)
        {
          fail (c, 502, NB_SOCKS_FAILURE, "socket: out of descriptors");
          return;
        }
      if (connect (c->upstream, (struct sockaddr *)ss, sl) < 0
          && errno != EINPROGRESS)
        {
          connect_failed (c, errno);
          return;
        }
      struct epoll_event ev
          = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
              .data.u64 = conn_tag (c) };
      if (epoll_ctl (c->px->epfd, EPOLL_CTL_ADD, c->upstream, &ev) < 0)
        {
          fail (c, 502, NB_SOCKS_FAILURE, "epoll: out of memory");
          return;
        }
      c->state = S_CONNECTING;
      c->deadline = now_ms () + CONNECT_TIMEOUT_MS;
      return;
    }
  int refused = last_error && strstr (last_error, "refused");
  fail (c, 502, refused ? NB_SOCKS_REFUSED : NB_SOCKS_HOST_UNREACHABLE,
        last_error ? last_error : "no address to connect to");
}

/* Judge each address HOST resolved to; connect to those that pass. */
static void
on_addresses (struct conn *c, const struct sockaddr_storage *addrs, size_t n)
{
  struct nb_decision refusal = { 0 }, d;
  char refused_addr[INET6_ADDRSTRLEN] = "";
  size_t kept = 0;

  nb_policy_watch_refresh (&c->px->policy, &c->px->log);
  for (size_t i = 0; i < n; i++)
    {
      nb_policy_decide_addr (&c->px->policy.merged, c->port,
                             (const struct sockaddr *)&addrs[i], &d);
      if (!d.allow && d.by_rule)
        {
          /* A deny rule on any address the name has: denied, whatever
           * the other addresses are. */
          deny (c, &d);
          return;
        }
      if (!d.allow)
        {
          if (refused_addr[0] == '\0')
            {
              refusal = d;
              const void *a
                  = addrs[i].ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)&addrs[i])
                              ->sin_addr
                        : (const void *)&(
                              (const struct sockaddr_in6 *)&addrs[i])
                              ->sin6_addr;
              inet_ntop (addrs[i].ss_family, a, refused_addr,
                         sizeof refused_addr);
            }
          continue;
        }
      c->addrs[kept++] = addrs[i];
    }
  if (kept == 0)
    {
      snprintf (c->address, sizeof c->address, "%s", refused_addr);
      deny (c, &refusal);
      return;
    }
  c->n_addrs = kept;
  c->next_addr = 0;
  try_connect (c, NULL);
}

static void
on_resolved (void *arg, const char *error, const struct sockaddr_storage *addrs,
             size_t n)
{
  struct conn *c = arg;
  char text[300];

  c->lookup = NULL;
  if (error)
    {
      snprintf (text, sizeof text, "resolve %s: %s", c->host, error);
      fail (c, 502, NB_SOCKS_HOST_UNREACHABLE, text);
      return;
    }
  on_addresses (c, addrs, n);
}

/* The request is known (c->host, c->port, c->method): judge its name. */
static void
start_request (struct conn *c)
{
  struct sockaddr_storage addrs[NB_RESOLVE_MAX];
  char error[200] = "";
  size_t n = 0;

  c->deadline = 0;
  nb_policy_watch_refresh (&c->px->policy, &c->px->log);
  nb_policy_decide_name (&c->px->policy.merged, c->host, c->port, &c->decision);
  if (!c->decision.allow)
    {
      deny (c, &c->decision);
      return;
    }
  if (nb_policy_host_is_ip (c->host, &addrs[0]))
    {
      on_addresses (c, addrs, 1);
      return;
    }
  c->state = S_RESOLVING;
  c->deadline = now_ms () + RESOLVE_TIMEOUT_MS;
  if (nb_resolver_lookup (c->px->resolver, c->host, on_resolved, c, addrs, &n,
                          error, sizeof error, &c->lookup)
      == 0)
    return;
  on_resolved (c, n ? NULL : error, addrs, n);
}

/* --- reading the request -------------------------------------------------- */

/* Read what the client sent into c->buf (until EAGAIN, the end of its
 * data, or a full buffer); 1 when something new arrived, 0 when nothing,
 * -1 when the connection failed.  *EOF: the client sent all it will. */
static int
read_head (struct conn *c, int *eof)
{
  int got = 0;
  *eof = 0;
  while (c->len < NB_HTTP_HEAD_MAX)
    {
      ssize_t n
          = recv (c->client, c->buf + c->len, NB_HTTP_HEAD_MAX - c->len, 0);
      if (n > 0)
        {
          c->len += (size_t)n;
          got = 1;
          continue;
        }
      if (n == 0)
        {
          *eof = 1;
          return got;
        }
      if (errno == EAGAIN || errno == EINTR)
        return got;
      return -1;
    }
  return got;
}

static void
on_http_head (struct conn *c)
{
  char why[200];
  int status, eof;
  int r = read_head (c, &eof);

  if (r < 0 || (r == 0 && eof))
    {
      conn_close (c);
      return;
    }
  if (r == 0)
    return;
  int p
      = nb_http_parse_head (c->buf, c->len, &c->req, &status, why, sizeof why);
  if (p == 0 && eof)
    {
      conn_close (c);
      return;
    }
  if (p == 0)
    return;
  if (p < 0)
    {
      char body[300];
      snprintf (body, sizeof body, "nsbox: %s\n", why);
      http_reply (c, status, body);
      conn_drain (c);
      return;
    }
  c->proto = c->req.connect ? P_CONNECT : P_HTTP;
  snprintf (c->method, sizeof c->method, "%s", c->req.method);
  snprintf (c->host, sizeof c->host, "%s", c->req.host);
  c->port = c->req.port;
  start_request (c);
}

static void
on_socks (struct conn *c)
{
  unsigned char reply;
  char why[120];
  int eof;
  int r = read_head (c, &eof);

  if (r < 0 || (r == 0 && eof))
    {
      conn_close (c);
      return;
    }
  if (r == 0)
    return;
  if (c->state == S_SOCKS_GREETING)
    {
      int noauth;
      int g
          = nb_socks_parse_greeting ((unsigned char *)c->buf, c->len, &noauth);
      if (g == 0)
        return;
      if (g < 0)
        {
          conn_close (c);
          return;
        }
      unsigned char answer[2] = { 5, noauth ? 0 : 0xff };
      send_best_effort (c->client, answer, 2);
      if (!noauth)
        {
          conn_drain (c);
          return;
        }
      memmove (c->buf, c->buf + g, c->len - (size_t)g);
      c->len -= (size_t)g;
      c->state = S_SOCKS_REQUEST;
      if (c->len == 0)
        return;
    }
  struct nb_socks_request req;
  int q = nb_socks_parse_request ((unsigned char *)c->buf, c->len, &req, &reply,
                                  why, sizeof why);
  if (q == 0)
    return;
  if (q < 0)
    {
      socks_reply_error (c, reply);
      conn_drain (c);
      return;
    }
  c->req.head_len = (size_t)q;
  snprintf (c->method, sizeof c->method, "CONNECT");
  snprintf (c->host, sizeof c->host, "%s", req.host);
  c->port = req.port;
  start_request (c);
}

static void
on_conn_event (struct conn *c, uint32_t events)
{
  switch (c->state)
    {
    case S_HTTP_HEAD:
      on_http_head (c);
      break;
    case S_SOCKS_GREETING:
    case S_SOCKS_REQUEST:
      on_socks (c);
      break;
    case S_RESOLVING:
      break; /* the client waits; its bytes stay in the socket */
    case S_CONNECTING:
      {
        int e = 0;
        socklen_t el = sizeof e;
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
          break;
        if (getsockopt (c->upstream, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
          e = errno;
        if (e == EINPROGRESS)
          break;
        if (e != 0)
          connect_failed (c, e);
        else
          {
            /* Connected only if the peer is there (EPOLLOUT with no
             * error); an event from the client side is not an answer. */
            struct sockaddr_storage peer;
            socklen_t pl = sizeof peer;
            if (getpeername (c->upstream, (struct sockaddr *)&peer, &pl) < 0)
              break;
            on_connected (c);
          }
        break;
      }
    case S_TUNNEL:
      pump (c);
      break;
    case S_DRAIN:
      conn_drain (c);
      break;
    }
}

static void
on_timeout (struct conn *c)
{
  switch (c->state)
    {
    case S_HTTP_HEAD:
      http_reply (c, 408, "nsbox: the request head took too long\n");
      conn_drain (c);
      break;
    case S_RESOLVING:
      {
        char text[300];
        nb_lookup_cancel (c->lookup);
        c->lookup = NULL;
        snprintf (text, sizeof text, "resolve %s: timed out", c->host);
        fail (c, 504, NB_SOCKS_HOST_UNREACHABLE, text);
        break;
      }
    case S_CONNECTING:
      {
        epoll_ctl (c->px->epfd, EPOLL_CTL_DEL, c->upstream, NULL);
        close (c->upstream);
        c->upstream = -1;
        char text[200];
        snprintf (text, sizeof text, "connect to %s port %u: timed out",
                  c->address, c->port);
        try_connect (c, text);
        break;
      }
    default:
      conn_close (c);
    }
}

static void
on_accept (struct proxy *px, int lfd, int socks)
{
  for (;;)
    {
      int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return; /* EAGAIN, or out of descriptors until some close */
      if (px->n_conns >= px->max_conns)
        {
          close (fd);
          continue;
        }
      struct conn *c = calloc (1, sizeof *c);
      char *buf = malloc (NB_HTTP_HEAD_MAX);
      if (c == NULL || buf == NULL)
        {
          free (c);
          free (buf);
          close (fd);
          continue;
        }
      size_t slot = 0;
      while (px->conns[slot])
        slot++;
      c->px = px;
      c->slot = (uint32_t)slot;
      c->gen = ++px->gen;
      c->client = fd;
      c->upstream = -1;
      c->buf = buf;
      nb_tunnel_dir_init (&c->up);
      nb_tunnel_dir_init (&c->down);
      c->state = socks ? S_SOCKS_GREETING : S_HTTP_HEAD;
      c->proto = socks ? P_SOCKS : P_HTTP;
      c->deadline = now_ms () + HEAD_TIMEOUT_MS;
      px->conns[slot] = c;
      px->n_conns++;
      int one = 1;
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      struct epoll_event ev
          = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
              .data.u64 = conn_tag (c) };
      if (epoll_ctl (px->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        conn_close (c);
    }
}

/* --- the loop --------------------------------------------------------------
 */

static int
add_fd (struct proxy *px, int fd, enum kind k, nb_error_t *err)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG (k) };
  if (epoll_ctl (px->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    return nb_error_make (err, errno, "proxy: watch fd %d", fd);
  return 0;
}

static int
check_listener (int fd, const char *what, nb_error_t *err)
{
  int v = 0;
  socklen_t vl = sizeof v;
  if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) < 0 || !v)
    return nb_error_make (err, errno,
                          "proxy: the %s fd %d is not a listening "
                          "socket",
                          what, fd);
  int fl = fcntl (fd, F_GETFL);
  if (fl < 0 || fcntl (fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return nb_error_make (err, errno, "proxy: the %s fd %d", what, fd);
  return 0;
}

static void
proxy_free (struct proxy *px)
{
  if (px->conns)
    for (size_t i = 0; i < px->max_conns; i++)
      if (px->conns[i])
        conn_close (px->conns[i]);
  free (px->conns);
  nb_resolver_free (px->resolver);
  if (px->epfd >= 0)
    close (px->epfd);
  nb_proxy_log_close (&px->log);
  nb_policy_watch_free (&px->policy);
}

static int
proxy_init (struct proxy *px, const struct nb_proxy_config *cfg,
            nb_error_t *err)
{
  struct rlimit rl;

  px->cfg = cfg;
  px->epfd = -1;
  px->log.fd = -1;
  if (nb_proxy_log_open (&px->log, cfg->log_path, cfg->sandbox, err) < 0)
    return -1;
  if (nb_policy_watch_init (&px->policy, cfg->allow, cfg->deny,
                            cfg->policy_files, &px->log, err)
      < 0)
    return -1;
  /* Up to 6 descriptors a connection (two sockets, two pipes). */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  px->max_conns = MAX_CONNS;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
      && (rl.rlim_cur - 64) / 6 < MAX_CONNS)
    px->max_conns = rl.rlim_cur > 64 + 6 ? (rl.rlim_cur - 64) / 6 : 1;
  px->conns = calloc (px->max_conns, sizeof *px->conns);
  if (px->conns == NULL)
    return nb_error_make (err, ENOMEM, "proxy");
  px->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (px->epfd < 0)
    return nb_error_make (err, errno, "proxy: epoll_create1");
  if (cfg->http_fd >= 0
      && (check_listener (cfg->http_fd, "HTTP proxy", err) < 0
          || add_fd (px, cfg->http_fd, K_HTTP_LISTEN, err) < 0))
    return -1;
  if (cfg->socks_fd >= 0
      && (check_listener (cfg->socks_fd, "SOCKS5 proxy", err) < 0
          || add_fd (px, cfg->socks_fd, K_SOCKS_LISTEN, err) < 0))
    return -1;
  if (cfg->stop_fd >= 0 && add_fd (px, cfg->stop_fd, K_STOP, err) < 0)
    return -1;
  if (nb_resolver_new (px->epfd, TAG (K_ARES), cfg->hosts_file,
                       cfg->resolv_conf, &px->resolver, err)
      < 0)
    return nb_error_wrap (err, "proxy");
  return 0;
}

static int
next_timeout (struct proxy *px, int64_t now)
{
  int64_t t = -1;
  int rt = nb_resolver_next_timeout (px->resolver);

  for (size_t i = 0; i < px->max_conns; i++)
    {
      struct conn *c = px->conns[i];
      if (c && c->deadline)
        {
          int64_t left = c->deadline > now ? c->deadline - now : 0;
          if (t < 0 || left < t)
            t = left;
        }
    }
  if (rt >= 0 && (t < 0 || rt < t))
    t = rt;
  return t > 60000 ? 60000 : (int)t;
}

int
nb_proxy_run (const struct nb_proxy_config *cfg, nb_error_t *err)
{
  struct proxy px = { 0 };
  struct epoll_event evs[64];

  /* splice(2) into a socket the peer closed raises SIGPIPE; this process
   * is the proxy alone, so the signal is ignored for it. */
  signal (SIGPIPE, SIG_IGN);
  if (proxy_init (&px, cfg, err) < 0)
    {
      proxy_free (&px);
      return -1;
    }
  /* Serving: whoever started it may go on (it said why, had it failed). */
  if (cfg->ready_fd >= 0)
    close (cfg->ready_fd);
  for (;;)
    {
      int64_t now = now_ms ();
      int n = epoll_wait (px.epfd, evs, 64, next_timeout (&px, now));
      if (n < 0 && errno != EINTR)
        {
          nb_error_make (err, errno, "proxy: epoll_wait");
          proxy_free (&px);
          return -1;
        }
      for (int i = 0; i < n; i++)
        {
          uint64_t u = evs[i].data.u64;
          switch (KIND (u))
            {
            case K_STOP:
              proxy_free (&px);
              return 0;
            case K_HTTP_LISTEN:
              on_accept (&px, cfg->http_fd, 0);
              break;
            case K_SOCKS_LISTEN:
              on_accept (&px, cfg->socks_fd, 1);
              break;
            case K_ARES:
              nb_resolver_process (px.resolver, (int)(uint32_t)u,
                                   evs[i].events);
              break;
            case K_CONN:
              {
                uint32_t slot = (uint32_t)u;
                struct conn *c = slot < px.max_conns ? px.conns[slot] : NULL;
                /* An event for a connection closed (and its slot reused)
                 * earlier in this batch is dropped by the generation. */
                if (c && c->gen == (uint16_t)(u >> 32))
                  on_conn_event (c, evs[i].events);
                break;
              }
            }
        }
      now = now_ms ();
      if (nb_resolver_next_timeout (px.resolver) == 0)
        nb_resolver_timeout (px.resolver);
      for (size_t i = 0; i < px.max_conns; i++)
        {
          struct conn *c = px.conns[i];
          if (c && c->deadline && c->deadline <= now)
            {
              c->deadline = 0;
              on_timeout (c);
            }
        }
    }
}

__attribute__ ((visibility ("default"))) int
nsbox_proxy_main (const struct nb_proxy_config *cfg, nb_error_t *err)
{
  return nb_proxy_run (cfg, err);
}
