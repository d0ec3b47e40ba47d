/* A live container's record: $STATE_DIR/state.json (the init's pid and
 * start time, the bundle, when it was made) and $STATE_DIR/init.sock, where
 * its init answers.  Its status is derived from the init process itself --
 * alive, the same process (start time), waiting to be started or not --
 * never trusted from the file alone (DESIGN.md, "The executor"). */
#ifndef RT_STATE_H
#define RT_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include "runtime/base/error.h"

enum rt_status
{
  RT_STATUS_STOPPED,
  RT_STATUS_CREATED, /* set up; its process waits for start */
  RT_STATUS_RUNNING,
};

/* The init's name (/proc/PID/comm) says which of the two it is in. */
#define RT_INIT_NAME_CREATED "nsbox-created"
#define RT_INIT_NAME_RUNNING "nsbox-init"

struct rt_state
{
  json_t *json;
  const char *id, *bundle, *created;
  const char *cgroup; /* its own cgroup's directory, or NULL */
  pid_t pid;
  unsigned long long start_time;
  enum rt_status status;
};

/* Read /proc/PID/stat: the start time (clock ticks after boot), the name
 * and the state letter.  Returns -1 (errno set) when there is no such
 * process. */
int rt_proc_stat (pid_t pid, unsigned long long *start, char *comm,
                  size_t comm_size, char *state);
/* Which file a start wrote as its state.json (see rt_state_remove_own). */
struct rt_state_stamp
{
  dev_t dev;
  ino_t ino;
  struct timespec ctime;
};

/* Write DIR/state.json for the init PID; STAMP (may be NULL) says which
 * file it is. */
int rt_state_write (const char *dir, const char *id, const char *bundle,
                    pid_t pid, json_t *annotations, const char *cgroup,
                    struct rt_state_stamp *stamp, nb_error_t *err);
/* Read DIR/state.json and derive the status.  A missing record is ENOENT
 * in ERR's errno-style message "no such container". */
int rt_state_read (const char *dir, struct rt_state *st, nb_error_t *err);
void rt_state_clear (struct rt_state *st);
const char *rt_status_name (enum rt_status status);
/* A pidfd for the state's init, checked to be that very process (not a
 * later one with its pid); < 0 with ERR when it no longer runs. */
int rt_state_pidfd (const struct rt_state *st, nb_error_t *err);
/* The address of DIR/init.sock; a long DIR goes through /proc/self/fd,
 * with *DIRFD (to close after use) holding it open. */
int rt_state_sock_addr (const char *dir, struct sockaddr_un *addr,
                        socklen_t *len, int *dirfd, nb_error_t *err);
/* Connect to DIR's init; ERR says it does not answer. */
int rt_state_connect (const char *dir, nb_error_t *err);
/* Send init a request (RT_REQ_*) on CONN, with this process's user
 * namespace as its credential (see init.c's serve).  0 or -errno. */
int rt_state_request (int conn, int type, int status);
/* Write PID to PATH (an engine's --pid-file), atomically. */
int rt_write_pid_file (const char *path, pid_t pid, nb_error_t *err);
/* Remove state.json and init.sock from DIR (not DIR itself). */
void rt_state_remove (const char *dir);
/* Which file DIR/state.json is now; -1 when there is none. */
int rt_state_stamp (const char *dir, struct rt_state_stamp *stamp);
/* The same only while state.json is still the file STAMP names: not a
 * later container's that took the dir over meanwhile. */
void rt_state_remove_own (const char *dir, const struct rt_state_stamp *stamp);

#endif
