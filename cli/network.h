/* nsbox run's network (--network, a profile's "network"): none (loopback
 * only), open (pasta, else slirp4netns), filtered (loopback plus nsbox's
 * egress proxy outside the sandbox) and host (the host's network, no
 * isolation).  What it starts for a sandbox is watched by a guardian
 * process that ends it when the sandbox's init ends -- also when nsbox was
 * killed -- so nothing outlives the sandbox. */
#ifndef SB_NETWORK_H
#define SB_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "runtime/base/error.h"

enum sb_net_mode
{
  SB_NET_NONE,
  SB_NET_OPEN,
  SB_NET_FILTERED,
  SB_NET_HOST,
};

/* Where the egress proxy answers inside a filtered sandbox. */
#define SB_NET_HTTP_PROXY_PORT 3128
#define SB_NET_SOCKS_PROXY_PORT 1080
/* open: the sandbox's address, gateway and DNS forwarder (slirp4netns's
 * defaults, which pasta is told to use too). */
#define SB_NET_ADDR "10.0.2.100"
#define SB_NET_GATEWAY "10.0.2.2"
#define SB_NET_DNS "10.0.2.3"

/* What the front door asks for; the callback's argument. */
struct sb_net
{
  enum sb_net_mode mode;
  const char *sandbox;          /* its name, for the proxy's log and 403s */
  /* open: -p HOST:SANDBOX pairs as pasta takes them, NULL-terminated. */
  const char *const *publish;
  /* open: the host's loopback ports the sandbox may reach (pasta's -T
   * list, "P1,P2"), as host.nsbox.internal; NULL: none. */
  const char *host_ports;
  /* filtered: the fixed rules (profile, flags), the policy files that
   * `nsbox policy` edits (re-read while it runs), the decision log. */
  const char *const *allow, *const *deny;
  const char *policy_files[3];
  const char *log_path;
  /* What sb_net_clear frees. */
  char *owned[3];
  const char **owned_allow, **owned_deny;
};

void sb_net_clear (struct sb_net *net);

int sb_net_mode_parse (const char *text, enum sb_net_mode *mode,
                       nb_error_t *err);
const char *sb_net_mode_name (enum sb_net_mode mode);

/* The rt_create_opts.net_setup callback: ARG is a struct sb_net. */
int sb_net_setup (pid_t init_pid, void *arg, nb_error_t *err);

/* The proxy variables a filtered sandbox's processes get
 * (HTTP_PROXY, https_proxy, ALL_PROXY, NO_PROXY, ...), appended to *ENV. */
int sb_net_proxy_env (char ***env, size_t *n);

/* Start a guardian: a process of its own (not nsbox's child, so that it
 * outlives a detached nsbox run) that runs BODY and ends with the process
 * of INIT_PIDFD.  BODY gets that pidfd and READY_FD: it closes READY_FD
 * once what it started is ready, or writes why it failed there and
 * returns.  Only KEEP (and the standard fds, on /dev/null) stay open in
 * it.  Returns once BODY said ready, or < 0 with its reason. */
int sb_net_guardian (int init_pidfd, const int *keep, size_t n_keep,
                     int (*body) (int stop_fd, int ready_fd, void *arg),
                     void *arg, nb_error_t *err);

/* filtered: the proxy's sockets inside, its guardian. */
int sb_net_start_proxy (pid_t init_pid, int init_pidfd,
                        const struct sb_net *net, nb_error_t *err);

#endif
