/* The bytes of an established connection, one direction at a time:
 * splice(2) from a socket into a pipe and from the pipe into the other
 * socket, never through user space, after a prefix of bytes the proxy had
 * to send first (a forwarded head, "200 Connection established"). */
#ifndef NB_PROXY_TUNNEL_H
#define NB_PROXY_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct nb_tunnel_dir
{
  int src, dst;
  int pipe[2];
  size_t in_pipe, pipe_cap;
  char *pre; /* sent to dst before the spliced bytes */
  size_t pre_len, pre_off;
  int pre_counts; /* the client's bytes (rewritten head), not ours */
  int eof, shut;
  uint64_t bytes;
};

/* No pipe yet, nothing to send. */
void nb_tunnel_dir_init (struct nb_tunnel_dir *d);
/* Make D's pipe (as big as the kernel allows, up to 1 MiB); 0 or -1. */
int nb_tunnel_open (struct nb_tunnel_dir *d);
/* Move what can move from src to dst until nothing does (the sockets are
 * non-blocking and in an edge-triggered epoll set: the caller calls again
 * on any event of either).  When src has ended and all is sent, dst is
 * shut for writing and D->shut set.  0, or -1 on an error (a reset). */
int nb_tunnel_pump (struct nb_tunnel_dir *d);
/* Close the pipe, free the prefix (not the sockets). */
void nb_tunnel_dir_free (struct nb_tunnel_dir *d);

#endif
