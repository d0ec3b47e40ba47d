#define _GNU_SOURCE
/* oci/store.c: the OCI image layout -- verified blob writes, refs in
 * index.json, and prune. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/store.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define HELLO_DIGEST                                                           \
  "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define NOBODY 65534

struct fixture
{
  char dir[64];
  char store[96];
  char layers[96];
  struct oci_store *s;
};

static int
setup (void **state)
{
  struct fixture *f = calloc (1, sizeof *f);
  nb_error_t err = NULL;

  strcpy (f->dir, "/tmp/nsbox-store-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  snprintf (f->store, sizeof f->store, "%s/store", f->dir);
  snprintf (f->layers, sizeof f->layers, "%s/layers", f->dir);
  if (oci_store_open (f->store, &f->s, &err) < 0)
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
  char cmd[128];

  oci_store_close (f->s);
  /* Tests leave read-only directories behind on purpose. */
  snprintf (cmd, sizeof cmd, "chmod -R u+rwx %s 2>/dev/null", f->dir);
  if (system (cmd) < 0)
    return -1;
  if (nb_rm_rf_at (AT_FDCWD, f->dir, &err) < 0)
    nb_error_free (&err);
  free (f);
  return 0;
}

/* How many entries DIR/SUB has (-1 if it cannot be read). */
static int
count_entries (const char *dir, const char *sub)
{
  char path[256];
  DIR *d;
  struct dirent *de;
  int n = 0;

  snprintf (path, sizeof path, "%s/%s", dir, sub);
  d = opendir (path);
  if (d == NULL)
    return -1;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      n++;
  closedir (d);
  return n;
}

static int
exists (const char *dir, const char *sub)
{
  char path[512];
  struct stat st;
  snprintf (path, sizeof path, "%s%s%s", dir, *sub ? "/" : "", sub);
  return lstat (path, &st) == 0;
}

static char *
read_text (const char *dir, const char *sub)
{
  char path[256];
  char *text = NULL;
  nb_error_t err = NULL;
  snprintf (path, sizeof path, "%s/%s", dir, sub);
  if (nb_read_file (path, &text, NULL, &err) < 0)
    nb_error_free (&err);
  return text;
}

static void
write_text (const char *dir, const char *sub, const char *text)
{
  char path[256];
  nb_error_t err = NULL;
  snprintf (path, sizeof path, "%s%s%s", dir, *sub ? "/" : "", sub);
  assert_int_equal (
      nb_write_file_atomic (path, text, strlen (text), 0644, 0, &err), 0);
}

/* Store BLOB (a string) and return its digest in OUT. */
static void
put (struct oci_store *s, const char *blob, char out[OCI_DIGEST_LEN + 1])
{
  nb_error_t err = NULL;
  if (oci_store_put_blob (s, blob, strlen (blob), out, &err) < 0)
    fail_msg ("put_blob: %s", err->msg);
}

/* Store J (stolen) as a JSON blob; fill D's digest and size. */
static void
put_json (struct oci_store *s, json_t *j, const char *media_type,
          struct oci_descriptor *d)
{
  char *text = json_dumps (j, JSON_COMPACT);
  assert_non_null (text);
  put (s, text, d->digest);
  d->size = (long long)strlen (text);
  d->media_type = (char *)media_type;
  free (text);
  json_decref (j);
}

static json_t *
desc_json (const char *media_type, const char *digest, long long size)
{
  return json_pack ("{s:s, s:s, s:I}", "mediaType", media_type, "digest",
                    digest, "size", (json_int_t)size);
}

/* A config with these diff_ids (NULL-terminated). */
static void
put_config (struct oci_store *s, const char *const *diff_ids,
            struct oci_descriptor *d)
{
  json_t *ids = json_array ();
  for (; *diff_ids; diff_ids++)
    json_array_append_new (ids, json_string (*diff_ids));
  put_json (s,
            json_pack ("{s:s, s:s, s:{s:s, s:o}, s:{}}", "architecture",
                       "amd64", "os", "linux", "rootfs", "type", "layers",
                       "diff_ids", ids, "config"),
            MT_CONFIG, d);
}

