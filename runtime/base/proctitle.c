#define _GNU_SOURCE
#include "runtime/base/proctitle.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The kernel shows /proc/self/cmdline from arg_start to arg_end, on our own
 * stack: fields 48 and 49 of /proc/self/stat.  Overwriting them needs no
 * privilege (PR_SET_MM would need CAP_SYS_RESOURCE). */
void
nb_set_proctitle (const char *name)
{
  char buf[1024], *p, *q;
  unsigned long start = 0, end = 0;
  ssize_t len;
  int fd;

  prctl (PR_SET_NAME, name);
  fd = open ("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  len = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (len <= 0)
    return;
  buf[len] = '\0';
  /* Field 3 on follows the last ')': the name may hold any character. */
  p = strrchr (buf, ')');
  for (int field = 2; p && field < 48; field++)
    p = strchr (p + 1, ' ');
  /* strtoul, not sscanf: in a child just forked (init), every page of
   * code it runs for the first time is a fault, and scanf's are many. */
  if (p == NULL)
    return;
  start = strtoul (p, &q, 10);
  if (q == p || *q != ' ')
    return;
  end = strtoul (q, &p, 10);
  if (p == q || end <= start)
    return;
  memset ((void *) start, 0, end - start);
  snprintf ((char *) start, end - start, "%s", name);
}
