/* Why the kernel refuses an unprivileged user namespace, and what to change:
 * one diagnosis for `nsbox doctor` and for a start whose clone fails.  Only
 * read after a failure: nothing here is on the start path. */
#ifndef RT_USERNS_H
#define RT_USERNS_H

#include <stdbool.h>

#define RT_USERNS_MAX_HINTS 4

struct rt_userns_why
{
  /* The cause found on this host, e.g. "user.max_user_namespaces is 0";
   * empty when no knob explains the refusal. */
  char cause[160];
  char hints[RT_USERNS_MAX_HINTS][512];
  int n_hints;
};

/* Explain ERRNUM, which creating a user namespace (AT_UNSHARE) or writing
 * its id maps (!AT_UNSHARE) failed with.  The sysctls are read under
 * /proc/sys, or under $NSBOX_TEST_PROC_SYS when set (the tests' stand-in
 * for knobs a test cannot set on the host). */
void rt_userns_explain (int errnum, bool at_unshare, struct rt_userns_why *why);

#endif