/* A manifest of CONFIG and LAYERS (digests, NULL-terminated). */
static void
put_manifest (struct oci_store *s, const struct oci_descriptor *config,
              const char *const *layers, struct oci_descriptor *d)
{
  json_t *l = json_array ();
  for (; *layers; layers++)
    json_array_append_new (l, desc_json (MT_LAYER, *layers, 1));
  put_json (s,
            json_pack ("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
                       MT_MANIFEST, "config",
                       desc_json (MT_CONFIG, config->digest, config->size),
                       "layers", l),
            MT_MANIFEST, d);
}

static void
tag (struct oci_store *s, const char *name, const struct oci_descriptor *d)
{
  nb_error_t err = NULL;
  if (oci_store_tag (s, name, d, &err) < 0)
    fail_msg ("tag %s: %s", name, err->msg);
}

static void
test_opening_creates_an_oci_image_layout (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  json_t *index;
  char *text;

  text = read_text (f->store, "oci-layout");
  assert_string_equal (text, "{\"imageLayoutVersion\":\"1.0.0\"}");
  free (text);
  text = read_text (f->store, "index.json");
  index = json_loads (text, 0, NULL);
  assert_non_null (index);
  assert_int_equal (
      json_integer_value (json_object_get (index, "schemaVersion")), 2);
  assert_int_equal (json_array_size (json_object_get (index, "manifests")), 0);
  assert_true (json_is_array (json_object_get (index, "manifests")));
  json_decref (index);
  free (text);
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 0);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
  assert_string_equal (oci_store_dir (f->s), f->store);

  /* Opening again keeps what is there. */
  struct oci_descriptor d = { (char *)MT_MANIFEST, "", 5 }, got = { 0 };
  struct oci_store *again = NULL;
  put (f->s, "hello", d.digest);
  tag (f->s, "x/y:z", &d);
  assert_int_equal (oci_store_open (f->store, &again, &err), 0);
  assert_int_equal (oci_store_resolve (again, "x/y:z", &got, &err), 0);
  assert_string_equal (got.digest, HELLO_DIGEST);
  oci_descriptor_clear (&got);
  oci_store_close (again);
}

static void
test_put_blob_stores_content_under_its_digest (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  char d[OCI_DIGEST_LEN + 1];
  char *data = NULL, *path;
  size_t len = 0;

  put (f->s, "hello", d);
  assert_string_equal (d, HELLO_DIGEST);
  assert_true (oci_store_has_blob (f->s, d));
  assert_int_equal (oci_store_read_blob (f->s, d, &data, &len, &err), 0);
  assert_int_equal (len, 5);
  assert_string_equal (data, "hello");
  free (data);
  path = oci_store_blob_path (f->s, d);
  assert_true (nb_path_is_within (path, f->store));
  assert_true (exists (path, ""));
  free (path);
  /* Content-addressed: storing it again is a no-op. */
  put (f->s, "hello", d);
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 1);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
}

static void
test_a_blob_whose_content_does_not_match_its_digest_is_not_stored (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *w = NULL;

  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hel", 3, &err), 0);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 1);
  assert_int_equal (oci_store_blob_write (w, "lO", 2, &err), 0);
  assert_int_equal (oci_store_blob_commit (w, &err), -1);
  assert_string_equal (
      err->msg,
      "blob " HELLO_DIGEST ": content does not match its digest (got sha256:"
      "04a6f55face2f46be8c23f627d539827615851e10751b63ec59db6d2c706b770)");
  nb_error_free (&err);
  assert_false (oci_store_has_blob (f->s, HELLO_DIGEST));
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 0);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
}

static void
test_a_blob_of_the_wrong_size_is_not_stored (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *w = NULL;

  /* Short: the digest is right for what came, but the size is not. */
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 6, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hello", 5, &err), 0);
  assert_int_equal (oci_store_blob_commit (w, &err), -1);
  assert_non_null (strstr (err->msg, "5 bytes, but its size is 6"));
  nb_error_free (&err);

  /* Long: refused as soon as it passes the size. */
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 4, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hello", 5, &err), -1);
  assert_non_null (strstr (err->msg, "more data than its size (4)"));
  nb_error_free (&err);
  oci_store_blob_abort (w);

  /* Unknown size (-1): only the digest is checked. */
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, -1, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hello", 5, &err), 0);
  assert_int_equal (oci_store_blob_commit (w, &err), 0);
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 1);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
}

