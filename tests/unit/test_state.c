/* runtime/state.c: the live record every start writes (by hand, without
 * jansson's encoder) must read back as written, and a start removes only the
 * record it wrote itself. */
#define _GNU_SOURCE
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

#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/state.h"

static char *
make_tmp (void)
{
  char *dir = strdup ("/tmp/nsbox-state-XXXXXX");
  assert_non_null (mkdtemp (dir));
  return dir;
}

static void
test_the_state_reads_back_as_written_whatever_its_strings_hold (void **unused)
{
  (void) unused;
  char *dir = make_tmp ();
  nb_error_t err = NULL;
  struct rt_state st;
  /* Quotes, backslashes, control characters and non-ASCII UTF-8: what a
   * bundle path or an engine's container id may hold. */
  const char *id = "a\"b\\c";
  const char *bundle = "/tmp/x y/\t\n\x01\x7f/d\xc3\xa9j\xc3\xa0/\xf0\x9f\x93\xa6";
  const char *cgroup = "/sys/fs/cgroup/user/nsbox-\"q\"";
  json_t *ann = json_pack ("{s:s, s:s}", "org.example/k", "v\"1",
                           "io.podman", "\xc3\xa9");

  assert_int_equal (rt_state_write (dir, id, bundle, getpid (), ann, cgroup,
                                    NULL, &err),
                    0);
  assert_int_equal (rt_state_read (dir, &st, &err), 0);
  assert_string_equal (st.id, id);
  assert_string_equal (st.bundle, bundle);
  assert_string_equal (st.cgroup, cgroup);
  assert_int_equal (st.pid, getpid ());
  /* The start time recorded is this very process's: it reads as alive. */
  assert_int_equal (st.status, RT_STATUS_RUNNING);
  assert_non_null (st.created);
  assert_true (json_equal (json_object_get (st.json, "annotations"), ann));
  assert_string_equal (
      json_string_value (json_object_get (st.json, "ociVersion")), "1.0.2");
  rt_state_clear (&st);
  json_decref (ann);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  free (dir);
}

static void
test_a_path_that_is_not_utf8_is_refused_and_leaves_no_file (void **unused)
{
  (void) unused;
  char *dir = make_tmp ();
  nb_error_t err = NULL;
  char path[4096];
  struct stat stb;

  assert_int_equal (rt_state_write (dir, "id", "/tmp/\xff\xfe", getpid (),
                                    NULL, NULL, NULL, &err),
                    -1);
  assert_non_null (err);
  nb_error_free (&err);
  snprintf (path, sizeof path, "%s/state.json", dir);
  assert_int_equal (stat (path, &stb), -1);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  free (dir);
}

static void
test_a_start_removes_only_the_state_it_wrote (void **unused)
{
  (void) unused;
  char *dir = make_tmp ();
  nb_error_t err = NULL;
  struct rt_state_stamp mine, later;
  char path[4096];
  struct stat stb;

  snprintf (path, sizeof path, "%s/state.json", dir);
  assert_int_equal (rt_state_write (dir, "c", "/b", getpid (), NULL, NULL,
                                    &mine, &err),
                    0);
  /* Another start took the dir over (its init died, a new one came). */
  assert_int_equal (rt_state_write (dir, "c", "/b", getpid (), NULL, NULL,
                                    &later, &err),
                    0);
  rt_state_remove_own (dir, &mine);
  assert_int_equal (stat (path, &stb), 0);
  rt_state_remove_own (dir, &later);
  assert_int_equal (stat (path, &stb), -1);
  assert_int_equal (errno, ENOENT);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (
        test_the_state_reads_back_as_written_whatever_its_strings_hold),
    cmocka_unit_test (
        test_a_path_that_is_not_utf8_is_refused_and_leaves_no_file),
    cmocka_unit_test (test_a_start_removes_only_the_state_it_wrote),
  };
  return cmocka_run_group_tests_name ("state", tests, NULL, NULL);
}
