/* A client of the OCI distribution API v2 over libcurl: anonymous,
 * Bearer-token (the WWW-Authenticate challenge) and Basic auth, credentials
 * from ~/.docker/config.json and $XDG_RUNTIME_DIR/containers/auth.json,
 * transient errors retried, blobs fetched in parallel straight into the
 * store (verified there), plain HTTP only for loopback registries or those
 * named insecure. */
#ifndef OCI_REGISTRY_H
#define OCI_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include "oci/ref.h"
#include "oci/store.h"
#include "runtime/base/error.h"

/* Every manifest media type we accept, for the Accept header (Debian's
 * docker-registry answers 404 for an OCI manifest unless it is listed). */
#define OCI_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_DOCKER_MANIFEST \
  "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST \
  "application/vnd.docker.distribution.manifest.list.v2+json"

struct oci_registry_opts
{
  /* Registries ("host" or "host:port") that may be spoken to over plain
   * HTTP besides loopback ones; NULL-terminated, may be NULL. */
  const char *const *insecure;
  int parallel;        /* concurrent blob downloads; 0 = default (4) */
  bool progress;       /* progress bar on stderr (a TTY) or plain lines */
};

struct oci_registry;

int oci_registry_new (const struct oci_ref *ref,
                      const struct oci_registry_opts *opts,
                      struct oci_registry **out, nb_error_t *err);
void oci_registry_free (struct oci_registry *r);

/* GET the manifest REFERENCE (a tag or a digest) of the ref's repository.
 * *DIGEST is the sha256 of the body; when REFERENCE is a digest, a body that
 * does not hash to it is an error.  Errors read like
 * "manifest unknown (the tag does not exist in that repository)". */
int oci_registry_get_manifest (struct oci_registry *r, const char *reference,
                               char **body, size_t *len, char **media_type,
                               char digest[OCI_DIGEST_LEN + 1],
                               nb_error_t *err);

/* Download BLOBS that the store does not have yet into it, PARALLEL at a
 * time, each verified against its digest and size before it is committed. */
int oci_registry_fetch_blobs (struct oci_registry *r, struct oci_store *store,
                              const struct oci_descriptor *blobs, size_t n,
                              nb_error_t *err);

#endif
