#define _GNU_SOURCE
/* The image store: an OCI image layout (image-spec image-layout.md).
 *
 *   DIR/oci-layout        {"imageLayoutVersion":"1.0.0"}
 *   DIR/index.json        refs: descriptors annotated with
 *                         org.opencontainers.image.ref.name
 *   DIR/blobs/sha256/HEX  content, only ever linked into place once verified
 *   DIR/blobs/.tmp/       temp files: blobs being written, index.json updates
 *   DIR/.lock             the store lock (shared: using the store, adding to
 *                         it; exclusive: prune)
 *   DIR/.index.lock       serialises index.json updates
 *
 * skopeo (containers/image) and umoci read this layout as it is; both ignore
 * blobs/.tmp and the lock files (checked with skopeo 1.9 and umoci 0.4.7).
 *
 * Why two locks: a pull adds blobs that nothing references until its final
 * tag, so it must keep prune out from its first blob to that tag.  Holding
 * the store lock shared all along does that; the index lock, taken only
 * around each read-modify-write of index.json, keeps concurrent pulls from
 * losing each other's refs.  An exclusive flock for index updates alone
 * would force a pull to drop its shared lock to tag (flock upgrades are not
 * atomic), letting prune in at the worst moment.
 *
 * Temp files are flocked by their writer for their whole life, so prune can
 * tell a stale one (left by a crash: the lock died with its process) from
 * one being written right now by a process that took no store lock. */
#include "oci/store.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
#define LAYOUT_FILE "oci-layout"
#define LAYOUT_CONTENT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define INDEX_FILE "index.json"
#define INDEX_CONTENT "{\"schemaVersion\":2,\"manifests\":[]}"
#define LOCK_FILE ".lock"
#define INDEX_LOCK_FILE ".index.lock"
#define TMP_NAME_MAX 64
/* Manifests are capped at 4 MiB by registries; configs are smaller still.
 * Anything read whole beyond this is not what it claims to be. */
#define SMALL_BLOB_MAX (64LL << 20)
/* Indexes nest (an index of indexes is legal); content addressing rules out
 * cycles, this only bounds the recursion on a hand-made store. */
#define MAX_NESTING 16

struct oci_store
{
  char *dir;
  int dirfd;
  int blobs_fd; /* blobs/sha256 */
  int tmp_fd;   /* blobs/.tmp */
  int lock_fd;
  int index_lock_fd;
  int lock_mode; /* 0, LOCK_SH or LOCK_EX */
  json_t *index; /* what oci_store_list handed out */
};

struct oci_blob_writer
{
  struct oci_store *s;
  int fd;
  char name[TMP_NAME_MAX];
  struct oci_hasher *h;
  long long written;
  long long expected_size;
  char expected[OCI_DIGEST_LEN + 1]; /* "" when named by what it hashes to */
};

static void
closedirp (DIR **d)
{
  if (*d)
    closedir (*d);
}
#define cleanup_dir __attribute__ ((cleanup (closedirp)))

/* "NAME: not in the store" with errno_val ENOENT but no strerror text. */
static int
not_found (nb_error_t *err, const char *fmt, const char *what)
{
  nb_error_make (err, 0, fmt, what);
  if (err && *err)
    (*err)->errno_val = ENOENT;
  return -1;
}

static int
flock_retry (int fd, int op)
{
  int r;
  do
    r = flock (fd, op);
  while (r < 0 && errno == EINTR);
  return r;
}

/* Read FD whole, at most MAX bytes; *OUT is NUL-terminated.  Returns the
 * errno on failure (EFBIG when over MAX). */
