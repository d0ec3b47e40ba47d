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

/* The default profile (a new reference to one shared object, parsed from
 * the built-in canonical text on first use; NULL when out of memory).  Given
 * back to rt_seccomp_prepare unmodified, it is known for the built-in
 * program without being written out and compared. */
json_t *rt_seccomp_default (void);
/* The same for the default's --allow-nested variant (built by seccomp-gen:
 * namespaces and mounts allowed, for a sandbox inside the sandbox). */
json_t *rt_seccomp_nested (void);

/* The default profile as compiled at build time (build/seccomp_default.c):
 * its canonical text and its program. */
extern const char rt_seccomp_default_canon[], rt_seccomp_default_canon_end[];
extern const char rt_seccomp_default_bpf[], rt_seccomp_default_bpf_end[];
extern const char rt_seccomp_nested_canon[], rt_seccomp_nested_canon_end[];
extern const char rt_seccomp_nested_bpf[], rt_seccomp_nested_bpf_end[];

#endif
