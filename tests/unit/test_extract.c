#define _GNU_SOURCE
/* oci/extract.c: a layer blob becomes a directory, in one pass, verified,
 * and nothing in it can write outside that directory.
 *
 * Each test builds its tar in memory with libarchive's writer, compresses it
 * (gzip, zstd or not at all), and extracts it into TMP/layer.  Run as root,
 * the extraction runs in a child that dropped to nobody, as nsbox does it
 * (rootless), with TMP itself owned by nobody: a write escaping the layer
 * would succeed there, so a refusal is the code's doing, not a permission's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "oci/extract.h"
#include "runtime/base/fs.h"

#define NOBODY 65534
#define MODE_0000 010000 /* .perm = 0 means "the default" */

enum kind
{
  REG,
  DIR_,
  SYMLINK,
  HARDLINK,
  FIFO,
  CHR,
  BLK
};

struct ent
{
  enum kind kind;
  const char *name;
  const char *data; /* content; symlink or hard link target */
  mode_t perm;
  long long mtime;
  long mtime_nsec;
  size_t len; /* of data, when it is not a string */
  unsigned uid, gid;
  const char *xattr; /* "name=value" */
};

enum filter
{
  NONE,
  GZIP,
  ZSTD
};

struct blob
{
  unsigned char *p;
  size_t len, cap;
};

struct outcome
{
  int ret;
  struct oci_extract_result res;
  char msg[4096];
};

static char tmp[256];   /* TMP: the place a hostile layer aims at */
static char layer[300]; /* TMP/layer */

/* --- building layers ------------------------------------------------------ */

static la_ssize_t
blob_write (struct archive *a, void *data, const void *buf, size_t len)
{
  struct blob *b = data;
  (void)a;
  if (b->len + len > b->cap)
    {
      b->cap = (b->len + len) * 2;
      b->p = realloc (b->p, b->cap);
      assert_non_null (b->p);
    }
  memcpy (b->p + b->len, buf, len);
  b->len += len;
  return len;
}

static void
add_entry (struct archive *a, const struct ent *t)
{
  struct archive_entry *e = archive_entry_new ();
  size_t len
      = t->len ? t->len : (t->kind == REG && t->data ? strlen (t->data) : 0);
  static const mode_t types[]
      = { [REG] = AE_IFREG,      [DIR_] = AE_IFDIR, [SYMLINK] = AE_IFLNK,
          [HARDLINK] = AE_IFREG, [FIFO] = AE_IFIFO, [CHR] = AE_IFCHR,
          [BLK] = AE_IFBLK };

  archive_entry_set_pathname (e, t->name);
  archive_entry_set_filetype (e, types[t->kind]);
  archive_entry_set_perm (e, t->perm ? t->perm & 07777
                                     : (t->kind == DIR_ ? 0755 : 0644));
  archive_entry_set_mtime (e, t->mtime ? t->mtime : 1700000000, t->mtime_nsec);
  archive_entry_set_uid (e, t->uid);
  archive_entry_set_gid (e, t->gid);
  archive_entry_set_size (e, t->kind == REG ? (la_int64_t)len : 0);
  if (t->kind == SYMLINK)
    archive_entry_set_symlink (e, t->data);
  if (t->kind == HARDLINK)
    archive_entry_set_hardlink (e, t->data);
  if (t->kind == CHR || t->kind == BLK)
    archive_entry_set_rdev (e, makedev (8, 0));
  if (t->xattr)
    {
      const char *eq = strchr (t->xattr, '=');
      char *name = strndup (t->xattr, eq - t->xattr);
      archive_entry_xattr_add_entry (e, name, eq + 1, strlen (eq + 1));
      free (name);
    }
  assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
  if (t->kind == REG && len > 0)
    assert_int_equal (archive_write_data (a, t->data, len), (la_ssize_t)len);
  archive_entry_free (e);
}

/* The uncompressed tar, pax (sub-second mtimes need its headers). */
static struct blob
make_tar (const struct ent *ents, size_t n)
{
  struct blob b = { 0 };
  struct archive *a = archive_write_new ();

  archive_write_set_format_pax (a);
  archive_write_add_filter_none (a);
  assert_int_equal (archive_write_open (a, &b, NULL, blob_write, NULL),
                    ARCHIVE_OK);
  for (size_t i = 0; i < n; i++)
    add_entry (a, &ents[i]);
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  return b;
}

static struct blob
compress (const struct blob *tar, enum filter f)
{
  struct blob b = { 0 };
  struct archive *a;
  struct archive_entry *e;

  if (f == NONE)
    {
      b.p = malloc (tar->len ? tar->len : 1);
      memcpy (b.p, tar->p, tar->len);
      b.len = b.cap = tar->len;
      return b;
    }
  a = archive_write_new ();
  archive_write_set_format_raw (a);
  if (f == GZIP)
    assert_int_equal (archive_write_add_filter_gzip (a), ARCHIVE_OK);
  else
    assert_int_equal (archive_write_add_filter_zstd (a), ARCHIVE_OK);
  archive_write_set_bytes_in_last_block (a, 1);
  assert_int_equal (archive_write_open (a, &b, NULL, blob_write, NULL),
                    ARCHIVE_OK);
  e = archive_entry_new ();
  archive_entry_set_pathname (e, "layer.tar");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_size (e, tar->len);
  assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
  assert_int_equal (archive_write_data (a, tar->p, tar->len),
                    (la_ssize_t)tar->len);
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  archive_entry_free (e);
  return b;
}

