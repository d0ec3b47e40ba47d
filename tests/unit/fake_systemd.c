/* A stand-in for the systemd user manager (org.freedesktop.systemd1) on a
 * private bus, for tests on a host without systemd: it records each
 * StartTransientUnit it is asked, with every property, answers with a job
 * and announces that job's end (JobRemoved) with RESULT, as systemd does;
 * it answers the Manager's Version property.  It does not make a cgroup.
 *
 *   fake-systemd BUS_ADDRESS RECORD_FILE [RESULT]
 *
 * Prints "ready" on stdout once it owns the name; runs until killed. */
#define _GNU_SOURCE
#include <systemd/sd-bus.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *record;
static const char *result = "done";
static sd_bus *bus;
static unsigned job_id = 41;

static int
read_property (sd_bus_message *m)
{
  const char *key, *contents;
  char type;
  int r;

  r = sd_bus_message_enter_container (m, 'r', "sv");
  if (r <= 0)
    return r;
  if (sd_bus_message_read (m, "s", &key) < 0
      || sd_bus_message_peek_type (m, &type, &contents) < 0)
    return -1;
  fprintf (record, "property %s=%s:", key, contents);
  if (sd_bus_message_enter_container (m, 'v', contents) < 0)
    return -1;
  if (strcmp (contents, "s") == 0)
    {
      const char *s;
      sd_bus_message_read (m, "s", &s);
      fprintf (record, "%s", s);
    }
  else if (strcmp (contents, "b") == 0)
    {
      int b;
      sd_bus_message_read (m, "b", &b);
      fprintf (record, "%s", b ? "true" : "false");
    }
  else if (strcmp (contents, "au") == 0)
    {
      uint32_t u;
      sd_bus_message_enter_container (m, 'a', "u");
      while (sd_bus_message_read (m, "u", &u) > 0)
        fprintf (record, "%" PRIu32 " ", u);
      sd_bus_message_exit_container (m);
    }
  else
    {
      fprintf (record, "(not shown)");
      sd_bus_message_skip (m, contents);
    }
  fprintf (record, "\n");
  sd_bus_message_exit_container (m);
  sd_bus_message_exit_container (m);
  return 1;
}

static int
start_transient_unit (sd_bus_message *m)
{
  const char *name, *mode;
  char path[64];
  int r;

  if (sd_bus_message_read (m, "ss", &name, &mode) < 0)
    return -1;
  fprintf (record, "StartTransientUnit name=%s mode=%s\n", name, mode);
  if (sd_bus_message_enter_container (m, 'a', "(sv)") < 0)
    return -1;
  while ((r = read_property (m)) > 0)
    ;
  sd_bus_message_exit_container (m);
  if (r < 0 || sd_bus_message_skip (m, "a(sa(sv))") < 0)
    fprintf (record, "malformed\n");
  fflush (record);
  job_id++;
  snprintf (path, sizeof path, "/org/freedesktop/systemd1/job/%u", job_id);
  r = sd_bus_reply_method_return (m, "o", path);
  if (r < 0)
    return r;
  return sd_bus_emit_signal (bus, "/org/freedesktop/systemd1",
                             "org.freedesktop.systemd1.Manager", "JobRemoved",
                             "uoss", job_id, path, name, result);
}

static int
handler (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  const char *iface = sd_bus_message_get_interface (m);
  const char *member = sd_bus_message_get_member (m);

  (void) userdata;
  (void) ret_error;
  if (iface && member
      && strcmp (iface, "org.freedesktop.systemd1.Manager") == 0
      && strcmp (member, "StartTransientUnit") == 0)
    return start_transient_unit (m) < 0 ? -1 : 1;
  if (iface && member && strcmp (iface, "org.freedesktop.DBus.Properties") == 0
      && strcmp (member, "Get") == 0)
    {
      const char *i, *p;
      if (sd_bus_message_read (m, "ss", &i, &p) >= 0
          && strcmp (p, "Version") == 0)
        return sd_bus_reply_method_return (m, "v", "s", "252-fake") < 0 ? -1
                                                                        : 1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  int r;

  if (argc < 3)
    {
      fprintf (stderr, "usage: fake-systemd BUS_ADDRESS RECORD_FILE "
                       "[RESULT]\n");
      return 2;
    }
  if (argc > 3)
    result = argv[3];
  record = fopen (argv[2], "a");
  if (record == NULL)
    return perror (argv[2]), 1;
  if (sd_bus_new (&bus) < 0 || sd_bus_set_address (bus, argv[1]) < 0
      || sd_bus_set_bus_client (bus, 1) < 0 || sd_bus_start (bus) < 0)
    return fprintf (stderr, "fake-systemd: cannot connect to %s\n", argv[1]),
           1;
  if (sd_bus_add_object (bus, NULL, "/org/freedesktop/systemd1", handler,
                         NULL)
          < 0
      || (r = sd_bus_request_name (bus, "org.freedesktop.systemd1", 0)) < 0)
    return fprintf (stderr, "fake-systemd: cannot own the name\n"), 1;
  printf ("ready\n");
  fflush (stdout);
  for (;;)
    {
      r = sd_bus_process (bus, NULL);
      if (r < 0)
        return 1;
      if (r == 0 && sd_bus_wait (bus, (uint64_t) -1) < 0)
        return 1;
    }
}
