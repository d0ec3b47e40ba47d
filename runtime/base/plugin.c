#define _GNU_SOURCE
#include "plugin.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef NSBOX_LIBDIR
#define NSBOX_LIBDIR "/usr/local/lib/nsbox"
#endif

static void *
open_path (const char *path, nb_error_t *err)
{
  void *h = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL)
    nb_error_make (err, 0, "load %s: %s", path, dlerror ());
  return h;
}

void *
nb_plugin_open (const char *file, const char *env_var, nb_error_t *err)
{
  char exe[PATH_MAX], cand[PATH_MAX + 64];
  const char *env = env_var ? getenv (env_var) : NULL;
  ssize_t n;
  void *h;

  if (env && env[0])
    return open_path (env, err);
  n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    {
      exe[n] = '\0';
      snprintf (cand, sizeof cand, "%s/%s", dirname (exe), file);
      if (access (cand, R_OK) == 0)
        return open_path (cand, err);
    }
  snprintf (cand, sizeof cand, "%s/%s", NSBOX_LIBDIR, file);
  h = open_path (cand, err);
  if (h == NULL)
    nb_error_hint (err, "%s is not installed next to the binary nor in %s",
                   file, NSBOX_LIBDIR);
  return h;
}
