#define _GNU_SOURCE
/* oci/ref.c: image references normalise as Docker's do
 * (distribution/reference ParseNormalizedNamed), and every malformed one is
 * refused with a message that names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/ref.h"

#define HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define DIGEST "sha256:" HEX

struct norm
{
  const char *in, *canonical, *registry, *repository, *tag, *digest;
};

static const struct norm table[] = {
  { "busybox", "docker.io/library/busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "busybox:1.36", "docker.io/library/busybox:1.36", "docker.io",
    "library/busybox", "1.36", NULL },
  { "library/busybox", "docker.io/library/busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "docker.io/busybox", "docker.io/library/busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "index.docker.io/busybox:1", "docker.io/library/busybox:1", "docker.io",
    "library/busybox", "1", NULL },
  { "docker.io/library/busybox:latest", "docker.io/library/busybox:latest",
    "docker.io", "library/busybox", "latest", NULL },
  { "user/app:1", "docker.io/user/app:1", "docker.io", "user/app", "1", NULL },
  { "user/team/app", "docker.io/user/team/app:latest", "docker.io",
    "user/team/app", "latest", NULL },
  { "ghcr.io/owner/img:v1.2", "ghcr.io/owner/img:v1.2", "ghcr.io", "owner/img",
    "v1.2", NULL },
  /* No "library/" anywhere but on Docker Hub. */
  { "example.com/app", "example.com/app:latest", "example.com", "app", "latest",
    NULL },
  { "localhost/app", "localhost/app:latest", "localhost", "app", "latest",
    NULL },
  { "localhost:5000/app", "localhost:5000/app:latest", "localhost:5000", "app",
    "latest", NULL },
  { "127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y", "127.0.0.1:5000", "x", "y",
    NULL },
  { "[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest", NULL },
  { "registry:5000/a/b/c", "registry:5000/a/b/c:latest", "registry:5000",
    "a/b/c", "latest", NULL },
  /* Repositories are lowercase: an uppercase first component is a host. */
  { "Registry/app", "Registry/app:latest", "Registry", "app", "latest", NULL },
  { "busybox@" DIGEST, "docker.io/library/busybox@" DIGEST, "docker.io",
    "library/busybox", NULL, DIGEST },
  { "busybox:1.36@" DIGEST, "docker.io/library/busybox:1.36@" DIGEST,
    "docker.io", "library/busybox", "1.36", DIGEST },
  { "localhost:5000/app@" DIGEST, "localhost:5000/app@" DIGEST,
    "localhost:5000", "app", NULL, DIGEST },
  { "a__b-c/e---f.g:Tag_1.x-Y", "docker.io/a__b-c/e---f.g:Tag_1.x-Y",
    "docker.io", "a__b-c/e---f.g", "Tag_1.x-Y", NULL },
  /* ... and one with a dot is a host, whatever follows. */
  { "a.b/c", "a.b/c:latest", "a.b", "c", "latest", NULL },
  /* Docker's reading of a one-word name with a colon: a tag, not a port. */
  { "localhost:5000", "docker.io/library/localhost:5000", "docker.io",
    "library/localhost", "5000", NULL },
};

static void
test_references_normalise_like_docker (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    {
      const struct norm *t = &table[i];
      nb_error_t err = NULL;
      struct oci_ref *ref = NULL;
      char *s;

      if (oci_ref_parse (t->in, &ref, &err) < 0)
        fail_msg ("'%s' refused: %s", t->in, err->msg);
      s = oci_ref_string (ref);
      assert_non_null (s);
      if (strcmp (s, t->canonical) != 0)
        fail_msg ("'%s' -> '%s', expected '%s'", t->in, s, t->canonical);
      assert_string_equal (ref->registry, t->registry);
      assert_string_equal (ref->repository, t->repository);
      if (t->tag)
        assert_string_equal (ref->tag, t->tag);
      else
        assert_null (ref->tag);
      if (t->digest)
        assert_string_equal (ref->digest, t->digest);
      else
        assert_null (ref->digest);
      free (s);
      oci_ref_free (ref);
    }
}

static void
test_the_canonical_name_parses_to_itself (void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    {
      struct oci_ref *ref = NULL;
      char *s;

      assert_int_equal (oci_ref_parse (table[i].canonical, &ref, NULL), 0);
      s = oci_ref_string (ref);
      assert_string_equal (s, table[i].canonical);
      free (s);
      oci_ref_free (ref);
    }
}

