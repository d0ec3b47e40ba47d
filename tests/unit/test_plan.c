/* cli/plan.c: the host template, as the OCI spec that runtime/ executes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <string.h>
#include <sys/mount.h>

#include "cli/plan.h"
#include "runtime/spec.h"

static const char *const argv_[] = { "/bin/sh", "-c", "id", NULL };
static const char *const env_[] = { "PATH=/bin", "HOME=/home/u", NULL };

static struct rt_spec *
plan_and_parse (const char *workspace)
{
  struct sb_plan p = {
    .rootfs = "/run/user/1000/nsbox/abc/rootfs",
    .workspace = workspace,
    .home_source = "/home/u/.local/share/nsbox/sandboxes/abc/home",
    .home = "/home/u",
    .hostname = "proj-shell",
    .argv = argv_,
    .env = env_,
    .uid = 1000,
    .host_uid = 1000,
    .gid = 1000,
    .host_gid = 1000,
  };
  nb_error_t err = NULL;
  json_t *j = NULL;
  struct rt_spec *s = NULL;

  assert_int_equal (sb_plan_host_spec (&p, &j, &err), 0);
  /* The plan must be a spec the executor accepts as it is. */
  assert_int_equal (rt_spec_from_json (j, "/", &s, &err), 0);
  json_decref (j);
  return s;
}

static const struct rt_mount *
find_mount (const struct rt_spec *s, const char *dest, size_t *index)
{
  for (size_t i = 0; i < s->n_mounts; i++)
    if (strcmp (s->mounts[i].destination, dest) == 0)
      {
        if (index)
          *index = i;
        return &s->mounts[i];
      }
  return NULL;
}

static void
test_the_workspace_is_bound_at_its_own_path_and_is_the_cwd (void **state)
{
  (void) state;
  struct rt_spec *s = plan_and_parse ("/home/u/my project");
  const struct rt_mount *m = find_mount (s, "/home/u/my project", NULL);

  assert_non_null (m);
  assert_true (m->bind);
  assert_string_equal (m->source, "/home/u/my project");
  assert_false (m->flags & MS_RDONLY);
  assert_string_equal (s->cwd, "/home/u/my project");
  assert_string_equal (s->args[2], "id");
  rt_spec_free (s);
}

static void
test_the_home_is_the_sandbox_s_own_and_comes_before_the_workspace (void **state)
{
  (void) state;
  struct rt_spec *s = plan_and_parse ("/home/u/proj");
  size_t ih, iw;
  const struct rt_mount *h = find_mount (s, "/home/u", &ih);

  assert_non_null (h);
  assert_string_equal (h->source,
                       "/home/u/.local/share/nsbox/sandboxes/abc/home");
  assert_non_null (find_mount (s, "/home/u/proj", &iw));
  assert_true (ih < iw);
  rt_spec_free (s);
}

static void
test_nothing_private_of_the_host_is_mounted (void **state)
{
  (void) state;
  static const char *const hidden[]
      = { "/home", "/root", "/run", "/tmp", "/mnt", "/media", "/srv", "/var" };
  struct rt_spec *s = plan_and_parse ("/home/u/proj");

  for (size_t i = 0; i < s->n_mounts; i++)
    {
      const struct rt_mount *m = &s->mounts[i];
      if (!m->bind)
        continue;
      for (size_t k = 0; k < sizeof hidden / sizeof hidden[0]; k++)
        {
          size_t l = strlen (hidden[k]);
          bool from_hidden = strncmp (m->source, hidden[k], l) == 0
                             && (m->source[l] == '\0' || m->source[l] == '/');
          /* Only the workspace and the sandbox's own home may come from
           * there. */
          if (from_hidden && strcmp (m->source, "/home/u/proj") != 0
              && strstr (m->source, "/nsbox/sandboxes/abc/home") == NULL)
            fail_msg ("host %s is mounted at %s", m->source, m->destination);
        }
    }
  /* /tmp and /run are the sandbox's own. */
  assert_string_equal (find_mount (s, "/tmp", NULL)->type, "tmpfs");
  assert_string_equal (find_mount (s, "/run", NULL)->type, "tmpfs");
  rt_spec_free (s);
}

