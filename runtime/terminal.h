/* The monitor side of a sandbox: wait for its init, forwarding signals and,
 * with a pty, proxying the user's terminal. */
#ifndef RT_TERMINAL_H
#define RT_TERMINAL_H

#include <signal.h>
#include <sys/types.h>
#include "runtime/base/error.h"

/* Wait for INIT (PIDFD) to exit, forwarding the signals read from SIGFD.
 * MASTER >= 0: copy stdin to it and it to stdout, the user's terminal in raw
 * mode meanwhile and restored after; SIGWINCH resizes the pty. */
int rt_monitor_wait (pid_t init, int pidfd, int sigfd, int master,
                     int *wstatus, nb_error_t *err);

/* Block the signals the monitor takes and passes on (SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGUSR1/2, SIGWINCH, SIGCHLD), *ORIG getting the mask
 * before; returns a signalfd for them, or < 0 with ERR (and the mask
 * restored). */
int rt_monitor_signals (sigset_t *orig, nb_error_t *err);
/* The size of the user's terminal (stdin's) as rows << 16 | cols, or 0. */
unsigned rt_terminal_winsize (void);
/* The console socket protocol (runc's, as conmon and containerd's shim
 * expect it): connect to the unix socket PATH and send MASTER with
 * SCM_RIGHTS. */
int rt_console_send (const char *path, int master, nb_error_t *err);

#endif