static void
sha256 (const void *p, size_t len, char out[OCI_DIGEST_LEN + 1])
{
  unsigned char md[32];
  unsigned int n;

  assert_int_equal (EVP_Digest (p, len, md, &n, EVP_sha256 (), NULL), 1);
  strcpy (out, "sha256:");
  for (int i = 0; i < 32; i++)
    sprintf (out + 7 + 2 * i, "%02x", md[i]);
}

/* --- running the extraction ----------------------------------------------- */

static int
memfd_of (const struct blob *b)
{
  int fd = memfd_create ("layer", MFD_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, b->p, b->len), (ssize_t)b->len);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return fd;
}

static void
run_extract (int fd, const struct oci_extract_opts *opts, struct outcome *o)
{
  nb_error_t err = NULL;
  int dfd = open (layer, O_PATH | O_DIRECTORY | O_CLOEXEC);

  assert_true (dfd >= 0);
  memset (o, 0, sizeof *o);
  o->ret = oci_extract_layer (fd, dfd, opts, &o->res, &err);
  if (o->ret < 0)
    snprintf (o->msg, sizeof o->msg, "%s",
              err && err->msg ? err->msg : "(no message)");
  nb_error_free (&err);
  close (dfd);
}

/* As root: in a child that became nobody, as an unprivileged nsbox would
 * run; AS_CALLER keeps root (for keep_owners). */
static struct outcome
extract_blob_as (const struct blob *b, const struct oci_extract_opts *opts,
                 bool as_caller)
{
  struct outcome o;
  int fd = memfd_of (b);
  int pipefd[2];
  pid_t pid;
  int status;
  size_t got = 0;

  if (geteuid () != 0 || as_caller)
    {
      run_extract (fd, opts, &o);
      close (fd);
      return o;
    }
  assert_int_equal (pipe2 (pipefd, O_CLOEXEC), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (setgroups (0, NULL) < 0 || setresgid (NOBODY, NOBODY, NOBODY) < 0
          || setresuid (NOBODY, NOBODY, NOBODY) < 0)
        _exit (3);
      run_extract (fd, opts, &o);
      _exit (write (pipefd[1], &o, sizeof o) == sizeof o ? 0 : 4);
    }
  close (pipefd[1]);
  while (got < sizeof o)
    {
      ssize_t n = read (pipefd[0], (char *)&o + got, sizeof o - got);
      if (n <= 0)
        break;
      got += n;
    }
  close (pipefd[0]);
  close (fd);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  assert_int_equal (got, sizeof o);
  return o;
}

static struct outcome
extract (const struct ent *ents, size_t n, enum filter f,
         const struct oci_extract_opts *opts)
{
  struct blob tar = make_tar (ents, n);
  struct blob b = compress (&tar, f);
  struct outcome o = extract_blob_as (&b, opts, false);

  free (tar.p);
  free (b.p);
  return o;
}

#define N(a) (sizeof (a) / sizeof (a)[0])

static void
expect_ok (const struct outcome *o)
{
  if (o->ret != 0)
    fail_msg ("extraction failed: %s", o->msg);
}

static void
expect_refused (const struct outcome *o, const char *needle)
{
  if (o->ret == 0)
    fail_msg ("extraction succeeded; expected an error with '%s'", needle);
  if (strstr (o->msg, needle) == NULL)
    fail_msg ("error '%s' does not mention '%s'", o->msg, needle);
}

/* Nothing new beside the layer dir: TMP holds "layer" and what the test
 * planted there (EXTRA, may be NULL). */
static void
expect_nothing_outside (const char *extra)
{
  DIR *d = opendir (tmp);
  struct dirent *de;

  assert_non_null (d);
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strcmp (de->d_name, "layer") == 0
          || (extra && strcmp (de->d_name, extra) == 0))
        continue;
      closedir (d);
      fail_msg ("'%s' appeared outside the layer dir, in %s", de->d_name, tmp);
    }
  closedir (d);
}

static char *
in_layer (const char *rel)
{
  static char path[4][600];
  static int i;
  i = (i + 1) % 4;
  snprintf (path[i], sizeof path[i], "%s/%s", layer, rel);
  return path[i];
}

static struct stat
lstat_in_layer (const char *rel)
{
  struct stat st;
  if (lstat (in_layer (rel), &st) < 0)
    fail_msg ("%s: %s", rel, strerror (errno));
  return st;
}

