#define _GNU_SOURCE
/* proxy/policy.c: the egress rules of a filtered sandbox -- what a rule
 * means, that deny wins, and that loopback, private, link-local and
 * metadata addresses are refused after resolution unless an address rule
 * allows them (DNS rebinding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/policy.h"

static struct nb_policy
policy (const char *const *allow, const char *const *deny)
{
  struct nb_policy p = { 0 };
  nb_error_t err = NULL;
  for (; allow && *allow; allow++)
    if (nb_policy_add (&p, 0, *allow, &err) < 0)
      fail_msg ("allow %s: %s", *allow, err->msg);
  for (; deny && *deny; deny++)
    if (nb_policy_add (&p, 1, *deny, &err) < 0)
      fail_msg ("deny %s: %s", *deny, err->msg);
  return p;
}

static struct sockaddr_storage
addr (const char *text)
{
  struct sockaddr_storage ss;
  if (!nb_policy_host_is_ip (text, &ss))
    fail_msg ("not an address: %s", text);
  return ss;
}

static int
name_allowed (const struct nb_policy *p, const char *host, unsigned port)
{
  struct nb_decision d;
  nb_policy_decide_name (p, host, port, &d);
  return d.allow;
}

static int
addr_allowed (const struct nb_policy *p, const char *a, unsigned port)
{
  struct nb_decision d;
  struct sockaddr_storage ss = addr (a);
  nb_policy_decide_addr (p, port, (struct sockaddr *)&ss, &d);
  return d.allow;
}

static void
test_valid_rules_parse_to_their_kind (void **state)
{
  static const struct
  {
    const char *text;
    enum nb_rule_kind kind;
    unsigned port;
    const char *host;
  } t[] = {
    { "*", NB_RULE_ANY, 0, "" },
    { "*:22", NB_RULE_ANY, 22, "" },
    { "api.anthropic.com", NB_RULE_HOST, 0, "api.anthropic.com" },
    { "API.Anthropic.COM.", NB_RULE_HOST, 0, "api.anthropic.com" },
    { "github.com:22", NB_RULE_HOST, 22, "github.com" },
    { "*.github.com", NB_RULE_WILDCARD, 0, "github.com" },
    { "*.github.com:443", NB_RULE_WILDCARD, 443, "github.com" },
    { "localhost", NB_RULE_HOST, 0, "localhost" },
    { "_srv.example.com", NB_RULE_HOST, 0, "_srv.example.com" },
    { "10.1.0.0/16", NB_RULE_CIDR, 0, "" },
    { "10.1.2.3", NB_RULE_CIDR, 0, "" },
    { "10.1.2.3:8080", NB_RULE_CIDR, 8080, "" },
    { "0.0.0.0/0", NB_RULE_CIDR, 0, "" },
    { "fd00::/8", NB_RULE_CIDR, 0, "" },
    { "::1", NB_RULE_CIDR, 0, "" },
    { "[fd00::1]:443", NB_RULE_CIDR, 443, "" },
    { "[fd00::1]", NB_RULE_CIDR, 0, "" },
    { "[2001:db8::/32]:22", NB_RULE_CIDR, 22, "" },
  };
  (void)state;
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    {
      struct nb_rule r;
      nb_error_t err = NULL;
      if (nb_policy_parse_rule (t[i].text, &r, &err) < 0)
        fail_msg ("%s: %s", t[i].text, err->msg);
      assert_int_equal (r.kind, t[i].kind);
      assert_int_equal (r.port, t[i].port);
      assert_string_equal (r.text, t[i].text);
      if (t[i].kind == NB_RULE_HOST || t[i].kind == NB_RULE_WILDCARD)
        assert_string_equal (r.host, t[i].host);
    }
}

static void
test_invalid_rules_are_errors_naming_the_rule (void **state)
{
  static const char *const bad[] = {
    "",
    "*.",
    "**",
    "*.*.com",
    "a.*.com",
    "exa mple.com",
    "example..com",
    ".example.com",
    "example.com:",
    "example.com:0",
    "example.com:65536",
    "example.com:http",
    "example.com:22:22",
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/x",
    "300.1.1.1",
    "fd00::/129",
    "[fd00::1]:",
    "[10.0.0.1]:80",
    "[fd00::1",
    "fd00::1:443x",
    "127.1",
    "2130706433",
    "0x7f000001",
    "evil.com/16",
    "a_b\x01.com",
    "éxample.com",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com",
  };
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      struct nb_rule r;
      nb_error_t err = NULL;
      if (nb_policy_parse_rule (bad[i], &r, &err) == 0)
        fail_msg ("'%s' was accepted", bad[i]);
      assert_non_null (strstr (err->msg, "invalid rule"));
      if (bad[i][0] && strlen (bad[i]) < 40 && !strchr (bad[i], '\x01'))
        assert_non_null (strstr (err->msg, bad[i]));
      nb_error_free (&err);
    }
}

static void
test_wildcards_match_subdomains_not_the_domain (void **state)
{
  static const char *const allow[] = { "*.github.com", NULL };
  struct nb_policy p = policy (allow, NULL);
  (void)state;
  assert_true (name_allowed (&p, "api.github.com", 443));
  assert_true (name_allowed (&p, "a.b.github.com", 22));
  assert_false (name_allowed (&p, "github.com", 443));
  assert_false (name_allowed (&p, "evilgithub.com", 443));
  assert_false (name_allowed (&p, "github.com.evil.test", 443));
  nb_policy_free (&p);
}

static void
test_ports_restrict_a_rule_and_no_port_means_any (void **state)
{
  static const char *const allow[] = { "github.com:22", "example.com", NULL };
  struct nb_policy p = policy (allow, NULL);
  (void)state;
  assert_true (name_allowed (&p, "github.com", 22));
  assert_false (name_allowed (&p, "github.com", 443));
  assert_true (name_allowed (&p, "example.com", 1));
  assert_true (name_allowed (&p, "example.com", 65535));
  nb_policy_free (&p);
}

static void
test_names_compare_case_insensitively_without_trailing_dot (void **state)
{
  static const char *const allow[] = { "Api.Example.TEST.", NULL };
  struct nb_policy p = policy (allow, NULL);
  char host[NB_HOST_MAX + 1];
  (void)state;
  assert_int_equal (nb_policy_normalize_host ("API.example.test.", 17, host),
                    0);
  assert_string_equal (host, "api.example.test");
  assert_true (name_allowed (&p, host, 443));
  nb_policy_free (&p);
}

static void
test_deny_wins_over_allow (void **state)
{
  static const char *const allow[]
      = { "*", "*.example.test", "10.0.0.0/8", NULL };
  static const char *const deny[]
      = { "evil.example.test", "10.6.6.0/24", NULL };
  struct nb_policy p = policy (allow, deny);
  struct nb_decision d;
  (void)state;
  nb_policy_decide_name (&p, "evil.example.test", 443, &d);
  assert_false (d.allow);
  assert_true (d.by_rule);
  assert_string_equal (d.rule, "evil.example.test");
  assert_true (name_allowed (&p, "api.example.test", 443));
  /* An IP literal is judged by address rules. */
  nb_policy_decide_name (&p, "10.6.6.1", 80, &d);
  assert_false (d.allow);
  assert_string_equal (d.rule, "10.6.6.0/24");
  /* A deny rule on an address the name resolves to. */
  assert_false (addr_allowed (&p, "10.6.6.7", 443));
  assert_true (addr_allowed (&p, "10.1.1.1", 443));
  nb_policy_free (&p);
}

