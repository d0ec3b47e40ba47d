/* nsbox: the command table (like crun's commands[] and git's builtin/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/base/error.h"
#include "runtime/prefault.h"

struct command
{
  const char *name;
  int (*fn) (int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
  { "run", cmd_run, "run an agent in this workspace's sandbox" },
  { "exec", cmd_exec, "run a command in a running sandbox" },
  { "stop", cmd_stop, "stop running sandboxes" },
  { "ls", cmd_ls, "list the sandboxes" },
  { "inspect", cmd_inspect, "what a sandbox is, as JSON" },
  { "stats", cmd_stats, "memory, CPU time and processes of running sandboxes" },
  { "update", cmd_update, "change the limits of a running sandbox" },
  { "agents", cmd_agents, "list the agent profiles" },
  { "rm", cmd_rm, "remove sandboxes and everything they keep" },
  { "prune", cmd_prune, "remove the sandboxes whose workspace is gone" },
  { "volume", cmd_volume, "volume ls|rm: the agents' credential volumes" },
  { "pull", cmd_image, "pull an image from a registry" },
  { "load", cmd_image, "load an image from an archive or OCI layout" },
  { "images", cmd_image, "list the images in the store" },
  { "rmi", cmd_image, "remove an image from the store" },
  { "image", cmd_image, "image prune: remove unused blobs and layers" },
  { "policy", cmd_policy, "policy allow|deny|rm|ls: egress rules" },
  { "network", cmd_network, "network log: the egress proxy's decisions" },
  { "oci", cmd_oci, "the OCI runtime commands (runc's), for engines" },
  { "doctor", cmd_doctor, "check what this host allows" },
  { "unshare", cmd_unshare, "a shell or command in nsbox's user namespace" },
  { "system", cmd_system, "system reset: remove all of nsbox's data" },
  { NULL, NULL, NULL },
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: nsbox COMMAND [OPTIONS] [ARGS...]\n\ncommands:\n");
  for (const struct command *c = commands; c->name; c++)
    fprintf (out, "  %-10s %s\n", c->name, c->summary);
  fprintf (out, "\nSee nsbox(1) and nsbox-COMMAND(1).\n");
}

int
main (int argc, char **argv)
{
  const char *self = strrchr (argv[0], '/');

  /* Installed as nsbox-oci (a symlink), nsbox is an OCI runtime. */
  if (strcmp (self ? self + 1 : argv[0], "nsbox-oci") == 0)
    return cmd_oci (argc, argv);
  if (argc < 2)
    {
      usage (stderr);
      return NB_EXIT_FAILED;
    }
  if (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0
      || strcmp (argv[1], "help") == 0)
    {
      usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0 || strcmp (argv[1], "version") == 0)
    {
      printf ("nsbox %s\n", NSBOX_VERSION);
      return 0;
    }
  /* What a warm start will touch anyway, mapped in two calls rather than
   * page by page (runtime/prefault.h): about 60 traps fewer. */
  rt_prefault_heap (256 << 10);
  rt_prefault_stack (64 << 10);
  for (const struct command *c = commands; c->name; c++)
    if (strcmp (argv[1], c->name) == 0)
      return c->fn (argc - 1, argv + 1);
  {
    char *shown = nb_escape (argv[1]);
    fprintf (stderr, "nsbox: unknown command '%s'\n", shown ? shown : "?");
    free (shown);
  }
  usage (stderr);
  return NB_EXIT_FAILED;
}