static void
test_a_blob_of_unknown_digest_is_named_by_its_content (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *w = NULL;
  char d[OCI_DIGEST_LEN + 1];

  assert_int_equal (oci_store_blob_begin (f->s, NULL, -1, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hel", 3, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "lo", 2, &err), 0);
  assert_int_equal (oci_store_blob_commit_digest (w, d, &err), 0);
  assert_string_equal (d, HELLO_DIGEST);
  assert_true (oci_store_has_blob (f->s, HELLO_DIGEST));

  /* With a digest given, commit_digest hands back that one. */
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hello", 5, &err), 0);
  memset (d, 0, sizeof d);
  assert_int_equal (oci_store_blob_commit_digest (w, d, &err), 0);
  assert_string_equal (d, HELLO_DIGEST);
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 1);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
}

static void
test_an_aborted_writer_leaves_nothing (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *w = NULL;

  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hel", 3, &err), 0);
  oci_store_blob_abort (w);
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 0);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
}

static void
test_two_writers_of_the_same_blob_both_commit (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *a = NULL, *b = NULL;
  char *data = NULL;

  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &a, &err), 0);
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &b, &err), 0);
  assert_int_equal (oci_store_blob_write (a, "he", 2, &err), 0);
  assert_int_equal (oci_store_blob_write (b, "hello", 5, &err), 0);
  assert_int_equal (oci_store_blob_write (a, "llo", 3, &err), 0);
  assert_int_equal (oci_store_blob_commit (b, &err), 0);
  assert_int_equal (oci_store_blob_commit (a, &err), 0);
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 1);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
  assert_int_equal (oci_store_read_blob (f->s, HELLO_DIGEST, &data, NULL, &err),
                    0);
  assert_string_equal (data, "hello");
  free (data);
}

static void
test_a_verified_write_replaces_a_truncated_blob (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *w = NULL;
  char *data = NULL;

  /* What a crash or another tool could leave behind. */
  write_text (
      f->store,
      "blobs/sha256/"
      "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
      "hel");
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hello", 5, &err), 0);
  assert_int_equal (oci_store_blob_commit (w, &err), 0);
  assert_int_equal (oci_store_read_blob (f->s, HELLO_DIGEST, &data, NULL, &err),
                    0);
  assert_string_equal (data, "hello");
  free (data);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);
}

static void
test_reading_a_blob_verifies_its_digest (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  char d[OCI_DIGEST_LEN + 1], *data = NULL;

  put (f->s, "hello", d);
  write_text (
      f->store,
      "blobs/sha256/"
      "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
      "jello");
  assert_int_equal (oci_store_read_blob (f->s, d, &data, NULL, &err), -1);
  assert_null (data);
  assert_non_null (strstr (err->msg, "blob " HELLO_DIGEST
                                     ": content does not match its digest"));
  nb_error_free (&err);

  assert_int_equal (oci_store_read_blob (
                        f->s,
                        "sha256:0000000000000000000000000000000000000000000000"
                        "000000000000000000",
                        &data, NULL, &err),
                    -1);
  assert_int_equal (err->errno_val, ENOENT);
  assert_non_null (strstr (err->msg, "not in the store"));
  nb_error_free (&err);
}

static void
test_a_malformed_digest_never_names_a_file (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_blob_writer *w = NULL;
  const char *evil = "sha256:../../../../etc/passwd";

  assert_false (oci_store_has_blob (f->s, evil));
  assert_null (oci_store_blob_path (f->s, evil));
  assert_int_equal (oci_store_open_blob (f->s, evil, &err), -1);
  assert_non_null (strstr (err->msg, "not a sha256 digest"));
  nb_error_free (&err);
  assert_int_equal (oci_store_blob_begin (f->s, evil, 1, &w, &err), -1);
  assert_null (w);
  nb_error_free (&err);
}

