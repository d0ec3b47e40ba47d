#define _GNU_SOURCE
/* The egress proxy's parsers, which face a hostile agent: the HTTP/1.1
 * request head (proxy/http.c), SOCKS5 (proxy/socks.c), hosts files
 * (proxy/resolve.c) and the decision log's lines (proxy/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http.h"
#include "proxy/log.h"
#include "proxy/resolve.h"
#include "proxy/socks.h"

static int
parse (const char *head, struct nb_http_request *req, int *status)
{
  char why[200];
  return nb_http_parse_head (head, strlen (head), req, status, why, sizeof why);
}

static void
test_absolute_form_is_forwarded_in_origin_form (void **state)
{
  struct nb_http_request req;
  int status = 0;
  const char *head = "GET http://API.Example.TEST:8080/v1/x?q=1 HTTP/1.1\r\n"
                     "Host: elsewhere.test\r\n"
                     "User-Agent: t\r\n"
                     "Proxy-Connection: keep-alive\r\n"
                     "Proxy-Authorization: Basic eDp5\r\n"
                     "Connection: keep-alive, X-Secret\r\n"
                     "X-Secret: 1\r\n"
                     "Keep-Alive: 5\r\n"
                     "Accept: */*\r\n\r\nBODY";
  (void)state;
  assert_int_equal (parse (head, &req, &status), 1);
  assert_false (req.connect);
  assert_string_equal (req.method, "GET");
  assert_string_equal (req.host, "api.example.test");
  assert_int_equal (req.port, 8080);
  assert_int_equal (req.head_len, strlen (head) - 4);
  char *out = strndup (req.out, req.out_len);
  assert_string_equal (out, "GET /v1/x?q=1 HTTP/1.1\r\n"
                            "Host: api.example.test:8080\r\n"
                            "User-Agent: t\r\n"
                            "Accept: */*\r\n"
                            "Connection: close\r\n\r\n");
  free (out);
  nb_http_request_clear (&req);
}

static void
test_an_empty_path_becomes_slash_and_port_80_is_the_default (void **state)
{
  struct nb_http_request req;
  int status;
  (void)state;
  assert_int_equal (
      parse ("HEAD http://example.test HTTP/1.0\r\n\r\n", &req, &status), 1);
  assert_int_equal (req.port, 80);
  char *out = strndup (req.out, req.out_len);
  assert_string_equal (out, "HEAD / HTTP/1.0\r\nHost: example.test\r\n"
                            "Connection: close\r\n\r\n");
  free (out);
  nb_http_request_clear (&req);
  assert_int_equal (
      parse ("GET http://[::1]:81?x HTTP/1.1\r\n\r\n", &req, &status), 1);
  assert_string_equal (req.host, "::1");
  out = strndup (req.out, req.out_len);
  assert_string_equal (out, "GET /?x HTTP/1.1\r\nHost: [::1]:81\r\n"
                            "Connection: close\r\n\r\n");
  free (out);
  nb_http_request_clear (&req);
}

static void
test_connect_names_host_and_port (void **state)
{
  struct nb_http_request req;
  int status;
  (void)state;
  assert_int_equal (parse ("CONNECT api.anthropic.com:443 HTTP/1.1\r\n"
                           "Host: api.anthropic.com:443\r\n\r\n",
                           &req, &status),
                    1);
  assert_true (req.connect);
  assert_string_equal (req.host, "api.anthropic.com");
  assert_int_equal (req.port, 443);
  assert_null (req.out);
  nb_http_request_clear (&req);
  assert_int_equal (
      parse ("CONNECT [2001:db8::1]:22 HTTP/1.1\r\n\r\n", &req, &status), 1);
  assert_string_equal (req.host, "2001:db8::1");
  assert_int_equal (req.port, 22);
  nb_http_request_clear (&req);
}

static void
test_an_incomplete_head_asks_for_more (void **state)
{
  struct nb_http_request req;
  int status;
  (void)state;
  assert_int_equal (parse ("", &req, &status), 0);
  assert_int_equal (parse ("GET", &req, &status), 0);
  assert_int_equal (
      parse ("GET http://a.test/ HTTP/1.1\r\nHost: a", &req, &status), 0);
  assert_int_equal (parse ("GET http://a.test/ HTTP/1.1\r\n\r", &req, &status),
                    0);
}

