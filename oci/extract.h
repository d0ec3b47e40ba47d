/* Layer extraction: one streaming pass per layer that decompresses (gzip,
 * zstd or none, detected), hashes the compressed blob (its digest) and the
 * uncompressed tar (its diff_id) with libcrypto's sha256, and writes the
 * entries below a directory — refusing anything that would land outside it
 * (.., absolute names, symlinked parents, hard links leaving the tree),
 * leaving device nodes out, and turning whiteouts into overlayfs whiteouts:
 *   .wh.NAME     -> NAME as a 0:0 character device
 *   .wh..wh..opq -> the user.overlay.opaque="y" xattr on its directory
 * (overlay is mounted with "userxattr" in a user namespace). */
#ifndef OCI_EXTRACT_H
#define OCI_EXTRACT_H

#include <stdbool.h>
#include "oci/digest.h"
#include "runtime/base/error.h"

struct oci_extract_opts
{
  /* Expected digests ("sha256:..."), checked after the stream ends; NULL
   * skips that check. */
  const char *blob_digest;
  const char *diff_id;
  /* Keep the archive's uid/gid (true when extracting inside a user namespace
   * with the subordinate-id mapping); false: everything is owned by the
   * caller. */
  bool keep_owners;
};

struct oci_extract_result
{
  char blob_digest[OCI_DIGEST_LEN + 1]; /* what the blob hashed to */
  char diff_id[OCI_DIGEST_LEN + 1];     /* what the tar hashed to */
  long long entries;
  long long devices_skipped; /* device nodes left out */
};

/* Extract the layer read from FD into the (empty) directory DEST_DIRFD.  On
 * a digest mismatch the error names the blob and both digests; the caller
 * then removes DEST (it is a temp dir, renamed into place only on success). */
int oci_extract_layer (int fd, int dest_dirfd,
                       const struct oci_extract_opts *opts,
                       struct oci_extract_result *res, nb_error_t *err);

#endif
