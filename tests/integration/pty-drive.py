#!/usr/bin/env python3
"""Run a command on a new pseudo-terminal of ROWSxCOLS, wait until it prints
MARK, then type KEYS (Python escapes, e.g. '\\x03' for Ctrl-C); print what it
wrote and exit with its status.  For tests of nsbox's terminal handling."""
import os, pty, select, struct, sys, time, fcntl, termios

rows, cols, mark, keys = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
cmd = sys.argv[5:]
# The size is set before the child starts, so that what it reads first is
# ROWSxCOLS (set after a fork, a fast child could read 0x0 first).
fd, slave = os.openpty()
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
pid = os.fork()
if pid == 0:
    os.close(fd)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for i in (0, 1, 2):
        os.dup2(slave, i)
    if slave > 2:
        os.close(slave)
    os.execvp(cmd[0], cmd)
os.close(slave)
out, sent = b"", False
deadline = time.time() + 20
while time.time() < deadline:
    if not sent and mark in out:
        time.sleep(0.2)
        os.write(fd, keys.encode().decode("unicode_escape").encode("latin-1"))
        sent = True
    r, _, _ = select.select([fd], [], [], 0.2)
    if not r:
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
