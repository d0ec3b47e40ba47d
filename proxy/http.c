#define _GNU_SOURCE
#include "proxy/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct header
{
  const char *name, *value;
  size_t name_len, value_len;
};

static int
tchar (unsigned char c)
{
  /* RFC 9110 token characters */
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || (c && strchr ("!#$%&'*+-.^_`|~", c));
}

static int
refuse (int *status, char *why, size_t whylen, int code, const char *fmt, ...)
{
  va_list ap;

  *status = code;
  va_start (ap, fmt);
  vsnprintf (why, whylen, fmt, ap);
  va_end (ap);
  return -1;
}

const char *
nb_http_reason (int status)
{
  switch (status)
    {
    case 200:
      return "Connection established";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
    }
}

void
nb_http_request_clear (struct nb_http_request *req)
{
  free (req->out);
  memset (req, 0, sizeof *req);
}

/* HOST[:PORT] or [V6][:PORT] into REQ; DEFPORT when no port (0: required). */
static int
parse_authority (const char *s, size_t len, unsigned defport,
                 struct nb_http_request *req)
{
  const char *host = s, *port = NULL;
  size_t host_len = len, port_len = 0;

  if (len == 0 || memchr (s, '@', len))
    return -1;
  if (s[0] == '[')
    {
      const char *close = memchr (s, ']', len);
      if (close == NULL)
        return -1;
      host_len = (size_t)(close - s) + 1;
      if (host_len < len)
        {
          if (close[1] != ':')
            return -1;
          port = close + 2;
          port_len = len - host_len - 1;
        }
    }
  else
    {
      const char *colon = memchr (s, ':', len);
      if (colon)
        {
          if (memchr (colon + 1, ':', len - (size_t)(colon + 1 - s)))
            return -1; /* an IPv6 literal needs its brackets */
          host_len = (size_t)(colon - s);
          port = colon + 1;
          port_len = len - host_len - 1;
        }
    }
  if (port && port_len > 0)
    {
      unsigned v = 0;
      if (port_len > 5)
        return -1;
      for (size_t i = 0; i < port_len; i++)
        {
          if (port[i] < '0' || port[i] > '9')
            return -1;
          v = v * 10 + (unsigned)(port[i] - '0');
        }
      if (v == 0 || v > 65535)
        return -1;
      req->port = v;
    }
  else if (defport)
    req->port = defport;
  else
    return -1;
  if (host_len == 0 || nb_policy_normalize_host (host, host_len, req->host) < 0)
    return -1;
  return 0;
}

static int
name_is (const struct header *h, const char *name)
{
  return h->name_len == strlen (name)
         && strncasecmp (h->name, name, h->name_len) == 0;
}

/* Is header H named in the value of a Connection or Proxy-Connection
 * header (which makes it hop-by-hop, RFC 9110 7.6.1)? */
static int
listed_in_connection (const struct header *hs, size_t n, const struct header *h)
{
  for (size_t i = 0; i < n; i++)
    {
      if (!name_is (&hs[i], "connection")
          && !name_is (&hs[i], "proxy-connection"))
        continue;
      const char *p = hs[i].value, *end = p + hs[i].value_len;
      while (p < end)
        {
          while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
          const char *tok = p;
          while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
          if ((size_t)(p - tok) == h->name_len
              && strncasecmp (tok, h->name, h->name_len) == 0)
            return 1;
        }
    }
  return 0;
}

static int
hop_by_hop (const struct header *hs, size_t n, const struct header *h)
{
  static const char *const names[]
      = { "host", "connection", "keep-alive", "te", "trailer", "upgrade" };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (name_is (h, names[i]))
      return 1;
  if (h->name_len >= 6 && strncasecmp (h->name, "proxy-", 6) == 0)
    return 1;
  return listed_in_connection (hs, n, h);
}

struct out
{
  char *buf;
  size_t len, cap;
  int overflow;
};