static void
expect_content (const char *rel, const char *want)
{
  char *got = NULL;
  size_t len;
  nb_error_t err = NULL;

  if (nb_read_file (in_layer (rel), &got, &len, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_int_equal (len, strlen (want));
  assert_memory_equal (got, want, len);
  free (got);
}

/* Overlay whiteouts in a user namespace live in user.* xattrs; tmpfs has
 * them since Linux 6.6, ext4/xfs/btrfs always. */
static bool
user_xattrs_supported (void)
{
  if (setxattr (layer, "user.nsbox-probe", "1", 1, 0) < 0 && errno == ENOTSUP)
    {
      print_message ("# the filesystem of %s refuses user xattrs (ENOTSUP); "
                     "set TMPDIR to ext4, xfs, btrfs or tmpfs on Linux >= "
                     "6.6 to run this test\n",
                     tmp);
      skip ();
      return false;
    }
  removexattr (layer, "user.nsbox-probe");
  return true;
}

/* --- fixture -------------------------------------------------------------- */

static int
make_writable (const char *path, const struct stat *st, int type,
               struct FTW *ftw)
{
  (void)ftw;
  if (type == FTW_D || type == FTW_DNR)
    chmod (path, (st->st_mode & 07777) | 0700);
  return 0;
}

static int
setup (void **state)
{
  const char *base = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  (void)state;
  snprintf (tmp, sizeof tmp, "%s/nsbox-extract.XXXXXX", base);
  assert_non_null (mkdtemp (tmp));
  snprintf (layer, sizeof layer, "%s/layer", tmp);
  assert_int_equal (mkdir (layer, 0700), 0);
  if (geteuid () == 0)
    {
      assert_int_equal (chown (tmp, NOBODY, NOBODY), 0);
      assert_int_equal (chown (layer, NOBODY, NOBODY), 0);
    }
  return 0;
}

static int
teardown (void **state)
{
  nb_error_t err = NULL;
  (void)state;
  /* Read-only directories of a layer (as a non-root user). */
  nftw (tmp, make_writable, 16, FTW_PHYS);
  if (nb_rm_rf_at (AT_FDCWD, tmp, &err) < 0)
    {
      fprintf (stderr, "# cleanup: %s\n", err->msg);
      nb_error_free (&err);
    }
  return 0;
}

/* --- what comes out ------------------------------------------------------- */

static char big[3 * 1024 * 1024 + 17];

static const struct ent tree[] = {
  { .kind = DIR_, .name = "./", .perm = 0755, .mtime = 1600000000 },
  { .kind = DIR_,
    .name = "etc/",
    .perm = 0751,
    .mtime = 1600000001,
    .mtime_nsec = 5000 },
  { .kind = REG,
    .name = "etc/hosts",
    .data = "127.0.0.1 localhost\n",
    .perm = 0640,
    .mtime = 1600000002,
    .mtime_nsec = 123456789 },
  { .kind = REG, .name = "etc/empty", .data = "", .perm = 0600 },
  { .kind = SYMLINK, .name = "etc/link", .data = "hosts" },
  { .kind = SYMLINK, .name = "etc/passwd-abs", .data = "/etc/passwd" },
  { .kind = HARDLINK, .name = "etc/hosts.hard", .data = "etc/hosts" },
  { .kind = REG,
    .name = "usr/bin/tool",
    .data = "#!/bin/sh\n",
    .perm = 04755,
    .mtime = 1600000003 }, /* no dir entries for usr/ or usr/bin/ */
  { .kind = REG, .name = "usr/bin/./sgid", .data = "x", .perm = 02711 },
  { .kind = DIR_, .name = "tmp", .perm = 01777 },
  { .kind = FIFO, .name = "run/fifo", .perm = 0620 },
  { .kind = DIR_,
    .name = "etc/",
    .perm = 0755,
    .mtime = 1600000009 }, /* listed twice: the last one wins */
};

static void
test_files_dirs_symlinks_hardlinks_modes_and_mtimes_come_out_as_in_the_tar (
    void **state)
{
  struct ent ents[N (tree) + 1];
  struct outcome o;
  struct stat st, st2;
  char target[64];
  ssize_t n;
  (void)state;

  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)(i * 7 + i / 4096);
  memcpy (ents, tree, sizeof tree);
  ents[N (tree)] = (struct ent){ .kind = REG,
                                 .name = "usr/lib/big",
                                 .data = big,
                                 .perm = 0644,
                                 .len = sizeof big };
  o = extract (ents, N (ents), GZIP, NULL);
  expect_ok (&o);
  assert_int_equal (o.res.entries, N (ents));

  expect_content ("etc/hosts", "127.0.0.1 localhost\n");
  st = lstat_in_layer ("etc/hosts");
  assert_true (S_ISREG (st.st_mode));
  assert_int_equal (st.st_mode & 07777, 0640);
  assert_int_equal (st.st_mtim.tv_sec, 1600000002);
  assert_int_equal (st.st_mtim.tv_nsec, 123456789);
  assert_int_equal (st.st_nlink, 2);
  st2 = lstat_in_layer ("etc/hosts.hard");
  assert_int_equal (st.st_ino, st2.st_ino);
  if (geteuid () == 0)
    assert_int_equal (st.st_uid, NOBODY); /* owned by whoever extracted */

  expect_content ("etc/empty", "");
  st = lstat_in_layer ("usr/bin/tool");
  assert_int_equal (st.st_mode & 07777, 04755);
  st = lstat_in_layer ("usr/bin/sgid");
  assert_int_equal (st.st_mode & 07777, 02711);
  st = lstat_in_layer ("usr/bin");
  assert_true (S_ISDIR (st.st_mode));

  st = lstat_in_layer ("usr/lib/big");
  assert_int_equal (st.st_size, sizeof big);
  {
    char *got = NULL;
    size_t len;
    nb_error_t err = NULL;
    assert_int_equal (nb_read_file (in_layer ("usr/lib/big"), &got, &len, &err),
                      0);
    assert_int_equal (len, sizeof big);
    assert_memory_equal (got, big, len);
    free (got);
  }

  n = readlink (in_layer ("etc/link"), target, sizeof target);
  assert_int_equal (n, 5);
  assert_memory_equal (target, "hosts", 5);
  /* A symlink may point anywhere: it is resolved inside the container. */
  n = readlink (in_layer ("etc/passwd-abs"), target, sizeof target);
  assert_int_equal (n, 11);
  assert_memory_equal (target, "/etc/passwd", 11);

  st = lstat_in_layer ("etc");
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (st.st_mtim.tv_sec, 1600000009);
  st = lstat_in_layer ("tmp");
  assert_int_equal (st.st_mode & 07777, 01777);
  st = lstat_in_layer ("run/fifo");
  assert_true (S_ISFIFO (st.st_mode));
  assert_int_equal (st.st_mode & 07777, 0620);
  st = lstat_in_layer (".");
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (st.st_mtim.tv_sec, 1600000000);
  expect_nothing_outside (NULL);
}

static const struct ent small[] = {
  { .kind = DIR_, .name = "bin/" },
  { .kind = REG, .name = "bin/sh", .data = "#!/bin/busybox\n", .perm = 0755 },
  { .kind = SYMLINK, .name = "bin/ls", .data = "sh" },
};

static void
check_small_tree (void)
{
  char target[8];
  expect_content ("bin/sh", "#!/bin/busybox\n");
  assert_int_equal (readlink (in_layer ("bin/ls"), target, sizeof target), 2);
}

static void
test_gzip_zstd_and_uncompressed_layers_give_their_digest_and_diff_id (
    void **state)
{
  static const enum filter filters[] = { GZIP, ZSTD, NONE };
  static const char *const names[] = { "gzip", "zstd", "none" };
  (void)state;

  for (size_t i = 0; i < N (filters); i++)
    {
      struct blob tar = make_tar (small, N (small));
      struct blob b = compress (&tar, filters[i]);
      char digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
      struct oci_extract_opts opts
          = { .blob_digest = digest, .diff_id = diff_id };
      struct outcome o;

      /* libarchive pads a tar to a 10 KiB record: the diff_id covers the
       * padding after the end-of-archive trailer too. */
      assert_true (tar.len % 10240 == 0);
      sha256 (b.p, b.len, digest);
      sha256 (tar.p, tar.len, diff_id);
      teardown (NULL);
      setup (NULL);
      o = extract_blob_as (&b, &opts, false);
      if (o.ret != 0)
        fail_msg ("%s: %s", names[i], o.msg);
      assert_string_equal (o.res.blob_digest, digest);
      assert_string_equal (o.res.diff_id, diff_id);
      assert_int_equal (o.res.entries, N (small));
      check_small_tree ();
      free (tar.p);
      free (b.p);
    }
}

static void
test_a_blob_not_matching_its_digest_is_refused_naming_both (void **state)
{
  const char *wrong
      = "sha256:"
        "0000000000000000000000000000000000000000000000000000000000000000";
  struct oci_extract_opts opts = { .blob_digest = wrong };
  struct blob tar = make_tar (small, N (small));
  struct blob b = compress (&tar, GZIP);
  char digest[OCI_DIGEST_LEN + 1], want[512];
  struct outcome o;
  (void)state;

  sha256 (b.p, b.len, digest);
  o = extract_blob_as (&b, &opts, false);
  snprintf (want, sizeof want,
            "layer %s: content does not match its digest (got %s)", wrong,
            digest);
  expect_refused (&o, want);
  free (tar.p);
  free (b.p);
}

static void
test_a_tar_not_matching_its_diff_id_is_refused_naming_both (void **state)
{
  const char *wrong
      = "sha256:"
        "1111111111111111111111111111111111111111111111111111111111111111";
  struct blob tar = make_tar (small, N (small));
  struct blob b = compress (&tar, ZSTD);
  char digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1], want[512];
  struct oci_extract_opts opts = { .blob_digest = digest, .diff_id = wrong };
  struct outcome o;
  (void)state;

  sha256 (b.p, b.len, digest);
  sha256 (tar.p, tar.len, diff_id);
  o = extract_blob_as (&b, &opts, false);
  snprintf (want, sizeof want,
            "layer %s: uncompressed content does not match diff_id %s (got "
            "%s)",
            digest, wrong, diff_id);
  expect_refused (&o, want);
  free (tar.p);
  free (b.p);
}

