/* nsbox-systemd.so (see runtime/systemd_scope.h): StartTransientUnit on
 * org.freedesktop.systemd1 over sd-bus, as crun asks for its scopes. */
#define _GNU_SOURCE
#include "runtime/systemd_scope.h"
#include "runtime/base/cleanup.h"
#include <systemd/sd-bus.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"

/* How long systemd may take to start the scope. */
#define JOB_TIMEOUT_USEC (10 * 1000000ULL)

static void
bus_freep (sd_bus **b)
{
  if (*b)
    sd_bus_flush_close_unref (*b);
}
static void
msg_freep (sd_bus_message **m)
{
  if (*m)
    sd_bus_message_unref (*m);
}
#define cleanup_bus __attribute__ ((cleanup (bus_freep)))
#define cleanup_msg __attribute__ ((cleanup (msg_freep)))

/* Which bus the user manager would be on, said in errors. */
static const char *
bus_shown (void)
{
  const char *a = getenv ("DBUS_SESSION_BUS_ADDRESS");
  return a && a[0] ? "$DBUS_SESSION_BUS_ADDRESS" : "$XDG_RUNTIME_DIR/bus";
}

static int
open_bus (sd_bus **bus, nb_error_t *err)
{
  int r = sd_bus_open_user (bus);
  if (r < 0)
    return nb_error_make (err, -r, "connect to the user bus (%s)",
                          bus_shown ());
  return 0;
}

static int
bus_error (nb_error_t *err, int r, sd_bus_error *e, const char *what)
{
  nb_error_make (err, e->message ? 0 : -r, "%s%s%s", what,
                 e->message ? ": " : "", e->message ? e->message : "");
  sd_bus_error_free (e);
  return -1;
}

struct job
{
  const char *path; /* the job StartTransientUnit returned */
  char result[64];  /* JobRemoved's result, once seen */
  bool done;
};

static int
on_job_removed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  struct job *j = userdata;
  const char *path, *unit, *result;
  uint32_t id;

  (void) ret_error;
  if (sd_bus_message_read (m, "uoss", &id, &path, &unit, &result) < 0)
    return 0;
  if (j->path && strcmp (path, j->path) == 0)
    {
      snprintf (j->result, sizeof j->result, "%s", result);
      j->done = true;
    }
  return 0;
}

static uint64_t
now_usec (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* StartTransientUnit(name, mode, properties a(sv), aux a(sa(sv))). */
static int
start_message (sd_bus *bus, const char *unit, sd_bus_message **out)
{
  cleanup_msg sd_bus_message *m = NULL;
  int r;

  r = sd_bus_message_new_method_call (bus, &m, SD_DEST, SD_PATH, SD_MANAGER,
                                      "StartTransientUnit");
  if (r >= 0)
    r = sd_bus_message_append (m, "ss", unit, "fail");
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'a', "(sv)");
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)", "Description", "s",
                               "nsbox sandbox limits");
  /* This process: its sandboxes' cgroups are made beside it in the
   * scope, which is theirs to write (Delegate=yes). */
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)", "PIDs", "au", 1,
                               (uint32_t) getpid ());
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)", "Delegate", "b", 1);
  /* Gone once empty, also when a process in it failed. */
  if (r >= 0)
    r = sd_bus_message_append (m, "(sv)", "CollectMode", "s",
                               "inactive-or-failed");
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  if (r >= 0)
    r = sd_bus_message_append (m, "a(sa(sv))", 0);
  if (r < 0)
    return r;
  *out = m;
  m = NULL;
  return 0;
}

__attribute__ ((visibility ("default"))) int
nsbox_systemd_scope (const char *unit, nb_error_t *err)
{
  cleanup_bus sd_bus *bus = NULL;
  cleanup_msg sd_bus_message *m = NULL, *reply = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  struct job job = { 0 };
  uint64_t deadline;
  int r;

  if (open_bus (&bus, err) < 0)
    return -1;
  /* Subscribed before the call: the job may end before its reply is
   * read. */
  r = sd_bus_match_signal (bus, NULL, SD_DEST, SD_PATH, SD_MANAGER,
                           "JobRemoved", on_job_removed, &job);
  if (r < 0)
    return nb_error_make (err, -r, "subscribe to systemd's JobRemoved");
  r = start_message (bus, unit, &m);
  if (r < 0)
    return nb_error_make (err, -r, "build StartTransientUnit %s", unit);
  r = sd_bus_call (bus, m, 0, &e, &reply);
  if (r < 0)
    return bus_error (err, r, &e, "systemd user manager: StartTransientUnit");
  r = sd_bus_message_read (reply, "o", &job.path);
  if (r < 0)
    return nb_error_make (err, -r, "systemd's answer to StartTransientUnit");
  deadline = now_usec () + JOB_TIMEOUT_USEC;
  while (!job.done)
    {
      uint64_t now = now_usec ();
      r = sd_bus_process (bus, NULL);
      if (r < 0)
        return nb_error_make (err, -r, "wait for systemd's job %s",
                              job.path);
      if (r > 0)
        continue;
      if (now >= deadline)
        return nb_error_make (err, ETIMEDOUT, "wait for systemd's job %s "
                                              "(scope %s)",
                              job.path, unit);
      r = sd_bus_wait (bus, deadline - now);
      if (r < 0)
        return nb_error_make (err, -r, "wait for systemd's job %s",
                              job.path);
    }
  if (strcmp (job.result, "done") != 0)
    return nb_error_make (err, 0, "systemd did not start the scope %s: its "
                                  "job ended \"%s\"",
                          unit, job.result);
  return 0;
}

__attribute__ ((visibility ("default"))) int
nsbox_systemd_probe (char **version, nb_error_t *err)
{
  cleanup_bus sd_bus *bus = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r;

  *version = NULL;
  if (open_bus (&bus, err) < 0)
    return -1;
  r = sd_bus_get_property_string (bus, SD_DEST, SD_PATH, SD_MANAGER,
                                  "Version", &e, version);
  if (r < 0)
    return bus_error (err, r, &e, "no systemd user manager answers");
  return 0;
}
