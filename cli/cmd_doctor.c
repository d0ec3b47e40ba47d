/* nsbox doctor: what this host allows.  Where it can, each check tries the
 * real thing in a throwaway child (a user namespace, an overlay mount) rather
 * than guessing from sysctls: distributions and LSMs restrict these in ways
 * no single knob shows.  The knobs are read afterwards, to explain a failure
 * and say how to fix it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <linux/magic.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/mapped.h"
#include "runtime/cgroup.h"
#include "runtime/userns.h"
#include "cli/subid.h"
#include "runtime/base/cleanup.h"
#include "runtime/holder.h"
#include "runtime/base/error.h"
#include "runtime/base/fs.h"

enum doc_status
{
  DOC_OK,
  DOC_WARN,
  DOC_FAIL,
};

static const char *const status_names[] = { "ok", "warn", "fail" };

struct doc_result
{
  const char *check;
  enum doc_status status;
  char *detail;
  char *hint; /* NULL when there is nothing to do; '\n' between lines */
};

static void result_set (struct doc_result *r, enum doc_status status,
                        const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
result_set (struct doc_result *r, enum doc_status status, const char *fmt, ...)
{
  va_list ap;

  r->status = status;
  free (r->detail);
  va_start (ap, fmt);
  if (vasprintf (&r->detail, fmt, ap) < 0)
    r->detail = NULL;
  va_end (ap);
}

/* Append one line of advice. */
static void result_hint (struct doc_result *r, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static void
result_hint (struct doc_result *r, const char *fmt, ...)
{
  va_list ap;
  char *line = NULL, *joined = NULL;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&line, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  if (r->hint == NULL)
    {
      r->hint = line;
      return;
    }
  if (asprintf (&joined, "%s\n%s", r->hint, line) >= 0)
    {
      free (r->hint);
      r->hint = joined;
    }
  free (line);
}

/* --- probes: a forked child tries something and reports how far it got ---
 */

struct probe_report
{
  int errnum;     /* 0 when every step worked */
  char step[160]; /* the step that failed */
};

static int
probe_fail (struct probe_report *rep, const char *step)
{
  rep->errnum = errno ? errno : EIO;
  snprintf (rep->step, sizeof rep->step, "%s", step);
  return -1;
}

static int
write_proc_self (const char *file, const char *data)
{
  char path[64];
  cleanup_close int fd = -1;
  size_t len = strlen (data);

  snprintf (path, sizeof path, "/proc/self/%s", file);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  errno = 0;
  if (write (fd, data, len) != (ssize_t)len)
    {
      if (errno == 0)
        errno = EIO;
      return -1;
    }
  return 0;
}

/* Enter a new user namespace (plus EXTRA namespaces) and map our own uid and
 * gid onto themselves, as an unprivileged user can without newuidmap. */
static int
probe_enter_userns (int extra, uid_t uid, gid_t gid, struct probe_report *rep)
{
  char map[64];

  if (unshare (CLONE_NEWUSER | extra) < 0)
    return probe_fail (rep, extra & CLONE_NEWNS
                                ? "unshare(CLONE_NEWUSER|CLONE_NEWNS)"
                                : "unshare(CLONE_NEWUSER)");
  /* An unprivileged gid_map write is refused unless setgroups is denied
   * first; the file only exists since Linux 3.19. */
  if (write_proc_self ("setgroups", "deny") < 0 && errno != ENOENT)
    return probe_fail (rep, "write /proc/self/setgroups");
  snprintf (map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
  if (write_proc_self ("uid_map", map) < 0)
    return probe_fail (rep, "write /proc/self/uid_map");
  snprintf (map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
  if (write_proc_self ("gid_map", map) < 0)
    return probe_fail (rep, "write /proc/self/gid_map");
  return 0;
}

typedef void (*probe_fn) (void *arg, struct probe_report *rep);

/* Run FN in a forked child, so that the namespaces it enters and the mounts
 * it makes die with it and never touch nsbox's own process. */
static void
run_probe (probe_fn fn, void *arg, struct probe_report *rep)
{
  int fds[2];
  pid_t pid;
  ssize_t n;
  int wstatus = 0;

  memset (rep, 0, sizeof *rep);
  if (pipe2 (fds, O_CLOEXEC) < 0)
    {
      probe_fail (rep, "pipe");
      return;
    }
  fflush (NULL);
  pid = fork ();
  if (pid < 0)
    {
      probe_fail (rep, "fork");
      close (fds[0]);
      close (fds[1]);
      return;
    }
  if (pid == 0)
    {
      struct probe_report r;

      memset (&r, 0, sizeof r);
      close (fds[0]);
      errno = 0;
      fn (arg, &r);
      if (write (fds[1], &r, sizeof r) != (ssize_t)sizeof r)
        _exit (2);
      _exit (0);
    }
  close (fds[1]);
  do
    n = read (fds[0], rep, sizeof *rep);
  while (n < 0 && errno == EINTR);
  close (fds[0]);
  while (waitpid (pid, &wstatus, 0) < 0 && errno == EINTR)
    ;
  if (n != (ssize_t)sizeof *rep)
    {
      memset (rep, 0, sizeof *rep);
      rep->errnum = EIO;
      if (WIFSIGNALED (wstatus))
        snprintf (rep->step, sizeof rep->step,
                  "probe process killed by signal %d", WTERMSIG (wstatus));
      else
        snprintf (rep->step, sizeof rep->step,
                  "probe process exited without a report");
    }
}

/* --- 1. unprivileged user namespaces --- */

struct userns_probe
{
  uid_t uid;
  gid_t gid;
};

static void
userns_probe (void *arg, struct probe_report *rep)
{
  struct userns_probe *p = arg;
  probe_enter_userns (0, p->uid, p->gid, rep);
}

static void
check_userns (struct doc_result *r)
{
  struct userns_probe p = { getuid (), getgid () };
  struct probe_report rep;
  struct rt_userns_why why;

  run_probe (userns_probe, &p, &rep);
  if (rep.errnum == 0)
    {
      result_set (r, DOC_OK, "created a user namespace and mapped uid %u in it",
                  (unsigned)p.uid);
      return;
    }

  /* The same explanation a failing `nsbox run` gives. */
  rt_userns_explain (rep.errnum, strstr (rep.step, "unshare") != NULL, &why);
  if (why.cause[0])
    result_set (r, DOC_FAIL, "%s: %s (%s)", rep.step, strerror (rep.errnum),
                why.cause);
  else
    result_set (r, DOC_FAIL, "%s: %s", rep.step, strerror (rep.errnum));
  for (int i = 0; i < why.n_hints; i++)
    result_hint (r, "%s", why.hints[i]);
}

/* --- 2. overlay in a user namespace --- */

struct overlay_probe
{
  const char *dir; /* holds lower/ upper/ work/ merged/ */
  uid_t uid;
  gid_t gid;
};

static void
overlay_probe (void *arg, struct probe_report *rep)
{
  struct overlay_probe *p = arg;
  cleanup_close int fd = -1;

  if (probe_enter_userns (CLONE_NEWNS, p->uid, p->gid, rep) < 0)
    return;
  /* Keep the test mount from propagating back to the host's namespace. */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    {
      probe_fail (rep, "make / rprivate");
      return;
    }
  /* Relative option paths resolve against the cwd: no escaping of ',' or
   * ':' in $XDG_RUNTIME_DIR, no page-size limit on the options. */
  if (chdir (p->dir) < 0)
    {
      probe_fail (rep, "chdir to the probe directory");
      return;
    }
  if (mount ("overlay", "merged", "overlay", 0,
             "lowerdir=lower,upperdir=upper,workdir=work,userxattr")
      < 0)
    {
      probe_fail (rep, "mount overlay (lowerdir,upperdir,workdir,userxattr)");
      return;
    }
  /* A sandbox writes to image files (copy-up) and deletes them (a whiteout
   * device in the upper dir): both must work, not just the mount. */
  fd = open ("merged/copy-up", O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 || write (fd, "x", 1) != 1)
    {
      probe_fail (rep, "write a lower file through the overlay (copy-up)");
      return;
    }
  if (unlink ("merged/whiteout") < 0)
    {
      probe_fail (rep, "delete a lower file through the overlay (whiteout)");
      return;
    }
}

static int
fill_probe_dir (int dfd, const char *dir, nb_error_t *err)
{
  static const char *const subdirs[] = { "lower", "upper", "work", "merged" };
  static const char *const files[] = { "lower/copy-up", "lower/whiteout" };

  /* A setgid parent would hand everything below a group that is not mapped
   * in the probe's namespace, and overlay refuses such dirs and files: take
   * our own group and drop the setgid bit so the subdirs inherit it. */
  if (fchown (dfd, (uid_t)-1, getgid ()) < 0 || fchmod (dfd, 0700) < 0)
    return nb_error_make (err, errno, "chown %s", dir);
  for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++)
    if (mkdirat (dfd, subdirs[i], 0700) < 0)
      return nb_error_make (err, errno, "mkdir %s/%s", dir, subdirs[i]);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    {
      int fd = openat (dfd, files[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                       0600);
      if (fd < 0)
        return nb_error_make (err, errno, "create %s/%s", dir, files[i]);
      close (fd);
    }
  return 0;
}

/* A fresh private directory for the overlay probe: in $XDG_RUNTIME_DIR when
 * usable, else /tmp. */
static int
make_probe_dir (char **out, nb_error_t *err)
{
  const char *base = getenv ("XDG_RUNTIME_DIR");
  cleanup_free char *dir = NULL;
  cleanup_close int dfd = -1;

  if (base == NULL || base[0] != '/' || access (base, W_OK) < 0)
    base = "/tmp";
  if (asprintf (&dir, "%s/nsbox-doctor-XXXXXX", base) < 0)
    return nb_error_make (err, ENOMEM, "overlay probe dir");
  if (mkdtemp (dir) == NULL)
    return nb_error_make (err, errno, "mkdtemp %s", dir);
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fill_probe_dir (dfd, dir, err) < 0)
    {
      if (dfd < 0)
        nb_error_make (err, errno, "open %s", dir);
      nb_rm_rf_at (AT_FDCWD, dir, NULL);
      return -1;
    }
  *out = steal_pointer (&dir);
  return 0;
}

static int
remove_probe_dir (const char *dir, nb_error_t *err)
{
  cleanup_free char *work = nb_path_join (dir, "work/work");

  /* overlayfs leaves workdir/work with mode 0 (and a cached whiteout in
   * it); without CAP_DAC_OVERRIDE we must open it up before removing. */
  if (work && chmod (work, 0700) < 0 && errno != ENOENT)
    return nb_error_make (err, errno, "chmod %s", work);
  return nb_rm_rf_at (AT_FDCWD, dir, err);
}

static int
kernel_older_than (int major, int minor, char *release, size_t len)
{
  struct utsname u;
  int ma = 0, mi = 0;

  if (uname (&u) < 0)
    {
      snprintf (release, len, "unknown");
      return 0;
    }
  snprintf (release, len, "%s", u.release);
  if (sscanf (u.release, "%d.%d", &ma, &mi) != 2)
    return 0;
  return ma < major || (ma == major && mi < minor);
}

static void
check_overlay (struct doc_result *r, bool userns_ok)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *dir = NULL;
  struct overlay_probe p;
  struct probe_report rep;
  char release[128];
  int base_len;

  if (!userns_ok)
    {
      result_set (r, DOC_FAIL,
                  "not tried: needs a user namespace, which this host "
                  "refuses");
      result_hint (r, "fix the userns check first");
      return;
    }
  if (make_probe_dir (&dir, &err) < 0)
    {
      result_set (r, DOC_FAIL, "not tried: %s", err->msg);
      result_hint (r, "set XDG_RUNTIME_DIR to a directory of yours");
      return;
    }
  p.dir = dir;
  p.uid = getuid ();
  p.gid = getgid ();
  run_probe (overlay_probe, &p, &rep);

  base_len = (int)(strrchr (dir, '/') - dir);
  if (rep.errnum == 0)
    result_set (r, DOC_OK,
                "mounted overlay (userxattr) in a user namespace under %.*s; "
                "copy-up and whiteouts work",
                base_len, dir);
  else
    {
      bool old = kernel_older_than (5, 11, release, sizeof release);

      result_set (r, DOC_FAIL,
                  "%s: %s: images unavailable (the host template "
                  "still works)",
                  rep.step, strerror (rep.errnum));
      if (rep.errnum == ENODEV)
        result_hint (r, "the kernel has no overlay filesystem: as root, "
                        "modprobe overlay");
      else if (rep.errnum == EROFS)
        result_hint (r,
                     "the overlay came up read-only: the filesystem of %.*s "
                     "cannot hold its work dir (the kernel log says why); "
                     "set XDG_RUNTIME_DIR to a directory on tmpfs, ext4, xfs "
                     "or btrfs",
                     base_len, dir);
      else if (old)
        result_hint (r,
                     "overlay in a user namespace needs Linux >= 5.11; "
                     "this kernel is %s",
                     release);
      else
        result_hint (r,
                     "overlay in a user namespace needs Linux >= 5.11 (this "
                     "is %s, so something else refuses it: a security "
                     "module, or the filesystem of %.*s, e.g. NFS or "
                     "another overlay)",
                     release, base_len, dir);
    }

  if (remove_probe_dir (dir, &err) < 0)
    fprintf (stderr, "nsbox: doctor: %s\n", err->msg ? err->msg : dir);
}

/* --- 3. subordinate ids --- */

/* Look NAME up in $PATH, then in /usr/bin (sudo and cron reset PATH). */
static char *
find_program (const char *name)
{
  char *p = nb_find_in_path (name);

  if (p == NULL)
    {
      p = nb_path_join ("/usr/bin", name);
      if (p && access (p, X_OK) < 0)
        {
          free (p);
          p = NULL;
        }
    }
  return p;
}

/* newuidmap can only write ranges beyond our own id when it runs with
 * privilege: setuid root, or file capabilities (Fedora's packaging).  Both
 * are void on a nosuid mount, and setuid to an owner that is not root here
 * (inside a user namespace, host root shows as the overflow uid) grants
 * nothing either.  Returns how it is privileged, or NULL with *why set. */
static const char *
helper_privilege (const char *path, char *why, size_t len)
{
  struct stat st;
  struct statvfs sv;

  if (stat (path, &st) < 0)
    {
      snprintf (why, len, "%s: %s", path, strerror (errno));
      return NULL;
    }
  if (statvfs (path, &sv) == 0 && (sv.f_flag & ST_NOSUID))
    {
      snprintf (why, len, "%s is on a nosuid mount", path);
      return NULL;
    }
  if ((st.st_mode & S_ISUID) && st.st_uid == 0)
    return "setuid root";
  if (getxattr (path, "security.capability", NULL, 0) > 0)
    return "file capabilities";
  if (st.st_mode & S_ISUID)
    snprintf (why, len, "%s is setuid to uid %u, not to root", path,
              (unsigned)st.st_uid);
  else
    snprintf (why, len, "%s is neither setuid root nor has file capabilities",
              path);
  return NULL;
}

/* Append "; WHAT" (or just WHAT) to the list of problems found. */
static void add_problem (char *buf, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
add_problem (char *buf, size_t size, const char *fmt, ...)
{
  size_t len = strlen (buf);
  va_list ap;

  if (len > 0 && len + 2 < size)
    {
      memcpy (buf + len, "; ", 3);
      len += 2;
    }
  va_start (ap, fmt);
  vsnprintf (buf + len, size - len, fmt, ap);
  va_end (ap);
}

static void
check_subids (struct doc_result *r)
{
  static const char *const helpers[] = { "newuidmap", "newgidmap" };
  struct passwd *pw = getpwuid (getuid ());
  const char *name = pw ? pw->pw_name : NULL;
  cleanup_free char *user = NULL;
  struct sb_subid su, sg;
  char problems[2048] = "";
  bool missing_helper = false, weak_helper = false, need_uids, need_gids;
  const char *how[2] = { NULL, NULL };
  char why[PATH_MAX + 128];
  unsigned long next;

  if (name)
    user = strdup (name);
  else if (asprintf (&user, "%u", (unsigned)getuid ()) < 0)
    user = NULL;

  sb_subid_read ("/etc/subuid", name, getuid (), &su);
  /* The owner field of /etc/subgid is a user too (name or uid), not a
   * group: shadow's newgidmap looks the caller up by user. */
  sb_subid_read ("/etc/subgid", name, getuid (), &sg);
  if (su.errnum && su.errnum != ENOENT)
    add_problem (problems, sizeof problems, "cannot read /etc/subuid: %s",
                 strerror (su.errnum));
  else if (su.total == 0)
    add_problem (problems, sizeof problems,
                 "no subuid range for %s in /etc/subuid", user ? user : "?");
  if (sg.errnum && sg.errnum != ENOENT)
    add_problem (problems, sizeof problems, "cannot read /etc/subgid: %s",
                 strerror (sg.errnum));
  else if (sg.total == 0)
    add_problem (problems, sizeof problems,
                 "no subgid range for %s in /etc/subgid", user ? user : "?");

  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *path = find_program (helpers[i]);
      if (path == NULL)
        {
          missing_helper = true;
          add_problem (problems, sizeof problems, "%s not found", helpers[i]);
          continue;
        }
      how[i] = helper_privilege (path, why, sizeof why);
      if (how[i] == NULL)
        {
          weak_helper = true;
          add_problem (problems, sizeof problems, "%s", why);
        }
    }

  if (problems[0] == '\0')
    {
      cleanup_error nb_error_t e = NULL;
      cleanup_free char *run = NULL, *pidfile = NULL;
      char holder[96] = "no id-mapping holder yet (a start makes one)";
      pid_t pid = 0;

      if (nb_runtime_dir (&run, &e) == 0
          && (pidfile = nb_path_join (run, SB_HOLDER_FILE)) != NULL)
        pid = rt_holder_running (pidfile);
      if (pid > 0)
        snprintf (holder, sizeof holder, "the id-mapping holder runs as "
                                         "pid %d", (int) pid);
      result_set (r, DOC_OK,
                  "%s has %lu subuids from %lu and %lu subgids from %lu; "
                  "newuidmap %s, newgidmap %s; %s",
                  user ? user : "?", su.total, su.start, sg.total, sg.start,
                  how[0], how[1], holder);
      return;
    }

  result_set (r, DOC_WARN,
              "%s: only your own id can be mapped, so files of an image's "
              "other owners collapse onto one id",
              problems);
  if (missing_helper)
    result_hint (r, "as root: apt-get install uidmap");
  if ((su.errnum && su.errnum != ENOENT) || (sg.errnum && sg.errnum != ENOENT))
    result_hint (r, "as root: chmod 0644 /etc/subuid /etc/subgid (newuidmap "
                    "and nsbox both read them)");
  if (weak_helper)
    result_hint (r, "as root: reinstall uidmap, or chmod u+s "
                    "/usr/bin/newuidmap /usr/bin/newgidmap");
  /* An unreadable file may well hold a range: only suggest adding one
   * where the file says there is none. */
  need_uids = su.total == 0 && (su.errnum == 0 || su.errnum == ENOENT);
  need_gids = sg.total == 0 && (sg.errnum == 0 || sg.errnum == ENOENT);
  if (need_uids || need_gids)
    {
      char uids[64] = "", gids[64] = "";

      /* Suggest a block past everyone else's so that ranges never overlap:
       * overlapping users could reach each other's files. */
      next = su.end > sg.end ? su.end : sg.end;
      if (next < 100000)
        next = 100000;
      if (need_uids)
        snprintf (uids, sizeof uids, " --add-subuids %lu-%lu", next,
                  next + 65535);
      if (need_gids)
        snprintf (gids, sizeof gids, " --add-subgids %lu-%lu", next,
                  next + 65535);
      result_hint (r, "as root: usermod%s%s %s", uids, gids,
                   user ? user : "USER");
    }
}

/* --- 4. cgroup v2 delegation --- */


static void
delegation_hint (struct doc_result *r)
{
  struct passwd *pw = getpwuid (getuid ());

  result_hint (r, "run nsbox from a delegated scope of your systemd user "
                  "session: systemd-run --user --scope -p Delegate=yes "
                  "nsbox run ...");
  result_hint (r,
               "without a user session (ssh, CI): as root, loginctl "
               "enable-linger %s",
               pw ? pw->pw_name : "USER");
}

/* Way (2) on a host that cannot use it: said, so that a user with a
 * systemd session knows it was looked at. */
static char *
systemd_said (bool hybrid)
{
  cleanup_free char *version = NULL, *why = NULL;
  char *out = NULL;

  if (rt_cgroup_systemd_probe (&version, &why) == 0)
    {
      if (asprintf (&out, "a systemd user manager %s answers, but its "
                          "scopes %s",
                    version, hybrid ? "on a hybrid host have no controllers"
                                    : "need cgroup v2")
          < 0)
        out = NULL;
    }
  else if (asprintf (&out, "no systemd user manager answers: %s", why) < 0)
    out = NULL;
  return out;
}

static void
check_cgroup (struct doc_result *r)
{
  static const char *const wanted[] = { "memory", "cpu", "pids" };
  struct statfs sfs;
  cleanup_free char *cg = NULL;
  cleanup_free char *controllers = NULL;
  char missing[64] = "";

  if (statfs ("/sys/fs/cgroup", &sfs) < 0)
    {
      result_set (r, DOC_WARN,
                  "statfs /sys/fs/cgroup: %s: limits (--memory/--cpus/--pids) "
                  "unavailable",
                  strerror (errno));
      result_hint (r, "mount cgroup2 on /sys/fs/cgroup (boot with "
                      "systemd.unified_cgroup_hierarchy=1)");
      return;
    }
  if (sfs.f_type != CGROUP2_SUPER_MAGIC)
    {
      struct statfs u;
      bool hybrid = sfs.f_type == TMPFS_MAGIC
                    && statfs ("/sys/fs/cgroup/unified", &u) == 0
                    && u.f_type == CGROUP2_SUPER_MAGIC;

      cleanup_free char *sd = systemd_said (hybrid);
      result_set (r, DOC_WARN,
                  "%s host: limits (--memory/--cpus/--pids) unavailable: this "
                  "host offers (3) none (%s)",
                  hybrid ? "hybrid v1/v2" : "cgroup v1", sd ? sd : "?");
      result_hint (r, "boot with systemd.unified_cgroup_hierarchy=1 for a "
                      "pure cgroup v2 hierarchy");
      return;
    }

  /* The runtime's own answer (runtime/cgroup.c): the container's cgroup
   * goes beside ours, in our cgroup's parent, which we must be able to
   * write. */
  {
    cleanup_free char *why = NULL;
    cg = rt_cgroup_where (&controllers, &why);
    if (cg == NULL)
      {
        cleanup_free char *version = NULL, *sd_why = NULL;
        if (rt_cgroup_systemd_probe (&version, &sd_why) == 0)
          {
            result_set (r, DOC_OK,
                        "cgroup v2, no writable subtree (%s): this host "
                        "offers (2) a delegated scope from the systemd user "
                        "manager %s, which answers on the user bus",
                        why ? why : "none delegated", version);
            return;
          }
        result_set (r, DOC_WARN,
                    "cgroup v2, but %s, and no systemd user manager answers "
                    "(%s): this host offers (3) none; limits "
                    "(--memory/--cpus/--pids) unavailable",
                    why ? why : "no delegated cgroup",
                    sd_why ? sd_why : "?");
        delegation_hint (r);
        return;
      }
    if (controllers == NULL && (controllers = strdup ("")) == NULL)
      {
        result_set (r, DOC_WARN, "out of memory");
        return;
      }
  }
  controllers[strcspn (controllers, "\n")] = '\0';
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
    {
      bool found = false;
      cleanup_free char *copy = strdup (controllers);
      char *save = NULL;

      for (char *c = copy ? strtok_r (copy, " ", &save) : NULL; c;
           c = strtok_r (NULL, " ", &save))
        found = found || strcmp (c, wanted[i]) == 0;
      if (!found)
        snprintf (missing + strlen (missing), sizeof missing - strlen (missing),
                  "%s%s", missing[0] ? " " : "", wanted[i]);
    }
  if (missing[0])
    {
      result_set (r, DOC_WARN,
                  "cgroup v2, %s delegated, but its controllers (%s) lack %s: "
                  "the limits needing them are unavailable",
                  cg, controllers[0] ? controllers : "none", missing);
      result_hint (r, "have systemd delegate them: as root, systemctl edit "
                      "user@.service with [Service] Delegate=cpu cpuset io "
                      "memory pids");
      return;
    }
  result_set (r, DOC_OK,
              "cgroup v2, %s delegated (controllers: %s): this host offers "
              "(1) a cgroup subtree this user may write",
              cg, controllers);
}

/* --- 5. pasta --- */

static void
check_pasta (struct doc_result *r)
{
  cleanup_free char *pasta = find_program ("pasta");
  cleanup_close int fd = -1;

  /* --network open falls back to slirp4netns, which needs the tun device
   * just as much. */
  if (pasta == NULL)
    pasta = find_program ("slirp4netns");
  if (pasta == NULL)
    {
      result_set (r, DOC_WARN, "neither pasta nor slirp4netns in PATH: "
                               "--network open unavailable");
      result_hint (r, "as root: apt-get install passt");
      return;
    }
  /* pasta runs as the user and opens the tun device itself, holding no
   * privilege over host devices: the user's own open is the real test. */
  fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      result_set (r, DOC_WARN,
                  "%s found, but /dev/net/tun: %s: --network open "
                  "unavailable",
                  pasta, strerror (e));
      if (e == ENOENT || e == ENODEV)
        result_hint (r, "as root: modprobe tun");
      else
        result_hint (r, "as root: chmod 0666 /dev/net/tun (the usual mode; "
                        "a udev rule KERNEL==\"tun\", MODE=\"0666\" keeps it)");
      return;
    }
  result_set (r, DOC_OK, "%s, /dev/net/tun opens read-write", pasta);
}

/* --- output --- */

static void
print_text (const struct doc_result *res, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      const char *h = res[i].hint;

      printf ("%-6s%s: %s\n", status_names[res[i].status], res[i].check,
              res[i].detail ? res[i].detail : "?");
      while (h && *h)
        {
          size_t len = strcspn (h, "\n");
          printf ("      hint: %.*s\n", (int)len, h);
          h += len;
          if (*h == '\n')
            h++;
        }
    }
}

