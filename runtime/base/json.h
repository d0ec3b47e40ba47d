/* JSON files that a user or an image supplies, read with jansson. */
#ifndef NB_JSON_H
#define NB_JSON_H

#include <jansson.h>
#include "error.h"

/* Parse PATH (a regular file: see nb_read_file) as JSON; errors name the
 * file, the line and jansson's cause.  Any JSON value; check its type. */
json_t *nb_json_load_file (const char *path, nb_error_t *err);

/* json_decrefp comes with jansson (2.11+). */
#define cleanup_json __attribute__ ((cleanup (json_decrefp)))

#endif