static void
test_tag_resolve_untag_and_list_round_trip (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor m1 = { 0 }, m2 = { 0 }, got = { 0 };
  json_t *list;
  const char *name = "docker.io/library/busybox:latest";

  put_json (f->s, json_pack ("{s:i}", "schemaVersion", 2), MT_MANIFEST, &m1);
  put_json (f->s, json_pack ("{s:i, s:[]}", "schemaVersion", 2, "manifests"),
            MT_INDEX, &m2);
  tag (f->s, name, &m1);
  assert_int_equal (oci_store_resolve (f->s, name, &got, &err), 0);
  assert_string_equal (got.media_type, MT_MANIFEST);
  assert_string_equal (got.digest, m1.digest);
  assert_int_equal (got.size, m1.size);
  oci_descriptor_clear (&got);

  tag (f->s, "docker.io/library/alpine:3.20", &m1);
  assert_int_equal (oci_store_list (f->s, &list, &err), 0);
  assert_int_equal (json_array_size (list), 2);
  assert_string_equal (
      json_string_value (json_object_get (
          json_object_get (json_array_get (list, 0), "annotations"),
          "org.opencontainers.image.ref.name")),
      name);

  /* Tagging a name again replaces its entry. */
  tag (f->s, name, &m2);
  assert_int_equal (oci_store_list (f->s, &list, &err), 0);
  assert_int_equal (json_array_size (list), 2);
  assert_int_equal (oci_store_resolve (f->s, name, &got, &err), 0);
  assert_string_equal (got.media_type, MT_INDEX);
  assert_string_equal (got.digest, m2.digest);
  oci_descriptor_clear (&got);

  assert_int_equal (oci_store_untag (f->s, name, &err), 0);
  assert_int_equal (oci_store_resolve (f->s, name, &got, &err), -1);
  assert_int_equal (err->errno_val, ENOENT);
  nb_error_free (&err);
  assert_int_equal (oci_store_untag (f->s, name, &err), -1);
  assert_int_equal (err->errno_val, ENOENT);
  nb_error_free (&err);
  assert_int_equal (oci_store_list (f->s, &list, &err), 0);
  assert_int_equal (json_array_size (list), 1);

  /* Another opener sees the same refs. */
  struct oci_store *other = NULL;
  assert_int_equal (oci_store_open (f->store, &other, &err), 0);
  assert_int_equal (
      oci_store_resolve (other, "docker.io/library/alpine:3.20", &got, &err),
      0);
  assert_string_equal (got.digest, m1.digest);
  oci_descriptor_clear (&got);
  oci_store_close (other);
}

static void
test_resolving_a_missing_name_gives_enoent (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor got;

  assert_int_equal (
      oci_store_resolve (f->s, "docker.io/library/nope:latest", &got, &err),
      -1);
  assert_int_equal (err->errno_val, ENOENT);
  assert_int_equal (err->status, 0);
  assert_string_equal (err->msg,
                       "docker.io/library/nope:latest: not in the store");
  assert_null (got.media_type);
  nb_error_free (&err);
}

static void
test_a_ref_to_a_manifest_not_in_the_store_is_refused (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor d = { (char *)MT_MANIFEST, HELLO_DIGEST, 5 };
  json_t *list;

  assert_int_equal (oci_store_tag (f->s, "a/b:c", &d, &err), -1);
  assert_string_equal (err->msg, "tag a/b:c: its manifest is not in the store");
  nb_error_free (&err);
  d.media_type = NULL;
  assert_int_equal (oci_store_tag (f->s, "a/b:c", &d, &err), -1);
  nb_error_free (&err);
  assert_int_equal (oci_store_list (f->s, &list, &err), 0);
  assert_int_equal (json_array_size (list), 0);
}

static void
test_index_json_stays_valid_json_after_many_tags (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor m[3] = { 0 };
  json_t *index;
  char name[64], path[160];

  for (int i = 0; i < 3; i++)
    put_json (f->s, json_pack ("{s:i, s:i}", "schemaVersion", 2, "n", i),
              MT_MANIFEST, &m[i]);
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 100; i++)
      {
        snprintf (name, sizeof name, "example.com/app%d:v%d", i, i % 7);
        tag (f->s, name, &m[(i + round) % 3]);
      }
  snprintf (path, sizeof path, "%s/index.json", f->store);
  index = json_load_file (path, JSON_REJECT_DUPLICATES, NULL);
  assert_non_null (index);
  assert_int_equal (json_array_size (json_object_get (index, "manifests")),
                    100);
  json_decref (index);
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 0);

  struct oci_descriptor got = { 0 };
  assert_int_equal (
      oci_store_resolve (f->s, "example.com/app42:v0", &got, &err), 0);
  assert_string_equal (got.digest, m[(42 + 2) % 3].digest);
  oci_descriptor_clear (&got);
}

