/* nsbox oci [GLOBAL OPTIONS] COMMAND ... (and nsbox-oci ...): the command
 * table of the OCI runtime front door, its global options, where the
 * containers' state lives, and errors as the engines read them (--log,
 * --log-format json). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/oci.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct oci_command
{
  const char *name;
  int (*fn) (const struct oci_global *g, int argc, char **argv,
             nb_error_t *err);
  const char *summary;
};

static const struct oci_command oci_commands[] = {
  { "create", oci_create, "create a container from a bundle" },
  { "start", oci_start, "start a created container's process" },
  { "run", oci_run, "create and start a container" },
  { "state", oci_state, "the state of a container, as JSON" },
  { "kill", oci_kill, "send a signal to a container" },
  { "delete", oci_delete, "delete a stopped container" },
  { "exec", oci_exec, "run another process in a running container" },
  { "ps", oci_ps, "the processes of a container" },
  { "list", oci_list, "list the containers" },
  { "spec", oci_spec, "write a default config.json" },
  { "features", oci_features, "what this runtime supports, as JSON" },
  { NULL, NULL, NULL },
};

static void
oci_usage (FILE *out)
{
  fprintf (out, "usage: nsbox oci [--root DIR] [--log FILE] [--log-format "
                "text|json] COMMAND [OPTIONS] ID\n\ncommands:\n");
  for (const struct oci_command *c = oci_commands; c->name; c++)
    fprintf (out, "  %-10s %s\n", c->name, c->summary);
  fprintf (out, "\nSee nsbox-oci(1).\n");
}

/* Root of a user namespace -- rootless podman runs the runtime so -- is a
 * user on the host: its state goes where that user's does. */
static bool
in_user_namespace (void)
{
  char buf[128] = "";
  FILE *f = fopen ("/proc/self/uid_map", "re");
  unsigned long inside, outside, count;
  bool full = false;

  if (f == NULL)
    return false;
  if (fgets (buf, sizeof buf, f)
      && sscanf (buf, "%lu %lu %lu", &inside, &outside, &count) == 3)
    full = inside == 0 && outside == 0 && count == 4294967295UL;
  fclose (f);
  return !full;
}

int
oci_root (const struct oci_global *g, char **out, nb_error_t *err)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR");

  if (g->root)
    *out = strdup (g->root);
  else if (geteuid () == 0 && !in_user_namespace ())
    *out = strdup ("/run/nsbox-oci");
  else if (xdg && xdg[0] == '/' && access (xdg, W_OK) == 0)
    *out = nb_path_join (xdg, "nsbox-oci");
  else if (asprintf (out, "/tmp/nsbox-oci-%u", (unsigned) getuid ()) < 0)
    *out = NULL;
  if (*out == NULL)
    return nb_error_make (err, ENOMEM, "oci");
  if (nb_mkdir_p (*out, 0700, err) < 0)
    return nb_error_wrap (err, "the state root");
  /* In /tmp another user could have made it first, or a symlink there. */
  if (g->root == NULL && strncmp (*out, "/tmp/", 5) == 0)
    {
      struct stat st;
      if (lstat (*out, &st) < 0)
        return nb_error_make (err, errno, "stat %s", *out);
      if (!S_ISDIR (st.st_mode) || st.st_uid != getuid ()
          || (st.st_mode & 077) != 0)
        {
          nb_error_make (err, 0, "state root %s: not a private directory of "
                                 "uid %u (someone else may have created it)",
                         *out, (unsigned) getuid ());
          return nb_error_hint (err, "set XDG_RUNTIME_DIR, or give --root");
        }
    }
  return 0;
}

