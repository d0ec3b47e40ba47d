/* nsbox-systemd.so: a delegated cgroup from the systemd user manager, for
 * a host with no cgroup v2 subtree this user may write (DESIGN.md, "cgroups
 * v2", way 2).  Loaded (dlopen) only when limits are asked and no subtree
 * is writable, so that libsystemd is never on a sandbox's start path
 * otherwise. */
#ifndef RT_SYSTEMD_SCOPE_H
#define RT_SYSTEMD_SCOPE_H

#include "runtime/base/error.h"

#define RT_SYSTEMD_PLUGIN "nsbox-systemd.so"

/* Ask the user manager (on $DBUS_SESSION_BUS_ADDRESS, else
 * $XDG_RUNTIME_DIR/bus) for a transient scope UNIT holding this process,
 * with Delegate=yes, and wait for its job: once it returns 0, this process
 * is in the scope's cgroup, which belongs to this user. */
typedef int (*rt_systemd_scope_fn) (const char *unit, nb_error_t *err);
#define RT_SYSTEMD_SCOPE_SYM "nsbox_systemd_scope"
/* Does a user manager answer?  *VERSION: its Version property. */
typedef int (*rt_systemd_probe_fn) (char **version, nb_error_t *err);
#define RT_SYSTEMD_PROBE_SYM "nsbox_systemd_probe"

#endif
