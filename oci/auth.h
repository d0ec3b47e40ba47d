/* Registry credentials and authentication challenges.
 *
 * Credentials are read, in this order, from
 *   $XDG_RUNTIME_DIR/containers/auth.json   (podman/skopeo login)
 *   ~/.docker/config.json                   (docker login)
 * both of the form {"auths": {KEY: {"auth": base64("user:password")}}} or
 * {... {"username": U, "password": P}}.  A KEY names a registry as "host",
 * "host:port" or a URL ("https://index.docker.io/v1/", whose path is
 * ignored); containers-auth.json(5) also allows "host/namespace", which
 * matches that namespace's repositories only, the most specific key winning.
 * docker.io, index.docker.io and registry-1.docker.io are one registry.
 * Credential helpers (credsStore, credHelpers) are not run. */
#ifndef OCI_AUTH_H
#define OCI_AUTH_H

#include "runtime/base/error.h"
#include <stddef.h>

struct oci_credentials
{
  char *username;
  char *password;
  char *source; /* the file they came from, for messages */
};

/* Look up the credentials for REGISTRY ("host" or "host:port", as in
 * oci_ref's registry) and REPOSITORY (may be NULL) in the files above.
 * Returns 1 with *OUT filled, 0 when no file has any, < 0 when a file that
 * exists cannot be read, is not JSON of the expected shape, or its matching
 * entry cannot be decoded. */
int oci_auth_lookup (const char *registry, const char *repository,
                     struct oci_credentials *out, nb_error_t *err);
/* The same for one file (a missing file has no credentials). */
int oci_auth_lookup_file (const char *path, const char *registry,
                          const char *repository, struct oci_credentials *out,
                          nb_error_t *err);
/* The same for a file's text; SOURCE names it in messages. */
int oci_auth_lookup_json (const char *text, size_t len, const char *source,
                          const char *registry, const char *repository,
                          struct oci_credentials *out, nb_error_t *err);
/* Free the strings, wiping the password first. */
void oci_credentials_clear (struct oci_credentials *c);

enum oci_auth_scheme
{
  OCI_AUTH_NONE,
  OCI_AUTH_BASIC,
  OCI_AUTH_BEARER,
};

struct oci_auth_challenge
{
  enum oci_auth_scheme scheme;
  char *realm;
  char *service; /* Bearer only; NULL when absent */
  char *scope;   /* Bearer only; NULL when absent */
};

/* Parse WWW-Authenticate header value(s) (several joined with ", " are one
 * list, RFC 9110 11.6.1) and keep the challenge we can answer: Bearer over
 * Basic; other schemes are skipped.  Returns 1 with *OUT filled, 0 when
 * neither is offered (or the text is malformed); -1 only when out of
 * memory. */
int oci_auth_parse_challenge (const char *header,
                              struct oci_auth_challenge *out);
void oci_auth_challenge_clear (struct oci_auth_challenge *c);

#endif
