/* nsbox's egress proxy for `--network filtered`: an HTTP/1.1 forward proxy
 * (absolute-form http:// requests and CONNECT tunnels) and a SOCKS5 proxy
 * (CONNECT), on one single-threaded epoll loop, judging every request by the
 * policy (proxy/policy.h) before and after resolving its name with c-ares,
 * connecting only to an address that passed, and tunnelling with splice(2).
 * Built into nsbox-proxy.so; nsbox dlsyms nsbox_proxy_main.
 *
 * Behaviour worth knowing:
 * - One request per client connection for forwarded HTTP: the origin is
 *   sent "Connection: close" and what the client sends after the head is
 *   relayed to the same origin as it is (what a CONNECT tunnel to that
 *   host:port, which the same policy judges, would carry anyway).
 * - Limits: a request head of 16 KiB and 100 headers (431), 10 s to send
 *   it (408), 10 s to connect, 1024 connections at once (fewer when
 *   RLIMIT_NOFILE is low: each takes up to 6 fds).
 * - Policy files are checked before every decision (stat: inode, size,
 *   mtime); a changed file is re-read and applies to the next request.  A
 *   file that does not parse keeps the rules it had and logs an "error"
 *   line; a missing file has no rules.
 *
 * The log: one JSON object per line, appended (O_APPEND) to log_path.
 *   {"time": "2026-12-04T08:00:00.123Z", "sandbox": NAME, "event": EVENT,
 *    "proto": "http" | "connect" | "socks5", "method": "GET" | "CONNECT",
 *    "host": HOST, "port": N, "address": "ADDR" (connected to; absent if
 *    none), "decision": "allow" | "deny", "rule": RULE-OR-REASON,
 *    "status": N (the HTTP status or SOCKS5 reply code sent),
 *    "error": TEXT (why an allowed request failed, e.g. resolution),
 *    "bytes_up": N, "bytes_down": N (event "close" only)}
 *   EVENT is "decision" when the request is decided: a denial at once, an
 *   allowed request when its connection is made or has failed (502 /
 *   SOCKS5 0x04, 0x05); then "close" when an allowed connection ends, with
 *   the bytes relayed each way.  "error" events (host and port absent) say
 *   that a policy file was refused and the previous rules kept. */
#ifndef NB_PROXY_H
#define NB_PROXY_H

#include "runtime/base/error.h"

struct nb_proxy_config
{
  int http_fd;  /* a bound, listening TCP socket for the HTTP proxy, or -1 */
  int socks_fd; /* a bound, listening TCP socket for SOCKS5, or -1 */
  int stop_fd;  /* readable when the proxy must exit (a pidfd), or -1 */
  const char *sandbox;             /* for the log and the 403 text */
  const char *const *allow;        /* fixed rules, NULL-terminated, or NULL */
  const char *const *deny;         /* same */
  const char *const *policy_files; /* JSON policy files, re-read on change */
  const char *log_path;            /* NULL: no log */
  const char *hosts_file;  /* hosts(5) file tried before DNS; NULL: c-ares
                              reads /etc/hosts itself */
  const char *resolv_conf; /* NULL: the system's */
  /* Closed once the proxy is set up and serves, so that its starter knows
   * it is (a failure to set up is returned instead, the fd left open);
   * -1: none. */
  int ready_fd;
};

/* Serve until stop_fd is readable (or forever if -1).  Returns 0, or < 0
 * with *err filled (an invalid fixed rule, a listener that is not one, no
 * resolver, a log that cannot be opened).  The listening fds are made
 * non-blocking and stay open.  Meant for a process of its own: it ignores
 * SIGPIPE (splice into a closed socket raises it) and raises its
 * RLIMIT_NOFILE soft limit to the hard one. */
int nb_proxy_run (const struct nb_proxy_config *cfg, nb_error_t *err);
/* The plugin's entry point: nb_proxy_run. */
int nsbox_proxy_main (const struct nb_proxy_config *cfg, nb_error_t *err);

#endif