static void
test_concurrent_taggers_lose_no_ref (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor m = { 0 };
  json_t *list;
  pid_t pids[4];

  put_json (f->s, json_pack ("{s:i}", "schemaVersion", 2), MT_MANIFEST, &m);
  for (int p = 0; p < 4; p++)
    {
      pids[p] = fork ();
      assert_true (pids[p] >= 0);
      if (pids[p] == 0)
        {
          struct oci_store *s = NULL;
          char name[64];
          if (oci_store_open (f->store, &s, NULL) < 0)
            _exit (1);
          for (int i = 0; i < 25; i++)
            {
              snprintf (name, sizeof name, "example.com/p%d:t%d", p, i);
              if (oci_store_tag (s, name, &m, NULL) < 0)
                _exit (2);
            }
          oci_store_close (s);
          _exit (0);
        }
    }
  for (int p = 0; p < 4; p++)
    {
      int status;
      assert_int_equal (waitpid (pids[p], &status, 0), pids[p]);
      assert_true (WIFEXITED (status));
      assert_int_equal (WEXITSTATUS (status), 0);
    }
  assert_int_equal (oci_store_list (f->s, &list, &err), 0);
  assert_int_equal (json_array_size (list), 100);
}

static void
test_a_corrupt_index_json_gives_a_clear_error (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor m = { 0 }, got = { 0 };
  size_t nb = 99, nl = 99;
  json_t *list;
  char *text;
  char d[OCI_DIGEST_LEN + 1];

  put_json (f->s, json_pack ("{s:i}", "schemaVersion", 2), MT_MANIFEST, &m);
  put (f->s, "orphan", d);
  write_text (f->store, "index.json", "{\"schemaVersion\":2,\"manifests\":[");

  assert_int_equal (oci_store_resolve (f->s, "a/b:c", &got, &err), -1);
  assert_non_null (strstr (err->msg, "/index.json: not valid JSON (line 1"));
  assert_int_not_equal (err->errno_val, ENOENT);
  nb_error_free (&err);
  assert_int_equal (oci_store_list (f->s, &list, &err), -1);
  nb_error_free (&err);
  /* A tag does not overwrite what it could not read. */
  assert_int_equal (oci_store_tag (f->s, "a/b:c", &m, &err), -1);
  assert_non_null (strstr (err->msg, "tag a/b:c: "));
  assert_non_null (strstr (err->msg, "not valid JSON"));
  nb_error_free (&err);
  text = read_text (f->store, "index.json");
  assert_string_equal (text, "{\"schemaVersion\":2,\"manifests\":[");
  free (text);
  /* Prune, unsure of what is reachable, removes nothing. */
  assert_int_equal (oci_store_prune (f->s, NULL, &nb, &nl, &err), -1);
  assert_non_null (strstr (err->msg, "nothing was removed"));
  nb_error_free (&err);
  assert_int_equal (nb, 0);
  assert_true (oci_store_has_blob (f->s, d));

  write_text (f->store, "index.json", "{\"manifests\": 5}");
  assert_int_equal (oci_store_resolve (f->s, "a/b:c", &got, &err), -1);
  assert_non_null (strstr (err->msg, "\"manifests\" is not an array"));
  nb_error_free (&err);
  write_text (f->store, "index.json", "[]");
  assert_int_equal (oci_store_resolve (f->s, "a/b:c", &got, &err), -1);
  assert_non_null (strstr (err->msg, "not a JSON object"));
  nb_error_free (&err);
  write_text (f->store, "index.json",
              "{\"manifests\":[{\"annotations\":{\"org.opencontainers.image."
              "ref.name\":\"a/b:c\"},\"digest\":\"sha256:../x\"}]}");
  assert_int_equal (oci_store_resolve (f->s, "a/b:c", &got, &err), -1);
  assert_non_null (strstr (err->msg, "the entry of a/b:c lacks"));
  nb_error_free (&err);
  assert_int_equal (oci_store_prune (f->s, NULL, &nb, &nl, &err), -1);
  assert_non_null (strstr (err->msg, "a descriptor without a valid sha256"));
  nb_error_free (&err);
  assert_true (oci_store_has_blob (f->s, d));
}

