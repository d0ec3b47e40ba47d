/* cli/sandbox.c: one sandbox per (workspace, agent), its state on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/sandbox.h"
#include "runtime/base/fs.h"

static void
test_the_id_is_stable_and_differs_by_workspace_and_agent (void **state)
{
  (void) state;
  char a[13], b[13], c[13], d[13], e[13];

  sb_sandbox_id ("/home/u/proj", "shell", NULL, a);
  sb_sandbox_id ("/home/u/proj", "shell", NULL, b);
  sb_sandbox_id ("/home/u/proj2", "shell", NULL, c);
  sb_sandbox_id ("/home/u/proj", "claude", NULL, d);
  sb_sandbox_id ("/home/u/pro", "jshell", NULL, e);
  assert_string_equal (a, b);
  assert_int_equal (strlen (a), 12);
  assert_string_not_equal (a, c);
  assert_string_not_equal (a, d);
  assert_string_not_equal (a, e);
}

static void
test_the_default_name_is_hostname_safe (void **state)
{
  (void) state;
  char *n = sb_sandbox_default_name ("/home/u/my project_1", "shell");
  assert_string_equal (n, "my-project-1-shell");
  free (n);
  n = sb_sandbox_default_name ("/", "shell");
  assert_string_equal (n, "root-shell");
  free (n);
}

static void
test_a_sandbox_is_created_once_then_reused (void **state)
{
  (void) state;
  char dir[] = "/tmp/nsbox-unit-XXXXXX", ws[300], data[300];
  struct sb_sandbox *sb = NULL;
  nb_error_t err = NULL;
  struct stat st;

  assert_non_null (mkdtemp (dir));
  snprintf (ws, sizeof ws, "%s/ws", dir);
  snprintf (data, sizeof data, "%s/data", dir);
  mkdir (ws, 0700);
  setenv ("XDG_DATA_HOME", data, 1);
  setenv ("XDG_RUNTIME_DIR", dir, 1);
  assert_int_equal (sb_sandbox_open (ws, "shell", NULL, "host", &sb, &err), 0);
  assert_true (sb->created);
  assert_int_equal (stat (sb->home, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  assert_int_equal (st.st_mode & 077, 0);
  assert_string_equal (sb->name, "ws-shell");
  sb_sandbox_free (sb);

  assert_int_equal (sb_sandbox_open (ws, "shell", NULL, "host", &sb, &err), 0);
  assert_false (sb->created);
  sb_sandbox_free (sb);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
}

static void
test_a_name_taken_by_another_workspace_is_refused (void **state)
{
  (void) state;
  char dir[] = "/tmp/nsbox-unit-XXXXXX", ws1[300], ws2[300], data[300];
  struct sb_sandbox *sb = NULL;
  nb_error_t err = NULL;

  assert_non_null (mkdtemp (dir));
  snprintf (ws1, sizeof ws1, "%s/a", dir);
  snprintf (ws2, sizeof ws2, "%s/b", dir);
  snprintf (data, sizeof data, "%s/data", dir);
  mkdir (ws1, 0700);
  mkdir (ws2, 0700);
  setenv ("XDG_DATA_HOME", data, 1);
  setenv ("XDG_RUNTIME_DIR", dir, 1);
  assert_int_equal (sb_sandbox_open (ws1, "shell", "mine", "host", &sb, &err),
                    0);
  sb_sandbox_free (sb);
  assert_int_equal (sb_sandbox_open (ws2, "shell", "mine", "host", &sb, &err),
                    -1);
  sb_sandbox_free (sb);
  assert_non_null (strstr (err->msg, "belongs to the workspace"));
  nb_error_free (&err);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_the_id_is_stable_and_differs_by_workspace_and_agent),
    cmocka_unit_test (test_the_default_name_is_hostname_safe),
    cmocka_unit_test (test_a_sandbox_is_created_once_then_reused),
    cmocka_unit_test (test_a_name_taken_by_another_workspace_is_refused),
  };
  return cmocka_run_group_tests_name ("sandbox", tests, NULL, NULL);
}
