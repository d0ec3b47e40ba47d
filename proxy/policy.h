/* The egress policy of a filtered sandbox: allow and deny rules, and the
 * decision for a destination, by name before resolution and by address
 * after it.  Pure logic (no c-ares, no sockets beyond the address types),
 * so the CLI can compile this file in to validate a rule before writing it.
 *
 * A rule is one of
 *   *                        every destination (a name or an address)
 *   HOST[:PORT]              that host name, case-insensitive, trailing dot
 *                            ignored
 *   *.DOMAIN[:PORT]          every name below DOMAIN (not DOMAIN itself)
 *   ADDR[/PREFIX][:PORT]     an IPv4 address or CIDR
 *   [ADDR[/PREFIX]][:PORT]   an IPv6 address or CIDR (brackets needed only
 *                            with a port; a bare IPv6 rule has no port)
 * Without a port a rule matches every port. */
#ifndef NB_PROXY_POLICY_H
#define NB_PROXY_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime/base/error.h"

#define NB_RULE_MAX 300   /* longest rule text accepted */
#define NB_HOST_MAX 253   /* longest host name (RFC 1035) */
#define NB_REASON_MAX 400 /* a decision's rule text or reason */

enum nb_rule_kind
{
  NB_RULE_ANY,      /* "*" */
  NB_RULE_HOST,     /* exact name */
  NB_RULE_WILDCARD, /* "*.suffix" */
  NB_RULE_CIDR,     /* address or network */
};

struct nb_rule
{
  enum nb_rule_kind kind;
  unsigned port;              /* 0: any port */
  char text[NB_RULE_MAX + 1]; /* as written, for messages and the log */
  char host[NB_HOST_MAX + 1]; /* HOST, or the suffix of a wildcard */
  int family;                 /* CIDR: AF_INET or AF_INET6 */
  uint8_t addr[16];           /* CIDR: network, host bits cleared */
  unsigned prefix;            /* CIDR: prefix length */
};

struct nb_policy
{
  struct nb_rule *allow, *deny;
  size_t n_allow, n_deny;
};

struct nb_decision
{
  int allow;
  /* The text of the rule that decided, or the reason when no rule did
   * ("no allow rule matches", "127.0.0.1 is a loopback address"). */
  char rule[NB_REASON_MAX];
  /* 1 when RULE is a rule (a `deny` or `allow` the user wrote). */
  int by_rule;
};

/* Parse one rule; errors name the rule and what is wrong with it. */
int nb_policy_parse_rule (const char *text, struct nb_rule *out,
                          nb_error_t *err);
/* Parse TEXT and append it to the allow list (DENY = 0) or the deny list. */
int nb_policy_add (struct nb_policy *p, int deny, const char *text,
                   nb_error_t *err);
/* Append every rule of SRC to DST. */
int nb_policy_merge (struct nb_policy *dst, const struct nb_policy *src,
                     nb_error_t *err);
/* A policy file's text: {"allow": [RULE...], "deny": [RULE...]}, both
 * optional, other keys ignored.  WHAT names it in errors.  On error *out is
 * left empty. */
int nb_policy_parse_json (const char *text, size_t len, const char *what,
                          struct nb_policy *out, nb_error_t *err);
void nb_policy_free (struct nb_policy *p);

/* Normalise a host as a request names it: lower case, no trailing dot, no
 * brackets around an IPv6 literal.  Returns 0, or -1 when it is not a
 * valid host name nor an IP literal (OUT then unchanged).  OUT holds
 * NB_HOST_MAX + 1 bytes. */
int nb_policy_normalize_host (const char *host, size_t len, char *out);
/* Is HOST (normalised) an IP literal?  Fills SS (port 0) when it is. */
int nb_policy_host_is_ip (const char *host, struct sockaddr_storage *ss);

/* The decision on a request for HOST:PORT before resolution: a deny rule
 * for the name (or, for an IP literal, the address) denies; then an allow
 * rule must match the name (or the literal address), else "no allow rule
 * matches".  An allowed name must still pass nb_policy_decide_addr for each
 * address it resolves to. */
void nb_policy_decide_name (const struct nb_policy *p, const char *host,
                            unsigned port, struct nb_decision *d);
/* The decision on connecting to the address SA for PORT: a deny rule
 * covering the address denies; a special address (loopback, private,
 * link-local, metadata, CGNAT, unspecified, multicast, broadcast, reserved,
 * or an IPv6 form embedding one) is refused unless an allow rule that is an
 * address or CIDR covers it; otherwise it is allowed (the name decided). */
void nb_policy_decide_addr (const struct nb_policy *p, unsigned port,
                            const struct sockaddr *sa, struct nb_decision *d);
/* What makes SA special, e.g. "a loopback address", or NULL. */
const char *nb_policy_addr_special (const struct sockaddr *sa);

#endif
