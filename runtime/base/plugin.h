/* nsbox's plugins: code with heavy libraries (libcurl, libarchive,
 * libcrypto for images; libseccomp for compiling profiles) that nsbox
 * dlopens only when it needs it, so that a sandbox start never pays for
 * loading them. */
#ifndef NB_PLUGIN_H
#define NB_PLUGIN_H

#include "error.h"

/* dlopen FILE (e.g. "nsbox-images.so"): the path in $ENV_VAR when it is set
 * (tests), else next to the running binary (a build tree, a relocated
 * install), else in nsbox's library dir. */
void *nb_plugin_open (const char *file, const char *env_var,
                      nb_error_t *err);

#endif
