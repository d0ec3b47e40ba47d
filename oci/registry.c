#define _GNU_SOURCE
#include "oci/registry.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "oci/auth.h"
#include "oci/digest.h"
#include "runtime/base/cleanup.h"

#ifndef NSBOX_VERSION
#define NSBOX_VERSION "dev"
#endif

#define MANIFEST_MAX (4L << 20) /* larger is not a manifest */
#define TOKEN_MAX (1L << 20)
#define ERROR_BODY_MAX (64L << 10) /* enough for the JSON errors */
#define MAX_ATTEMPTS 4             /* the first try and three retries */
#define BACKOFF_MS 200             /* 200, 400, 800 ms */
#define CONNECT_TIMEOUT_S 10L
#define STALL_SECONDS 30L /* below 1 byte/s for this long is a stall */
#define PARALLEL_DEFAULT 4
#define PARALLEL_MAX 16

#define LOGIN_HINT                                                             \
  "log in: credentials are read from ~/.docker/config.json and "               \
  "$XDG_RUNTIME_DIR/containers/auth.json"

struct oci_registry
{
  char *registry; /* as the reference names it; credentials are keyed so */
  char *host;     /* the API host[:port] */
  char *base;     /* "https://host[:port]" */
  char *repository;
  bool plain_http; /* loopback, or named insecure */
  bool insecure;   /* named insecure by the user */
  bool loopback;
  int parallel;
  bool progress;
  CURL *curl; /* manifests and tokens: one kept-alive connection */

  enum oci_auth_scheme scheme;
  char *token;
  unsigned auth_gen; /* bumped when the token or scheme changes */
  int creds_state;   /* 0 not looked up, 1 found, -1 none */
  struct oci_credentials creds;
};

/* One HTTP exchange's answer: the headers of the last response (after
 * redirects) and its body, up to LIMIT bytes. */
struct response
{
  long status;
  char *content_type;
  char *content_digest;
  char *challenge; /* WWW-Authenticate values, joined with ", " */
  char *body;
  size_t len, cap, limit;
  bool truncate; /* past LIMIT: drop the rest (true) or fail (false) */
  bool too_big;
};

enum kind
{
  KIND_MANIFEST,
  KIND_BLOB,
  KIND_TOKEN,
};

static void
response_clear_headers (struct response *resp)
{
  free (resp->content_type);
  free (resp->content_digest);
  free (resp->challenge);
  resp->content_type = resp->content_digest = resp->challenge = NULL;
  resp->status = 0;
}

static void
response_reset (struct response *resp)
{
  response_clear_headers (resp);
  resp->len = 0;
  resp->too_big = false;
  if (resp->body)
    resp->body[0] = '\0';
}

static void
response_free (struct response *resp)
{
  response_clear_headers (resp);
  free (resp->body);
  resp->body = NULL;
  resp->len = resp->cap = 0;
}

/* Keep BODY NUL-terminated so that JSON and messages can read it. */
static bool
response_append (struct response *resp, const char *data, size_t len)
{
  if (resp->len + len > resp->limit)
    {
      if (!resp->truncate)
        {
          resp->too_big = true;
          return false;
        }
      len = resp->limit - resp->len;
    }
  if (resp->len + len + 1 > resp->cap)
    {
      size_t cap = resp->cap ? resp->cap : 4096;
      char *n;
      while (cap < resp->len + len + 1)
        cap *= 2;
      n = realloc (resp->body, cap);
      if (n == NULL)
        return false;
      resp->body = n;
      resp->cap = cap;
    }
  memcpy (resp->body + resp->len, data, len);
  resp->len += len;
  resp->body[resp->len] = '\0';
  return true;
}

static size_t
on_body (char *data, size_t size, size_t nmemb, void *userdata)
{
  struct response *resp = userdata;
  size_t len = size * nmemb;
  return response_append (resp, data, len) ? len : 0;
}

static char *
trimmed (const char *s, size_t len)
{
  while (len > 0 && (*s == ' ' || *s == '\t'))
    s++, len--;
  while (len > 0
         && (s[len - 1] == '\r' || s[len - 1] == '\n' || s[len - 1] == ' '
             || s[len - 1] == '\t'))
    len--;
  return strndup (s, len);
}

static size_t
on_header (char *line, size_t size, size_t nmemb, void *userdata)
{
  struct response *resp = userdata;
  size_t len = size * nmemb;
  const char *colon;
  char *value, **slot;

  /* Each response (a redirect's, then the final one) starts afresh. */
  if (len > 5 && strncmp (line, "HTTP/", 5) == 0)
    {
      const char *sp = memchr (line, ' ', len);
      response_reset (resp);
      resp->status = sp ? strtol (sp + 1, NULL, 10) : 0;
      return len;
    }
  colon = memchr (line, ':', len);
  if (colon == NULL)
    return len;
#define IS(name)                                                               \
  ((size_t)(colon - line) == strlen (name)                                     \
   && strncasecmp (line, name, strlen (name)) == 0)
  if (IS ("content-type"))
    slot = &resp->content_type;
  else if (IS ("docker-content-digest"))
    slot = &resp->content_digest;
  else if (IS ("www-authenticate"))
    slot = &resp->challenge;
  else
    return len;
#undef IS
  value = trimmed (colon + 1, len - (size_t)(colon + 1 - line));
  if (value == NULL)
    return 0;
  if (slot == &resp->challenge && *slot != NULL)
    {
      char *joined = NULL;
      if (asprintf (&joined, "%s, %s", *slot, value) < 0)
        joined = NULL;
      free (value);
      if (joined == NULL)
        return 0;
      value = joined;
    }
  free (*slot);
  *slot = value;
  return len;
}

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static long
backoff_ms (int attempt)
{
  return (long)BACKOFF_MS << (attempt - 1);
}

