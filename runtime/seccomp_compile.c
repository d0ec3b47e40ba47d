/* OCI linux.seccomp (and Docker's profile file format, which adds archMap
 * and includes/excludes) -> libseccomp -> BPF.  Strict where a mistake
 * would weaken the filter, lenient where a kernel or libseccomp difference
 * is all there is (an unknown syscall name is a warning). */
#define _GNU_SOURCE
#include "runtime/seccomp_compile.h"
#include "runtime/base/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#define MAX_ARGS 6

static void
scmp_releasep (scmp_filter_ctx *c)
{
  if (*c)
    seccomp_release (*c);
}
#define cleanup_scmp __attribute__ ((cleanup (scmp_releasep)))

static void
warn (char **warnings, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
warn (char **warnings, const char *fmt, ...)
{
  char *line = NULL, *joined = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&line, fmt, ap) < 0)
    line = NULL;
  va_end (ap);
  if (line == NULL)
    return;
  if (asprintf (&joined, "%s%s%s", *warnings ? *warnings : "",
                *warnings ? "\n" : "", line)
      >= 0)
    {
      free (*warnings);
      *warnings = joined;
    }
  free (line);
}

/* "SCMP_ACT_ERRNO" + errnoRet -> a libseccomp action. */
static int
parse_action (json_t *obj, const char *key, const char *ret_key,
              const char *where, uint32_t *out, nb_error_t *err)
{
  const char *a = json_string_value (json_object_get (obj, key));
  json_t *ret = json_object_get (obj, ret_key);
  uint32_t n = 1; /* EPERM, as runc and crun default it */

  if (a == NULL)
    return nb_error_make (err, 0, "%s: %s: missing or not a string", where,
                          key);
  if (ret && (!json_is_integer (ret) || json_integer_value (ret) < 0
              || json_integer_value (ret) > 0xffff))
    return nb_error_make (err, 0, "%s: %s: not an errno (0..65535)", where,
                          ret_key);
  if (ret)
    n = (uint32_t) json_integer_value (ret);
  if (strcmp (a, "SCMP_ACT_ALLOW") == 0)
    *out = SCMP_ACT_ALLOW;
  else if (strcmp (a, "SCMP_ACT_ERRNO") == 0)
    *out = SCMP_ACT_ERRNO (n);
  else if (strcmp (a, "SCMP_ACT_KILL") == 0
           || strcmp (a, "SCMP_ACT_KILL_THREAD") == 0)
    *out = SCMP_ACT_KILL_THREAD;
  else if (strcmp (a, "SCMP_ACT_KILL_PROCESS") == 0)
    *out = SCMP_ACT_KILL_PROCESS;
  else if (strcmp (a, "SCMP_ACT_TRAP") == 0)
    *out = SCMP_ACT_TRAP;
  else if (strcmp (a, "SCMP_ACT_TRACE") == 0)
    *out = SCMP_ACT_TRACE (ret ? n : 0);
  else if (strcmp (a, "SCMP_ACT_LOG") == 0)
    *out = SCMP_ACT_LOG;
  else if (strcmp (a, "SCMP_ACT_NOTIFY") == 0)
    return nb_error_make (err, 0,
                          "%s: SCMP_ACT_NOTIFY: not supported by nsbox (no "
                          "seccomp listener)",
                          where);
  else
    return nb_error_make (err, 0, "%s: unknown action '%s'", where, a);
  return 0;
}

static int
parse_op (const char *op, enum scmp_compare *out)
{
  static const struct
  {
    const char *name;
    enum scmp_compare op;
  } ops[] = { { "SCMP_CMP_NE", SCMP_CMP_NE },
              { "SCMP_CMP_LT", SCMP_CMP_LT },
              { "SCMP_CMP_LE", SCMP_CMP_LE },
              { "SCMP_CMP_EQ", SCMP_CMP_EQ },
              { "SCMP_CMP_GE", SCMP_CMP_GE },
              { "SCMP_CMP_GT", SCMP_CMP_GT },
              { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ } };
  for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp (op, ops[i].name) == 0)
      {
        *out = ops[i].op;
        return 0;
      }
  return -1;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64". */
static int
parse_arch (const char *name, uint32_t *out)
{
  char low[32];
  size_t i;

  if (name == NULL || strncmp (name, "SCMP_ARCH_", 10) != 0
      || strlen (name + 10) >= sizeof low)
    return -1;
  for (i = 0; name[10 + i]; i++)
    low[i] = (char) tolower ((unsigned char) name[10 + i]);
  low[i] = '\0';
  *out = seccomp_arch_resolve_name (low);
  return *out ? 0 : -1;
}

