/* Image references, normalised like Docker's:
 *   busybox             -> docker.io/library/busybox:latest
 *   user/app:1          -> docker.io/user/app:1
 *   127.0.0.1:5000/x:y  -> 127.0.0.1:5000/x:y
 *   repo@sha256:<hex>   -> pinned by digest (a tag may be kept alongside). */
#ifndef OCI_REF_H
#define OCI_REF_H

#include "runtime/base/error.h"

struct oci_ref
{
  char *registry;   /* "docker.io", "127.0.0.1:5000", "ghcr.io" */
  char *repository; /* "library/busybox" */
  char *tag;        /* "latest"; NULL when only a digest was given */
  char *digest;     /* "sha256:<64 hex>" or NULL */
};

int oci_ref_parse (const char *text, struct oci_ref **out, nb_error_t *err);
/* The canonical name: "registry/repository[:tag][@digest]" (new string). */
char *oci_ref_string (const struct oci_ref *ref);
/* The host to talk to for REF's registry: docker.io -> registry-1.docker.io. */
const char *oci_ref_api_host (const struct oci_ref *ref);
void oci_ref_free (struct oci_ref *ref);

#endif
