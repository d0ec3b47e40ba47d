#define _GNU_SOURCE
#include "oci/digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct oci_hasher
{
  EVP_MD_CTX *ctx;
};

/* OpenSSL 3 looks the algorithm up in its provider tables on every
 * EVP_DigestInit_ex given the legacy EVP_sha256() handle; an explicitly
 * fetched EVP_MD skips that, which matters when every 64 KiB chunk of a
 * parallel pull goes through here.  Fetched once, kept for the process. */
static const EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
fetch_sha256 (void)
{
  sha256_md = EVP_MD_fetch (NULL, "SHA256", NULL);
  if (sha256_md == NULL)
    sha256_md = EVP_sha256 ();
}

static const EVP_MD *
sha256 (void)
{
  pthread_once (&sha256_once, fetch_sha256);
  return sha256_md;
}

struct oci_hasher *
oci_hasher_new (void)
{
  struct oci_hasher *h = calloc (1, sizeof *h);

  if (h == NULL)
    return NULL;
  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, sha256 (), NULL) != 1)
    {
      oci_hasher_free (h);
      return NULL;
    }
  return h;
}

void
oci_hasher_update (struct oci_hasher *h, const void *data, size_t len)
{
  /* sha256 over memory cannot fail once initialised. */
  if (len > 0)
    EVP_DigestUpdate (h->ctx, data, len);
}

static void
format_digest (const unsigned char *md, char out[OCI_DIGEST_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  char *p = out;

  memcpy (p, "sha256:", 7);
  p += 7;
  for (int i = 0; i < 32; i++)
    {
      *p++ = hex[md[i] >> 4];
      *p++ = hex[md[i] & 0xf];
    }
  *p = '\0';
}

void
oci_hasher_finish (struct oci_hasher *h, char out[OCI_DIGEST_LEN + 1])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  EVP_DigestFinal_ex (h->ctx, md, &mdlen);
  format_digest (md, out);
  oci_hasher_free (h);
}

void
oci_hasher_free (struct oci_hasher *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

int
oci_digest_data (const void *data, size_t len, char out[OCI_DIGEST_LEN + 1])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  if (EVP_Digest (data, len, md, &mdlen, sha256 (), NULL) != 1)
    return -1;
  format_digest (md, out);
  return 0;
}

int
oci_digest_valid (const char *text)
{
  if (text == NULL || strncmp (text, "sha256:", 7) != 0)
    return 0;
  for (int i = 7; i < OCI_DIGEST_LEN; i++)
    if (!((text[i] >= '0' && text[i] <= '9')
          || (text[i] >= 'a' && text[i] <= 'f')))
      return 0;
  return text[OCI_DIGEST_LEN] == '\0';
}

const char *
oci_digest_hex (const char *digest)
{
  return oci_digest_valid (digest) ? digest + 7 : NULL;
}
