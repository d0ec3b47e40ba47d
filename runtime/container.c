#define _GNU_SOURCE
#include "runtime/runtime.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/holder.h"
#include "runtime/hooks.h"
#include "runtime/base/json.h"
#include "runtime/idmap.h"
#include "runtime/init.h"
#include "runtime/process.h"
#include "runtime/rootfs.h"
#include "runtime/sync.h"
#include "runtime/terminal.h"
#include "runtime/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* clone3 behaves like fork here (no new stack): the child continues in this
 * function with a copy of our memory, already inside the new namespaces, and
 * the pidfd lets us wait without racing a reused pid. */
static pid_t
clone_sandbox (int flags, int *pidfd, int cgroup_fd)
{
  struct clone_args args = {
    .flags = (uint64_t) flags | CLONE_PIDFD
             | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
    .pidfd = (uint64_t) (uintptr_t) pidfd,
    .exit_signal = SIGCHLD,
    .cgroup = (uint64_t) (cgroup_fd >= 0 ? cgroup_fd : 0),
  };
  return (pid_t) syscall (SYS_clone3, &args, sizeof args);
}

static void
kill_and_reap (pid_t pid)
{
  int st;
  kill (pid, SIGKILL);
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
}

/* Say why the kernel refused the sandbox's user namespace (AT_UNSHARE: at
 * the clone; else at the id maps) and what to change, as doctor does. */
static int
userns_hints (int e, bool at_unshare, nb_error_t *err)
{
  struct rt_userns_why why;

  rt_userns_explain (e, at_unshare, &why);
  if (why.cause[0])
    nb_error_hint (err, "refused because %s", why.cause);
  for (int i = 0; i < why.n_hints; i++)
    nb_error_hint (err, "%s", why.hints[i]);
  return -1;
}

static int
clone_error (int e, int flags, nb_error_t *err)
{
  nb_error_make (err, e, "create the sandbox's namespaces");
  /* Inside an nsbox sandbox without --allow-nested, its seccomp profile
   * says ENOSYS to clone3. */
  if ((e == ENOSYS || e == EPERM) && getenv ("NSBOX_SANDBOX"))
    return nb_error_hint (err, "this is inside the nsbox sandbox %s: start "
                               "it with --allow-nested to run sandboxes in "
                               "it",
                          getenv ("NSBOX_SANDBOX"));
  if ((flags & CLONE_NEWUSER)
      && (e == EPERM || e == ENOSPC || e == EACCES || e == EINVAL
          || e == ENOSYS))
    return userns_hints (e, true, err);
  return -1;
}

/* The namespaces the spec names by path (an engine's network namespace, a
 * pod's ipc or pid namespace): this process enters them, so that the
 * container's init is cloned inside -- into a joined pid namespace too,
 * which only children enter.  nsbox itself uses none of them. */
static int
join_namespaces (const struct rt_spec *spec, nb_error_t *err)
{
  /* A user namespace first: it gives the capabilities to join the rest
   * (and to make the container's new ones, which it then owns). */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < spec->n_joins; i++)
      {
        cleanup_close int fd = -1;
        if ((spec->joins[i].flag == CLONE_NEWUSER) != (pass == 0))
          continue;
        fd = open (spec->joins[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns (fd, spec->joins[i].flag) < 0)
          return nb_error_make (err, errno, "join the namespace at %s",
                                spec->joins[i].path);
      }
  return 0;
}

/* DIR/init.sock, listening: init inherits it and answers there. */
static int
make_listener (const char *dir, nb_error_t *err)
{
  struct sockaddr_un addr;
  socklen_t len;
  cleanup_close int dirfd = -1, fd = -1;
  cleanup_free char *path = nb_path_join (dir, "init.sock");

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "state");
  if (rt_state_sock_addr (dir, &addr, &len, &dirfd, err) < 0)
    return -1;
  /* A stale one: a container that stopped without cleaning up. */
  if (unlink (path) < 0 && errno != ENOENT)
    return nb_error_make (err, errno, "remove %s", path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nb_error_make (err, errno, "socket");
  if (bind (fd, (struct sockaddr *) &addr, len) < 0 || listen (fd, 16) < 0)
    return nb_error_make (err, errno, "listen on %s", path);
  return nb_steal_fd (&fd);
}

