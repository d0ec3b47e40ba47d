#define _GNU_SOURCE
#include "proxy/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/json.h"

/* A policy file is written by `nsbox policy`; more rules than this is not
 * a policy but an attempt to exhaust the proxy's memory. */
#define NB_POLICY_MAX_RULES 10000

static int
valid_label_char (int c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
         || c == '_';
}

/* A lower-case host name without a trailing dot: labels of 1..63 letters,
 * digits, '-' and '_', at most NB_HOST_MAX in all.  A name whose last label
 * is numeric ("127.1", "2130706433", "0x7f.1") is refused: resolvers read
 * such names as IPv4 addresses in the forms inet_aton(3) accepts, which would
 * let a request dress an address up as a name. */
static int
valid_host_name (const char *s)
{
  size_t len = strlen (s), label = 0;
  const char *last;

  if (len == 0 || len > NB_HOST_MAX)
    return 0;
  for (const char *p = s; *p; p++)
    {
      if (*p == '.')
        {
          if (label == 0)
            return 0;
          label = 0;
          continue;
        }
      if (!valid_label_char ((unsigned char)*p) || ++label > 63)
        return 0;
    }
  if (label == 0)
    return 0;
  last = strrchr (s, '.');
  last = last ? last + 1 : s;
  if (strncmp (last, "0x", 2) == 0)
    return 0;
  if (strspn (last, "0123456789") == strlen (last))
    return 0;
  return 1;
}

int
nb_policy_host_is_ip (const char *host, struct sockaddr_storage *ss)
{
  struct sockaddr_storage tmp;

  if (ss == NULL)
    ss = &tmp;
  memset (ss, 0, sizeof *ss);
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  if (inet_pton (AF_INET, host, &sin->sin_addr) == 1)
    {
      sin->sin_family = AF_INET;
      return 1;
    }
  if (inet_pton (AF_INET6, host, &sin6->sin6_addr) == 1)
    {
      sin6->sin6_family = AF_INET6;
      return 1;
    }
  return 0;
}

int
nb_policy_normalize_host (const char *host, size_t len, char *out)
{
  char buf[NB_HOST_MAX + 2];

  if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
    {
      struct in6_addr a;
      if (len - 2 > INET6_ADDRSTRLEN)
        return -1;
      memcpy (buf, host + 1, len - 2);
      buf[len - 2] = '\0';
      if (inet_pton (AF_INET6, buf, &a) != 1)
        return -1;
      inet_ntop (AF_INET6, &a, out, NB_HOST_MAX + 1);
      return 0;
    }
  if (len > 0 && host[len - 1] == '.')
    len--;
  if (len == 0 || len > NB_HOST_MAX)
    return -1;
  for (size_t i = 0; i < len; i++)
    {
      if (host[i] == '\0')
        return -1;
      buf[i] = (char)tolower ((unsigned char)host[i]);
    }
  buf[len] = '\0';
  struct sockaddr_storage ss;
  if (nb_policy_host_is_ip (buf, &ss))
    {
      /* One spelling per address, so that logs and rules compare. */
      const void *a
          = ss.ss_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
      inet_ntop (ss.ss_family, a, out, NB_HOST_MAX + 1);
      return 0;
    }
  if (!valid_host_name (buf))
    return -1;
  memcpy (out, buf, len + 1);
  return 0;
}

static int
parse_port (const char *s, unsigned *port)
{
  unsigned long v = 0;

  if (*s == '\0' || strlen (s) > 5)
    return -1;
  for (const char *p = s; *p; p++)
    {
      if (*p < '0' || *p > '9')
        return -1;
      v = v * 10 + (unsigned)(*p - '0');
    }
  if (v == 0 || v > 65535)
    return -1;
  *port = (unsigned)v;
  return 0;
}

