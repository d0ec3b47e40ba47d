/* runtime/base/fs.c under hostile input: removal of trees of any depth and
 * shape, reading files that are not regular files. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/base/error.h"
#include "runtime/base/fs.h"

#define NOBODY 65534

static char *
make_tmp (void)
{
  char *dir = strdup ("/tmp/nsbox-fs-XXXXXX");
  assert_non_null (mkdtemp (dir));
  return dir;
}

/* DIR/top/d/d/.../d, DEPTH levels, a file at the bottom and one on every
 * tenth level; made with *at calls, since the full path outgrows PATH_MAX. */
static void
make_deep_tree (const char *dir, int depth, mode_t mode)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (mkdirat (fd, "top", 0755), 0);
  int cur = openat (fd, "top", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close (fd);
  for (int i = 0; i < depth; i++)
    {
      assert_int_equal (mkdirat (cur, "d", 0755), 0);
      if (i % 10 == 0)
        {
          int f = openat (cur, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
          assert_true (f >= 0);
          close (f);
        }
      int next = openat (cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      assert_true (next >= 0);
      /* Read-only dirs as layers have them: removal must cope. */
      if (mode != 0755 && i % 7 == 3)
        assert_int_equal (fchmod (cur, mode), 0);
      close (cur);
      cur = next;
    }
  int f = openat (cur, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_true (f >= 0);
  close (f);
  close (cur);
}

static void
test_removal_works_at_any_depth_with_few_descriptors (void **state)
{
  (void) state;
  char *dir = make_tmp ();
  char top[300];
  struct rlimit old, low = { 64, 64 };
  nb_error_t err = NULL;

  /* Deeper than the descriptor limit allows fds, one a level. */
  make_deep_tree (dir, 3000, 0755);
  snprintf (top, sizeof top, "%s/top", dir);
  assert_int_equal (getrlimit (RLIMIT_NOFILE, &old), 0);
  low.rlim_max = old.rlim_max;
  assert_int_equal (setrlimit (RLIMIT_NOFILE, &low), 0);
  int ret = nb_rm_rf_at (AT_FDCWD, top, &err);
  setrlimit (RLIMIT_NOFILE, &old);
  if (ret < 0)
    fail_msg ("%s", err->msg);
  assert_int_equal (access (top, F_OK), -1);
  assert_int_equal (rmdir (dir), 0);
  free (dir);
}

static void
test_removal_makes_read_only_directories_writable (void **state)
{
  (void) state;
  char *dir = make_tmp ();
  char top[300], p[400];
  nb_error_t err = NULL;

  make_deep_tree (dir, 40, 0555);
  /* A dir no one may read or enter, as a hostile layer can ship. */
  snprintf (p, sizeof p, "%s/top/locked", dir);
  assert_int_equal (mkdir (p, 0755), 0);
  snprintf (p, sizeof p, "%s/top/locked/inner", dir);
  assert_int_equal (mkdir (p, 0755), 0);
  snprintf (p, sizeof p, "%s/top/locked", dir);
  assert_int_equal (chmod (p, 0), 0);
  snprintf (top, sizeof top, "%s/top", dir);
  if (nb_rm_rf_at (AT_FDCWD, top, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_int_equal (access (top, F_OK), -1);
  assert_int_equal (rmdir (dir), 0);
  free (dir);
}

static void
test_removal_does_not_follow_symlinks (void **state)
{
  (void) state;
  char *dir = make_tmp ();
  char p[300], q[300];
  nb_error_t err = NULL;

  snprintf (p, sizeof p, "%s/keep", dir);
  assert_int_equal (mkdir (p, 0755), 0);
  snprintf (p, sizeof p, "%s/keep/precious", dir);
  close (open (p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  snprintf (p, sizeof p, "%s/top", dir);
  assert_int_equal (mkdir (p, 0755), 0);
  snprintf (p, sizeof p, "%s/keep", dir);
  snprintf (q, sizeof q, "%s/top/link", dir);
  assert_int_equal (symlink (p, q), 0);
  snprintf (p, sizeof p, "%s/top", dir);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, p, &err), 0);
  snprintf (p, sizeof p, "%s/keep/precious", dir);
  assert_int_equal (access (p, F_OK), 0);
  snprintf (p, sizeof p, "%s/keep", dir);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, p, &err), 0);
  assert_int_equal (rmdir (dir), 0);
  free (dir);
}

/* As a user who may not remove a file deep in the tree: one message, that
 * names the path (shortened) and the cause once. */
static void
test_a_removal_error_names_the_path_once_and_the_cause (void **state)
{
  (void) state;
  char *dir = make_tmp ();
  char p[300];
  int status;
  pid_t pid;

  if (geteuid () != 0)
    skip (); /* needs root to make a tree that another uid cannot remove */
  assert_int_equal (chmod (dir, 0777), 0);
  make_deep_tree (dir, 200, 0755);
  snprintf (p, sizeof p, "%s/top", dir);
  /* Everything nobody's, but the bottom dir (root's, 0755): its file
   * stays. */
  pid = fork ();
  if (pid == 0)
    {
      nb_error_t err = NULL;
      char cmd[1400];
      snprintf (cmd, sizeof cmd,
                "chown -R %d %s && chown 0 \"$(find %s -name bottom)\" && "
                "chown 0 \"$(dirname \"$(find %s -name bottom)\")\"",
                NOBODY, p, p, p);
      if (system (cmd) != 0)
        _exit (2);
      if (setgid (NOBODY) < 0 || setuid (NOBODY) < 0)
        _exit (3);
      if (nb_rm_rf_at (AT_FDCWD, p, &err) == 0)
        _exit (4);
      /* Once: "remove /tmp/…/top/d/d/…  more …/d/d/bottom: Permission
       * denied". */
      if (strstr (err->msg, "Permission denied") == NULL
          || strstr (err->msg, "bottom") == NULL
          || strstr (err->msg, "more") == NULL || strlen (err->msg) > 600
          || strstr (err->msg, "remove") != err->msg
          || strstr (err->msg + 1, "remove") != NULL)
        {
          fprintf (stderr, "message: %s\n", err->msg);
          _exit (5);
        }
      _exit (0);
    }
  assert_true (pid > 0);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  nb_error_t err = NULL;
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  free (dir);
}

static void
on_alarm (int sig)
{
  (void) sig;
  fail_msg ("reading a FIFO blocked");
}

static void
test_a_fifo_is_refused_without_blocking (void **state)
{
  (void) state;
  char *dir = make_tmp ();
  char p[300], *text = NULL;
  nb_error_t err = NULL;

  snprintf (p, sizeof p, "%s/fifo", dir);
  assert_int_equal (mkfifo (p, 0600), 0);
  signal (SIGALRM, on_alarm);
  alarm (5);
  assert_int_equal (nb_read_file (p, &text, NULL, &err), -1);
  assert_non_null (strstr (err->msg, "a FIFO, not a regular file"));
  nb_error_free (&err);
  assert_int_equal (nb_open_regular_at (AT_FDCWD, p, O_NOFOLLOW, "fifo", &err),
                    -1);
  nb_error_free (&err);
  alarm (0);
  assert_int_equal (nb_read_file (dir, &text, NULL, &err), -1);
  assert_non_null (strstr (err->msg, "a directory"));
  nb_error_free (&err);
  assert_int_equal (nb_read_file ("/dev/null", &text, NULL, &err), -1);
  assert_non_null (strstr (err->msg, "a character device"));
  nb_error_free (&err);
  /* O_NOFOLLOW: a symlink is refused as such. */
  snprintf (p, sizeof p, "%s/link", dir);
  assert_int_equal (symlink ("/etc/passwd", p), 0);
  assert_int_equal (nb_open_regular_at (AT_FDCWD, p, O_NOFOLLOW, "link", &err),
                    -1);
  assert_non_null (strstr (err->msg, "symbolic link"));
  nb_error_free (&err);
  assert_int_equal (nb_rm_rf_at (AT_FDCWD, dir, &err), 0);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_removal_works_at_any_depth_with_few_descriptors),
    cmocka_unit_test (test_removal_makes_read_only_directories_writable),
    cmocka_unit_test (test_removal_does_not_follow_symlinks),
    cmocka_unit_test (test_a_removal_error_names_the_path_once_and_the_cause),
    cmocka_unit_test (test_a_fifo_is_refused_without_blocking),
  };
  return cmocka_run_group_tests_name ("fs", tests, NULL, NULL);
}
