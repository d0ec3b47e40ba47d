/* nsbox oci state/list/ps/spec/features: what engines read. */
#define _GNU_SOURCE
#include "cli/oci.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/fs.h"
#include "runtime/base/json.h"
#include "runtime/runtime.h"
#include "runtime/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The runtime-spec's state object (pid 0 once stopped, as runc says). */
static json_t *
state_json (const struct rt_state *st)
{
  json_t *j = json_pack ("{s:s, s:s, s:s, s:i, s:s, s:s}", "ociVersion",
                         "1.0.2", "id", st->id, "status",
                         rt_status_name (st->status), "pid",
                         st->status == RT_STATUS_STOPPED ? 0 : (int) st->pid,
                         "bundle", st->bundle ? st->bundle : "", "created",
                         st->created ? st->created : "");
  json_t *ann = json_object_get (st->json, "annotations");
  if (j && json_is_object (ann))
    json_object_set (j, "annotations", ann);
  return j;
}

static void
print_json (json_t *j)
{
  char *text = j ? json_dumps (j, JSON_INDENT (2)) : NULL;
  if (text)
    printf ("%s\n", text);
  free (text);
}

int
oci_state (const struct oci_global *g, int argc, char **argv,
           nb_error_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_json json_t *j = NULL;
  struct rt_state st;

  if (argc != 2)
    return nb_error_make (err, 0, "state: expects one container id");
  if (oci_container_dir (g, argv[1], true, &dir, err) < 0)
    return -1;
  if (rt_state_read (dir, &st, err) < 0)
    return nb_error_wrap (err, "state %s", argv[1]);
  j = state_json (&st);
  rt_state_clear (&st);
  if (j == NULL)
    return nb_error_make (err, ENOMEM, "state");
  print_json (j);
  return 0;
}

int
oci_list (const struct oci_global *g, int argc, char **argv, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "quiet", no_argument, NULL, 'q' },
          { "format", required_argument, NULL, 'f' },
          { NULL, 0, NULL, 0 } };
  cleanup_free char *root = NULL;
  cleanup_json json_t *all = json_array ();
  struct dirent **names = NULL;
  bool quiet = false, as_json = false;
  int c, n;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "qf:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'q':
        quiet = true;
        break;
      case 'f':
        if (strcmp (optarg, "json") && strcmp (optarg, "table"))
          return nb_error_make (err, 0, "list: --format %s: expects table "
                                        "or json",
                                optarg);
        as_json = strcmp (optarg, "json") == 0;
        break;
      default:
        return nb_error_make (err, 0, "list: unknown option '%s'",
                              argv[optind - 1]);
      }
  if (oci_root (g, &root, err) < 0)
    return -1;
  n = scandir (root, &names, NULL, alphasort);
  if (n < 0)
    return nb_error_make (err, errno, "read %s", root);
  if (!quiet && !as_json)
    printf ("%-24s %-8s %-8s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE",
            "CREATED");
  for (int i = 0; i < n; i++)
    {
      cleanup_free char *dir = NULL;
      cleanup_error nb_error_t e = NULL;
      struct rt_state st;

      if (names[i]->d_name[0] != '.'
          && (dir = nb_path_join (root, names[i]->d_name)) != NULL
          && rt_state_read (dir, &st, &e) == 0)
        {
          cleanup_free char *id = nb_escape (st.id);
          cleanup_free char *bundle = nb_escape (st.bundle ? st.bundle : "");
          if (as_json)
            json_array_append_new (all, state_json (&st));
          else if (quiet)
            printf ("%s\n", id ? id : "?");
          else
            printf ("%-24s %-8d %-8s %-40s %s\n", id ? id : "?",
                    st.status == RT_STATUS_STOPPED ? 0 : (int) st.pid,
                    rt_status_name (st.status), bundle ? bundle : "?",
                    st.created ? st.created : "");
          rt_state_clear (&st);
        }
      free (names[i]);
    }
  free (names);
  if (as_json)
    print_json (all);
  return 0;
}

/* The container's processes: its init and every process in its pid
 * namespace (those exec put there are not init's children).  The namespace
 * is the one its init hands out. */