/* ADDR or ADDR/PREFIX into R; 0, or -1 when it is neither. */
static int
parse_cidr (const char *s, struct nb_rule *r)
{
  char buf[INET6_ADDRSTRLEN + 8];
  const char *slash = strchr (s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen (s);
  unsigned max;

  if (alen == 0 || alen >= sizeof buf)
    return -1;
  memcpy (buf, s, alen);
  buf[alen] = '\0';
  memset (r->addr, 0, sizeof r->addr);
  if (inet_pton (AF_INET, buf, r->addr) == 1)
    r->family = AF_INET, max = 32;
  else if (inet_pton (AF_INET6, buf, r->addr) == 1)
    r->family = AF_INET6, max = 128;
  else
    return -1;
  r->prefix = max;
  if (slash)
    {
      const char *p = slash + 1;
      unsigned v = 0;
      if (*p == '\0' || strlen (p) > 3)
        return -1;
      for (; *p; p++)
        {
          if (*p < '0' || *p > '9')
            return -1;
          v = v * 10 + (unsigned)(*p - '0');
        }
      if (v > max)
        return -1;
      r->prefix = v;
    }
  /* Keep the network only: host bits never take part in a match. */
  for (unsigned bit = r->prefix; bit < max; bit++)
    r->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
  r->kind = NB_RULE_CIDR;
  return 0;
}

int
nb_policy_parse_rule (const char *text, struct nb_rule *out, nb_error_t *err)
{
  char body[NB_RULE_MAX + 1];
  size_t len = strlen (text);
  const char *colon;
  struct nb_rule r;

  memset (&r, 0, sizeof r);
  if (len == 0)
    return nb_error_make (err, 0, "invalid rule '': empty");
  if (len > NB_RULE_MAX)
    return nb_error_make (err, 0,
                          "invalid rule '%.40s...': longer than %d "
                          "characters",
                          text, NB_RULE_MAX);
  memcpy (r.text, text, len + 1);
  memcpy (body, text, len + 1);

  if (body[0] == '[')
    {
      /* [IPv6 or CIDR] with an optional :PORT */
      char *close = strchr (body, ']');
      if (close == NULL)
        return nb_error_make (err, 0, "invalid rule '%s': '[' without ']'",
                              text);
      if (close[1] != '\0')
        {
          if (close[1] != ':' || parse_port (close + 2, &r.port) < 0)
            return nb_error_make (err, 0,
                                  "invalid rule '%s': a port is a "
                                  "number from 1 to 65535 after ']:'",
                                  text);
        }
      *close = '\0';
      if (parse_cidr (body + 1, &r) < 0 || r.family != AF_INET6)
        return nb_error_make (err, 0,
                              "invalid rule '%s': not an IPv6 "
                              "address or CIDR inside the brackets",
                              text);
      *out = r;
      return 0;
    }
  colon = strchr (body, ':');
  if (colon && strchr (colon + 1, ':'))
    {
      /* Several colons: a bare IPv6 address or CIDR, no port. */
      if (parse_cidr (body, &r) < 0)
        return nb_error_make (err, 0,
                              "invalid rule '%s': not an IPv6 "
                              "address or CIDR (write [ADDR]:PORT for a "
                              "port)",
                              text);
      *out = r;
      return 0;
    }
  if (colon)
    {
      if (parse_port (colon + 1, &r.port) < 0)
        return nb_error_make (err, 0,
                              "invalid rule '%s': a port is a number "
                              "from 1 to 65535",
                              text);
      body[colon - body] = '\0';
    }
  if (strcmp (body, "*") == 0)
    {
      r.kind = NB_RULE_ANY;
      *out = r;
      return 0;
    }
  if (strchr (body, '/') || nb_policy_host_is_ip (body, NULL))
    {
      if (parse_cidr (body, &r) < 0 || r.family != AF_INET)
        return nb_error_make (err, 0,
                              "invalid rule '%s': not an IPv4 "
                              "address or CIDR",
                              text);
      *out = r;
      return 0;
    }
  const char *name = body;
  r.kind = NB_RULE_HOST;
  if (strncmp (body, "*.", 2) == 0)
    {
      r.kind = NB_RULE_WILDCARD;
      name = body + 2;
    }
  if (strchr (name, '*'))
    return nb_error_make (err, 0,
                          "invalid rule '%s': '*' only as the whole "
                          "rule or as the first label ('*.example.com')",
                          text);
  if (nb_policy_normalize_host (name, strlen (name), r.host) < 0
      || nb_policy_host_is_ip (r.host, NULL))
    return nb_error_make (err, 0,
                          "invalid rule '%s': not a host name "
                          "(letters, digits, '-', '_' in dot-separated labels; "
                          "the last one not a number)",
                          text);
  *out = r;
  return 0;
}

static int
push_rule (struct nb_rule **v, size_t *n, const struct nb_rule *r,
           nb_error_t *err)
{
  if (*n >= NB_POLICY_MAX_RULES)
    return nb_error_make (err, 0, "more than %d rules", NB_POLICY_MAX_RULES);
  struct nb_rule *nv = realloc (*v, (*n + 1) * sizeof **v);
  if (nv == NULL)
    return nb_error_make (err, ENOMEM, "policy");
  nv[(*n)++] = *r;
  *v = nv;
  return 0;
}

int
nb_policy_add (struct nb_policy *p, int deny, const char *text, nb_error_t *err)
{
  struct nb_rule r;

  if (nb_policy_parse_rule (text, &r, err) < 0)
    return -1;
  return deny ? push_rule (&p->deny, &p->n_deny, &r, err)
              : push_rule (&p->allow, &p->n_allow, &r, err);
}

int
nb_policy_merge (struct nb_policy *dst, const struct nb_policy *src,
                 nb_error_t *err)
{
  for (size_t i = 0; i < src->n_allow; i++)
    if (push_rule (&dst->allow, &dst->n_allow, &src->allow[i], err) < 0)
      return -1;
  for (size_t i = 0; i < src->n_deny; i++)
    if (push_rule (&dst->deny, &dst->n_deny, &src->deny[i], err) < 0)
      return -1;
  return 0;
}

void
nb_policy_free (struct nb_policy *p)
{
  free (p->allow);
  free (p->deny);
  memset (p, 0, sizeof *p);
}

int
nb_policy_parse_json (const char *text, size_t len, const char *what,
                      struct nb_policy *out, nb_error_t *err)
{
  static const char *const keys[] = { "allow", "deny" };
  cleanup_json json_t *j = NULL;
  struct nb_policy p = { 0 };
  json_error_t jerr;

  memset (out, 0, sizeof *out);
  j = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (j == NULL)
    return nb_error_make (err, 0, "%s: line %d: %s", what, jerr.line,
                          jerr.text);
  if (!json_is_object (j))
    return nb_error_make (err, 0, "%s: not a JSON object", what);
  for (int deny = 0; deny < 2; deny++)
    {
      json_t *list = json_object_get (j, keys[deny]), *v;
      size_t i;
      if (list == NULL || json_is_null (list))
        continue;
      if (!json_is_array (list))
        {
          nb_policy_free (&p);
          return nb_error_make (err, 0,
                                "%s: \"%s\" is not an array of "
                                "rules",
                                what, keys[deny]);
        }
      json_array_foreach (list, i, v)
      {
        if (!json_is_string (v))
          {
            nb_policy_free (&p);
            return nb_error_make (err, 0,
                                  "%s: \"%s\"[%zu] is not a "
                                  "string",
                                  what, keys[deny], i);
          }
        if (strlen (json_string_value (v)) != json_string_length (v))
          {
            nb_policy_free (&p);
            return nb_error_make (err, 0,
                                  "%s: \"%s\"[%zu] holds a NUL "
                                  "byte",
                                  what, keys[deny], i);
          }
        if (nb_policy_add (&p, deny, json_string_value (v), err) < 0)
          {
            nb_policy_free (&p);
            return nb_error_wrap (err, "%s: \"%s\"[%zu]", what, keys[deny], i);
          }
      }
    }
  *out = p;
  return 0;
}

/* --- matching ------------------------------------------------------------ */

/* SA as a family and 4 or 16 bytes; an IPv4-mapped IPv6 address counts as
 * the IPv4 address it maps, so that rules and checks see through it. */
static int
addr_bytes (const struct sockaddr *sa, uint8_t out[16])
{
  static const uint8_t mapped[12]
      = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

  if (sa->sa_family == AF_INET)
    {
      memcpy (out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
      return AF_INET;
    }
  if (sa->sa_family == AF_INET6)
    {
      const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
      if (memcmp (a, mapped, 12) == 0)
        {
          memcpy (out, a + 12, 4);
          return AF_INET;
        }
      memcpy (out, a, 16);
      return AF_INET6;
    }
  return AF_UNSPEC;
}

static int
cidr_covers (const struct nb_rule *r, int family, const uint8_t *a)
{
  unsigned full = r->prefix / 8, rest = r->prefix % 8;

  if (r->kind != NB_RULE_CIDR || r->family != family)
    return 0;
  if (memcmp (r->addr, a, full) != 0)
    return 0;
  if (rest == 0)
    return 1;
  uint8_t mask = (uint8_t)(0xffu << (8 - rest));
  return (a[full] & mask) == r->addr[full];
}

static int
port_ok (const struct nb_rule *r, unsigned port)
{
  return r->port == 0 || r->port == port;
}

static int
name_matches (const struct nb_rule *r, const char *host, unsigned port)
{
  size_t hl, sl;

  if (!port_ok (r, port))
    return 0;
  switch (r->kind)
    {
    case NB_RULE_ANY:
      return 1;
    case NB_RULE_HOST:
      return strcmp (r->host, host) == 0;
    case NB_RULE_WILDCARD:
      hl = strlen (host);
      sl = strlen (r->host);
      return hl > sl + 1 && host[hl - sl - 1] == '.'
             && strcmp (host + hl - sl, r->host) == 0;
    case NB_RULE_CIDR:
      return 0;
    }
  return 0;
}

static int
addr_matches (const struct nb_rule *r, const struct sockaddr *sa, unsigned port)
{
  uint8_t a[16];
  int family = addr_bytes (sa, a);

  if (!port_ok (r, port))
    return 0;
  if (r->kind == NB_RULE_ANY)
    return 1;
  return cidr_covers (r, family, a);
}

static void
decide (struct nb_decision *d, int allow, const char *rule, int by_rule)
{
  d->allow = allow;
  d->by_rule = by_rule;
  snprintf (d->rule, sizeof d->rule, "%s", rule);
}

void
nb_policy_decide_name (const struct nb_policy *p, const char *host,
                       unsigned port, struct nb_decision *d)
{
  struct sockaddr_storage ss;
  int ip = nb_policy_host_is_ip (host, &ss);

  for (size_t i = 0; i < p->n_deny; i++)
    if (ip ? addr_matches (&p->deny[i], (struct sockaddr *)&ss, port)
           : name_matches (&p->deny[i], host, port))
      {
        decide (d, 0, p->deny[i].text, 1);
        return;
      }
  for (size_t i = 0; i < p->n_allow; i++)
    if (ip ? addr_matches (&p->allow[i], (struct sockaddr *)&ss, port)
           : name_matches (&p->allow[i], host, port))
      {
        decide (d, 1, p->allow[i].text, 1);
        return;
      }
  decide (d, 0, "no allow rule matches", 0);
}

static uint32_t
v4 (const uint8_t *a)
{
  return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8
         | a[3];
}

static const char *
special_v4 (uint32_t a)
{
  if (a == 0xa9fea9feu)
    return "the cloud metadata address";
  if ((a >> 24) == 0)
    return "an unspecified address (0.0.0.0/8)";
  if ((a >> 24) == 127)
    return "a loopback address";
  if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8)
    return "a private address (RFC 1918)";
  if ((a >> 16) == 0xa9fe)
    return "a link-local address";
  if ((a >> 22) == (100u << 2 | 1))
    return "a shared (CGNAT) address (100.64.0.0/10)";
  if ((a >> 8) == 0xc00000)
    return "an IETF protocol address (192.0.0.0/24)";
  if (a == 0xffffffffu)
    return "the broadcast address";
  if ((a >> 28) == 0xe)
    return "a multicast address";
  if ((a >> 28) == 0xf)
    return "a reserved address (240.0.0.0/4)";
  return NULL;
}

const char *
nb_policy_addr_special (const struct sockaddr *sa)
{
  uint8_t a[16];
  int family = addr_bytes (sa, a);
  static const uint8_t zero[16];

  if (family == AF_INET)
    return special_v4 (v4 (a));
  if (family != AF_INET6)
    return "not an IP address";
  if (memcmp (a, zero, 16) == 0)
    return "an unspecified address (::)";
  if (memcmp (a, zero, 15) == 0 && a[15] == 1)
    return "a loopback address";
  if (memcmp (a, zero, 12) == 0)
    return "an IPv4-compatible address (::/96, deprecated)";
  /* NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address that a
   * gateway would connect to: judge that one. */
  static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
  if (memcmp (a, nat64, 12) == 0 && special_v4 (v4 (a + 12)))
    return special_v4 (v4 (a + 12));
  if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0
      && a[5] == 1)
    return "a local-use NAT64 address (64:ff9b:1::/48)";
  if (a[0] == 0x20 && a[1] == 0x02 && special_v4 (v4 (a + 2)))
    return special_v4 (v4 (a + 2));
  if ((a[0] & 0xfe) == 0xfc)
    return "a unique local address (fc00::/7)";
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
    return "a link-local address";
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
    return "a site-local address (fec0::/10, deprecated)";
  if (a[0] == 0xff)
    return "a multicast address";
  if (a[0] == 1 && memcmp (a + 1, zero, 7) == 0)
    return "a discard-only address (100::/64)";
  return NULL;
}

