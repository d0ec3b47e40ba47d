/* cli/image_common.c: reading an image back from the store -- manifests,
 * nested indexes and configs that do not agree with them. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/image.h"
#include "oci/registry.h"
#include "runtime/base/fs.h"

#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define LAYER_A                                                                \
  "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LAYER_B                                                                \
  "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fixture
{
  char dir[64];
  struct img_ctx c;
};

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  nb_error_t err = NULL;

  strcpy (f->dir, "/tmp/nsbox-image-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  f->c.data_dir = strdup (f->dir);
  f->c.store_dir = nb_path_join (f->dir, "store");
  f->c.layers_dir = nb_path_join (f->dir, "layers");
  if (oci_store_open (f->c.store_dir, &f->c.store, &err) < 0)
    {
      fprintf (stderr, "%s\n", err->msg);
      nb_error_free (&err);
      return -1;
    }
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  char dir[64];

  strcpy (dir, f->dir);
  img_ctx_close (&f->c);
  nb_rm_rf_at (AT_FDCWD, dir, &err);
  nb_error_free (&err);
  free (f);
  return 0;
}

/* Store the JSON that FMT packs (json_pack) as a blob; its digest in OUT. */
static void
put_json (struct fixture *f, char out[OCI_DIGEST_LEN + 1], json_t *j)
{
  nb_error_t err = NULL;
  char *text = json_dumps (j, JSON_COMPACT);

  assert_non_null (text);
  if (oci_store_put_blob (f->c.store, text, strlen (text), out, &err) < 0)
    fail_msg ("%s", err->msg);
  free (text);
  json_decref (j);
}

/* A manifest with NLAYERS layers over a config with NDIFF diff_ids. */
static void
put_image (struct fixture *f, int nlayers, int ndiff,
           char manifest[OCI_DIGEST_LEN + 1])
{
  char config[OCI_DIGEST_LEN + 1];
  json_t *diff = json_array (), *layers = json_array ();

  for (int i = 0; i < ndiff; i++)
    json_array_append_new (diff, json_string (i ? LAYER_B : LAYER_A));
  for (int i = 0; i < nlayers; i++)
    json_array_append_new (layers,
                           json_pack ("{s:s, s:s, s:i}", "mediaType", MT_LAYER,
                                      "digest", i ? LAYER_B : LAYER_A, "size",
                                      10));
  put_json (f, config,
            json_pack ("{s:s, s:s, s:{s:s, s:o}}", "architecture",
                       img_host_arch (), "os", "linux", "rootfs", "type",
                       "layers", "diff_ids", diff));
  put_json (f, manifest,
            json_pack ("{s:i, s:s, s:{s:s, s:s, s:i}, s:o}", "schemaVersion",
                       2, "mediaType", OCI_MT_OCI_MANIFEST, "config",
                       "mediaType", MT_CONFIG, "digest", config, "size", 10,
                       "layers", layers));
}

/* An index over CHILD; with PLATFORM, the entry names linux/<host arch>,
 * else it has no platform (as an entry for a nested index may not). */
static void
put_index (struct fixture *f, const char *child, const char *child_mt,
           int platform, char out[OCI_DIGEST_LEN + 1])
{
  json_t *entry = json_pack ("{s:s, s:s, s:i}", "mediaType", child_mt,
                             "digest", child, "size", 10);
  if (platform)
    json_object_set_new (entry, "platform",
                         json_pack ("{s:s, s:s}", "os", "linux",
                                    "architecture", img_host_arch ()));
  put_json (f, out,
            json_pack ("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType",
                       OCI_MT_OCI_INDEX, "manifests", entry));
}

static void
test_a_config_whose_diff_ids_do_not_match_the_layers_is_refused_with_both_counts (
    void **state)
{
  struct fixture *f = *state;
  struct img_image img;
  nb_error_t err = NULL;
  char m[OCI_DIGEST_LEN + 1];

  /* The counts in the message were read after the image was freed (a
   * use-after-free that ASan reports here). */
  put_image (f, 2, 1, m);
  assert_int_equal (img_read_image (&f->c, m, NULL, &img, &err), -1);
  assert_non_null (strstr (err->msg, "lists 1 diff_ids for 2 layers"));
  assert_null (img.manifest);
  assert_null (img.config);
  nb_error_free (&err);
  put_image (f, 1, 2, m);
  assert_int_equal (img_read_image (&f->c, m, NULL, &img, &err), -1);
  assert_non_null (strstr (err->msg, "lists 2 diff_ids for 1 layers"));
  nb_error_free (&err);
}

