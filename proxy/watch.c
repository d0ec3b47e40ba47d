#define _GNU_SOURCE
#include "proxy/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

static void
log_error (struct nb_proxy_log *log, const char *text)
{
  struct nb_log_entry e
      = { .event = "error", .decision = -1, .status = -1, .error = text };
  nb_proxy_log_write (log, &e);
}

static int
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino
         && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec
         && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* MERGED = fixed + each file's rules; on failure MERGED stays as it was. */
static void
rebuild (struct nb_policy_watch *w, struct nb_proxy_log *log)
{
  struct nb_policy merged = { 0 };
  nb_error_t err = NULL;
  int ok = nb_policy_merge (&merged, &w->fixed, &err) == 0;

  for (size_t i = 0; ok && i < w->n_files; i++)
    ok = nb_policy_merge (&merged, &w->files[i].pol, &err) == 0;
  if (!ok)
    {
      log_error (log, err && err->msg ? err->msg : "policy: out of memory");
      nb_error_free (&err);
      nb_policy_free (&merged);
      return;
    }
  nb_policy_free (&w->merged);
  w->merged = merged;
}

void
nb_policy_watch_refresh (struct nb_policy_watch *w, struct nb_proxy_log *log)
{
  int changed = 0;

  for (size_t i = 0; i < w->n_files; i++)
    {
      struct nb_policy_file *f = &w->files[i];
      struct stat st;
      if (stat (f->path, &st) < 0)
        {
          if (f->seen)
            {
              nb_policy_free (&f->pol);
              f->seen = 0;
              changed = 1;
            }
          continue;
        }
      if (f->seen && same_file (&st, &f->st))
        continue;
      f->seen = 1;
      f->st = st;
      cleanup_free char *text = NULL;
      size_t len;
      nb_error_t err = NULL;
      struct nb_policy pol;
      if (nb_read_file (f->path, &text, &len, &err) < 0
          || nb_policy_parse_json (text, len, f->path, &pol, &err) < 0)
        {
          char msg[600];
          snprintf (msg, sizeof msg, "%s (the previous rules stay)",
                    err && err->msg ? err->msg : f->path);
          log_error (log, msg);
          nb_error_free (&err);
          continue;
        }
      nb_policy_free (&f->pol);
      f->pol = pol;
      changed = 1;
    }
  if (changed)
    rebuild (w, log);
}

int
nb_policy_watch_init (struct nb_policy_watch *w, const char *const *allow,
                      const char *const *deny, const char *const *files,
                      struct nb_proxy_log *log, nb_error_t *err)
{
  memset (w, 0, sizeof *w);
  for (const char *const *r = allow; r && *r; r++)
    if (nb_policy_add (&w->fixed, 0, *r, err) < 0)
      return -1;
  for (const char *const *r = deny; r && *r; r++)
    if (nb_policy_add (&w->fixed, 1, *r, err) < 0)
      return -1;
  for (const char *const *f = files; f && *f; f++)
    w->n_files++;
  w->files = calloc (w->n_files + 1, sizeof *w->files);
  if (w->files == NULL)
    return nb_error_make (err, ENOMEM, "proxy policy");
  for (size_t i = 0; i < w->n_files; i++)
    w->files[i].path = files[i];
  /* The fixed rules hold from the start, whether or not a file exists. */
  if (nb_policy_merge (&w->merged, &w->fixed, err) < 0)
    return -1;
  nb_policy_watch_refresh (w, log);
  return 0;
}

void
nb_policy_watch_free (struct nb_policy_watch *w)
{
  nb_policy_free (&w->fixed);
  nb_policy_free (&w->merged);
  for (size_t i = 0; i < w->n_files; i++)
    nb_policy_free (&w->files[i].pol);
  free (w->files);
  memset (w, 0, sizeof *w);
}
