/* The image verbs live in nsbox-oci.so (libcurl, libarchive, libcrypto):
 * loading those costs more than a whole sandbox start, so only the verbs
 * that need them pay for it. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*image_main_fn) (int argc, char **argv);

/* Next to the binary (a build tree, a relocated install), then the
 * configured library dir; NSBOX_OCI_LIB overrides both (tests). */
static void *
open_image_lib (nb_error_t *err)
{
  char exe[PATH_MAX], cand[PATH_MAX + 32];
  const char *env = getenv ("NSBOX_OCI_LIB");
  ssize_t n;
  void *h;

  if (env && env[0])
    {
      h = dlopen (env, RTLD_NOW | RTLD_LOCAL);
      if (h == NULL)
        nb_error_make (err, 0, "load %s: %s", env, dlerror ());
      return h;
    }
  n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    {
      exe[n] = '\0';
      snprintf (cand, sizeof cand, "%s/nsbox-oci.so", dirname (exe));
      if (access (cand, R_OK) == 0)
        {
          h = dlopen (cand, RTLD_NOW | RTLD_LOCAL);
          if (h == NULL)
            nb_error_make (err, 0, "load %s: %s", cand, dlerror ());
          return h;
        }
    }
  snprintf (cand, sizeof cand, "%s/nsbox-oci.so", NSBOX_LIBDIR);
  h = dlopen (cand, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL)
    {
      nb_error_make (err, 0, "load %s: %s", cand, dlerror ());
      nb_error_hint (err, "nsbox's image support is not installed next to "
                          "the binary nor in " NSBOX_LIBDIR);
    }
  return h;
}

int
cmd_image (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  image_main_fn fn;
  void *h = open_image_lib (&err);

  if (h == NULL)
    return nb_error_report (&err);
  fn = (image_main_fn) dlsym (h, "nsbox_image_main");
  if (fn == NULL)
    {
      nb_error_make (&err, 0, "nsbox-oci.so: %s", dlerror ());
      return nb_error_report (&err);
    }
  return fn (argc, argv);
}
