#define _GNU_SOURCE
#include "oci/auth.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"

/* Docker Hub answers to several names; a key under any of them is its. */
static bool
is_docker_hub (const char *host, size_t len)
{
  static const char *const names[]
      = { "docker.io", "index.docker.io", "registry-1.docker.io",
          "registry.hub.docker.com" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen (names[i]) == len && strncasecmp (host, names[i], len) == 0)
      return true;
  return false;
}

static bool
same_host (const char *a, size_t alen, const char *b, size_t blen)
{
  if (is_docker_hub (a, alen) && is_docker_hub (b, blen))
    return true;
  return alen == blen && strncasecmp (a, b, alen) == 0;
}

/* How well KEY names REGISTRY/REPOSITORY: -1 not at all, 0 the registry,
 * 1 + the namespace's length for a "host/namespace" key that holds the
 * repository. */
static long
key_match (const char *key, const char *registry, const char *repository)
{
  const char *host = key, *slash, *path = NULL;
  size_t host_len;
  bool url = false;

  if (strncasecmp (key, "https://", 8) == 0)
    {
      host += 8;
      url = true;
    }
  else if (strncasecmp (key, "http://", 7) == 0)
    {
      host += 7;
      url = true;
    }
  slash = strchr (host, '/');
  host_len = slash ? (size_t)(slash - host) : strlen (host);
  /* A URL's path is Docker's legacy "/v1/", not a namespace. */
  if (slash && !url && slash[1] != '\0')
    path = slash + 1;
  if (host_len == 0 || !same_host (host, host_len, registry, strlen (registry)))
    return -1;
  if (path == NULL)
    return 0;
  {
    size_t plen = strlen (path);
    while (plen > 0 && path[plen - 1] == '/')
      plen--;
    if (plen == 0)
      return 0;
    if (repository == NULL || strncmp (repository, path, plen) != 0
        || (repository[plen] != '\0' && repository[plen] != '/'))
      return -1;
    return 1 + (long)plen;
  }
}

/* Decode base64 "user:password" (padding optional, as some tools drop it). */
static int
decode_auth (const char *b64, char **user, char **password)
{
  size_t len = strlen (b64), padded = (len + 3) / 4 * 4;
  cleanup_free char *in = NULL;
  cleanup_free unsigned char *out = NULL;
  EVP_ENCODE_CTX *ctx;
  int n = 0, fin = 0, ok;
  char *colon;

  if (len == 0 || len > 64 * 1024)
    return -1;
  in = malloc (padded + 1);
  out = malloc (padded + 1);
  if (in == NULL || out == NULL)
    return -1;
  memcpy (in, b64, len);
  memset (in + len, '=', padded - len);
  in[padded] = '\0';
  ctx = EVP_ENCODE_CTX_new ();
  if (ctx == NULL)
    return -1;
  EVP_DecodeInit (ctx);
  ok = EVP_DecodeUpdate (ctx, out, &n, (unsigned char *)in, (int)padded) >= 0
       && EVP_DecodeFinal (ctx, out + n, &fin) >= 0;
  EVP_ENCODE_CTX_free (ctx);
  if (!ok)
    return -1;
  n += fin;
  out[n] = '\0';
  if (memchr (out, '\0', (size_t)n) != NULL)
    return -1;
  colon = strchr ((char *)out, ':');
  if (colon == NULL || colon == (char *)out)
    return -1;
  *user = strndup ((char *)out, (size_t)(colon - (char *)out));
  *password = strdup (colon + 1);
  explicit_bzero (out, padded + 1);
  if (*user == NULL || *password == NULL)
    {
      free (*user);
      free (*password);
      return -1;
    }
  return 0;
}

/* Fill OUT from one "auths" entry: 1 done, 0 the entry holds nothing we can
 * use (Docker writes {} when a credential helper keeps the secret). */
static int
read_entry (json_t *entry, const char *source, const char *key,
            struct oci_credentials *out, nb_error_t *err)
{
  json_t *auth, *user, *pass;
  char *u = NULL, *p = NULL;

