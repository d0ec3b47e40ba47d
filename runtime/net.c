#define _GNU_SOURCE
#include "runtime/net.h"
#include "runtime/base/cleanup.h"

#include "runtime/sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int
rt_net_loopback_up (nb_error_t *err)
{
  cleanup_close int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;

  if (sock < 0)
    return nb_error_make (err, errno, "bring up lo: socket");
  memset (&ifr, 0, sizeof ifr);
  strcpy (ifr.ifr_name, "lo");
  if (ioctl (sock, SIOCGIFFLAGS, &ifr) < 0)
    return nb_error_make (err, errno, "bring up lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (sock, SIOCSIFFLAGS, &ifr) < 0)
    return nb_error_make (err, errno, "bring up lo");
  return 0;
}

/* The child of rt_net_listen_in: in PID's namespaces, the sockets, sent. */
static __attribute__ ((noreturn)) void
listen_child (int sock, int userns, int netns,
              const struct sockaddr_in *addrs, size_t n)
{
  nb_error_t err = NULL;
  int fds[RT_SYNC_MAX_FDS];
  const int one = 1;

  if (userns >= 0 && setns (userns, CLONE_NEWUSER) < 0)
    {
      nb_error_make (&err, errno, "enter the sandbox's user namespace");
      goto fail;
    }
  if (setns (netns, CLONE_NEWNET) < 0)
    {
      nb_error_make (&err, errno, "enter the sandbox's network namespace");
      goto fail;
    }
  for (size_t i = 0; i < n; i++)
    {
      char shown[INET_ADDRSTRLEN] = "?";
      inet_ntop (AF_INET, &addrs[i].sin_addr, shown, sizeof shown);
      fds[i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fds[i] < 0
          || setsockopt (fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)
                 < 0
          || bind (fds[i], (const struct sockaddr *) &addrs[i],
                   sizeof addrs[i])
                 < 0
          || listen (fds[i], 128) < 0)
        {
          nb_error_make (&err, errno, "listen on %s:%u in the sandbox", shown,
                         (unsigned) ntohs (addrs[i].sin_port));
          goto fail;
        }
    }
  if (rt_sync_send_fds (sock, RT_REPLY_OK, 0, NULL, fds, n) < 0)
    _exit (1);
  _exit (0);
fail:
  rt_sync_send_error (sock, &err);
  _exit (1);
}

/* Open /proc/PID/ns/NAME; -2 when it is this process's own namespace
 * already (setns would refuse it). */
static int
open_ns_of (pid_t pid, const char *name, nb_error_t *err)
{
  char path[64];
  struct stat theirs, ours;
  int fd;

  snprintf (path, sizeof path, "/proc/%d/ns/%s", (int) pid, name);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  snprintf (path, sizeof path, "/proc/self/ns/%s", name);
  if (fstat (fd, &theirs) == 0 && stat (path, &ours) == 0
      && theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev)
    {
      close (fd);
      return -2;
    }
  return fd;
}

int
rt_net_listen_in (pid_t pid, const struct sockaddr_in *addrs, size_t n,
                  int *fds, nb_error_t *err)
{
  cleanup_close int userns = -1, netns = -1, parent = -1, child = -1;
  struct rt_sync_msg msg;
  size_t got = 0;
  int pair[2], st, r;
  pid_t kid;

  if (n > RT_SYNC_MAX_FDS)
    return nb_error_make (err, E2BIG, "listen in the sandbox");
  userns = open_ns_of (pid, "user", err);
  if (userns == -1)
    return -1;
  netns = open_ns_of (pid, "net", err);
  if (netns == -1)
    return -1;
  if (netns == -2)
    return nb_error_make (err, 0, "listen in the sandbox: it shares this "
                                  "process's network namespace");
  if (rt_sync_pair (pair, err) < 0)
    return -1;
  parent = pair[0];
  child = pair[1];
  kid = fork ();
  if (kid < 0)
    return nb_error_make (err, errno, "fork");
  if (kid == 0)
    {
      close (parent);
      listen_child (child, userns, netns, addrs, n);
    }
  close (nb_steal_fd (&child));
  r = rt_sync_recv_fds (parent, &msg, fds, n, &got);
  while (waitpid (kid, &st, 0) < 0 && errno == EINTR)
    ;
  if (r > 0 && msg.type == RT_REPLY_OK && got == n)
    return 0;
  for (size_t i = 0; i < got; i++)
    close (fds[i]);
  if (r > 0 && msg.type == RT_SYNC_ERROR)
    return nb_error_make (err, 0, "%s", msg.text);
  return nb_error_make (err, r < 0 ? -r : 0,
                        "listen in the sandbox: its helper ended early");
}