static void
test_without_an_allow_rule_everything_is_denied (void **state)
{
  struct nb_policy p = { 0 };
  struct nb_decision d;
  (void)state;
  nb_policy_decide_name (&p, "api.anthropic.com", 443, &d);
  assert_false (d.allow);
  assert_false (d.by_rule);
  assert_string_equal (d.rule, "no allow rule matches");
}

static void
test_name_rules_do_not_match_ip_literals (void **state)
{
  static const char *const allow[] = { "*.example.test", "example.test", NULL };
  struct nb_policy p = policy (allow, NULL);
  (void)state;
  assert_false (name_allowed (&p, "93.184.216.34", 80));
  nb_policy_free (&p);
}

static void
test_special_addresses_are_refused_after_resolution (void **state)
{
  static const char *const allow[] = { "*", NULL };
  static const char *const special[] = {
    "127.0.0.1",
    "127.255.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.1.1.1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.0.170",
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "febf::1",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "2002:7f00:1::1",
    "100::1",
  };
  static const char *const public[] = {
    "1.1.1.1",         "93.184.216.34",   "172.32.0.1",     "172.15.255.255",
    "100.128.0.1",     "100.63.255.255",  "169.253.1.1",    "203.0.113.7",
    "192.0.2.1",       "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101",
    "2002:101:101::1", "2001:db8::1",
  };
  struct nb_policy p = policy (allow, NULL);
  (void)state;
  for (size_t i = 0; i < sizeof special / sizeof *special; i++)
    if (addr_allowed (&p, special[i], 443))
      fail_msg ("%s was allowed by '*'", special[i]);
  for (size_t i = 0; i < sizeof public / sizeof *public; i++)
    if (!addr_allowed (&p, public[i], 443))
      fail_msg ("%s was refused", public[i]);
  nb_policy_free (&p);
}

static void
test_the_metadata_address_is_named_in_the_refusal (void **state)
{
  static const char *const allow[] = { "*", NULL };
  struct nb_policy p = policy (allow, NULL);
  struct sockaddr_storage ss = addr ("169.254.169.254");
  struct nb_decision d;
  (void)state;
  nb_policy_decide_addr (&p, 80, (struct sockaddr *)&ss, &d);
  assert_false (d.allow);
  assert_false (d.by_rule);
  assert_non_null (strstr (d.rule, "169.254.169.254 is the cloud metadata"));
  nb_policy_free (&p);
}

