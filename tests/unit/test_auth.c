/* oci/auth: registry credentials from docker and containers auth files, and
 * WWW-Authenticate challenges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/auth.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"

/* Look REGISTRY/REPO up in TEXT; returns what oci_auth_lookup_json did. */
static int
lookup (const char *text, const char *registry, const char *repo,
        struct oci_credentials *c, nb_error_t *err)
{
  return oci_auth_lookup_json (text, strlen (text), "/cfg.json", registry, repo,
                               c, err);
}

static void
expect_creds (const char *text, const char *registry, const char *repo,
              const char *user, const char *pass)
{
  struct oci_credentials c = { 0 };
  nb_error_t err = NULL;

  assert_int_equal (lookup (text, registry, repo, &c, &err), 1);
  assert_null (err);
  assert_string_equal (c.username, user);
  assert_string_equal (c.password, pass);
  assert_string_equal (c.source, "/cfg.json");
  oci_credentials_clear (&c);
  assert_null (c.username);
  assert_null (c.password);
}

static void
expect_none (const char *text, const char *registry, const char *repo)
{
  struct oci_credentials c = { 0 };
  nb_error_t err = NULL;

  assert_int_equal (lookup (text, registry, repo, &c, &err), 0);
  assert_null (err);
  assert_null (c.username);
}

static void
expect_error (const char *text, const char *registry, const char *message)
{
  struct oci_credentials c = { 0 };
  nb_error_t err = NULL;

  assert_int_equal (lookup (text, registry, "r", &c, &err), -1);
  assert_non_null (err);
  if (strstr (err->msg, message) == NULL)
    fail_msg ("error \"%s\" does not contain \"%s\"", err->msg, message);
  assert_null (c.username);
  nb_error_free (&err);
}

static void
test_docker_login_auth_field_is_base64_user_colon_password (void **state)
{
  (void)state;
  /* base64("alice:s3cr:et") — the password may hold colons. */
  expect_creds ("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":"
                "\"YWxpY2U6czNjcjpldA==\"}}}",
                "127.0.0.1:5000", "x/y", "alice", "s3cr:et");
  /* Some tools drop the padding. */
  expect_creds ("{\"auths\":{\"h\":{\"auth\":\"YWxpY2U6czNjcjpldA\"}}}", "h",
                NULL, "alice", "s3cr:et");
}

static void
test_username_and_password_fields_are_read_too (void **state)
{
  (void)state;
  expect_creds ("{\"auths\":{\"ghcr.io\":{\"username\":\"bob\","
                "\"password\":\"pw\"}}}",
                "ghcr.io", "o/r", "bob", "pw");
}

static void
test_keys_match_host_port_and_urls_but_not_another_port (void **state)
{
  (void)state;
  const char *cfg = "{\"auths\":{"
                    "\"http://127.0.0.1:5000/\":{\"username\":\"a\","
                    "\"password\":\"1\"},"
                    "\"https://Example.COM\":{\"username\":\"b\","
                    "\"password\":\"2\"}}}";
  expect_creds (cfg, "127.0.0.1:5000", "r", "a", "1");
  expect_creds (cfg, "example.com", "r", "b", "2");
  expect_none (cfg, "127.0.0.1", "r");
  expect_none (cfg, "127.0.0.1:5001", "r");
  expect_none (cfg, "example.com:443", "r");
  expect_none (cfg, "ample.com", "r");
}

static void
test_docker_hub_is_known_by_all_its_names (void **state)
{
  (void)state;
  const char *legacy = "{\"auths\":{\"https://index.docker.io/v1/\":"
                       "{\"username\":\"hub\",\"password\":\"p\"}}}";
  const char *api = "{\"auths\":{\"registry-1.docker.io\":"
                    "{\"username\":\"hub2\",\"password\":\"p\"}}}";
  expect_creds (legacy, "docker.io", "library/alpine", "hub", "p");
  expect_creds (api, "docker.io", "library/alpine", "hub2", "p");
  expect_none (legacy, "quay.io", "library/alpine");
}