/* host[:port] or [v6]:port -> is it this machine? */
static bool
host_is_loopback (const char *hostport)
{
  char host[256];
  const char *end;
  struct in_addr a4;
  struct in6_addr a6;

  if (hostport[0] == '[')
    {
      end = strchr (hostport, ']');
      if (end == NULL)
        return false;
      hostport++;
    }
  else
    {
      end = strchr (hostport, ':');
      if (end == NULL)
        end = hostport + strlen (hostport);
    }
  if ((size_t)(end - hostport) >= sizeof host)
    return false;
  memcpy (host, hostport, (size_t)(end - hostport));
  host[end - hostport] = '\0';
  if (strcasecmp (host, "localhost") == 0)
    return true;
  if (inet_pton (AF_INET, host, &a4) == 1)
    return (ntohl (a4.s_addr) >> 24) == 127;
  if (inet_pton (AF_INET6, host, &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK (&a6);
  return false;
}

/* "host" in the insecure list covers every port of that host. */
static bool
listed_insecure (const char *const *list, const char *name)
{
  size_t hostlen = strcspn (name, ":");

  if (name[0] == '[')
    {
      const char *e = strchr (name, ']');
      hostlen = e ? (size_t)(e - name + 1) : strlen (name);
    }
  for (; list && *list; list++)
    if (strcasecmp (*list, name) == 0
        || (strlen (*list) == hostlen
            && strncasecmp (*list, name, hostlen) == 0))
      return true;
  return false;
}

/* Names go into URLs: refuse anything that would change the URL's shape. */
static bool
url_safe (const char *s, const char *extra)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
          || (*s >= '0' && *s <= '9') || strchr (extra, *s)))
      return false;
  return true;
}

static bool
valid_tag (const char *t)
{
  size_t n = strlen (t);
  return n > 0 && n <= 128 && t[0] != '.' && t[0] != '-' && url_safe (t, "_.-");
}

int
oci_registry_new (const struct oci_ref *ref,
                  const struct oci_registry_opts *opts,
                  struct oci_registry **out, nb_error_t *err)
{
  struct oci_registry *r;
  const char *api = oci_ref_api_host (ref);

  if (api == NULL || !url_safe (api, ".-:[]_")
      || !url_safe (ref->registry, ".-:[]_"))
    return nb_error_make (err, 0, "registry \"%s\": not a valid host name",
                          ref->registry);
  if (!url_safe (ref->repository, "._/-") || strstr (ref->repository, "..")
      || strstr (ref->repository, "//") || ref->repository[0] == '/')
    return nb_error_make (err, 0, "repository \"%s\": not a valid name",
                          ref->repository);
  if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return nb_error_make (err, 0, "libcurl could not be initialised");
  r = calloc (1, sizeof *r);
  if (r == NULL)
    {
      curl_global_cleanup ();
      return nb_error_make (err, ENOMEM, "registry %s", ref->registry);
    }
  r->insecure = opts
                && (listed_insecure (opts->insecure, ref->registry)
                    || listed_insecure (opts->insecure, api));
  r->loopback = host_is_loopback (api);
  r->plain_http = r->loopback || r->insecure;
  r->registry = strdup (ref->registry);
  r->host = strdup (api);
  r->repository = strdup (ref->repository);
  r->parallel = opts && opts->parallel > 0 ? opts->parallel : PARALLEL_DEFAULT;
  if (r->parallel > PARALLEL_MAX)
    r->parallel = PARALLEL_MAX;
  r->progress = opts && opts->progress;
  r->curl = curl_easy_init ();
  if (asprintf (&r->base, "%s://%s", r->plain_http ? "http" : "https", api) < 0)
    r->base = NULL;
  if (r->registry == NULL || r->host == NULL || r->repository == NULL
      || r->base == NULL || r->curl == NULL)
    {
      oci_registry_free (r);
      return nb_error_make (err, ENOMEM, "registry %s", ref->registry);
    }
  *out = r;
  return 0;
}

void
oci_registry_free (struct oci_registry *r)
{
  if (r == NULL)
    return;
  if (r->curl)
    curl_easy_cleanup (r->curl);
  oci_credentials_clear (&r->creds);
  if (r->token)
    explicit_bzero (r->token, strlen (r->token));
  free (r->token);
  free (r->registry);
  free (r->host);
  free (r->base);
  free (r->repository);
  free (r);
  curl_global_cleanup ();
}

