#define _GNU_SOURCE
#include "cli/sandbox.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/json.h"
#include "runtime/base/fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <sys/file.h>
#include <unistd.h>

/* FNV-1a, 64 bits: the id only has to tell workspaces apart (a collision is
 * caught by the workspace recorded in sandbox.json), and every `nsbox run`
 * computes it, so it is not worth loading libcrypto for. */
static uint64_t
fnv1a (uint64_t h, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      h ^= (unsigned char) s[i];
      h *= 0x100000001b3ULL;
    }
  return h;
}

void
sb_sandbox_id (const char *workspace, const char *agent, const char *name,
               char id[13])
{
  uint64_t h = 0xcbf29ce484222325ULL;

  if (name)
    {
      h = fnv1a (h, "name:", 5);
      h = fnv1a (h, name, strlen (name));
    }
  else
    {
      /* The NUL keeps ("/a", "bc") and ("/ab", "c") apart. */
      h = fnv1a (h, workspace, strlen (workspace) + 1);
      h = fnv1a (h, agent, strlen (agent));
    }
  snprintf (id, 13, "%012llx", (unsigned long long) (h & 0xffffffffffffULL));
}

char *
sb_sandbox_default_name (const char *workspace, const char *agent)
{
  const char *base = strrchr (workspace, '/');
  char *name = NULL, *p;

  base = (base && base[1]) ? base + 1 : "root";
  if (asprintf (&name, "%s-%s", base, agent) < 0)
    return NULL;
  /* Hostname-safe: letters, digits and '-', at most 63 characters. */
  for (p = name; *p; p++)
    if (!isalnum ((unsigned char) *p) && *p != '-')
      *p = '-';
  if (strlen (name) > 63)
    name[63] = '\0';
  return name;
}

void
sb_sandbox_free (struct sb_sandbox *sb)
{
  if (sb == NULL)
    return;
  free (sb->name);
  free (sb->workspace);
  free (sb->agent);
  free (sb->template_name);
  free (sb->dir);
  free (sb->home);
  free (sb->run_dir);
  free (sb->upper);
  free (sb->work);
  json_decref (sb->record);
  free (sb);
}

/* What tells this folder from one made again at the same path: inode
 * numbers are reused at once (ext4 hands the freed one back), so the birth
 * time, where the filesystem keeps one, is part of it. */
static int
workspace_identity (const char *path, char out[96], nb_error_t *err)
{
  struct statx sx;

  if (statx (AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &sx) < 0)
    return nb_error_make (err, errno, "workspace %s", path);
  snprintf (out, 96, "%u:%u:%llu:%lld.%09u", sx.stx_dev_major,
            sx.stx_dev_minor, (unsigned long long) sx.stx_ino,
            (sx.stx_mask & STATX_BTIME) ? (long long) sx.stx_btime.tv_sec : 0LL,
            (sx.stx_mask & STATX_BTIME) ? sx.stx_btime.tv_nsec : 0U);
  return 0;
}

static int
write_record (struct sb_sandbox *sb, const char *ws, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (sb->dir, "sandbox.json");
  cleanup_free char *text = NULL;
  char created[32];
  time_t now = time (NULL);
  json_t *j;

  strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime (&now));
  j = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", sb->id, "name",
                 sb->name, "workspace", sb->workspace, "workspace_id", ws,
                 "agent", sb->agent, "template", sb->template_name, "created",
                 created);
  if (j == NULL || path == NULL)
    {
      json_decref (j);
      return nb_error_make (err, ENOMEM, "sandbox %s", sb->id);
    }
  text = json_dumps (j, JSON_INDENT (2) | JSON_SORT_KEYS);
  sb->record = j;
  if (text == NULL)
    return nb_error_make (err, ENOMEM, "sandbox %s", sb->id);
  return nb_write_file_atomic (path, text, strlen (text), 0600, 1, err);
}

