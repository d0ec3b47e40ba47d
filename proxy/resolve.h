/* Non-blocking name resolution for the proxy: a hosts(5) file first, then
 * c-ares, whose sockets and timeouts live in the proxy's epoll loop. */
#ifndef NB_PROXY_RESOLVE_H
#define NB_PROXY_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime/base/error.h"

#define NB_RESOLVE_MAX 16 /* addresses kept per name */

struct nb_resolver;
struct nb_lookup;

/* ERROR is NULL on success (N >= 1 addresses, port 0). */
typedef void (*nb_resolve_cb) (void *arg, const char *error,
                               const struct sockaddr_storage *addrs, size_t n);

/* A resolver whose sockets go into EPFD with data.u64 = TAG | fd.
 * HOSTS_FILE: names looked up there before DNS (NULL: c-ares's own
 * /etc/hosts lookup); RESOLV_CONF: its servers (NULL: the system's). */
int nb_resolver_new (int epfd, uint64_t tag, const char *hosts_file,
                     const char *resolv_conf, struct nb_resolver **out,
                     nb_error_t *err);
/* Pending lookups end (their callbacks are not called). */
void nb_resolver_free (struct nb_resolver *r);

/* Resolve HOST.  Returns 1 when the answer is already known: ADDRS
 * (NB_RESOLVE_MAX entries) and *N filled, or *N = 0 and ERRBUF saying why
 * not; 0 when it is pending: CB(ARG, ...) is called once later from
 * nb_resolver_process or nb_resolver_timeout, unless *HANDLE is cancelled
 * first. */
int nb_resolver_lookup (struct nb_resolver *r, const char *host,
                        nb_resolve_cb cb, void *arg,
                        struct sockaddr_storage *addrs, size_t *n, char *errbuf,
                        size_t errlen, struct nb_lookup **handle);
void nb_lookup_cancel (struct nb_lookup *l);

/* Epoll said FD (one of the resolver's) is ready with EVENTS. */
void nb_resolver_process (struct nb_resolver *r, int fd, uint32_t events);
/* Milliseconds until c-ares needs nb_resolver_timeout, or -1. */
int nb_resolver_next_timeout (struct nb_resolver *r);
void nb_resolver_timeout (struct nb_resolver *r);

/* Look HOST (normalised) up in the hosts(5) text TEXT; returns the number
 * of addresses put in ADDRS (at most MAX). */
size_t nb_hosts_lookup (const char *text, const char *host,
                        struct sockaddr_storage *addrs, size_t max);

#endif