static const char *const diff1
    = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
static const char *const diff2
    = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
static const char *const diff3
    = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

/* A layer dir with a read-only directory and a file in it. */
static void
make_layer_dir (const char *layers, const char *name)
{
  char path[512];
  snprintf (path, sizeof path, "%s/%s/usr/share/doc", layers, name);
  assert_int_equal (nb_mkdir_p (path, 0755, NULL), 0);
  strcat (path, "/README");
  write_text (path, "", "x");
  snprintf (path, sizeof path, "%s/%s/usr/share", layers, name);
  assert_int_equal (chmod (path, 0555), 0);
  snprintf (path, sizeof path, "%s/%s/usr/share/doc", layers, name);
  assert_int_equal (chmod (path, 0), 0);
}

static void
test_prune_keeps_what_refs_reach_and_removes_the_rest (void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor c1 = { 0 }, c2 = { 0 }, c3 = { 0 }, m1 = { 0 },
                        m2 = { 0 }, m3 = { 0 }, idx = { 0 };
  char l1[OCI_DIGEST_LEN + 1], l2[OCI_DIGEST_LEN + 1], l3[OCI_DIGEST_LEN + 1],
      l4[OCI_DIGEST_LEN + 1], orphan[OCI_DIGEST_LEN + 1];
  const char *absent = "sha256:"
                       "abababababababababababababababababababababababababab"
                       "abababababab";
  struct oci_blob_writer *w = NULL;
  size_t nb = 0, nl = 0;

  put (f->s, "layer one", l1);
  put (f->s, "layer two", l2);
  put (f->s, "layer three", l3);
  put (f->s, "layer four", l4);
  put (f->s, "nobody's", orphan);
  put_config (f->s, (const char *[]){ diff1, diff2, NULL }, &c1);
  put_config (f->s, (const char *[]){ diff3, NULL }, &c2);
  put_config (f->s,
              (const char *[]){ "sha256:4444444444444444444444444444444444"
                                "444444444444444444444444444444",
                                NULL },
              &c3);
  put_manifest (f->s, &c1, (const char *[]){ l1, l2, NULL }, &m1);
  put_manifest (f->s, &c2, (const char *[]){ l3, NULL }, &m2);
  /* Untagged, sharing a layer with m1. */
  put_manifest (f->s, &c3, (const char *[]){ l1, l4, NULL }, &m3);
  /* An index of m2 and of a platform that was never fetched. */
  put_json (f->s,
            json_pack ("{s:i, s:s, s:[o, o]}", "schemaVersion", 2, "mediaType",
                       MT_INDEX, "manifests",
                       desc_json (MT_MANIFEST, m2.digest, m2.size),
                       desc_json (MT_MANIFEST, absent, 10)),
            MT_INDEX, &idx);
  tag (f->s, "docker.io/library/one:latest", &m1);
  tag (f->s, "docker.io/library/multi:latest", &idx);

  /* A temp file left by a crashed writer, and one being written now. */
  write_text (f->store, "blobs/.tmp/blob-0123456789abcdef", "partial");
  assert_int_equal (oci_store_blob_begin (f->s, HELLO_DIGEST, 5, &w, &err), 0);
  assert_int_equal (oci_store_blob_write (w, "hel", 3, &err), 0);

  make_layer_dir (f->layers, diff1 + 7);
  make_layer_dir (f->layers, diff2 + 7);
  make_layer_dir (f->layers, diff3 + 7);
  make_layer_dir (f->layers, "4444444444444444444444444444444444444444444444"
                             "444444444444444444");
  make_layer_dir (f->layers, ".tmp-crashed-extraction");
  /* Files that go with a layer live and die with it. */
  write_text (f->layers,
              "1111111111111111111111111111111111111111111111111111111111111111"
              ".mapping",
              "0 100000 65536");
  write_text (f->layers,
              "4444444444444444444444444444444444444444444444444444444444444444"
              ".mapping",
              "0 100000 65536");

  if (oci_store_prune (f->s, f->layers, &nb, &nl, &err) < 0)
    fail_msg ("prune: %s", err->msg);
  assert_int_equal (nb, 4); /* orphan, m3, c3, l4 */
  assert_int_equal (nl, 1); /* 4444...; its .mapping and the leftover too */
  const char *kept[]
      = { l1, l2, l3, c1.digest, c2.digest, m1.digest, m2.digest, idx.digest };
  for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
    if (!oci_store_has_blob (f->s, kept[i]))
      fail_msg ("blob %zu (%s) was removed", i, kept[i]);
  assert_false (oci_store_has_blob (f->s, orphan));
  assert_false (oci_store_has_blob (f->s, m3.digest));
  assert_false (oci_store_has_blob (f->s, c3.digest));
  assert_false (oci_store_has_blob (f->s, l4));
  assert_int_equal (count_entries (f->store, "blobs/sha256"), 8);
  assert_true (exists (f->layers, diff1 + 7));
  assert_true (exists (f->layers, diff2 + 7));
  assert_true (exists (f->layers, diff3 + 7));
  assert_true (exists (f->layers, "111111111111111111111111111111111111111111"
                                  "1111111111111111111111.mapping"));
  assert_int_equal (count_entries (f->layers, ""), 4);

  /* The live writer's temp file survived and it still commits. */
  assert_int_equal (count_entries (f->store, "blobs/.tmp"), 1);
  assert_int_equal (oci_store_blob_write (w, "lo", 2, &err), 0);
  assert_int_equal (oci_store_blob_commit (w, &err), 0);
  assert_true (oci_store_has_blob (f->s, HELLO_DIGEST));

  /* Dropping a ref frees what only it reached. */
  assert_int_equal (
      oci_store_untag (f->s, "docker.io/library/one:latest", &err), 0);
  assert_int_equal (oci_store_prune (f->s, f->layers, &nb, &nl, &err), 0);
  assert_int_equal (nb, 5); /* m1, c1, l1, l2, hello */
  assert_int_equal (nl, 2); /* and diff1's .mapping */
  assert_true (oci_store_has_blob (f->s, idx.digest));
  assert_true (oci_store_has_blob (f->s, m2.digest));
  assert_true (oci_store_has_blob (f->s, l3));
  assert_false (oci_store_has_blob (f->s, l1));
  assert_true (exists (f->layers, diff3 + 7));
  assert_int_equal (count_entries (f->layers, ""), 1);

  /* Prune takes the lock itself and leaves the caller's as it was. */
  assert_int_equal (oci_store_lock (f->s, 0, &err), 0);
  assert_int_equal (oci_store_prune (f->s, NULL, &nb, &nl, &err), 0);
  assert_int_equal (nb, 0);
  assert_int_equal (nl, 0);
  oci_store_unlock (f->s);
}

