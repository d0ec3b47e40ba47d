#define _GNU_SOURCE
#include "runtime/sync.h"
#include "runtime/base/cleanup.h"

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
rt_sync_send_fds (int sock, int type, int status, const char *text,
                  const int *fds, size_t n_fds)
{
  struct rt_sync_msg msg = { .type = type, .status = status };
  struct iovec iov;
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * RT_SYNC_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh = { 0 };
  size_t len = 0;

  if (n_fds > RT_SYNC_MAX_FDS)
    return -EINVAL;
  if (text)
    {
      len = strnlen (text, RT_SYNC_TEXT - 1);
      memcpy (msg.text, text, len);
    }
  iov.iov_base = &msg;
  iov.iov_len = offsetof (struct rt_sync_msg, text) + len + 1;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (n_fds > 0)
    {
      struct cmsghdr *c;
      memset (&ctl, 0, sizeof ctl);
      mh.msg_control = ctl.buf;
      mh.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
      c = CMSG_FIRSTHDR (&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * n_fds);
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
rt_sync_send (int sock, int type, int status, const char *text, int fd)
{
  return rt_sync_send_fds (sock, type, status, text, &fd, fd >= 0 ? 1 : 0);
}

int
rt_sync_recv_fds (int sock, struct rt_sync_msg *msg, int *fds, size_t max,
                  size_t *n_fds)
{
  struct iovec iov = { .iov_base = msg, .iov_len = sizeof *msg };
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * RT_SYNC_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh = { 0 };
  struct cmsghdr *c;
  size_t got = 0;
  ssize_t n;

  memset (msg, 0, sizeof *msg);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.buf;
  mh.msg_controllen = sizeof ctl.buf;
  do
    n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n_fds)
    *n_fds = 0;
  if (n < 0)
    return errno == ECONNRESET ? 0 : -errno;
  if (n == 0)
    return 0;
  msg->text[RT_SYNC_TEXT - 1] = '\0';
  for (c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        size_t k = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
        int got_fds[RT_SYNC_MAX_FDS];
        memcpy (got_fds, CMSG_DATA (c), k * sizeof (int));
        /* What the caller has no room for is not kept open. */
        for (size_t i = 0; i < k; i++)
          if (got < max)
            fds[got++] = got_fds[i];
          else
            close (got_fds[i]);
      }
  if (n_fds)
    *n_fds = got;
  return 1;
}

int
rt_sync_recv (int sock, struct rt_sync_msg *msg, int *fd)
{
  int fds[1];
  size_t n = 0;
  int r = rt_sync_recv_fds (sock, msg, fds, fd ? 1 : 0, &n);
  if (fd)
    *fd = n ? fds[0] : -1;
  return r;
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

void
rt_sync_collect (int sock, int *master, nb_error_t *child_err, pid_t *pid,
                 struct rt_sync_root *root)
{
  for (;;)
    {
      struct rt_sync_msg msg;
      int fds[2] = { -1, -1 };
      size_t n = 0;
      if (rt_sync_recv_fds (sock, &msg, fds, 2, &n) <= 0)
        break;
      if (msg.type == RT_SYNC_PID && pid)
        *pid = (pid_t) msg.status;
      else if (msg.type == RT_SYNC_PTY && fds[0] >= 0)
        {
          if (*master >= 0)
            close (*master);
          *master = nb_steal_fd (&fds[0]);
        }
      else if (msg.type == RT_SYNC_ROOT && root && root->dir < 0)
        {
          root->dir = nb_steal_fd (&fds[0]);
          root->mnt_ns = nb_steal_fd (&fds[1]);
        }
      else if (msg.type == RT_SYNC_ERROR)
        nb_error_set_text (child_err, msg.status, msg.text);
      for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
          close (fds[i]);
    }
}
