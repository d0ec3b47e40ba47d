/* nsbox update [--memory SIZE] [--memory-swap SIZE] [--cpus N]
 * [--pids-limit N] NAME|ID: new limits for a running sandbox's cgroup, and
 * remembered as its start options (inspect shows them; a later run asking
 * for the same finds no drift). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/limits.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void
usage (FILE *out)
{
  fputs ("usage: nsbox update [OPTIONS] NAME|ID\n"
         "      --memory SIZE       memory (bytes, or with k, m, g)\n"
         "      --memory-swap SIZE  memory and swap together\n"
         "      --cpus N            CPUs (0.5 is half of one)\n"
         "      --pids-limit N      processes\n"
         "See nsbox-update(1).\n",
         out);
}

/* ASKED over what the sandbox runs with (RECORDED), as run would have set
 * it: --memory alone brings as much swap again. */
static int
merge (struct rt_cgroup_limits *asked, const struct rt_cgroup_limits *rec,
       nb_error_t *err)
{
  bool memory = asked->memory >= 0, swap = asked->memory_swap >= 0;

  if (swap && !memory)
    asked->memory = rec->memory;
  if (sb_limits_finish (asked, err) < 0)
    return -1;
  sb_limits_fill (asked, rec);
  if (memory && !swap)
    asked->memory_swap = -1;
  return 0;
}

static int
update (struct sb_found *f, struct rt_cgroup_limits *asked, nb_error_t *err)
{
  json_t *options = json_object_get (f->record, "options");
  struct rt_cgroup_limits rec;
  struct rt_state st;
  int r;

  if (rt_state_read (f->run_dir, &st, err) < 0)
    {
      nb_error_free (err);
      st.status = RT_STATUS_STOPPED;
      st.json = NULL;
    }
  if (st.status == RT_STATUS_STOPPED)
    {
      rt_state_clear (&st);
      nb_error_make (err, 0, "it is not running");
      return nb_error_hint (err, "the limits of a stopped sandbox are what "
                                 "its next run asks for: nsbox run "
                                 "--memory SIZE ... (or the agent "
                                 "profile's)");
    }
  if (st.cgroup == NULL)
    {
      rt_state_clear (&st);
      nb_error_make (err, 0, "it has no cgroup: it was started without "
                             "limits, and a cgroup is made only at start");
      return nb_error_hint (err, "restart it with limits: nsbox run "
                                 "--recreate --memory SIZE ... (its files "
                                 "and volumes are kept)");
    }
  sb_limits_from_json (json_object_get (options, "limits"), &rec);
  r = merge (asked, &rec, err);
  if (r == 0)
    r = rt_cgroup_update (st.cgroup, asked, err);
  rt_state_clear (&st);
  if (r < 0)
    return -1;
  if (!json_is_object (options))
    {
      options = json_object ();
      json_object_set_new (f->record, "options", options);
    }
  json_object_set_new (options, "limits", sb_limits_json (asked));
  return sb_found_save (f, err);
}

int
cmd_update (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "memory", required_argument, NULL, 'm' },
          { "memory-swap", required_argument, NULL, 'S' },
          { "cpus", required_argument, NULL, 'C' },
          { "pids-limit", required_argument, NULL, 'P' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  struct rt_cgroup_limits asked = SB_LIMITS_UNSET;
  bool any = false;
  struct sb_found f;
  int c, idx;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "h", longopts, &idx)) != -1)
    switch (c)
      {
      case 'h':
        usage (stdout);
        return 0;
      case 'm':
      case 'S':
      case 'C':
      case 'P':
        {
          char flag[32];
          snprintf (flag, sizeof flag, "--%s", longopts[idx].name);
          if (sb_limits_flag (flag, optarg, &asked, &err) < 0)
            {
              nb_error_wrap (&err, "update");
              return nb_error_report (&err);
            }
          any = true;
          break;
        }
      default:
        nb_error_make (&err, 0, "update: unknown or incomplete option '%s'",
                       argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (optind + 1 != argc || !any)
    {
      usage (stderr);
      nb_error_make (&err, 0, "update: expects limits to change and one "
                              "sandbox name or id");
      return nb_error_report (&err);
    }
  if (sb_sandbox_find (argv[optind], &f, &err) < 0)
    {
      nb_error_wrap (&err, "update %s", argv[optind]);
      return nb_error_report (&err);
    }
  if (update (&f, &asked, &err) < 0)
    {
      nb_error_wrap (&err, "update %s", f.name);
      sb_found_clear (&f);
      return nb_error_report (&err);
    }
  sb_found_clear (&f);
  return 0;
}