static void
test_prune_stops_before_removing_anything_when_a_manifest_is_damaged (
    void **state)
{
  struct fixture *f = *state;
  nb_error_t err = NULL;
  struct oci_descriptor m = { (char *)MT_MANIFEST, "", 0 };
  char orphan[OCI_DIGEST_LEN + 1];
  size_t nb = 0, nl = 0;

  put (f->s, "not json", m.digest);
  m.size = 8;
  put (f->s, "orphan", orphan);
  tag (f->s, "example.com/broken:1", &m);
  assert_int_equal (oci_store_prune (f->s, NULL, &nb, &nl, &err), -1);
  assert_non_null (strstr (err->msg, "not a JSON object"));
  assert_non_null (strstr (err->msg, m.digest));
  assert_non_null (strstr (err->msg, "nothing was removed"));
  nb_error_free (&err);
  assert_true (oci_store_has_blob (f->s, orphan));
}

/* Run FN (which returns 0 on success) as an unprivileged user: root reads
 * through every permission, so read-only directories only bite without it. */
static int
run_unprivileged (const char *dir, int (*fn) (const char *dir, char *msg),
                  char *msg)
{
  pid_t pid;
  int status, fd[2];

  if (geteuid () != 0)
    return fn (dir, msg);
  assert_int_equal (pipe (fd), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      char buf[512] = "";
      int r;
      close (fd[0]);
      if (setgroups (0, NULL) < 0 || setresgid (NOBODY, NOBODY, NOBODY) < 0
          || setresuid (NOBODY, NOBODY, NOBODY) < 0)
        _exit (77);
      r = fn (dir, buf);
      if (write (fd[1], buf, strlen (buf)) < 0)
        _exit (3);
      _exit (r == 0 ? 0 : 1);
    }
  close (fd[1]);
  ssize_t n = read (fd[0], msg, 511);
  msg[n > 0 ? n : 0] = '\0';
  close (fd[0]);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static int
prune_read_only_layers (const char *dir, char *msg)
{
  char store[256], layers[256];
  struct oci_store *s = NULL;
  nb_error_t err = NULL;
  size_t nb = 0, nl = 0;
  int r;

  snprintf (store, sizeof store, "%s/store2", dir);
  snprintf (layers, sizeof layers, "%s/layers", dir);
  if (oci_store_open (store, &s, &err) < 0)
    {
      snprintf (msg, 512, "%s", err->msg);
      nb_error_free (&err);
      return -1;
    }
  r = oci_store_prune (s, layers, &nb, &nl, &err);
  snprintf (msg, 512, "%s|%zu", r < 0 ? err->msg : "", nl);
  nb_error_free (&err);
  oci_store_close (s);
  return r;
}

static void
test_prune_removes_layer_dirs_with_read_only_directories (void **state)
{
  struct fixture *f = *state;
  char msg[512], path[256];
  int r;

  make_layer_dir (f->layers, diff1 + 7);
  if (geteuid () == 0)
    {
      /* The unprivileged pruner must own what it removes. */
      snprintf (path, sizeof path, "chown -R %d:%d %s", NOBODY, NOBODY, f->dir);
      assert_int_equal (system (path), 0);
    }
  r = run_unprivileged (f->dir, prune_read_only_layers, msg);
  if (r == 77)
    skip (); /* could not drop to uid 65534 (no setuid in this sandbox) */
  if (r != 0)
    fail_msg ("prune: %s", msg);
  assert_string_equal (msg, "|1");
  assert_int_equal (count_entries (f->layers, ""), 0);

  if (geteuid () != 0)
    return;
  /* A directory the pruner cannot make writable (in real life: files of
   * subordinate ids): the error names it and its owner; the other layers
   * still go. */
  make_layer_dir (f->layers, diff2 + 7);
  make_layer_dir (f->layers, diff3 + 7);
  snprintf (path, sizeof path, "chown -R %d:%d %s/%s", NOBODY, NOBODY,
            f->layers, diff3 + 7);
  assert_int_equal (system (path), 0);
  r = run_unprivileged (f->dir, prune_read_only_layers, msg);
  assert_int_equal (r, 1);
  assert_non_null (strstr (msg, "owned by uid 0, not by us"));
  assert_non_null (strstr (msg, diff2 + 7));
  assert_non_null (strstr (msg, "/usr/share"));
  assert_non_null (strstr (msg, "|1"));
  assert_true (exists (f->layers, diff2 + 7));
  assert_false (exists (f->layers, diff3 + 7));
}

int
main (void)
{
#define T(fn) cmocka_unit_test_setup_teardown (fn, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_opening_creates_an_oci_image_layout),
    T (test_put_blob_stores_content_under_its_digest),
    T (test_a_blob_whose_content_does_not_match_its_digest_is_not_stored),
    T (test_a_blob_of_the_wrong_size_is_not_stored),
    T (test_a_blob_of_unknown_digest_is_named_by_its_content),
    T (test_an_aborted_writer_leaves_nothing),
    T (test_two_writers_of_the_same_blob_both_commit),
    T (test_a_verified_write_replaces_a_truncated_blob),
    T (test_reading_a_blob_verifies_its_digest),
    T (test_a_malformed_digest_never_names_a_file),
    T (test_tag_resolve_untag_and_list_round_trip),
    T (test_resolving_a_missing_name_gives_enoent),
    T (test_a_ref_to_a_manifest_not_in_the_store_is_refused),
    T (test_index_json_stays_valid_json_after_many_tags),
    T (test_concurrent_taggers_lose_no_ref),
    T (test_a_corrupt_index_json_gives_a_clear_error),
    T (test_prune_keeps_what_refs_reach_and_removes_the_rest),
    T (test_prune_stops_before_removing_anything_when_a_manifest_is_damaged),
    T (test_prune_removes_layer_dirs_with_read_only_directories),
  };
  return cmocka_run_group_tests_name ("store", tests, NULL, NULL);
}
