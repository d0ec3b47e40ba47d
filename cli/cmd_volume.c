/* nsbox volume ls|rm: the agents' credential volumes
 * ($XDG_DATA_HOME/nsbox/volumes/AGENT-data), shared by every sandbox of an
 * agent and kept when they are removed. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/mapped.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
volumes_dir (char **out, nb_error_t *err)
{
  cleanup_free char *data = NULL;
  if (nb_data_dir (&data, err) < 0)
    return -1;
  *out = nb_path_join (data, "volumes");
  return *out ? 0 : nb_error_make (err, ENOMEM, "volumes");
}

struct users
{
  const char *agent;
  int total, running;
  char *running_name;
};

/* The sandboxes of the volume's agent that keep their state in it. */
static int
count_users (const char *dir, json_t *rec, void *arg)
{
  struct users *u = arg;
  const char *agent = json_string_value (json_object_get (rec, "agent"));
  const char *cred = json_string_value (
      json_object_get (json_object_get (rec, "options"), "credentials"));

  if (agent == NULL || strcmp (agent, u->agent) != 0
      || (cred && strcmp (cred, "sandbox") != 0))
    return 0;
  u->total++;
  if (sb_sandbox_running (dir))
    {
      u->running++;
      if (u->running_name == NULL)
        u->running_name
            = strdup (json_string_value (json_object_get (rec, "name"))
                          ?: "?");
    }
  return 0;
}

static int
agent_of (const char *volume, char *agent, size_t n)
{
  size_t len = strlen (volume);
  if (len <= 5 || strcmp (volume + len - 5, "-data") != 0 || len - 5 >= n)
    return -1;
  memcpy (agent, volume, len - 5);
  agent[len - 5] = '\0';
  return 0;
}

static int
volume_ls (int argc, char **argv, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "json", no_argument, NULL, 'j' },
          { "quiet", no_argument, NULL, 'q' },
          { NULL, 0, NULL, 0 } };
  cleanup_free char *dir = NULL;
  cleanup_json json_t *all = json_array ();
  struct dirent **names = NULL;
  bool json = false, quiet = false;
  int c, n;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "q", longopts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'q':
        quiet = true;
        break;
      default:
        return nb_error_make (err, 0, "volume ls: unknown option '%s'",
                              argv[optind - 1]);
      }
  if (volumes_dir (&dir, err) < 0)
    return -1;
  n = scandir (dir, &names, NULL, alphasort);
  if (n < 0 && errno != ENOENT)
    return nb_error_make (err, errno, "read %s", dir);
  if (!quiet && !json)
    printf ("%-24s %-10s %-8s %s\n", "NAME", "AGENT", "USED BY", "PATH");
  for (int i = 0; i < n; i++)
    {
      char agent[256];
      struct users u = { 0 };
      cleanup_error nb_error_t e = NULL;
      cleanup_free char *path = nb_path_join (dir, names[i]->d_name);
      const char *name = names[i]->d_name;

      if (name[0] != '.' && agent_of (name, agent, sizeof agent) == 0)
        {
          u.agent = agent;
          sb_sandbox_each (count_users, &u, &e);
          if (json)
            json_array_append_new (
                all, json_pack ("{s:s, s:s, s:i, s:i, s:s}", "name", name,
                                "agent", agent, "sandboxes", u.total,
                                "running", u.running, "path",
                                path ? path : ""));
          else if (quiet)
            printf ("%s\n", name);
          else
            printf ("%-24s %-10s %-8d %s\n", name, agent, u.total,
                    path ? path : "");
          free (u.running_name);
        }
      free (names[i]);
    }
  free (names);
  if (json)
    {
      char *text = json_dumps (all, JSON_INDENT (2));
      if (text)
        printf ("%s\n", text);
      free (text);
    }
  return 0;
}

static int
remove_cb (void *arg, nb_error_t *err)
{
  return nb_rm_rf_at (AT_FDCWD, arg, err);
}

static int
volume_rm_one (const char *dir, const char *name, nb_error_t *err)
{
  cleanup_free char *path = NULL;
  char agent[256];
  struct users u = { 0 };
  struct stat st;
  bool keep;

  if (strchr (name, '/') || name[0] == '.'
      || agent_of (name, agent, sizeof agent) < 0
      || (path = nb_path_join (dir, name)) == NULL || lstat (path, &st) < 0
      || !S_ISDIR (st.st_mode))
    return nb_error_make (err, 0, "volume rm %s: no such volume", name);
  u.agent = agent;
  if (sb_sandbox_each (count_users, &u, err) < 0)
    return -1;
  if (u.running)
    {
      nb_error_make (err, 0, "volume rm %s: the running sandbox %s uses it",
                     name, u.running_name);
      free (u.running_name);
      return nb_error_hint (err, "stop it first");
    }
  /* Its files may belong to the image's other ids (subordinate ids). */
  if (sb_call_mapped (remove_cb, path, NULL, &keep, err) < 0)
    return nb_error_wrap (err, "volume rm %s", name);
  printf ("%s\n", name);
  return 0;
}

int
cmd_volume (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *dir = NULL;
  int status = 0;

  if (argc < 2 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "--help") == 0)
    {
      printf ("usage: nsbox volume ls [--json] [-q]\n"
              "       nsbox volume rm NAME...\n"
              "See nsbox-volume(1).\n");
      return argc < 2 ? NB_EXIT_FAILED : 0;
    }
  optind = 0;
  if (strcmp (argv[1], "ls") == 0)
    {
      if (volume_ls (argc - 1, argv + 1, &err) < 0)
        return nb_error_report (&err);
      return 0;
    }
  if (strcmp (argv[1], "rm") != 0)
    {
      nb_error_make (&err, 0, "volume: unknown command '%s'", argv[1]);
      nb_error_hint (&err, "nsbox volume ls, or nsbox volume rm NAME");
      return nb_error_report (&err);
    }
  if (argc < 3)
    {
      nb_error_make (&err, 0, "volume rm: expects one or more volume names");
      return nb_error_report (&err);
    }
  if (volumes_dir (&dir, &err) < 0)
    return nb_error_report (&err);
  for (int i = 2; i < argc; i++)
    if (volume_rm_one (dir, argv[i], &err) < 0)
      status = nb_error_report (&err);
  return status;
}
