#define _GNU_SOURCE
/* Image references, parsed and normalised as distribution/reference's
 * ParseNormalizedNamed does (regexp.go and normalize.go there):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path
 *   domain     := host [ ":" port ]
 *   host       := domain-component ( "." domain-component )* | "[" ipv6 "]"
 *   path       := path-component ( "/" path-component )*
 *   path-component := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *
 * The first component is a registry when it contains '.' or ':', is
 * "localhost", or has an uppercase letter (repositories are lowercase, so it
 * can only be a host); otherwise the registry is docker.io, where one-word
 * names live under "library/".  Digests are restricted to sha256. */
#include "oci/ref.h"
#include "oci/digest.h"
#include "runtime/base/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_REGISTRY "docker.io"
#define LEGACY_REGISTRY "index.docker.io"
#define DOCKER_HUB_API "registry-1.docker.io"
#define OFFICIAL_PREFIX "library/"
#define DEFAULT_TAG "latest"
#define NAME_MAX_LEN 255 /* registry + "/" + repository */
#define TAG_MAX_LEN 128

static int
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
is_alnum (char c)
{
  return isascii ((unsigned char)c) && isalnum ((unsigned char)c);
}

static int
is_hex (char c)
{
  return isascii ((unsigned char)c) && isxdigit ((unsigned char)c);
}

/* path-component over [P, END). */
static int
valid_path_component (const char *p, const char *end)
{
  if (p == end || !is_lower_alnum (*p))
    return 0;
  while (p < end)
    {
      if (is_lower_alnum (*p))
        {
          p++;
          continue;
        }
      /* A separator, then an alphanumeric. */
      if (*p == '.')
        p++;
      else if (*p == '_')
        p += (p + 1 < end && p[1] == '_') ? 2 : 1;
      else if (*p == '-')
        while (p < end && *p == '-')
          p++;
      else
        return 0;
      if (p == end || !is_lower_alnum (*p))
        return 0;
    }
  return 1;
}

/* domain-component over [P, END): alphanumerics and inner dashes. */
static int
valid_domain_component (const char *p, const char *end)
{
  if (p == end || !is_alnum (*p) || !is_alnum (end[-1]))
    return 0;
  for (; p < end; p++)
    if (!is_alnum (*p) && *p != '-')
      return 0;
  return 1;
}

static int
valid_domain (const char *d)
{
  const char *colon, *end = d + strlen (d);

  if (*d == '[')
    {
      const char *close = strchr (d, ']');
      if (close == NULL || close == d + 1)
        return 0;
      for (const char *p = d + 1; p < close; p++)
        if (!is_hex (*p) && *p != ':')
          return 0;
      colon = close + 1;
      if (*colon != '\0' && *colon != ':')
        return 0;
    }
  else
    {
      const char *p = d;
      colon = strchr (d, ':');
      if (colon == NULL)
        colon = end;
      while (p < colon)
        {
          const char *dot = memchr (p, '.', (size_t)(colon - p));
          const char *cend = dot ? dot : colon;
          if (!valid_domain_component (p, cend))
            return 0;
          p = dot ? dot + 1 : colon;
          if (dot && p == colon)
            return 0; /* trailing dot */
        }
    }
  if (*colon == ':')
    {
      const char *p = colon + 1;
      if (*p == '\0')
        return 0;
      for (; *p; p++)
        if (*p < '0' || *p > '9')
          return 0;
    }
  return 1;
}

