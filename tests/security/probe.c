/* The escape suite's hands inside a sandbox: each subcommand tries one
 * attack with raw system calls (no libc wrapper in the way) and prints what
 * the kernel answered: "ok" or the errno's name, so that a test asserts the
 * precise failure.  Built static, so it runs in any template.
 *
 *   probe syscall NAME       one call from the table below, harmless args
 *   probe int80              getpid through the i386 ABI (int 0x80)
 *   probe x32                getpid through the x32 ABI
 *   probe fds                the open descriptors above 2, or "none"
 *   probe ptrace PID         PTRACE_ATTACH (then detach)
 *   probe getfd PID FD       pidfd_getfd: take PID's descriptor FD
 *   probe open-write PATH    open PATH for writing (e.g. /proc/1/exe)
 *   probe tiocsti            push a character into stdin's terminal
 *   probe kill PID           kill(PID, 0): is a process there to signal
 *   probe mount-fs TYPE DIR  mount a TYPE file system (proc, sysfs, tmpfs)
 *   probe connect IP PORT    a TCP connection to IP:PORT
 *   probe ids                the real and effective uid
 *   probe setns PATH         setns into the namespace file PATH
 *   probe send-ns SOCK       listen on unix socket SOCK, hand the first
 *                            caller this process's namespaces (SCM_RIGHTS)
 *   probe setns-from SOCK    take those and setns into each: "KIND RESULT"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int
report (long r)
{
  if (r >= 0)
    printf ("ok\n");
  else
    printf ("%s\n", strerrorname_np (errno) ? strerrorname_np (errno) : "?");
  return 0;
}

struct call
{
  const char *name;
  long nr;
  long a[6];
};

/* Arguments that would do nothing harmful even where a call is allowed:
 * bad pointers, flags the kernel rejects, names that do not exist. */