int
oci_ps (const struct oci_global *g, int argc, char **argv, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "format", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  cleanup_free char *dir = NULL;
  cleanup_json json_t *pids = json_array ();
  cleanup_close int conn = -1;
  struct rt_state st;
  struct rt_sync_msg msg;
  struct stat ns_st;
  int fds[RT_SYNC_MAX_FDS], c;
  size_t n_fds = 0;
  bool as_json = false;
  DIR *proc;
  struct dirent *d;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "f:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        as_json = strcmp (optarg, "json") == 0;
        break;
      default:
        return nb_error_make (err, 0, "ps: unknown option '%s'",
                              argv[optind - 1]);
      }
  if (optind + 1 != argc)
    return nb_error_make (err, 0, "ps: expects one container id");
  if (oci_container_dir (g, argv[optind], true, &dir, err) < 0)
    return -1;
  if (rt_state_read (dir, &st, err) < 0)
    return nb_error_wrap (err, "ps %s", argv[optind]);
  if (st.status == RT_STATUS_STOPPED)
    {
      rt_state_clear (&st);
      return nb_error_make (err, 0, "ps %s: it is not running", argv[optind]);
    }
  json_array_append_new (pids, json_integer (st.pid));
  conn = rt_state_connect (dir, err);
  if (conn < 0 || rt_state_request (conn, RT_REQ_NS, 0) < 0
      || rt_sync_recv_fds (conn, &msg, fds, RT_SYNC_MAX_FDS, &n_fds) <= 0)
    {
      rt_state_clear (&st);
      return nb_error_wrap (err, "ps %s", argv[optind]);
    }
  memset (&ns_st, 0, sizeof ns_st);
  /* The pid namespace is the fifth of rt_ns_order when all are there;
   * find it by its type instead of by place. */
  for (size_t i = 0; i < n_fds; i++)
    {
      char link[64], target[64];
      ssize_t k;
      snprintf (link, sizeof link, "/proc/self/fd/%d", fds[i]);
      k = readlink (link, target, sizeof target - 1);
      if (k > 0 && (target[k] = '\0', strncmp (target, "pid:", 4) == 0))
        fstat (fds[i], &ns_st);
      close (fds[i]);
    }
  proc = opendir ("/proc");
  while (proc && ns_st.st_ino && (d = readdir (proc)))
    {
      char path[64];
      struct stat s;
      int pid = atoi (d->d_name);
      if (pid <= 0 || pid == st.pid)
        continue;
      snprintf (path, sizeof path, "/proc/%d/ns/pid", pid);
      if (stat (path, &s) == 0 && s.st_ino == ns_st.st_ino
          && s.st_dev == ns_st.st_dev)
        json_array_append_new (pids, json_integer (pid));
    }
  if (proc)
    closedir (proc);
  rt_state_clear (&st);
  if (as_json)
    print_json (pids);
  else
    {
      size_t i;
      json_t *v;
      printf ("PID\n");
      json_array_foreach (pids, i, v)
        printf ("%lld\n", (long long) json_integer_value (v));
    }
  return 0;
}

/* runc spec's default, with --rootless its user namespace and mapping of
 * the caller, no network namespace change (loopback only either way). */
