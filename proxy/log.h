/* The proxy's decision log: one JSON object per line (see proxy.h). */
#ifndef NB_PROXY_LOG_H
#define NB_PROXY_LOG_H

#include <stdint.h>

#include "runtime/base/error.h"

struct nb_proxy_log
{
  int fd; /* -1: no log */
  char *sandbox;
};

struct nb_log_entry
{
  const char *event; /* "decision", "close", "error" */
  const char *proto; /* "http", "connect", "socks5" or NULL */
  const char *method;
  const char *host;
  unsigned port;       /* 0: absent */
  const char *address; /* connected to, or NULL */
  int decision;        /* 1 allow, 0 deny, -1 absent */
  const char *rule;
  int status; /* HTTP status or SOCKS5 reply; -1: absent */
  const char *error;
  int has_bytes;
  uint64_t bytes_up, bytes_down;
};

/* Open PATH for appending (created 0600); PATH NULL: a log that writes
 * nothing. */
int nb_proxy_log_open (struct nb_proxy_log *log, const char *path,
                       const char *sandbox, nb_error_t *err);
void nb_proxy_log_close (struct nb_proxy_log *log);
/* Append one line; a failing write is dropped (the proxy goes on). */
void nb_proxy_log_write (struct nb_proxy_log *log,
                         const struct nb_log_entry *e);
/* E as its JSON line (with the newline), malloc'd; for tests. */
char *nb_proxy_log_format (const struct nb_proxy_log *log,
                           const struct nb_log_entry *e);

#endif
