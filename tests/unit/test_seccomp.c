/* runtime/seccomp_compile.c and runtime/seccomp.c: the strict profile
 * parser, the built-in default program, loading a program. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/embed.h"
#include "runtime/seccomp.h"
#include "runtime/seccomp_compile.h"

static json_t *
parse (const char *text)
{
  json_error_t jerr;
  json_t *j = json_loads (text, 0, &jerr);
  if (j == NULL)
    fail_msg ("test JSON: %s", jerr.text);
  return j;
}

/* Compile TEXT; expect failure with a message containing WANT, or success
 * (WANT NULL). */
static void
expect_compile (const char *text, const char *want)
{
  json_t *j = parse (text);
  nb_error_t err = NULL;
  char *warnings = NULL;
  void *bpf = NULL;
  size_t len = 0;
  int r = rt_seccomp_compile (j, &bpf, &len, &warnings, &err);

  json_decref (j);
  free (warnings);
  if (want == NULL)
    {
      if (r < 0)
        fail_msg ("%s: %s", text, err->msg);
      assert_true (len > 0 && len % 8 == 0);
      free (bpf);
      return;
    }
  if (r == 0)
    fail_msg ("%s: compiled, expected '%s'", text, want);
  if (strstr (err->msg, want) == NULL)
    fail_msg ("%s: '%s' does not say '%s'", text, err->msg, want);
  nb_error_free (&err);
}

static void
test_the_parser_refuses_what_it_does_not_know_naming_the_entry (void **state)
{
  (void) state;
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\"}", NULL);
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_NOPE\"}",
                  "unknown action 'SCMP_ACT_NOPE'");
  expect_compile ("{}", "defaultAction: missing");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                  "[{}, {\"names\": [\"read\"], \"action\": \"SCMP_ACT_X\"}]}",
                  "syscalls[0]");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                  "[{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\"}, "
                  "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_X\"}]}",
                  "syscalls[1]: unknown action 'SCMP_ACT_X'");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                  "[{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
                  "\"args\": [{\"index\": 0, \"value\": 1, \"op\": "
                  "\"SCMP_CMP_SOMETIMES\"}]}]}",
                  "syscalls[0]: args[0]: unknown operator 'SCMP_CMP_SOMETIMES'");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                  "[{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
                  "\"args\": [{\"index\": 6, \"value\": 1, \"op\": "
                  "\"SCMP_CMP_EQ\"}]}]}",
                  "index must be 0..5");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": "
                  "[\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_PDP11\"]}",
                  "architectures[1]: unknown architecture 'SCMP_ARCH_PDP11'");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": "
                  "-4}",
                  "not an errno");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscals\": []}",
                  "unknown key 'syscals'");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": "
                  "[\"SECCOMP_FILTER_FLAG_MAGIC\"]}",
                  "flags[0]: unknown flag");
  expect_compile ("{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", "not supported");
  expect_compile ("[]", "not a JSON object");
}

static void
test_an_unknown_syscall_name_is_a_warning_not_an_error (void **state)
{
  (void) state;
  json_t *j = parse ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                     "[{\"names\": [\"getpid\", \"not_a_call_at_all\"], "
                     "\"action\": \"SCMP_ACT_ERRNO\"}]}");
  nb_error_t err = NULL;
  char *warnings = NULL;
  void *bpf = NULL;
  size_t len;

  assert_int_equal (rt_seccomp_compile (j, &bpf, &len, &warnings, &err), 0);
  assert_non_null (warnings);
  assert_non_null (strstr (warnings, "syscalls[0]: syscall "
                                     "'not_a_call_at_all' is unknown"));
  free (warnings);
  free (bpf);
  json_decref (j);
}

/* Load SC in a child (no_new_privs first) and run CALL there; the errno it
 * fails with, or 0. */
static int
errno_under (const struct rt_seccomp *sc, long nr, long a0)
{
  int pipefd[2], status, got = -1;
  pid_t pid;

  assert_int_equal (pipe (pipefd), 0);
  pid = fork ();
  if (pid == 0)
    {
      nb_error_t err = NULL;
      int e;
      if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
          || rt_seccomp_load (sc, &err) < 0)
        _exit (99);
      e = syscall (nr, a0, 0, 0, 0, 0) < 0 ? errno : 0;
      if (write (pipefd[1], &e, sizeof e) != sizeof e)
        _exit (98);
      _exit (0);
    }
  close (pipefd[1]);
  assert_int_equal (read (pipefd[0], &got, sizeof got), sizeof got);
  close (pipefd[0]);
  waitpid (pid, &status, 0);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  return got;
}

