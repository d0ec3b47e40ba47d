/* What the `nsbox load` fuzz harnesses share: a private work tree, the call
 * into img_cmd_load, the invariants checked after it and the reset.
 *
 *   $TMPDIR/nsbox-fuzz-NAME-XXXXXX/   the root (R)
 *     canary/                         must stay empty
 *     work/                           the work dir (W)
 *       canary/                       must stay empty
 *       data/                         XDG_DATA_HOME: data/nsbox is the data dir
 *       INPUT                         in.tar or layout/, written by the harness
 *
 * A layer entry that got out of its layer dir lands in layers/ (one ".."),
 * the data dir, data/, W or R: each of these may hold only the
 * names nsbox or the harness put there. */
#ifndef FZ_COMMON_H
#define FZ_COMMON_H

#include <stddef.h>
#include <stdio.h>

/* The work tree's paths, valid after fz_setup. */
extern char fz_work[4096];     /* W */
extern FILE *fz_log;           /* the real stderr: libFuzzer's, ours */

/* Refuse root, make the work tree, point XDG_DATA_HOME into it and nsbox's
 * stdout and stderr at /dev/null (unless FUZZ_VERBOSE is set).  INPUT is the
 * one name the harness itself keeps in W. */
void fz_setup (const char *name, const char *input);
/* nsbox load -i PATH, in this process; nsbox's exit status. */
int fz_load (const char *path);
/* Check the invariants after a load (abort on a violation), then empty the
 * data dir for the next input. */
void fz_check_and_reset (int status);
/* Remove PATH (relative to dir fd DFD) and all below it, making directories
 * writable first; 0 or -1. */
int fz_rm_rf (int dfd, const char *path);
/* HEX gets the sha256 of DATA in lowercase hex. */
void fz_sha256_hex (const void *data, size_t len, char hex[65]);
/* Recompute the header checksums of the tar in BUF (in place), so that a
 * mutated header is not refused for its checksum alone.  Stops at the first
 * block that does not parse as a header. */
void fz_fix_tar_checksums (unsigned char *buf, size_t len);
/* Write LEN bytes of DATA to DFD/NAME (created, truncated); 0 or -1. */
int fz_write_at (int dfd, const char *name, const void *data, size_t len);

#endif
