/* libFuzzer harness for the image's JSON documents as `nsbox load -i DIR`
 * reads them: the manifest, the image config and the layout's index.json
 * (which names the image and may be an index of indexes' top).  The input
 * is their text; the harness writes them into an OCI layout around one
 * small, fixed layer, putting true digests where the text says so, so that
 * mutations of the JSON itself get past digest verification:
 *
 *   input := MANIFEST NUL CONFIG [NUL INDEX]
 *
 *   @LAYER@ @LAYERSIZE@        the layer blob's digest and size (in MANIFEST)
 *   @DIFFID@                   the layer tar's sha256 (in CONFIG)
 *   @CONFIG@ @CONFIGSIZE@      the config blob's (in MANIFEST)
 *   @MANIFEST@ @MANIFESTSIZE@  the manifest blob's (in INDEX)
 *
 * Without INDEX, index.json is one OCI descriptor of the manifest tagged
 * "latest".  Any text goes: a document that is not JSON, or not the shape
 * nsbox expects, must be refused by name, never crash, leak, or write
 * outside the data dir (fz_check_and_reset).  Seeds: make-corpus.py. */
#define _GNU_SOURCE
#include "oci/registry.h"
#include "tests/fuzz/fuzz_common.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAYOUT_TEXT "{\"imageLayoutVersion\":\"1.0.0\"}"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char layout[4200];
static unsigned char layer[3 * 512];
static char layer_digest[8 + 65], layer_size[24];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  char hex[65];

  (void)argc;
  (void)argv;
  fz_setup ("json", "layout");
  snprintf (layout, sizeof layout, "%s/layout", fz_work);
  /* One file, "hello", as a ustar archive (checksum filled in below). */
  memset (layer, 0, sizeof layer);
  memcpy (layer, "hello", 5);
  memcpy (layer + 100, "0000644", 7);
  memcpy (layer + 108, "0000000", 7);
  memcpy (layer + 116, "0000000", 7);
  memcpy (layer + 124, "00000000006", 11);
  memcpy (layer + 136, "00000000000", 11);
  layer[156] = '0';
  memcpy (layer + 257, "ustar", 6);
  memcpy (layer + 263, "00", 2);
  memcpy (layer + 512, "hello\n", 6);
  fz_fix_tar_checksums (layer, sizeof layer);
  fz_sha256_hex (layer, sizeof layer, hex);
  snprintf (layer_digest, sizeof layer_digest, "sha256:%s", hex);
  snprintf (layer_size, sizeof layer_size, "%zu", sizeof layer);
  return 0;
}

/* TEXT (LEN bytes) with every TOKEN replaced by VALUE, in a new buffer. */
static char *
substitute (const char *text, size_t len, const char *token, const char *value,
            size_t *out_len)
{
  size_t tl = strlen (token), vl = strlen (value), n = 0, cap = len + 1;
  const char *p = text, *end = text + len, *hit;
  char *out;

  for (hit = memmem (p, len, token, tl); hit;
       hit = memmem (hit + tl, (size_t)(end - hit - tl), token, tl))
    cap += vl;
  out = malloc (cap);
  if (out == NULL)
    abort ();
  while ((hit = memmem (p, (size_t)(end - p), token, tl)) != NULL)
    {
      memcpy (out + n, p, (size_t)(hit - p));
      n += (size_t)(hit - p);
      memcpy (out + n, value, vl);
      n += vl;
      p = hit + tl;
    }
  memcpy (out + n, p, (size_t)(end - p));
  n += (size_t)(end - p);
  out[n] = '\0';
  *out_len = n;
  return out;
}

/* Substitute TOKENS (pairs, NULL-ended) in the part, then store it as a
 * blob; DIGEST and SIZE get its digest and size as text. */
static void
put_part (int blobs, const char *text, size_t len, const char *const *tokens,
          char digest[8 + 65], char size[24])
{
  char *cur = malloc (len + 1), hex[65];
  size_t n = len;

  if (cur == NULL)
    abort ();
  memcpy (cur, text, len);
  cur[len] = '\0';
  for (; tokens && tokens[0]; tokens += 2)
    {
      char *next = substitute (cur, n, tokens[0], tokens[1], &n);
      free (cur);
      cur = next;
    }
  fz_sha256_hex (cur, n, hex);
  snprintf (digest, 8 + 65, "sha256:%s", hex);
  snprintf (size, 24, "%zu", n);
  if (fz_write_at (blobs, hex, cur, n) < 0)
    abort ();
  free (cur);
}

static void
build_layout (const char *manifest, size_t ml, const char *config, size_t cl,
              const char *index, size_t il)
{
  char hex[65], diff_id[8 + 65], cfg_digest[8 + 65], cfg_size[24],
      man_digest[8 + 65], man_size[24];
  int dir, blobs;

  if (mkdir (layout, 0700) < 0
      || (dir = open (layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0
      || mkdirat (dir, "blobs", 0700) < 0
      || mkdirat (dir, "blobs/sha256", 0700) < 0
      || fz_write_at (dir, "oci-layout", LAYOUT_TEXT, strlen (LAYOUT_TEXT)) < 0
      || (blobs
          = openat (dir, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC))
             < 0)
    abort ();
  fz_sha256_hex (layer, sizeof layer, hex);
  snprintf (diff_id, sizeof diff_id, "sha256:%s", hex);
  if (fz_write_at (blobs, hex, layer, sizeof layer) < 0)
    abort ();
  {
    const char *const t[] = { "@DIFFID@", diff_id, NULL };
    put_part (blobs, config, cl, t, cfg_digest, cfg_size);
  }
  {
    const char *const t[]
        = { "@LAYERSIZE@", layer_size, "@LAYER@",  layer_digest, "@CONFIGSIZE@",
            cfg_size,      "@CONFIG@", cfg_digest, NULL };
    put_part (blobs, manifest, ml, t, man_digest, man_size);
  }
  if (index)
    {
      const char *const t[]
          = { "@MANIFESTSIZE@", man_size, "@MANIFEST@", man_digest, NULL };
      char *text;
      size_t n = il;
      /* index.json is no blob: substituted, then written by name. */
      text = substitute (index, il, t[0], t[1], &n);
      {
        char *next = substitute (text, n, t[2], t[3], &n);
        free (text);
        text = next;
      }
      if (fz_write_at (dir, "index.json", text, n) < 0)
        abort ();
      free (text);
    }
  else
    {
      char *text = NULL;
      if (asprintf (&text,
                    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
                    "\"digest\":\"%s\",\"size\":%s,\"annotations\":{"
                    "\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
                    OCI_MT_OCI_MANIFEST, man_digest, man_size)
              < 0
          || fz_write_at (dir, "index.json", text, strlen (text)) < 0)
        abort ();
      free (text);
    }
  close (blobs);
  close (dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *p = (const char *)data, *end = p + size, *cfg, *idx = NULL;
  const char *nul;
  int status;

  nul = memchr (p, '\0', size);
  if (nul == NULL)
    return 0;
  cfg = nul + 1;
  nul = memchr (cfg, '\0', (size_t)(end - cfg));
  if (nul)
    idx = nul + 1;
  if (fz_rm_rf (AT_FDCWD, layout) < 0)
    abort ();
  build_layout (p, (size_t)(cfg - 1 - p), cfg,
                (size_t)((nul ? nul : end) - cfg), idx,
                idx ? (size_t)(end - idx) : 0);
  status = fz_load (layout);
  fz_check_and_reset (status);
  return 0;
}
