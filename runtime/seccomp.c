#define _GNU_SOURCE
#include "runtime/seccomp.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/plugin.h"
#include "runtime/seccomp_compile.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef NSBOX_VERSION
#define NSBOX_VERSION "dev"
#endif
#define CACHE_MAGIC "nsbox-seccomp-bpf 1"

static int
parse_flags (json_t *profile, unsigned *flags, nb_error_t *err)
{
  static const struct
  {
    const char *name;
    unsigned flag;
  } known[] = {
    { "SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC },
    { "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
    { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
    { "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1U << 5 },
  };
  json_t *list = json_object_get (profile, "flags"), *f;
  size_t i;

  *flags = 0;
  json_array_foreach (list, i, f)
  {
    const char *name = json_string_value (f);
    size_t k;
    for (k = 0; name && k < sizeof known / sizeof known[0]; k++)
      if (strcmp (name, known[k].name) == 0)
        break;
    if (name == NULL || k == sizeof known / sizeof known[0])
      return nb_error_make (err, 0, "seccomp: flags[%zu]: unknown flag '%s'",
                            i, name ? name : "(not a string)");
    *flags |= known[k].flag;
  }
  return 0;
}

/* FNV-1a: only names the cache file; the file's own copy of the canonical
 * text is what decides whether it is this profile's program. */
static uint64_t
fnv1a (const char *s, size_t n)
{
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char) s[i]) * 1099511628211ULL;
  return h;
}

static char *
cache_path (const char *canon, size_t n)
{
  const char *xdg = getenv ("XDG_CACHE_HOME"), *home = getenv ("HOME");
  char *p = NULL;
  uint64_t h = fnv1a (canon, n);

  if (xdg && xdg[0] == '/')
    home = NULL;
  else if (home && home[0] == '/')
    xdg = NULL;
  else
    return NULL;
  if (asprintf (&p, "%s%s/nsbox/seccomp/%016llx.bpf", xdg ? xdg : home,
                xdg ? "" : "/.cache", (unsigned long long) h)
      < 0)
    return NULL;
  return p;
}

/* The header that keys a cached program: what else could change it. */
static char *
cache_header (size_t canon_len)
{
  struct utsname u;
  char *h = NULL;

  if (uname (&u) < 0)
    return NULL;
  if (asprintf (&h, "%s\n%s\n%s %s\n%zu\n", CACHE_MAGIC, NSBOX_VERSION,
                u.release, u.machine, canon_len)
      < 0)
    return NULL;
  return h;
}

static int
cache_lookup (const char *path, const char *canon, size_t n,
              struct rt_seccomp *out)
{
  cleanup_free char *data = NULL, *head = cache_header (n);
  cleanup_error nb_error_t e = NULL;
  size_t len, hl;
  void *bpf;

  if (path == NULL || head == NULL
      || nb_read_file (path, &data, &len, &e) < 0)
    return -1;
  hl = strlen (head);
  if (len <= hl + n || memcmp (data, head, hl) != 0
      || memcmp (data + hl, canon, n) != 0 || (len - hl - n) % 8 != 0)
    return -1;
  bpf = malloc (len - hl - n);
  if (bpf == NULL)
    return -1;
  memcpy (bpf, data + hl + n, len - hl - n);
  out->bpf = out->owned = bpf;
  out->len = len - hl - n;
  return 0;
}

static void
cache_store (const char *path, const char *canon, size_t n, const void *bpf,
             size_t len)
{
  cleanup_free char *head = cache_header (n), *dir = NULL, *buf = NULL;
  cleanup_error nb_error_t e = NULL;
  size_t hl;

  if (path == NULL || head == NULL || (dir = strdup (path)) == NULL)
    return;
  *strrchr (dir, '/') = '\0';
  hl = strlen (head);
  buf = malloc (hl + n + len);
  if (buf == NULL || nb_mkdir_p (dir, 0700, &e) < 0)
    return;
  memcpy (buf, head, hl);
  memcpy (buf + hl, canon, n);
  memcpy (buf + hl + n, bpf, len);
  /* A cache: losing it costs a compilation, nothing more. */
  nb_write_file_atomic (path, buf, hl + n + len, 0600, 0, &e);
}

static int
compile (json_t *profile, struct rt_seccomp *out, nb_error_t *err)
{
  void *h = nb_plugin_open ("nsbox-seccomp.so", "NSBOX_SECCOMP_LIB", err);
  rt_seccomp_compile_fn fn;
  cleanup_free char *warnings = NULL;
  void *bpf = NULL;
  size_t len = 0;

  if (h == NULL)
    return nb_error_wrap (err, "seccomp: compile the profile");
  fn = (rt_seccomp_compile_fn) dlsym (h, RT_SECCOMP_COMPILE_SYMBOL);
  if (fn == NULL)
    return nb_error_make (err, 0, "nsbox-seccomp.so: %s", dlerror ());
  if (fn (profile, &bpf, &len, &warnings, err) < 0)
    return -1;
  if (warnings)
    {
      for (char *line = strtok (warnings, "\n"); line;
           line = strtok (NULL, "\n"))
        fprintf (stderr, "nsbox: warning: %s\n", line);
    }
  out->bpf = out->owned = bpf;
  out->len = len;
  return 0;
}

/* The profiles compiled at build time: the default and its --allow-nested
 * variant. */
static struct builtin
{
  const char *canon, *canon_end, *bpf, *bpf_end;
  json_t *ref;  /* its stand-in in a spec (rt_seccomp_default) */
  char *quoted; /* the stand-in as json_dumps writes it */
} builtins[] = {
  { rt_seccomp_default_canon, rt_seccomp_default_canon_end,
    rt_seccomp_default_bpf, rt_seccomp_default_bpf_end, NULL, NULL },
  { rt_seccomp_nested_canon, rt_seccomp_nested_canon_end,
    rt_seccomp_nested_bpf, rt_seccomp_nested_bpf_end, NULL, NULL },
};

/* The stand-in is a string no one can put in a spec on purpose: it holds
 * random bytes drawn by this process (an argument or a variable that
 * happened to read the same would otherwise be replaced by a profile). */
static json_t *
builtin_profile (struct builtin *b)
{
  if (b->ref == NULL)
    {
      unsigned char r[16];
      char text[64];
      int n = snprintf (text, sizeof text, "nsbox-seccomp-%d-",
                        (int) (b - builtins));
      if (getrandom (r, sizeof r, 0) != (ssize_t) sizeof r)
        return NULL;
      for (size_t i = 0; i < sizeof r; i++)
        n += snprintf (text + n, sizeof text - (size_t) n, "%02x", r[i]);
      b->ref = json_string (text);
      if (b->ref == NULL
          || asprintf (&b->quoted, "\"%s\"", text) < 0)
        {
          json_decref (b->ref);
          b->ref = NULL;
          b->quoted = NULL;
          return NULL;
        }
    }
  return json_incref (b->ref);
}

char *
rt_seccomp_expand (const char *text)
{
  size_t len = strlen (text);
  char *out = strdup (text);

  for (size_t i = 0; out && i < sizeof builtins / sizeof builtins[0]; i++)
    {
      const struct builtin *b = &builtins[i];
      size_t ql, cl = (size_t) (b->canon_end - b->canon);
      char *at, *next;
      if (b->quoted == NULL || (at = strstr (out, b->quoted)) == NULL)
        continue;
      ql = strlen (b->quoted);
      next = malloc (len - ql + cl + 1);
      if (next == NULL)
        {
          free (out);
          return NULL;
        }
      memcpy (next, out, (size_t) (at - out));
      memcpy (next + (at - out), b->canon, cl);
      strcpy (next + (at - out) + cl, at + ql);
      free (out);
      out = next;
      len = len - ql + cl;
    }
  return out;
}

json_t *
rt_seccomp_default (void)
{
  return builtin_profile (&builtins[0]);
}

json_t *
rt_seccomp_nested (void)
{
  return builtin_profile (&builtins[1]);
}

static void
use_builtin (struct rt_seccomp *out, const struct builtin *b)
{
  out->bpf = b->bpf;
  out->len = (size_t) (b->bpf_end - b->bpf);
}

int
rt_seccomp_prepare (json_t *profile, struct rt_seccomp *out, nb_error_t *err)
{
  cleanup_free char *canon = NULL, *path = NULL;
  size_t n;

  memset (out, 0, sizeof *out);
  if (profile == NULL)
    return 0;
  /* The warm path: nsbox run's spec holds a stand-in for the built-in
   * profile, known by its address. */
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (profile == builtins[i].ref)
      {
        out->enabled = true;
        use_builtin (out, &builtins[i]);
        return 0;
      }
  if (!json_is_object (profile))
    return nb_error_make (err, 0, "seccomp: linux.seccomp is not an object");
  if (parse_flags (profile, &out->flags, err) < 0)
    return -1;
  out->enabled = true;
  canon = json_dumps (profile, RT_SECCOMP_CANON_FLAGS);
  if (canon == NULL)
    return nb_error_make (err, ENOMEM, "seccomp");
  n = strlen (canon);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    {
      const struct builtin *b = &builtins[i];
      if (n == (size_t) (b->canon_end - b->canon)
          && memcmp (canon, b->canon, n) == 0)
        {
          use_builtin (out, b);
          return 0;
        }
    }
  path = cache_path (canon, n);
  if (cache_lookup (path, canon, n, out) == 0)
    return 0;
  if (compile (profile, out, err) < 0)
    return -1;
  cache_store (path, canon, n, out->bpf, out->len);
  return 0;
}

int
rt_seccomp_load (const struct rt_seccomp *sc, nb_error_t *err)
{
  struct sock_fprog prog;

  if (!sc->enabled)
    return 0;
  prog.len = (unsigned short) (sc->len / sizeof (struct sock_filter));
  prog.filter = (struct sock_filter *) sc->bpf;
  if (sc->len == 0 || sc->len / sizeof (struct sock_filter) > BPF_MAXINSNS)
    return nb_error_make (err, 0, "seccomp: a program of %zu instructions "
                                  "(the kernel takes 1..%d)",
                          sc->len / sizeof (struct sock_filter), BPF_MAXINSNS);
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, sc->flags, &prog) < 0)
    return nb_error_make (err, errno, "load the seccomp filter");
  return 0;
}

void
rt_seccomp_clear (struct rt_seccomp *sc)
{
  free (sc->owned);
  memset (sc, 0, sizeof *sc);
}
