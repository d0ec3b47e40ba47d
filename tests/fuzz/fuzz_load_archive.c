/* libFuzzer harness: `nsbox load -i in.tar` on the input as it is: a
 * docker-save tar, an OCI layout tar, either of them gzip, zstd or xz
 * compressed, or anything else.
 *
 * One change is made to the bytes: an uncompressed input gets its tar
 * header checksums recomputed, so that a mutated header reaches nsbox
 * instead of dying in libarchive's checksum test (which is libarchive's
 * code, not ours).  The blobs inside (layers, JSON) are not touched.
 *
 * nsbox's stdout and stderr go to /dev/null; FUZZ_VERBOSE=1 keeps them
 * (to see the "nsbox: ..." message of a reproducer). */
#define _GNU_SOURCE
#include "tests/fuzz/fuzz_common.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char path[4200];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  fz_setup ("archive", "in.tar");
  snprintf (path, sizeof path, "%s/in.tar", fz_work);
  return 0;
}

static int
compressed (const uint8_t *d, size_t n)
{
  return (n >= 2 && d[0] == 0x1f && d[1] == 0x8b)
         || (n >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f
             && d[3] == 0xfd)
         || (n >= 6 && memcmp (d, "\xfd" "7zXZ\0", 6) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  uint8_t *copy = malloc (size ? size : 1);
  int status;

  if (copy == NULL)
    return 0;
  memcpy (copy, data, size);
  if (!compressed (copy, size))
    fz_fix_tar_checksums (copy, size);
  if (fz_write_at (AT_FDCWD, path, copy, size) < 0)
    abort ();
  free (copy);
  status = fz_load (path);
  fz_check_and_reset (status);
  return 0;
}