struct launch
{
  pid_t pid;
  int pidfd, master;
  struct rt_sync_root root; /* init's overlay root and mount namespace */
  nb_error_t child_err; /* what failed inside, as init reported it */
  struct rt_cgroup cg;  /* its own cgroup, when limits were asked */
  struct rt_state_stamp stamp; /* the state.json it wrote */
};

/* A launch that failed after the clone: init goes, and its state with it. */
static int
abandon (pid_t pid, const struct rt_create_opts *o)
{
  kill_and_reap (pid);
  if (o->state_dir)
    rt_state_remove (o->state_dir);
  return -1;
}

/* Init's side of a clone made through the holder (runtime/holder.h). */
struct init_child
{
  const struct rt_spec *spec;
  int parent, child, sigfd;
  const sigset_t *agent_mask;
  const struct rt_seccomp *seccomp;
  const struct rt_init_opts *io;
};

static int
init_child (void *arg)
{
  struct init_child *c = arg;
  close (c->parent);
  if (c->sigfd >= 0)
    close (c->sigfd);
  rt_init_main (c->spec, c->child, c->agent_mask, c->seccomp, c->io);
}

/* Clone the container's init, map its ids, let it set up, and read what it
 * reports until every copy of the sync socket is closed: init's after set-up
 * (and the agent's once it exec'd), or init's READY when it waits to be
 * started. */