static int
add_arch (scmp_filter_ctx ctx, const char *name, const char *where,
          bool *native_listed, nb_error_t *err)
{
  uint32_t arch;
  int r;

  if (parse_arch (name, &arch) < 0)
    return nb_error_make (err, 0, "%s: unknown architecture '%s'", where,
                          name ? name : "(not a string)");
  if (arch == seccomp_arch_native ())
    {
      *native_listed = true;
      return 0;
    }
  r = seccomp_arch_add (ctx, arch);
  if (r < 0 && r != -EEXIST)
    return nb_error_make (err, -r, "%s: add architecture %s", where, name);
  return 0;
}

static int
parse_arches (scmp_filter_ctx ctx, json_t *profile, nb_error_t *err)
{
  json_t *list = json_object_get (profile, "architectures");
  json_t *map = json_object_get (profile, "archMap"), *e, *sub;
  bool native = false, any = false;
  size_t i, k;

  if (list && !json_is_array (list))
    return nb_error_make (err, 0, "architectures: not an array");
  json_array_foreach (list, i, e)
  {
    char where[48];
    snprintf (where, sizeof where, "architectures[%zu]", i);
    if (add_arch (ctx, json_string_value (e), where, &native, err) < 0)
      return -1;
    any = true;
  }
  /* Docker's file format: the native architecture's entry and its
   * subArchitectures (x86_64 -> x86, x32). */
  if (map && !json_is_array (map))
    return nb_error_make (err, 0, "archMap: not an array");
  json_array_foreach (map, i, e)
  {
    uint32_t arch;
    const char *name = json_string_value (json_object_get (e, "architecture"));
    char where[48];

    snprintf (where, sizeof where, "archMap[%zu]", i);
    if (parse_arch (name, &arch) < 0)
      return nb_error_make (err, 0, "%s: unknown architecture '%s'", where,
                            name ? name : "(not a string)");
    if (arch != seccomp_arch_native ())
      continue;
    native = any = true;
    json_array_foreach (json_object_get (e, "subArchitectures"), k, sub)
    {
      if (add_arch (ctx, json_string_value (sub), where, &native, err) < 0)
        return -1;
    }
  }
  if (any && !native)
    {
      int r = seccomp_arch_remove (ctx, SCMP_ARCH_NATIVE);
      if (r < 0)
        return nb_error_make (err, -r, "remove the native architecture");
    }
  return 0;
}

/* Docker's includes/excludes: {arches, caps, minKernel}.  Capabilities are
 * taken as not granted (nsbox's agent has none): a rule that needs one is
 * left out, which is the stricter reading. */
static int
kernel_at_least (const char *min)
{
  struct utsname u;
  unsigned a = 0, b = 0, x = 0, y = 0;

  if (uname (&u) < 0 || sscanf (u.release, "%u.%u", &a, &b) < 2
      || sscanf (min, "%u.%u", &x, &y) < 2)
    return 0;
  return a > x || (a == x && b >= y);
}

static int
filter_matches (json_t *f, const char *where, bool *matches, nb_error_t *err)
{
  json_t *arches = json_object_get (f, "arches"), *caps, *a;
  const char *min = json_string_value (json_object_get (f, "minKernel"));
  const char *key;
  json_t *v;
  size_t i;

  *matches = true;
  if (f == NULL)
    return 0;
  if (!json_is_object (f))
    return nb_error_make (err, 0, "%s: not an object", where);
  json_object_foreach (f, key, v)
  {
    if (strcmp (key, "arches") && strcmp (key, "caps")
        && strcmp (key, "minKernel"))
      return nb_error_make (err, 0, "%s: unknown key '%s'", where, key);
  }
  if (json_array_size (arches) > 0)
    {
      bool found = false;
      json_array_foreach (arches, i, a)
      {
        uint32_t arch;
        char name[40];
        snprintf (name, sizeof name, "SCMP_ARCH_%s",
                  json_string_value (a) ? json_string_value (a) : "?");
        for (char *p = name + 10; *p; p++)
          *p = (char) toupper ((unsigned char) *p);
        /* "amd64" is Go's name for x86_64 in Docker's files. */
        if (strcmp (name, "SCMP_ARCH_AMD64") == 0)
          strcpy (name, "SCMP_ARCH_X86_64");
        if (strcmp (name, "SCMP_ARCH_ARM64") == 0)
          strcpy (name, "SCMP_ARCH_AARCH64");
        if (parse_arch (name, &arch) == 0 && arch == seccomp_arch_native ())
          found = true;
      }
      *matches = *matches && found;
    }
  caps = json_object_get (f, "caps");
  if (json_array_size (caps) > 0)
    *matches = false;
  if (min && !kernel_at_least (min))
    *matches = false;
  return 0;
}