  if (!json_is_object (entry))
    return nb_error_make (err, 0, "%s: auths[\"%s\"] is not an object", source,
                          key);
  auth = json_object_get (entry, "auth");
  user = json_object_get (entry, "username");
  pass = json_object_get (entry, "password");
  if (auth && !json_is_string (auth))
    return nb_error_make (err, 0, "%s: auths[\"%s\"].auth is not a string",
                          source, key);
  if (auth && json_string_length (auth) > 0)
    {
      if (decode_auth (json_string_value (auth), &u, &p) < 0)
        return nb_error_make (err, 0,
                              "%s: auths[\"%s\"].auth is not the base64 of "
                              "\"user:password\"",
                              source, key);
    }
  else if (user || pass)
    {
      if (!json_is_string (user) || !json_is_string (pass)
          || json_string_length (user) == 0)
        return nb_error_make (err, 0,
                              "%s: auths[\"%s\"] needs both \"username\" and "
                              "\"password\" as strings",
                              source, key);
      u = strdup (json_string_value (user));
      p = strdup (json_string_value (pass));
    }
  else
    return 0;
  out->source = strdup (source);
  out->username = u;
  out->password = p;
  if (u == NULL || p == NULL || out->source == NULL)
    {
      oci_credentials_clear (out);
      return nb_error_make (err, ENOMEM, "%s", source);
    }
  return 1;
}

int
oci_auth_lookup_json (const char *text, size_t len, const char *source,
                      const char *registry, const char *repository,
                      struct oci_credentials *out, nb_error_t *err)
{
  json_auto_t *root = NULL;
  json_error_t jerr;
  json_t *auths, *entry, *best = NULL;
  const char *key, *best_key = NULL;
  long best_score = -1;

  root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return nb_error_make (err, 0, "%s: not valid JSON: %s (line %d, column %d)",
                          source, jerr.text, jerr.line, jerr.column);
  if (!json_is_object (root))
    return nb_error_make (err, 0, "%s: not a JSON object", source);
  auths = json_object_get (root, "auths");
  if (auths == NULL || json_is_null (auths))
    return 0;
  if (!json_is_object (auths))
    return nb_error_make (err, 0, "%s: \"auths\" is not an object", source);
  json_object_foreach (auths, key, entry)
  {
    long score = key_match (key, registry, repository);
    if (score > best_score)
      {
        best_score = score;
        best = entry;
        best_key = key;
      }
  }
  if (best == NULL)
    return 0;
  return read_entry (best, source, best_key, out, err);
}

int
oci_auth_lookup_file (const char *path, const char *registry,
                      const char *repository, struct oci_credentials *out,
                      nb_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  int ret;

  if (access (path, F_OK) < 0 && errno == ENOENT)
    return 0;
  ret = nb_read_file (path, &text, &len, err);
  if (ret < 0)
    return nb_error_wrap (err, "read credentials");
  ret = oci_auth_lookup_json (text, len, path, registry, repository, out, err);
  explicit_bzero (text, len);
  return ret;
}

static char *
home_dir (void)
{
  const char *home = getenv ("HOME");
  struct passwd pw, *res = NULL;
  char buf[4096];

  if (home && *home)
    return strdup (home);
  if (getpwuid_r (getuid (), &pw, buf, sizeof buf, &res) == 0 && res
      && res->pw_dir)
    return strdup (res->pw_dir);
  return NULL;
}

int
oci_auth_lookup (const char *registry, const char *repository,
                 struct oci_credentials *out, nb_error_t *err)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  cleanup_free char *home = home_dir ();
  int ret;

  if (xdg && *xdg)
    {
      cleanup_free char *path = NULL;
      if (asprintf (&path, "%s/containers/auth.json", xdg) < 0)
        return nb_error_make (err, ENOMEM, "credentials");
      ret = oci_auth_lookup_file (path, registry, repository, out, err);
      if (ret != 0)
        return ret;
    }
  if (home)
    {
      cleanup_free char *path = NULL;
      if (asprintf (&path, "%s/.docker/config.json", home) < 0)
        return nb_error_make (err, ENOMEM, "credentials");
      ret = oci_auth_lookup_file (path, registry, repository, out, err);
      if (ret != 0)
        return ret;
    }
  return 0;
}

void
oci_credentials_clear (struct oci_credentials *c)
{
  if (c == NULL)
    return;
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  free (c->username);
  free (c->password);
  free (c->source);
  c->username = c->password = c->source = NULL;
}

/* WWW-Authenticate (RFC 9110 11.6.1):
 *   challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string ) */

