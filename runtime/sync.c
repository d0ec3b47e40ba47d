#define _GNU_SOURCE
#include "runtime/sync.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
rt_sync_pair (int fds[2], nb_error_t *err)
{
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
    return nb_error_make (err, errno, "socketpair");
  return 0;
}

int
rt_sync_send (int sock, int type, int status, const char *text, int fd)
{
  struct rt_sync_msg msg = { .type = type, .status = status };
  struct iovec iov;
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh = { 0 };
  size_t len = 0;

  if (text)
    {
      len = strnlen (text, RT_SYNC_TEXT - 1);
      memcpy (msg.text, text, len);
    }
  iov.iov_base = &msg;
  iov.iov_len = offsetof (struct rt_sync_msg, text) + len + 1;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (fd >= 0)
    {
      struct cmsghdr *c;
      memset (&ctl, 0, sizeof ctl);
      mh.msg_control = ctl.buf;
      mh.msg_controllen = sizeof ctl.buf;
      c = CMSG_FIRSTHDR (&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &fd, sizeof (int));
    }
  for (;;)
    {
      if (sendmsg (sock, &mh, MSG_NOSIGNAL) >= 0)
        return 0;
      if (errno != EINTR)
        return -errno;
    }
}

int
rt_sync_recv (int sock, struct rt_sync_msg *msg, int *fd)
{
  struct iovec iov = { .iov_base = msg, .iov_len = sizeof *msg };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh = { 0 };
  struct cmsghdr *c;
  ssize_t n;

  if (fd)
    *fd = -1;
  memset (msg, 0, sizeof *msg);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.buf;
  mh.msg_controllen = sizeof ctl.buf;
  do
    n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == ECONNRESET ? 0 : -errno;
  if (n == 0)
    return 0;
  msg->text[RT_SYNC_TEXT - 1] = '\0';
  for (c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fd)
      memcpy (fd, CMSG_DATA (c), sizeof (int));
  return 1;
}

void
rt_sync_send_error (int sock, nb_error_t *err)
{
  int status = NB_EXIT_FAILED;
  const char *text = "unknown error";

  if (err && *err)
    {
      if ((*err)->status > 0)
        status = (*err)->status;
      if ((*err)->msg)
        text = (*err)->msg;
    }
  rt_sync_send (sock, RT_SYNC_ERROR, status, text, -1);
}
