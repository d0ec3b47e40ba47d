#define _GNU_SOURCE
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at S (1 for ASCII), or 0. */
static size_t
utf8_len (const unsigned char *s)
{
  size_t n, i;
  unsigned cp;

  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, cp = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, cp = s[0] & 0x07;
  else
    return 0;
  for (i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
  /* Overlong forms, surrogates and beyond U+10FFFF are not text. */
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
      || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

char *
nb_escape (const char *text)
{
  const unsigned char *s = (const unsigned char *) text;
  size_t cap = strlen (text) * 4 + 1, o = 0;
  char *out = malloc (cap);

  if (out == NULL)
    return NULL;
  while (*s)
    {
      size_t n = utf8_len (s);
      /* C0 controls, DEL, C1 controls (U+0080..U+009F, which some terminals
       * obey as 8-bit escapes) and bytes that are not UTF-8: shown as \xNN,
       * so that input can neither move the cursor nor fake a line. */
      if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f))
          || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0))
        {
          size_t k = n ? n : 1;
          for (size_t i = 0; i < k; i++)
            o += (size_t) snprintf (out + o, cap - o, "\\x%02x", s[i]);
          s += k;
          continue;
        }
      memcpy (out + o, s, n);
      o += n;
      s += n;
    }
  out[o] = '\0';
  return out;
}

static char *
vformat (const char *fmt, va_list ap)
{
  char *s = NULL, *e;
  if (vasprintf (&s, fmt, ap) < 0)
    return NULL;
  /* Messages quote input (names, file contents, server replies): escape
   * what a terminal would act on, here where the text is made. */
  e = nb_escape (s);
  free (s);
  return e;
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

int
nb_error_set_text (nb_error_t *err, int status, const char *text)
{
  struct nb_error *e;

  if (err == NULL)
    return -1;
  nb_error_free (err);
  e = calloc (1, sizeof *e);
  if (e == NULL)
    return -1;
  e->status = status;
  e->msg = strdup (text);
  *err = e;
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