static void
test_malformed_requests_are_refused_with_a_status (void **state)
{
  static const struct
  {
    const char *head;
    int status;
  } t[] = {
    { "\x16\x03\x01\x02\x00", 400 },
    { "GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n", 400 },
    { "GET https://a.test/ HTTP/1.1\r\n\r\n", 501 },
    { "GET ftp://a.test/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/2.0\r\n\r\n", 505 },
    { "GET http://a.test/ HTTP/1.2\r\n\r\n", 505 },
    { "GET http://a.test/ FOO\r\n\r\n", 400 },
    { "GET  http://a.test/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a.test/\r\n\r\n", 400 },
    { "GET http://user:pw@a.test/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a.test:0/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a.test:99999/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a test/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http:// HTTP/1.1\r\n\r\n", 400 },
    { "GET http://127.1/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://::1/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://[::1/ HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a%2e.test/ HTTP/1.1\r\n\r\n", 400 },
    { "CONNECT a.test HTTP/1.1\r\n\r\n", 400 },
    { "CONNECT a.test: HTTP/1.1\r\n\r\n", 400 },
    { "CONNECT http://a.test:443 HTTP/1.1\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/1.1\r\nBad Header: x\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/1.1\r\nNoColon\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/1.1\r\nX: a\rb\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/1.1\r\nX: a\nY: b\r\n\r\n", 400 },
    { "GET http://a.test/ HTTP/1.1\r\n: v\r\n\r\n", 400 },
    { "POST http://a.test/ HTTP/1.1\r\nContent-Length: 1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      400 },
    { "POST http://a.test/ HTTP/1.1\r\nContent-Length: 1\r\n"
      "Content-Length: 2\r\n\r\n",
      400 },
  };
  (void)state;
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    {
      struct nb_http_request req;
      int status = 0;
      if (parse (t[i].head, &req, &status) != -1 || status != t[i].status)
        fail_msg ("'%s': expected %d, got %d", t[i].head, t[i].status, status);
    }
  /* A NUL byte inside the head. */
  static const char nul[] = "GET http://a.test/ HTTP/1.1\r\nX: a\0b\r\n\r\n";
  struct nb_http_request req;
  int status = 0;
  char why[100];
  assert_int_equal (
      nb_http_parse_head (nul, sizeof nul - 1, &req, &status, why, sizeof why),
      -1);
  assert_int_equal (status, 400);
}

static void
test_an_oversize_head_is_refused_with_431 (void **state)
{
  size_t len = NB_HTTP_HEAD_MAX + 10;
  char *big = malloc (len + 1);
  struct nb_http_request req;
  int status = 0;
  char why[200];
  (void)state;
  memset (big, 'a', len);
  memcpy (big, "GET http://a.test/ HTTP/1.1\r\nX: ", 32);
  big[len] = '\0';
  assert_int_equal (
      nb_http_parse_head (big, len, &req, &status, why, sizeof why), -1);
  assert_int_equal (status, 431);
  /* A complete head past the limit is no different. */
  memcpy (big + len - 4, "\r\n\r\n", 4);
  assert_int_equal (
      nb_http_parse_head (big, len, &req, &status, why, sizeof why), -1);
  assert_int_equal (status, 431);
  free (big);
}

static void
test_more_than_the_header_limit_is_refused (void **state)
{
  char head[8192] = "GET http://a.test/ HTTP/1.1\r\n";
  struct nb_http_request req;
  int status = 0;
  (void)state;
  for (int i = 0; i < NB_HTTP_HEADERS_MAX + 1; i++)
    strcat (head, "X: y\r\n");
  strcat (head, "\r\n");
  assert_int_equal (parse (head, &req, &status), -1);
  assert_int_equal (status, 431);
}

static void
test_socks5_greeting_needs_the_no_auth_method (void **state)
{
  int noauth;
  (void)state;
  assert_int_equal (
      nb_socks_parse_greeting ((const unsigned char *)"", 0, &noauth), 0);
  assert_int_equal (nb_socks_parse_greeting (
                        (const unsigned char *)"\x05\x02\x02", 3, &noauth),
                    0);
  assert_int_equal (nb_socks_parse_greeting (
                        (const unsigned char *)"\x05\x02\x02\x00", 4, &noauth),
                    4);
  assert_true (noauth);
  assert_int_equal (nb_socks_parse_greeting (
                        (const unsigned char *)"\x05\x01\x02", 3, &noauth),
                    3);
  assert_false (noauth);
  assert_int_equal (nb_socks_parse_greeting (
                        (const unsigned char *)"\x04\x01\x00", 3, &noauth),
                    -1);
  assert_int_equal (
      nb_socks_parse_greeting ((const unsigned char *)"\x05\x00", 2, &noauth),
      -1);
}

static int
socks (const char *bytes, size_t len, struct nb_socks_request *req,
       unsigned char *reply)
{
  char why[100];
  *reply = 0xee;
  return nb_socks_parse_request ((const unsigned char *)bytes, len, req, reply,
                                 why, sizeof why);
}

static void
test_socks5_connect_by_name_ipv4_and_ipv6 (void **state)
{
  struct nb_socks_request req;
  unsigned char reply;
  (void)state;
  assert_int_equal (
      socks ("\x05\x01\x00\x03\x0aGitHub.com\x00\x16", 17, &req, &reply), 17);
  assert_string_equal (req.host, "github.com");
  assert_int_equal (req.port, 22);
  assert_int_equal (
      socks ("\x05\x01\x00\x01\xa9\xfe\xa9\xfe\x00\x50", 10, &req, &reply), 10);
  assert_string_equal (req.host, "169.254.169.254");
  assert_int_equal (req.port, 80);
  assert_int_equal (
      socks (
          "\x05\x01\x00\x04\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x01\xbb",
          22, &req, &reply),
      22);
  assert_string_equal (req.host, "2001:db8::1");
  assert_int_equal (req.port, 443);
  /* A name that is an address is judged as the address. */
  assert_int_equal (socks ("\x05\x01\x00\x03\x09"
                           "127.0.0.1\x00\x50",
                           16, &req, &reply),
                    16);
  assert_string_equal (req.host, "127.0.0.1");
  /* Incomplete: more bytes. */
  assert_int_equal (socks ("\x05\x01\x00\x03\x0aGitHub.c", 13, &req, &reply),
                    0);
  assert_int_equal (socks ("\x05\x01\x00", 3, &req, &reply), 0);
}

static void
test_socks5_refusals_carry_the_rfc_reply_code (void **state)
{
  struct nb_socks_request req;
  unsigned char reply;
  (void)state;
  /* BIND and UDP ASSOCIATE: command not supported. */
  assert_int_equal (
      socks ("\x05\x02\x00\x01\x01\x01\x01\x01\x00\x50", 10, &req, &reply), -1);
  assert_int_equal (reply, NB_SOCKS_CMD_UNSUPPORTED);
  assert_int_equal (
      socks ("\x05\x03\x00\x01\x01\x01\x01\x01\x00\x50", 10, &req, &reply), -1);
  assert_int_equal (reply, NB_SOCKS_CMD_UNSUPPORTED);
  assert_int_equal (
      socks ("\x05\x01\x00\x07\x01\x01\x01\x01\x00\x50", 10, &req, &reply), -1);
  assert_int_equal (reply, NB_SOCKS_ATYP_UNSUPPORTED);
  assert_int_equal (
      socks ("\x04\x01\x00\x01\x01\x01\x01\x01\x00\x50", 10, &req, &reply), -1);
  assert_int_equal (reply, NB_SOCKS_FAILURE);
  assert_int_equal (socks ("\x05\x01\x00\x03\x00\x00\x50", 7, &req, &reply),
                    -1);
  assert_int_equal (socks ("\x05\x01\x00\x03\x03"
                           "a b\x00\x50",
                           10, &req, &reply),
                    -1);
  assert_int_equal (reply, NB_SOCKS_HOST_UNREACHABLE);
  assert_int_equal (
      socks ("\x05\x01\x00\x01\x01\x01\x01\x01\x00\x00", 10, &req, &reply), -1);
}

static void
test_socks5_replies_encode_the_bound_address (void **state)
{
  unsigned char out[NB_SOCKS_REPLY_MAX];
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (8080) };
  (void)state;
  inet_pton (AF_INET, "127.0.0.2", &sin.sin_addr);
  assert_int_equal (nb_socks_reply (out, NB_SOCKS_OK, (struct sockaddr *)&sin),
                    10);
  assert_memory_equal (out, "\x05\x00\x00\x01\x7f\x00\x00\x02\x1f\x90", 10);
  assert_int_equal (nb_socks_reply (out, NB_SOCKS_NOT_ALLOWED, NULL), 10);
  assert_memory_equal (out, "\x05\x02\x00\x01\0\0\0\0\0\0", 10);
}

