#define _GNU_SOURCE
#include "tests/fuzz/fuzz_common.h"
#include "cli/image.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

char fz_work[4096];
FILE *fz_log;

static char root[4096], data_dir[4096];
static const char *input_name;
static bool strict;
static struct
{
  unsigned long loads, ok, layers, tmp_layers, tmp_blobs;
} stats;
static const char *harness;

/* Durability means nothing to a fuzz run, and with a store re-created for
 * every input nsbox's fsyncs cost most of the time; nothing in the code
 * under test branches on fsync other than on its error. */
int
fsync (int fd)
{
  (void) fd;
  return 0;
}

static void
die (const char *fmt, const char *arg)
{
  fprintf (fz_log, "fuzz %s: ", harness);
  fprintf (fz_log, fmt, arg);
  fputc ('\n', fz_log);
  fflush (fz_log);
  abort ();
}

static void
mkdir_or_die (const char *path)
{
  if (mkdir (path, 0700) < 0)
    die ("mkdir %s failed", path);
}

static void
at_exit (void)
{
  fprintf (fz_log,
           "fuzz %s: %lu loads, %lu succeeded, %lu layer dirs extracted, "
           "%lu left a layers/.tmp-* dir, %lu left blobs/.tmp files\n",
           harness, stats.loads, stats.ok, stats.layers, stats.tmp_layers,
           stats.tmp_blobs);
  fz_rm_rf (AT_FDCWD, root);
}

void
fz_setup (const char *name, const char *input)
{
  const char *tmp = getenv ("TMPDIR");
  struct rlimit rl;
  char path[4200];

  harness = name;
  input_name = input;
  fz_log = stderr;
  strict = getenv ("FUZZ_STRICT") != NULL;
  /* Extraction as root writes with root's rights: an escape found so would
   * already have done its harm. */
  if (getuid () == 0 || geteuid () == 0)
    {
      fprintf (fz_log, "fuzz %s: refusing to run as root (make fuzz runs "
                       "the harness as nsbox-test)\n", name);
      exit (1);
    }
  snprintf (root, sizeof root, "%s/nsbox-fuzz-%s-XXXXXX",
            tmp && tmp[0] == '/' ? tmp : "/tmp", name);
  if (mkdtemp (root) == NULL)
    die ("mkdtemp %s failed", root);
  snprintf (fz_work, sizeof fz_work, "%s/work", root);
  snprintf (data_dir, sizeof data_dir, "%s/data/nsbox", fz_work);
  snprintf (path, sizeof path, "%s/canary", root);
  mkdir_or_die (path);
  mkdir_or_die (fz_work);
  snprintf (path, sizeof path, "%s/data", fz_work);
  mkdir_or_die (path);
  setenv ("XDG_DATA_HOME", path, 1);
  snprintf (path, sizeof path, "%s/canary", fz_work);
  mkdir_or_die (path);
  /* Deep trees: one fd per level while removing them. */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  /* glibc's stdout and stderr are plain variables: nsbox's messages go to
   * /dev/null while libFuzzer (which took the stream at start-up) and the
   * sanitizers (fd 2) keep the terminal. */
  if (getenv ("FUZZ_VERBOSE") == NULL)
    {
      FILE *null = fopen ("/dev/null", "we");
      if (null)
        stdout = stderr = null;
    }
  atexit (at_exit);
}

int
fz_load (const char *path)
{
  char a0[] = "load", a1[] = "-i", *a2 = strdup (path);
  char *argv[] = { a0, a1, a2, NULL };
  int ret;

  /* 0, not 1: glibc then resets getopt's internal state as well. */
  optind = 0;
  ret = img_cmd_load (3, argv);
  free (a2);
  fflush (stdout);
  fflush (stderr);
  stats.loads++;
  if (ret == 0)
    stats.ok++;
  return ret;
}

