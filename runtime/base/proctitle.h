/* A process's name, as ps shows it. */
#ifndef NB_PROCTITLE_H
#define NB_PROCTITLE_H

/* NAME as this process's name (comm) and as its whole command line: the
 * command line a long-lived child was forked with (nsbox run's, an
 * -e KEY=VALUE among it) is no longer there for any user's ps to read. */
void nb_set_proctitle (const char *name);

#endif
