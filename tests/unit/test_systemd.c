/* The systemd path to a delegated cgroup (runtime/systemd_scope.c, the
 * code of nsbox-systemd.so): what it asks the user manager over D-Bus and
 * how it reads the answer.  This host has no systemd, so the manager is
 * build/tests/fake-systemd, which owns org.freedesktop.systemd1 on a
 * private dbus-daemon and records every call; the calls go through a real
 * bus and sd-bus on both sides.  Not tested here: that a real systemd then
 * moves the process into the scope and delegates its cgroup. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/base/error.h"
#include "runtime/base/fs.h"

int nsbox_systemd_scope (const char *unit, nb_error_t *err);
int nsbox_systemd_probe (char **version, nb_error_t *err);

struct bus
{
  pid_t daemon, fake;
  char dir[64], record[128];
};

/* Start a private dbus-daemon (its address in DBUS_SESSION_BUS_ADDRESS)
 * and, with RESULT, the fake manager answering jobs with it. */
static void
bus_up (struct bus *b, const char *result)
{
  char exe[PATH_MAX], fake[PATH_MAX + 32], line[512], pidline[32];
  int addr[2], pidp[2];
  ssize_t n;
  FILE *f;

  memset (b, 0, sizeof *b);
  strcpy (b->dir, "/tmp/nsbox-sdbus-XXXXXX");
  assert_non_null (mkdtemp (b->dir));
  snprintf (b->record, sizeof b->record, "%s/record", b->dir);
  assert_int_equal (pipe (addr), 0);
  assert_int_equal (pipe (pidp), 0);
  if (fork () == 0)
    {
      char a[40], p[40];
      snprintf (a, sizeof a, "--print-address=%d", addr[1]);
      snprintf (p, sizeof p, "--print-pid=%d", pidp[1]);
      execlp ("dbus-daemon", "dbus-daemon", "--session", "--fork", a, p,
              (char *) NULL);
      _exit (127);
    }
  close (addr[1]);
  close (pidp[1]);
  f = fdopen (addr[0], "r");
  if (f == NULL || fgets (line, sizeof line, f) == NULL)
    skip (); /* dbus-daemon missing: tests/deps.sh installs dbus-daemon */
  fclose (f);
  line[strcspn (line, "\n")] = '\0';
  n = read (pidp[0], pidline, sizeof pidline - 1);
  close (pidp[0]);
  assert_true (n > 0);
  pidline[n] = '\0';
  b->daemon = (pid_t) atoi (pidline);
  setenv ("DBUS_SESSION_BUS_ADDRESS", line, 1);
  if (result == NULL)
    return;
  n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  assert_true (n > 0);
  exe[n] = '\0';
  snprintf (fake, sizeof fake, "%s/fake-systemd", dirname (exe));
  {
    int ready[2];
    char buf[8];
    assert_int_equal (pipe (ready), 0);
    b->fake = fork ();
    if (b->fake == 0)
      {
        dup2 (ready[1], 1);
        execl (fake, fake, line, b->record, result, (char *) NULL);
        _exit (127);
      }
    close (ready[1]);
    /* "ready": it owns the name, so no call can reach an empty bus. */
    assert_int_equal (read (ready[0], buf, 6), 6);
    close (ready[0]);
  }
}

/* A test's bus, ended by its teardown even when an assertion failed
 * (the daemon and the stand-in would otherwise outlive the run). */
static struct bus the_bus;

static void
bus_down (struct bus *b)
{
  nb_error_t err = NULL;
  if (b->fake > 0)
    {
      kill (b->fake, SIGTERM);
      waitpid (b->fake, NULL, 0);
    }
  if (b->daemon > 0)
    kill (b->daemon, SIGTERM);
  unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  if (b->dir[0])
    nb_rm_rf_at (-100, b->dir, &err);
  nb_error_free (&err);
  memset (b, 0, sizeof *b);
}

static int
bus_teardown (void **state)
{
  (void) state;
  bus_down (&the_bus);
  return 0;
}

