#define _GNU_SOURCE
#include "runtime/terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd p = { .fd = fd, .events = POLLOUT };
          poll (&p, 1, -1);
          continue;
        }
      if (n < 0)
        return -1;
      buf += n;
      len -= (size_t) n;
    }
  return 0;
}

/* Copy what is readable from IN to OUT.  Returns 0 at EOF/EIO (for a pty
 * master: the agent closed its terminal), 1 when nothing was there yet, 2
 * when data moved. */
static int
pump (int in, int out)
{
  char buf[16384];
  ssize_t n = read (in, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 1;
  if (n <= 0)
    return 0;
  if (write_all (out, buf, (size_t) n) < 0)
    return 0;
  return 2;
}

static void
copy_winsize (int master)
{
  struct winsize ws;
  if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
    ioctl (master, TIOCSWINSZ, &ws);
}

int
rt_monitor_wait (pid_t init, int pidfd, int sigfd, int master, int *wstatus,
                 nb_error_t *err)
{
  struct termios saved, raw;
  bool restore = false, in_open = master >= 0, out_open = master >= 0;

  if (master >= 0)
    {
      fcntl (master, F_SETFL, fcntl (master, F_GETFL) | O_NONBLOCK);
      copy_winsize (master);
      if (tcgetattr (STDIN_FILENO, &saved) == 0)
        {
          raw = saved;
          cfmakeraw (&raw);
          restore = tcsetattr (STDIN_FILENO, TCSANOW, &raw) == 0;
        }
    }

  for (;;)
    {
      struct pollfd p[4] = {
        { .fd = pidfd, .events = POLLIN },
        { .fd = sigfd, .events = POLLIN },
        { .fd = out_open ? master : -1, .events = POLLIN },
        { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
      };
      if (poll (p, 4, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[1].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          if (read (sigfd, &si, sizeof si) == sizeof si)
            {
              if (si.ssi_signo == SIGWINCH && master >= 0)
                copy_winsize (master);
              else if (si.ssi_signo != SIGCHLD)
                kill (init, (int) si.ssi_signo);
            }
        }
      if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
        out_open = pump (master, STDOUT_FILENO) > 0;
      if (p[3].revents & (POLLIN | POLLHUP | POLLERR))
        in_open = pump (STDIN_FILENO, master) > 0;
      if (p[0].revents & POLLIN)
        break;
    }

  /* Init has exited: hand the user whatever output is still buffered. */
  while (out_open && pump (master, STDOUT_FILENO) == 2)
    ;
  if (restore)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved);

  while (waitpid (init, wstatus, 0) < 0)
    if (errno != EINTR)
      return nb_error_make (err, errno, "wait for the sandbox");
  return 0;
}

int
rt_console_send (const char *path, int master, nb_error_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } ctl;
  char name[] = "console";
  struct iovec iov = { .iov_base = name, .iov_len = sizeof name - 1 };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf };
  struct cmsghdr *c;
  int fd, r;

  if (strlen (path) >= sizeof addr.sun_path)
    return nb_error_make (err, ENAMETOOLONG, "console socket %s", path);
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nb_error_make (err, errno, "socket");
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int e = errno;
      close (fd);
      return nb_error_make (err, e, "connect to the console socket %s", path);
    }
  memset (&ctl, 0, sizeof ctl);
  c = CMSG_FIRSTHDR (&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &master, sizeof (int));
  do
    r = (int) sendmsg (fd, &mh, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      int e = errno;
      close (fd);
      return nb_error_make (err, e, "send the terminal to %s", path);
    }
  close (fd);
  return 0;
}

unsigned
rt_terminal_winsize (void)
{
  struct winsize ws;
  if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
    return 0;
  return (unsigned) ws.ws_row << 16 | ws.ws_col;
}

int
rt_monitor_signals (sigset_t *orig, nb_error_t *err)
{
  static const int forwarded[] = { SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
                                   SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
  sigset_t mask;
  int fd;

  sigemptyset (&mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
    sigaddset (&mask, forwarded[i]);
  sigprocmask (SIG_BLOCK, &mask, orig);
  fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0)
    {
      int e = errno;
      sigprocmask (SIG_SETMASK, orig, NULL);
      return nb_error_make (err, e, "signalfd");
    }
  return fd;
}