/* Options every request shares.  Redirects are followed (registries send
 * blobs to storage) but never to plain HTTP from HTTPS; curl sends the
 * Authorization of CURLOPT_HTTPAUTH only to the first host
 * (CURLOPT_UNRESTRICTED_AUTH stays off), so storage never sees the token. */
static void
setup_handle (struct oci_registry *r, CURL *h, const char *url,
              struct response *resp, char *errbuf)
{
  const char *protocols = r->plain_http ? "http,https" : "https";

  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "nsbox/" NSBOX_VERSION);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
  curl_easy_setopt (h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  /* A registry on this machine is never reached through an http_proxy. */
  if (r->loopback)
    curl_easy_setopt (h, CURLOPT_NOPROXY, "*");
  errbuf[0] = '\0';
}

static void
apply_auth (struct oci_registry *r, CURL *h)
{
  curl_easy_setopt (h, CURLOPT_XOAUTH2_BEARER, NULL);
  curl_easy_setopt (h, CURLOPT_USERNAME, NULL);
  curl_easy_setopt (h, CURLOPT_PASSWORD, NULL);
  if (r->scheme == OCI_AUTH_BEARER && r->token)
    {
      curl_easy_setopt (h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
      curl_easy_setopt (h, CURLOPT_XOAUTH2_BEARER, r->token);
    }
  else if (r->scheme == OCI_AUTH_BASIC && r->creds_state > 0)
    {
      curl_easy_setopt (h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt (h, CURLOPT_USERNAME, r->creds.username);
      curl_easy_setopt (h, CURLOPT_PASSWORD, r->creds.password);
    }
}

static bool
transient (CURLcode rc, long status)
{
  switch (rc)
    {
    case CURLE_OK:
      return status == 429 || status == 408 || status == 500 || status == 502
             || status == 503 || status == 504;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
    }
}

static bool
is_tls_error (CURLcode rc)
{
  switch (rc)
    {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
    }
}

/* A transport failure, in curl's words. */
static int
curl_failure (struct oci_registry *r, CURL *h, CURLcode rc, const char *errbuf,
              int attempts, nb_error_t *err)
{
  char text[CURL_ERROR_SIZE];
  long oserr = 0;
  curl_off_t connected = 0;
  char tries[64] = "";
  size_t n;

  snprintf (text, sizeof text, "%s",
            errbuf && *errbuf ? errbuf : curl_easy_strerror (rc));
  n = strlen (text);
  while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\n'))
    text[--n] = '\0';

  if (attempts > 1)
    snprintf (tries, sizeof tries, " (%d attempts)", attempts);
  curl_easy_getinfo (h, CURLINFO_OS_ERRNO, &oserr);
  curl_easy_getinfo (h, CURLINFO_CONNECT_TIME_T, &connected);
  switch (rc)
    {
    case CURLE_COULDNT_CONNECT:
      if (oserr != 0)
        return nb_error_make (err, (int)oserr, "registry %s unreachable",
                              r->host);
      return nb_error_make (err, 0, "registry %s unreachable: %s", r->host,
                            text);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return nb_error_make (err, 0, "registry %s unreachable: %s", r->host,
                            text);
    case CURLE_OPERATION_TIMEDOUT:
      if (connected == 0)
        return nb_error_make (err, 0, "registry %s unreachable: %s", r->host,
                              text);
      return nb_error_make (err, 0, "registry %s: transfer stalled: %s",
                            r->host, text);
    case CURLE_UNSUPPORTED_PROTOCOL:
      return nb_error_make (err, 0,
                            "registry %s: refusing a redirect to another "
                            "protocol (%s)",
                            r->host, text);
    default:
      break;
    }
  if (is_tls_error (rc))
    {
      nb_error_make (err, 0, "registry %s: TLS: %s", r->host, text);
      return nb_error_hint (err, "a registry that speaks plain HTTP must be "
                                 "named insecure");
    }
  return nb_error_make (err, 0, "registry %s: %s%s", r->host, text, tries);
}

/* errors[0].code and .message of a registry's JSON error body. */
static void
registry_error (const struct response *resp, char **code, char **message)
{
  json_auto_t *root = NULL;
  json_t *e;

  *code = *message = NULL;
  if (resp->body == NULL || resp->len == 0)
    return;
  root = json_loadb (resp->body, resp->len, 0, NULL);
  e = json_array_get (json_object_get (root, "errors"), 0);
  if (json_is_string (json_object_get (e, "code")))
    *code = strdup (json_string_value (json_object_get (e, "code")));
  if (json_is_string (json_object_get (e, "message")))
    *message = strdup (json_string_value (json_object_get (e, "message")));
}

static int
unauthorized (struct oci_registry *r, const char *message, nb_error_t *err)
{
  if (r->creds_state > 0)
    return nb_error_make (err, 0,
                          "unauthorized%s%s (the credentials for %s from %s "
                          "were refused)",
                          message ? ": " : "", message ? message : "",
                          r->registry, r->creds.source);
  return nb_error_make (err, 0, "unauthorized%s%s (" LOGIN_HINT ")",
                        message ? ": " : "", message ? message : "");
}

/* An answer that is not 2xx, as the design words it.  SUBJECT is the tag
 * or digest asked for. */
static int
status_failure (struct oci_registry *r, enum kind kind, const char *subject,
                const struct response *resp, int attempts, nb_error_t *err)
{
  cleanup_free char *code = NULL;
  cleanup_free char *message = NULL;
  long s = resp->status;
  char tries[64] = "";

  registry_error (resp, &code, &message);
  if (attempts > 1)
    snprintf (tries, sizeof tries, " (%d attempts)", attempts);
  if (s == 401)
    return unauthorized (r, message, err);
  if (kind == KIND_TOKEN)
    return nb_error_make (err, 0, "token service of %s answered HTTP %ld%s%s%s",
                          r->host, s, message ? ": " : "",
                          message ? message : "", tries);
  if (s == 404 && code && strcmp (code, "NAME_UNKNOWN") == 0)
    return nb_error_make (err, 0, "%s (the repository %s does not exist on %s)",
                          message ? message : "repository name unknown",
                          r->repository, r->host);
  if (s == 404 && kind == KIND_MANIFEST)
    return nb_error_make (err, 0, "%s (%s)",
                          message ? message : "manifest unknown",
                          oci_digest_valid (subject)
                              ? "no manifest with that digest in that "
                                "repository"
                              : "the tag does not exist in that repository");
  if (s == 404 && kind == KIND_BLOB)
    return nb_error_make (err, 0,
                          "blob %s: %s (the registry lacks a blob that the "
                          "manifest names)",
                          subject, message ? message : "blob unknown");
  if (s == 403)
    return nb_error_make (err, 0, "denied%s%s (%s refuses access to %s)",
                          message ? ": " : "", message ? message : "", r->host,
                          r->repository);
  if (kind == KIND_BLOB)
    return nb_error_make (
        err, 0, "blob %s: registry %s answered HTTP %ld%s%s%s", subject,
        r->host, s, message ? ": " : "", message ? message : "", tries);
  return nb_error_make (err, 0, "registry %s answered HTTP %ld%s%s%s", r->host,
                        s, message ? ": " : "", message ? message : "", tries);
}

static int authenticate (struct oci_registry *r, const char *challenge,
                         nb_error_t *err);

/* GET URL on the registry's own handle, retrying transient failures with
 * backoff and answering one 401 challenge (unless KIND is the token
 * request itself, which carries the credentials instead).  0 with RESP
 * filled whatever the final status; 1 when the body passed RESP's limit;
 * < 0 when the transfer itself failed. */
static int
request (struct oci_registry *r, enum kind kind, const char *url,
         struct curl_slist *headers, struct response *resp, int *attempts,
         nb_error_t *err)
{
  char errbuf[CURL_ERROR_SIZE];
  bool reauthed = false;
  int attempt = 1;

  for (;;)
    {
      CURLcode rc;
      int ret;

      curl_easy_reset (r->curl);
      response_reset (resp);
      setup_handle (r, r->curl, url, resp, errbuf);
      curl_easy_setopt (r->curl, CURLOPT_WRITEFUNCTION, on_body);
      curl_easy_setopt (r->curl, CURLOPT_WRITEDATA, resp);
      if (headers)
        curl_easy_setopt (r->curl, CURLOPT_HTTPHEADER, headers);
      if (kind == KIND_TOKEN)
        {
          if (r->creds_state > 0)
            {
              curl_easy_setopt (r->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
              curl_easy_setopt (r->curl, CURLOPT_USERNAME, r->creds.username);
              curl_easy_setopt (r->curl, CURLOPT_PASSWORD, r->creds.password);
            }
        }
      else
        apply_auth (r, r->curl);

      rc = curl_easy_perform (r->curl);
      *attempts = attempt;
      if (rc == CURLE_WRITE_ERROR && resp->too_big)
        return 1; /* the caller says what was too big */
      if (rc == CURLE_OK && resp->status == 401 && kind != KIND_TOKEN
          && !reauthed)
        {
          reauthed = true;
          ret = authenticate (r, resp->challenge, err);
          if (ret < 0)
            return ret;
          if (ret > 0)
            continue;
          return 0;
        }
      if (transient (rc, resp->status) && attempt < MAX_ATTEMPTS)
        {
          sleep_ms (backoff_ms (attempt));
          attempt++;
          continue;
        }
      if (rc != CURLE_OK)
        return curl_failure (r, r->curl, rc, errbuf, attempt, err);
      return 0;
    }
}

static int
load_credentials (struct oci_registry *r, nb_error_t *err)
{
  int ret;

  if (r->creds_state != 0)
    return 0;
  ret = oci_auth_lookup (r->registry, r->repository, &r->creds, err);
  if (ret < 0)
    return ret;
  r->creds_state = ret > 0 ? 1 : -1;
  return 0;
}

/* The realm receives the user's credentials: HTTPS, or plain HTTP only on
 * this machine or for a registry the user named insecure. */
static int
token_url (struct oci_registry *r, const struct oci_auth_challenge *c,
           char **out, nb_error_t *err)
{
  CURLU *u = curl_url ();
  cleanup_free char *query = NULL;
  char *scheme = NULL, *host = NULL, *url = NULL;
  int ret = 0;

  if (u == NULL)
    return nb_error_make (err, ENOMEM, "token URL");
  if (curl_url_set (u, CURLUPART_URL, c->realm, 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
    {
      ret = nb_error_make (err, 0,
                           "registry %s: its token realm \"%s\" is not a URL",
                           r->host, c->realm);
      goto out;
    }
  if (curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK
      || (strcasecmp (scheme, "https") != 0
          && !(strcasecmp (scheme, "http") == 0
               && (r->insecure || (r->plain_http && host_is_loopback (host))))))
    {
      ret = nb_error_make (err, 0,
                           "registry %s: refusing its token realm \"%s\" "
                           "(credentials go only over HTTPS)",
                           r->host, c->realm);
      goto out;
    }
  if (c->service)
    {
      if (asprintf (&query, "service=%s", c->service) < 0
          || curl_url_set (u, CURLUPART_QUERY, query,
                           CURLU_APPENDQUERY | CURLU_URLENCODE)
                 != CURLUE_OK)
        {
          ret = nb_error_make (err, ENOMEM, "token URL");
          goto out;
        }
      free (steal_pointer (&query));
    }
  if (asprintf (&query, "scope=repository:%s:pull", r->repository) < 0
      || curl_url_set (u, CURLUPART_QUERY, query,
                       CURLU_APPENDQUERY | CURLU_URLENCODE)
             != CURLUE_OK
      || curl_url_get (u, CURLUPART_URL, &url, 0) != CURLUE_OK)
    {
      ret = nb_error_make (err, ENOMEM, "token URL");
      goto out;
    }
  *out = strdup (url);
  if (*out == NULL)
    ret = nb_error_make (err, ENOMEM, "token URL");
out:
  curl_free (scheme);
  curl_free (host);
  curl_free (url);
  curl_url_cleanup (u);
  return ret;
}

static int
fetch_token (struct oci_registry *r, const struct oci_auth_challenge *c,
             nb_error_t *err)
{
  cleanup_free char *url = NULL;
  struct response resp = { .limit = TOKEN_MAX };
  json_auto_t *root = NULL;
  json_t *tok;
  int attempts = 1, ret;

  ret = token_url (r, c, &url, err);
  if (ret < 0)
    return ret;
  ret = request (r, KIND_TOKEN, url, NULL, &resp, &attempts, err);
  if (ret < 0)
    goto out;
  if (ret > 0)
    {
      ret = nb_error_make (err, 0, "token service of %s: answer too large",
                           r->host);
      goto out;
    }
  if (resp.status != 200)
    {
      ret = status_failure (r, KIND_TOKEN, NULL, &resp, attempts, err);
      goto out;
    }
  root = json_loadb (resp.body ? resp.body : "", resp.len, 0, NULL);
  tok = json_object_get (root, "token");
  if (!json_is_string (tok) || json_string_length (tok) == 0)
    tok = json_object_get (root, "access_token");
  if (!json_is_string (tok) || json_string_length (tok) == 0)
    {
      ret = nb_error_make (
          err, 0, "token service of %s answered without a token", r->host);
      goto out;
    }
  if (r->token)
    explicit_bzero (r->token, strlen (r->token));
  free (r->token);
  r->token = strdup (json_string_value (tok));
  if (r->token == NULL)
    {
      ret = nb_error_make (err, ENOMEM, "token");
      goto out;
    }
  r->scheme = OCI_AUTH_BEARER;
  r->auth_gen++;
  ret = 0;
out:
  if (resp.body)
    explicit_bzero (resp.body, resp.len);
  response_free (&resp);
  return ret;
}

/* Answer a 401's challenge: 1 when there is something new to retry with,
 * 0 when there is not (the caller reports "unauthorized"), < 0 on error. */
static int
authenticate (struct oci_registry *r, const char *challenge, nb_error_t *err)
{
  struct oci_auth_challenge c;
  int ret;

  ret = oci_auth_parse_challenge (challenge, &c);
  if (ret < 0)
    return nb_error_make (err, ENOMEM, "authentication");
  if (ret == 0)
    return 0;
  ret = load_credentials (r, err);
  if (ret < 0)
    goto out;
  if (c.scheme == OCI_AUTH_BASIC)
    {
      if (r->creds_state < 0 || r->scheme == OCI_AUTH_BASIC)
        {
          ret = 0;
          goto out;
        }
      r->scheme = OCI_AUTH_BASIC;
      r->auth_gen++;
      ret = 1;
      goto out;
    }
  ret = fetch_token (r, &c, err);
  if (ret == 0)
    ret = 1;
out:
  oci_auth_challenge_clear (&c);
  return ret;
}

static bool
known_manifest_type (const char *t)
{
  return t
         && (strcmp (t, OCI_MT_OCI_MANIFEST) == 0
             || strcmp (t, OCI_MT_OCI_INDEX) == 0
             || strcmp (t, OCI_MT_DOCKER_MANIFEST) == 0
             || strcmp (t, OCI_MT_DOCKER_LIST) == 0);
}

/* Content-Type first, then the body's mediaType; OCI allowed early
 * manifests without either, so fall back to their shape. */
static char *
manifest_type (const char *content_type, json_t *root)
{
  const char *t;

  if (content_type)
    {
      size_t n = strcspn (content_type, "; \t");
      cleanup_free char *ct = strndup (content_type, n);
      if (known_manifest_type (ct))
        return steal_pointer (&ct);
    }
  t = json_string_value (json_object_get (root, "mediaType"));
  if (t)
    return strdup (t);
  if (json_is_array (json_object_get (root, "manifests")))
    return strdup (OCI_MT_OCI_INDEX);
  if (json_is_object (json_object_get (root, "config"))
      && json_is_array (json_object_get (root, "layers")))
    return strdup (OCI_MT_OCI_MANIFEST);
  if (content_type)
    return strndup (content_type, strcspn (content_type, "; \t"));
  return strdup ("(none)");
}

int
oci_registry_get_manifest (struct oci_registry *r, const char *reference,
                           char **body, size_t *len, char **media_type,
                           char digest[OCI_DIGEST_LEN + 1], nb_error_t *err)
{
  struct response resp = { .limit = MANIFEST_MAX };
  struct curl_slist *headers = NULL;
  cleanup_free char *url = NULL;
  cleanup_free char *type = NULL;
  json_auto_t *root = NULL;
  json_error_t jerr;
  struct oci_hasher *hasher;
  char got[OCI_DIGEST_LEN + 1];
  bool by_digest = oci_digest_valid (reference);
  int attempts = 1, ret;

  if (!by_digest && !valid_tag (reference))
    return nb_error_make (err, 0, "manifest \"%s\": not a tag or a digest",
                          reference);
  if (asprintf (&url, "%s/v2/%s/manifests/%s", r->base, r->repository,
                reference)
      < 0)
    return nb_error_make (err, ENOMEM, "manifest %s", reference);
  headers = curl_slist_append (
      headers, "Accept: " OCI_MT_OCI_MANIFEST ", " OCI_MT_OCI_INDEX
               ", " OCI_MT_DOCKER_MANIFEST ", " OCI_MT_DOCKER_LIST);
  if (headers == NULL)
    return nb_error_make (err, ENOMEM, "manifest %s", reference);
  ret = request (r, KIND_MANIFEST, url, headers, &resp, &attempts, err);
  curl_slist_free_all (headers);
  if (ret < 0)
    goto out;
  if (ret > 0)
    {
      ret = nb_error_make (err, 0, "manifest %s: larger than %ld MiB",
                           reference, MANIFEST_MAX >> 20);
      goto out;
    }
  if (resp.status != 200)
    {
      ret = status_failure (r, KIND_MANIFEST, reference, &resp, attempts, err);
      goto out;
    }

  hasher = oci_hasher_new ();
  if (hasher == NULL)
    {
      ret = nb_error_make (err, ENOMEM, "manifest %s", reference);
      goto out;
    }
  oci_hasher_update (hasher, resp.body ? resp.body : "", resp.len);
  oci_hasher_finish (hasher, got);
  if (by_digest && strcmp (got, reference) != 0)
    {
      ret = nb_error_make (err, 0,
                           "manifest %s: the registry sent content whose "
                           "digest is %s",
                           reference, got);
      goto out;
    }
  if (resp.content_digest && oci_digest_valid (resp.content_digest)
      && strcmp (resp.content_digest, got) != 0)
    {
      ret = nb_error_make (err, 0,
                           "manifest %s: Docker-Content-Digest says %s but "
                           "the content's digest is %s",
                           reference, resp.content_digest, got);
      goto out;
    }
  root = json_loadb (resp.body ? resp.body : "", resp.len, 0, &jerr);
  if (!json_is_object (root))
    {
      ret = nb_error_make (err, 0,
                           "manifest %s: not a JSON object (Content-Type %s%s"
                           "%s)",
                           reference,
                           resp.content_type ? resp.content_type : "none",
                           root ? "" : "; ", root ? "" : jerr.text);
      goto out;
    }
  type = manifest_type (resp.content_type, root);
  if (type == NULL)
    {
      ret = nb_error_make (err, ENOMEM, "manifest %s", reference);
      goto out;
    }
  if (!known_manifest_type (type))
    {
      ret = nb_error_make (err, 0,
                           "manifest %s: unsupported media type %s (nsbox "
                           "reads OCI and Docker schema 2 images)",
                           reference, type);
      goto out;
    }
  *body = steal_pointer (&resp.body);
  *len = resp.len;
  *media_type = steal_pointer (&type);
  memcpy (digest, got, OCI_DIGEST_LEN + 1);
  ret = 0;
out:
  response_free (&resp);
  return ret;
}

/* Blobs: a curl multi transfer per blob, PARALLEL at a time, each streamed
 * into a store writer that hashes as it goes. */

struct progress
{
  bool on, tty;
  long long total, done;
  size_t count, finished;
  long long last_draw;
};

enum xfer_state
{
  XFER_PENDING,
  XFER_ACTIVE,
  XFER_DONE,
};

struct xfer
{
  struct oci_registry *r;
  struct oci_store *store;
  const struct oci_descriptor *blob;
  struct progress *progress;
  CURL *h;
  char *url;
  char errbuf[CURL_ERROR_SIZE];
  struct response resp; /* error bodies only; the blob goes to W */
  struct oci_blob_writer *w;
  nb_error_t werr;
  long long received;
  bool reauthed;
  unsigned auth_gen;
  int attempt;
  long long not_before;
  enum xfer_state state;
};

static void
human_size (long long n, char *buf, size_t size)
{
  if (n < 1000)
    snprintf (buf, size, "%lld B", n);
  else if (n < 1000 * 1000)
    snprintf (buf, size, "%.1f kB", n / 1e3);
  else if (n < 1000LL * 1000 * 1000)
    snprintf (buf, size, "%.1f MB", n / 1e6);
  else
    snprintf (buf, size, "%.1f GB", n / 1e9);
}

static void
progress_draw (struct progress *p, bool force)
{
  char done[32], total[32], bar[31];
  long long t = now_ms ();
  size_t fill;

  if (!p->on || !p->tty || (!force && t - p->last_draw < 100))
    return;
  p->last_draw = t;
  fill = p->total > 0 ? (size_t)(p->done * 30 / p->total) : 0;
  if (fill > 30)
    fill = 30;
  memset (bar, '#', fill);
  memset (bar + fill, '.', 30 - fill);
  bar[30] = '\0';
  human_size (p->done, done, sizeof done);
  human_size (p->total, total, sizeof total);
  fprintf (stderr, "\r\033[K[%s] %s / %s (%zu/%zu blobs)", bar, done, total,
           p->finished, p->count);
  fflush (stderr);
}

static void
progress_blob_done (struct progress *p, const struct oci_descriptor *blob)
{
  char size[32];

  p->finished++;
  if (!p->on)
    return;
  human_size (blob->size, size, sizeof size);
  fprintf (stderr, "%ssha256:%.12s… done (%s)\n", p->tty ? "\r\033[K" : "",
           oci_digest_hex (blob->digest), size);
  progress_draw (p, true);
}

static size_t
on_blob (char *data, size_t size, size_t nmemb, void *userdata)
{
  struct xfer *x = userdata;
  size_t len = size * nmemb;

  if (x->resp.status != 200)
    {
      response_append (&x->resp, data, len);
      return len;
    }
  /* The writer refuses more than the blob's size: no runaway download. */
  if (oci_store_blob_write (x->w, data, len, &x->werr) < 0)
    return 0;
  x->received += (long long)len;
  x->progress->done += (long long)len;
  return len;
}

static void
xfer_forget_bytes (struct xfer *x)
{
  x->progress->done -= x->received;
  x->received = 0;
}

/* (Re)start X: a fresh writer, so that a retried download starts over. */
static int
xfer_start (struct xfer *x, CURLM *multi, nb_error_t *err)
{
  int ret;

  if (x->w)
    {
      oci_store_blob_abort (x->w);
      x->w = NULL;
    }
  xfer_forget_bytes (x);
  nb_error_free (&x->werr);
  ret = oci_store_blob_begin (x->store, x->blob->digest, x->blob->size, &x->w,
                              err);
  if (ret < 0)
    return ret;
  if (x->h == NULL)
    {
      x->h = curl_easy_init ();
      if (x->h == NULL)
        return nb_error_make (err, ENOMEM, "blob %s", x->blob->digest);
      setup_handle (x->r, x->h, x->url, &x->resp, x->errbuf);
      curl_easy_setopt (x->h, CURLOPT_WRITEFUNCTION, on_blob);
      curl_easy_setopt (x->h, CURLOPT_WRITEDATA, x);
      curl_easy_setopt (x->h, CURLOPT_PRIVATE, x);
    }
  x->errbuf[0] = '\0';
  response_reset (&x->resp);
  apply_auth (x->r, x->h);
  x->auth_gen = x->r->auth_gen;
  if (curl_multi_add_handle (multi, x->h) != CURLM_OK)
    return nb_error_make (err, 0, "blob %s: cannot start the download",
                          x->blob->digest);
  x->state = XFER_ACTIVE;
  return 0;
}

/* A download ended: 0 committed, 1 to be restarted, < 0 failed. */
static int
xfer_finish (struct xfer *x, CURLcode rc, nb_error_t *err)
{
  struct oci_registry *r = x->r;
  long status = x->resp.status;
  int ret;

  /* The store's messages name the blob already.  Neither a write error nor
   * content that does not match its digest is worth a retry. */
  x->state = XFER_PENDING;
  if (x->werr)
    {
      if (err == NULL)
        nb_error_free (&x->werr);
      else
        {
          nb_error_free (err);
          *err = steal_pointer (&x->werr);
        }
      return -1;
    }
  if (rc == CURLE_OK && status == 200)
    {
      struct oci_blob_writer *w = steal_pointer (&x->w);
      ret = oci_store_blob_commit (w, err);
      if (ret < 0)
        return ret;
      x->state = XFER_DONE;
      progress_blob_done (x->progress, x->blob);
      return 0;
    }
  if (rc == CURLE_OK && status == 401 && !x->reauthed)
    {
      x->reauthed = true;
      /* Another download may have renewed the token meanwhile. */
      if (r->auth_gen == x->auth_gen)
        {
          ret = authenticate (r, x->resp.challenge, err);
          if (ret < 0)
            return nb_error_wrap (err, "blob %s", x->blob->digest);
        }
      else
        ret = 1;
      if (ret > 0)
        {
          x->not_before = 0;
          return 1;
        }
    }
  if (transient (rc, status) && x->attempt < MAX_ATTEMPTS)
    {
      x->not_before = now_ms () + backoff_ms (x->attempt);
      x->attempt++;
      return 1;
    }
  if (rc != CURLE_OK)
    {
      curl_failure (r, x->h, rc, x->errbuf, x->attempt, err);
      return nb_error_wrap (err, "blob %s", x->blob->digest);
    }
  return status_failure (r, KIND_BLOB, x->blob->digest, &x->resp, x->attempt,
                         err);
}

static void
xfer_cleanup (struct xfer *x, CURLM *multi)
{
  if (x->h)
    {
      if (x->state == XFER_ACTIVE)
        curl_multi_remove_handle (multi, x->h);
      curl_easy_cleanup (x->h);
    }
  if (x->w)
    oci_store_blob_abort (x->w);
  nb_error_free (&x->werr);
  response_free (&x->resp);
  free (x->url);
}

int
oci_registry_fetch_blobs (struct oci_registry *r, struct oci_store *store,
                          const struct oci_descriptor *blobs, size_t n,
                          nb_error_t *err)
{
  struct progress progress = { 0 };
  struct xfer *xfers = NULL;
  CURLM *multi = NULL;
  size_t count = 0, finished = 0, active = 0;
  int ret = 0;

  xfers = calloc (n ? n : 1, sizeof *xfers);
  if (xfers == NULL)
    return nb_error_make (err, ENOMEM, "fetch blobs");
  for (size_t i = 0; i < n; i++)
    {
      bool dup = false;
      if (!oci_digest_valid (blobs[i].digest))
        {
          ret = nb_error_make (err, 0, "blob \"%s\": not a sha256 digest",
                               blobs[i].digest);
          goto out;
        }
      for (size_t j = 0; j < count && !dup; j++)
        dup = strcmp (xfers[j].blob->digest, blobs[i].digest) == 0;
      if (dup || oci_store_has_blob (store, blobs[i].digest))
        continue;
      xfers[count] = (struct xfer){ .r = r,
                                    .store = store,
                                    .blob = &blobs[i],
                                    .progress = &progress,
                                    .resp = { .limit = ERROR_BODY_MAX,
                                              .truncate = true },
                                    .attempt = 1,
                                    .state = XFER_PENDING };
      if (asprintf (&xfers[count].url, "%s/v2/%s/blobs/%s", r->base,
                    r->repository, blobs[i].digest)
          < 0)
        {
          xfers[count].url = NULL;
          ret = nb_error_make (err, ENOMEM, "fetch blobs");
          goto out;
        }
      progress.total += blobs[i].size > 0 ? blobs[i].size : 0;
      count++;
    }
  if (count == 0)
    goto out;
  progress.count = count;
  progress.on = r->progress;
  progress.tty = r->progress && isatty (STDERR_FILENO);
  multi = curl_multi_init ();
  if (multi == NULL)
    {
      ret = nb_error_make (err, ENOMEM, "fetch blobs");
      goto out;
    }

  while (finished < count)
    {
      long long t = now_ms (), wait = 1000;
      CURLMsg *msg;
      int running, left;

      for (size_t i = 0; i < count && active < (size_t)r->parallel; i++)
        if (xfers[i].state == XFER_PENDING && xfers[i].not_before <= t)
          {
            ret = xfer_start (&xfers[i], multi, err);
            if (ret < 0)
              goto out;
            active++;
          }
      if (curl_multi_perform (multi, &running) != CURLM_OK)
        {
          ret = nb_error_make (err, 0, "fetch blobs: libcurl failed");
          goto out;
        }
      while ((msg = curl_multi_info_read (multi, &left)))
        {
          struct xfer *x = NULL;
          if (msg->msg != CURLMSG_DONE)
            continue;
          curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
          curl_multi_remove_handle (multi, x->h);
          active--;
          ret = xfer_finish (x, msg->data.result, err);
          if (ret < 0)
            goto out;
          if (ret == 0)
            finished++;
          ret = 0;
        }
      progress_draw (&progress, false);
      if (finished == count)
        break;
      t = now_ms ();
      for (size_t i = 0; i < count && active < (size_t)r->parallel; i++)
        if (xfers[i].state == XFER_PENDING)
          {
            long long d = xfers[i].not_before - t;
            if (d < wait)
              wait = d > 0 ? d : 0;
          }
      if (wait > 0
          && curl_multi_poll (multi, NULL, 0, (int)wait, NULL) != CURLM_OK)
        {
          ret = nb_error_make (err, 0, "fetch blobs: libcurl failed");
          goto out;
        }
    }

out:
  if (progress.tty && count > 0)
    {
      fputs ("\r\033[K", stderr);
      fflush (stderr);
    }
  for (size_t i = 0; i < count; i++)
    xfer_cleanup (&xfers[i], multi);
  if (multi)
    curl_multi_cleanup (multi);
  free (xfers);
  return ret;
}
