/* nsbox network log [NAME] [--json] [-f]: what the egress proxy of
 * filtered sandboxes decided (nsbox-network(7) has the log's fields). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static void
usage (FILE *out)
{
  fputs ("usage: nsbox network log [NAME] [--json] [-f]\n"
         "  NAME          one sandbox (default: every sandbox's log)\n"
         "      --json    the log's own JSON lines\n"
         "  -f, --follow  keep printing new entries (needs NAME)\n"
         "See nsbox-network(7).\n",
         out);
}

static const char *
str (json_t *o, const char *k, const char *dflt)
{
  const char *v = json_string_value (json_object_get (o, k));
  return v ? v : dflt;
}

/* One line of the log, as a row (or as it is with --json). */
static void
show (const char *line, size_t len, bool as_json)
{
  json_error_t jerr;
  cleanup_json json_t *e = NULL;
  const char *event;
  char target[300];

  if (as_json)
    {
      fwrite (line, 1, len, stdout);
      fputc ('\n', stdout);
      return;
    }
  e = json_loadb (line, len, 0, &jerr);
  if (e == NULL)
    return;
  event = str (e, "event", "decision");
  snprintf (target, sizeof target, "%s:%lld", str (e, "host", "-"),
            (long long) json_integer_value (json_object_get (e, "port")));
  if (strcmp (event, "close") == 0)
    printf ("%-24s %-16s %-6s %-7s %-40s up %lld down %lld\n",
            str (e, "time", "-"), str (e, "sandbox", "-"), "close",
            str (e, "proto", "-"), target,
            (long long) json_integer_value (json_object_get (e, "bytes_up")),
            (long long) json_integer_value (
                json_object_get (e, "bytes_down")));
  else if (strcmp (event, "error") == 0)
    printf ("%-24s %-16s %-6s %s\n", str (e, "time", "-"),
            str (e, "sandbox", "-"), "error", str (e, "error", "-"));
  else
    printf ("%-24s %-16s %-6s %-7s %-40s %s%s%s\n", str (e, "time", "-"),
            str (e, "sandbox", "-"), str (e, "decision", "-"),
            str (e, "proto", "-"), target, str (e, "rule", "-"),
            json_object_get (e, "error") ? ": " : "",
            str (e, "error", ""));
}

/* Print the complete lines of FD from *OFF on; *OFF moves past them (a
 * line still being written waits for the next call). */
static void
print_from (int fd, off_t *off, bool as_json)
{
  char buf[65536];
  size_t have = 0;
  ssize_t r;

  while ((r = pread (fd, buf + have, sizeof buf - have, *off + (off_t) have))
         > 0)
    {
      size_t start = 0;
      have += (size_t) r;
      for (size_t i = 0; i < have; i++)
        if (buf[i] == '\n')
          {
            show (buf + start, i - start, as_json);
            start = i + 1;
          }
      if (start == 0 && have == sizeof buf)
        start = have; /* a line longer than any entry: skipped */
      *off += (off_t) start;
      memmove (buf, buf + start, have - start);
      have -= start;
    }
  fflush (stdout);
}

static int
print_log (const char *dir, bool as_json, bool follow, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (dir, "network.log");
  cleanup_close int fd = -1, in = -1;
  off_t off = 0;

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "network log");
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno != ENOENT)
    return nb_error_make (err, errno, "open %s", path);
  if (fd >= 0)
    print_from (fd, &off, as_json);
  if (!follow)
    return 0;
  /* Until interrupted: each change of the log (or its creation). */
  in = inotify_init1 (IN_CLOEXEC);
  if (in < 0 || inotify_add_watch (in, dir, IN_MODIFY | IN_CREATE) < 0)
    return nb_error_make (err, errno, "watch %s", dir);
  for (;;)
    {
      char ev[4096];
      struct pollfd p = { .fd = in, .events = POLLIN };
      if (poll (&p, 1, 1000) < 0 && errno != EINTR)
        return nb_error_make (err, errno, "poll");
      if (p.revents && read (in, ev, sizeof ev) < 0 && errno != EINTR)
        return nb_error_make (err, errno, "read inotify");
      if (fd < 0)
        fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd >= 0)
        print_from (fd, &off, as_json);
    }
}

struct each
{
  bool as_json;
  nb_error_t *err;
};

static int
log_of (const char *dir, json_t *record, void *arg)
{
  struct each *e = arg;
  (void) record;
  return print_log (dir, e->as_json, false, e->err);
}

int
cmd_network (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  static const struct option longopts[]
      = { { "json", no_argument, NULL, 'j' },
          { "follow", no_argument, NULL, 'f' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  bool as_json = false, follow = false;
  int c, r;

  if (argc < 2 || strcmp (argv[1], "log") != 0)
    {
      if (argc >= 2
          && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0))
        {
          usage (stdout);
          return 0;
        }
      usage (stderr);
      return NB_EXIT_FAILED;
    }
  opterr = 0;
  optind = 2;
  while ((c = getopt_long (argc, argv, "fh", longopts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        as_json = true;
        break;
      case 'f':
        follow = true;
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        nb_error_make (&err, 0, "network log: unknown option '%s'",
                       argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (argc - optind > 1)
    {
      nb_error_make (&err, 0, "network log: one sandbox at most");
      return nb_error_report (&err);
    }
  if (follow && optind == argc)
    {
      nb_error_make (&err, 0, "network log -f: follows one sandbox: name it");
      return nb_error_report (&err);
    }
  if (!as_json)
    printf ("%-24s %-16s %-6s %-7s %-40s %s\n", "TIME", "SANDBOX",
            "ACTION", "PROTO", "HOST:PORT", "RULE");
  if (optind < argc)
    {
      struct sb_found f = { 0 };
      if (sb_sandbox_find (argv[optind], &f, &err) < 0)
        {
          nb_error_wrap (&err, "network log %s", argv[optind]);
          return nb_error_report (&err);
        }
      r = print_log (f.dir, as_json, follow, &err);
      sb_found_clear (&f);
    }
  else
    {
      struct each e = { .as_json = as_json, .err = &err };
      r = sb_sandbox_each (log_of, &e, &err);
    }
  if (r < 0)
    return nb_error_report (&err);
  return 0;
}
