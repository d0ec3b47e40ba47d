/* Compiling an OCI linux.seccomp profile into a BPF program with libseccomp.
 * Lives in nsbox-seccomp.so (and in the build tool that compiles the default
 * profile), never in nsbox itself: a sandbox start neither compiles a
 * profile nor loads libseccomp (runtime/seccomp.h). */
#ifndef RT_SECCOMP_COMPILE_H
#define RT_SECCOMP_COMPILE_H

#include <jansson.h>
#include <stddef.h>
#include "runtime/base/error.h"

/* Compile PROFILE (the linux.seccomp object) for the architectures it
 * lists -- the native one when it lists none.  The parser is strict: an
 * unknown action, operator, architecture or field type is an error naming
 * the entry; a syscall name this libseccomp does not know is a warning,
 * appended to *WARNINGS (a new string or NULL), as crun does.  Calls from an
 * architecture the profile does not list fail with EPERM.  *BPF (malloc'd)
 * gets the program: *LEN bytes of struct sock_filter. */
int rt_seccomp_compile (json_t *profile, void **bpf, size_t *len,
                        char **warnings, nb_error_t *err);

/* How a profile is written to compare and key it: the same flags wherever
 * a canonical text is made (build tool, cache). */
#define RT_SECCOMP_CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* The entry point nsbox-seccomp.so exports, with the same contract. */
typedef int (*rt_seccomp_compile_fn) (json_t *profile, void **bpf,
                                      size_t *len, char **warnings,
                                      nb_error_t *err);
#define RT_SECCOMP_COMPILE_SYMBOL "nsbox_seccomp_compile"

#endif
