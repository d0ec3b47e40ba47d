/* Networking inside the sandbox's own network namespace. */
#ifndef RT_NET_H
#define RT_NET_H

#include "runtime/base/error.h"

/* Bring up "lo": a fresh network namespace starts with it down. */
int rt_net_loopback_up (nb_error_t *err);

#endif
