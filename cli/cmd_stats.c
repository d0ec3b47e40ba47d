/* nsbox stats [--json] [--no-stream] [NAME|ID...]: what running sandboxes
 * use -- memory, CPU time, processes -- from their own cgroup, or from
 * /proc for one started without a cgroup (it says so). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/json.h"
#include "runtime/runtime.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
add_running (const char *dir, json_t *rec, void *arg)
{
  json_t *id = json_object_get (rec, "id");
  if (id && sb_sandbox_running (dir))
    json_array_append (arg, id);
  return 0;
}

/* -1 (not there) and "max" are null in JSON. */
static json_t *
number (int64_t v)
{
  return v >= 0 ? json_integer (v) : json_null ();
}

static json_t *
describe (const struct sb_found *f, const struct rt_stats *s)
{
  const struct rt_cgroup_stats *u = &s->usage;
  return json_pack (
      "{s:s, s:s, s:i, s:s?, s:s, s:{s:o, s:o}, s:{s:o}, s:{s:o, s:o}}",
      "name", f->name, "id", f->id, "pid", (int) s->pid, "cgroup", s->cgroup,
      "source", s->cgroup ? "cgroup" : "proc", "memory", "current",
      number (u->memory), "limit", number (u->memory_max), "cpu",
      "usage_usec", number (u->cpu_usec), "pids", "current", number (u->pids),
      "limit", number (u->pids_max));
}

static void
bytes (char *out, size_t n, int64_t v)
{
  static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double d = (double) v;
  int i = 0;

  if (v == RT_CGROUP_STAT_MAX)
    {
      snprintf (out, n, "max");
      return;
    }
  if (v < 0)
    {
      snprintf (out, n, "-");
      return;
    }
  while (d >= 1024 && i < 4)
    d /= 1024, i++;
  snprintf (out, n, i ? "%.1f%s" : "%.0f%s", d, unit[i]);
}

static void
count (char *out, size_t n, int64_t v)
{
  if (v == RT_CGROUP_STAT_MAX)
    snprintf (out, n, "max");
  else if (v < 0)
    snprintf (out, n, "-");
  else
    snprintf (out, n, "%lld", (long long) v);
}

static void
print_row (const char *name, const struct rt_stats *s)
{
  const struct rt_cgroup_stats *u = &s->usage;
  char mem[24], lim[24], pids[24], plim[24], cpu[32];
  cleanup_free char *shown = nb_escape (name);

  bytes (mem, sizeof mem, u->memory);
  bytes (lim, sizeof lim, u->memory_max);
  count (pids, sizeof pids, u->pids);
  count (plim, sizeof plim, u->pids_max);
  if (u->cpu_usec >= 0)
    snprintf (cpu, sizeof cpu, "%.2fs", (double) u->cpu_usec / 1e6);
  else
    snprintf (cpu, sizeof cpu, "-");
  printf ("%-24s %10s / %-10s %10s %6s / %-6s %s\n", shown ? shown : "?", mem,
          lim, cpu, pids, plim,
          s->cgroup ? "cgroup" : "no cgroup (from /proc: RSS, no limits)");
}

/* One snapshot of NAMES (a JSON array of names or ids); errors of named
 * sandboxes are said and make the status 1. */
static int
snapshot (json_t *names, bool json, bool named)
{
  cleanup_json json_t *all = json_array ();
  int status = 0;
  json_t *v;
  size_t i;

  if (!json)
    printf ("%-24s %23s %10s %15s %s\n", "NAME", "MEMORY / LIMIT",
            "CPU TIME", "PIDS / LIMIT", "SOURCE");
  json_array_foreach (names, i, v)
  {
    cleanup_error nb_error_t err = NULL;
    const char *what = json_string_value (v);
    struct rt_stats s;
    struct sb_found f;

    if (sb_sandbox_find (what, &f, &err) < 0)
      {
        nb_error_wrap (&err, "stats %s", what);
        status = nb_error_report (&err);
        continue;
      }
    if (rt_container_stats (f.run_dir, &s, &err) < 0)
      {
        /* Listed as running a moment ago: one that just stopped is left
         * out unless it was asked for by name. */
        if (named)
          {
            nb_error_wrap (&err, "stats %s", f.name);
            status = nb_error_report (&err);
          }
        sb_found_clear (&f);
        continue;
      }
    if (json)
      json_array_append_new (all, describe (&f, &s));
    else
      print_row (f.name, &s);
    rt_stats_clear (&s);
    sb_found_clear (&f);
  }
  if (json)
    {
      cleanup_free char *text = json_dumps (all, JSON_INDENT (2));
      puts (text ? text : "[]");
    }
  fflush (stdout);
  return status;
}

int
cmd_stats (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "json", no_argument, NULL, 'j' },
          { "no-stream", no_argument, NULL, 'n' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  bool json = false, no_stream = false;
  int c;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'n':
        no_stream = true;
        break;
      case 'h':
        printf ("usage: nsbox stats [--json] [--no-stream] [NAME|ID...]\n"
                "      --json       one snapshot, as JSON\n"
                "      --no-stream  one snapshot (the default off a "
                "terminal)\n"
                "See nsbox-stats(1).\n");
        return 0;
      default:
        nb_error_make (&err, 0, "stats: unknown option '%s'",
                       argv[optind - 1]);
        return nb_error_report (&err);
      }
  /* As docker stats: refreshed every second on a terminal until ^C; one
   * snapshot for a pipe, a script or JSON. */
  no_stream = no_stream || json || !isatty (STDOUT_FILENO);
  for (;;)
    {
      cleanup_json json_t *names = json_array ();
      int status;

      for (int i = optind; i < argc; i++)
        json_array_append_new (names, json_string (argv[i]));
      if (optind == argc && sb_sandbox_each (add_running, names, &err) < 0)
        return nb_error_report (&err);
      if (!no_stream)
        fputs ("\033[H\033[J", stdout);
      status = snapshot (names, json, optind < argc);
      if (no_stream)
        return status;
      sleep (1);
    }
}
