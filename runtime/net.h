/* Networking inside the sandbox's own network namespace. */
#ifndef RT_NET_H
#define RT_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/base/error.h"

/* Bring up "lo": a fresh network namespace starts with it down. */
int rt_net_loopback_up (nb_error_t *err);

/* Listening TCP sockets on ADDRS (e.g. 127.0.0.1:3128), made inside the
 * network namespace of process PID (a sandbox's init, whose user namespace
 * this user owns) and returned in FDS for a server outside it: the
 * sandbox's own 127.0.0.1 then reaches that server, with no relay process
 * and no unix socket in the sandbox.  A forked child enters the namespaces
 * (user first: it gives the capability to enter the network one), makes
 * the sockets and passes them back. */
int rt_net_listen_in (pid_t pid, const struct sockaddr_in *addrs, size_t n,
                      int *fds, nb_error_t *err);

#endif
