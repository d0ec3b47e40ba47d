#define _GNU_SOURCE
#include "proxy/log.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

int
nb_proxy_log_open (struct nb_proxy_log *log, const char *path,
                   const char *sandbox, nb_error_t *err)
{
  log->fd = -1;
  log->sandbox = strdup (sandbox ? sandbox : "");
  if (log->sandbox == NULL)
    return nb_error_make (err, ENOMEM, "proxy log");
  if (path == NULL)
    return 0;
  log->fd
      = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (log->fd < 0)
    {
      free (log->sandbox);
      log->sandbox = NULL;
      return nb_error_make (err, errno, "open the proxy log %s", path);
    }
  return 0;
}

void
nb_proxy_log_close (struct nb_proxy_log *log)
{
  if (log->fd >= 0)
    close (log->fd);
  log->fd = -1;
  free (log->sandbox);
  log->sandbox = NULL;
}

/* A JSON string of TEXT; what is not UTF-8 is escaped first. */
static json_t *
str (const char *text)
{
  json_t *j = json_string (text);
  if (j == NULL)
    {
      cleanup_free char *esc = nb_escape (text);
      j = json_string (esc ? esc : "?");
    }
  return j;
}

char *
nb_proxy_log_format (const struct nb_proxy_log *log,
                     const struct nb_log_entry *e)
{
  cleanup_json json_t *o = json_object ();
  struct timespec ts;
  struct tm tm;
  char when[64];

  if (o == NULL)
    return NULL;
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  size_t n = strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
  json_object_set_new (o, "time", json_string (when));
  json_object_set_new (o, "sandbox", str (log->sandbox ? log->sandbox : ""));
  json_object_set_new (o, "event", str (e->event));
  if (e->proto)
    json_object_set_new (o, "proto", str (e->proto));
  if (e->method)
    json_object_set_new (o, "method", str (e->method));
  if (e->host)
    json_object_set_new (o, "host", str (e->host));
  if (e->port)
    json_object_set_new (o, "port", json_integer (e->port));
  if (e->address)
    json_object_set_new (o, "address", str (e->address));
  if (e->decision >= 0)
    json_object_set_new (o, "decision",
                         json_string (e->decision ? "allow" : "deny"));
  if (e->rule)
    json_object_set_new (o, "rule", str (e->rule));
  if (e->status >= 0)
    json_object_set_new (o, "status", json_integer (e->status));
  if (e->error)
    json_object_set_new (o, "error", str (e->error));
  if (e->has_bytes)
    {
      json_object_set_new (o, "bytes_up",
                           json_integer ((json_int_t)e->bytes_up));
      json_object_set_new (o, "bytes_down",
                           json_integer ((json_int_t)e->bytes_down));
    }
  char *text = json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text == NULL)
    return NULL;
  size_t len = strlen (text);
  char *line = realloc (text, len + 2);
  if (line == NULL)
    {
      free (text);
      return NULL;
    }
  line[len] = '\n';
  line[len + 1] = '\0';
  return line;
}

void
nb_proxy_log_write (struct nb_proxy_log *log, const struct nb_log_entry *e)
{
  if (log->fd < 0)
    return;
  cleanup_free char *line = nb_proxy_log_format (log, e);
  if (line)
    (void)nb_write_all (log->fd, line, strlen (line));
}