static int
parse_args (json_t *args, const char *where, struct scmp_arg_cmp *cmps,
            unsigned *n, nb_error_t *err)
{
  json_t *a;
  size_t i;

  *n = 0;
  if (args && !json_is_array (args))
    return nb_error_make (err, 0, "%s: args: not an array", where);
  if (json_array_size (args) > MAX_ARGS)
    return nb_error_make (err, 0, "%s: args: more than %d", where, MAX_ARGS);
  json_array_foreach (args, i, a)
  {
    json_t *index = json_object_get (a, "index");
    json_t *value = json_object_get (a, "value");
    json_t *two = json_object_get (a, "valueTwo");
    const char *op = json_string_value (json_object_get (a, "op"));
    enum scmp_compare cmp;

    if (!json_is_integer (index) || json_integer_value (index) < 0
        || json_integer_value (index) >= MAX_ARGS)
      return nb_error_make (err, 0, "%s: args[%zu]: index must be 0..5",
                            where, i);
    if (!json_is_integer (value) || (two && !json_is_integer (two)))
      return nb_error_make (err, 0,
                            "%s: args[%zu]: value and valueTwo must be "
                            "integers",
                            where, i);
    if (parse_op (op, &cmp) < 0)
      return nb_error_make (err, 0, "%s: args[%zu]: unknown operator '%s'",
                            where, i, op ? op : "(not a string)");
    cmps[i].arg = (unsigned) json_integer_value (index);
    cmps[i].op = cmp;
    /* JSON integers are signed 64-bit; the values are register-wide. */
    cmps[i].datum_a = (scmp_datum_t) json_integer_value (value);
    cmps[i].datum_b = two ? (scmp_datum_t) json_integer_value (two) : 0;
    (*n)++;
  }
  return 0;
}

static int
add_rules (scmp_filter_ctx ctx, json_t *entry, size_t idx, uint32_t deflt,
           char **warnings, nb_error_t *err)
{
  struct scmp_arg_cmp cmps[MAX_ARGS];
  json_t *names = json_object_get (entry, "names");
  const char *single = json_string_value (json_object_get (entry, "name"));
  const char *key;
  char where[48];
  uint32_t action;
  unsigned ncmp;
  bool inc, exc;
  json_t *v;
  size_t i;

  snprintf (where, sizeof where, "syscalls[%zu]", idx);
  if (!json_is_object (entry))
    return nb_error_make (err, 0, "%s: not an object", where);
  json_object_foreach (entry, key, v)
  {
    static const char *const known[]
        = { "names", "name", "action", "errnoRet", "args", "comment",
            "includes", "excludes", NULL };
    bool ok = false;
    for (const char *const *k = known; *k; k++)
      ok = ok || strcmp (key, *k) == 0;
    if (!ok)
      return nb_error_make (err, 0, "%s: unknown key '%s'", where, key);
  }
  if (parse_action (entry, "action", "errnoRet", where, &action, err) < 0
      || parse_args (json_object_get (entry, "args"), where, cmps, &ncmp, err)
             < 0
      || filter_matches (json_object_get (entry, "includes"), where, &inc, err)
             < 0
      || filter_matches (json_object_get (entry, "excludes"), where, &exc, err)
             < 0)
    return -1;
  if (json_object_get (entry, "excludes") == NULL)
    exc = false;
  if (!inc || exc)
    return 0;
  if (names && !json_is_array (names))
    return nb_error_make (err, 0, "%s: names: not an array", where);
  if (names == NULL && single == NULL)
    return nb_error_make (err, 0, "%s: no names", where);
  for (i = 0; i < json_array_size (names) || (i == 0 && single); i++)
    {
      const char *name = names ? json_string_value (json_array_get (names, i))
                               : single;
      int nr, r;

      if (name == NULL)
        return nb_error_make (err, 0, "%s: names[%zu]: not a string", where,
                              i);
      nr = seccomp_syscall_resolve_name (name);
      if (nr == __NR_SCMP_ERROR)
        {
          warn (warnings, "seccomp: %s: syscall '%s' is unknown to "
                          "libseccomp %u.%u; ignored",
                where, name, seccomp_version ()->major,
                seccomp_version ()->minor);
          continue;
        }
      /* The default does it already (libseccomp refuses such a rule). */
      if (action == deflt)
        continue;
      r = seccomp_rule_add_array (ctx, action, nr, ncmp, cmps);
      if (r < 0)
        return nb_error_make (err, -r, "%s: add the rule for %s", where,
                              name);
    }
  return 0;
}

