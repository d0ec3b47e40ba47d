/* The names of nsbox run's network modes (cli/network.h); apart from the
 * rest so that the profile parser needs nothing else of the network. */
#include "cli/network.h"

#include <string.h>

static const char *const mode_names[] = {
  [SB_NET_NONE] = "none",
  [SB_NET_OPEN] = "open",
  [SB_NET_FILTERED] = "filtered",
  [SB_NET_HOST] = "host",
};

int
sb_net_mode_parse (const char *text, enum sb_net_mode *mode, nb_error_t *err)
{
  for (size_t i = 0; i < sizeof mode_names / sizeof *mode_names; i++)
    if (strcmp (text, mode_names[i]) == 0)
      {
        *mode = (enum sb_net_mode) i;
        return 0;
      }
  nb_error_make (err, 0, "unknown network mode '%s'", text);
  return nb_error_hint (err, "use none, open, filtered or host");
}

const char *
sb_net_mode_name (enum sb_net_mode mode)
{
  return mode_names[mode];
}