int
fz_rm_rf (int dfd, const char *path)
{
  int fd;
  DIR *d;
  struct dirent *de;
  int ret = 0;

  if (unlinkat (dfd, path, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -1;
  /* Layers hold read-only and unsearchable directories. */
  fchmodat (dfd, path, 0700, 0);
  fd = openat (dfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0
        && fz_rm_rf (dirfd (d), de->d_name) < 0)
      ret = -1;
  closedir (d);
  if (unlinkat (dfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
    ret = -1;
  return ret;
}

void
fz_sha256_hex (const void *data, size_t len, char hex[65])
{
  unsigned char md[32];
  unsigned int n = 0;

  if (!EVP_Digest (data, len, md, &n, EVP_sha256 (), NULL) || n != 32)
    die ("%s: EVP_Digest failed", "sha256");
  for (unsigned i = 0; i < 32; i++)
    sprintf (hex + 2 * i, "%02x", md[i]);
}

static bool
is_hex64 (const char *s, const char *suffix)
{
  size_t i;
  for (i = 0; i < 64; i++)
    if (!isxdigit ((unsigned char) s[i]) || isupper ((unsigned char) s[i]))
      return false;
  return strcmp (s + 64, suffix) == 0;
}

/* Every name in DIR must be one of ALLOWED (NULL-terminated), or pass
 * EXTRA; a missing DIR is fine. */
static void
expect_only (const char *dir, const char *const *allowed,
             bool (*extra) (int dfd, const char *name))
{
  DIR *d = opendir (dir);
  struct dirent *de;
  char what[4400];

  if (d == NULL)
    {
      if (errno == ENOENT)
        return;
      die ("%s: cannot be read (its mode was changed?)", dir);
    }
  while ((de = readdir (d)))
    {
      bool ok = strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0;
      for (size_t i = 0; !ok && allowed[i]; i++)
        ok = strcmp (de->d_name, allowed[i]) == 0;
      if (!ok && extra)
        ok = extra (dirfd (d), de->d_name);
      if (!ok)
        {
          snprintf (what, sizeof what, "%s/%s", dir, de->d_name);
          die ("INVARIANT: %s appeared outside every layer dir", what);
        }
    }
  closedir (d);
}

static bool
layer_entry (int dfd, const char *name)
{
  struct stat st;

  if (strncmp (name, ".tmp-", 5) == 0)
    {
      /* A failed extraction's temp dir that nsbox did not remove. */
      stats.tmp_layers++;
      if (strict)
        die ("layers/%s: left behind by a failed load", name);
      return true;
    }
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return false;
  if (is_hex64 (name, "") && S_ISDIR (st.st_mode))
    {
      stats.layers++;
      return true;
    }
  return is_hex64 (name, ".mapping") && S_ISREG (st.st_mode);
}

static bool
blob_tmp_entry (int dfd, const char *name)
{
  (void) dfd;
  (void) name;
  stats.tmp_blobs++;
  if (strict)
    die ("blobs/.tmp/%s: left behind by a load", name);
  return true;
}

/* Every blob hashes to its name: the store's verifying writer is the only
 * way in. */
static bool
blob_entry (int dfd, const char *name)
{
  char hex[65], shown[100];
  struct stat st;
  char *buf;
  int fd;

  if (!is_hex64 (name, ""))
    return false;
  fd = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    die ("INVARIANT: blobs/sha256/%s is not a regular file", name);
  buf = malloc (st.st_size + 1);
  if (buf == NULL || read (fd, buf, st.st_size) != st.st_size)
    die ("blobs/sha256/%s: read failed", name);
  close (fd);
  fz_sha256_hex (buf, st.st_size, hex);
  free (buf);
  snprintf (shown, sizeof shown, "%s", name);
  if (strcmp (hex, name) != 0)
    die ("INVARIANT: blobs/sha256/%s does not hash to its name", shown);
  return true;
}

void
fz_check_and_reset (int status)
{
  static const char *const none[] = { NULL };
  const char *const in_root[] = { "canary", "work", NULL };
  const char *const in_work[] = { "canary", "data", input_name, NULL };
  static const char *const in_data[] = { "nsbox", NULL };
  static const char *const in_nsbox[] = { "store", "layers", NULL };
  static const char *const in_store[]
      = { "blobs", "oci-layout", "index.json", ".lock", ".index.lock", NULL };
  static const char *const in_blobs[] = { "sha256", ".tmp", NULL };
  char path[4400];

  (void) status;
  expect_only (root, in_root, NULL);
  snprintf (path, sizeof path, "%s/canary", root);
  expect_only (path, none, NULL);
  expect_only (fz_work, in_work, NULL);
  snprintf (path, sizeof path, "%s/canary", fz_work);
  expect_only (path, none, NULL);
  snprintf (path, sizeof path, "%s/data", fz_work);
  expect_only (path, in_data, NULL);
  expect_only (data_dir, in_nsbox, NULL);
  snprintf (path, sizeof path, "%s/layers", data_dir);
  expect_only (path, none, layer_entry);
  snprintf (path, sizeof path, "%s/store", data_dir);
  expect_only (path, in_store, NULL);
  snprintf (path, sizeof path, "%s/store/blobs", data_dir);
  expect_only (path, in_blobs, NULL);
  snprintf (path, sizeof path, "%s/store/blobs/.tmp", data_dir);
  expect_only (path, none, blob_tmp_entry);
  snprintf (path, sizeof path, "%s/store/blobs/sha256", data_dir);
  expect_only (path, none, blob_entry);

  if (fz_rm_rf (AT_FDCWD, data_dir) < 0)
    die ("%s: could not be removed for the next input", data_dir);
}

static unsigned long long
tar_size (const unsigned char *h)
{
  unsigned long long v = 0;
  int i;

  if (h[124] & 0x80) /* base-256 */
    {
      for (i = 125; i < 136; i++)
        v = (v << 8) | h[i];
      return v;
    }
  for (i = 124; i < 136 && h[i] == ' '; i++)
    ;
  for (; i < 136 && h[i] >= '0' && h[i] <= '7'; i++)
    v = v * 8 + (unsigned) (h[i] - '0');
  return v;
}

void
fz_fix_tar_checksums (unsigned char *buf, size_t len)
{
  size_t pos = 0;

  while (pos + 512 <= len)
    {
      unsigned char *h = buf + pos;
      unsigned long long size;
      unsigned sum = 0;
      size_t i;

      for (i = 0; i < 512 && h[i] == 0; i++)
        ;
      if (i == 512)
        {
          pos += 512;
          continue;
        }
      for (i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
      snprintf ((char *) h + 148, 8, "%06o", sum & 0777777);
      h[155] = ' ';
      size = tar_size (h);
      if (size > len)
        return;
      pos += 512 + ((size + 511) & ~511ULL);
    }
}

int
fz_write_at (int dfd, const char *name, const void *data, size_t len)
{
  int fd = openat (dfd, name,
                   O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  const char *p = data;

  if (fd < 0)
    return -1;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          close (fd);
          return -1;
        }
      p += n;
      len -= (size_t) n;
    }
  return close (fd);
}