void
nb_policy_decide_addr (const struct nb_policy *p, unsigned port,
                       const struct sockaddr *sa, struct nb_decision *d)
{
  char text[INET6_ADDRSTRLEN];
  uint8_t a[16];
  int family = addr_bytes (sa, a);
  const char *special;

  for (size_t i = 0; i < p->n_deny; i++)
    if (addr_matches (&p->deny[i], sa, port))
      {
        decide (d, 0, p->deny[i].text, 1);
        return;
      }
  special = nb_policy_addr_special (sa);
  if (special == NULL)
    {
      decide (d, 1, "", 0);
      return;
    }
  /* Only an address rule lifts the check: "*" or a name rule says nothing
   * about where a name may resolve to. */
  for (size_t i = 0; i < p->n_allow; i++)
    if (p->allow[i].kind == NB_RULE_CIDR
        && addr_matches (&p->allow[i], sa, port))
      {
        decide (d, 1, p->allow[i].text, 1);
        return;
      }
  if (family == AF_UNSPEC || !inet_ntop (family, a, text, sizeof text))
    snprintf (text, sizeof text, "the address");
  d->allow = 0;
  d->by_rule = 0;
  snprintf (d->rule, sizeof d->rule,
            "%s is %s (only an address or CIDR rule allows it)", text, special);
}