static int
launch (const struct rt_spec *spec, const struct rt_create_opts *o,
        const sigset_t *agent_mask, int sigfd, struct launch *l,
        nb_error_t *err)
{
  cleanup_close int parent = -1, child = -1, listen_fd = -1, mnt_ns = -1;
  cleanup_seccomp struct rt_seccomp seccomp = { 0 };
  cleanup_free char *hook_state = NULL;
  struct rt_idmap_job job;
  struct rt_idmap uids[RT_MAX_IDMAPS], gids[RT_MAX_IDMAPS];
  bool mapped = false; /* by rt_holder_clone */
  struct rt_init_opts io = { .listen_fd = -1, .keep_fd = o->keep_fd,
                             .detach = o->detach,
                             .wait_start = o->wait_start,
                             .mnt_ns_fd = -1,
                             .send_root = !o->detach && !o->wait_start };
  int fds[2];

  l->pidfd = l->master = l->root.dir = l->root.mnt_ns = -1;
  memcpy (io.stdio, o->stdio, sizeof io.stdio);
  /* Found (or compiled) here, before any namespace exists: a bad profile
   * is reported before anything started. */
  if (rt_seccomp_prepare (spec->seccomp, &seccomp, err) < 0)
    return -1;
  if (o->state_dir && (listen_fd = make_listener (o->state_dir, err)) < 0)
    return -1;
  io.listen_fd = listen_fd;
  if (rt_sync_pair (fds, err) < 0)
    return -1;
  parent = fds[0];
  child = fds[1];

  /* Whoever may ask init for its namespaces, to start or to signal all:
   * processes of the user namespace nsbox runs in now. */
  {
    struct stat ns;
    if (stat ("/proc/self/ns/user", &ns) < 0)
      return nb_error_make (err, errno, "stat /proc/self/ns/user");
    io.owner_userns_dev = ns.st_dev;
    io.owner_userns_ino = ns.st_ino;
  }
  if (join_namespaces (spec, err) < 0)
    return -1;
  /* Opened here, where the path means what the caller meant; init enters
   * it once its user namespace is set up. */
  if (spec->mnt_join_path)
    {
      mnt_ns = open (spec->mnt_join_path, O_RDONLY | O_CLOEXEC);
      if (mnt_ns < 0)
        return nb_error_make (err, errno, "join the mount namespace at %s",
                              spec->mnt_join_path);
      io.mnt_ns_fd = mnt_ns;
    }
  l->cg.fd = -1;
  if (o->limits && rt_cgroup_any (o->limits)
      && rt_cgroup_create (o->cgroup_name ? o->cgroup_name : "nsbox",
                           o->limits, &l->cg, err)
             < 0)
    {
      if (!o->limits_optional)
        return -1;
      fprintf (stderr, "nsbox: warning: linux.resources not applied: %s\n",
               (*err)->msg ? (*err)->msg : "no cgroup");
      nb_error_free (err);
    }
  l->pid = -1;
  if (o->holder && (spec->clone_flags & CLONE_NEWUSER)
      && rt_holder_translate (o->holder->uid_maps, o->holder->n_uid,
                              spec->uid_maps, spec->n_uid_maps, uids)
      && rt_holder_translate (o->holder->gid_maps, o->holder->n_gid,
                              spec->gid_maps, spec->n_gid_maps, gids))
    {
      cleanup_error nb_error_t herr = NULL;
      /* Inside the holder's namespace nsbox maps the ids itself: no
       * set-uid helper runs.  Should that fail (the holder ended), the
       * way without it says what is wrong, if anything. */
      struct init_child c = { spec, parent, child, sigfd, agent_mask,
                              &seccomp, &io };
      l->pid = rt_holder_clone (o->holder, spec->clone_flags, l->cg.fd, uids,
                                spec->n_uid_maps, gids, spec->n_gid_maps,
                                init_child, &c, &l->pidfd, &herr);
      mapped = l->pid > 0;
    }
  if (l->pid < 0)
    l->pid = clone_sandbox (spec->clone_flags, &l->pidfd, l->cg.fd);
  if (l->pid < 0)
    {
      rt_cgroup_remove (&l->cg);
      return clone_error (errno, spec->clone_flags, err);
    }
  if (l->pid == 0)
    {
      close (parent);
      if (sigfd >= 0)
        close (sigfd);
      rt_init_main (spec, child, agent_mask, &seccomp, &io);
    }
  close (nb_steal_fd (&child));

  if ((spec->clone_flags & CLONE_NEWUSER) && !mapped
      && rt_idmap_begin (l->pid, spec->uid_maps, spec->n_uid_maps,
                         spec->gid_maps, spec->n_gid_maps, &job, err)
             < 0)
    {
      int e = (*err)->errno_val;
      kill_and_reap (l->pid);
      nb_error_wrap (err, "map ids into the sandbox");
      return e == EPERM ? userns_hints (e, false, err) : -1;
    }
  /* Recorded before it goes on: from here a killed nsbox leaves a state
   * whose init is gone, which every command reads as stopped.  Written
   * while newuidmap and newgidmap run (set-uid execs, the dearest part of
   * a start with subordinate ids), not after them. */
  if ((o->state_dir
       && rt_state_write (o->state_dir, o->id, o->bundle, l->pid,
                          json_object_get (spec->json, "annotations"),
                          l->cg.path, &l->stamp, err)
              < 0)
      || (o->pid_file && rt_write_pid_file (o->pid_file, l->pid, err) < 0))
    {
      cleanup_error nb_error_t err2 = NULL;
      /* The id maps' helpers are waited for after init is gone. */
      kill_and_reap (l->pid);
      if ((spec->clone_flags & CLONE_NEWUSER) && !mapped)
        rt_idmap_end (&job, &err2);
      if (o->state_dir)
        rt_state_remove (o->state_dir);
      return -1;
    }
  if ((spec->clone_flags & CLONE_NEWUSER) && !mapped
      && rt_idmap_end (&job, err) < 0)
    {
      nb_error_wrap (err, "map ids into the sandbox");
      return abandon (l->pid, o);
    }
  if (o->net_setup && o->net_setup (l->pid, o->net_arg, err) < 0)
    return abandon (l->pid, o);
  /* LOCK_UN drops the lock of the open file, also init's copy of it. */
  if (o->release_fd >= 0)
    flock (o->release_fd, LOCK_UN);
  /* The namespaces are there, nothing is mounted yet: prestart (the old
   * name) and createRuntime hooks run here, in the runtime's namespaces;
   * one that fails ends the container. */
  if (spec->hooks)
    {
      hook_state = rt_hooks_state (spec->json, o->id, "creating", l->pid,
                                   o->bundle);
      if (hook_state && strlen (hook_state) >= RT_SYNC_TEXT)
        {
          /* Too long to go along with GO: the state without annotations. */
          free (hook_state);
          hook_state = rt_hooks_state (NULL, o->id, "creating", l->pid,
                                       o->bundle);
        }
      if (rt_hooks_run (spec->hooks, "prestart", hook_state, err) < 0
          || rt_hooks_run (spec->hooks, "createRuntime", hook_state, err) < 0)
        {
          return abandon (l->pid, o);
        }
    }
  rt_sync_send (parent, RT_SYNC_GO,
                spec->terminal ? (int) rt_terminal_winsize () : 0,
                hook_state, -1);

  rt_sync_collect (parent, &l->master, &l->child_err, NULL, &l->root);
  /* Started (run): the poststart hooks, whose failure is only said. */
  if (!o->wait_start && l->child_err == NULL
      && rt_hooks_any (spec->hooks, "poststart"))
    {
      cleanup_free char *state = rt_hooks_state (spec->json, o->id, "running",
                                                 l->pid, o->bundle);
      rt_hooks_run_warn (spec->hooks, "poststart", state);
    }
  return 0;
}