static void
test_an_index_that_points_to_another_index_is_followed_to_the_manifest (
    void **state)
{
  struct fixture *f = *state;
  struct img_image img;
  nb_error_t err = NULL;
  char m[OCI_DIGEST_LEN + 1], inner[OCI_DIGEST_LEN + 1],
      outer[OCI_DIGEST_LEN + 1];

  put_image (f, 1, 1, m);
  put_index (f, m, OCI_MT_OCI_MANIFEST, 1, inner);
  /* The outer entry has no platform: the inner index carries it. */
  put_index (f, inner, OCI_MT_OCI_INDEX, 0, outer);
  if (img_read_image (&f->c, outer, OCI_MT_OCI_INDEX, &img, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_string_equal (img.manifest_digest, m);
  assert_non_null (img.config);
  img_image_clear (&img);
  /* With a platform on the outer entry too. */
  put_index (f, inner, OCI_MT_OCI_INDEX, 1, outer);
  if (img_read_image (&f->c, outer, NULL, &img, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_string_equal (img.manifest_digest, m);
  img_image_clear (&img);
}

static void
test_indexes_nested_too_deep_are_refused_saying_so (void **state)
{
  struct fixture *f = *state;
  struct img_image img;
  nb_error_t err = NULL;
  char d[OCI_DIGEST_LEN + 1], next[OCI_DIGEST_LEN + 1];

  put_image (f, 1, 1, d);
  put_index (f, d, OCI_MT_OCI_MANIFEST, 1, next);
  for (int i = 1; i < IMG_MAX_INDEX_DEPTH; i++)
    {
      strcpy (d, next);
      put_index (f, d, OCI_MT_OCI_INDEX, 0, next);
    }
  /* IMG_MAX_INDEX_DEPTH indexes: still fine. */
  if (img_read_image (&f->c, next, NULL, &img, &err) < 0)
    fail_msg ("%s", err->msg);
  img_image_clear (&img);
  strcpy (d, next);
  put_index (f, d, OCI_MT_OCI_INDEX, 0, next);
  assert_int_equal (img_read_image (&f->c, next, NULL, &img, &err), -1);
  assert_non_null (strstr (err->msg, "indexes nested more than"));
  nb_error_free (&err);
}

static void
test_an_index_entry_that_is_no_manifest_is_named_for_what_it_is (void **state)
{
  struct fixture *f = *state;
  struct img_image img;
  nb_error_t err = NULL;
  char cfg[OCI_DIGEST_LEN + 1], idx[OCI_DIGEST_LEN + 1];

  /* The platform's entry points to something that is neither an index nor
   * an image manifest (an artifact, say). */
  put_json (f, cfg,
            json_pack ("{s:s, s:s}", "mediaType",
                       "application/vnd.example.thing", "what", "else"));
  put_index (f, cfg, OCI_MT_OCI_MANIFEST, 1, idx);
  assert_int_equal (img_read_image (&f->c, idx, NULL, &img, &err), -1);
  assert_non_null (strstr (err->msg, "not an image manifest"));
  assert_non_null (strstr (err->msg, "application/vnd.example.thing"));
  assert_non_null (strstr (err->msg, cfg));
  nb_error_free (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (
        test_a_config_whose_diff_ids_do_not_match_the_layers_is_refused_with_both_counts,
        setup, teardown),
    cmocka_unit_test_setup_teardown (
        test_an_index_that_points_to_another_index_is_followed_to_the_manifest,
        setup, teardown),
    cmocka_unit_test_setup_teardown (
        test_indexes_nested_too_deep_are_refused_saying_so, setup, teardown),
    cmocka_unit_test_setup_teardown (
        test_an_index_entry_that_is_no_manifest_is_named_for_what_it_is,
        setup, teardown),
  };
  return cmocka_run_group_tests_name ("image", tests, NULL, NULL);
}
