/* Scope-bound cleanup helpers, in the style of crun and systemd: a function
 * with several early returns then has no leak paths. */
#ifndef NB_CLEANUP_H
#define NB_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

static inline void nb_freep (void *p) { free (*(void **) p); }
static inline void
nb_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}
static inline void
nb_fclosep (FILE **f)
{
  if (*f)
    fclose (*f);
}
static inline void
nb_free_strvp (char ***v)
{
  if (*v == NULL)
    return;
  for (char **p = *v; *p; p++)
    free (*p);
  free (*v);
}

#define cleanup_free __attribute__ ((cleanup (nb_freep)))
#define cleanup_close __attribute__ ((cleanup (nb_closep)))
#define cleanup_file __attribute__ ((cleanup (nb_fclosep)))
#define cleanup_strv __attribute__ ((cleanup (nb_free_strvp)))

/* Hand ownership on: the cleanup attribute then frees NULL. */
static inline void *
nb_steal_ptr (void *pp)
{
  void **p = pp;
  void *v = *p;
  *p = NULL;
  return v;
}
#define steal_pointer(pp) ((__typeof__ (*(pp))) nb_steal_ptr (pp))

static inline int
nb_steal_fd (int *fd)
{
  int v = *fd;
  *fd = -1;
  return v;
}

#endif