static bool
is_tchar (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *
skip_ws (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

static const char *
skip_token (const char *p)
{
  while (*p && is_tchar (*p))
    p++;
  return p;
}

/* Read a token or quoted-string value at P into a new string; *END after. */
static char *
read_value (const char *p, const char **end)
{
  if (*p == '"')
    {
      char *v = malloc (strlen (p) + 1), *o = v;
      if (v == NULL)
        return NULL;
      for (p++; *p && *p != '"'; p++)
        {
          if (*p == '\\' && p[1])
            p++;
          *o++ = *p;
        }
      if (*p != '"')
        {
          free (v);
          *end = NULL;
          return NULL;
        }
      *o = '\0';
      *end = p + 1;
      return v;
    }
  /* token68 characters too ('/' and '=' appear in unquoted realms). */
  {
    const char *s = p;
    while (*p && (is_tchar (*p) || *p == '/' || *p == '=' || *p == ':'))
      p++;
    *end = p;
    return strndup (s, (size_t)(p - s));
  }
}

static int
set_param (struct oci_auth_challenge *c, const char *name, size_t len,
           char *value)
{
  char **slot = NULL;
  if (len == 5 && strncasecmp (name, "realm", 5) == 0)
    slot = &c->realm;
  else if (len == 7 && strncasecmp (name, "service", 7) == 0)
    slot = &c->service;
  else if (len == 5 && strncasecmp (name, "scope", 5) == 0)
    slot = &c->scope;
  if (slot == NULL || *slot != NULL)
    {
      free (value);
      return 0;
    }
  *slot = value;
  return 0;
}

int
oci_auth_parse_challenge (const char *header, struct oci_auth_challenge *out)
{
  struct oci_auth_challenge basic = { 0 }, bearer = { 0 }, *cur;
  const char *p = header;

  memset (out, 0, sizeof *out);
  if (header == NULL)
    return 0;
  while (*p)
    {
      const char *scheme, *q;
      size_t slen;

      while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
      if (*p == '\0')
        break;
      scheme = p;
      p = skip_token (p);
      slen = (size_t)(p - scheme);
      if (slen == 0)
        goto malformed;
      if (slen == 6 && strncasecmp (scheme, "bearer", 6) == 0
          && bearer.scheme == OCI_AUTH_NONE)
        {
          cur = &bearer;
          cur->scheme = OCI_AUTH_BEARER;
        }
      else if (slen == 5 && strncasecmp (scheme, "basic", 5) == 0
               && basic.scheme == OCI_AUTH_NONE)
        {
          cur = &basic;
          cur->scheme = OCI_AUTH_BASIC;
        }
      else
        cur = NULL;
      /* Parameters until a token that is not followed by '=' (the next
       * challenge's scheme). */
      for (;;)
        {
          const char *name, *after;
          char *value;

          q = p;
          while (*q == ' ' || *q == '\t' || *q == ',')
            q++;
          name = q;
          after = skip_token (q);
          if (after == name)
            {
              p = q;
              break;
            }
          q = skip_ws (after);
          if (*q != '=')
            {
              p = name; /* a new challenge */
              break;
            }
          q = skip_ws (q + 1);
          value = read_value (q, &q);
          if (q == NULL)
            goto malformed;
          if (value == NULL)
            goto oom;
          if (cur)
            set_param (cur, name, (size_t)(after - name), value);
          else
            free (value);
          p = q;
        }
      if (*p && *p != ',' && !is_tchar (*p))
        goto malformed;
    }
  if (bearer.scheme == OCI_AUTH_BEARER && bearer.realm != NULL)
    {
      *out = bearer;
      oci_auth_challenge_clear (&basic);
      return 1;
    }
  oci_auth_challenge_clear (&bearer);
  if (basic.scheme == OCI_AUTH_BASIC)
    {
      *out = basic;
      return 1;
    }
  return 0;

malformed:
  oci_auth_challenge_clear (&basic);
  oci_auth_challenge_clear (&bearer);
  return 0;
oom:
  oci_auth_challenge_clear (&basic);
  oci_auth_challenge_clear (&bearer);
  return -1;
}

void
oci_auth_challenge_clear (struct oci_auth_challenge *c)
{
  if (c == NULL)
    return;
  free (c->realm);
  free (c->service);
  free (c->scope);
  memset (c, 0, sizeof *c);
}