static const struct call calls[] = {
  { "keyctl", SYS_keyctl, { KEYCTL_GET_KEYRING_ID, -1, 0 } },
  { "add_key", SYS_add_key, { 0, 0, 0, 0, 0 } },
  { "request_key", SYS_request_key, { 0, 0, 0, 0 } },
  { "bpf", SYS_bpf, { 0, 0, 0 } },
  { "perf_event_open", SYS_perf_event_open, { 0, 0, -1, -1, 0 } },
  { "userfaultfd", SYS_userfaultfd, { 0 } },
  { "kexec_load", SYS_kexec_load, { 0, 0, 0, 0 } },
  { "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, 0 } },
  { "init_module", SYS_init_module, { 0, 0, 0 } },
  { "finit_module", SYS_finit_module, { -1, 0, 0 } },
  { "delete_module", SYS_delete_module, { 0, 0 } },
  { "open_by_handle_at", SYS_open_by_handle_at, { -1, 0, 0 } },
  { "name_to_handle_at", SYS_name_to_handle_at, { -1, 0, 0, 0, 0 } },
  { "swapon", SYS_swapon, { 0, 0 } },
  { "swapoff", SYS_swapoff, { 0 } },
  { "reboot", SYS_reboot, { 0, 0, 0, 0 } },
  { "acct", SYS_acct, { 0 } },
  { "iopl", SYS_iopl, { 3 } },
  { "ioperm", SYS_ioperm, { 0x80, 1, 1 } },
  { "io_uring_setup", SYS_io_uring_setup, { 1, 0 } },
  { "mount", SYS_mount, { 0, 0, 0, 0, 0 } },
  { "umount2", SYS_umount2, { 0, 0 } },
  { "pivot_root", SYS_pivot_root, { 0, 0 } },
  { "chroot", SYS_chroot, { 0 } },
  { "fsopen", SYS_fsopen, { 0, 0 } },
  { "fsmount", SYS_fsmount, { -1, 0, 0 } },
  { "open_tree", SYS_open_tree, { -1, 0, 0 } },
  { "move_mount", SYS_move_mount, { -1, 0, -1, 0, 0 } },
  { "mount_setattr", SYS_mount_setattr, { -1, 0, 0, 0, 0 } },
  { "setns", SYS_setns, { -1, 0 } },
  { "unshare-user", SYS_unshare, { CLONE_NEWUSER } },
  { "unshare-mount", SYS_unshare, { CLONE_NEWNS } },
  { "unshare-net", SYS_unshare, { CLONE_NEWNET } },
  { "unshare-files", SYS_unshare, { CLONE_FILES } },
  { "clone3", SYS_clone3, { 0, 0 } },
  { "socket-vsock", SYS_socket, { 40, SOCK_STREAM, 0 } },
  /* The family is an int: the kernel reads the low 32 bits only. */
  { "socket-vsock-high-bits", SYS_socket, { 0x100000028L, SOCK_STREAM, 0 } },
  { "socket-unix", SYS_socket, { AF_UNIX, SOCK_STREAM, 0 } },
  { "personality-read-implies-exec", SYS_personality, { 0x0400000 } },
  { "personality-query", SYS_personality, { 0xffffffffL } },
  { "getpid", SYS_getpid, { 0 } },
  /* No such call on x86_64: what a profile does not name. */
  { "unknown-syscall", 1000, { 0 } },
  { NULL, 0, { 0 } },
};

/* clone with CLONE_NEWUSER: the child (if any) exits at once. */
static int
clone_newuser (void)
{
  long r = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (r == 0)
    _exit (0);
  if (r > 0)
    waitpid ((pid_t) r, NULL, 0);
  return report (r);
}

static int
int80 (void)
{
  long r;
  /* __NR_getpid is 20 in the i386 table.  From 64-bit code, int 0x80
   * zeroes r8-r11: the compiler must not keep anything there. */
  __asm__ volatile ("int $0x80"
                    : "=a"(r)
                    : "a"(20L)
                    : "memory", "cc", "r8", "r9", "r10", "r11");
  if (r < 0 && r > -4096)
    {
      errno = (int) -r;
      r = -1;
    }
  return report (r);
}

static int
fds (void)
{
  int any = 0;
  for (int fd = 3; fd < 1024; fd++)
    if (fcntl (fd, F_GETFD) >= 0)
      {
        char link[64], target[256];
        ssize_t n;
        snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink (link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        /* The probe's own /proc read is not a leak. */
        printf ("%d %s\n", fd, target);
        any = 1;
      }
  if (!any)
    printf ("none\n");
  return 0;
}

/* The namespaces send-ns hands over, in this order. */
static const char *const ns_kinds[]
    = { "user", "mnt", "pid", "net", "uts", "ipc", "cgroup" };
#define N_KINDS (sizeof ns_kinds / sizeof *ns_kinds)

static int
unix_addr (const char *path, struct sockaddr_un *sun)
{
  memset (sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (strlen (path) >= sizeof sun->sun_path)
    {
      fprintf (stderr, "probe: socket path too long\n");
      return -1;
    }
  strcpy (sun->sun_path, path);
  return 0;
}

/* One byte and the namespaces' descriptors, as one message. */
struct ns_msg
{
  char byte;
  struct iovec iov;
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * N_KINDS)];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh;
};

static void
ns_msg_init (struct ns_msg *m)
{
  memset (m, 0, sizeof *m);
  m->byte = 'n';
  m->iov.iov_base = &m->byte;
  m->iov.iov_len = 1;
  m->mh.msg_iov = &m->iov;
  m->mh.msg_iovlen = 1;
  m->mh.msg_control = m->ctl.buf;
  m->mh.msg_controllen = sizeof m->ctl.buf;
}

static int
send_ns (const char *path)
{
  struct sockaddr_un sun;
  struct ns_msg m;
  int fds[N_KINDS], l, c;
  struct cmsghdr *cm;

  for (size_t i = 0; i < N_KINDS; i++)
    {
      char ns[64];
      snprintf (ns, sizeof ns, "/proc/self/ns/%s", ns_kinds[i]);
      if ((fds[i] = open (ns, O_RDONLY | O_CLOEXEC)) < 0)
        return report (-1);
    }
  if (unix_addr (path, &sun) < 0)
    return 2;
  l = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0 || bind (l, (struct sockaddr *) &sun, sizeof sun) < 0
      || listen (l, 1) < 0)
    return report (-1);
  printf ("listening\n");
  fflush (stdout);
  if ((c = accept4 (l, NULL, NULL, SOCK_CLOEXEC)) < 0)
    return report (-1);
  ns_msg_init (&m);
  cm = CMSG_FIRSTHDR (&m.mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN (sizeof fds);
  memcpy (CMSG_DATA (cm), fds, sizeof fds);
  return report (sendmsg (c, &m.mh, 0));
}

static int
setns_from (const char *path)
{
  struct sockaddr_un sun;
  struct ns_msg m;
  int fds[N_KINDS], s, r = -1;
  struct cmsghdr *cm;

  if (unix_addr (path, &sun) < 0)
    return 2;
  s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* The other side may not listen yet: up to 10 s. */
  for (int i = 0; i < 100 && s >= 0; i++)
    {
      if ((r = connect (s, (struct sockaddr *) &sun, sizeof sun)) == 0)
        break;
      usleep (100000);
    }
  ns_msg_init (&m);
  if (s < 0 || r < 0 || recvmsg (s, &m.mh, MSG_CMSG_CLOEXEC) <= 0)
    return report (-1);
  cm = CMSG_FIRSTHDR (&m.mh);
  if (cm == NULL || cm->cmsg_type != SCM_RIGHTS
      || cm->cmsg_len != CMSG_LEN (sizeof fds))
    {
      printf ("no namespaces came\n");
      return 0;
    }
  memcpy (fds, CMSG_DATA (cm), sizeof fds);
  for (size_t i = 0; i < N_KINDS; i++)
    {
      printf ("%s ", ns_kinds[i]);
      report (setns (fds[i], 0));
    }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "syscall") == 0)
    {
      if (strcmp (argv[2], "clone-newuser") == 0)
        return clone_newuser ();
      for (const struct call *c = calls; c->name; c++)
        if (strcmp (c->name, argv[2]) == 0)
          return report (syscall (c->nr, c->a[0], c->a[1], c->a[2], c->a[3],
                                  c->a[4], c->a[5]));
      fprintf (stderr, "probe: no call %s\n", argv[2]);
      return 2;
    }
  if (argc == 2 && strcmp (argv[1], "int80") == 0)
    return int80 ();
  if (argc == 2 && strcmp (argv[1], "x32") == 0)
    return report (syscall (0x40000000L | 39));
  if (argc == 2 && strcmp (argv[1], "fds") == 0)
    return fds ();
  if (argc == 3 && strcmp (argv[1], "ptrace") == 0)
    {
      pid_t pid = (pid_t) atoi (argv[2]);
      long r = ptrace (PTRACE_ATTACH, pid, 0, 0);
      if (r == 0)
        {
          waitpid (pid, NULL, __WALL);
          ptrace (PTRACE_DETACH, pid, 0, 0);
        }
      return report (r);
    }
  if (argc == 4 && strcmp (argv[1], "getfd") == 0)
    {
      int pidfd = (int) syscall (SYS_pidfd_open, atoi (argv[2]), 0);
      if (pidfd < 0)
        return report (-1);
      return report (syscall (SYS_pidfd_getfd, pidfd, atoi (argv[3]), 0));
    }
  if (argc == 3 && strcmp (argv[1], "open-write") == 0)
    return report (open (argv[2], O_WRONLY | O_CLOEXEC));
  if (argc == 2 && strcmp (argv[1], "tiocsti") == 0)
    {
      char c = '#';
      return report (ioctl (0, TIOCSTI, &c));
    }
  if (argc == 3 && strcmp (argv[1], "kill") == 0)
    return report (kill ((pid_t) atoi (argv[2]), 0));
  if (argc == 4 && strcmp (argv[1], "mount-fs") == 0)
    return report (mount (argv[2], argv[3], argv[2], MS_NOSUID, NULL));
  if (argc == 4 && strcmp (argv[1], "connect") == 0)
    {
      struct sockaddr_in sin = { .sin_family = AF_INET,
                                 .sin_port = htons ((uint16_t) atoi (argv[3])) };
      int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || inet_pton (AF_INET, argv[2], &sin.sin_addr) != 1)
        return report (-1);
      return report (connect (fd, (struct sockaddr *) &sin, sizeof sin));
    }
  if (argc == 2 && strcmp (argv[1], "ids") == 0)
    {
      printf ("%u %u\n", (unsigned) getuid (), (unsigned) geteuid ());
      return 0;
    }
  if (argc == 3 && strcmp (argv[1], "setns") == 0)
    {
      int fd = open (argv[2], O_RDONLY | O_CLOEXEC);
      return report (fd < 0 ? -1 : setns (fd, 0));
    }
  if (argc == 3 && strcmp (argv[1], "send-ns") == 0)
    return send_ns (argv[2]);
  if (argc == 3 && strcmp (argv[1], "setns-from") == 0)
    return setns_from (argv[2]);
  fprintf (stderr, "usage: see tests/security/probe.c\n");
  return 2;
}