/* An existing record: the workspace it was made for must be this one. */
static int
check_record (struct sb_sandbox *sb, const char *path, const char *ws,
              nb_error_t *err)
{
  json_t *j = nb_json_load_file (path, err);
  const char *recorded, *tmpl;
  int ret = 0;

  if (j == NULL)
    return nb_error_wrap (err, "sandbox %s", sb->id);
  recorded = json_string_value (json_object_get (j, "workspace"));
  tmpl = json_string_value (json_object_get (j, "template"));
  if (recorded == NULL || strcmp (recorded, sb->workspace) != 0)
    {
      nb_error_make (err, 0,
                     "sandbox %s belongs to the workspace %s, not %s",
                     sb->name, recorded ? recorded : "(unknown)",
                     sb->workspace);
      ret = nb_error_hint (err, "pick another --name");
    }
  else if (tmpl && strcmp (tmpl, sb->template_name) != 0)
    {
      /* Its upper dir holds changes made over that template's files. */
      nb_error_make (err, 0,
                     "sandbox %s was created with the template %s, not %s",
                     sb->name, tmpl, sb->template_name);
      ret = nb_error_hint (err, "run it with -t %s, or use another --name "
                                "for a sandbox of %s",
                           tmpl, sb->template_name);
    }
  else if (json_string_value (json_object_get (j, "workspace_id")) == NULL
           || strcmp (json_string_value (json_object_get (j, "workspace_id")),
                      ws)
                  != 0)
    {
      cleanup_free char *text = NULL;
      fprintf (stderr,
               "nsbox: note: %s was deleted and made again since sandbox %s "
               "was created; the sandbox keeps its state\n",
               sb->workspace, sb->name);
      /* Said once: the record follows the folder that is there now. */
      json_object_set_new (j, "workspace_id", json_string (ws));
      text = json_dumps (j, JSON_INDENT (2) | JSON_SORT_KEYS);
      if (text == NULL)
        ret = nb_error_make (err, ENOMEM, "sandbox %s", sb->id);
      else
        ret = nb_write_file_atomic (path, text, strlen (text), 0600, 1, err);
    }
  if (ret == 0)
    sb->record = j;
  else
    json_decref (j);
  return ret;
}

json_t *
sb_sandbox_image (const struct sb_sandbox *sb)
{
  return json_object_get (sb->record, "image");
}

int
sb_sandbox_save_image (struct sb_sandbox *sb, json_t *image, nb_error_t *err)
{
  if (sb->record == NULL)
    return nb_error_make (err, 0, "sandbox %s: no record", sb->name);
  json_object_set (sb->record, "image", image);
  return sb_sandbox_save (sb, err);
}

int
sb_sandbox_save (struct sb_sandbox *sb, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (sb->dir, "sandbox.json");
  cleanup_free char *text = NULL;

  if (sb->record == NULL)
    return nb_error_make (err, 0, "sandbox %s: no record", sb->name);
  text = json_dumps (sb->record, JSON_INDENT (2) | JSON_SORT_KEYS);
  if (text == NULL || path == NULL)
    return nb_error_make (err, ENOMEM, "sandbox %s", sb->name);
  return nb_write_file_atomic (path, text, strlen (text), 0600, 1, err);
}

int
sb_sandbox_open (const char *workspace, const char *agent, const char *name,
                 const char *template_name, struct sb_sandbox **out,
                 nb_error_t *err)
{
  struct sb_sandbox *sb = calloc (1, sizeof *sb);
  cleanup_free char *data = NULL, *run = NULL, *record = NULL;
  char ws[96];
  struct stat st;

  if (sb == NULL)
    return nb_error_make (err, ENOMEM, "sandbox");
  *out = sb;
  if (workspace_identity (workspace, ws, err) < 0)
    return -1;
  sb_sandbox_id (workspace, agent, name, sb->id);
  sb->workspace = strdup (workspace);
  sb->agent = strdup (agent);
  sb->template_name = strdup (template_name);
  sb->name = name ? strdup (name) : sb_sandbox_default_name (workspace, agent);
  if (nb_data_dir (&data, err) < 0 || nb_runtime_dir (&run, err) < 0)
    return -1;
  if (asprintf (&sb->dir, "%s/sandboxes/%s", data, sb->id) < 0
      || asprintf (&sb->home, "%s/home", sb->dir) < 0
      || asprintf (&sb->run_dir, "%s/%s", run, sb->id) < 0
      || asprintf (&sb->upper, "%s/upper", sb->dir) < 0
      || asprintf (&sb->work, "%s/work", sb->dir) < 0
      || asprintf (&record, "%s/sandbox.json", sb->dir) < 0 || !sb->name
      || !sb->workspace || !sb->agent || !sb->template_name)
    return nb_error_make (err, ENOMEM, "sandbox");

  if (stat (record, &st) == 0)
    {
      if (check_record (sb, record, ws, err) < 0)
        return -1;
    }
  else
    {
      if (nb_mkdir_p (sb->home, 0700, err) < 0)
        return nb_error_wrap (err, "create sandbox %s", sb->name);
      if (write_record (sb, ws, err) < 0)
        return nb_error_wrap (err, "create sandbox %s", sb->name);
      sb->created = 1;
    }
  if (nb_mkdir_p (sb->home, 0700, err) < 0 || nb_mkdir_p (sb->run_dir, 0700, err) < 0)
    return -1;
  return 0;
}

int
sb_sandbox_lock_run (const struct sb_sandbox *sb, int *fd, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (sb->dir, ".lock");

  if (path == NULL)
    return nb_error_make (err, ENOMEM, "sandbox %s", sb->name);
  *fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (*fd < 0)
    return nb_error_make (err, errno, "open %s", path);
  /* Shared: runs of one sandbox may overlap; rm takes it exclusive. */
  if (flock (*fd, LOCK_SH) < 0)
    return nb_error_make (err, errno, "lock %s", path);
  return 0;
}