/* Let go of ROOT, the last references to a sandbox's mount namespace and
 * overlay root, in a process of its own that nobody waits for.  The
 * namespace's end unmounts every mount in it, and the overlay's end syncs
 * its upper dir's whole filesystem (ovl_sync_fs): on ext4 a journal commit
 * and a disk cache flush.  Together about 2-3 ms that the user would
 * otherwise wait for at the end of every run (in init's exit, then), and
 * that still happen, only not in their way.  Then, when no init holds the
 * workdir (rootfs.h), it removes WORKDIR/work, which the next mount would
 * otherwise have to empty and make again (an exclusive flock it does not
 * wait for: a start then waits for its shared one only as long as the
 * removal takes).
 *
 * The process shares our memory (no page tables copied; it makes only
 * system calls, on a stack of its own, from what was copied to `release`
 * before it started) and first closes every descriptor it was given a copy
 * of but those three, so no pipe or lock of ours outlives us through it.
 * Its failures are not looked at; what it may leave in errno, which it
 * shares with us, is read by nobody: nsbox run and nsbox oci run end after
 * this. */
static struct
{
  int fds[3]; /* the mount namespace, the root, the workdir: closed so */
  char stack[16384] __attribute__ ((aligned (16)));
} release;

static int
release_main (void *arg)
{
  int keep[3], prev = 0;

  (void) arg;
  prctl (PR_SET_NAME, "nsbox-release");
  /* Every descriptor but those three, in ascending order (-1s first). */
  for (int i = 0; i < 3; i++)
    keep[i] = release.fds[i];
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (keep[j] < keep[i])
        {
          int t = keep[i];
          keep[i] = keep[j];
          keep[j] = t;
        }
  for (int i = 0; i < 3; i++)
    if (keep[i] >= 0)
      {
        if (keep[i] > prev)
          syscall (SYS_close_range, (unsigned) prev, (unsigned) keep[i] - 1,
                   0U);
        prev = keep[i] + 1;
      }
  syscall (SYS_close_range, (unsigned) prev, ~0U, 0U);
  /* The namespace first: its end unmounts the sandbox's mounts, the
   * overlay's among them, which the root then still holds. */
  for (int i = 0; i < 2; i++)
    if (release.fds[i] >= 0)
      syscall (SYS_close, release.fds[i]);
  /* Locked only now, after the sync: a start that came meanwhile has not
   * waited for it. */
  if (release.fds[2] >= 0
      && syscall (SYS_flock, release.fds[2], LOCK_EX | LOCK_NB) == 0)
    syscall (SYS_unlinkat, release.fds[2], "work", AT_REMOVEDIR);
  syscall (SYS_exit, 0);
  return 0;
}

