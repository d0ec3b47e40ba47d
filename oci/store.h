/* The image store: an OCI image layout at $XDG_DATA_HOME/nsbox/store
 * (oci-layout, index.json with refs as org.opencontainers.image.ref.name
 * annotations, blobs/sha256/<hex>), readable by skopeo/umoci as it is.
 * Every write is atomic (temp name, fsync, rename) and verified: a blob is
 * only ever renamed into place after its content hashed to its digest.
 * Concurrent nsbox processes serialise on flock(store/.lock). */
#ifndef OCI_STORE_H
#define OCI_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>
#include "oci/digest.h"
#include "runtime/base/error.h"

struct oci_store;

struct oci_descriptor
{
  char *media_type;
  char digest[OCI_DIGEST_LEN + 1];
  long long size;
};

/* Open (creating if needed) the store at DIR. */
int oci_store_open (const char *dir, struct oci_store **out, nb_error_t *err);
void oci_store_close (struct oci_store *s);
const char *oci_store_dir (const struct oci_store *s);

/* flock the store: shared for readers, exclusive for writers of index.json
 * and for prune.  Unlock by closing or oci_store_unlock. */
int oci_store_lock (struct oci_store *s, int exclusive, nb_error_t *err);
void oci_store_unlock (struct oci_store *s);

/* Blobs. */
int oci_store_has_blob (struct oci_store *s, const char *digest);
/* Path of a blob (new string), whether or not it exists. */
char *oci_store_blob_path (struct oci_store *s, const char *digest);
/* Open a blob for reading (O_RDONLY|O_CLOEXEC). */
int oci_store_open_blob (struct oci_store *s, const char *digest,
                         nb_error_t *err);
/* Read a small blob (manifest, config, index) whole, verifying its digest. */
int oci_store_read_blob (struct oci_store *s, const char *digest, char **data,
                         size_t *len, nb_error_t *err);

/* Writing a blob: begin, write (any number of times; hashed as it goes),
 * commit (checks the digest and size, fsyncs, renames into place) or abort
 * (removes the temp file).  A writer that is never committed leaves only a
 * temp file under blobs/.tmp/, which prune removes. */
struct oci_blob_writer;
int oci_store_blob_begin (struct oci_store *s, const char *expected_digest,
                          long long expected_size, struct oci_blob_writer **w,
                          nb_error_t *err);
int oci_store_blob_write (struct oci_blob_writer *w, const void *data,
                          size_t len, nb_error_t *err);
int oci_store_blob_commit (struct oci_blob_writer *w, nb_error_t *err);
void oci_store_blob_abort (struct oci_blob_writer *w);
/* Store DATA as a blob; writes its digest into OUT. */
int oci_store_put_blob (struct oci_store *s, const void *data, size_t len,
                        char out[OCI_DIGEST_LEN + 1], nb_error_t *err);

/* Refs: NAME is the canonical reference string (oci_ref_string). */
int oci_store_tag (struct oci_store *s, const char *name,
                   const struct oci_descriptor *manifest, nb_error_t *err);
/* 0 and *out filled, or -1 with status 0 and errno_val ENOENT when NAME is
 * not in the store. */
int oci_store_resolve (struct oci_store *s, const char *name,
                       struct oci_descriptor *out, nb_error_t *err);
int oci_store_untag (struct oci_store *s, const char *name, nb_error_t *err);
/* index.json's manifests array (borrowed reference; valid until the next
 * call that changes the index). */
int oci_store_list (struct oci_store *s, json_t **manifests, nb_error_t *err);

/* Remove blobs that no ref reaches (through manifests, indexes, configs and
 * layers) and stale temp files; LAYERS_DIR's layer dirs whose diff_id no
 * kept image uses are removed too.  Counts what went. */
int oci_store_prune (struct oci_store *s, const char *layers_dir,
                     size_t *blobs_removed, size_t *layers_removed,
                     nb_error_t *err);

void oci_descriptor_clear (struct oci_descriptor *d);

#endif