static int
read_fd_whole (int fd, long long max, char **out, size_t *len)
{
  cleanup_free char *buf = NULL;
  size_t size = 0, cap = 0;
  struct stat st;

  if (fstat (fd, &st) < 0)
    return errno;
  if (st.st_size > max)
    return EFBIG;
  /* One spare byte for the NUL and one so that EOF is seen without
   * growing. */
  cap = (size_t)st.st_size + 2;
  buf = malloc (cap);
  if (buf == NULL)
    return ENOMEM;
  for (;;)
    {
      ssize_t n;
      if (size + 1 == cap)
        {
          char *nbuf;
          if ((long long)cap > max)
            return EFBIG;
          nbuf = realloc (buf, cap * 2);
          if (nbuf == NULL)
            return ENOMEM;
          buf = nbuf;
          cap *= 2;
        }
      n = read (fd, buf + size, cap - size - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errno;
      if (n == 0)
        break;
      size += (size_t)n;
    }
  buf[size] = '\0';
  *out = steal_pointer (&buf);
  *len = size;
  return 0;
}

/* A new temp file in blobs/.tmp, created and flocked by us; NAME gets its
 * name.  Prune may unlink a file between our openat and our flock (it saw
 * no lock): then the name no longer leads to our inode and we start over. */
static int
tmp_create (struct oci_store *s, const char *prefix, char name[TMP_NAME_MAX],
            nb_error_t *err)
{
  static unsigned counter;

  for (int tries = 0; tries < 64; tries++)
    {
      cleanup_close int fd = -1;
      struct stat st_fd, st_name;
      uint64_t r;

      if (getrandom (&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = ((uint64_t)getpid () << 32) ^ (uint64_t)time (NULL)
            ^ __atomic_add_fetch (&counter, 1, __ATOMIC_RELAXED);
      snprintf (name, TMP_NAME_MAX, "%s-%016llx", prefix,
                (unsigned long long)r);
      fd = openat (s->tmp_fd, name,
                   O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0 && errno == EEXIST)
        continue;
      if (fd < 0)
        return nb_error_make (err, errno, "create a temp file in %s/blobs/.tmp",
                              s->dir);
      if (flock_retry (fd, LOCK_EX) < 0)
        {
          nb_error_make (err, errno, "lock %s/blobs/.tmp/%s", s->dir, name);
          unlinkat (s->tmp_fd, name, 0);
          return -1;
        }
      if (fstat (fd, &st_fd) == 0
          && fstatat (s->tmp_fd, name, &st_name, AT_SYMLINK_NOFOLLOW) == 0
          && st_fd.st_ino == st_name.st_ino && st_fd.st_dev == st_name.st_dev)
        return nb_steal_fd (&fd);
    }
  return nb_error_make (err, EEXIST, "create a temp file in %s/blobs/.tmp",
                        s->dir);
}

/* Create DIR/NAME with CONTENT unless it exists, atomically: a concurrent
 * opener sees either no file or the whole of it. */
static int
create_file_once (struct oci_store *s, const char *name, const char *content,
                  nb_error_t *err)
{
  char tmp[TMP_NAME_MAX];
  cleanup_close int fd = -1;
  struct stat st;
  int ret = 0;

  if (fstatat (s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return 0;
  fd = tmp_create (s, "new", tmp, err);
  if (fd < 0)
    return -1;
  if (nb_write_all (fd, content, strlen (content)) < 0 || fsync (fd) < 0)
    ret = nb_error_make (err, errno, "write %s/%s", s->dir, name);
  else if (linkat (s->tmp_fd, tmp, s->dirfd, name, 0) < 0 && errno != EEXIST)
    ret = nb_error_make (err, errno, "create %s/%s", s->dir, name);
  else if (fsync (s->dirfd) < 0)
    ret = nb_error_make (err, errno, "fsync %s", s->dir);
  unlinkat (s->tmp_fd, tmp, 0);
  return ret;
}

/* DFD/NAME, created if needed; PATH names it in errors. */
static int
open_subdir (int dfd, const char *name, const char *dir, const char *path,
             nb_error_t *err)
{
  int fd;

  if (mkdirat (dfd, name, 0755) < 0 && errno != EEXIST)
    return nb_error_make (err, errno, "mkdir %s/%s", dir, path);
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s/%s", dir, path);
  return fd;
}

static int
open_lock_file (struct oci_store *s, const char *name, nb_error_t *err)
{
  int fd = openat (s->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                   0644);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s/%s", s->dir, name);
  return fd;
}

int
oci_store_open (const char *dir, struct oci_store **out, nb_error_t *err)
{
  struct oci_store *s;
  cleanup_close int blobs = -1;

  /* Private images may be in there: the store is its owner's only. */
  if (nb_mkdir_p (dir, 0700, err) < 0)
    return nb_error_wrap (err, "open the image store");
  s = calloc (1, sizeof *s);
  if (s == NULL)
    return nb_error_make (err, ENOMEM, "open the image store %s", dir);
  s->dirfd = s->blobs_fd = s->tmp_fd = s->lock_fd = s->index_lock_fd = -1;
  s->dir = strdup (dir);
  if (s->dir == NULL)
    {
      oci_store_close (s);
      return nb_error_make (err, ENOMEM, "open the image store %s", dir);
    }
  s->dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dirfd < 0)
    {
      nb_error_make (err, errno, "open the image store %s", dir);
      oci_store_close (s);
      return -1;
    }
  if ((blobs = open_subdir (s->dirfd, "blobs", dir, "blobs", err)) < 0
      || (s->blobs_fd = open_subdir (blobs, "sha256", dir, "blobs/sha256", err))
             < 0
      || (s->tmp_fd = open_subdir (blobs, ".tmp", dir, "blobs/.tmp", err)) < 0
      || (s->lock_fd = open_lock_file (s, LOCK_FILE, err)) < 0
      || (s->index_lock_fd = open_lock_file (s, INDEX_LOCK_FILE, err)) < 0
      || create_file_once (s, LAYOUT_FILE, LAYOUT_CONTENT, err) < 0
      || create_file_once (s, INDEX_FILE, INDEX_CONTENT, err) < 0)
    {
      oci_store_close (s);
      return nb_error_wrap (err, "open the image store");
    }
  *out = s;
  return 0;
}

void
oci_store_close (struct oci_store *s)
{
  if (s == NULL)
    return;
  json_decref (s->index);
  nb_closep (&s->dirfd);
  nb_closep (&s->blobs_fd);
  nb_closep (&s->tmp_fd);
  nb_closep (&s->lock_fd);
  nb_closep (&s->index_lock_fd);
  free (s->dir);
  free (s);
}

const char *
oci_store_dir (const struct oci_store *s)
{
  return s->dir;
}

int
oci_store_lock (struct oci_store *s, int exclusive, nb_error_t *err)
{
  int mode = exclusive ? LOCK_EX : LOCK_SH;

  if (flock_retry (s->lock_fd, mode) < 0)
    return nb_error_make (err, errno, "lock the image store %s", s->dir);
  s->lock_mode = mode;
  return 0;
}

void
oci_store_unlock (struct oci_store *s)
{
  flock_retry (s->lock_fd, LOCK_UN);
  s->lock_mode = 0;
}

/* Blobs. */

int
oci_store_has_blob (struct oci_store *s, const char *digest)
{
  const char *hex = oci_digest_hex (digest);
  struct stat st;

  return hex && fstatat (s->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISREG (st.st_mode);
}

char *
oci_store_blob_path (struct oci_store *s, const char *digest)
{
  const char *hex = oci_digest_hex (digest);
  char *path = NULL;

  if (hex == NULL || asprintf (&path, "%s/blobs/sha256/%s", s->dir, hex) < 0)
    return NULL;
  return path;
}

int
oci_store_open_blob (struct oci_store *s, const char *digest, nb_error_t *err)
{
  const char *hex = oci_digest_hex (digest);
  int fd;

  if (hex == NULL)
    return nb_error_make (err, 0, "blob '%s': not a sha256 digest", digest);
  fd = openat (s->blobs_fd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    return not_found (err, "blob %s: not in the store", digest);
  if (fd < 0)
    return nb_error_make (err, errno, "open blob %s in %s", digest, s->dir);
  return fd;
}

int
oci_store_read_blob (struct oci_store *s, const char *digest, char **data,
                     size_t *len, nb_error_t *err)
{
  cleanup_close int fd = oci_store_open_blob (s, digest, err);
  cleanup_free char *buf = NULL;
  char got[OCI_DIGEST_LEN + 1];
  size_t n = 0;
  int e;

  if (fd < 0)
    return -1;
  e = read_fd_whole (fd, SMALL_BLOB_MAX, &buf, &n);
  if (e == EFBIG)
    return nb_error_make (err, 0,
                          "blob %s: larger than %lld MiB, too large for a "
                          "manifest or config",
                          digest, SMALL_BLOB_MAX >> 20);
  if (e)
    return nb_error_make (err, e, "read blob %s", digest);
  if (oci_digest_data (buf, n, got) < 0)
    return nb_error_make (err, ENOMEM, "read blob %s", digest);
  if (strcmp (got, digest) != 0)
    {
      nb_error_make (err, 0,
                     "blob %s: content does not match its digest (got %s)",
                     digest, got);
      return nb_error_hint (err,
                            "the store is damaged: remove "
                            "%s/blobs/sha256/%s and pull again",
                            s->dir, oci_digest_hex (digest));
    }
  *data = steal_pointer (&buf);
  if (len)
    *len = n;
  return 0;
}

static void
writer_free (struct oci_blob_writer *w)
{
  if (w == NULL)
    return;
  if (w->fd >= 0)
    {
      unlinkat (w->s->tmp_fd, w->name, 0);
      close (w->fd);
    }
  oci_hasher_free (w->h);
  free (w);
}

/* How errors name W's blob. */
static const char *
writer_label (const struct oci_blob_writer *w)
{
  return w->expected[0] ? w->expected : "(digest not known yet)";
}

int
oci_store_blob_begin (struct oci_store *s, const char *expected_digest,
                      long long expected_size, struct oci_blob_writer **out,
                      nb_error_t *err)
{
  struct oci_blob_writer *w;

  if (expected_digest && !oci_digest_valid (expected_digest))
    return nb_error_make (err, 0, "blob '%s': not a sha256 digest",
                          expected_digest);
  w = calloc (1, sizeof *w);
  if (w == NULL)
    return nb_error_make (err, ENOMEM, "write a blob");
  w->s = s;
  w->fd = -1;
  w->expected_size = expected_size < 0 ? -1 : expected_size;
  if (expected_digest)
    strcpy (w->expected, expected_digest);
  w->h = oci_hasher_new ();
  if (w->h == NULL)
    {
      writer_free (w);
      return nb_error_make (err, ENOMEM, "write a blob");
    }
  w->fd = tmp_create (s, "blob", w->name, err);
  if (w->fd < 0)
    {
      nb_error_wrap (err, "write blob %s", writer_label (w));
      writer_free (w);
      return -1;
    }
  *out = w;
  return 0;
}

int
oci_store_blob_write (struct oci_blob_writer *w, const void *data, size_t len,
                      nb_error_t *err)
{
  /* Stop a runaway download as soon as it passes its announced size. */
  if (w->expected_size >= 0 && (long long)len > w->expected_size - w->written)
    return nb_error_make (err, 0, "blob %s: more data than its size (%lld)",
                          writer_label (w), w->expected_size);
  if (nb_write_all (w->fd, data, len) < 0)
    return nb_error_make (err, errno, "write blob %s to %s/blobs/.tmp/%s",
                          writer_label (w), w->s->dir, w->name);
  oci_hasher_update (w->h, data, len);
  w->written += (long long)len;
  return 0;
}

/* Put W's verified temp file in place.  linkat never replaces: if the blob
 * is there already (another writer was first), its content is ours by
 * definition and the temp just goes -- unless its size shows it is not
 * (written by another tool, cut short by a crash): then ours replaces it. */
static int
link_blob (struct oci_blob_writer *w)
{
  const char *hex = oci_digest_hex (w->expected);
  struct stat st;

  if (linkat (w->s->tmp_fd, w->name, w->s->blobs_fd, hex, 0) == 0)
    return 0;
  if (errno != EEXIST)
    return -1;
  if (fstatat (w->s->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0
      && S_ISREG (st.st_mode) && st.st_size == w->written)
    return 0;
  return renameat (w->s->tmp_fd, w->name, w->s->blobs_fd, hex);
}

int
oci_store_blob_commit_digest (struct oci_blob_writer *w,
                              char out[OCI_DIGEST_LEN + 1], nb_error_t *err)
{
  struct oci_store *s = w->s;
  char got[OCI_DIGEST_LEN + 1];
  int ret = 0;

  oci_hasher_finish (w->h, got);
  w->h = NULL;
  if (w->expected[0] == '\0')
    strcpy (w->expected, got);
  if (w->expected_size >= 0 && w->written != w->expected_size)
    ret = nb_error_make (err, 0,
                         "blob %s: %lld bytes, but its size is %lld "
                         "(truncated download?)",
                         w->expected, w->written, w->expected_size);
  else if (strcmp (got, w->expected) != 0)
    ret = nb_error_make (err, 0,
                         "blob %s: content does not match its digest (got %s)",
                         w->expected, got);
  else if (fsync (w->fd) < 0)
    ret = nb_error_make (err, errno, "fsync blob %s", w->expected);
  else if (link_blob (w) < 0)
    ret = nb_error_make (err, errno, "store blob %s in %s/blobs/sha256",
                         w->expected, s->dir);
  else if (fsync (s->blobs_fd) < 0)
    ret = nb_error_make (err, errno, "fsync %s/blobs/sha256", s->dir);
  if (ret == 0 && out)
    strcpy (out, got);
  writer_free (w);
  return ret;
}

int
oci_store_blob_commit (struct oci_blob_writer *w, nb_error_t *err)
{
  return oci_store_blob_commit_digest (w, NULL, err);
}

void
oci_store_blob_abort (struct oci_blob_writer *w)
{
  writer_free (w);
}

int
oci_store_put_blob (struct oci_store *s, const void *data, size_t len,
                    char out[OCI_DIGEST_LEN + 1], nb_error_t *err)
{
  struct oci_blob_writer *w = NULL;

  if (oci_digest_data (data, len, out) < 0)
    return nb_error_make (err, ENOMEM, "store a blob");
  if (oci_store_has_blob (s, out))
    return 0;
  if (oci_store_blob_begin (s, out, (long long)len, &w, err) < 0)
    return -1;
  if (oci_store_blob_write (w, data, len, err) < 0)
    {
      oci_store_blob_abort (w);
      return -1;
    }
  return oci_store_blob_commit (w, err);
}

int
oci_store_adopt_blob (struct oci_store *dst, struct oci_store *src,
                      const char *digest, nb_error_t *err)
{
  const char *hex = oci_digest_hex (digest);

  if (hex == NULL)
    return nb_error_make (err, 0, "blob '%s': not a sha256 digest", digest);
  if (linkat (src->blobs_fd, hex, dst->blobs_fd, hex, 0) < 0)
    {
      if (errno == ENOENT)
        return not_found (err, "blob %s: not there", digest);
      if (errno != EEXIST || !oci_store_has_blob (dst, digest))
        return nb_error_make (err, errno, "store blob %s in %s/blobs/sha256",
                              digest, dst->dir);
      return 0;
    }
  if (fsync (dst->blobs_fd) < 0)
    return nb_error_make (err, errno, "fsync %s/blobs/sha256", dst->dir);
  return 0;
}

/* index.json. */

static int
load_index (struct oci_store *s, json_t **out, nb_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  cleanup_json json_t *index = NULL;
  json_t *manifests;
  json_error_t jerr;
  size_t len = 0;
  int e;

  fd = openat (s->dirfd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return nb_error_make (err, errno, "open %s/%s", s->dir, INDEX_FILE);
  e = read_fd_whole (fd, SMALL_BLOB_MAX, &buf, &len);
  if (e)
    return nb_error_make (err, e, "read %s/%s", s->dir, INDEX_FILE);
  index = json_loadb (buf, len, 0, &jerr);
  if (index == NULL)
    return nb_error_make (err, 0, "%s/%s: not valid JSON (line %d: %s)", s->dir,
                          INDEX_FILE, jerr.line, jerr.text);
  if (!json_is_object (index))
    return nb_error_make (err, 0, "%s/%s: not a JSON object", s->dir,
                          INDEX_FILE);
  manifests = json_object_get (index, "manifests");
  if (manifests == NULL)
    json_object_set_new (index, "manifests", json_array ());
  else if (!json_is_array (manifests))
    return nb_error_make (err, 0, "%s/%s: \"manifests\" is not an array",
                          s->dir, INDEX_FILE);
  *out = steal_pointer (&index);
  return 0;
}

static int
store_index (struct oci_store *s, json_t *index, nb_error_t *err)
{
  cleanup_free char *text = json_dumps (index, 0);
  cleanup_close int fd = -1;
  char tmp[TMP_NAME_MAX];
  int ret = 0;

  if (text == NULL)
    return nb_error_make (err, ENOMEM, "write %s/%s", s->dir, INDEX_FILE);
  fd = tmp_create (s, "index", tmp, err);
  if (fd < 0)
    return nb_error_wrap (err, "write %s/%s", s->dir, INDEX_FILE);
  if (nb_write_all (fd, text, strlen (text)) < 0 || fsync (fd) < 0)
    ret = nb_error_make (err, errno, "write %s/%s", s->dir, INDEX_FILE);
  else if (renameat (s->tmp_fd, tmp, s->dirfd, INDEX_FILE) < 0)
    ret = nb_error_make (err, errno, "replace %s/%s", s->dir, INDEX_FILE);
  else if (fsync (s->dirfd) < 0)
    ret = nb_error_make (err, errno, "fsync %s", s->dir);
  if (ret < 0)
    unlinkat (s->tmp_fd, tmp, 0);
  return ret;
}

static const char *
entry_name (json_t *entry)
{
  json_t *ann = json_object_get (entry, "annotations");
  return json_string_value (json_object_get (ann, REF_NAME_ANNOTATION));
}

/* Around a read-modify-write of index.json: the store lock (shared, unless
 * the caller holds it already) keeps prune out; the index lock keeps other
 * writers out. */
static int
index_update_begin (struct oci_store *s, int *took_store_lock, nb_error_t *err)
{
  *took_store_lock = 0;
  if (s->lock_mode == 0)
    {
      if (oci_store_lock (s, 0, err) < 0)
        return -1;
      *took_store_lock = 1;
    }
  if (flock_retry (s->index_lock_fd, LOCK_EX) < 0)
    {
      int e = errno;
      if (*took_store_lock)
        oci_store_unlock (s);
      return nb_error_make (err, e, "lock %s/%s", s->dir, INDEX_LOCK_FILE);
    }
  return 0;
}

static void
index_update_end (struct oci_store *s, int took_store_lock)
{
  flock_retry (s->index_lock_fd, LOCK_UN);
  if (took_store_lock)
    oci_store_unlock (s);
}

/* Remove NAME's entries from MANIFESTS; how many went. */
static size_t
remove_entries (json_t *manifests, const char *name)
{
  size_t removed = 0;

  for (size_t i = json_array_size (manifests); i-- > 0;)
    {
      const char *n = entry_name (json_array_get (manifests, i));
      if (n && strcmp (n, name) == 0)
        {
          json_array_remove (manifests, i);
          removed++;
        }
    }
  return removed;
}

static void
keep_index (struct oci_store *s, json_t *index)
{
  json_decref (s->index);
  s->index = json_incref (index);
}

int
oci_store_tag (struct oci_store *s, const char *name,
               const struct oci_descriptor *manifest, nb_error_t *err)
{
  cleanup_json json_t *index = NULL;
  json_t *entry;
  int took, ret;

  if (name == NULL || *name == '\0')
    return nb_error_make (err, 0, "tag: empty name");
  if (manifest->media_type == NULL || !oci_digest_valid (manifest->digest)
      || manifest->size < 0)
    return nb_error_make (err, 0,
                          "tag %s: the manifest descriptor needs a media "
                          "type, a sha256 digest and a size",
                          name);
  entry = json_pack ("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
                     manifest->media_type, "digest", manifest->digest, "size",
                     (json_int_t)manifest->size, "annotations",
                     REF_NAME_ANNOTATION, name);
  if (entry == NULL)
    return nb_error_make (err, ENOMEM, "tag %s", name);
  if (index_update_begin (s, &took, err) < 0)
    {
      json_decref (entry);
      return nb_error_wrap (err, "tag %s", name);
    }
  /* A ref to a blob that is not there would break skopeo and every later
   * resolve: the manifest is stored first, then tagged.  Checked under the
   * lock, which keeps prune from taking it away meanwhile. */
  if (!oci_store_has_blob (s, manifest->digest))
    ret = not_found (err, "tag %s: its manifest is not in the store", name);
  else if ((ret = load_index (s, &index, err)) < 0)
    nb_error_wrap (err, "tag %s", name);
  else
    {
      json_t *manifests = json_object_get (index, "manifests");
      remove_entries (manifests, name);
      json_array_append (manifests, entry);
      if ((ret = store_index (s, index, err)) < 0)
        nb_error_wrap (err, "tag %s", name);
    }
  index_update_end (s, took);
  json_decref (entry);
  if (ret < 0)
    return -1;
  keep_index (s, index);
  return 0;
}

int
oci_store_untag (struct oci_store *s, const char *name, nb_error_t *err)
{
  cleanup_json json_t *index = NULL;
  int took, ret;

  if (index_update_begin (s, &took, err) < 0)
    return nb_error_wrap (err, "untag %s", name);
  ret = load_index (s, &index, err);
  if (ret == 0)
    {
      if (remove_entries (json_object_get (index, "manifests"), name) == 0)
        ret = not_found (err, "%s: not in the store", name);
      else if (store_index (s, index, err) < 0)
        ret = nb_error_wrap (err, "untag %s", name);
      else
        keep_index (s, index);
    }
  index_update_end (s, took);
  return ret;
}

int
oci_store_resolve (struct oci_store *s, const char *name,
                   struct oci_descriptor *out, nb_error_t *err)
{
  cleanup_json json_t *index = NULL;
  json_t *manifests, *entry, *found = NULL;
  const char *mt, *digest;
  size_t i;

  memset (out, 0, sizeof *out);
  if (load_index (s, &index, err) < 0)
    return -1;
  manifests = json_object_get (index, "manifests");
  json_array_foreach (manifests, i, entry)
  {
    const char *n = entry_name (entry);
    if (n && strcmp (n, name) == 0)
      found = entry;
  }
  if (found == NULL)
    return not_found (err, "%s: not in the store", name);
  mt = json_string_value (json_object_get (found, "mediaType"));
  digest = json_string_value (json_object_get (found, "digest"));
  if (mt == NULL || !oci_digest_valid (digest)
      || !json_is_integer (json_object_get (found, "size")))
    return nb_error_make (err, 0,
                          "%s/%s: the entry of %s lacks a mediaType, a "
                          "sha256 digest or a size",
                          s->dir, INDEX_FILE, name);
  out->media_type = strdup (mt);
  if (out->media_type == NULL)
    return nb_error_make (err, ENOMEM, "resolve %s", name);
  strcpy (out->digest, digest);
  out->size = json_integer_value (json_object_get (found, "size"));
  return 0;
}

int
oci_store_list (struct oci_store *s, json_t **manifests, nb_error_t *err)
{
  cleanup_json json_t *index = NULL;

  if (load_index (s, &index, err) < 0)
    return -1;
  keep_index (s, index);
  *manifests = json_object_get (s->index, "manifests");
  return 0;
}

void
oci_descriptor_clear (struct oci_descriptor *d)
{
  if (d == NULL)
    return;
  free (d->media_type);
  memset (d, 0, sizeof *d);
}

/* Prune: mark what the refs reach, then sweep the rest. */

struct mark
{
  struct oci_store *s;
  json_t *blobs;    /* hex -> true: every blob a ref reaches */
  json_t *diff_ids; /* hex -> true: the layers of every kept image */
};

static int
mark_digest (struct mark *m, json_t *desc, const char *where, nb_error_t *err)
{
  const char *digest = json_string_value (json_object_get (desc, "digest"));

  if (!oci_digest_valid (digest))
    return nb_error_make (err, 0,
                          "%s: a descriptor without a valid sha256 "
                          "digest",
                          where);
  json_object_set_new (m->blobs, oci_digest_hex (digest), json_true ());
  return 0;
}

static int
is_image_config (const char *media_type)
{
  return media_type == NULL
         || strcmp (media_type, "application/vnd.oci.image.config.v1+json") == 0
         || strcmp (media_type,
                    "application/vnd.docker.container.image.v1+json")
                == 0;
}

/* Record the diff_ids of the image config DESC points to, if it is here. */
static int
mark_config (struct mark *m, json_t *desc, nb_error_t *err)
{
  const char *digest = json_string_value (json_object_get (desc, "digest"));
  const char *mt = json_string_value (json_object_get (desc, "mediaType"));
  cleanup_free char *data = NULL;
  cleanup_json json_t *config = NULL;
  json_t *id;
  size_t len = 0, i;

  if (!oci_store_has_blob (m->s, digest))
    return 0;
  if (oci_store_read_blob (m->s, digest, &data, &len, err) < 0)
    return -1;
  config = json_loadb (data, len, 0, NULL);
  if (config == NULL || !json_is_object (config))
    {
      /* Artifacts carry configs of their own kinds; only an image config
       * that does not parse is a damaged store. */
      if (!is_image_config (mt))
        return 0;
      return nb_error_make (err, 0, "image config %s: not a JSON object",
                            digest);
    }
  json_array_foreach (
      json_object_get (json_object_get (config, "rootfs"), "diff_ids"), i, id)
  {
    const char *hex = oci_digest_hex (json_string_value (id));
    if (hex)
      json_object_set_new (m->diff_ids, hex, json_true ());
  }
  return 0;
}

/* DESC points to a manifest or an index: mark it and all it reaches. */
static int
mark_manifest (struct mark *m, json_t *desc, const char *where, int depth,
               nb_error_t *err)
{
  const char *digest = json_string_value (json_object_get (desc, "digest"));
  cleanup_free char *data = NULL;
  cleanup_json json_t *doc = NULL;
  json_t *child, *config;
  char here[OCI_DIGEST_LEN + 16];
  size_t len = 0, i;

  if (mark_digest (m, desc, where, err) < 0)
    return -1;
  snprintf (here, sizeof here, "manifest %s", digest);
  /* Absent (a pull that stopped half-way, a platform never fetched):
   * nothing more to keep on its behalf. */
  if (!oci_store_has_blob (m->s, digest))
    return 0;
  if (depth > MAX_NESTING)
    return nb_error_make (err, 0, "%s: indexes nested too deep", here);
  if (oci_store_read_blob (m->s, digest, &data, &len, err) < 0)
    return -1;
  doc = json_loadb (data, len, 0, NULL);
  if (doc == NULL || !json_is_object (doc))
    return nb_error_make (err, 0, "%s: not a JSON object", here);

  json_array_foreach (json_object_get (doc, "manifests"), i, child)
  {
    if (mark_manifest (m, child, here, depth + 1, err) < 0)
      return -1;
  }
  config = json_object_get (doc, "config");
  if (config)
    {
      if (mark_digest (m, config, here, err) < 0
          || mark_config (m, config, err) < 0)
        return -1;
    }
  json_array_foreach (json_object_get (doc, "layers"), i, child)
  {
    if (mark_digest (m, child, here, err) < 0)
      return -1;
  }
  /* Artifact manifests (image-spec 1.1-rc) list "blobs"; a referrer's
   * "subject" is kept with it. */
  json_array_foreach (json_object_get (doc, "blobs"), i, child)
  {
    if (mark_digest (m, child, here, err) < 0)
      return -1;
  }
  child = json_object_get (doc, "subject");
  if (child && mark_manifest (m, child, here, depth + 1, err) < 0)
    return -1;
  return 0;
}

/* Keep the first error, carry on with the rest: a sweep that stops at one
 * stubborn file leaves everything after it behind. */
static void
keep_first_error (nb_error_t *err, nb_error_t *e)
{
  if (err && *err == NULL)
    *err = steal_pointer (e);
  else
    nb_error_free (e);
}

static int
sweep_blobs (struct mark *m, size_t *removed, nb_error_t *err)
{
  struct oci_store *s = m->s;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd, ret = 0;

  fd = openat (s->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return nb_error_make (err, e, "read %s/blobs/sha256", s->dir);
    }
  while ((errno = 0, de = readdir (d)))
    {
      nb_error_t e = NULL;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || json_object_get (m->blobs, de->d_name))
        continue;
      if (nb_rm_rf_at (s->blobs_fd, de->d_name, &e) < 0)
        {
          nb_error_wrap (&e, "remove blob in %s/blobs/sha256", s->dir);
          keep_first_error (err, &e);
          ret = -1;
          continue;
        }
      (*removed)++;
    }
  if (errno)
    return nb_error_make (err, errno, "read %s/blobs/sha256", s->dir);
  return ret;
}

/* Temp files whose writer is gone: the flock died with it. */
static int
sweep_temp (struct oci_store *s, nb_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd, ret = 0;

  fd = openat (s->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return nb_error_make (err, e, "read %s/blobs/.tmp", s->dir);
    }
  while ((de = readdir (d)))
    {
      cleanup_close int tfd = -1;
      nb_error_t e = NULL;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      tfd = openat (s->tmp_fd, de->d_name,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
      if (tfd >= 0 && flock (tfd, LOCK_EX | LOCK_NB) < 0
          && errno == EWOULDBLOCK)
        continue; /* being written right now */
      if (nb_rm_rf_at (s->tmp_fd, de->d_name, &e) < 0)
        {
          nb_error_wrap (&e, "remove a temp file in %s/blobs/.tmp", s->dir);
          keep_first_error (err, &e);
          ret = -1;
        }
    }
  return ret;
}

/* nb_rm_rf_at makes read-only directories (/usr/share/doc/x r-x, 0555
 * trees) writable to empty them, at any depth. */
static int
remove_layer (int layers_fd, const char *layers_dir, const char *name,
              nb_error_t *err)
{
  if (nb_rm_rf_at (layers_fd, name, err) == 0)
    return 0;
  return nb_error_wrap (err, "in %s", layers_dir);
}

/* The diff_id hex a LAYERS_DIR entry belongs to: "<hex>" (the layer) or
 * "<hex>.<suffix>" (a file that goes with it, e.g. its id mapping); NULL for
 * anything else.  Writes the hex into OUT. */
static const char *
layer_entry_hex (const char *name, char out[65])
{
  for (int i = 0; i < 64; i++)
    if (!((name[i] >= '0' && name[i] <= '9')
          || (name[i] >= 'a' && name[i] <= 'f')))
      return NULL;
  if (name[64] != '\0' && name[64] != '.')
    return NULL;
  memcpy (out, name, 64);
  out[64] = '\0';
  return out;
}

static int
sweep_layers (struct mark *m, const char *layers_dir, size_t *removed,
              nb_error_t *err)
{
  cleanup_close int lfd = -1;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd, ret = 0;

  lfd = open (layers_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lfd < 0 && errno == ENOENT)
    return 0;
  if (lfd < 0)
    return nb_error_make (err, errno, "open %s", layers_dir);
  fd = openat (lfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return nb_error_make (err, e, "read %s", layers_dir);
    }
  while ((de = readdir (d)))
    {
      nb_error_t e = NULL;
      char buf[65];
      const char *hex;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      hex = layer_entry_hex (de->d_name, buf);
      if (hex && json_object_get (m->diff_ids, hex))
        continue;
      if (remove_layer (lfd, layers_dir, de->d_name, &e) < 0)
        {
          keep_first_error (err, &e);
          ret = -1;
          continue;
        }
      /* Count layers, not their companions or extraction leftovers. */
      if (hex && de->d_name[64] == '\0')
        (*removed)++;
    }
  return ret;
}

int
oci_store_prune (struct oci_store *s, const char *layers_dir,
                 size_t *blobs_removed, size_t *layers_removed, nb_error_t *err)
{
  return oci_store_prune_keep (s, layers_dir, NULL, blobs_removed,
                               layers_removed, err);
}

int
oci_store_prune_keep (struct oci_store *s, const char *layers_dir,
                      json_t *keep, size_t *blobs_removed,
                      size_t *layers_removed, nb_error_t *err)
{
  cleanup_json json_t *index = NULL;
  cleanup_json json_t *blobs = json_object ();
  cleanup_json json_t *diff_ids = json_object ();
  struct mark m = { s, blobs, diff_ids };
  int prev = s->lock_mode, ret = 0;
  size_t nb = 0, nl = 0, i;
  json_t *entry;

  if (blobs == NULL || diff_ids == NULL)
    return nb_error_make (err, ENOMEM, "prune %s", s->dir);
  if (json_is_object (keep))
    json_object_update (diff_ids, keep);
  if (oci_store_lock (s, 1, err) < 0)
    return nb_error_wrap (err, "prune");

  /* Mark first, in full: any doubt about what is reachable (a damaged
   * index or manifest) stops the prune before anything is removed. */
  ret = load_index (s, &index, err);
  json_array_foreach (json_object_get (index, "manifests"), i, entry)
  {
    char where[64];
    if (ret < 0)
      break;
    snprintf (where, sizeof where, "%s entry %zu", INDEX_FILE, i);
    ret = mark_manifest (&m, entry, where, 0, err);
  }
  if (ret < 0)
    nb_error_wrap (err, "prune %s (nothing was removed)", s->dir);
  else
    {
      /* Sweep: keep going past a failure, report the first. */
      nb_error_t e1 = NULL, e2 = NULL, e3 = NULL;
      int r1 = sweep_blobs (&m, &nb, &e1);
      int r2 = sweep_temp (s, &e2);
      int r3 = layers_dir ? sweep_layers (&m, layers_dir, &nl, &e3) : 0;
      if (r1 < 0 || r2 < 0 || r3 < 0)
        {
          nb_error_t first = NULL;
          keep_first_error (&first, &e1);
          keep_first_error (&first, &e2);
          keep_first_error (&first, &e3);
          nb_error_free (err);
          if (err)
            *err = steal_pointer (&first);
          nb_error_free (&first);
          ret = nb_error_wrap (err, "prune %s", s->dir);
        }
    }

  if (prev == 0)
    oci_store_unlock (s);
  else if (prev == LOCK_SH)
    oci_store_lock (s, 0, NULL);
  if (blobs_removed)
    *blobs_removed = nb;
  if (layers_removed)
    *layers_removed = nl;
  return ret;
}