static void
test_a_namespace_key_holds_only_its_repositories_and_wins (void **state)
{
  (void)state;
  const char *cfg
      = "{\"auths\":{"
        "\"quay.io\":{\"username\":\"any\",\"password\":\"1\"},"
        "\"quay.io/team\":{\"username\":\"team\",\"password\":\"2\"},"
        "\"quay.io/team/app\":{\"username\":\"app\","
        "\"password\":\"3\"}}}";
  expect_creds (cfg, "quay.io", "team/app", "app", "3");
  expect_creds (cfg, "quay.io", "team/other", "team", "2");
  expect_creds (cfg, "quay.io", "teamx/app", "any", "1");
  expect_creds (cfg, "quay.io", "team/application", "team", "2");
  expect_none ("{\"auths\":{\"quay.io/team\":{\"username\":\"t\","
               "\"password\":\"2\"}}}",
               "quay.io", "other/app");
}

static void
test_no_entry_no_auths_or_an_empty_entry_mean_no_credentials (void **state)
{
  (void)state;
  expect_none ("{}", "h", "r");
  expect_none ("{\"auths\":{}}", "h", "r");
  expect_none ("{\"credsStore\":\"desktop\",\"auths\":{\"h\":{}}}", "h", "r");
  expect_none ("{\"auths\":{\"other\":{\"auth\":\"!!!\"}}}", "h", "r");
}

static void
test_malformed_files_give_errors_that_name_the_file_and_the_fault (void **state)
{
  (void)state;
  expect_error ("{\"auths\": {", "h", "/cfg.json: not valid JSON");
  expect_error ("{\"auths\": {", "h", "line 1");
  expect_error ("[1]", "h", "/cfg.json: not a JSON object");
  expect_error ("{\"auths\":[]}", "h", "\"auths\" is not an object");
  expect_error ("{\"auths\":{\"h\":\"x\"}}", "h",
                "auths[\"h\"] is not an object");
  expect_error ("{\"auths\":{\"h\":{\"auth\":\"!!!!\"}}}", "h",
                "auths[\"h\"].auth is not the base64 of \"user:password\"");
  /* base64("nocolon") */
  expect_error ("{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}", "h",
                "is not the base64 of \"user:password\"");
  expect_error ("{\"auths\":{\"h\":{\"auth\":7}}}", "h",
                "auths[\"h\"].auth is not a string");
  expect_error ("{\"auths\":{\"h\":{\"username\":\"u\"}}}", "h",
                "needs both \"username\" and \"password\"");
}

static void
write_file (const char *dir, const char *sub, const char *name,
            const char *text)
{
  char path[512];
  nb_error_t err = NULL;

  snprintf (path, sizeof path, "%s/%s", dir, sub);
  assert_int_equal (nb_mkdir_p (path, 0700, &err), 0);
  snprintf (path, sizeof path, "%s/%s/%s", dir, sub, name);
  assert_int_equal (
      nb_write_file_atomic (path, text, strlen (text), 0600, 0, &err), 0);
}

static void
test_containers_auth_json_comes_first_then_docker_config (void **state)
{
  (void)state;
  char dir[] = "/tmp/nsbox-unit-auth-XXXXXX", home[300], run[300];
  struct oci_credentials c = { 0 };
  nb_error_t err = NULL;

  assert_non_null (mkdtemp (dir));
  snprintf (home, sizeof home, "%s/home", dir);
  snprintf (run, sizeof run, "%s/run", dir);
  setenv ("HOME", home, 1);
  setenv ("XDG_RUNTIME_DIR", run, 1);

  /* Neither file exists: no credentials, no error. */
  assert_int_equal (oci_auth_lookup ("h:1", "r", &c, &err), 0);
  assert_null (err);

  write_file (home, ".docker", "config.json",
              "{\"auths\":{\"h:1\":{\"username\":\"docker\",\"password\":"
              "\"d\"},\"g\":{\"username\":\"docker-g\",\"password\":\"d\"}}}");
  write_file (run, "containers", "auth.json",
              "{\"auths\":{\"h:1\":{\"username\":\"podman\",\"password\":"
              "\"p\"}}}");
  assert_int_equal (oci_auth_lookup ("h:1", "r", &c, &err), 1);
  assert_string_equal (c.username, "podman");
  assert_non_null (strstr (c.source, "/run/containers/auth.json"));
  oci_credentials_clear (&c);
  assert_int_equal (oci_auth_lookup ("g", "r", &c, &err), 1);
  assert_string_equal (c.username, "docker-g");
  assert_non_null (strstr (c.source, "/home/.docker/config.json"));
  oci_credentials_clear (&c);
  assert_int_equal (oci_auth_lookup ("nowhere", "r", &c, &err), 0);

  /* A broken file is an error, not a silent anonymous pull. */
  write_file (run, "containers", "auth.json", "{oops");
  assert_int_equal (oci_auth_lookup ("h:1", "r", &c, &err), -1);
  assert_non_null (strstr (err->msg, "/run/containers/auth.json: not valid "
                                     "JSON"));
  nb_error_free (&err);

  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  unsetenv ("XDG_RUNTIME_DIR");
}

