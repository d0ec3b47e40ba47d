#define _GNU_SOURCE
#include "cli/limits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "512m", "2g", "100k", "1048576" -> bytes (docker's units, powers of
 * 1024). */
static int
parse_size (const char *s, int64_t *out)
{
  char *end;
  double v = strtod (s, &end);
  double mul = 1;

  if (end == s || v < 0)
    return -1;
  switch (*end)
    {
    case 'b': case 'B': case '\0': break;
    case 'k': case 'K': mul = 1024.0; break;
    case 'm': case 'M': mul = 1024.0 * 1024; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
    default: return -1;
    }
  if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
    return -1;
  if (v * mul < 4096 || v * mul > 9.0e18)
    return -1;
  *out = (int64_t) (v * mul);
  return 0;
}

static int
parse_cpus (double cpus, struct rt_cgroup_limits *l)
{
  if (!(cpus >= 0.01 && cpus <= 1024))
    return -1;
  l->cpu_period = 100000;
  l->cpu_quota = (int64_t) (cpus * 100000 + 0.5);
  return 0;
}

int
sb_limits_flag (const char *flag, const char *value,
                struct rt_cgroup_limits *l, nb_error_t *err)
{
  char *end;

  if (strcmp (flag, "--memory") == 0 || strcmp (flag, "--memory-swap") == 0)
    {
      int64_t *v = flag[8] ? &l->memory_swap : &l->memory;
      if (parse_size (value, v) < 0)
        {
          nb_error_make (err, 0, "%s %s: expects a size", flag, value);
          return nb_error_hint (err, "bytes, or with k, m or g: 512m, 2g");
        }
      return 0;
    }
  if (strcmp (flag, "--cpus") == 0)
    {
      double cpus = strtod (value, &end);
      if (*end || end == value || parse_cpus (cpus, l) < 0)
        return nb_error_make (err, 0, "--cpus %s: expects a number of CPUs "
                                      "(0.01 to 1024)",
                              value);
      return 0;
    }
  if (strcmp (flag, "--pids-limit") == 0)
    {
      long long n = strtoll (value, &end, 10);
      if (*end || end == value || n < 1)
        return nb_error_make (err, 0, "--pids-limit %s: expects a number of "
                                      "processes",
                              value);
      l->pids = n;
      return 0;
    }
  return nb_error_make (err, 0, "%s: not a limit", flag);
}

int
sb_limits_from_profile (json_t *profile, const char *origin,
                        struct rt_cgroup_limits *l, const char **memory_shown,
                        nb_error_t *err)
{
  json_t *v;

  *memory_shown = NULL;
  for (int i = 0; i < 2; i++)
    {
      const char *key = i ? "memory_swap" : "memory";
      int64_t *out = i ? &l->memory_swap : &l->memory;
      v = json_object_get (profile, key);
      if (v == NULL)
        continue;
      if (!json_is_string (v) || parse_size (json_string_value (v), out) < 0)
        return nb_error_make (err, 0, "profile %s: \"%s\" must be a size as "
                                      "a string: bytes, or with k, m or g "
                                      "(\"512m\", \"2g\")",
                              origin, key);
      if (i == 0)
        *memory_shown = json_string_value (v);
    }
  v = json_object_get (profile, "cpus");
  if (v && (!json_is_number (v) || parse_cpus (json_number_value (v), l) < 0))
    return nb_error_make (err, 0, "profile %s: \"cpus\" must be a number of "
                                  "CPUs from 0.01 to 1024",
                          origin);
  v = json_object_get (profile, "pids_limit");
  if (v && (!json_is_integer (v) || json_integer_value (v) < 1))
    return nb_error_make (err, 0, "profile %s: \"pids_limit\" must be a "
                                  "number of processes, 1 or more",
                          origin);
  if (v)
    l->pids = json_integer_value (v);
  return 0;
}

void
sb_limits_fill (struct rt_cgroup_limits *l,
                const struct rt_cgroup_limits *d)
{
  if (l->memory < 0)
    l->memory = d->memory;
  if (l->memory_swap < 0)
    l->memory_swap = d->memory_swap;
  if (l->pids < 0)
    l->pids = d->pids;
  if (l->cpu_quota < 0)
    {
      l->cpu_quota = d->cpu_quota;
      l->cpu_period = d->cpu_period;
    }
}

int
sb_limits_finish (struct rt_cgroup_limits *l, nb_error_t *err)
{
  if (l->memory_swap < 0)
    return 0;
  if (l->memory < 0)
    return nb_error_make (err, 0, "--memory-swap needs --memory: it is "
                                  "memory and swap together");
  if (l->memory_swap < l->memory)
    return nb_error_make (err, 0, "--memory-swap (memory and swap "
                                  "together) is less than --memory");
  l->memory_swap -= l->memory;
  return 0;
}

json_t *
sb_limits_json (const struct rt_cgroup_limits *l)
{
  return json_pack ("{s:I, s:I, s:I, s:I}", "memory", (json_int_t) l->memory,
                    "memory_swap", (json_int_t) l->memory_swap, "pids",
                    (json_int_t) l->pids, "cpu_quota",
                    (json_int_t) l->cpu_quota);
}

void
sb_limits_from_json (json_t *j, struct rt_cgroup_limits *l)
{
  static const struct rt_cgroup_limits none = SB_LIMITS_UNSET;
  json_t *v;

  *l = none;
  if ((v = json_object_get (j, "memory")) && json_is_integer (v))
    l->memory = json_integer_value (v);
  if ((v = json_object_get (j, "memory_swap")) && json_is_integer (v))
    l->memory_swap = json_integer_value (v);
  if ((v = json_object_get (j, "pids")) && json_is_integer (v))
    l->pids = json_integer_value (v);
  if ((v = json_object_get (j, "cpu_quota")) && json_is_integer (v))
    l->cpu_quota = json_integer_value (v);
}
