/* The sandbox's seccomp filter, on the start path: find the BPF program for
 * the spec's linux.seccomp -- built into nsbox for the default profile, from
 * the cache for one compiled before -- and load it last before exec.  Only a
 * profile never seen before is compiled, by nsbox-seccomp.so (libseccomp),
 * and the result is cached, keyed by the profile's canonical text, nsbox's
 * version and the kernel's release. */
#ifndef RT_SECCOMP_H
#define RT_SECCOMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "runtime/base/error.h"

struct rt_seccomp
{
  bool enabled;
  const void *bpf; /* struct sock_filter[len / 8] */
  size_t len;
  unsigned flags;  /* SECCOMP_FILTER_FLAG_* */
  void *owned;     /* what to free, when not the built-in program */
};

/* The program for PROFILE (the linux.seccomp object; NULL: no filter).
 * Warnings from a compilation (syscalls unknown to libseccomp) are printed
 * to stderr as "nsbox: warning: ...". */
int rt_seccomp_prepare (json_t *profile, struct rt_seccomp *out,
                        nb_error_t *err);
/* Install it in this process (needs no_new_privs or CAP_SYS_ADMIN). */
int rt_seccomp_load (const struct rt_seccomp *sc, nb_error_t *err);
void rt_seccomp_clear (struct rt_seccomp *sc);
#define cleanup_seccomp __attribute__ ((cleanup (rt_seccomp_clear)))

/* The default profile, for a spec made in this process: not the profile's
 * object (9 kB of JSON to parse on every start) but a stand-in for it, a
 * string that rt_seccomp_prepare knows by its address as the built-in
 * program.  A new reference to one shared value; NULL when out of memory.
 * Before a spec holding it is written out, rt_seccomp_expand puts the
 * profile's text in its place. */
json_t *rt_seccomp_default (void);
/* The same for the default's --allow-nested variant (built by seccomp-gen:
 * namespaces and mounts allowed, for a sandbox inside the sandbox). */
json_t *rt_seccomp_nested (void);
/* TEXT (a spec as json_dumps wrote it) with every stand-in replaced by its
 * profile's canonical text: a new string, NULL when out of memory. */
char *rt_seccomp_expand (const char *text);

/* The default profile as compiled at build time (build/seccomp_default.c):
 * its canonical text and its program. */
extern const char rt_seccomp_default_canon[], rt_seccomp_default_canon_end[];
extern const char rt_seccomp_default_bpf[], rt_seccomp_default_bpf_end[];
extern const char rt_seccomp_nested_canon[], rt_seccomp_nested_canon_end[];
extern const char rt_seccomp_nested_bpf[], rt_seccomp_nested_bpf_end[];

#endif