static void
test_docker_hub_is_reached_at_registry_1 (void **state)
{
  (void)state;
  const char *cases[][2] = {
    { "busybox", "registry-1.docker.io" },
    { "index.docker.io/user/app", "registry-1.docker.io" },
    { "ghcr.io/o/i", "ghcr.io" },
    { "localhost:5000/app", "localhost:5000" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      struct oci_ref *ref = NULL;
      assert_int_equal (oci_ref_parse (cases[i][0], &ref, NULL), 0);
      assert_string_equal (oci_ref_api_host (ref), cases[i][1]);
      oci_ref_free (ref);
    }
}

struct bad
{
  const char *in, *msg; /* MSG: a substring of the error */
};

static void
test_malformed_references_are_refused_with_a_message_naming_them (void **state)
{
  (void)state;
  static char long_tag[160], long_name[300];
  memset (long_tag, 0, sizeof long_tag);
  strcpy (long_tag, "busybox:");
  memset (long_tag + 8, 'a', 129);
  memset (long_name, 0, sizeof long_name);
  strcpy (long_name, "example.com/");
  memset (long_name + 12, 'a', 250);

  const struct bad cases[] = {
    { "", "empty image reference" },
    { "Foo", "reference 'Foo': repository names must be lowercase" },
    { "docker.io/Foo/bar", "repository names must be lowercase" },
    { "ghcr.io/Owner/img", "repository names must be lowercase" },
    { "busybox:", "reference 'busybox:': empty tag" },
    { "busybox:-x", "reference 'busybox:-x': invalid tag '-x'" },
    { "busybox:.x", "invalid tag '.x'" },
    { "busybox:a b", "invalid tag 'a b'" },
    { "busybox:a/b", "invalid registry 'busybox:a'" },
    { long_tag, "invalid tag" },
    { "busybox@sha256:abc", "invalid digest 'sha256:abc'" },
    { "busybox@sha256:"
      "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
      "invalid digest" },
    { "busybox@sha512:" HEX, "invalid digest 'sha512:" },
    { "busybox@", "invalid digest ''" },
    { "a@b@c", "reference 'a@b@c': invalid digest 'b@c'" },
    { "busybox@" DIGEST "x", "invalid digest" },
    { "-busybox", "invalid repository name component '-busybox'" },
    { "busy..box", "invalid repository name component 'busy..box'" },
    { "busybox.", "invalid repository name component 'busybox.'" },
    { "busy___box", "invalid repository name component" },
    { "user/app/", "invalid repository name component ''" },
    { "docker.io//busybox", "invalid repository name component ''" },
    { "busy box", "invalid repository name component 'busy box'" },
    { "example.com/", "invalid repository name component ''" },
    { "example.com:/app", "reference 'example.com:/app': invalid registry "
                          "'example.com:'" },
    { "example.com:http/app", "invalid registry 'example.com:http'" },
    { "-bad.com/app", "invalid registry '-bad.com'" },
    { "bad-.com/app", "invalid registry 'bad-.com'" },
    { "bad..com/app", "invalid registry 'bad..com'" },
    { "[zz]:5000/app", "invalid registry '[zz]:5000'" },
    { HEX, "a 64-hex string cannot be a repository name" },
    { ":tag", "reference ':tag': no repository name" },
    { "@" DIGEST, "no repository name" },
    { long_name, "name longer than 255 characters" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      nb_error_t err = NULL;
      struct oci_ref *ref = NULL;

      if (oci_ref_parse (cases[i].in, &ref, &err) == 0)
        fail_msg ("'%s' was accepted", cases[i].in);
      assert_null (ref);
      assert_non_null (err);
      if (strstr (err->msg, cases[i].msg) == NULL)
        fail_msg ("'%s': message '%s' lacks '%s'", cases[i].in, err->msg,
                  cases[i].msg);
      nb_error_free (&err);
    }
  assert_int_equal (oci_ref_parse (NULL, &(struct oci_ref *){ NULL }, NULL),
                    -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_references_normalise_like_docker),
    cmocka_unit_test (test_the_canonical_name_parses_to_itself),
    cmocka_unit_test (test_docker_hub_is_reached_at_registry_1),
    cmocka_unit_test (
        test_malformed_references_are_refused_with_a_message_naming_them),
  };
  return cmocka_run_group_tests_name ("ref", tests, NULL, NULL);
}
