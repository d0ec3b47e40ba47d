/* The image store: an OCI image layout at $XDG_DATA_HOME/nsbox/store
 * (oci-layout, index.json with refs as org.opencontainers.image.ref.name
 * annotations, blobs/sha256/<hex>), readable by skopeo/umoci as it is.
 * Every write is atomic (temp name, fsync, rename) and verified: a blob is
 * only ever renamed into place after its content hashed to its digest.
 * Concurrent nsbox processes serialise on flock(store/.lock).
 *
 * Locking, for callers: hold the store lock shared for as long as what you
 * do must not be pruned under you -- a pull from its first blob write
 * through layer extraction to its tag; a run while it reads the image and
 * mounts its layers.  Tag and untag need no exclusive lock: they take the
 * shared one if you hold none, and serialise index.json updates among
 * themselves (store/.index.lock).  Only prune takes it exclusive.
 *
 * A struct oci_store is used by one thread at a time; blob writers of one
 * store may be driven concurrently. */
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

/* flock the store: shared for users of the store (readers, pulls), exclusive
 * for prune (which takes it itself).  Taking it again converts the lock
 * (not atomically: flock(2)).  Unlock by closing or oci_store_unlock. */
int oci_store_lock (struct oci_store *s, int exclusive, nb_error_t *err);
void oci_store_unlock (struct oci_store *s);

/* Blobs. */
int oci_store_has_blob (struct oci_store *s, const char *digest);
/* Path of a blob (new string), whether or not it exists; NULL for a
 * malformed digest. */
char *oci_store_blob_path (struct oci_store *s, const char *digest);
/* Open a blob for reading (O_RDONLY|O_CLOEXEC); a missing one is an error
 * with errno_val ENOENT. */
int oci_store_open_blob (struct oci_store *s, const char *digest,
                         nb_error_t *err);
/* Read a small blob (manifest, config, index) whole, verifying its digest. */
int oci_store_read_blob (struct oci_store *s, const char *digest, char **data,
                         size_t *len, nb_error_t *err);

/* Writing a blob: begin, write (any number of times; hashed as it goes),
 * commit (checks the digest and size, fsyncs, links into place) or abort
 * (removes the temp file).  Commit and abort both free W, whether the commit
 * succeeds or not.  EXPECTED_SIZE -1: unknown; otherwise a write past it
 * fails at once.  EXPECTED_DIGEST NULL: the blob is whatever it hashes to
 * (importing archives that do not name their blobs by digest); get that
 * digest from oci_store_blob_commit_digest.  Committing a blob that is
 * already there is fine (content-addressed: the temp file just goes).
 * A writer whose process dies leaves only a temp file under blobs/.tmp/,
 * which prune removes. */
struct oci_blob_writer;
int oci_store_blob_begin (struct oci_store *s, const char *expected_digest,
                          long long expected_size, struct oci_blob_writer **w,
                          nb_error_t *err);
int oci_store_blob_write (struct oci_blob_writer *w, const void *data,
                          size_t len, nb_error_t *err);
int oci_store_blob_commit (struct oci_blob_writer *w, nb_error_t *err);
/* The same, writing the blob's digest into OUT on success. */
int oci_store_blob_commit_digest (struct oci_blob_writer *w,
                                  char out[OCI_DIGEST_LEN + 1],
                                  nb_error_t *err);
void oci_store_blob_abort (struct oci_blob_writer *w);
/* Store DATA as a blob; writes its digest into OUT. */
int oci_store_put_blob (struct oci_store *s, const void *data, size_t len,
                        char out[OCI_DIGEST_LEN + 1], nb_error_t *err);

/* Put SRC's blob DIGEST into DST too, by a hard link (both stores on one
 * filesystem; SRC verified it when it was written).  A blob DST has already
 * is fine; one SRC lacks is an error with errno_val ENOENT. */
int oci_store_adopt_blob (struct oci_store *dst, struct oci_store *src,
                          const char *digest, nb_error_t *err);

/* Refs: NAME is the canonical reference string (oci_ref_string), stored as
 * the org.opencontainers.image.ref.name annotation, so that
 * `skopeo inspect oci:STORE:NAME` finds it.  Tagging replaces NAME's entry;
 * the manifest must be in the store already. */
int oci_store_tag (struct oci_store *s, const char *name,
                   const struct oci_descriptor *manifest, nb_error_t *err);
/* 0 and *out filled, or -1 with status 0 and errno_val ENOENT when NAME is
 * not in the store. */
int oci_store_resolve (struct oci_store *s, const char *name,
                       struct oci_descriptor *out, nb_error_t *err);
int oci_store_untag (struct oci_store *s, const char *name, nb_error_t *err);
/* index.json's manifests array (borrowed reference; valid until the next
 * oci_store_list, oci_store_tag, oci_store_untag or oci_store_close). */
int oci_store_list (struct oci_store *s, json_t **manifests, nb_error_t *err);

/* Remove blobs that no ref reaches (through manifests, indexes, configs and
 * layers) and stale temp files; LAYERS_DIR's layer dirs whose diff_id no
 * kept image uses are removed too.  Counts what went.
 * LAYERS_DIR (may be NULL) holds "<hex>" layer dirs (the hex of the diff_id)
 * and "<hex>.<suffix>" files that go with them; anything else there is
 * taken for the leftover of an interrupted extraction and removed -- so
 * extract under the shared store lock.  Read-only directories in layers are
 * made writable to be emptied; what cannot be (files of other uids) is
 * reported, and the rest is still swept.  A damaged index.json or manifest
 * stops prune before it removes anything. */
int oci_store_prune (struct oci_store *s, const char *layers_dir,
                     size_t *blobs_removed, size_t *layers_removed,
                     nb_error_t *err);

/* The same, also keeping the layers whose diff_id hex is a key of KEEP
 * (e.g. what sandboxes run on, whether or not an image still names them). */
int oci_store_prune_keep (struct oci_store *s, const char *layers_dir,
                          json_t *keep, size_t *blobs_removed,
                          size_t *layers_removed, nb_error_t *err);

void oci_descriptor_clear (struct oci_descriptor *d);

#endif