int
sb_sandbox_running (const char *dir)
{
  cleanup_free char *path = nb_path_join (dir, ".lock");
  cleanup_close int fd = path ? open (path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
                              : -1;

  if (fd < 0)
    return 0;
  if (flock (fd, LOCK_EX | LOCK_NB) < 0)
    return errno == EWOULDBLOCK;
  flock (fd, LOCK_UN);
  return 0;
}

int
sb_found_save (const struct sb_found *f, nb_error_t *err)
{
  cleanup_free char *path = nb_path_join (f->dir, "sandbox.json");
  cleanup_free char *text = NULL;

  if (f->record == NULL)
    return nb_error_make (err, 0, "sandbox %s: no record", f->name);
  text = json_dumps (f->record, JSON_INDENT (2) | JSON_SORT_KEYS);
  if (text == NULL || path == NULL)
    return nb_error_make (err, ENOMEM, "sandbox %s", f->name);
  return nb_write_file_atomic (path, text, strlen (text), 0600, 1, err);
}

int
sb_sandbox_each (int (*fn) (const char *dir, json_t *record, void *arg),
                 void *arg, nb_error_t *err)
{
  cleanup_free char *data = NULL, *root = NULL;
  struct dirent **names = NULL;
  int n, ret = 0;

  if (nb_data_dir (&data, err) < 0)
    return -1;
  root = nb_path_join (data, "sandboxes");
  if (root == NULL)
    return nb_error_make (err, ENOMEM, "sandboxes");
  n = scandir (root, &names, NULL, alphasort);
  if (n < 0)
    return errno == ENOENT ? 0 : nb_error_make (err, errno, "read %s", root);
  for (int i = 0; i < n; i++)
    {
      cleanup_free char *dir = NULL, *rec = NULL;
      cleanup_error nb_error_t e = NULL;
      json_t *j;

      if (ret == 0 && names[i]->d_name[0] != '.'
          && (dir = nb_path_join (root, names[i]->d_name)) != NULL
          && (rec = nb_path_join (dir, "sandbox.json")) != NULL
          && (j = nb_json_load_file (rec, &e)) != NULL)
        {
          ret = fn (dir, j, arg);
          json_decref (j);
        }
      free (names[i]);
    }
  free (names);
  return ret;
}

struct find
{
  const char *what;
  struct sb_found *f;
};

static int
match (const char *dir, json_t *rec, void *arg)
{
  struct find *fi = arg;
  const char *id = json_string_value (json_object_get (rec, "id"));
  const char *name = json_string_value (json_object_get (rec, "name"));

  if ((id && strcmp (id, fi->what) == 0)
      || (name && strcmp (name, fi->what) == 0))
    {
      fi->f->dir = strdup (dir);
      fi->f->name = strdup (name ? name : fi->what);
      fi->f->id = strdup (id ? id : "");
      fi->f->record = json_incref (rec);
      return 1;
    }
  return 0;
}

/* A sandbox dir without a readable record (a removal cut short, a record
 * broken by hand) is still found by its id. */
static int
by_id (const char *what, struct sb_found *f, nb_error_t *err)
{
  cleanup_free char *data = NULL, *dir = NULL;
  struct stat st;
  size_t n = strlen (what);

  if (n != 12 || strspn (what, "0123456789abcdef") != n)
    return 0;
  if (nb_data_dir (&data, err) < 0)
    return -1;
  if (asprintf (&dir, "%s/sandboxes/%s", data, what) < 0)
    return nb_error_make (err, ENOMEM, "sandbox %s", what);
  if (lstat (dir, &st) == 0 && S_ISDIR (st.st_mode))
    {
      f->dir = steal_pointer (&dir);
      f->name = strdup (what);
      f->id = strdup (what);
    }
  return 0;
}

int
sb_sandbox_find (const char *what, struct sb_found *f, nb_error_t *err)
{
  struct find fi = { .what = what, .f = f };
  cleanup_free char *run = NULL;

  memset (f, 0, sizeof *f);
  if (sb_sandbox_each (match, &fi, err) < 0)
    return -1;
  if (f->dir == NULL && by_id (what, f, err) < 0)
    return -1;
  if (f->dir == NULL)
    return nb_error_make (err, 0, "no such sandbox");
  if (f->name == NULL || f->id == NULL || nb_runtime_dir (&run, err) < 0
      || (f->run_dir = nb_path_join (run, f->id)) == NULL)
    {
      sb_found_clear (f);
      return nb_error_make (err, ENOMEM, "sandbox %s", what);
    }
  return 0;
}

void
sb_found_clear (struct sb_found *f)
{
  free (f->dir);
  free (f->name);
  free (f->id);
  free (f->run_dir);
  json_decref (f->record);
  memset (f, 0, sizeof *f);
}
