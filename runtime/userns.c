#define _GNU_SOURCE
#include "runtime/userns.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A numeric sysctl such as "kernel/unprivileged_userns_clone"; -1 when this
 * kernel has no such knob. */
static long
read_knob (const char *name)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *buf = NULL, *path = NULL;
  const char *root = getenv ("NSBOX_TEST_PROC_SYS");
  char *end;
  long v;

  /* A stand-in dir overrides the knobs it holds; the rest stay real. */
  if (root && *root)
    {
      path = nb_path_join (root, name);
      if (path && nb_read_file (path, &buf, NULL, &err) < 0)
        nb_error_free (&err);
    }
  if (buf == NULL)
    {
      free (path);
      path = nb_path_join ("/proc/sys", name);
      if (path == NULL || nb_read_file (path, &buf, NULL, &err) < 0)
        return -1;
    }
  errno = 0;
  v = strtol (buf, &end, 10);
  if (errno != 0 || end == buf)
    return -1;
  return v;
}

/* Whether a seccomp filter is on this process ("Seccomp: 2"): inherited
 * from a container engine, it is what refuses unshare/clone there. */
static bool
seccomp_filtered (void)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *buf = NULL;
  const char *s;

  if (nb_read_file ("/proc/self/status", &buf, NULL, &err) < 0)
    return false;
  s = strstr (buf, "\nSeccomp:");
  return s && strtol (s + strlen ("\nSeccomp:"), NULL, 10) == 2;
}

static void
hint (struct rt_userns_why *why, const char *fmt, ...)
{
  va_list ap;

  if (why->n_hints >= RT_USERNS_MAX_HINTS)
    return;
  va_start (ap, fmt);
  vsnprintf (why->hints[why->n_hints++], sizeof why->hints[0], fmt, ap);
  va_end (ap);
}

static void
apparmor_hints (struct rt_userns_why *why)
{
  char exe[4096];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);

  if (n <= 0)
    snprintf (exe, sizeof exe, "/usr/local/bin/nsbox");
  else
    exe[n] = '\0';
  hint (why, "allow nsbox user namespaces with an AppArmor profile, as "
             "Ubuntu does for bwrap and podman: 'make install-apparmor' "
             "from nsbox's source, or as root:");
  hint (why,
        "  printf 'abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile "
        "nsbox %s flags=(unconfined) {\\n  userns,\\n}\\n' > "
        "/etc/apparmor.d/nsbox && apparmor_parser -r /etc/apparmor.d/nsbox",
        exe);
  hint (why, "or lift the restriction for every program: sysctl -w "
             "kernel.apparmor_restrict_unprivileged_userns=0");
}

void
rt_userns_explain (int errnum, bool at_unshare, struct rt_userns_why *why)
{
  memset (why, 0, sizeof *why);

  /* Each of these is a knob some distribution sets; the first that is
   * off explains the refusal. */
  if (read_knob ("kernel/unprivileged_userns_clone") == 0)
    {
      snprintf (why->cause, sizeof why->cause,
                "kernel.unprivileged_userns_clone is 0");
      hint (why, "as root: sysctl -w kernel.unprivileged_userns_clone=1 "
                 "(and set it in /etc/sysctl.d/ to keep it)");
    }
  else if (read_knob ("user/max_user_namespaces") == 0)
    {
      snprintf (why->cause, sizeof why->cause, "user.max_user_namespaces is 0");
      hint (why, "as root: sysctl -w user.max_user_namespaces=15000 "
                 "(and set it in /etc/sysctl.d/ to keep it)");
    }
  else if (read_knob ("kernel/apparmor_restrict_unprivileged_userns") == 1)
    {
      /* Ubuntu 24.04 lets unshare succeed but strips the namespace of
       * capabilities, so the id map write is what fails there. */
      snprintf (why->cause, sizeof why->cause,
                "AppArmor restricts unprivileged user namespaces: "
                "kernel.apparmor_restrict_unprivileged_userns is 1");
      apparmor_hints (why);
    }
  else if ((errnum == EPERM || errnum == ENOSYS) && at_unshare
           && seccomp_filtered ())
    {
      snprintf (why->cause, sizeof why->cause,
                "a seccomp filter is on this process (Seccomp: 2 in "
                "/proc/self/status)");
      hint (why, "inside a container, its seccomp profile forbids new user "
                 "namespaces: run nsbox on the host, or give the container "
                 "a profile that allows unshare, clone and clone3 with "
                 "CLONE_NEWUSER (podman/docker: --security-opt "
                 "seccomp=unconfined, or a profile of your own)");
    }
  else if (errnum == ENOSPC)
    hint (why, "the limit of user namespaces is reached "
               "(user.max_user_namespaces, here or in an outer namespace; "
               "or 32 levels of nesting)");
  else if (errnum == EINVAL && at_unshare)
    hint (why, "the kernel is built without CONFIG_USER_NS");
  else if (errnum == EPERM && at_unshare)
    hint (why, "a chroot, or a security module, forbids new user "
               "namespaces: look for a denial in the kernel log");
  else
    hint (why, "look for a security module denial (AppArmor, SELinux) in "
               "the kernel log");
}
