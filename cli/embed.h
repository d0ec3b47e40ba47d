/* Profiles compiled into the binary (see cli/gen-embed.sh). */
#ifndef NB_EMBED_H
#define NB_EMBED_H

#include <stddef.h>

struct nb_embedded
{
  const char *name; /* path below profiles/, e.g. "agents/shell.json" */
  const char *data; /* NUL-terminated */
  size_t unused;
  const char *end;
};

extern const struct nb_embedded nb_embedded_files[];

/* The embedded file NAME, or NULL. */
const char *nb_embedded_get (const char *name, size_t *len);

#endif
