/* cli/profile.c: agent profiles, built in and malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "cli/profile.h"
#include "runtime/base/fs.h"
#include <fcntl.h>

static void
test_the_built_in_shell_profile_runs_bin_sh_on_the_host_template (void **state)
{
  (void) state;
  struct sb_profile *p = NULL;
  nb_error_t err = NULL;

  setenv ("XDG_CONFIG_HOME", "/nonexistent-nsbox-test", 1);
  assert_int_equal (sb_profile_load ("shell", &p, &err), 0);
  assert_string_equal (p->command[0], "/bin/sh");
  assert_null (p->command[1]);
  assert_string_equal (p->template_name, "host");
  sb_profile_free (p);
}

static void
test_an_unknown_agent_is_an_error_naming_it (void **state)
{
  (void) state;
  struct sb_profile *p = NULL;
  nb_error_t err = NULL;

  setenv ("XDG_CONFIG_HOME", "/nonexistent-nsbox-test", 1);
  assert_int_equal (sb_profile_load ("nope", &p, &err), -1);
  assert_non_null (strstr (err->msg, "agent 'nope': no such profile"));
  nb_error_free (&err);
  /* A name that could walk the filesystem is refused before any lookup. */
  assert_int_equal (sb_profile_load ("../../etc/passwd", &p, &err), -1);
  assert_non_null (strstr (err->msg, "not a valid profile name"));
  nb_error_free (&err);
}

static void
expect_bad (const char *text, const char *needle)
{
  struct sb_profile *p = NULL;
  nb_error_t err = NULL;
  assert_int_equal (sb_profile_parse (text, "t.json", &p, &err), -1);
  if (strstr (err->msg, needle) == NULL)
    fail_msg ("'%s' does not say '%s'", err->msg, needle);
  assert_non_null (strstr (err->msg, "t.json"));
  nb_error_free (&err);
}

static void
test_malformed_profiles_are_refused_with_a_reason (void **state)
{
  (void) state;
  expect_bad ("{", "line 1");
  expect_bad ("[]", "not a JSON object");
  expect_bad ("{\"command\": []}", "non-empty array");
  expect_bad ("{\"command\": \"/bin/sh\"}", "non-empty array");
  expect_bad ("{\"command\": [1]}", "command[0] is not a string");
  expect_bad ("{\"command\": [\"x\"], \"comand\": 1}", "unknown key \"comand\"");
  expect_bad ("{\"command\": [\"x\"], \"env\": {\"A\": 1}}", "env A");
  expect_bad ("{\"command\": [\"x\"], \"env\": {\"A=B\": \"c\"}}", "env A=B");
  expect_bad ("{\"command\": [\"x\"], \"user\": 1000}", "\"user\" must be");
  expect_bad ("{\"command\": [\"x\"], \"user\": \"\"}", "\"user\" must be");
}

static void
test_a_profile_without_a_command_leaves_it_to_the_image (void **state)
{
  (void) state;
  struct sb_profile *p = NULL;
  nb_error_t err = NULL;

  assert_int_equal (sb_profile_parse ("{\"template\": \"alpine\"}", "own",
                                      &p, &err),
                    0);
  assert_non_null (p->command);
  assert_null (p->command[0]);
  assert_string_equal (p->template_name, "alpine");
  sb_profile_free (p);
}

static void
test_a_user_profile_overrides_the_built_in_one (void **state)
{
  (void) state;
  char dir[] = "/tmp/nsbox-unit-XXXXXX", path[256];
  struct sb_profile *p = NULL;
  nb_error_t err = NULL;
  FILE *f;

  assert_non_null (mkdtemp (dir));
  snprintf (path, sizeof path, "%s/nsbox", dir);
  mkdir (path, 0700);
  snprintf (path, sizeof path, "%s/nsbox/agents", dir);
  mkdir (path, 0700);
  snprintf (path, sizeof path, "%s/nsbox/agents/shell.json", dir);
  f = fopen (path, "w");
  fputs ("{\"command\": [\"/bin/bash\", \"-l\"], \"env\": {\"X\": \"1\"}}", f);
  fclose (f);
  setenv ("XDG_CONFIG_HOME", dir, 1);
  assert_int_equal (sb_profile_load ("shell", &p, &err), 0);
  assert_string_equal (p->command[0], "/bin/bash");
  assert_string_equal (p->command[1], "-l");
  assert_string_equal (p->origin, path);
  sb_profile_free (p);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (
        test_the_built_in_shell_profile_runs_bin_sh_on_the_host_template),
    cmocka_unit_test (test_an_unknown_agent_is_an_error_naming_it),
    cmocka_unit_test (test_malformed_profiles_are_refused_with_a_reason),
    cmocka_unit_test (test_a_profile_without_a_command_leaves_it_to_the_image),
    cmocka_unit_test (test_a_user_profile_overrides_the_built_in_one),
  };
  return cmocka_run_group_tests_name ("profile", tests, NULL, NULL);
}