static void
test_the_default_profile_is_built_in_and_denies_with_eperm (void **state)
{
  (void) state;
  size_t len;
  const char *text = nb_embedded_get ("seccomp/default.json", &len);
  json_t *j = json_loadb (text, len, 0, NULL);
  struct rt_seccomp sc;
  nb_error_t err = NULL;

  assert_non_null (j);
  /* No compiler here: the canonical text matches the built-in program. */
  setenv ("NSBOX_SECCOMP_LIB", "/nonexistent/nsbox-seccomp.so", 1);
  if (rt_seccomp_prepare (j, &sc, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_true (sc.enabled);
  assert_ptr_equal (sc.bpf, rt_seccomp_default_bpf);
  assert_null (sc.owned);
  assert_int_equal (errno_under (&sc, SYS_keyctl, KEYCTL_GET_KEYRING_ID), EPERM);
  assert_int_equal (errno_under (&sc, SYS_bpf, 0), EPERM);
  assert_int_equal (errno_under (&sc, SYS_clone3, 0), ENOSYS);
  assert_int_equal (errno_under (&sc, 1000, 0), ENOSYS);
  assert_int_equal (errno_under (&sc, SYS_getppid, 0), 0);
  rt_seccomp_clear (&sc);

  /* One key more and it is another profile: not the built-in program. */
  json_object_set_new (j, "comment", json_string ("changed"));
  assert_int_equal (rt_seccomp_prepare (j, &sc, &err), -1);
  assert_non_null (strstr (err->msg, "nsbox-seccomp.so"));
  nb_error_free (&err);
  unsetenv ("NSBOX_SECCOMP_LIB");
  json_decref (j);
}

/* nsbox run's spec holds a stand-in for the built-in profile: the built-in
 * program, known by the stand-in's address only, and written out as the
 * profile's own text. */
static void
test_the_built_in_stand_in_is_the_program_and_is_written_as_the_profile (
    void **state)
{
  (void) state;
  json_t *ref = rt_seccomp_default (), *spec, *again, *forged, *canon;
  struct rt_seccomp sc;
  nb_error_t err = NULL;
  char *text, *full;
  size_t len;
  const char *embedded = nb_embedded_get ("seccomp/default.json", &len);

  assert_non_null (ref);
  assert_false (json_is_object (ref));
  setenv ("NSBOX_SECCOMP_LIB", "/nonexistent/nsbox-seccomp.so", 1);
  assert_int_equal (rt_seccomp_prepare (ref, &sc, &err), 0);
  assert_true (sc.enabled);
  assert_ptr_equal (sc.bpf, rt_seccomp_default_bpf);
  rt_seccomp_clear (&sc);

  /* The same text in another value is not the stand-in: an argument that
   * read so stays an argument, and a spec cannot name the program so. */
  forged = json_string (json_string_value (ref));
  assert_int_equal (rt_seccomp_prepare (forged, &sc, &err), -1);
  assert_non_null (strstr (err->msg, "not an object"));
  nb_error_free (&err);

  /* Written out, the spec holds the profile; the forged copy stays text. */
  spec = json_pack ("{s:{s:O},s:[O]}", "linux", "seccomp", ref, "args",
                    forged);
  text = json_dumps (spec, JSON_INDENT (2));
  full = rt_seccomp_expand (text);
  assert_non_null (full);
  again = json_loads (full, 0, NULL);
  assert_non_null (again);
  canon = json_loadb (embedded, len, 0, NULL);
  assert_true (json_equal (json_object_get (json_object_get (again, "linux"),
                                            "seccomp"),
                           canon));
  assert_string_equal (json_string_value (json_array_get (
                           json_object_get (again, "args"), 0)),
                       json_string_value (ref));
  /* Read back, it is the profile, and the built-in program again. */
  assert_int_equal (rt_seccomp_prepare (json_object_get (json_object_get (
                                            again, "linux"),
                                                         "seccomp"),
                                        &sc, &err),
                    0);
  assert_ptr_equal (sc.bpf, rt_seccomp_default_bpf);
  rt_seccomp_clear (&sc);
  unsetenv ("NSBOX_SECCOMP_LIB");
  json_decref (canon);
  json_decref (again);
  json_decref (spec);
  json_decref (forged);
  json_decref (ref);
  free (text);
  free (full);
}

static void
test_no_profile_means_no_filter (void **state)
{
  (void) state;
  struct rt_seccomp sc;
  nb_error_t err = NULL;

  assert_int_equal (rt_seccomp_prepare (NULL, &sc, &err), 0);
  assert_false (sc.enabled);
  assert_int_equal (rt_seccomp_load (&sc, &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_the_parser_refuses_what_it_does_not_know_naming_the_entry),
    cmocka_unit_test (test_an_unknown_syscall_name_is_a_warning_not_an_error),
    cmocka_unit_test (test_the_default_profile_is_built_in_and_denies_with_eperm),
    cmocka_unit_test (test_the_built_in_stand_in_is_the_program_and_is_written_as_the_profile),
    cmocka_unit_test (test_no_profile_means_no_filter),
  };
  return cmocka_run_group_tests_name ("seccomp", tests, NULL, NULL);
}
