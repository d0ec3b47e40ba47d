/* Image templates on the start path: asking nsbox-images.so for one the first
 * time, and reading the id mapping its layers were stored with. */
#ifndef SB_TEMPLATE_H
#define SB_TEMPLATE_H

#include <jansson.h>
#include "runtime/base/error.h"
#include "runtime/spec.h"

/* img_template (cli/image.h) through the plugin: the only time a run loads
 * the image libraries.  USER: the agent profile's, or NULL. */
int sb_template_resolve (const char *ref, const char *pull, const char *user,
                         json_t **out, nb_error_t *err);

/* Parse a layer mapping ("subids uid=0:1000:1,1:100000:65536 gid=...",
 * "single uid=0:1000:1 gid=0:1000:1") into id maps; -1 for any other. */
int sb_template_mapping (const char *mapping, struct rt_idmap *uids,
                         size_t *n_uids, struct rt_idmap *gids,
                         size_t *n_gids, size_t max, nb_error_t *err);

#endif
