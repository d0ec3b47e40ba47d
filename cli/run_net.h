/* nsbox run's network plan: the mode and rules asked (flags over the
 * agent's profile), remembered with the sandbox's options, and what they
 * change in its config.json. */
#ifndef SB_RUN_NET_H
#define SB_RUN_NET_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/network.h"
#include "cli/profile.h"
#include "cli/run_opts.h"
#include "cli/sandbox.h"

/* Fill NET from O and PROF for sandbox SB; record it as OPTIONS'
 * "network" (see cli/drift.c). */
int sb_run_plan_network (const struct run_opts *o,
                         const struct sb_profile *prof,
                         const struct sb_sandbox *sb, struct sb_net *net,
                         json_t *options, nb_error_t *err);
/* Adjust the planned config.json: host shares the host's network
 * namespace; open gives an image template a resolv.conf naming the DNS
 * forwarder. */
int sb_run_net_spec (json_t *config, struct sb_net *net,
                     const struct sb_sandbox *sb, bool image,
                     nb_error_t *err);
/* The policy files `nsbox policy` edits: the user's global one
 * ($XDG_CONFIG_HOME/nsbox/policy.json) and a sandbox's (in its dir). */
char *sb_policy_global_path (void);
char *sb_policy_sandbox_path (const char *sandbox_dir);

#endif
