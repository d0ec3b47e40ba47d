/* The image verbs (in nsbox-images.so): shared state and helpers. */
#ifndef SB_IMAGE_H
#define SB_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "oci/store.h"
#include "runtime/base/error.h"

struct img_ctx
{
  char *data_dir;   /* $XDG_DATA_HOME/nsbox */
  char *store_dir;  /* data_dir/store: the OCI layout */
  char *layers_dir; /* data_dir/layers: one dir per diff_id */
  struct oci_store *store;
};

int img_ctx_open (struct img_ctx *c, nb_error_t *err);
void img_ctx_close (struct img_ctx *c);

/* An image's manifest and config, read back from the store. */
struct img_image
{
  json_t *manifest;
  json_t *config;
  char manifest_digest[OCI_DIGEST_LEN + 1];
};
void img_image_clear (struct img_image *img);

/* Resolve DIGEST (a manifest or an image index, then the manifest for
 * linux/<host arch>) into IMG.  The blobs must be in the store. */
int img_read_image (struct img_ctx *c, const char *digest, const char *media_type,
                    struct img_image *img, nb_error_t *err);
/* How deep indexes may nest (index -> index -> manifest is depth 2). */
#define IMG_MAX_INDEX_DEPTH 4
/* The platform manifest of an index for this host -- or, failing that, an
 * entry without a platform that is itself an index -- or -1 naming what it
 * offers instead. */
int img_select_platform (json_t *index, const char *what, json_t **manifest,
                         nb_error_t *err);
/* An OCI image index or a Docker manifest list? */
bool img_is_index_type (const char *media_type);
/* This host's architecture in OCI terms (amd64, arm64, ...). */
const char *img_host_arch (void);

/* Extract every layer of IMG that is not yet under layers/ (verified against
 * its digest and diff_id); inside a user namespace with the user's
 * subordinate ids when the host has them, so files keep their owners.
 * *MAPPING describes the id mapping used ("subids:0:UID:1,1:START:COUNT"
 * style text, or "single:UID"). */
int img_unpack (struct img_ctx *c, const struct img_image *img,
                char **mapping, nb_error_t *err);
/* The same extracted for the keep-id mapping (the user at KEEP_UID:KEEP_GID
 * inside), into layers/<hex>.keep-U-G: once per (diff_id, mapping). */
int img_unpack_keep (struct img_ctx *c, const struct img_image *img,
                     uint32_t keep_uid, uint32_t keep_gid, char **mapping,
                     nb_error_t *err);
/* The dir a layer is (or would be) extracted to for that mapping (0, 0:
 * the store's own). */
char *img_layer_dir (struct img_ctx *c, const char *diff_id,
                     uint32_t keep_uid, uint32_t keep_gid);
/* The id mapping a layer was extracted with (its dir's .mapping file), or
 * NULL. */
char *img_layer_mapping (struct img_ctx *c, const char *diff_id,
                         uint32_t keep_uid, uint32_t keep_gid);

/* Pull REF as `nsbox pull [-q] REF` does (insecure registries from the
 * user's config.json). */
int img_pull (const char *ref, bool quiet, nb_error_t *err);
/* An image template for `nsbox run -t REF`: resolved in the store -- pulled
 * first when PULL is "always", or when it is missing and PULL is "missing"
 * -- its layers extracted, and described in *OUT:
 *   {"ref", "digest" (manifest), "layers": [dirs, lowest first],
 *    "mapping" (the id mapping the layers are stored with),
 *    "config": the image config's "config" object (Env, User, ...),
 *    "asked_user": USER when given}.
 * USER (NULL: the image's User) is who the agent runs as, as a User
 * field says it: NAME or UID, with :GROUP or :GID. */
int img_template (const char *ref, const char *pull, const char *user,
                  json_t **out, nb_error_t *err);

int img_cmd_pull (int argc, char **argv);
int img_cmd_load (int argc, char **argv);
int img_cmd_images (int argc, char **argv);
int img_cmd_rmi (int argc, char **argv);
int img_cmd_image (int argc, char **argv);

#endif