static void
test_a_tar_without_the_end_of_archive_trailer_extracts (void **state)
{
  /* umoci insert writes layers like this. */
  struct blob tar = { 0 }, b;
  struct archive *a = archive_write_new ();
  static const char zeros[1024];
  char diff_id[OCI_DIGEST_LEN + 1];
  struct oci_extract_opts opts = { .diff_id = diff_id };
  struct outcome o;
  (void)state;

  archive_write_set_format_pax_restricted (a);
  archive_write_set_bytes_per_block (a, 512);
  archive_write_set_bytes_in_last_block (a, 1);
  assert_int_equal (archive_write_open (a, &tar, NULL, blob_write, NULL),
                    ARCHIVE_OK);
  for (size_t i = 0; i < N (small); i++)
    add_entry (a, &small[i]);
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  assert_true (tar.len > 1024);
  assert_memory_equal (tar.p + tar.len - 1024, zeros, 1024);
  tar.len -= 1024;
  sha256 (tar.p, tar.len, diff_id);

  b = compress (&tar, GZIP);
  o = extract_blob_as (&b, &opts, false);
  expect_ok (&o);
  assert_string_equal (o.res.diff_id, diff_id);
  check_small_tree ();
  free (tar.p);
  free (b.p);
}

static void
test_an_empty_tar_is_an_empty_layer (void **state)
{
  /* Docker's "empty layer" (a gzipped tar of only the trailer). */
  struct outcome o = extract (NULL, 0, GZIP, NULL);
  DIR *d;
  struct dirent *de;
  (void)state;

  expect_ok (&o);
  assert_int_equal (o.res.entries, 0);
  d = opendir (layer);
  assert_non_null (d);
  while ((de = readdir (d)))
    assert_true (de->d_name[0] == '.');
  closedir (d);
}

