/* nsbox policy allow|deny|rm|ls: the egress rules of filtered sandboxes
 * (nsbox-policy(1)).  Rules live in JSON files -- the user's global one and
 * one per sandbox -- that a running sandbox's proxy re-reads before each
 * decision, so a change applies at once, without a restart. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "cli/run_net.h"
#include "cli/sandbox.h"
#include "proxy/policy.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static void
usage (FILE *out)
{
  fputs ("usage: nsbox policy allow|deny [--sandbox NAME | --global] "
         "PATTERN...\n"
         "       nsbox policy rm [--sandbox NAME | --global] PATTERN...\n"
         "       nsbox policy ls [--sandbox NAME | --global] [--json]\n"
         "Patterns: host.example.com, *.example.com, host:port, an address "
         "or CIDR, * (see nsbox-network(7)).\n"
         "See nsbox-policy(1).\n",
         out);
}

/* The file's rules ({"allow": [...], "deny": [...]}); a missing file has
 * none. */
static json_t *
load_rules (const char *path, nb_error_t *err)
{
  json_t *doc;

  if (access (path, F_OK) < 0 && errno == ENOENT)
    return json_pack ("{s:[], s:[]}", "allow", "deny");
  doc = nb_json_load_file (path, err);
  if (doc == NULL)
    return NULL;
  if (!json_is_object (doc))
    {
      json_decref (doc);
      nb_error_make (err, 0, "%s: not a JSON object", path);
      return NULL;
    }
  for (const char *const *k = (const char *const[]){ "allow", "deny", NULL };
       *k; k++)
    if (!json_is_array (json_object_get (doc, *k)))
      json_object_set_new (doc, *k, json_array ());
  return doc;
}

static ssize_t
find_rule (json_t *list, const char *rule)
{
  size_t i;
  json_t *v;
  json_array_foreach (list, i, v)
  {
    if (json_is_string (v) && strcmp (json_string_value (v), rule) == 0)
      return (ssize_t) i;
  }
  return -1;
}

/* Where the rules of the scope asked go; *SHOWN names it in messages. */
static char *
scope_path (const char *sandbox, bool global, nb_error_t *err)
{
  struct sb_found f = { 0 };
  char *path;

  if (global)
    {
      path = sb_policy_global_path ();
      if (path == NULL)
        nb_error_make (err, 0, "no HOME nor XDG_CONFIG_HOME: nowhere to "
                               "keep the global policy");
      return path;
    }
  if (sb_sandbox_find (sandbox, &f, err) < 0)
    {
      nb_error_wrap (err, "sandbox %s", sandbox);
      return NULL;
    }
  path = sb_policy_sandbox_path (f.dir);
  sb_found_clear (&f);
  return path;
}

/* allow, deny, rm: change the file under its lock, write it atomically. */
static int
edit (const char *verb, const char *path, char **rules, int n,
      nb_error_t *err)
{
  cleanup_free char *dir = strdup (path), *lock = NULL, *text = NULL;
  cleanup_close int lockfd = -1;
  cleanup_json json_t *doc = NULL;
  bool deny = strcmp (verb, "deny") == 0, rm = strcmp (verb, "rm") == 0;

  if (dir == NULL || asprintf (&lock, "%s.lock", path) < 0)
    return nb_error_make (err, ENOMEM, "policy");
  for (int i = 0; i < n && !rm; i++)
    {
      struct nb_rule r;
      if (nb_policy_parse_rule (rules[i], &r, err) < 0)
        return -1;
    }
  if (nb_mkdir_p (dirname (dir), 0700, err) < 0)
    return -1;
  lockfd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lockfd < 0 || flock (lockfd, LOCK_EX) < 0)
    return nb_error_make (err, errno, "lock %s", lock);
  doc = load_rules (path, err);
  if (doc == NULL)
    return -1;
  for (int i = 0; i < n; i++)
    {
      json_t *to = json_object_get (doc, deny ? "deny" : "allow");
      json_t *other = json_object_get (doc, deny ? "allow" : "deny");
      ssize_t at = find_rule (other, rules[i]);
      bool found = false;

      /* A rule is allowed or denied, not both: the newer word wins (deny
       * would win any tie in the proxy). */
      if (at >= 0)
        {
          json_array_remove (other, (size_t) at);
          found = true;
        }
      at = find_rule (to, rules[i]);
      if (rm && at >= 0)
        {
          json_array_remove (to, (size_t) at);
          found = true;
        }
      else if (!rm && at < 0)
        json_array_append_new (to, json_string (rules[i]));
      if (rm && !found)
        return nb_error_make (err, 0, "no rule '%s' in %s", rules[i], path);
    }
  text = json_dumps (doc, JSON_INDENT (2));
  if (text == NULL)
    return nb_error_make (err, ENOMEM, "policy");
  return nb_write_file_atomic (path, text, strlen (text), 0600, 1, err);
}

