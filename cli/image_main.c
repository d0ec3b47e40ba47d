/* Entry point of nsbox-images.so: the image verbs. */
#define _GNU_SOURCE
#include "cli/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__ ((visibility ("default"))) int nsbox_image_main (int argc,
                                                            char **argv);

int
nsbox_image_main (int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (int, char **);
  } verbs[] = {
    { "pull", img_cmd_pull },     { "load", img_cmd_load },
    { "images", img_cmd_images }, { "rmi", img_cmd_rmi },
    { "image", img_cmd_image },   { NULL, NULL },
  };

  for (size_t i = 0; verbs[i].name; i++)
    if (strcmp (argv[0], verbs[i].name) == 0)
      return verbs[i].fn (argc, argv);
  {
    char *shown = nb_escape (argv[0]);
    fprintf (stderr, "nsbox: unknown command '%s'\n", shown ? shown : "?");
    free (shown);
  }
  return 125;
}
