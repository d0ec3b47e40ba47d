/* Small filesystem helpers shared by runtime/, oci/ and cli/. */
#ifndef NB_FS_H
#define NB_FS_H

#include <stddef.h>
#include <sys/types.h>
#include "error.h"

/* mkdir -p; existing directories are fine. */
int nb_mkdir_p (const char *path, mode_t mode, nb_error_t *err);
/* Write DATA to PATH atomically: temp name in the same dir, rename.  With
 * DURABLE, fsync before the rename (state that must survive a crash; live
 * state in the runtime dir does not need it). */
int nb_write_file_atomic (const char *path, const void *data, size_t len,
                          mode_t mode, int durable, nb_error_t *err);
/* nb_write_file_atomic, unless PATH is already a regular file holding
 * exactly DATA: then nothing is written (a rename over an existing ext4 file
 * flushes the new one to disk; a warm start should not pay for that). */
int nb_update_file_atomic (const char *path, const void *data, size_t len,
                           mode_t mode, nb_error_t *err);
/* write(2) all of DATA, resuming after EINTR and short writes. */
int nb_write_all (int fd, const void *data, size_t len);
/* Open DIRFD/NAME for reading only if it is a regular file (FLAGS may add
 * O_NOFOLLOW): a FIFO, device, socket or directory is refused without
 * blocking.  WHAT names the file in messages. */
int nb_open_regular_at (int dirfd, const char *name, int flags,
                        const char *what, nb_error_t *err);
/* Read a whole (small: at most NB_READ_FILE_MAX) regular file; *out is
 * NUL-terminated.  Anything but a regular file is refused, as above. */
#define NB_READ_FILE_MAX (64 << 20)
int nb_read_file (const char *path, char **out, size_t *len, nb_error_t *err);
/* "A/B" in a new string (NULL only when out of memory). */
char *nb_path_join (const char *a, const char *b);
/* NAME's executable in $PATH's absolute directories (execvp's default path
 * when $PATH is unset), as a new string; NULL when there is none. */
char *nb_find_in_path (const char *name);
/* Is PARENT equal to CHILD or one of its ancestors?  Both absolute and
 * normalised (no "//", no trailing "/", no "." or ".."). */
int nb_path_is_within (const char *child, const char *parent);
/* nsbox's data dir: $XDG_DATA_HOME/nsbox, else $HOME/.local/share/nsbox. */
int nb_data_dir (char **out, nb_error_t *err);
/* nsbox's live-state dir: $XDG_RUNTIME_DIR/nsbox, else /tmp/nsbox-UID, which
 * must then be a real directory owned by us with mode 0700 (it is created so;
 * anything else there is refused, since another user could have planted it). */
int nb_runtime_dir (char **out, nb_error_t *err);
/* Recursive removal below DIRFD/NAME without following symlinks. */
int nb_rm_rf_at (int dirfd, const char *name, nb_error_t *err);

#endif
