#define _GNU_SOURCE
#include "proxy/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_SIZE (1024 * 1024)

void
nb_tunnel_dir_init (struct nb_tunnel_dir *d)
{
  memset (d, 0, sizeof *d);
  d->src = d->dst = -1;
  d->pipe[0] = d->pipe[1] = -1;
}

void
nb_tunnel_dir_free (struct nb_tunnel_dir *d)
{
  for (int i = 0; i < 2; i++)
    if (d->pipe[i] >= 0)
      close (d->pipe[i]);
  d->pipe[0] = d->pipe[1] = -1;
  free (d->pre);
  d->pre = NULL;
}

int
nb_tunnel_open (struct nb_tunnel_dir *d)
{
  if (pipe2 (d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
    return -1;
  /* Bigger pipes, fewer splice calls: best effort (pipe-max-size and the
   * user's pipe-user-pages-soft cap it). */
  int cap = fcntl (d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
  if (cap < 0)
    cap = fcntl (d->pipe[1], F_GETPIPE_SZ);
  d->pipe_cap = cap > 0 ? (size_t)cap : 65536;
  return 0;
}

int
nb_tunnel_pump (struct nb_tunnel_dir *d)
{
  for (;;)
    {
      int progress = 0;
      if (d->pre_off < d->pre_len)
        {
          ssize_t n = send (d->dst, d->pre + d->pre_off,
                            d->pre_len - d->pre_off, MSG_NOSIGNAL);
          if (n > 0)
            {
              d->pre_off += (size_t)n;
              if (d->pre_counts)
                d->bytes += (uint64_t)n;
              progress = 1;
            }
          else if (errno != EAGAIN && errno != EINTR)
            return -1;
        }
      if (d->pre_off == d->pre_len)
        {
          if (!d->eof && d->in_pipe < d->pipe_cap)
            {
              ssize_t n = splice (d->src, NULL, d->pipe[1], NULL,
                                  d->pipe_cap - d->in_pipe,
                                  SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
              if (n > 0)
                d->in_pipe += (size_t)n, progress = 1;
              else if (n == 0)
                d->eof = 1, progress = 1;
              else if (errno != EAGAIN && errno != EINTR)
                return -1;
            }
          if (d->in_pipe > 0)
            {
              ssize_t n = splice (d->pipe[0], NULL, d->dst, NULL, d->in_pipe,
                                  SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
              if (n > 0)
                {
                  d->in_pipe -= (size_t)n;
                  d->bytes += (uint64_t)n;
                  progress = 1;
                }
              else if (n < 0 && errno != EAGAIN && errno != EINTR)
                return -1;
            }
        }
      if (!progress)
        break;
    }
  if (d->eof && d->in_pipe == 0 && d->pre_off == d->pre_len && !d->shut)
    {
      shutdown (d->dst, SHUT_WR);
      d->shut = 1;
    }
  return 0;
}