static void
put (struct out *o, const char *s, size_t len)
{
  /* The capacity is computed from the input's size beforehand. */
  if (o->len + len <= o->cap)
    {
      memcpy (o->buf + o->len, s, len);
      o->len += len;
    }
  else
    o->overflow = 1;
}

static void
puts_ (struct out *o, const char *s)
{
  put (o, s, strlen (s));
}

int
nb_http_parse_head (const char *buf, size_t len, struct nb_http_request *req,
                    int *status, char *why, size_t whylen)
{
  struct header hs[NB_HTTP_HEADERS_MAX];
  size_t n = 0, limit = len < NB_HTTP_HEAD_MAX ? len : NB_HTTP_HEAD_MAX;
  const char *end = NULL, *p, *line_end;

  memset (req, 0, sizeof *req);
  /* Refuse what is not HTTP as soon as the method shows it (a TLS hello
   * sent to the proxy port, say), rather than waiting for a head. */
  for (size_t i = 0; i < limit && buf[i] != ' '; i++)
    if (!tchar ((unsigned char)buf[i]) || i >= sizeof req->method - 1)
      return refuse (status, why, whylen, 400, "not an HTTP request");
  for (size_t i = 0; i + 3 < limit; i++)
    if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r'
        && buf[i + 3] == '\n')
      {
        end = buf + i + 4;
        break;
      }
  if (end == NULL)
    {
      if (len >= NB_HTTP_HEAD_MAX)
        return refuse (status, why, whylen, 431,
                       "request head longer than %d bytes", NB_HTTP_HEAD_MAX);
      return 0;
    }
  if (memchr (buf, '\0', (size_t)(end - buf)))
    return refuse (status, why, whylen, 400, "NUL byte in the request head");

  /* Request line: METHOD SP TARGET SP HTTP/1.x CRLF */
  line_end = memchr (buf, '\r', (size_t)(end - buf));
  if (line_end == NULL || line_end[1] != '\n')
    return refuse (status, why, whylen, 400, "malformed request line");
  const char *sp1 = memchr (buf, ' ', (size_t)(line_end - buf));
  if (sp1 == NULL || sp1 == buf)
    return refuse (status, why, whylen, 400, "malformed request line");
  const char *target = sp1 + 1;
  const char *sp2 = memchr (target, ' ', (size_t)(line_end - target));
  if (sp2 == NULL || sp2 == target)
    return refuse (status, why, whylen, 400, "malformed request line");
  const char *version = sp2 + 1;
  size_t version_len = (size_t)(line_end - version);
  size_t target_len = (size_t)(sp2 - target);
  for (size_t i = 0; i < target_len; i++)
    if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
      return refuse (status, why, whylen, 400, "malformed request target");
  if (version_len != 8 || strncmp (version, "HTTP/1.", 7) != 0)
    {
      if (version_len >= 5 && strncmp (version, "HTTP/", 5) == 0)
        return refuse (status, why, whylen, 505, "only HTTP/1.0 and HTTP/1.1");
      return refuse (status, why, whylen, 400, "malformed request line");
    }
  if (version[7] != '0' && version[7] != '1')
    return refuse (status, why, whylen, 505, "only HTTP/1.0 and HTTP/1.1");
  memcpy (req->method, buf, (size_t)(sp1 - buf));
  req->method[sp1 - buf] = '\0';

  /* Headers */
  for (p = line_end + 2; p < end - 2; p = line_end + 2)
    {
      line_end = memchr (p, '\r', (size_t)(end - p));
      if (line_end == NULL || line_end[1] != '\n' || line_end == p)
        return refuse (status, why, whylen, 400, "malformed header line");
      if (n == NB_HTTP_HEADERS_MAX)
        return refuse (status, why, whylen, 431, "more than %d headers",
                       NB_HTTP_HEADERS_MAX);
      const char *colon = p;
      while (colon < line_end && tchar ((unsigned char)*colon))
        colon++;
      /* No space before the colon, no folded line (RFC 9112 5.1, 5.2):
       * both are how requests get smuggled past one parser to another. */
      if (colon == p || colon == line_end || *colon != ':')
        return refuse (status, why, whylen, 400, "malformed header line");
      const char *v = colon + 1, *ve = line_end;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      for (const char *c = v; c < ve; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
          return refuse (status, why, whylen, 400,
                         "control character in a "
                         "header value");
      hs[n].name = p;
      hs[n].name_len = (size_t)(colon - p);
      hs[n].value = v;
      hs[n].value_len = (size_t)(ve - v);
      n++;
    }

  int cl = 0, te = 0;
  for (size_t i = 0; i < n; i++)
    {
      cl += name_is (&hs[i], "content-length");
      te += name_is (&hs[i], "transfer-encoding");
    }
  if (cl > 1 || (cl && te))
    return refuse (status, why, whylen, 400,
                   "ambiguous message length "
                   "(several Content-Length, or with Transfer-Encoding)");

  req->head_len = (size_t)(end - buf);
  if (strcmp (req->method, "CONNECT") == 0)
    {
      req->connect = 1;
      if (parse_authority (target, target_len, 0, req) < 0)
        return refuse (status, why, whylen, 400, "CONNECT needs HOST:PORT");
      return 1;
    }

  const char *path;
  size_t auth_len, path_len;
  if (target_len >= 8 && strncasecmp (target, "https://", 8) == 0)
    return refuse (status, why, whylen, 501,
                   "https:// URLs go through "
                   "CONNECT (the proxy does not originate TLS)");
  if (target_len < 7 || strncasecmp (target, "http://", 7) != 0)
    return refuse (status, why, whylen, 400,
                   "not a proxy request (the "
                   "target must be an absolute http:// URL)");
  const char *auth = target + 7, *tend = target + target_len;
  path = auth;
  while (path < tend && *path != '/' && *path != '?' && *path != '#')
    path++;
  auth_len = (size_t)(path - auth);
  if (parse_authority (auth, auth_len, 80, req) < 0)
    return refuse (status, why, whylen, 400, "invalid host in the URL");
  const char *frag = memchr (path, '#', (size_t)(tend - path));
  path_len = (size_t)((frag ? frag : tend) - path);

  /* The head toward the origin, never longer than this bound. */
  struct out o = { 0 };
  o.cap = req->head_len + 512 + 2 * NB_HTTP_HEADERS_MAX;
  o.buf = malloc (o.cap);
  if (o.buf == NULL)
    return refuse (status, why, whylen, 503, "out of memory");
  puts_ (&o, req->method);
  puts_ (&o, " ");
  if (path_len == 0 || path[0] != '/')
    puts_ (&o, "/");
  put (&o, path, path_len);
  puts_ (&o, " ");
  put (&o, version, version_len);
  puts_ (&o, "\r\nHost: ");
  int v6 = strchr (req->host, ':') != NULL;
  char port[16];
  if (v6)
    puts_ (&o, "[");
  puts_ (&o, req->host);
  if (v6)
    puts_ (&o, "]");
  if (req->port != 80)
    {
      snprintf (port, sizeof port, ":%u", req->port);
      puts_ (&o, port);
    }
  puts_ (&o, "\r\n");
  for (size_t i = 0; i < n; i++)
    {
      if (hop_by_hop (hs, n, &hs[i]))
        continue;
      put (&o, hs[i].name, hs[i].name_len);
      puts_ (&o, ": ");
      put (&o, hs[i].value, hs[i].value_len);
      puts_ (&o, "\r\n");
    }
  puts_ (&o, "Connection: close\r\n\r\n");
  if (o.overflow)
    {
      free (o.buf);
      return refuse (status, why, whylen, 431,
                     "request head too large to "
                     "forward");
    }
  req->out = o.buf;
  req->out_len = o.len;
  return 1;
}
