/* nsbox inspect NAME|ID...: what a sandbox is, as JSON -- its identity,
 * template, status, mounts, the names (never the values) of its
 * environment, its id mapping and credentials mode. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
#include "runtime/runtime.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* From the spec of its last start (the runtime dir's config.json): what
 * the sandbox looks like inside. */
static void
add_spec (json_t *out, const char *run_dir)
{
  cleanup_error nb_error_t e = NULL;
  cleanup_free char *path = nb_path_join (run_dir, "config.json");
  cleanup_json json_t *config = path ? nb_json_load_file (path, &e) : NULL;
  json_t *mounts = json_array (), *env = json_array (), *m, *v;
  json_t *process = json_object_get (config, "process");
  json_t *linux_ = json_object_get (config, "linux");
  size_t i;

  json_array_foreach (json_object_get (config, "mounts"), i, m)
  json_array_append_new (
      mounts, json_pack ("{s:O?, s:O?, s:O?, s:O?}", "destination",
                         json_object_get (m, "destination"), "type",
                         json_object_get (m, "type"), "source",
                         json_object_get (m, "source"), "options",
                         json_object_get (m, "options")));
  json_array_foreach (json_object_get (process, "env"), i, v)
  {
    const char *kv = json_string_value (v);
    if (kv)
      json_array_append_new (env, json_stringn (kv, strcspn (kv, "=")));
  }
  json_object_set_new (out, "mounts", mounts);
  json_object_set_new (out, "env", env);
  json_object_set (out, "user", json_object_get (process, "user"));
  json_object_set (out, "args", json_object_get (process, "args"));
  json_object_set_new (
      out, "id_mapping",
      json_pack ("{s:O?, s:O?}", "uid",
                 json_object_get (linux_, "uidMappings"), "gid",
                 json_object_get (linux_, "gidMappings")));
}

static json_t *
describe (const struct sb_found *f)
{
  json_t *rec = f->record, *image = json_object_get (rec, "image");
  json_t *options = json_object_get (rec, "options");
  bool running = sb_sandbox_running (f->dir);
  json_t *out = json_pack (
      "{s:s, s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:s, s:s}", "id", f->id,
      "name", f->name, "agent", json_object_get (rec, "agent"), "workspace",
      json_object_get (rec, "workspace"), "workspace_id",
      json_object_get (rec, "workspace_id"), "template",
      json_object_get (rec, "template"), "created",
      json_object_get (rec, "created"), "status",
      running ? "running" : "stopped", "dir", f->dir);

  if (out == NULL)
    return NULL;
  if (image)
    json_object_set_new (
        out, "image",
        json_pack ("{s:O?, s:O?, s:O?, s:O?}", "ref",
                   json_object_get (image, "ref"), "manifest_digest",
                   json_object_get (image, "digest"), "layer_mapping",
                   json_object_get (image, "mapping"), "labels",
                   json_object_get (json_object_get (image, "config"),
                                    "Labels")));
  json_object_set_new (out, "credentials",
                       json_deep_copy (json_object_get (options, "credentials"))
                           ?: json_string ("sandbox"));
  if (options)
    json_object_set_new (
        out, "options",
        json_pack ("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}",
                   "workspaces", json_object_get (options, "workspaces"),
                   "volumes",
                   json_object_get (options, "volumes"), "allow_nested",
                   json_object_get (options, "allow_nested"), "seccomp",
                   json_object_get (options, "seccomp"), "cap_add",
                   json_object_get (options, "cap_add"), "cap_drop",
                   json_object_get (options, "cap_drop"), "limits",
                   json_object_get (options, "limits")));
  if (running)
    {
      cleanup_error nb_error_t e = NULL;
      struct rt_state st;
      if (rt_state_read (f->run_dir, &st, &e) == 0)
        {
          if (st.status != RT_STATUS_STOPPED)
            json_object_set_new (out, "pid", json_integer (st.pid));
          rt_state_clear (&st);
        }
    }
  add_spec (out, f->run_dir);
  return out;
}

int
cmd_inspect (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_json json_t *all = json_array ();
  char *text;
  int status = 0;

  if (argc > 1 && (strcmp (argv[1], "-h") == 0
                   || strcmp (argv[1], "--help") == 0))
    {
      printf ("usage: nsbox inspect NAME|ID...\nSee nsbox-inspect(1).\n");
      return 0;
    }
  if (argc < 2)
    {
      nb_error_make (&err, 0, "inspect: expects one or more sandbox names "
                              "or ids");
      return nb_error_report (&err);
    }
  for (int i = 1; i < argc; i++)
    {
      struct sb_found f;
      json_t *j;
      if (sb_sandbox_find (argv[i], &f, &err) < 0)
        {
          nb_error_wrap (&err, "inspect %s", argv[i]);
          status = nb_error_report (&err);
          continue;
        }
      j = describe (&f);
      if (j)
        json_array_append_new (all, j);
      sb_found_clear (&f);
    }
  /* As docker inspect: the array of what was found, errors for the rest. */
  text = json_dumps (all, JSON_INDENT (2));
  if (text)
    printf ("%s\n", text);
  free (text);
  return status;
}
