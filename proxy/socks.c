#define _GNU_SOURCE
#include "proxy/socks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int
nb_socks_parse_greeting (const unsigned char *buf, size_t len, int *noauth)
{
  *noauth = 0;
  if (len < 1)
    return 0;
  if (buf[0] != 5)
    return -1;
  if (len < 2)
    return 0;
  if (buf[1] == 0)
    return -1;
  if (len < 2 + (size_t)buf[1])
    return 0;
  for (size_t i = 0; i < buf[1]; i++)
    if (buf[2 + i] == 0)
      *noauth = 1;
  return 2 + buf[1];
}

static int
refuse (unsigned char *reply, unsigned char code, char *why, size_t whylen,
        const char *text)
{
  *reply = code;
  snprintf (why, whylen, "%s", text);
  return -1;
}

int
nb_socks_parse_request (const unsigned char *buf, size_t len,
                        struct nb_socks_request *req, unsigned char *reply,
                        char *why, size_t whylen)
{
  size_t need;
  const unsigned char *addr;
  char text[NB_HOST_MAX + 1];

  memset (req, 0, sizeof *req);
  if (len < 5)
    return 0;
  if (buf[0] != 5 || buf[2] != 0)
    return refuse (reply, NB_SOCKS_FAILURE, why, whylen,
                   "malformed SOCKS5 request");
  switch (buf[3])
    {
    case 1:
      need = 4 + 4 + 2;
      break;
    case 4:
      need = 4 + 16 + 2;
      break;
    case 3:
      if (buf[4] == 0)
        return refuse (reply, NB_SOCKS_FAILURE, why, whylen, "empty host name");
      need = 4 + 1 + buf[4] + 2;
      break;
    default:
      return refuse (reply, NB_SOCKS_ATYP_UNSUPPORTED, why, whylen,
                     "unknown address type");
    }
  /* The command is judged after the whole request is in, so that the reply
   * does not race the rest of it. */
  if (len < need)
    return 0;
  if (buf[1] != 1)
    return refuse (reply, NB_SOCKS_CMD_UNSUPPORTED, why, whylen,
                   "only the CONNECT command is supported");
  addr = buf + 4;
  if (buf[3] == 1)
    inet_ntop (AF_INET, addr, text, sizeof text);
  else if (buf[3] == 4)
    inet_ntop (AF_INET6, addr, text, sizeof text);
  if (buf[3] == 3)
    {
      if (nb_policy_normalize_host ((const char *)addr + 1, addr[0], req->host)
          < 0)
        return refuse (reply, NB_SOCKS_HOST_UNREACHABLE, why, whylen,
                       "invalid host name");
    }
  else if (nb_policy_normalize_host (text, strlen (text), req->host) < 0)
    return refuse (reply, NB_SOCKS_FAILURE, why, whylen, "invalid address");
  req->port = (unsigned)buf[need - 2] << 8 | buf[need - 1];
  if (req->port == 0)
    return refuse (reply, NB_SOCKS_FAILURE, why, whylen, "port 0");
  return (int)need;
}

size_t
nb_socks_reply (unsigned char *out, unsigned char code,
                const struct sockaddr *bound)
{
  out[0] = 5;
  out[1] = code;
  out[2] = 0;
  if (bound && bound->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)bound;
      out[3] = 4;
      memcpy (out + 4, &s->sin6_addr, 16);
      memcpy (out + 20, &s->sin6_port, 2);
      return 22;
    }
  out[3] = 1;
  memset (out + 4, 0, 6);
  if (bound && bound->sa_family == AF_INET)
    {
      const struct sockaddr_in *s = (const struct sockaddr_in *)bound;
      memcpy (out + 4, &s->sin_addr, 4);
      memcpy (out + 8, &s->sin_port, 2);
    }
  return 10;
}