static int
export_bpf (scmp_filter_ctx ctx, void **bpf, size_t *len, nb_error_t *err)
{
  cleanup_close int fd = memfd_create ("nsbox-seccomp", MFD_CLOEXEC);
  cleanup_free char *buf = NULL;
  off_t size;
  int r;

  if (fd < 0)
    return nb_error_make (err, errno, "seccomp: memfd_create");
  r = seccomp_export_bpf (ctx, fd);
  if (r < 0)
    return nb_error_make (err, -r, "seccomp: export the BPF program");
  size = lseek (fd, 0, SEEK_END);
  if (size <= 0 || size % 8 != 0 || lseek (fd, 0, SEEK_SET) < 0)
    return nb_error_make (err, 0, "seccomp: the BPF program has a bad size");
  buf = malloc ((size_t) size);
  if (buf == NULL)
    return nb_error_make (err, ENOMEM, "seccomp");
  if (pread (fd, buf, (size_t) size, 0) != size)
    return nb_error_make (err, errno, "seccomp: read the BPF program back");
  *bpf = steal_pointer (&buf);
  *len = (size_t) size;
  return 0;
}

int
rt_seccomp_compile (json_t *profile, void **bpf, size_t *len, char **warnings,
                    nb_error_t *err)
{
  cleanup_scmp scmp_filter_ctx ctx = NULL;
  json_t *syscalls, *e, *flags;
  uint32_t deflt;
  const char *key;
  json_t *v;
  size_t i;
  int r;

  *warnings = NULL;
  if (!json_is_object (profile))
    return nb_error_make (err, 0, "seccomp: the profile is not a JSON object");
  json_object_foreach (profile, key, v)
  {
    static const char *const known[]
        = { "defaultAction", "defaultErrnoRet", "architectures", "archMap",
            "flags", "syscalls", "listenerPath", "listenerMetadata",
            "comment", NULL };
    bool ok = false;
    for (const char *const *k = known; *k; k++)
      ok = ok || strcmp (key, *k) == 0;
    if (!ok)
      return nb_error_make (err, 0, "seccomp: unknown key '%s'", key);
  }
  if (json_object_get (profile, "listenerPath"))
    return nb_error_make (err, 0, "seccomp: listenerPath: not supported by "
                                  "nsbox");
  flags = json_object_get (profile, "flags");
  if (flags && !json_is_array (flags))
    return nb_error_make (err, 0, "seccomp: flags: not an array");
  json_array_foreach (flags, i, e)
  {
    const char *f = json_string_value (e);
    if (f == NULL
        || (strcmp (f, "SECCOMP_FILTER_FLAG_TSYNC")
            && strcmp (f, "SECCOMP_FILTER_FLAG_LOG")
            && strcmp (f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
            && strcmp (f, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")))
      return nb_error_make (err, 0, "seccomp: flags[%zu]: unknown flag '%s'",
                            i, f ? f : "(not a string)");
  }
  if (parse_action (profile, "defaultAction", "defaultErrnoRet", "seccomp",
                    &deflt, err)
      < 0)
    return -1;
  ctx = seccomp_init (deflt);
  if (ctx == NULL)
    return nb_error_make (err, 0, "seccomp: initialise libseccomp");
  /* A syscall from an ABI the profile does not list (the i386 int 0x80 and
   * x32 ones on x86_64, say) is refused, not run unfiltered or killed. */
  r = seccomp_attr_set (ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO (EPERM));
  if (r == 0)
    r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);
  /* A binary tree of syscall numbers instead of a list: the kernel runs the
   * program for every call the agent makes, and once per syscall number
   * when it is loaded (to build its cache of always-allowed calls). */
  if (r == 0)
    r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (r < 0)
    return nb_error_make (err, -r, "seccomp: set filter attributes");
  if (parse_arches (ctx, profile, err) < 0)
    return nb_error_wrap (err, "seccomp");
  syscalls = json_object_get (profile, "syscalls");
  if (syscalls && !json_is_array (syscalls))
    return nb_error_make (err, 0, "seccomp: syscalls: not an array");
  json_array_foreach (syscalls, i, e)
  {
    if (add_rules (ctx, e, i, deflt, warnings, err) < 0)
      return nb_error_wrap (err, "seccomp");
  }
  return export_bpf (ctx, bpf, len, err);
}

/* nsbox-seccomp.so's entry point. */
__attribute__ ((visibility ("default"))) int
nsbox_seccomp_compile (json_t *profile, void **bpf, size_t *len,
                       char **warnings, nb_error_t *err)
{
  return rt_seccomp_compile (profile, bpf, len, warnings, err);
}
