/* nsbox oci / nsbox-oci: runc's command line over runtime/'s lifecycle, so
 * that podman, containerd and CRI-O can drive nsbox (nsbox-oci(1)). */
#ifndef SB_OCI_H
#define SB_OCI_H

#include <stdbool.h>
#include "runtime/base/error.h"

struct oci_global
{
  const char *root;       /* --root: the containers' state dirs */
  const char *log;        /* --log FILE: errors are appended there too */
  const char *log_format; /* text or json */
};

/* ROOT/ID, checked to be a name runc would take; with MUST_EXIST, ERR says
 * "container ID does not exist" when it does not. */
int oci_container_dir (const struct oci_global *g, const char *id,
                       bool must_exist, char **out, nb_error_t *err);
int oci_root (const struct oci_global *g, char **out, nb_error_t *err);

/* The verbs (cli/oci_lifecycle.c, cli/oci_info.c): each returns < 0 with
 * ERR, or the exit status. */
int oci_create (const struct oci_global *g, int argc, char **argv,
                nb_error_t *err);
int oci_run (const struct oci_global *g, int argc, char **argv,
             nb_error_t *err);
int oci_start (const struct oci_global *g, int argc, char **argv,
               nb_error_t *err);
int oci_kill (const struct oci_global *g, int argc, char **argv,
              nb_error_t *err);
int oci_delete (const struct oci_global *g, int argc, char **argv,
                nb_error_t *err);
int oci_exec (const struct oci_global *g, int argc, char **argv,
              nb_error_t *err);
int oci_state (const struct oci_global *g, int argc, char **argv,
               nb_error_t *err);
int oci_list (const struct oci_global *g, int argc, char **argv,
              nb_error_t *err);
int oci_ps (const struct oci_global *g, int argc, char **argv,
            nb_error_t *err);
int oci_spec (const struct oci_global *g, int argc, char **argv,
              nb_error_t *err);
int oci_features (const struct oci_global *g, int argc, char **argv,
                  nb_error_t *err);

#endif