static int
valid_tag (const char *t)
{
  size_t n = strlen (t);

  if (n == 0 || n > TAG_MAX_LEN || !(is_alnum (t[0]) || t[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!(is_alnum (t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
      return 0;
  return 1;
}

static int
is_64_hex (const char *s)
{
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return i == 64;
}

static int
has_upper (const char *s)
{
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z')
      return 1;
  return 0;
}

/* Split NAME (no tag, no digest) into registry and repository, Docker's
 * way; both new strings. */
static int
split_registry (const char *name, char **registry, char **repository)
{
  const char *slash = strchr (name, '/');
  const char *rest = name;

  if (slash == NULL)
    *registry = strdup (DEFAULT_REGISTRY);
  else
    {
      cleanup_free char *first = strndup (name, (size_t)(slash - name));
      if (first == NULL)
        return -1;
      if (strcmp (first, LEGACY_REGISTRY) == 0)
        {
          *registry = strdup (DEFAULT_REGISTRY);
          rest = slash + 1;
        }
      else if (strcmp (first, "localhost") == 0 || strpbrk (first, ".:")
               || has_upper (first))
        {
          *registry = steal_pointer (&first);
          rest = slash + 1;
        }
      else
        *registry = strdup (DEFAULT_REGISTRY);
    }
  if (*registry == NULL)
    return -1;
  if (strcmp (*registry, DEFAULT_REGISTRY) == 0 && strchr (rest, '/') == NULL)
    {
      if (asprintf (repository, "%s%s", OFFICIAL_PREFIX, rest) < 0)
        *repository = NULL;
    }
  else
    *repository = strdup (rest);
  return *repository ? 0 : -1;
}

static int
validate_repository (const char *text, const char *repo, nb_error_t *err)
{
  const char *p = repo;

  if (has_upper (repo))
    return nb_error_make (
        err, 0, "reference '%s': repository names must be lowercase", text);
  for (;;)
    {
      const char *slash = strchr (p, '/');
      const char *end = slash ? slash : p + strlen (p);
      if (!valid_path_component (p, end))
        return nb_error_make (
            err, 0,
            "reference '%s': invalid repository name component '%.*s' "
            "(lowercase letters and digits, separated by '.', '_', '__' or "
            "dashes)",
            text, (int)(end - p), p);
      if (slash == NULL)
        return 0;
      p = slash + 1;
    }
}

static void
ref_freep (struct oci_ref **ref)
{
  oci_ref_free (*ref);
}
#define cleanup_ref __attribute__ ((cleanup (ref_freep)))

int
oci_ref_parse (const char *text, struct oci_ref **out, nb_error_t *err)
{
  cleanup_free char *name = NULL;
  cleanup_ref struct oci_ref *ref = NULL;
  char *digest, *tag, *slash;
  const char *tag_value = NULL;

  if (text == NULL || *text == '\0')
    return nb_error_make (err, 0, "empty image reference");
  /* Docker refuses these so that an image id is never taken for a name. */
  if (is_64_hex (text))
    return nb_error_make (err, 0,
                          "reference '%s': a 64-hex string cannot be a "
                          "repository name (pin a digest with "
                          "NAME@sha256:HEX)",
                          text);
  name = strdup (text);
  ref = calloc (1, sizeof *ref);
  if (name == NULL || ref == NULL)
    return nb_error_make (err, ENOMEM, "reference '%s'", text);

  digest = strchr (name, '@');
  if (digest)
    {
      *digest++ = '\0';
      if (!oci_digest_valid (digest))
        return nb_error_make (err, 0,
                              "reference '%s': invalid digest '%s' (expected "
                              "sha256: and 64 lowercase hex digits)",
                              text, digest);
      ref->digest = strdup (digest);
      if (ref->digest == NULL)
        return nb_error_make (err, ENOMEM, "reference '%s'", text);
    }
  /* The tag follows the last ':' after the last '/': in
   * "localhost:5000/app" that ':' is the registry's port. */
  slash = strrchr (name, '/');
  tag = strrchr (slash ? slash : name, ':');
  if (tag)
    {
      *tag++ = '\0';
      if (*tag == '\0')
        return nb_error_make (err, 0, "reference '%s': empty tag", text);
      if (!valid_tag (tag))
        return nb_error_make (err, 0,
                              "reference '%s': invalid tag '%s' (up to 128 "
                              "letters, digits, '_', '.' and '-', not "
                              "starting with '.' or '-')",
                              text, tag);
      tag_value = tag;
    }
  else if (ref->digest == NULL)
    tag_value = DEFAULT_TAG;
  if (tag_value)
    {
      ref->tag = strdup (tag_value);
      if (ref->tag == NULL)
        return nb_error_make (err, ENOMEM, "reference '%s'", text);
    }

  if (*name == '\0')
    return nb_error_make (err, 0, "reference '%s': no repository name", text);
  if (split_registry (name, &ref->registry, &ref->repository) < 0)
    return nb_error_make (err, ENOMEM, "reference '%s'", text);
  if (!valid_domain (ref->registry))
    return nb_error_make (err, 0, "reference '%s': invalid registry '%s'", text,
                          ref->registry);
  if (validate_repository (text, ref->repository, err) < 0)
    return -1;
  if (strlen (ref->registry) + 1 + strlen (ref->repository) > NAME_MAX_LEN)
    return nb_error_make (err, 0,
                          "reference '%s': name longer than %d characters",
                          text, NAME_MAX_LEN);
  *out = steal_pointer (&ref);
  return 0;
}

char *
oci_ref_string (const struct oci_ref *ref)
{
  char *s = NULL;

  if (asprintf (&s, "%s/%s%s%s%s%s", ref->registry, ref->repository,
                ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                ref->digest ? "@" : "", ref->digest ? ref->digest : "")
      < 0)
    return NULL;
  return s;
}

const char *
oci_ref_api_host (const struct oci_ref *ref)
{
  if (strcmp (ref->registry, DEFAULT_REGISTRY) == 0)
    return DOCKER_HUB_API;
  return ref->registry;
}

void
oci_ref_free (struct oci_ref *ref)
{
  if (ref == NULL)
    return;
  free (ref->registry);
  free (ref->repository);
  free (ref->tag);
  free (ref->digest);
  free (ref);
}