static int
print_json (const struct doc_result *res, size_t n, nb_error_t *err)
{
  json_t *arr = json_array ();
  char *s;

  if (arr == NULL)
    return nb_error_make (err, ENOMEM, "doctor: json");
  for (size_t i = 0; i < n; i++)
    {
      json_t *o = json_pack ("{s:s, s:s, s:s?, s:s?}", "check", res[i].check,
                             "status", status_names[res[i].status], "detail",
                             res[i].detail, "hint", res[i].hint);
      if (o == NULL || json_array_append_new (arr, o) < 0)
        {
          json_decref (arr);
          return nb_error_make (err, 0, "doctor: json: cannot encode %s",
                                res[i].check);
        }
    }
  s = json_dumps (arr, JSON_INDENT (2));
  json_decref (arr);
  if (s == NULL)
    return nb_error_make (err, ENOMEM, "doctor: json");
  puts (s);
  free (s);
  return 0;
}

static void
usage (FILE *out)
{
  fprintf (out,
           "usage: nsbox doctor [--json]\n"
           "\n"
           "Check what this host allows: user namespaces, overlay in a user\n"
           "namespace, subordinate ids, cgroup v2 delegation, pasta.\n"
           "\n"
           "  --json      print the checks as a JSON array\n"
           "  -h, --help  show this help\n"
           "\n"
           "Exit status 0 when user namespaces work, 1 otherwise.\n"
           "See nsbox-doctor(1).\n");
}