static char *
recorded (const struct bus *b)
{
  nb_error_t err = NULL;
  char *text = NULL;
  assert_int_equal (nb_read_file (b->record, &text, NULL, &err), 0);
  return text;
}

static void
test_the_scope_is_asked_as_a_transient_unit_holding_this_process_with_delegate (void **state)
{
  struct bus *b = &the_bus;
  nb_error_t err = NULL;
  char *text, want[64];

  (void) state;
  bus_up (b, "done");
  assert_int_equal (nsbox_systemd_scope ("nsbox-abc-42.scope", &err), 0);
  assert_null (err);
  text = recorded (b);
  assert_non_null (strstr (text, "StartTransientUnit name=nsbox-abc-42.scope "
                                 "mode=fail\n"));
  snprintf (want, sizeof want, "property PIDs=au:%d \n", (int) getpid ());
  assert_non_null (strstr (text, want));
  assert_non_null (strstr (text, "property Delegate=b:true\n"));
  assert_non_null (strstr (text, "property CollectMode=s:inactive-or-failed\n"));
  assert_null (strstr (text, "malformed"));
  free (text);
}

static void
test_a_scope_whose_job_fails_is_an_error_naming_it_and_the_result (void **state)
{
  struct bus *b = &the_bus;
  nb_error_t err = NULL;

  (void) state;
  bus_up (b, "failed");
  assert_int_equal (nsbox_systemd_scope ("nsbox-abc-43.scope", &err), -1);
  assert_non_null (err);
  assert_non_null (strstr (err->msg, "nsbox-abc-43.scope"));
  assert_non_null (strstr (err->msg, "\"failed\""));
  nb_error_free (&err);
}

static void
test_a_bus_without_a_manager_is_an_error_that_says_no_manager_answered (void **state)
{
  struct bus *b = &the_bus;
  nb_error_t err = NULL;
  char *version = NULL;

  (void) state;
  bus_up (b, NULL);
  assert_int_equal (nsbox_systemd_scope ("nsbox-abc-44.scope", &err), -1);
  assert_non_null (strstr (err->msg, "systemd user manager: "
                                     "StartTransientUnit: "));
  assert_non_null (strstr (err->msg, "org.freedesktop.systemd1"));
  nb_error_free (&err);
  assert_int_equal (nsbox_systemd_probe (&version, &err), -1);
  assert_non_null (strstr (err->msg, "no systemd user manager answers"));
  nb_error_free (&err);
}

static void
test_the_probe_reads_the_managers_version (void **state)
{
  struct bus *b = &the_bus;
  nb_error_t err = NULL;
  char *version = NULL;

  (void) state;
  bus_up (b, "done");
  assert_int_equal (nsbox_systemd_probe (&version, &err), 0);
  assert_string_equal (version, "252-fake");
  free (version);
}

static void
test_no_bus_at_all_is_an_error_naming_where_it_looked (void **state)
{
  nb_error_t err = NULL;

  (void) state;
  unsetenv ("DBUS_SESSION_BUS_ADDRESS");
  setenv ("XDG_RUNTIME_DIR", "/nonexistent-nsbox", 1);
  assert_int_equal (nsbox_systemd_scope ("nsbox-abc-45.scope", &err), -1);
  assert_non_null (strstr (err->msg, "connect to the user bus "
                                     "($XDG_RUNTIME_DIR/bus)"));
  nb_error_free (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown (test_the_scope_is_asked_as_a_transient_unit_holding_this_process_with_delegate, bus_teardown),
    cmocka_unit_test_teardown (test_a_scope_whose_job_fails_is_an_error_naming_it_and_the_result, bus_teardown),
    cmocka_unit_test_teardown (test_a_bus_without_a_manager_is_an_error_that_says_no_manager_answered, bus_teardown),
    cmocka_unit_test_teardown (test_the_probe_reads_the_managers_version, bus_teardown),
    cmocka_unit_test_teardown (test_no_bus_at_all_is_an_error_naming_where_it_looked, bus_teardown),
  };
  return cmocka_run_group_tests_name ("systemd", tests, NULL, NULL);
}