static void
release_in_background (struct rt_sync_root *root, const char *workdir)
{
  static bool used; /* one stack: a second release is done here */

  release.fds[0] = root->mnt_ns;
  release.fds[1] = root->dir;
  release.fds[2]
      = workdir ? open (workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (!used
      && clone (release_main, release.stack + sizeof release.stack, CLONE_VM,
                NULL)
             >= 0)
    used = true;
  else
    {
      /* Done here, then. */
      for (int i = 0; i < 2; i++)
        if (release.fds[i] >= 0)
          close (release.fds[i]);
      release.fds[0] = release.fds[1] = -1;
      if (release.fds[2] >= 0
          && flock (release.fds[2], LOCK_EX | LOCK_NB) == 0)
        unlinkat (release.fds[2], "work", AT_REMOVEDIR);
    }
  for (int i = 0; i < 3; i++)
    if (release.fds[i] >= 0)
      close (release.fds[i]);
  root->dir = root->mnt_ns = -1;
}

/* The limit as it was asked (--memory 64m), unless `nsbox update` changed
 * it since: then what the cgroup says now, in the same units. */
static void
oom_report (const struct rt_create_opts *o, const struct rt_cgroup *cg)
{
  cleanup_error nb_error_t e = NULL;
  struct rt_cgroup_stats st;
  char now[32] = "";
  const char *shown = o->memory_shown ? o->memory_shown : "set";

  if (rt_cgroup_stats (cg->path, &st, &e) == 0 && st.memory_max > 0
      && !(o->limits && st.memory_max == o->limits->memory))
    {
      static const char units[] = "gmk";
      int64_t v = st.memory_max;
      int u = 0;
      for (int64_t f = 1024 * 1024 * 1024; f >= 1024; f /= 1024, u++)
        if (v % f == 0)
          break;
      if (u < 3)
        snprintf (now, sizeof now, "%lld%c",
                  (long long) (v >> (10 * (3 - u))), units[u]);
      else
        snprintf (now, sizeof now, "%lld", (long long) v);
      shown = now;
    }
  fprintf (stderr, "nsbox: sandbox %s: killed, out of memory (limit %s)\n",
           o->name ? o->name : o->id ? o->id : "?", shown);
}

int
rt_container_run (const struct rt_spec *spec,
                  const struct rt_create_opts *opts, int *status,
                  nb_error_t *err)
{
  cleanup_close int sigfd = -1;
  struct launch l = { 0 };
  sigset_t orig;
  int wstatus, r;

  sigfd = rt_monitor_signals (&orig, err);
  if (sigfd < 0)
    return -1;
  l.cg.fd = -1;
  if (launch (spec, opts, &orig, sigfd, &l, err) < 0)
    {
      rt_cgroup_remove (&l.cg);
      sigprocmask (SIG_SETMASK, &orig, NULL);
      return -1;
    }
  r = rt_monitor_wait (l.pid, l.pidfd, sigfd, l.child_err ? -1 : l.master,
                       &wstatus, err);
  sigprocmask (SIG_SETMASK, &orig, NULL);
  if (l.master >= 0)
    close (l.master);
  close (l.pidfd);
  if (opts->state_dir)
    rt_state_remove_own (opts->state_dir, &l.stamp);
  if (r == 0 && l.cg.path && rt_cgroup_oom_killed (&l.cg))
    oom_report (opts, &l.cg);
  rt_cgroup_remove (&l.cg);
  /* A run is create, start and delete: poststop ends it. */
  if (rt_hooks_any (spec->hooks, "poststop"))
    {
      cleanup_free char *state = rt_hooks_state (spec->json, opts->id,
                                                 "stopped", l.pid,
                                                 opts->bundle);
      rt_hooks_run_warn (spec->hooks, "poststop", state);
    }
  /* Init is gone: only our references keep its mount namespace and its
   * overlay root now.  Last, as what nsbox does from here does not look at
   * errno (see above). */
  if (l.root.dir >= 0 || l.root.mnt_ns >= 0)
    {
      cleanup_free char *workdir = rt_rootfs_overlay_workdir (spec);
      release_in_background (&l.root, workdir);
    }
  if (r < 0)
    return -1;
  *status = rt_exit_status (wstatus);
  if (l.child_err)
    {
      *err = l.child_err;
      return -1;
    }
  return 0;
}

int
rt_container_create (const struct rt_spec *spec,
                     const struct rt_create_opts *opts, nb_error_t *err)
{
  struct launch l = { 0 };
  sigset_t orig;

  sigprocmask (SIG_SETMASK, NULL, &orig);
  if (spec->terminal && opts->console_socket == NULL)
    return nb_error_make (err, 0, "process.terminal is set but no console "
                                  "socket was given to pass the terminal "
                                  "to");
  l.cg.fd = -1;
  if (launch (spec, opts, &orig, -1, &l, err) < 0)
    {
      rt_cgroup_remove (&l.cg);
      return -1;
    }
  if (l.master >= 0 && l.child_err == NULL
      && rt_console_send (opts->console_socket, l.master, &l.child_err) < 0)
    kill (l.pid, SIGKILL);
  if (l.master >= 0)
    close (l.master);
  if (l.root.dir >= 0)
    close (l.root.dir);
  if (l.root.mnt_ns >= 0)
    close (l.root.mnt_ns);
  close (l.pidfd);
  /* Detached, the cgroup outlives this process: its path is in the state,
   * and stop or delete removes it once the init is gone. */
  if (l.cg.fd >= 0)
    close (nb_steal_fd (&l.cg.fd));
  if (l.child_err)
    {
      int st;
      /* Init exits after its report: reap it, and no state is left. */
      while (waitpid (l.pid, &st, 0) < 0 && errno == EINTR)
        ;
      rt_cgroup_remove (&l.cg);
      if (opts->state_dir)
        rt_state_remove (opts->state_dir);
      *err = l.child_err;
      return -1;
    }
  return 0;
}

/* The hooks of KIND in the bundle ST names (start and delete have no spec
 * of their own): only warnings. */
static void
run_hooks_of_bundle (const struct rt_state *st, const char *kind,
                     const char *status)
{
  cleanup_error nb_error_t e = NULL;
  cleanup_json json_t *config = NULL;
  cleanup_free char *path = NULL, *state = NULL;

  if (st->bundle && st->bundle[0]
      && (path = nb_path_join (st->bundle, "config.json")) != NULL
      && (config = nb_json_load_file (path, &e)) != NULL
      && rt_hooks_any (json_object_get (config, "hooks"), kind))
    {
      state = rt_hooks_state (config, st->id, status, st->pid, st->bundle);
      rt_hooks_run_warn (json_object_get (config, "hooks"), kind, state);
    }
}

int
rt_container_start (const char *state_dir, nb_error_t *err)
{
  struct rt_state st;
  cleanup_close int conn = -1, master = -1;
  cleanup_error nb_error_t child_err = NULL;
  int r = -1;

  if (rt_state_read (state_dir, &st, err) < 0)
    return -1;
  if (st.status != RT_STATUS_CREATED)
    nb_error_make (err, 0, "it is %s, not created",
                   rt_status_name (st.status));
  else if ((conn = rt_state_connect (state_dir, err)) >= 0)
    {
      r = rt_state_request (conn, RT_REQ_START, 0);
      if (r < 0)
        nb_error_make (err, -r, "ask its init to start");
    }
  if (r == 0)
    {
      /* The agent's copy of the socket closes when it execs. */
      rt_sync_collect (conn, &master, &child_err, NULL, NULL);
      if (child_err)
        {
          *err = steal_pointer (&child_err);
          r = -1;
        }
      else
        run_hooks_of_bundle (&st, "poststart", "running");
    }
  rt_state_clear (&st);
  return r;
}

int
rt_container_kill (const char *state_dir, int sig, bool all, nb_error_t *err)
{
  struct rt_state st;
  cleanup_close int pidfd = -1;

  if (rt_state_read (state_dir, &st, err) < 0)
    return -1;
  if (st.status == RT_STATUS_STOPPED)
    {
      rt_state_clear (&st);
      return nb_error_make (err, 0, "it is not running");
    }
  pidfd = rt_state_pidfd (&st, err);
  rt_state_clear (&st);
  if (pidfd < 0)
    return -1;
  if (all)
    {
      cleanup_close int conn = rt_state_connect (state_dir, err);
      struct rt_sync_msg msg;
      if (conn < 0)
        return -1;
      if (rt_state_request (conn, RT_REQ_SIGNAL_ALL, sig) < 0
          || rt_sync_recv (conn, &msg, NULL) <= 0)
        return nb_error_make (err, errno, "signal its processes");
    }
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return nb_error_make (err, errno, "send signal %d", sig);
  return 0;
}

/* Wait up to TIMEOUT_MS (-1: for ever) for the process of PIDFD to end. */
static int
wait_gone (int pidfd, int timeout_ms)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  int r;
  do
    r = poll (&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r > 0;
}

static int
stop_pidfd (int pidfd, int timeout, nb_error_t *err)
{
  if (syscall (SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0
      && errno != ESRCH)
    return nb_error_make (err, errno, "send SIGTERM");
  if (wait_gone (pidfd, timeout * 1000))
    return 0;
  if (syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0
      && errno != ESRCH)
    return nb_error_make (err, errno, "send SIGKILL");
  if (!wait_gone (pidfd, 10000))
    return nb_error_make (err, 0, "it did not end 10 s after SIGKILL");
  return 0;
}

/* A detached container's cgroup, once its init is gone. */
static void
remove_cgroup_of (const struct rt_state *st)
{
  struct rt_cgroup cg = { .fd = -1 };
  if (st->cgroup == NULL)
    return;
  cg.path = strdup (st->cgroup);
  rt_cgroup_remove (&cg);
}

void
rt_container_reap (const char *state_dir)
{
  cleanup_error nb_error_t e = NULL;
  struct rt_state_stamp stamp;
  struct rt_state st;

  /* The file read, stamped first: a start that takes the dir over
   * meanwhile writes another, which stays. */
  if (rt_state_stamp (state_dir, &stamp) < 0)
    return;
  if (rt_state_read (state_dir, &st, &e) < 0)
    return;
  if (st.status == RT_STATUS_STOPPED)
    {
      /* Only an empty cgroup goes: no waiting, the caller is a listing. */
      if (st.cgroup == NULL || rmdir (st.cgroup) == 0 || errno == ENOENT)
        rt_state_remove_own (state_dir, &stamp);
    }
  rt_state_clear (&st);
}

int
rt_container_stop (const char *state_dir, int timeout, nb_error_t *err)
{
  struct rt_state st;
  cleanup_close int pidfd = -1;
  cleanup_error nb_error_t e = NULL;
  int r = 0;

  if (rt_state_read (state_dir, &st, err) < 0)
    return -1;
  if (st.status != RT_STATUS_STOPPED)
    {
      pidfd = rt_state_pidfd (&st, &e);
      if (pidfd >= 0)
        r = stop_pidfd (pidfd, timeout, err);
    }
  if (r == 0)
    remove_cgroup_of (&st);
  rt_state_clear (&st);
  return r;
}

int
rt_container_delete (const char *state_dir, bool force, nb_error_t *err)
{
  struct rt_state st;
  enum rt_status status;

  if (rt_state_read (state_dir, &st, err) < 0)
    return -1;
  status = st.status;
  if (status != RT_STATUS_STOPPED)
    {
      cleanup_error nb_error_t e = NULL;
      cleanup_close int pidfd = -1;
      if (!force)
        {
          rt_state_clear (&st);
          nb_error_make (err, 0, "it is %s", rt_status_name (status));
          return nb_error_hint (err, "stop it first, or delete it with "
                                     "--force");
        }
      pidfd = rt_state_pidfd (&st, &e);
      if (pidfd >= 0 && stop_pidfd (pidfd, 0, err) < 0)
        {
          rt_state_clear (&st);
          return -1;
        }
    }
  remove_cgroup_of (&st);
  /* Its state gone, before delete returns: poststop, whose failure is
   * only said. */
  rt_state_remove (state_dir);
  run_hooks_of_bundle (&st, "poststop", "stopped");
  rt_state_clear (&st);
  return 0;
}
