/* libFuzzer harness for nsbox's parsers of what users and images supply,
 * each a pure function: the first input byte picks one, the rest is its
 * input.
 *   0  rt_seccomp_compile   a linux.seccomp profile (JSON)
 *   1  sb_profile_parse     an agent profile (JSON)
 *   2  rt_spec_from_json    an OCI runtime spec, config.json (JSON)
 *   3  oci_ref_parse        an image reference (text)
 *   4  nb_http_parse_head   the egress proxy's HTTP request head (bytes)
 *   5  nb_socks_parse_*     a SOCKS5 greeting and request (bytes)
 *   6  nb_policy_*          a policy file (JSON), then each line as a rule
 * A parser may refuse its input; what counts is that it never crashes,
 * leaks or reads out of bounds (ASan, UBSan), and that an accepted
 * reference prints back to text that parses again to the same text, and
 * that an accepted proxy request names a host that normalises to itself. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/profile.h"
#include "oci/ref.h"
#include "proxy/http.h"
#include "proxy/policy.h"
#include "proxy/socks.h"
#include "runtime/seccomp_compile.h"
#include "runtime/spec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  nb_error_t err = NULL;
  char *text;

  if (size < 1 || size > 1 << 16)
    return 0;
  text = malloc (size);
  if (text == NULL)
    return 0;
  memcpy (text, data + 1, size - 1);
  text[size - 1] = '\0';
  switch (data[0] % 7)
    {
    case 4:
      {
        struct nb_http_request req;
        char why[200], again[NB_HOST_MAX + 1];
        int status;
        /* The raw bytes, NULs included: the proxy reads them so. */
        if (nb_http_parse_head ((const char *) data + 1, size - 1, &req,
                                &status, why, sizeof why)
            == 1)
          {
            if (nb_policy_normalize_host (req.host, strlen (req.host), again)
                    < 0
                || strcmp (again, req.host) != 0 || req.port == 0
                || req.port > 65535 || req.head_len > size - 1)
              abort ();
            if (!req.connect
                && (req.out == NULL
                    || req.out_len > req.head_len + 512
                                         + 2 * NB_HTTP_HEADERS_MAX))
              abort ();
          }
        nb_http_request_clear (&req);
        break;
      }
    case 5:
      {
        const unsigned char *b = data + 1;
        size_t left = size - 1;
        int noauth;
        int g = nb_socks_parse_greeting (b, left, &noauth);
        if (g > 0)
          {
            struct nb_socks_request req;
            unsigned char reply, out[NB_SOCKS_REPLY_MAX];
            char why[100];
            if ((size_t) g > left)
              abort ();
            int q = nb_socks_parse_request (b + g, left - (size_t) g, &req,
                                            &reply, why, sizeof why);
            if (q > 0 && ((size_t) q > left - (size_t) g || req.port == 0))
              abort ();
            if (nb_socks_reply (out, reply, NULL) > sizeof out)
              abort ();
          }
        break;
      }
    case 6:
      {
        struct nb_policy p;
        struct nb_decision d;
        if (nb_policy_parse_json (text, size - 1, "fuzz.json", &p, &err) == 0)
          {
            nb_policy_decide_name (&p, "api.example.test", 443, &d);
            nb_policy_free (&p);
          }
        nb_error_free (&err);
        for (char *line = text, *next; line; line = next)
          {
            struct nb_rule r;
            next = strchr (line, '\n');
            if (next)
              *next++ = '\0';
            if (nb_policy_parse_rule (line, &r, &err) == 0)
              {
                struct sockaddr_storage ss = { 0 };
                if (r.kind == NB_RULE_HOST
                    && (nb_policy_host_is_ip (r.host, &ss)
                        || strlen (r.host) > NB_HOST_MAX))
                  abort (); /* a name rule is never an address */
                nb_policy_addr_special ((struct sockaddr *) &ss);
              }
            nb_error_free (&err);
          }
        break;
      }
    case 0:
    case 2:
      {
        json_t *j = json_loads (text, 0, NULL);
        if (j && data[0] % 4 == 0)
          {
            void *bpf = NULL;
            size_t len = 0;
            char *warnings = NULL;
            if (rt_seccomp_compile (j, &bpf, &len, &warnings, &err) == 0
                && (len == 0 || len % 8 != 0))
              abort (); /* an accepted profile must give a program */
            free (bpf);
            free (warnings);
          }
        else if (j)
          {
            struct rt_spec *s = NULL;
            if (rt_spec_from_json (j, "/", &s, &err) == 0)
              rt_spec_free (s);
          }
        json_decref (j);
        break;
      }
    case 1:
      {
        struct sb_profile *p = NULL;
        if (sb_profile_parse (text, "fuzz.json", &p, &err) == 0)
          sb_profile_free (p);
        break;
      }
    case 3:
      {
        struct oci_ref *r = NULL, *again = NULL;
        if (oci_ref_parse (text, &r, &err) == 0)
          {
            char *s = oci_ref_string (r);
            nb_error_t e2 = NULL;
            if (s == NULL || oci_ref_parse (s, &again, &e2) < 0)
              abort (); /* what we print must parse again */
            char *s2 = oci_ref_string (again);
            if (s2 == NULL || strcmp (s, s2) != 0)
              abort (); /* and to the same name */
            free (s);
            free (s2);
            oci_ref_free (again);
            oci_ref_free (r);
          }
        break;
      }
    }
  nb_error_free (&err);
  free (text);
  return 0;
}
