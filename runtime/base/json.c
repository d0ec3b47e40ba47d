#define _GNU_SOURCE
#include "json.h"
#include "cleanup.h"
#include "fs.h"

json_t *
nb_json_load_file (const char *path, nb_error_t *err)
{
  cleanup_free char *text = NULL;
  json_error_t jerr;
  size_t len;
  json_t *j;

  if (nb_read_file (path, &text, &len, err) < 0)
    return NULL;
  j = json_loadb (text, len, 0, &jerr);
  if (j == NULL)
    nb_error_make (err, 0, "%s: line %d: %s", path, jerr.line, jerr.text);
  return j;
}
