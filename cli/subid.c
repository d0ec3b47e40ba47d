#define _GNU_SOURCE
#include "cli/subid.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sb_subid_read (const char *file, const char *name, unsigned long id,
               struct sb_subid *info)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *buf = NULL;
  char *save = NULL;

  memset (info, 0, sizeof *info);
  if (nb_read_file (file, &buf, NULL, &err) < 0)
    {
      info->errnum = err->errno_val ? err->errno_val : EIO;
      return;
    }
  for (char *line = strtok_r (buf, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    {
      char owner[256];
      unsigned long start, count;
      char *end;
      bool ours;

      if (line[0] == '#'
          || sscanf (line, "%255[^:]:%lu:%lu", owner, &start, &count) != 3)
        continue;
      if (start + count > info->end)
        info->end = start + count;
      errno = 0;
      ours = (name && strcmp (owner, name) == 0)
             || (strtoul (owner, &end, 10) == id && *end == '\0' && end != owner
                 && errno == 0);
      if (!ours || count == 0)
        continue;
      if (info->total == 0)
        {
          info->start = start;
          info->count = count;
        }
      info->total += count;
    }
}
