/* Build tool: compile the default seccomp profile at build time, so that a
 * sandbox start with it neither compiles nor loads libseccomp.
 *
 *   seccomp-gen PROFILE.json OUT   writes OUT.bpf (the program), OUT.canon
 *                                  (the profile's canonical text),
 *                                  OUT-nested.bpf and OUT-nested.canon (the
 *                                  profile with what a nested sandbox needs
 *                                  allowed: --allow-nested) and OUT.c
 *                                  (all four, embedded with .incbin) */
#define _GNU_SOURCE
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
#include "runtime/seccomp_compile.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What nsbox, bwrap or rootless podman need to set up a sandbox of their
 * own inside one: namespaces and mounts, all of them in the nested user
 * namespace. */
static const char *const nested_calls[]
    = { "mount",    "umount2",    "pivot_root", "fsopen",        "fsconfig",
        "fsmount",  "fspick",     "open_tree",  "move_mount",    "mount_setattr",
        "setns",    "unshare",    "clone",      "clone3",        "sethostname",
        "setdomainname", NULL };

static bool
is_nested_call (const char *name)
{
  for (const char *const *n = nested_calls; *n; n++)
    if (strcmp (*n, name) == 0)
      return true;
  return false;
}

/* PROFILE with the nested calls taken out of every rule (a rule left with
 * no name goes) and allowed by one rule of their own. */
static json_t *
nested_variant (json_t *profile)
{
  json_t *copy = json_deep_copy (profile), *rules, *kept = json_array (), *r;
  json_t *names = json_array ();
  size_t i, k;

  rules = json_object_get (copy, "syscalls");
  json_array_foreach (rules, i, r)
  {
    json_t *list = json_object_get (r, "names"), *left = json_array (), *n;
    json_array_foreach (list, k, n)
    {
      if (!is_nested_call (json_string_value (n)))
        json_array_append (left, n);
    }
    if (json_array_size (left) > 0)
      {
        json_object_set_new (r, "names", left);
        json_array_append (kept, r);
      }
    else
      json_decref (left);
  }
  for (const char *const *n = nested_calls; *n; n++)
    json_array_append_new (names, json_string (*n));
  json_array_append_new (kept,
                         json_pack ("{s:o, s:s, s:s}", "names", names, "action",
                                    "SCMP_ACT_ALLOW", "comment",
                                    "--allow-nested: namespaces and mounts "
                                    "for a sandbox inside the sandbox"));
  json_object_set_new (copy, "syscalls", kept);
  return copy;
}

static int
compile_to (json_t *profile, const char *prefix, const char *what,
            nb_error_t *err);

static int
write_out (const char *prefix, const char *ext, const void *data, size_t len,
           nb_error_t *err)
{
  cleanup_free char *path = NULL;
  if (asprintf (&path, "%s.%s", prefix, ext) < 0)
    return nb_error_make (err, 0, "out of memory");
  return nb_write_file_atomic (path, data, len, 0644, 0, err);
}

static int
compile_to (json_t *profile, const char *prefix, const char *what,
            nb_error_t *err)
{
  cleanup_free char *canon = NULL, *warnings = NULL;
  cleanup_free void *bpf = NULL;
  size_t len;

  if (rt_seccomp_compile (profile, &bpf, &len, &warnings, err) < 0)
    return -1;
  /* Names this libseccomp does not know are not in the program: say how
   * many, once, at build time. */
  if (warnings)
    {
      size_t n = 1;
      for (const char *p = warnings; *p; p++)
        n += *p == '\n';
      fprintf (stderr, "seccomp-gen: %s: %zu syscall names unknown to this "
                       "libseccomp, left out (SECCOMP_GEN_VERBOSE=1 lists "
                       "them)\n",
               what, n);
      if (getenv ("SECCOMP_GEN_VERBOSE"))
        fprintf (stderr, "%s\n", warnings);
    }
  canon = json_dumps (profile, RT_SECCOMP_CANON_FLAGS);
  if (canon == NULL)
    return nb_error_make (err, 0, "out of memory");
  if (write_out (prefix, "bpf", bpf, len, err) < 0
      || write_out (prefix, "canon", canon, strlen (canon), err) < 0)
    return -1;
  fprintf (stderr, "seccomp-gen: %s: %zu BPF instructions\n", what, len / 8);
  return 0;
}

static const char *const symbols[] = { "rt_seccomp_default", "rt_seccomp_nested" };

int
main (int argc, char **argv)
{
  cleanup_error nb_error_t err = NULL;
  cleanup_free char *nested_prefix = NULL, *c = NULL;
  json_t *profile, *nested;

  if (argc != 3)
    {
      fprintf (stderr, "usage: seccomp-gen PROFILE.json OUT\n");
      return 2;
    }
  profile = nb_json_load_file (argv[1], &err);
  if (profile == NULL || asprintf (&nested_prefix, "%s-nested", argv[2]) < 0)
    return nb_error_report (&err) ? 1 : 1;
  nested = nested_variant (profile);
  if (compile_to (profile, argv[2], argv[1], &err) < 0
      || compile_to (nested, nested_prefix, "the --allow-nested variant", &err)
             < 0)
    return nb_error_report (&err) ? 1 : 1;
  json_decref (profile);
  json_decref (nested);
  c = strdup ("/* generated by seccomp-gen -- do not edit */\n"
              "__asm__ (\".section .rodata\\n\"\n");
  for (size_t i = 0; c && i < 2; i++)
    {
      const char *pre = i ? nested_prefix : argv[2];
      char *more = NULL;
      if (asprintf (&more,
                    "%s"
                    "         \".balign 8\\n\"\n"
                    "         \".globl %s_bpf, %s_bpf_end\\n\"\n"
                    "         \".globl %s_canon, %s_canon_end\\n\"\n"
                    "         \"%s_bpf:\\n\"\n"
                    "         \".incbin \\\"%s.bpf\\\"\\n\"\n"
                    "         \"%s_bpf_end:\\n\"\n"
                    "         \"%s_canon:\\n\"\n"
                    "         \".incbin \\\"%s.canon\\\"\\n\"\n"
                    "         \"%s_canon_end:\\n\"\n"
                    "         \".byte 0\\n\"\n",
                    c, symbols[i], symbols[i], symbols[i], symbols[i],
                    symbols[i], pre, symbols[i], symbols[i], pre, symbols[i])
          < 0)
        more = NULL;
      free (c);
      c = more;
    }
  if (c == NULL)
    {
      fprintf (stderr, "seccomp-gen: out of memory\n");
      return 1;
    }
  {
    char *all = NULL;
    if (asprintf (&all, "%s         \".previous\\n\");\n", c) < 0)
      return 1;
    free (c);
    c = all;
  }
  if (write_out (argv[2], "c", c, strlen (c), &err) < 0)
    return nb_error_report (&err) ? 1 : 1;
  return 0;
}
