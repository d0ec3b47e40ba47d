#define _GNU_SOURCE
/* oci/digest.c: sha256 digests, streamed and one-shot, and what counts as a
 * digest at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "oci/digest.h"

#define HEX_ABC                                                                \
  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_EMPTY                                                              \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
test_digests_are_sha256_in_lowercase_hex (void **state)
{
  (void)state;
  char out[OCI_DIGEST_LEN + 1];
  struct oci_hasher *h;

  assert_int_equal (oci_digest_data ("abc", 3, out), 0);
  assert_string_equal (out, "sha256:" HEX_ABC);
  assert_int_equal (oci_digest_data ("", 0, out), 0);
  assert_string_equal (out, "sha256:" HEX_EMPTY);

  h = oci_hasher_new ();
  assert_non_null (h);
  oci_hasher_finish (h, out);
  assert_string_equal (out, "sha256:" HEX_EMPTY);
  assert_int_equal (strlen (out), OCI_DIGEST_LEN);
}

static void
test_streaming_in_any_chunking_equals_one_shot (void **state)
{
  (void)state;
  const size_t len = (1 << 20) + 12345;
  const size_t chunks[] = { 1, 7, 64, 4096, 65536, 1 << 20, len };
  unsigned char *data = malloc (len);
  char whole[OCI_DIGEST_LEN + 1];
  uint32_t x = 2463534242u;

  assert_non_null (data);
  for (size_t i = 0; i < len; i++)
    {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      data[i] = (unsigned char)x;
    }
  assert_int_equal (oci_digest_data (data, len, whole), 0);

  for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++)
    {
      struct oci_hasher *h = oci_hasher_new ();
      char streamed[OCI_DIGEST_LEN + 1];
      assert_non_null (h);
      for (size_t off = 0; off < len; off += chunks[c])
        oci_hasher_update (h, data + off,
                           len - off < chunks[c] ? len - off : chunks[c]);
      oci_hasher_finish (h, streamed);
      assert_string_equal (streamed, whole);
    }
  free (data);
}

static void
test_an_unfinished_hasher_can_be_freed (void **state)
{
  (void)state;
  struct oci_hasher *h = oci_hasher_new ();
  assert_non_null (h);
  oci_hasher_update (h, "abc", 3);
  oci_hasher_free (h);
  oci_hasher_free (NULL);
}

static void
test_only_well_formed_sha256_digests_are_valid (void **state)
{
  (void)state;
  assert_true (oci_digest_valid ("sha256:" HEX_ABC));
  assert_true (oci_digest_valid ("sha256:" HEX_EMPTY));

  const char *bad[] = {
    "",
    "sha256:",
    HEX_ABC,
    "sha256:" HEX_ABC "0",
    "sha256:" HEX_ABC "\n",
    "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
    "SHA256:" HEX_ABC,
    "sha512:" HEX_ABC,
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
    "sha256:../../../../../../../../../../../../../../../../etc/passwd.xx",
    "sha256:g a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015",
    " sha256:" HEX_ABC,
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      if (oci_digest_valid (bad[i]))
        fail_msg ("'%s' was taken for a digest", bad[i]);
      assert_null (oci_digest_hex (bad[i]));
    }
  assert_false (oci_digest_valid (NULL));
  assert_null (oci_digest_hex (NULL));
}

static void
test_the_hex_part_follows_the_algorithm (void **state)
{
  (void)state;
  const char *d = "sha256:" HEX_ABC;
  assert_string_equal (oci_digest_hex (d), HEX_ABC);
  assert_ptr_equal (oci_digest_hex (d), d + 7);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_digests_are_sha256_in_lowercase_hex),
    cmocka_unit_test (test_streaming_in_any_chunking_equals_one_shot),
    cmocka_unit_test (test_an_unfinished_hasher_can_be_freed),
    cmocka_unit_test (test_only_well_formed_sha256_digests_are_valid),
    cmocka_unit_test (test_the_hex_part_follows_the_algorithm),
  };
  return cmocka_run_group_tests_name ("digest", tests, NULL, NULL);
}