static void
test_an_address_rule_allows_a_special_address_explicitly (void **state)
{
  static const char *const allow[] = { "api.example.test", "127.0.0.0/8",
                                       "fd00::/8", "10.0.0.5:5432", NULL };
  struct nb_policy p = policy (allow, NULL);
  struct sockaddr_storage ss = addr ("127.0.0.2");
  struct nb_decision d;
  (void)state;
  nb_policy_decide_addr (&p, 8080, (struct sockaddr *)&ss, &d);
  assert_true (d.allow);
  assert_string_equal (d.rule, "127.0.0.0/8");
  assert_true (addr_allowed (&p, "::ffff:127.0.0.1", 80));
  assert_true (addr_allowed (&p, "fd00::1", 80));
  assert_true (addr_allowed (&p, "10.0.0.5", 5432));
  assert_false (addr_allowed (&p, "10.0.0.5", 22));
  assert_false (addr_allowed (&p, "169.254.169.254", 80));
  assert_false (addr_allowed (&p, "::1", 80));
  nb_policy_free (&p);
}

static void
test_cidrs_match_by_prefix (void **state)
{
  static const char *const allow[]
      = { "10.1.0.0/16", "2001:db8:ab00::/40", "192.0.2.128/25", NULL };
  struct nb_policy p = policy (allow, NULL);
  (void)state;
  assert_true (name_allowed (&p, "10.1.255.255", 80));
  assert_false (name_allowed (&p, "10.2.0.0", 80));
  assert_true (name_allowed (&p, "2001:db8:abff::1", 80));
  assert_false (name_allowed (&p, "2001:db8:ac00::1", 80));
  assert_true (name_allowed (&p, "192.0.2.200", 80));
  assert_false (name_allowed (&p, "192.0.2.100", 80));
  nb_policy_free (&p);
}

static void
test_policy_files_parse_and_bad_ones_are_refused_whole (void **state)
{
  struct nb_policy p;
  nb_error_t err = NULL;
  static const char good[]
      = "{\"allow\": [\"api.anthropic.com\", \"*.github.com\", "
        "\"github.com:22\", \"10.1.0.0/16\"], \"deny\": "
        "[\"evil.example.test\"],"
        " \"comment\": 1}";
  (void)state;
  assert_int_equal (
      nb_policy_parse_json (good, strlen (good), "p.json", &p, &err), 0);
  assert_int_equal (p.n_allow, 4);
  assert_int_equal (p.n_deny, 1);
  assert_false (name_allowed (&p, "evil.example.test", 443));
  assert_true (name_allowed (&p, "github.com", 22));
  nb_policy_free (&p);
  assert_int_equal (nb_policy_parse_json ("{}", 2, "p.json", &p, &err), 0);
  assert_int_equal (p.n_allow + p.n_deny, 0);

  static const char *const bad[] = {
    "",
    "[]",
    "{\"allow\": \"x.com\"}",
    "{\"allow\": [1]}",
    "{\"allow\": [\"ok.com\", \"bad rule\"]}",
    "{\"deny\": [\"*.\"]}",
    "{\"allow\": [\"a.com\"], \"allow\": [\"b.com\"]}",
    "{\"allow\": [\"a\\u0000b.com\"]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      p.n_allow = 99;
      if (nb_policy_parse_json (bad[i], strlen (bad[i]), "p.json", &p, &err)
          == 0)
        fail_msg ("'%s' was accepted", bad[i]);
      assert_non_null (strstr (err->msg, "p.json"));
      assert_int_equal (p.n_allow, 0);
      nb_error_free (&err);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_valid_rules_parse_to_their_kind),
    cmocka_unit_test (test_invalid_rules_are_errors_naming_the_rule),
    cmocka_unit_test (test_wildcards_match_subdomains_not_the_domain),
    cmocka_unit_test (test_ports_restrict_a_rule_and_no_port_means_any),
    cmocka_unit_test (
        test_names_compare_case_insensitively_without_trailing_dot),
    cmocka_unit_test (test_deny_wins_over_allow),
    cmocka_unit_test (test_without_an_allow_rule_everything_is_denied),
    cmocka_unit_test (test_name_rules_do_not_match_ip_literals),
    cmocka_unit_test (test_special_addresses_are_refused_after_resolution),
    cmocka_unit_test (test_the_metadata_address_is_named_in_the_refusal),
    cmocka_unit_test (test_an_address_rule_allows_a_special_address_explicitly),
    cmocka_unit_test (test_cidrs_match_by_prefix),
    cmocka_unit_test (test_policy_files_parse_and_bad_ones_are_refused_whole),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