/* --- whiteouts ------------------------------------------------------------ */

static void
test_a_whiteout_becomes_a_0_0_character_device (void **state)
{
  static const struct ent ents[] = {
    { .kind = DIR_, .name = "etc/" },
    { .kind = REG, .name = "etc/.wh.motd", .data = "" },
    { .kind = REG, .name = ".wh.opt", .data = "" },
    { .kind = REG,
      .name = "etc/.wh..wh.plnk",
      .data = "" }, /* AUFS bookkeeping: ignored */
  };
  struct outcome o = extract (ents, N (ents), GZIP, NULL);
  struct stat st;
  (void)state;

  expect_ok (&o);
  st = lstat_in_layer ("etc/motd");
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (0, 0));
  st = lstat_in_layer ("opt");
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (0, 0));
  assert_int_equal (lstat (in_layer ("etc/.wh.motd"), &st), -1);
  assert_int_equal (lstat (in_layer ("etc/.wh..wh.plnk"), &st), -1);
  assert_int_equal (lstat (in_layer ("etc/plnk"), &st), -1);
}

static void
test_an_opaque_marker_sets_user_overlay_opaque_on_its_directory (void **state)
{
  static const struct ent ents[] = {
    { .kind = DIR_, .name = "var/", .perm = 0555 },
    { .kind = DIR_, .name = "var/cache/" },
    { .kind = REG, .name = "var/cache/.wh..wh..opq", .data = "" },
  };
  struct outcome o;
  char value[8];
  ssize_t n;
  (void)state;

  if (!user_xattrs_supported ())
    return;
  o = extract (ents, N (ents), GZIP, NULL);
  expect_ok (&o);
  n = getxattr (in_layer ("var/cache"), "user.overlay.opaque", value,
                sizeof value);
  assert_int_equal (n, 1);
  assert_int_equal (value[0], 'y');
  assert_int_equal (
      getxattr (in_layer ("var"), "user.overlay.opaque", value, sizeof value),
      -1);
  assert_int_equal (lstat_in_layer ("var").st_mode & 07777, 0555);
}

static void
test_user_xattrs_are_kept_and_overlay_and_trusted_ones_dropped (void **state)
{
  static const struct ent ents[] = {
    { .kind = REG,
      .name = "a",
      .data = "a",
      .xattr = "user.mime_type=text/plain" },
    /* Attack: steer overlayfs from inside a lower layer (redirect a
     * directory, fake an opaque dir) without going through a whiteout. */
    { .kind = REG,
      .name = "b",
      .data = "b",
      .xattr = "user.overlay.redirect=/etc" },
    { .kind = DIR_, .name = "c/", .xattr = "user.overlay.opaque=y" },
    { .kind = REG,
      .name = "d",
      .data = "d",
      .xattr = "trusted.overlay.opaque=y" },
  };
  struct outcome o;
  char value[32];
  (void)state;

  if (!user_xattrs_supported ())
    return;
  o = extract (ents, N (ents), NONE, NULL);
  expect_ok (&o);
  assert_int_equal (
      getxattr (in_layer ("a"), "user.mime_type", value, sizeof value), 10);
  assert_memory_equal (value, "text/plain", 10);
  assert_int_equal (
      getxattr (in_layer ("b"), "user.overlay.redirect", value, sizeof value),
      -1);
  assert_int_equal (
      getxattr (in_layer ("c"), "user.overlay.opaque", value, sizeof value),
      -1);
  assert_int_equal (
      getxattr (in_layer ("d"), "trusted.overlay.opaque", value, sizeof value),
      -1);
}

