/* nsbox ls [-a] [--json] [-q]: the user's sandboxes (running ones, as
 * docker ps; with -a all). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/runtime.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/file.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ls
{
  json_t *all;
  bool stopped_too; /* -a */
};

/* Its network mode and, while it runs, its published ports as docker ps
 * shows them: "127.0.0.1:8080->8000/tcp" (kept as pasta's
 * "127.0.0.1/8080:8000"). */
static void
add_network (json_t *e, json_t *net)
{
  json_t *ports = json_array (), *p;
  size_t i;

  if (ports == NULL)
    return;
  json_array_foreach (json_object_get (net, "publish"), i, p)
  {
    const char *spec = json_string_value (p);
    const char *slash = spec ? strchr (spec, '/') : NULL;
    const char *colon = slash ? strchr (slash, ':') : NULL;
    if (colon && strcmp (json_string_value (json_object_get (e, "status")),
                         "running")
                     == 0)
      json_array_append_new (ports,
                             json_sprintf ("%.*s:%.*s->%s/tcp",
                                           (int) (slash - spec), spec,
                                           (int) (colon - slash - 1),
                                           slash + 1, colon + 1));
  }
  json_object_set_new (e, "ports", ports);
  json_object_set_new (e, "network",
                       json_string (json_string_value (
                                         json_object_get (net, "mode"))
                                         ?: "none"));
}

/* A sandbox left by a killed nsbox (its init gone, the run lock free):
 * its empty cgroup and its stale state go. */
static void
reap (const char *dir, const char *id)
{
  cleanup_error nb_error_t e = NULL;
  cleanup_free char *path = nb_path_join (dir, ".lock"), *run = NULL,
                    *run_dir = NULL;
  cleanup_close int fd = path ? open (path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
                              : -1;

  /* Exclusive: no run holds the sandbox, nor can one start meanwhile
   * (each takes the lock shared before it makes the cgroup). */
  if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
    return;
  if (nb_runtime_dir (&run, &e) == 0
      && (run_dir = nb_path_join (run, id)) != NULL)
    rt_container_reap (run_dir);
  flock (fd, LOCK_UN);
}

static int
collect (const char *dir, json_t *rec, void *arg)
{
  struct ls *l = arg;
  json_t *image = json_object_get (rec, "image");
  const char *id = json_string_value (json_object_get (rec, "id"));
  bool running = sb_sandbox_running (dir);
  json_t *e;

  /* What a killed nsbox left (DESIGN.md: no stale state after a crash). */
  if (!running && id)
    reap (dir, id);
  if (!running && !l->stopped_too)
    return 0;
  e = json_pack (
      "{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:s}", "id",
      json_object_get (rec, "id"), "name", json_object_get (rec, "name"),
      "workspace", json_object_get (rec, "workspace"), "agent",
      json_object_get (rec, "agent"), "template",
      json_object_get (rec, "template"), "created",
      json_object_get (rec, "created"), "status",
      running ? "running" : "stopped");

  if (e && image)
    json_object_set (e, "image_digest", json_object_get (image, "digest"));
  if (e)
    add_network (e, json_object_get (json_object_get (rec, "options"),
                                     "network"));
  if (e)
    json_array_append_new (l->all, e);
  return 0;
}

static char *
join_ports (json_t *ports)
{
  char *text = NULL;
  size_t len = 0, i;
  json_t *p;
  FILE *f = open_memstream (&text, &len);

  if (f == NULL)
    return NULL;
  json_array_foreach (ports, i, p)
    fprintf (f, "%s%s", i ? ", " : "", json_string_value (p));
  fclose (f);
  return text;
}

static const char *
field (json_t *e, const char *key)
{
  const char *v = json_string_value (json_object_get (e, key));
  return v ? v : "-";
}

int
cmd_ls (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "all", no_argument, NULL, 'a' },
          { "json", no_argument, NULL, 'j' },
          { "quiet", no_argument, NULL, 'q' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_error nb_error_t err = NULL;
  struct ls l = { json_array (), false };
  bool json = false, quiet = false;
  json_t *e;
  size_t i;
  int c;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "aqh", longopts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        l.stopped_too = true;
        break;
      case 'j':
        json = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'h':
        printf ("usage: nsbox ls [-a] [--json] [-q]\nSee nsbox-ls(1).\n");
        json_decref (l.all);
        return 0;
      default:
        json_decref (l.all);
        nb_error_make (&err, 0, "ls: unknown option '%s'", argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (sb_sandbox_each (collect, &l, &err) < 0)
    {
      json_decref (l.all);
      return nb_error_report (&err);
    }
  if (json)
    {
      cleanup_free char *s = json_dumps (l.all, JSON_INDENT (2));
      puts (s ? s : "[]");
    }
  else
    {
      if (!quiet)
        printf ("%-12s %-24s %-8s %-26s %-32s %-8s %-20s %s\n", "ID", "NAME",
                "AGENT", "TEMPLATE", "WORKSPACE", "STATUS", "CREATED",
                "PORTS");
      json_array_foreach (l.all, i, e)
      {
        /* Names and paths come from records on disk: shown escaped. */
        cleanup_free char *id = nb_escape (field (e, "id"));
        cleanup_free char *name = nb_escape (field (e, "name"));
        cleanup_free char *ws = nb_escape (field (e, "workspace"));
        cleanup_free char *tmpl = nb_escape (field (e, "template"));
        cleanup_free char *ports = join_ports (json_object_get (e, "ports"));
        if (quiet)
          printf ("%s\n", name ? name : "?");
        else
          printf ("%-12s %-24s %-8s %-26s %-32s %-8s %-20s %s\n",
                  id ? id : "?", name ? name : "?", field (e, "agent"),
                  tmpl ? tmpl : "?", ws ? ws : "?", field (e, "status"),
                  field (e, "created"), ports ? ports : "");
      }
    }
  json_decref (l.all);
  return 0;
}
