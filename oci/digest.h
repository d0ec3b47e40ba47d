/* Content digests ("sha256:<64 lowercase hex>") with libcrypto's sha256. */
#ifndef OCI_DIGEST_H
#define OCI_DIGEST_H

#include <stddef.h>
#include "runtime/base/error.h"

#define OCI_DIGEST_LEN 71 /* "sha256:" + 64 hex */

struct oci_hasher; /* streaming sha256 */

struct oci_hasher *oci_hasher_new (void);
void oci_hasher_update (struct oci_hasher *h, const void *data, size_t len);
/* Writes "sha256:<hex>" (NUL-terminated) into OUT and frees H. */
void oci_hasher_finish (struct oci_hasher *h, char out[OCI_DIGEST_LEN + 1]);
void oci_hasher_free (struct oci_hasher *h);
/* One-shot: the digest of DATA into OUT (-1 only when out of memory). */
int oci_digest_data (const void *data, size_t len,
                     char out[OCI_DIGEST_LEN + 1]);

/* Is TEXT a well-formed sha256 digest?  (Anything else — other algorithms,
 * uppercase, "../" — is refused before it can name a file.) */
int oci_digest_valid (const char *text);
/* The hex part of a valid digest (a pointer into DIGEST); NULL for anything
 * oci_digest_valid refuses. */
const char *oci_digest_hex (const char *digest);

#endif
