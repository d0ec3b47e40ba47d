/* runtime/base and runtime/process: errors, paths, files, exit statuses. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/process.h"

static void
test_errors_name_the_object_and_the_cause_and_carry_context (void **state)
{
  (void) state;
  nb_error_t err = NULL;

  assert_int_equal (nb_error_make (&err, ENOENT, "open %s", "/x"), -1);
  assert_string_equal (err->msg, "open /x: No such file or directory");
  nb_error_wrap (&err, "run %s", "box");
  assert_string_equal (err->msg, "run box: open /x: No such file or directory");
  nb_error_hint (&err, "try %d", 1);
  assert_string_equal (err->msg, "run box: open /x: No such file or directory\n"
                                 "  hint: try 1");
  assert_int_equal (err->errno_val, ENOENT);
  nb_error_free (&err);
  assert_null (err);
  nb_error_make_status (&err, 127, 0, "exec nope");
  assert_int_equal (err->status, 127);
  nb_error_free (&err);
}

static void
test_messages_escape_the_control_characters_of_their_input (void **state)
{
  (void) state;
  nb_error_t err = NULL;
  char *e;

  /* A name with a newline, an ESC sequence, DEL, a C1 CSI (U+009B) and a
   * byte that is not UTF-8: none reaches the terminal raw. */
  nb_error_make (&err, 0, "reference '%s'", "a\nb\x1b[31mc\x7f\xc2\x9b" "d\xff" "é");
  assert_string_equal (err->msg, "reference 'a\\x0ab\\x1b[31mc\\x7f"
                                 "\\xc2\\x9bd\\xffé'");
  nb_error_wrap (&err, "pull %s", "x\ry");
  assert_non_null (strstr (err->msg, "pull x\\x0dy: "));
  /* The hint's own line break stays one. */
  nb_error_hint (&err, "try %s", "\x1b]0;title\x07");
  assert_non_null (strstr (err->msg, "\n  hint: try \\x1b]0;title\\x07"));
  nb_error_free (&err);
  /* Text made by nsbox in a child is taken as it is. */
  nb_error_set_text (&err, 126, "exec x: nope\n  hint: look");
  assert_string_equal (err->msg, "exec x: nope\n  hint: look");
  assert_int_equal (err->status, 126);
  nb_error_free (&err);
  /* Escaping twice changes nothing more. */
  e = nb_escape ("ok \\x1b already");
  assert_string_equal (e, "ok \\x1b already");
  free (e);
}

static void
test_path_containment (void **state)
{
  (void) state;
  assert_true (nb_path_is_within ("/home/u", "/home/u"));
  assert_true (nb_path_is_within ("/home/u/x", "/home/u"));
  assert_true (nb_path_is_within ("/home/u", "/"));
  assert_false (nb_path_is_within ("/home/user", "/home/u"));
  assert_false (nb_path_is_within ("/home", "/home/u"));
  char *j = nb_path_join ("/a/", "/b");
  assert_string_equal (j, "/a/b");
  free (j);
}

static void
test_atomic_write_replaces_the_whole_file (void **state)
{
  (void) state;
  char dir[] = "/tmp/nsbox-unit-XXXXXX", path[300];
  nb_error_t err = NULL;
  char *back = NULL;
  size_t len;

  assert_non_null (mkdtemp (dir));
  snprintf (path, sizeof path, "%s/f", dir);
  assert_int_equal (nb_write_file_atomic (path, "first", 5, 0600, 1, &err), 0);
  assert_int_equal (nb_write_file_atomic (path, "2nd", 3, 0600, 0, &err), 0);
  assert_int_equal (nb_read_file (path, &back, &len, &err), 0);
  assert_string_equal (back, "2nd");
  assert_int_equal (len, 3);
  free (back);
  assert_int_equal (nb_read_file ("/nonexistent/x", &back, &len, &err), -1);
  assert_int_equal (err->errno_val, ENOENT);
  nb_error_free (&err);
  snprintf (path, sizeof path, "%s/a/b/c", dir);
  assert_int_equal (nb_mkdir_p (path, 0700, &err), 0);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  assert_int_equal (access (dir, F_OK), -1);
}

