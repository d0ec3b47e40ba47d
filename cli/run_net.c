#define _GNU_SOURCE
#include "cli/run_net.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *
sb_policy_global_path (void)
{
  const char *xdg = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
  char *path = NULL;

  if (xdg && xdg[0] == '/')
    return asprintf (&path, "%s/nsbox/policy.json", xdg) < 0 ? NULL : path;
  if (home && home[0] == '/')
    return asprintf (&path, "%s/.config/nsbox/policy.json", home) < 0
               ? NULL
               : path;
  return NULL;
}

char *
sb_policy_sandbox_path (const char *sandbox_dir)
{
  return nb_path_join (sandbox_dir, "policy.json");
}

/* The profile's rules, then the flags': a NULL-terminated list that
 * borrows their strings. */
static const char **
rules (json_t *from_profile, char *const *flags, size_t n_flags)
{
  size_t n = json_array_size (from_profile), k = 0, i;
  const char **v = calloc (n + n_flags + 1, sizeof *v);
  json_t *e;

  if (v == NULL)
    return NULL;
  json_array_foreach (from_profile, i, e)
    v[k++] = json_string_value (e);
  for (i = 0; i < n_flags; i++)
    v[k++] = flags[i];
  return v;
}

static json_t *
strv_json (const char *const *v)
{
  json_t *a = json_array ();
  for (; a && v && *v; v++)
    json_array_append_new (a, json_string (*v));
  return a;
}

int
sb_run_plan_network (const struct run_opts *o, const struct sb_profile *prof,
                     const struct sb_sandbox *sb, struct sb_net *net,
                     json_t *options, nb_error_t *err)
{
  const char *mode = o->network ? o->network
                                : prof->network ? prof->network : "none";

  if (sb_net_mode_parse (mode, &net->mode, err) < 0)
    return nb_error_wrap (err, "run");
  net->sandbox = sb->name;
  if (o->n_publish && net->mode != SB_NET_OPEN)
    {
      nb_error_make (err, 0, "run: -p publishes a port of the sandbox's "
                             "own network, and --network %s has none that "
                             "the host can reach",
                     mode);
      return nb_error_hint (err, "add --network open");
    }
  if ((o->n_egress_allow || o->n_egress_deny) && net->mode != SB_NET_FILTERED)
    {
      nb_error_make (err, 0, "run: --egress-allow and --egress-deny are "
                             "rules of the filtered network, not of "
                             "--network %s",
                     mode);
      return nb_error_hint (err, "add --network filtered");
    }
  if (o->host_ports && net->mode != SB_NET_OPEN)
    {
      nb_error_make (err, 0, "run: --allow-host-port reaches the host "
                             "through the sandbox's own network, and "
                             "--network %s has none",
                     mode);
      return nb_error_hint (err, "add --network open");
    }
  net->publish = (const char *const *) o->publish;
  net->host_ports = o->host_ports;
  net->owned_allow = rules (prof->net_allow, o->egress_allow,
                            o->n_egress_allow);
  net->owned_deny = rules (prof->net_deny, o->egress_deny, o->n_egress_deny);
  net->owned[0] = sb_policy_global_path ();
  net->owned[1] = sb_policy_sandbox_path (sb->dir);
  net->owned[2] = nb_path_join (sb->dir, "network.log");
  if (!net->owned_allow || !net->owned_deny || !net->owned[1]
      || !net->owned[2])
    return nb_error_make (err, ENOMEM, "run");
  net->allow = net->owned_allow;
  net->deny = net->owned_deny;
  net->policy_files[0] = net->owned[0] ? net->owned[0] : net->owned[1];
  net->policy_files[1] = net->owned[0] ? net->owned[1] : NULL;
  net->log_path = net->owned[2];
  if (json_object_set_new (
          options, "network",
          json_pack ("{s:s, s:o, s:o, s:o, s:s?}", "mode", mode, "allow",
                     strv_json (net->allow), "deny", strv_json (net->deny),
                     "publish", strv_json (net->publish), "host_ports",
                     net->host_ports))
      < 0)
    return nb_error_make (err, ENOMEM, "run");
  return 0;
}

/* Drop the network namespace from linux.namespaces. */
static void
share_host_network (json_t *config)
{
  json_t *list = json_object_get (json_object_get (config, "linux"),
                                  "namespaces");
  size_t i;
  json_t *ns;

  json_array_foreach (list, i, ns)
  {
    const char *type = json_string_value (json_object_get (ns, "type"));
    if (type && strcmp (type, "network") == 0)
      {
        json_array_remove (list, i);
        return;
      }
  }
}

/* Bind a file made in the sandbox's runtime dir over DEST. */
static int
bind_made_file (json_t *config, const struct sb_sandbox *sb,
                const char *name, const char *dest, const char *text,
                nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (sb->run_dir, name);

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "run");
  if (nb_write_file_atomic (path, text, strlen (text), 0644, 0, err) < 0)
    return -1;
  if (json_array_append_new (
          json_object_get (config, "mounts"),
          json_pack ("{s:s, s:s, s:s, s:[s,s,s,s,s]}", "destination", dest,
                     "type", "bind", "source", path, "options", "rbind", "ro",
                     "nosuid", "nodev", "noexec"))
      < 0)
    return nb_error_make (err, ENOMEM, "run");
  return 0;
}

/* --allow-host-port: pasta forwards those ports of the sandbox's loopback
 * to the host's, so the name is the sandbox's own loopback address. */
static int
bind_hosts (json_t *config, const struct sb_sandbox *sb, nb_error_t *err)
{
  cleanup_free char *text = NULL;

  if (asprintf (&text,
                "127.0.0.1\tlocalhost\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                "127.0.0.1\t%s\n"
                "# nsbox: the host's loopback ports --allow-host-port "
                "names\n"
                "127.0.0.1\thost.nsbox.internal\n",
                sb->name)
      < 0)
    return nb_error_make (err, ENOMEM, "run");
  return bind_made_file (config, sb, "hosts", "/etc/hosts", text, err);
}

int
sb_run_net_spec (json_t *config, struct sb_net *net,
                 const struct sb_sandbox *sb, bool image, nb_error_t *err)
{
  static const char resolv[] = "# nsbox: the DNS forwarder of --network "
                               "open\nnameserver " SB_NET_DNS "\n";
  struct stat st;

  if (net->mode == SB_NET_HOST)
    share_host_network (config);
  if (net->mode != SB_NET_OPEN)
    return 0;
  if (net->host_ports && bind_hosts (config, sb, err) < 0)
    return -1;
  /* An image's own resolv.conf names no server this network has; the
   * host template's is the host's, kept where it is a plain file (a
   * resolver on the host's loopback would not answer in here, so it is
   * replaced too). */
  if (!image && (lstat ("/etc/resolv.conf", &st) < 0 || !S_ISREG (st.st_mode)))
    return 0;
  if (!image)
    {
      cleanup_free char *text = NULL;
      size_t len;
      if (nb_read_file ("/etc/resolv.conf", &text, &len, err) < 0)
        {
          nb_error_free (err);
          return 0;
        }
      if (strstr (text, "nameserver 127.") == NULL)
        return 0;
    }
  return bind_made_file (config, sb, "resolv.conf", "/etc/resolv.conf",
                         resolv, err);
}