int
cmd_doctor (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct doc_result res[] = {
    { .check = "userns" }, { .check = "overlay" }, { .check = "subids" },
    { .check = "cgroup" }, { .check = "pasta" },
  };
  const size_t n = sizeof res / sizeof res[0];
  cleanup_error nb_error_t err = NULL;
  bool json = false;
  int c, ret = 0;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        fprintf (stderr,
                 "nsbox: doctor: unknown option '%s'\n"
                 "usage: nsbox doctor [--json]\n",
                 argv[optind - 1]);
        return NB_EXIT_FAILED;
      }
  if (optind < argc)
    {
      fprintf (stderr,
               "nsbox: doctor: unexpected argument '%s'\n"
               "usage: nsbox doctor [--json]\n",
               argv[optind]);
      return NB_EXIT_FAILED;
    }

  check_userns (&res[0]);
  check_overlay (&res[1], res[0].status == DOC_OK);
  check_subids (&res[2]);
  check_cgroup (&res[3]);
  check_pasta (&res[4]);

  if (json)
    {
      if (print_json (res, n, &err) < 0)
        ret = nb_error_report (&err);
    }
  else
    print_text (res, n);
  fflush (stdout);

  if (ret == 0)
    /* Only user namespaces are essential; everything else has a fallback. */
    ret = res[0].status == DOC_OK ? 0 : 1;
  for (size_t i = 0; i < n; i++)
    {
      free (res[i].detail);
      free (res[i].hint);
    }
  return ret;
}