/* The same text leaves the file alone (its inode and mtime stay); other
 * text, a longer or shorter one, or a non-file in the way, is written. */
static void
test_update_writes_only_what_changed (void **state)
{
  (void) state;
  char dir[] = "/tmp/nsbox-unit-XXXXXX", path[300];
  nb_error_t err = NULL;
  struct stat a, b;
  char *back = NULL;

  assert_non_null (mkdtemp (dir));
  snprintf (path, sizeof path, "%s/config.json", dir);
  assert_int_equal (nb_update_file_atomic (path, "{}", 2, 0600, &err), 0);
  assert_int_equal (stat (path, &a), 0);
  assert_int_equal (nb_update_file_atomic (path, "{}", 2, 0600, &err), 0);
  assert_int_equal (stat (path, &b), 0);
  assert_int_equal (a.st_ino, b.st_ino);
  /* Same length, other bytes; then a prefix of the file; then more. */
  assert_int_equal (nb_update_file_atomic (path, "[]", 2, 0600, &err), 0);
  assert_int_equal (stat (path, &b), 0);
  assert_int_not_equal (a.st_ino, b.st_ino);
  assert_int_equal (nb_update_file_atomic (path, "[", 1, 0600, &err), 0);
  assert_int_equal (nb_update_file_atomic (path, "[1]", 3, 0600, &err), 0);
  assert_int_equal (nb_read_file (path, &back, NULL, &err), 0);
  assert_string_equal (back, "[1]");
  free (back);
  /* A directory where the file goes: the rename says so. */
  assert_int_equal (unlink (path), 0);
  assert_int_equal (mkdir (path, 0700), 0);
  snprintf (path + strlen (path), sizeof path - strlen (path), "/x");
  assert_int_equal (mkdir (path, 0700), 0);
  path[strlen (path) - 2] = '\0';
  assert_int_equal (nb_update_file_atomic (path, "[1]", 3, 0600, &err), -1);
  assert_non_null (err);
  nb_error_free (&err);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
}

static void
test_exit_statuses_follow_docker (void **state)
{
  (void) state;
  assert_int_equal (rt_exit_status (7 << 8), 7);
  assert_int_equal (rt_exit_status (SIGKILL), 137);
  assert_int_equal (rt_exit_status (SIGTERM), 143);
}

static void
test_a_missing_command_is_127_and_a_non_executable_one_126 (void **state)
{
  (void) state;
  const char *missing[] = { "no-such-command-nsbox", NULL };
  const char *env[] = { "PATH=/nonexistent:/also-not", NULL };
  char path[] = "/tmp/nsbox-unit-noexec-XXXXXX";
  const char *noexec[] = { path, NULL };
  struct rt_spec s = { .args = missing, .env = env };
  nb_error_t err = NULL;
  int fd;

  /* Neither exec can succeed, so this runs in the test process itself. */
  assert_int_equal (rt_process_exec (&s, &err), -1);
  assert_int_equal (err->status, 127);
  assert_non_null (strstr (err->msg, "no-such-command-nsbox"));
  nb_error_free (&err);

  fd = mkstemp (path);
  assert_true (fd >= 0);
  close (fd);
  s.args = noexec;
  assert_int_equal (rt_process_exec (&s, &err), -1);
  assert_int_equal (err->status, 126);
  nb_error_free (&err);
  unlink (path);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_errors_name_the_object_and_the_cause_and_carry_context),
    cmocka_unit_test (test_messages_escape_the_control_characters_of_their_input),
    cmocka_unit_test (test_path_containment),
    cmocka_unit_test (test_atomic_write_replaces_the_whole_file),
    cmocka_unit_test (test_update_writes_only_what_changed),
    cmocka_unit_test (test_exit_statuses_follow_docker),
    cmocka_unit_test (test_a_missing_command_is_127_and_a_non_executable_one_126),
  };
  return cmocka_run_group_tests_name ("base", tests, NULL, NULL);
}
