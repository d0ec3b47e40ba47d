/* The image verbs live in nsbox-images.so (libcurl, libarchive, libcrypto):
 * loading those costs more than a whole sandbox start, so only the verbs
 * that need them pay for it. */
#define _GNU_SOURCE
#include "cli/commands.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/plugin.h"

#include <dlfcn.h>
#include <stdio.h>

typedef int (*image_main_fn) (int argc, char **argv);

int
cmd_image (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  image_main_fn fn;
  void *h = nb_plugin_open ("nsbox-images.so", "NSBOX_IMAGES_LIB", &err);

  if (h == NULL)
    return nb_error_report (&err);
  fn = (image_main_fn) dlsym (h, "nsbox_image_main");
  if (fn == NULL)
    {
      nb_error_make (&err, 0, "nsbox-images.so: %s", dlerror ());
      return nb_error_report (&err);
    }
  return fn (argc, argv);
}