static void
test_a_read_only_directory_still_receives_the_entries_that_follow (void **state)
{
  static const struct ent ents[] = {
    { .kind = DIR_, .name = "ro/", .perm = 0555, .mtime = 1500000000 },
    { .kind = DIR_, .name = "ro/locked/", .perm = MODE_0000 },
    { .kind = REG, .name = "ro/file", .data = "inside\n", .perm = 0444 },
    { .kind = REG, .name = "ro/locked/deep", .data = "deeper\n" },
  };
  struct outcome o = extract (ents, N (ents), GZIP, NULL);
  struct stat st;
  (void)state;

  expect_ok (&o);
  st = lstat_in_layer ("ro");
  assert_int_equal (st.st_mode & 07777, 0555);
  assert_int_equal (st.st_mtim.tv_sec, 1500000000);
  assert_int_equal (lstat_in_layer ("ro/locked").st_mode & 07777, 0);
  expect_content ("ro/file", "inside\n");
  if (geteuid () == 0) /* root reads through mode 0000 */
    expect_content ("ro/locked/deep", "deeper\n");
}

static void
test_keep_owners_keeps_the_archive_uid_and_gid (void **state)
{
  static const struct ent ents[] = {
    { .kind = DIR_,
      .name = "home/agent/",
      .uid = 1000,
      .gid = 1000,
      .perm = 0700 },
    { .kind = REG,
      .name = "home/agent/.profile",
      .data = "x",
      .perm = 0644,
      .uid = 1000,
      .gid = 100 },
    { .kind = SYMLINK,
      .name = "home/agent/l",
      .data = ".profile",
      .uid = 1000,
      .gid = 1000 },
    { .kind = REG,
      .name = "suid",
      .data = "x",
      .perm = 04755,
      .uid = 0,
      .gid = 0 },
  };
  struct oci_extract_opts opts = { .keep_owners = true };
  struct blob tar = make_tar (ents, N (ents));
  struct blob b = compress (&tar, GZIP);
  struct outcome o;
  struct stat st;
  (void)state;

  if (geteuid () != 0)
    {
      /* Without root the ids are not ours to give: the error says so. */
      o = extract_blob_as (&b, &opts, true);
      expect_refused (&o, "must be mapped in the user namespace");
    }
  else
    {
      o = extract_blob_as (&b, &opts, true);
      expect_ok (&o);
      st = lstat_in_layer ("home/agent");
      assert_int_equal (st.st_uid, 1000);
      assert_int_equal (st.st_mode & 07777, 0700);
      st = lstat_in_layer ("home/agent/.profile");
      assert_int_equal (st.st_uid, 1000);
      assert_int_equal (st.st_gid, 100);
      st = lstat_in_layer ("home/agent/l");
      assert_int_equal (st.st_uid, 1000);
      /* chown clears setuid: the mode is applied after the owner. */
      st = lstat_in_layer ("suid");
      assert_int_equal (st.st_uid, 0);
      assert_int_equal (st.st_mode & 07777, 04755);
    }
  free (tar.p);
  free (b.p);
}

/* --- hostile layers ------------------------------------------------------- */

static void
test_a_dotdot_entry_is_refused_and_nothing_lands_outside (void **state)
{
  /* Attack: "../escape" writes next to the layer dir (TMP is writable by
   * the extracting user here). */
  static const struct ent ents[] = {
    { .kind = REG, .name = "ok", .data = "fine" },
    { .kind = REG, .name = "../escape", .data = "pwned" },
  };
  struct outcome o = extract (ents, N (ents), GZIP, NULL);
  (void)state;

  expect_refused (&o, "entry '../escape' leaves the layer");
  expect_nothing_outside (NULL);
}

static void
test_a_dotdot_in_the_middle_is_refused (void **state)
{
  /* Attack: "a/../../escape" only leaves after a real directory. */
  static const struct ent ents[] = {
    { .kind = DIR_, .name = "a/" },
    { .kind = REG, .name = "a/../../escape", .data = "pwned" },
  };
  struct outcome o = extract (ents, N (ents), NONE, NULL);
  (void)state;

  expect_refused (&o, "leaves the layer");
  expect_nothing_outside (NULL);
}

