/* Parent <-> child messages over a SOCK_SEQPACKET pair: a status and error
 * text (so errors cross the fork boundary as text), optionally with a file
 * descriptor (the pty master). */
#ifndef RT_SYNC_H
#define RT_SYNC_H

#include <stddef.h>
#include <sys/types.h>
#include "runtime/base/error.h"

enum rt_sync_type
{
  RT_SYNC_GO = 1,   /* parent -> child: id maps written, go on */
  RT_SYNC_ERROR,    /* child -> parent: status + message */
  RT_SYNC_PTY,      /* child -> parent: the pty master, as SCM_RIGHTS */
  RT_SYNC_READY,    /* init -> creator: set up, waiting to be started */
  RT_SYNC_PID,      /* exec's joiner -> nsbox: the process's pid (status) */
  RT_SYNC_ROOT,     /* init -> nsbox run: its overlay root and mount
                       namespace, as SCM_RIGHTS (struct rt_sync_root) */
  /* Requests to a live sandbox's init, on its socket (see lifecycle.h): */
  RT_REQ_NS,        /* -> its namespaces' fds; status = which (CLONE_NEW*) */
  RT_REQ_START,     /* start the process; EOF once it exec'd, or an error */
  RT_REQ_SIGNAL_ALL,/* status = the signal for every process in it */
  RT_REPLY_OK,
};

#define RT_SYNC_TEXT 2048
#define RT_SYNC_MAX_FDS 8

struct rt_sync_msg
{
  int type;
  int status;
  char text[RT_SYNC_TEXT];
};

int rt_sync_pair (int fds[2], nb_error_t *err);
/* Send a message (FD >= 0 is passed along).  Returns 0 or -errno. */
int rt_sync_send (int sock, int type, int status, const char *text, int fd);
/* The same with up to RT_SYNC_MAX_FDS descriptors. */
int rt_sync_send_fds (int sock, int type, int status, const char *text,
                      const int *fds, size_t n_fds);
int rt_sync_recv_fds (int sock, struct rt_sync_msg *msg, int *fds,
                      size_t max, size_t *n_fds);
/* Receive one; *fd gets a passed descriptor or -1.  Returns 1 for a message,
 * 0 at EOF (every peer closed its end: e.g. after exec), -errno on error. */
int rt_sync_recv (int sock, struct rt_sync_msg *msg, int *fd);
/* What init hands nsbox run to let go of after it (RT_SYNC_ROOT): its
 * overlay root and its mount namespace; -1 for what did not come. */
struct rt_sync_root
{
  int dir, mnt_ns;
};
/* Read what the other side reports until every copy of SOCK's peer is
 * closed (EOF): a pty master (into *MASTER, the last one kept), an error
 * (into *CHILD_ERR), a pid (into *PID; may be NULL), the root (into *ROOT,
 * whose members the caller set to -1; may be NULL). */
void rt_sync_collect (int sock, int *master, nb_error_t *child_err,
                      pid_t *pid, struct rt_sync_root *root);
/* Send ERR's message and status (125 when it has none). */
void rt_sync_send_error (int sock, nb_error_t *err);

#endif