static void
print_rules (json_t *out, const char *scope, const char *action, json_t *list)
{
  size_t i;
  json_t *v;
  json_array_foreach (list, i, v)
  {
    if (!json_is_string (v))
      continue;
    if (out)
      json_array_append_new (out, json_pack ("{s:s, s:s, s:s}", "scope",
                                             scope, "action", action, "rule",
                                             json_string_value (v)));
    else
      printf ("%-20s %-6s %s\n", scope, action, json_string_value (v));
  }
}

static int
list_file (json_t *out, const char *scope, const char *path, nb_error_t *err)
{
  cleanup_json json_t *doc = load_rules (path, err);
  if (doc == NULL)
    return -1;
  print_rules (out, scope, "allow", json_object_get (doc, "allow"));
  print_rules (out, scope, "deny", json_object_get (doc, "deny"));
  return 0;
}

struct each
{
  json_t *out;
  nb_error_t *err;
};

static int
list_one_sandbox (const char *dir, json_t *record, void *arg)
{
  struct each *e = arg;
  cleanup_free char *path = sb_policy_sandbox_path (dir);
  const char *name = json_string_value (json_object_get (record, "name"));
  json_t *net = json_object_get (json_object_get (record, "options"),
                                 "network");

  if (path == NULL)
    return nb_error_make (e->err, ENOMEM, "policy");
  name = name ? name : dir;
  /* What the sandbox was started with (its profile, --egress-*) first. */
  print_rules (e->out, name, "allow", json_object_get (net, "allow"));
  print_rules (e->out, name, "deny", json_object_get (net, "deny"));
  if (access (path, F_OK) == 0)
    return list_file (e->out, name, path, e->err);
  return 0;
}

static int
list (const char *sandbox, bool global, bool as_json, nb_error_t *err)
{
  cleanup_json json_t *out = as_json ? json_array () : NULL;
  cleanup_free char *gpath = sb_policy_global_path ();
  struct each e = { .out = out, .err = err };

  if (!as_json)
    printf ("%-20s %-6s %s\n", "SCOPE", "ACTION", "RULE");
  if (!sandbox && gpath && list_file (out, "global", gpath, err) < 0)
    return -1;
  if (sandbox)
    {
      struct sb_found f = { 0 };
      int r;
      if (sb_sandbox_find (sandbox, &f, err) < 0)
        return nb_error_wrap (err, "sandbox %s", sandbox);
      r = list_one_sandbox (f.dir, f.record, &e);
      sb_found_clear (&f);
      if (r < 0)
        return -1;
      /* The global rules apply to it too. */
      if (gpath && list_file (out, "global", gpath, err) < 0)
        return -1;
    }
  else if (!global && sb_sandbox_each (list_one_sandbox, &e, err) < 0)
    return -1;
  if (as_json)
    {
      cleanup_free char *text = json_dumps (out, JSON_INDENT (2));
      if (text)
        puts (text);
    }
  return 0;
}

int
cmd_policy (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  static const struct option longopts[]
      = { { "sandbox", required_argument, NULL, 's' },
          { "global", no_argument, NULL, 'g' },
          { "json", no_argument, NULL, 'j' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *verb, *sandbox = NULL;
  cleanup_free char *path = NULL;
  bool global = false, as_json = false;
  int c;

  if (argc < 2 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "--help") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? NB_EXIT_FAILED : 0;
    }
  verb = argv[1];
  if (strcmp (verb, "allow") && strcmp (verb, "deny") && strcmp (verb, "rm")
      && strcmp (verb, "ls"))
    {
      nb_error_make (&err, 0, "policy: unknown command '%s'", verb);
      nb_error_hint (&err, "allow, deny, rm or ls");
      return nb_error_report (&err);
    }
  opterr = 0;
  optind = 2;
  while ((c = getopt_long (argc, argv, "+h", longopts, NULL)) != -1)
    switch (c)
      {
      case 's':
        sandbox = optarg;
        break;
      case 'g':
        global = true;
        break;
      case 'j':
        as_json = true;
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        nb_error_make (&err, 0, "policy %s: unknown or incomplete option "
                                "'%s'",
                       verb, argv[optind - 1]);
        return nb_error_report (&err);
      }
  if (sandbox && global)
    {
      nb_error_make (&err, 0, "policy %s: --sandbox or --global, not both",
                     verb);
      return nb_error_report (&err);
    }
  if (strcmp (verb, "ls") == 0)
    {
      if (optind < argc)
        nb_error_make (&err, 0, "policy ls: takes no patterns");
      else if (list (sandbox, global, as_json, &err) == 0)
        return 0;
      return nb_error_report (&err);
    }
  if (!sandbox && !global)
    {
      nb_error_make (&err, 0, "policy %s: for which sandboxes?", verb);
      nb_error_hint (&err, "say --sandbox NAME (nsbox ls lists them) or "
                           "--global (every filtered sandbox)");
      return nb_error_report (&err);
    }
  if (optind >= argc)
    {
      nb_error_make (&err, 0, "policy %s: no pattern given", verb);
      return nb_error_report (&err);
    }
  path = scope_path (sandbox, global, &err);
  if (path == NULL
      || edit (verb, path, argv + optind, argc - optind, &err) < 0)
    {
      nb_error_wrap (&err, "policy %s", verb);
      return nb_error_report (&err);
    }
  return 0;
}
