#define _GNU_SOURCE
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
vformat (const char *fmt, va_list ap)
{
  char *s = NULL;
  if (vasprintf (&s, fmt, ap) < 0)
    return NULL;
  return s;
}

static int
make_error (nb_error_t *err, int status, int errnum, const char *fmt,
            va_list ap)
{
  char *what = vformat (fmt, ap);
  struct nb_error *e;

  if (err == NULL)
    {
      free (what);
      return -1;
    }
  nb_error_free (err);
  e = calloc (1, sizeof *e);
  if (e == NULL)
    {
      free (what);
      return -1;
    }
  e->errno_val = errnum;
  e->status = status;
  if (errnum != 0)
    {
      if (asprintf (&e->msg, "%s: %s", what ? what : "?", strerror (errnum))
          < 0)
        e->msg = NULL;
      free (what);
    }
  else
    e->msg = what;
  *err = e;
  return -1;
}

int
nb_error_make (nb_error_t *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  make_error (err, 0, errnum, fmt, ap);
  va_end (ap);
  return -1;
}

int
nb_error_make_status (nb_error_t *err, int status, int errnum, const char *fmt,
                      ...)
{
  va_list ap;
  va_start (ap, fmt);
  make_error (err, status, errnum, fmt, ap);
  va_end (ap);
  return -1;
}

int
nb_error_wrap (nb_error_t *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx, *joined = NULL;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  ctx = vformat (fmt, ap);
  va_end (ap);
  if (ctx && asprintf (&joined, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "")
                 >= 0)
    {
      free ((*err)->msg);
      (*err)->msg = joined;
    }
  free (ctx);
  return -1;
}

int
nb_error_hint (nb_error_t *err, const char *fmt, ...)
{
  va_list ap;
  char *hint, *joined = NULL;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  hint = vformat (fmt, ap);
  va_end (ap);
  if (hint
      && asprintf (&joined, "%s\n  hint: %s", (*err)->msg ? (*err)->msg : "",
                   hint)
             >= 0)
    {
      free ((*err)->msg);
      (*err)->msg = joined;
    }
  free (hint);
  return -1;
}

void
nb_error_free (nb_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

int
nb_error_report (nb_error_t *err)
{
  int status = NB_EXIT_FAILED;

  if (err && *err)
    {
      fprintf (stderr, "nsbox: %s\n", (*err)->msg ? (*err)->msg : "error");
      if ((*err)->status > 0)
        status = (*err)->status;
      nb_error_free (err);
    }
  return status;
}
