#define _GNU_SOURCE
/* runtime/spec.c: reading an OCI config.json into what the executor does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/capability.h>

#include "runtime/spec.h"

static const char *const minimal = "{"
  "\"root\": {\"path\": \"rootfs\", \"readonly\": true},"
  "\"hostname\": \"box\","
  "\"process\": {\"args\": [\"/bin/sh\", \"-c\", \"true\"], \"cwd\": \"/w\","
  "  \"env\": [\"PATH=/bin\"], \"user\": {\"uid\": 1000, \"gid\": 100},"
  "  \"noNewPrivileges\": true,"
  "  \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_CHOWN\"]},"
  "  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, \"hard\": 2048}]},"
  "\"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\","
  "  \"options\": [\"nosuid\", \"noexec\"]},"
  " {\"destination\": \"/w\", \"type\": \"bind\", \"source\": \"/srv/w\","
  "  \"options\": [\"rbind\", \"ro\", \"nodev\"]}],"
  "\"linux\": {\"namespaces\": [{\"type\": \"user\"}, {\"type\": \"mount\"},"
  "  {\"type\": \"pid\"}, {\"type\": \"network\"}],"
  "  \"uidMappings\": [{\"containerID\": 1000, \"hostID\": 4242, \"size\": 1}],"
  "  \"gidMappings\": [{\"containerID\": 100, \"hostID\": 4242, \"size\": 1}],"
  "  \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\"]}"
  "}";

static struct rt_spec *
parse (const char *text, nb_error_t *err)
{
  json_t *j = json_loads (text, 0, NULL);
  struct rt_spec *s = NULL;
  assert_non_null (j);
  if (rt_spec_from_json (j, "/bundle", &s, err) < 0)
    s = NULL;
  json_decref (j);
  return s;
}

static void
test_a_complete_spec_is_read (void **state)
{
  (void) state;
  nb_error_t err = NULL;
  struct rt_spec *s = parse (minimal, &err);

  assert_non_null (s);
  assert_string_equal (s->root_path, "/bundle/rootfs");
  assert_true (s->root_readonly);
  assert_string_equal (s->hostname, "box");
  assert_string_equal (s->args[2], "true");
  assert_null (s->args[3]);
  assert_int_equal (s->uid, 1000);
  assert_int_equal (s->gid, 100);
  assert_true (s->no_new_privileges);
  assert_int_equal (s->clone_flags,
                    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET);
  assert_int_equal (s->n_uid_maps, 1);
  assert_int_equal (s->uid_maps[0].host_id, 4242);
  assert_int_equal (s->caps_bounding[0], CAP_KILL);
  assert_int_equal (s->caps_bounding[1], CAP_CHOWN);
  assert_int_equal (s->caps_bounding[2], -1);
  assert_int_equal (s->caps_effective[0], -1);
  assert_int_equal (s->n_rlimits, 1);
  assert_int_equal (s->rlimits[0].hard, 2048);
  assert_string_equal (s->masked_paths[0], "/proc/kcore");
  assert_null (s->masked_paths[1]);
  rt_spec_free (s);
}

static void
test_bind_mount_options_become_flags_and_attributes (void **state)
{
  (void) state;
  nb_error_t err = NULL;
  struct rt_spec *s = parse (minimal, &err);
  struct rt_mount *proc, *bind;

  assert_non_null (s);
  assert_int_equal (s->n_mounts, 2);
  proc = &s->mounts[0];
  bind = &s->mounts[1];
  assert_false (proc->bind);
  assert_int_equal (proc->flags, MS_NOSUID | MS_NOEXEC);
  assert_null (proc->data);
  assert_true (bind->bind);
  assert_true (bind->recursive);
  assert_null (bind->type);
  assert_int_equal (bind->attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV);
  rt_spec_free (s);
}

static void
test_filesystem_options_are_passed_as_data (void **state)
{
  (void) state;
  nb_error_t err = NULL;
  struct rt_mount m = { 0 };
  const char *opts[] = { "nosuid", "mode=755", "size=64k", "rw", "rprivate" };

  assert_int_equal (rt_mount_parse_options (&m, opts, 5, &err), 0);
  assert_string_equal (m.data, "mode=755,size=64k");
  assert_int_equal (m.flags, MS_NOSUID);
  assert_int_equal (m.propagation, MS_PRIVATE | MS_REC);
  free (m.data);
}

static void
expect_error (const char *text, const char *needle)
{
  nb_error_t err = NULL;
  struct rt_spec *s = parse (text, &err);
  assert_null (s);
  assert_non_null (err);
  if (strstr (err->msg, needle) == NULL)
    fail_msg ("error '%s' does not mention '%s'", err->msg, needle);
  nb_error_free (&err);
}

static void
test_malformed_specs_are_refused_with_a_reason (void **state)
{
  (void) state;
  expect_error ("[]", "not a JSON object");
  expect_error ("{\"process\": {}}", "root.path");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"rel\","
                "\"args\": [\"x\"]}}",
                "cwd");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"/\","
                "\"args\": []}}",
                "args is empty");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"/\","
                "\"args\": [\"x\"]}, \"mounts\": [{\"destination\": \"rel\"}]}",
                "absolute");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"/\","
                "\"args\": [\"x\"]}, \"mounts\": [{\"destination\": \"/m\","
                "\"type\": \"bind\", \"source\": \"rel\"}]}",
                "absolute source");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"/\","
                "\"args\": [\"x\"], \"capabilities\": {\"bounding\": "
                "[\"CAP_NOPE\"]}}}",
                "unknown capability CAP_NOPE");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"/\","
                "\"args\": [\"x\"]}, \"linux\": {\"namespaces\": "
                "[{\"type\": \"time-travel\"}]}}",
                "unknown namespace");
  expect_error ("{\"root\": {\"path\": \"/r\"}, \"process\": {\"cwd\": \"/\","
                "\"args\": [\"x\"]}, \"linux\": {\"namespaces\": "
                "[{\"type\": \"user\"}]}}",
                "uidMappings");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_a_complete_spec_is_read),
    cmocka_unit_test (test_bind_mount_options_become_flags_and_attributes),
    cmocka_unit_test (test_filesystem_options_are_passed_as_data),
    cmocka_unit_test (test_malformed_specs_are_refused_with_a_reason),
  };
  return cmocka_run_group_tests_name ("spec", tests, NULL, NULL);
}
