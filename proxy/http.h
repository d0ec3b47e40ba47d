/* The HTTP/1.1 proxy's request head: absolute-form requests to forward
 * (http:// only) and CONNECT host:port.  A pure parser: bytes in, a
 * request or an HTTP status to refuse it with out. */
#ifndef NB_PROXY_HTTP_H
#define NB_PROXY_HTTP_H

#include <stddef.h>

#include "proxy/policy.h"

#define NB_HTTP_HEAD_MAX (16 * 1024) /* request line and headers */
#define NB_HTTP_HEADERS_MAX 100

struct nb_http_request
{
  int connect; /* CONNECT: a tunnel, no head to forward */
  char method[32];
  char host[NB_HOST_MAX + 1]; /* normalised (policy.h), no brackets */
  unsigned port;
  size_t head_len; /* bytes of the input the head took */
  /* For a forwarded request: the head to send to the origin, in
   * origin-form, Host set from the URL, hop-by-hop headers (Connection and
   * what it names, Proxy-*, Keep-Alive, TE, Trailer, Upgrade) removed,
   * "Connection: close" added.  malloc'd; NULL for CONNECT. */
  char *out;
  size_t out_len;
};

/* Parse the head at BUF[0..LEN).  Returns 1 with *REQ filled when the head
 * is complete, 0 when more bytes are needed (and LEN < NB_HTTP_HEAD_MAX),
 * -1 when the request is refused: *STATUS is the HTTP status to answer
 * (400, 405, 414, 431, 501, 505) and WHY (WHYLEN bytes) says why. */
int nb_http_parse_head (const char *buf, size_t len,
                        struct nb_http_request *req, int *status, char *why,
                        size_t whylen);
void nb_http_request_clear (struct nb_http_request *req);
/* "Forbidden", "Bad Gateway", ... for STATUS. */
const char *nb_http_reason (int status);

#endif
