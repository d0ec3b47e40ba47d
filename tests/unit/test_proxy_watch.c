#define _GNU_SOURCE
/* proxy/watch.c: the rules in force are the fixed ones plus each policy
 * file's, re-read when a file changes; a bad file never opens the proxy nor
 * drops what was in force. */
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
#include <time.h>
#include <unistd.h>

#include "proxy/watch.h"
#include "runtime/base/fs.h"

struct fixture
{
  char dir[64], file[96], log_path[96];
  struct nb_proxy_log log;
};

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  nb_error_t err = NULL;
  snprintf (f->dir, sizeof f->dir, "/tmp/nsbox-watch.XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  snprintf (f->file, sizeof f->file, "%s/policy.json", f->dir);
  snprintf (f->log_path, sizeof f->log_path, "%s/log", f->dir);
  if (nb_proxy_log_open (&f->log, f->log_path, "t", &err) < 0)
    return -1;
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  nb_proxy_log_close (&f->log);
  nb_rm_rf_at (AT_FDCWD, f->dir, &err);
  nb_error_free (&err);
  free (f);
  return 0;
}

/* Write TEXT in place, with a new mtime even within the same tick. */
static void
write_policy (struct fixture *f, const char *text)
{
  static long tick;
  FILE *fp = fopen (f->file, "w");
  assert_non_null (fp);
  fputs (text, fp);
  fclose (fp);
  struct timespec ts[2] = { { 1000000 + ++tick, 0 }, { 1000000 + tick, 0 } };
  utimensat (AT_FDCWD, f->file, ts, 0);
}

static int
allowed (struct nb_policy_watch *w, struct fixture *f, const char *host)
{
  struct nb_decision d;
  nb_policy_watch_refresh (w, &f->log);
  nb_policy_decide_name (&w->merged, host, 443, &d);
  return d.allow;
}

static void
test_fixed_rules_hold_while_the_policy_file_is_missing (void **state)
{
  struct fixture *f = *state;
  static const char *const allow[] = { "fixed.example.test", NULL };
  const char *files[] = { f->file, NULL };
  struct nb_policy_watch w;
  nb_error_t err = NULL;
  assert_int_equal (nb_policy_watch_init (&w, allow, NULL, files, &f->log,
                                          &err),
                    0);
  assert_true (allowed (&w, f, "fixed.example.test"));
  write_policy (f, "{\"allow\": [\"file.example.test\"]}");
  assert_true (allowed (&w, f, "file.example.test"));
  assert_true (allowed (&w, f, "fixed.example.test"));
  unlink (f->file);
  assert_false (allowed (&w, f, "file.example.test"));
  assert_true (allowed (&w, f, "fixed.example.test"));
  nb_policy_watch_free (&w);
}

static void
test_a_malformed_file_keeps_the_previous_rules_and_is_logged (void **state)
{
  struct fixture *f = *state;
  const char *files[] = { f->file, NULL };
  struct nb_policy_watch w;
  nb_error_t err = NULL;
  char *log = NULL;
  size_t len;
  write_policy (f, "{\"allow\": [\"a.example.test\"]}");
  assert_int_equal (nb_policy_watch_init (&w, NULL, NULL, files, &f->log,
                                          &err),
                    0);
  assert_true (allowed (&w, f, "a.example.test"));
  write_policy (f, "{\"allow\": [\"*\", \"bad rule\"]}");
  assert_true (allowed (&w, f, "a.example.test"));
  assert_false (allowed (&w, f, "b.example.test"));
  write_policy (f, "{\"allow\": ");
  assert_true (allowed (&w, f, "a.example.test"));
  assert_int_equal (nb_read_file (f->log_path, &log, &len, &err), 0);
  assert_non_null (strstr (log, "\"event\":\"error\""));
  assert_non_null (strstr (log, "invalid rule 'bad rule'"));
  assert_non_null (strstr (log, "the previous rules stay"));
  free (log);
  /* A good file again is read again. */
  write_policy (f, "{\"allow\": [\"b.example.test\"]}");
  assert_false (allowed (&w, f, "a.example.test"));
  assert_true (allowed (&w, f, "b.example.test"));
  nb_policy_watch_free (&w);
}

static void
test_an_invalid_fixed_rule_is_an_error_naming_it (void **state)
{
  struct fixture *f = *state;
  static const char *const deny[] = { "ok.example.test", "no good", NULL };
  struct nb_policy_watch w;
  nb_error_t err = NULL;
  assert_int_equal (nb_policy_watch_init (&w, NULL, deny, NULL, &f->log, &err),
                    -1);
  assert_non_null (strstr (err->msg, "'no good'"));
  nb_error_free (&err);
  nb_policy_watch_free (&w);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (
        test_fixed_rules_hold_while_the_policy_file_is_missing, setup,
        teardown),
    cmocka_unit_test_setup_teardown (
        test_a_malformed_file_keeps_the_previous_rules_and_is_logged, setup,
        teardown),
    cmocka_unit_test_setup_teardown (
        test_an_invalid_fixed_rule_is_an_error_naming_it, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