static void
test_bearer_challenge_gives_realm_service_and_scope (void **state)
{
  (void)state;
  struct oci_auth_challenge c;

  assert_int_equal (
      oci_auth_parse_challenge ("Bearer realm=\"https://auth.docker.io/token\","
                                "service=\"registry.docker.io\","
                                "scope=\"repository:library/alpine:pull\"",
                                &c),
      1);
  assert_int_equal (c.scheme, OCI_AUTH_BEARER);
  assert_string_equal (c.realm, "https://auth.docker.io/token");
  assert_string_equal (c.service, "registry.docker.io");
  assert_string_equal (c.scope, "repository:library/alpine:pull");
  oci_auth_challenge_clear (&c);
  assert_null (c.realm);

  /* Unquoted values, odd case and spacing, escapes, no scope. */
  assert_int_equal (
      oci_auth_parse_challenge ("bearer  REALM = http://127.0.0.1:9/token , "
                                "service=\"a \\\"quoted\\\" svc\"",
                                &c),
      1);
  assert_int_equal (c.scheme, OCI_AUTH_BEARER);
  assert_string_equal (c.realm, "http://127.0.0.1:9/token");
  assert_string_equal (c.service, "a \"quoted\" svc");
  assert_null (c.scope);
  oci_auth_challenge_clear (&c);
}

static void
test_bearer_is_preferred_to_basic_and_unknown_schemes_are_skipped (void **state)
{
  (void)state;
  struct oci_auth_challenge c;

  assert_int_equal (oci_auth_parse_challenge ("Basic realm=\"Registry\"", &c),
                    1);
  assert_int_equal (c.scheme, OCI_AUTH_BASIC);
  assert_string_equal (c.realm, "Registry");
  oci_auth_challenge_clear (&c);

  assert_int_equal (
      oci_auth_parse_challenge ("Negotiate, Basic realm=\"r\", Bearer "
                                "realm=\"https://t/token\",service=\"s\"",
                                &c),
      1);
  assert_int_equal (c.scheme, OCI_AUTH_BEARER);
  assert_string_equal (c.realm, "https://t/token");
  oci_auth_challenge_clear (&c);

  assert_int_equal (oci_auth_parse_challenge ("Negotiate abc==", &c), 0);
  assert_int_equal (c.scheme, OCI_AUTH_NONE);
  assert_int_equal (oci_auth_parse_challenge ("", &c), 0);
  assert_int_equal (oci_auth_parse_challenge (NULL, &c), 0);
  /* A Bearer challenge without a realm cannot be answered. */
  assert_int_equal (oci_auth_parse_challenge ("Bearer service=\"s\"", &c), 0);
  /* Unterminated quote. */
  assert_int_equal (oci_auth_parse_challenge ("Bearer realm=\"http://x", &c),
                    0);
  assert_null (c.realm);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (
        test_docker_login_auth_field_is_base64_user_colon_password),
    cmocka_unit_test (test_username_and_password_fields_are_read_too),
    cmocka_unit_test (test_keys_match_host_port_and_urls_but_not_another_port),
    cmocka_unit_test (test_docker_hub_is_known_by_all_its_names),
    cmocka_unit_test (
        test_a_namespace_key_holds_only_its_repositories_and_wins),
    cmocka_unit_test (
        test_no_entry_no_auths_or_an_empty_entry_mean_no_credentials),
    cmocka_unit_test (
        test_malformed_files_give_errors_that_name_the_file_and_the_fault),
    cmocka_unit_test (test_containers_auth_json_comes_first_then_docker_config),
    cmocka_unit_test (test_bearer_challenge_gives_realm_service_and_scope),
    cmocka_unit_test (
        test_bearer_is_preferred_to_basic_and_unknown_schemes_are_skipped),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
