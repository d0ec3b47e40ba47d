/* libFuzzer harness for nsbox's parsers of what users and images supply,
 * each a pure function: the first input byte picks one, the rest is its
 * input.
 *   0  rt_seccomp_compile   a linux.seccomp profile (JSON)
 *   1  sb_profile_parse     an agent profile (JSON)
 *   2  rt_spec_from_json    an OCI runtime spec, config.json (JSON)
 *   3  oci_ref_parse        an image reference (text)
 * A parser may refuse its input; what counts is that it never crashes,
 * leaks or reads out of bounds (ASan, UBSan), and that an accepted
 * reference prints back to text that parses again to the same text. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/profile.h"
#include "oci/ref.h"
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
  switch (data[0] % 4)
    {
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
