/* SOCKS5 (RFC 1928) as the proxy speaks it: the no-authentication method
 * and the CONNECT command only.  Pure parsers and the reply encoder. */
#ifndef NB_PROXY_SOCKS_H
#define NB_PROXY_SOCKS_H

#include <stddef.h>
#include <sys/socket.h>

#include "proxy/policy.h"

/* Reply codes (RFC 1928 section 6). */
enum
{
  NB_SOCKS_OK = 0x00,
  NB_SOCKS_FAILURE = 0x01,
  NB_SOCKS_NOT_ALLOWED = 0x02,
  NB_SOCKS_NET_UNREACHABLE = 0x03,
  NB_SOCKS_HOST_UNREACHABLE = 0x04,
  NB_SOCKS_REFUSED = 0x05,
  NB_SOCKS_TTL_EXPIRED = 0x06,
  NB_SOCKS_CMD_UNSUPPORTED = 0x07,
  NB_SOCKS_ATYP_UNSUPPORTED = 0x08,
};

#define NB_SOCKS_REPLY_MAX 22

struct nb_socks_request
{
  char host[NB_HOST_MAX + 1]; /* normalised (policy.h) */
  unsigned port;
};

/* The greeting VER NMETHODS METHODS.  Returns the bytes it took (> 0) with
 * *NOAUTH 1 when the client offers "no authentication", 0 when more bytes
 * are needed, -1 when it is not SOCKS5. */
int nb_socks_parse_greeting (const unsigned char *buf, size_t len, int *noauth);
/* The request VER CMD RSV ATYP DST.ADDR DST.PORT.  Returns the bytes it
 * took (> 0) with *REQ filled, 0 when more bytes are needed, -1 when it is
 * refused with the reply code *REPLY (and WHY, WHYLEN bytes, saying why). */
int nb_socks_parse_request (const unsigned char *buf, size_t len,
                            struct nb_socks_request *req, unsigned char *reply,
                            char *why, size_t whylen);
/* Encode a reply with CODE and the bound address BOUND (NULL: 0.0.0.0:0)
 * into OUT (NB_SOCKS_REPLY_MAX bytes); returns its length. */
size_t nb_socks_reply (unsigned char *out, unsigned char code,
                       const struct sockaddr *bound);

#endif