static void
test_system_folders_are_read_only_and_the_root_too (void **state)
{
  (void) state;
  struct rt_spec *s = plan_and_parse ("/home/u/proj");
  const struct rt_mount *usr = find_mount (s, "/usr", NULL);

  assert_non_null (usr);
  assert_true (usr->attr_set & MOUNT_ATTR_RDONLY);
  assert_true (usr->attr_set & MOUNT_ATTR_NOSUID);
  assert_true (s->root_readonly);
  rt_spec_free (s);
}

static void
test_every_namespace_and_a_single_id_mapping (void **state)
{
  (void) state;
  struct rt_spec *s = plan_and_parse ("/home/u/proj");

  assert_int_equal (s->clone_flags,
                    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS
                        | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP);
  assert_int_equal (s->n_uid_maps, 1);
  assert_int_equal (s->uid_maps[0].size, 1);
  assert_true (s->no_new_privileges);
  assert_int_equal (s->caps_bounding[0], -1);
  assert_non_null (s->masked_paths[0]);
  rt_spec_free (s);
}

static void
test_an_image_template_is_an_overlay_root_of_its_layers_top_first (void **state)
{
  (void) state;
  static const char *const layers[]
      = { "/d/layers/aaa", "/d/layers/bbb", "/d/layers/ccc", NULL };
  static const struct rt_idmap uids[] = { { 0, 1000, 1 }, { 1, 100000, 65536 } };
  struct sb_plan p = {
    .rootfs = "/run/nsbox/abc/rootfs",
    .workspace = "/home/u/proj",
    .hostname = "proj-shell",
    .argv = argv_,
    .env = env_,
    .layers = layers,
    .upper = "/d/sandboxes/abc/upper",
    .work = "/d/sandboxes/abc/work",
    .uid_maps = uids,
    .n_uid_maps = 2,
    .gid_maps = uids,
    .n_gid_maps = 2,
    .no_new_privs = false,
  };
  nb_error_t err = NULL;
  json_t *j = NULL;
  struct rt_spec *s = NULL;
  const struct rt_mount *ws;

  assert_int_equal (sb_plan_image_spec (&p, &j, &err), 0);
  assert_int_equal (rt_spec_from_json (j, "/", &s, &err), 0);
  json_decref (j);
  /* The root overlay comes first: everything else is mounted on it. */
  assert_string_equal (s->mounts[0].destination, "/");
  assert_string_equal (s->mounts[0].type, "overlay");
  assert_non_null (strstr (s->mounts[0].data,
                           "lowerdir=/d/layers/ccc:/d/layers/bbb:/d/layers/aaa"));
  assert_non_null (strstr (s->mounts[0].data, "upperdir=/d/sandboxes/abc/upper"));
  assert_non_null (strstr (s->mounts[0].data, "workdir=/d/sandboxes/abc/work"));
  assert_non_null (strstr (s->mounts[0].data, "userxattr"));
  ws = find_mount (s, "/home/u/proj", NULL);
  assert_non_null (ws);
  assert_true (ws->bind);
  assert_string_equal (s->cwd, "/home/u/proj");
  assert_false (s->root_readonly);
  assert_int_equal (s->uid, 0);
  assert_int_equal (s->n_uid_maps, 2);
  assert_int_equal (s->uid_maps[1].host_id, 100000);
  assert_false (s->no_new_privileges);
  /* Docker's default set, no more: CAP_SYS_ADMIN is not in it. */
  assert_true (s->caps_bounding[0] >= 0);
  for (const int *c = s->caps_bounding; *c >= 0; c++)
    assert_int_not_equal (*c, 21 /* CAP_SYS_ADMIN */);
  rt_spec_free (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_the_workspace_is_bound_at_its_own_path_and_is_the_cwd),
    cmocka_unit_test (
        test_the_home_is_the_sandbox_s_own_and_comes_before_the_workspace),
    cmocka_unit_test (test_nothing_private_of_the_host_is_mounted),
    cmocka_unit_test (test_system_folders_are_read_only_and_the_root_too),
    cmocka_unit_test (test_every_namespace_and_a_single_id_mapping),
    cmocka_unit_test (test_an_image_template_is_an_overlay_root_of_its_layers_top_first),
  };
  return cmocka_run_group_tests_name ("plan", tests, NULL, NULL);
}
