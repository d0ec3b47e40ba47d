/* nsbox exec [-i] [-t] [-d] [-u USER] [-e KEY[=VALUE]] [-w DIR] NAME CMD...
 * and nsbox stop [-t SECS] NAME...: the lifecycle of a running sandbox. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/join.h"
#include "cli/profile.h"
#include "cli/run_image.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void
exec_usage (FILE *out)
{
  fputs ("usage: nsbox exec [OPTIONS] NAME|ID CMD [ARGS...]\n"
         "  -i, --interactive     keep stdin open (it always is)\n"
         "  -t, --tty             give the command a terminal\n"
         "  -d, --detach          leave it running in the background\n"
         "  -u, --user USER       root, UID or UID:GID (default: the agent's)\n"
         "  -e, --env KEY[=VALUE] set a variable (KEY alone: the host's value)\n"
         "  -w, --workdir DIR     its working directory in the sandbox\n"
         "See nsbox-exec(1).\n",
         out);
}

static int
do_exec (int argc, char **argv, int *status, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "interactive", no_argument, NULL, 'i' },
          { "tty", no_argument, NULL, 't' },
          { "detach", no_argument, NULL, 'd' },
          { "user", required_argument, NULL, 'u' },
          { "env", required_argument, NULL, 'e' },
          { "workdir", required_argument, NULL, 'w' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  struct sb_join j = { 0 };
  cleanup_strv char **env = NULL;
  size_t n_env = 0;
  struct sb_found f;
  int c, ret;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "+itdu:e:w:h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        break;
      case 't':
        j.terminal = true;
        break;
      case 'd':
        j.detach = true;
        break;
      case 'u':
        j.user = optarg;
        break;
      case 'w':
        if (optarg[0] != '/')
          return nb_error_make (err, 0, "exec: -w %s: give an absolute path",
                                optarg);
        j.cwd = optarg;
        break;
      case 'e':
        {
          cleanup_free char *key = strndup (optarg, strcspn (optarg, "="));
          const char *eq = strchr (optarg, '=');
          if (key == NULL)
            return nb_error_make (err, ENOMEM, "exec");
          if (!sb_valid_env_name (key))
            return nb_error_make (err, 0, "exec: -e %s: not a variable name",
                                  optarg);
          if (sb_env_push (&env, &n_env, key, eq ? eq + 1 : getenv (key))
              < 0)
            return nb_error_make (err, ENOMEM, "exec");
          break;
        }
      case 'h':
        exec_usage (stdout);
        exit (0);
      default:
        return nb_error_make (err, 0,
                              "exec: unknown or incomplete option '%s'",
                              argv[optind - 1]);
      }
  if (argc - optind < 2)
    {
      nb_error_make (err, 0, "exec: expects a sandbox and a command");
      return nb_error_hint (err, "nsbox exec NAME CMD [ARGS...]");
    }
  if (j.terminal && j.detach)
    return nb_error_make (err, 0, "exec: -t and -d do not go together");
  j.argv = argv + optind + 1;
  j.env = env;
  if (sb_sandbox_find (argv[optind], &f, err) < 0)
    return nb_error_wrap (err, "exec %s", argv[optind]);
  if (!sb_join_running (f.run_dir))
    {
      nb_error_make (err, 0, "exec: sandbox %s is not running", f.name);
      nb_error_hint (err, "start it with nsbox run -d, or nsbox run in its "
                          "workspace");
      sb_found_clear (&f);
      return -1;
    }
  ret = sb_join_exec (f.run_dir, f.name, &j, status, err);
  sb_found_clear (&f);
  return ret;
}

int
cmd_exec (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  int status = NB_EXIT_FAILED;

  if (do_exec (argc, argv, &status, &err) < 0)
    return nb_error_report (&err);
  return status;
}

int
cmd_stop (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "time", required_argument, NULL, 't' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  int c, status = 0;
  long timeout = 10;
  char *end;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "t:h", longopts, NULL)) != -1)
    switch (c)
      {
      case 't':
        errno = 0;
        timeout = strtol (optarg, &end, 10);
        if (errno || *end || end == optarg || timeout < 0 || timeout > 86400)
          {
            nb_error_make (&err, 0, "stop: -t %s: expects seconds (0 to "
                                    "86400)",
                           optarg);
            return nb_error_report (&err);
          }
        break;
      case 'h':
        printf ("usage: nsbox stop [-t SECS] NAME|ID...\n"
                "  -t, --time SECS   wait that long after SIGTERM before "
                "SIGKILL (default 10)\n"
                "See nsbox-stop(1).\n");
        return 0;
      default:
        nb_error_make (&err, 0, "stop: unknown or incomplete option '%s'",
                       argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (optind == argc)
    {
      nb_error_make (&err, 0, "stop: expects one or more sandbox names or "
                              "ids");
      return nb_error_report (&err);
    }
  for (int i = optind; i < argc; i++)
    {
      struct sb_found f;
      if (sb_sandbox_find (argv[i], &f, &err) < 0)
        {
          nb_error_wrap (&err, "stop %s", argv[i]);
          status = nb_error_report (&err);
          continue;
        }
      /* A sandbox that is not running is stopped already: said, not an
       * error (docker stop of a stopped container). */
      if (sb_join_running (f.run_dir)
          && rt_container_stop (f.run_dir, (int) timeout, &err) < 0)
        {
          nb_error_wrap (&err, "stop %s", f.name);
          status = nb_error_report (&err);
        }
      else
        {
          cleanup_error nb_error_t e = NULL;
          cleanup_free char *shown = nb_escape (f.name);
          /* Its init is gone: so is its live state (unless a run started
           * it again meanwhile, which delete sees). */
          if (access (f.run_dir, F_OK) == 0)
            rt_container_delete (f.run_dir, false, &e);
          printf ("%s\n", shown ? shown : f.id);
        }
      sb_found_clear (&f);
    }
  return status;
}