static void
test_an_absolute_entry_is_refused (void **state)
{
  /* Attack: an absolute name aimed at a place the extracting user can
   * write (TMP/abs-escape), and the classic /etc/evil. */
  char name[400];
  struct ent ents[] = { { .kind = REG, .name = name, .data = "pwned" } };
  struct outcome o;
  struct stat st;
  (void)state;

  snprintf (name, sizeof name, "%s/abs-escape", tmp);
  o = extract (ents, N (ents), GZIP, NULL);
  expect_refused (&o, "leaves the layer (an absolute name)");
  expect_nothing_outside (NULL);

  ents[0].name = "/etc/evil";
  o = extract (ents, N (ents), GZIP, NULL);
  expect_refused (&o, "entry '/etc/evil' leaves the layer");
  assert_int_equal (lstat ("/etc/evil", &st), -1);
  assert_int_equal (lstat (in_layer ("etc/evil"), &st), -1);
}

static void
test_writing_through_a_symlink_that_leaves_the_layer_is_refused (void **state)
{
  /* Attack: plant "link -> .." (or "-> /"), then write "link/evil": a
   * naive extractor follows the symlink and writes outside. */
  static const char *const targets[] = { "..", "/", "../../..", tmp };
  (void)state;

  for (size_t i = 0; i < N (targets); i++)
    {
      const struct ent ents[] = {
        { .kind = SYMLINK, .name = "link", .data = targets[i] },
        { .kind = REG, .name = "link/evil", .data = "pwned" },
      };
      struct outcome o;

      teardown (NULL);
      setup (NULL);
      o = extract (ents, N (ents), GZIP, NULL);
      expect_refused (&o, "entry 'link/evil': its parent leads outside the "
                          "layer (symlink)");
      expect_nothing_outside (NULL);
    }
}

static void
test_a_symlinked_directory_inside_the_layer_may_be_written_through (
    void **state)
{
  static const struct ent ents[] = {
    { .kind = DIR_, .name = "usr/lib/" },
    { .kind = SYMLINK, .name = "lib", .data = "usr/lib" },
    { .kind = REG, .name = "lib/libc.so", .data = "elf" },
  };
  struct outcome o = extract (ents, N (ents), GZIP, NULL);
  (void)state;

  expect_ok (&o);
  expect_content ("usr/lib/libc.so", "elf");
}