static void
test_hosts_files_map_names_to_every_address_listed (void **state)
{
  struct sockaddr_storage a[4];
  char text[64];
  const char *hosts = "# comment\n"
                      "127.0.0.2 api.example.test api\n"
                      "  127.0.0.3\tEVIL.example.test.  # trailing\n"
                      "::1 api.example.test\n"
                      "garbage line\n"
                      "#127.0.0.9 commented.example.test\n";
  (void)state;
  assert_int_equal (nb_hosts_lookup (hosts, "api.example.test", a, 4), 2);
  inet_ntop (AF_INET, &((struct sockaddr_in *)&a[0])->sin_addr, text,
             sizeof text);
  assert_string_equal (text, "127.0.0.2");
  assert_int_equal (a[1].ss_family, AF_INET6);
  assert_int_equal (nb_hosts_lookup (hosts, "evil.example.test", a, 4), 1);
  assert_int_equal (nb_hosts_lookup (hosts, "commented.example.test", a, 4), 0);
  assert_int_equal (nb_hosts_lookup (hosts, "example.test", a, 4), 0);
  assert_int_equal (nb_hosts_lookup (hosts, "api.example.test", a, 1), 1);
}

static void
test_log_lines_are_json_with_every_field (void **state)
{
  struct nb_proxy_log log = { .fd = -1, .sandbox = (char *)"sb" };
  struct nb_log_entry e = {
    .event = "close",
    .proto = "connect",
    .method = "CONNECT",
    .host = "api.example.test",
    .port = 443,
    .address = "127.0.0.2",
    .decision = 1,
    .rule = "api.example.test",
    .status = -1,
    .has_bytes = 1,
    .bytes_up = 12,
    .bytes_down = 34,
  };
  json_error_t jerr;
  (void)state;
  char *line = nb_proxy_log_format (&log, &e);
  assert_non_null (line);
  assert_int_equal (line[strlen (line) - 1], '\n');
  assert_null (strchr (line, '\n') + 1 == line + strlen (line) ? NULL
                                                               : "two lines");
  json_t *j = json_loads (line, 0, &jerr);
  assert_non_null (j);
  const char *time = json_string_value (json_object_get (j, "time"));
  assert_non_null (time);
  assert_int_equal (strlen (time), strlen ("2026-12-04T08:00:00.123Z"));
  assert_int_equal (time[strlen (time) - 1], 'Z');
  assert_string_equal (json_string_value (json_object_get (j, "sandbox")),
                       "sb");
  assert_string_equal (json_string_value (json_object_get (j, "proto")),
                       "connect");
  assert_string_equal (json_string_value (json_object_get (j, "decision")),
                       "allow");
  assert_int_equal (json_integer_value (json_object_get (j, "port")), 443);
  assert_int_equal (json_integer_value (json_object_get (j, "bytes_up")), 12);
  assert_int_equal (json_integer_value (json_object_get (j, "bytes_down")), 34);
  assert_null (json_object_get (j, "status"));
  json_decref (j);
  free (line);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_absolute_form_is_forwarded_in_origin_form),
    cmocka_unit_test (
        test_an_empty_path_becomes_slash_and_port_80_is_the_default),
    cmocka_unit_test (test_connect_names_host_and_port),
    cmocka_unit_test (test_an_incomplete_head_asks_for_more),
    cmocka_unit_test (test_malformed_requests_are_refused_with_a_status),
    cmocka_unit_test (test_an_oversize_head_is_refused_with_431),
    cmocka_unit_test (test_more_than_the_header_limit_is_refused),
    cmocka_unit_test (test_socks5_greeting_needs_the_no_auth_method),
    cmocka_unit_test (test_socks5_connect_by_name_ipv4_and_ipv6),
    cmocka_unit_test (test_socks5_refusals_carry_the_rfc_reply_code),
    cmocka_unit_test (test_socks5_replies_encode_the_bound_address),
    cmocka_unit_test (test_hosts_files_map_names_to_every_address_listed),
    cmocka_unit_test (test_log_lines_are_json_with_every_field),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
