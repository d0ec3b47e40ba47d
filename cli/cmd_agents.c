/* nsbox agents [--json]: the agent profiles there are (nsbox-profiles(5)). */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/profile.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agents
{
  json_t *all;
  int bad;
};

static void
collect (const char *name, struct sb_profile *p, nb_error_t err, void *arg)
{
  struct agents *a = arg;

  if (p == NULL)
    {
      /* A malformed profile is said, and the others still listed. */
      fprintf (stderr, "nsbox: %s\n", err && err->msg ? err->msg : name);
      a->bad = 1;
      return;
    }
  json_array_append_new (
      a->all, json_pack ("{s:s, s:s, s:s?, s:s}", "name", name, "template",
                         p->template_name, "description", p->description,
                         "origin", p->origin));
}

int
cmd_agents (int argc, char **argv)
{
  struct agents a = { json_array (), 0 };
  bool json = argc > 1 && strcmp (argv[1], "--json") == 0;
  json_t *e;
  size_t i;

  if (argc > 1 && !json)
    {
      cleanup_error nb_error_t err = NULL;
      json_decref (a.all);
      if (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0)
        {
          printf ("usage: nsbox agents [--json]\nSee nsbox-profiles(5).\n");
          return 0;
        }
      nb_error_make (&err, 0, "agents: unknown option '%s'", argv[1]);
      return nb_error_report (&err);
    }
  sb_profile_each (collect, &a);
  if (json)
    {
      cleanup_free char *s = json_dumps (a.all, JSON_INDENT (2));
      puts (s ? s : "[]");
    }
  else
    {
      printf ("%-12s %-48s %s\n", "NAME", "TEMPLATE", "DESCRIPTION");
      json_array_foreach (a.all, i, e)
      {
        cleanup_free char *t = nb_escape (
            json_string_value (json_object_get (e, "template")));
        cleanup_free char *d = nb_escape (
            json_string_value (json_object_get (e, "description")) ?: "");
        printf ("%-12s %-48s %s\n",
                json_string_value (json_object_get (e, "name")), t ? t : "?",
                d ? d : "");
      }
    }
  json_decref (a.all);
  return a.bad ? NB_EXIT_FAILED : 0;
}