static void
test_a_hard_link_to_a_file_outside_the_layer_is_refused (void **state)
{
  /* Attack: hard-link a file outside the layer into it (then a later entry,
   * or the container, writes through the shared inode).  TMP/outside is
   * owned by the extracting user, so linkat itself would allow it. */
  char outside[300];
  struct stat st;
  int fd;
  static const struct ent ents[] = {
    { .kind = HARDLINK, .name = "stolen", .data = "../outside" },
  };
  static const struct ent ents2[] = {
    { .kind = HARDLINK, .name = "passwd", .data = "../../etc/passwd" },
  };
  static const struct ent ents3[] = {
    { .kind = SYMLINK, .name = "up", .data = ".." },
    { .kind = HARDLINK, .name = "stolen", .data = "up/outside" },
  };
  struct outcome o;
  (void)state;

  snprintf (outside, sizeof outside, "%s/outside", tmp);
  fd = open (outside, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_true (fd >= 0);
  close (fd);
  if (geteuid () == 0)
    assert_int_equal (chown (outside, NOBODY, NOBODY), 0);

  o = extract (ents, N (ents), GZIP, NULL);
  expect_refused (&o, "its hard link target '../outside' leaves the layer");
  o = extract (ents2, N (ents2), GZIP, NULL);
  expect_refused (&o, "its hard link target '../../etc/passwd' leaves the "
                      "layer");
  o = extract (ents3, N (ents3), GZIP, NULL);
  expect_refused (&o, "leads outside the layer (symlink)");

  assert_int_equal (stat (outside, &st), 0);
  assert_int_equal (st.st_nlink, 1);
  assert_int_equal (lstat (in_layer ("stolen"), &st), -1);
  expect_nothing_outside ("outside");
}

static void
test_device_nodes_are_left_out_and_counted (void **state)
{
  /* Attack: a block device for the host's disk inside the image
   * (dev/sda -> 8:0), or a character device: neither may exist in a
   * layer; the rest of the layer still extracts. */
  static const struct ent ents[]
      = { { .kind = DIR_, .name = "dev", .perm = 0755 },
          { .kind = BLK, .name = "dev/sda", .perm = 0666 },
          { .kind = CHR, .name = "dev/mem", .perm = 0666 },
          { .kind = REG, .name = "after", .perm = 0644, .data = "kept\n" } };
  struct outcome o;
  struct stat st;
  (void)state;

  o = extract (ents, N (ents), GZIP, NULL);
  expect_ok (&o);
  assert_int_equal (o.res.devices_skipped, 2);
  assert_int_equal (lstat (in_layer ("dev/sda"), &st), -1);
  assert_int_equal (lstat (in_layer ("dev/mem"), &st), -1);
  assert_int_equal (lstat (in_layer ("after"), &st), 0);
  expect_nothing_outside (NULL);
}

static void
test_a_whiteout_of_the_parent_directory_is_refused (void **state)
{
  /* Attack: ".wh.." whites out "..", i.e. would remove the layer dir's
   * parent; ".wh.." and ".wh..." name no file of this directory. */
  static const struct ent dotdot[]
      = { { .kind = REG, .name = "a/.wh...", .data = "" } };
  static const struct ent dot[]
      = { { .kind = REG, .name = ".wh..", .data = "" } };
  struct outcome o;
  (void)state;

  o = extract (dotdot, N (dotdot), GZIP, NULL);
  expect_refused (&o, "a whiteout of no file");
  o = extract (dot, N (dot), GZIP, NULL);
  expect_refused (&o, "a whiteout of no file");
  expect_nothing_outside (NULL);
  assert_int_equal (access (tmp, F_OK), 0);
}

static void
test_a_truncated_or_corrupt_stream_is_an_error_not_a_crash (void **state)
{
  /* Attack (or a broken download): a blob cut short, bytes flipped in the
   * middle of the compressed stream, a tar cut inside a file's data. */
  static const enum filter filters[] = { GZIP, ZSTD };
  struct ent ents[] = {
    { .kind = REG, .name = "big", .data = big, .perm = 0644, .len = 512 * 1024 }
  };
  (void)state;

  /* Compressible text, so that flipped bytes land in Huffman-coded data. */
  for (size_t i = 0, k = 0; i + 32 < sizeof big; k++)
    i += sprintf (big + i, "line %zu of the file\n", k);
  for (size_t i = 0; i < N (filters); i++)
    {
      struct blob tar = make_tar (ents, N (ents));
      struct blob b = compress (&tar, filters[i]);
      char digest[OCI_DIGEST_LEN + 1];
      struct oci_extract_opts opts = { .blob_digest = digest };
      struct outcome o;
      size_t len = b.len;

      sha256 (b.p, b.len, digest);
      b.len = len / 2;
      o = extract_blob_as (&b, NULL, false);
      expect_refused (&o, "layer: decompress: ");
      b.len = len;
      /* libarchive does not check gzip's CRC-32: flipped bytes may decode
       * to other bytes without complaint.  The blob digest (always known
       * when nsbox extracts) is what catches them. */
      for (size_t j = len / 3; j < len / 3 + 64; j++)
        b.p[j] ^= 0x5a;
      o = extract_blob_as (&b, &opts, false);
      expect_refused (&o, digest);
      free (b.p);

      tar.len = 512 * 3 + 100 * 1024; /* pax header, header, part of the data */
      o = extract_blob_as (&tar, NULL, false);
      expect_refused (&o, "layer: read the tar: ");
      free (tar.p);
    }
  expect_nothing_outside (NULL);
}

static void
test_an_empty_blob_is_an_error (void **state)
{
  struct blob empty = { 0 };
  const char *digest
      = "sha256:"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  struct oci_extract_opts opts = { .blob_digest = digest };
  struct outcome o;
  (void)state;

  o = extract_blob_as (&empty, &opts, false);
  expect_refused (&o, "the blob is empty");
  expect_refused (&o, digest);
}

static void
test_garbage_is_not_a_tar (void **state)
{
  static char text[] = "this is not a tar archive, not at all\n";
  struct blob junk = { (unsigned char *)text, strlen (text), 0 };
  struct outcome o;
  (void)state;

  o = extract_blob_as (&junk, NULL, false);
  expect_refused (&o, "layer: ");
}

int
main (void)
{
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
  const struct CMUnitTest tests[] = {
    T (test_files_dirs_symlinks_hardlinks_modes_and_mtimes_come_out_as_in_the_tar),
    T (test_gzip_zstd_and_uncompressed_layers_give_their_digest_and_diff_id),
    T (test_a_blob_not_matching_its_digest_is_refused_naming_both),
    T (test_a_tar_not_matching_its_diff_id_is_refused_naming_both),
    T (test_a_tar_without_the_end_of_archive_trailer_extracts),
    T (test_an_empty_tar_is_an_empty_layer),
    T (test_a_whiteout_becomes_a_0_0_character_device),
    T (test_an_opaque_marker_sets_user_overlay_opaque_on_its_directory),
    T (test_user_xattrs_are_kept_and_overlay_and_trusted_ones_dropped),
    T (test_a_read_only_directory_still_receives_the_entries_that_follow),
    T (test_keep_owners_keeps_the_archive_uid_and_gid),
    T (test_a_dotdot_entry_is_refused_and_nothing_lands_outside),
    T (test_a_dotdot_in_the_middle_is_refused),
    T (test_an_absolute_entry_is_refused),
    T (test_writing_through_a_symlink_that_leaves_the_layer_is_refused),
    T (test_a_symlinked_directory_inside_the_layer_may_be_written_through),
    T (test_a_hard_link_to_a_file_outside_the_layer_is_refused),
    T (test_device_nodes_are_left_out_and_counted),
    T (test_a_whiteout_of_the_parent_directory_is_refused),
    T (test_a_truncated_or_corrupt_stream_is_an_error_not_a_crash),
    T (test_an_empty_blob_is_an_error),
    T (test_garbage_is_not_a_tar),
  };
#undef T
  return cmocka_run_group_tests_name ("extract", tests, NULL, NULL);
}
