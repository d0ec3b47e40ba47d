/* Errors are said once, where they happen, and carried up (crun's
 * convention): a failing function returns < 0 and fills *err; callers add
 * context with nb_error_wrap; the CLI prints it once. */
#ifndef NB_ERROR_H
#define NB_ERROR_H

#include <stdarg.h>

struct nb_error
{
  int errno_val; /* 0 when the cause is not a system error */
  int status;    /* exit status to report; 0 means "nsbox failed" (125) */
  char *msg;
};
typedef struct nb_error *nb_error_t;

/* Fill *err with "FMT: strerror(errnum)" (or just FMT when errnum is 0),
 * control characters escaped (nb_escape).
 * Returns -1 so that `return nb_error_make (...)` reads naturally. */
int nb_error_make (nb_error_t *err, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* The same, with an explicit exit status (126, 127, ...). */
int nb_error_make_status (nb_error_t *err, int status, int errnum,
                          const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* Prefix the message with context: "CONTEXT: previous message". */
int nb_error_wrap (nb_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* Append a hint on a new line: "  hint: ...". */
int nb_error_hint (nb_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* An error whose text was made by nsbox already (in a child, across the
 * fork): taken as it is, hints and all. */
int nb_error_set_text (nb_error_t *err, int status, const char *text);
void nb_error_free (nb_error_t *err);
/* TEXT with control characters (C0, DEL, C1) and bytes that are not UTF-8
 * shown as \xNN, in a new string (NULL when out of memory).  Every message
 * made above is escaped so; use it for other output that quotes input. */
char *nb_escape (const char *text);
/* Print "nsbox: MSG" once and free; returns the exit status to use. */
int nb_error_report (nb_error_t *err);

static inline void
nb_error_freep (nb_error_t *err)
{
  nb_error_free (err);
}
#define cleanup_error __attribute__ ((cleanup (nb_error_freep)))

/* Exit statuses follow Docker's convention. */
enum
{
  NB_EXIT_FAILED = 125,
  NB_EXIT_CANNOT_INVOKE = 126,
  NB_EXIT_NOT_FOUND = 127,
};

#endif