int
oci_spec (const struct oci_global *g, int argc, char **argv, nb_error_t *err)
{
  static const struct option longopts[]
      = { { "rootless", no_argument, NULL, 'r' },
          { "bundle", required_argument, NULL, 'b' },
          { NULL, 0, NULL, 0 } };
  cleanup_json json_t *j = NULL;
  cleanup_free char *path = NULL, *text = NULL;
  const char *bundle = ".";
  bool rootless = false;
  int c;

  (void) g;
  opterr = 0;
  while ((c = getopt_long (argc, argv, "b:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        rootless = true;
        break;
      case 'b':
        bundle = optarg;
        break;
      default:
        return nb_error_make (err, 0, "spec: unknown option '%s'",
                              argv[optind - 1]);
      }
  path = nb_path_join (bundle, "config.json");
  if (path == NULL)
    return nb_error_make (err, ENOMEM, "spec");
  if (access (path, F_OK) == 0)
    return nb_error_make (err, EEXIST, "spec: %s", path);
  j = json_loads (
      "{\"ociVersion\": \"1.0.2\","
      " \"process\": {\"terminal\": true, \"user\": {\"uid\": 0, \"gid\": 0},"
      "  \"args\": [\"sh\"],"
      "  \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
      "/sbin:/bin\", \"TERM=xterm\"],"
      "  \"cwd\": \"/\","
      "  \"capabilities\": {"
      "   \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", "
      "\"CAP_NET_BIND_SERVICE\"],"
      "   \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", "
      "\"CAP_NET_BIND_SERVICE\"],"
      "   \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", "
      "\"CAP_NET_BIND_SERVICE\"],"
      "   \"ambient\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", "
      "\"CAP_NET_BIND_SERVICE\"]},"
      "  \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, "
      "\"soft\": 1024}],"
      "  \"noNewPrivileges\": true},"
      " \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
      " \"hostname\": \"nsbox\","
      " \"mounts\": ["
      "  {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": "
      "\"proc\"},"
      "  {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": "
      "\"tmpfs\", \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", "
      "\"size=65536k\"]},"
      "  {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": "
      "\"devpts\", \"options\": [\"nosuid\", \"noexec\", \"newinstance\", "
      "\"ptmxmode=0666\", \"mode=0620\"]},"
      "  {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": "
      "\"shm\", \"options\": [\"nosuid\", \"noexec\", \"nodev\", "
      "\"mode=1777\", \"size=65536k\"]},"
      "  {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", "
      "\"source\": \"mqueue\", \"options\": [\"nosuid\", \"noexec\", "
      "\"nodev\"]},"
      "  {\"destination\": \"/sys\", \"type\": \"none\", \"source\": "
      "\"/sys\", \"options\": [\"rbind\", \"nosuid\", \"noexec\", \"nodev\", "
      "\"ro\"]}],"
      " \"linux\": {"
      "  \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, "
      "{\"type\": \"ipc\"}, {\"type\": \"uts\"}, {\"type\": \"mount\"}],"
      "  \"maskedPaths\": [\"/proc/acpi\", \"/proc/asound\", "
      "\"/proc/kcore\", \"/proc/keys\", \"/proc/latency_stats\", "
      "\"/proc/timer_list\", \"/proc/timer_stats\", \"/proc/sched_debug\", "
      "\"/sys/firmware\", \"/proc/scsi\"],"
      "  \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", "
      "\"/proc/sys\", \"/proc/sysrq-trigger\"]}}",
      0, NULL);
  if (j == NULL)
    return nb_error_make (err, ENOMEM, "spec");
  if (rootless)
    {
      json_t *linux_ = json_object_get (j, "linux");
      json_array_append_new (json_object_get (linux_, "namespaces"),
                             json_pack ("{s:s}", "type", "user"));
      json_object_set_new (linux_, "uidMappings",
                           json_pack ("[{s:i, s:i, s:i}]", "containerID", 0,
                                      "hostID", (int) getuid (), "size", 1));
      json_object_set_new (linux_, "gidMappings",
                           json_pack ("[{s:i, s:i, s:i}]", "containerID", 0,
                                      "hostID", (int) getgid (), "size", 1));
    }
  text = json_dumps (j, JSON_INDENT (2));
  if (text == NULL)
    return nb_error_make (err, ENOMEM, "spec");
  return nb_write_file_atomic (path, text, strlen (text), 0644, 0, err);
}

int
oci_features (const struct oci_global *g, int argc, char **argv,
              nb_error_t *err)
{
  cleanup_json json_t *j = NULL;

  (void) g;
  (void) argc;
  (void) argv;
  /* Only what the executor does: cgroup v2 limits (where a subtree is
   * delegated), no cgroup v1. */
  j = json_loads (
      "{\"ociVersionMin\": \"1.0.0\", \"ociVersionMax\": \"1.0.2\","
      " \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", "
      "\"startContainer\", \"poststart\", \"poststop\"],"
      " \"mountOptions\": [\"ro\", \"rw\", \"nosuid\", \"suid\", "
      "\"nodev\", \"dev\", \"noexec\", \"exec\", \"sync\", \"async\", "
      "\"noatime\", \"atime\", \"nodiratime\", \"diratime\", "
      "\"relatime\", \"norelatime\", \"strictatime\", \"nostrictatime\", "
      "\"mand\", \"nomand\", \"dirsync\", \"bind\", \"rbind\", "
      "\"private\", \"rprivate\", \"slave\", \"rslave\", \"shared\", "
      "\"rshared\", \"unbindable\", \"runbindable\"],"
      " \"linux\": {"
      "  \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", "
      "\"pid\", \"user\", \"uts\"],"
      "  \"cgroup\": {\"v1\": false, \"v2\": true, \"systemd\": false, "
      "\"systemdUser\": false},"
      "  \"seccomp\": {\"enabled\": true, \"actions\": [\"SCMP_ACT_ALLOW\", "
      "\"SCMP_ACT_ERRNO\", \"SCMP_ACT_KILL\", \"SCMP_ACT_KILL_THREAD\", "
      "\"SCMP_ACT_KILL_PROCESS\", \"SCMP_ACT_TRAP\", \"SCMP_ACT_TRACE\", "
      "\"SCMP_ACT_LOG\"], \"operators\": [\"SCMP_CMP_NE\", \"SCMP_CMP_LT\", "
      "\"SCMP_CMP_LE\", \"SCMP_CMP_EQ\", \"SCMP_CMP_GE\", \"SCMP_CMP_GT\", "
      "\"SCMP_CMP_MASKED_EQ\"]},"
      "  \"apparmor\": {\"enabled\": false},"
      "  \"selinux\": {\"enabled\": false}},"
      " \"annotations\": {\"org.nsbox.version\": \"" NSBOX_VERSION "\"}}",
      0, NULL);
  if (j == NULL)
    return nb_error_make (err, ENOMEM, "features");
  print_json (j);
  return 0;
}