/* runc's rule for ids: letters, digits and "_+-." , not "." or "..". */
static bool
valid_id (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > 1024 || strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    return false;
  return strspn (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_+-.")
         == n;
}

int
oci_container_dir (const struct oci_global *g, const char *id,
                   bool must_exist, char **out, nb_error_t *err)
{
  cleanup_free char *root = NULL;
  struct stat st;

  if (!valid_id (id))
    {
      cleanup_free char *shown = nb_escape (id);
      return nb_error_make (err, 0, "invalid container id '%s'",
                            shown ? shown : "?");
    }
  if (oci_root (g, &root, err) < 0)
    return -1;
  *out = nb_path_join (root, id);
  if (*out == NULL)
    return nb_error_make (err, ENOMEM, "oci");
  if (must_exist && (lstat (*out, &st) < 0 || !S_ISDIR (st.st_mode)))
    {
      free (*out);
      *out = NULL;
      /* The words engines look for ("does not exist"). */
      return nb_error_make (err, 0, "container %s does not exist", id);
    }
  return 0;
}

/* The error once on stderr, and as the engine asked in --log. */
static int
report (const struct oci_global *g, nb_error_t *err)
{
  if (g->log && *err)
    {
      FILE *f = fopen (g->log, "ae");
      if (f)
        {
          char when[40];
          time_t now = time (NULL);
          struct tm tm;
          gmtime_r (&now, &tm);
          strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
          if (g->log_format && strcmp (g->log_format, "json") == 0)
            {
              json_t *j = json_pack ("{s:s, s:s, s:s}", "level", "error",
                                     "msg", (*err)->msg ? (*err)->msg : "",
                                     "time", when);
              char *text = j ? json_dumps (j, JSON_COMPACT) : NULL;
              if (text)
                fprintf (f, "%s\n", text);
              free (text);
              json_decref (j);
            }
          else
            fprintf (f, "time=\"%s\" level=error msg=\"%s\"\n", when,
                     (*err)->msg ? (*err)->msg : "");
          fclose (f);
        }
    }
  return nb_error_report (err);
}

/* "--opt=value" or "--opt value": the value, and *I past it. */
static const char *
opt_value (int argc, char **argv, int *i, const char *name)
{
  size_t n = strlen (name);
  if (strncmp (argv[*i], name, n) == 0 && argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (strcmp (argv[*i], name) == 0 && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

int
cmd_oci (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  struct oci_global g = { 0 };
  int i, r;

  for (i = 1; i < argc && argv[i][0] == '-'; i++)
    {
      const char *v;
      if ((v = opt_value (argc, argv, &i, "--root")))
        g.root = v;
      else if ((v = opt_value (argc, argv, &i, "--log")))
        g.log = v;
      else if ((v = opt_value (argc, argv, &i, "--log-format")))
        g.log_format = v;
      else if ((v = opt_value (argc, argv, &i, "--rootless"))
               || (v = opt_value (argc, argv, &i, "--criu")))
        ; /* accepted: nsbox works the same rootless or not */
      else if (strcmp (argv[i], "--systemd-cgroup") == 0
               || strcmp (argv[i], "--debug") == 0)
        ; /* cgroupsPath is parsed either way (no cgroups yet) */
      else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          oci_usage (stdout);
          return 0;
        }
      else if (strcmp (argv[i], "--version") == 0 || strcmp (argv[i], "-v") == 0)
        {
          printf ("nsbox-oci version %s\nspec: 1.0.2\n", NSBOX_VERSION);
          return 0;
        }
      else
        {
          nb_error_make (&err, 0, "oci: unknown global option '%s'", argv[i]);
          return report (&g, &err);
        }
    }
  if (g.log_format && strcmp (g.log_format, "text") != 0
      && strcmp (g.log_format, "json") != 0)
    {
      nb_error_make (&err, 0, "oci: --log-format %s: expects text or json",
                     g.log_format);
      return report (&g, &err);
    }
  if (i == argc)
    {
      oci_usage (stderr);
      return NB_EXIT_FAILED;
    }
  for (const struct oci_command *c = oci_commands; c->name; c++)
    if (strcmp (argv[i], c->name) == 0)
      {
        /* Each verb parses its own options with getopt from argv[0]. */
        optind = 0;
        r = c->fn (&g, argc - i, argv + i, &err);
        if (r < 0)
          {
            if (err == NULL)
              nb_error_make (&err, 0, "oci %s failed", c->name);
            return report (&g, &err);
          }
        return r;
      }
  {
    cleanup_free char *shown = nb_escape (argv[i]);
    nb_error_make (&err, 0, "oci: unknown command '%s'", shown ? shown : "?");
  }
  return report (&g, &err);
}
