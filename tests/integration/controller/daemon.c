/* daemon.c: see daemon.h. */
#include "daemon.h"

#include "ballast-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KSM_DIR "/sys/kernel/mm/ksm"

TestDaemon *
test_daemon_new (const char *extra_conf, GError **error)
{
  g_autoptr (TestDaemon) d = g_new0 (TestDaemon, 1);
  d->dir = g_dir_make_tmp ("ballastd-it-XXXXXX", error);
  if (d->dir == NULL)
    return NULL;
  d->conf_path = g_build_filename (d->dir, "ballast.conf", NULL);
  d->sock_path = g_build_filename (d->dir, "control.sock", NULL);
  d->qmp_dir = g_build_filename (d->dir, "qmp", NULL);
  d->log_path = g_build_filename (d->dir, "ballastd.log", NULL);
  if (g_mkdir (d->qmp_dir, 0700) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "mkdir %s: %s", d->qmp_dir,
                   g_strerror (errno));
      return NULL;
    }
  g_autofree char *conf
      = g_strdup_printf ("[daemon]\ncontrol-socket=%s\nqmp-dir=%s\nhttp-listen=off\n%s\n",
                         d->sock_path, d->qmp_dir, extra_conf ? extra_conf : "");
  if (!g_file_set_contents (d->conf_path, conf, -1, error))
    return NULL;
  return g_steal_pointer (&d);
}

/* A test that dies must not leave ballastd running with KSM knobs changed:
 * the parent's death sends it SIGTERM, on which it restores them. */
static void
child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

gboolean
test_daemon_start (TestDaemon *d, const char *const *extra_args, GError **error)
{
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastd", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, exe);
  g_ptr_array_add (argv, (gpointer) "--config");
  g_ptr_array_add (argv, d->conf_path);
  for (gsize i = 0; extra_args && extra_args[i]; i++)
    g_ptr_array_add (argv, (gpointer) extra_args[i]);
  g_ptr_array_add (argv, NULL);

  int log_fd = open (d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", d->log_path,
                   g_strerror (errno));
      return FALSE;
    }
  gboolean ok
      = g_spawn_async_with_fds (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                child_setup, NULL, &d->pid, -1, log_fd, log_fd, error);
  close (log_fd);
  if (!ok)
    return FALSE;

  /* The socket appears once the daemon is up. */
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr (GError) local = NULL;
      if (g_file_test (d->sock_path, G_FILE_TEST_EXISTS))
        {
          d->ctl = qmp_sync_connect (d->sock_path, 5000, &local);
          if (d->ctl != NULL)
            return TRUE;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                       "ballastd did not open %s within 10 s%s%s", d->sock_path, local ? ": " : "",
                       local ? local->message : "");
          return FALSE;
        }
      if (waitpid (d->pid, NULL, WNOHANG) == d->pid)
        {
          d->pid = 0;
          g_autofree char *log = NULL;
          g_file_get_contents (d->log_path, &log, NULL, NULL);
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "ballastd exited:\n%s",
                       log ? log : "");
          return FALSE;
        }
      g_usleep (50 * 1000);
    }
}

int
test_daemon_stop (TestDaemon *d)
{
  g_clear_pointer (&d->ctl, qmp_sync_free);
  if (d->pid <= 0)
    return -1;
  kill (d->pid, SIGTERM);
  int status = -1;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (waitpid (d->pid, &status, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          kill (d->pid, SIGKILL);
          waitpid (d->pid, &status, 0);
          break;
        }
      g_usleep (20 * 1000);
    }
  d->pid = 0;
  return status;
}

void
test_daemon_free (TestDaemon *d)
{
  if (d == NULL)
    return;
  test_daemon_stop (d);
  if (d->dir != NULL)
    {
      g_autofree char *log = NULL;
      if (g_test_failed () && g_file_get_contents (d->log_path, &log, NULL, NULL))
        g_test_message ("ballastd log:\n%s", log);
      g_autoptr (GDir) dir = g_dir_open (d->qmp_dir, 0, NULL);
      const char *name;
      while (dir && (name = g_dir_read_name (dir)))
        {
          g_autofree char *p = g_build_filename (d->qmp_dir, name, NULL);
          g_unlink (p);
        }
      const char *files[] = { d->qmp_dir, d->conf_path, d->sock_path, d->log_path };
      for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
        g_remove (files[i]);
      g_rmdir (d->dir);
    }
  g_free (d->dir);
  g_free (d->conf_path);
  g_free (d->sock_path);
  g_free (d->qmp_dir);
  g_free (d->log_path);
  g_free (d);
}

json_t *
test_daemon_cmd (TestDaemon *d, const char *command, json_t *args)
{
  g_autoptr (GError) error = NULL;
  json_t *ret = qmp_sync_execute (d->ctl, command, args, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ret);
  return ret;
}

json_t *
test_daemon_vm (TestDaemon *d, const char *name)
{
  g_autoptr (GError) error = NULL;
  json_t *ret = qmp_sync_execute (d->ctl, "query-vm", json_pack ("{s:s}", "name", name), &error);
  if (ret == NULL)
    g_assert_true (g_error_matches (error, QMP_ERROR, QMP_ERROR_COMMAND));
  return ret;
}

gint64
test_json_int (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_integer (v))
    g_error ("'%s' is not an integer in %s", key, json_dumps (o, JSON_COMPACT));
  return json_integer_value (v);
}

guint
test_daemon_log_count (TestDaemon *d, const char *needle)
{
  g_autofree char *log = NULL;
  if (!g_file_get_contents (d->log_path, &log, NULL, NULL))
    return 0;
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  guint n = 0;
  for (gsize i = 0; lines[i]; i++)
    if (strstr (lines[i], needle))
      n++;
  return n;
}

GHashTable *
test_ksm_snapshot (void)
{
  GHashTable *snap = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GDir) dir = g_dir_open (KSM_DIR, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *p = g_build_filename (KSM_DIR, name, NULL);
      struct stat st;
      char *text = NULL;
      if (stat (p, &st) != 0 || !S_ISREG (st.st_mode) || !(st.st_mode & S_IWUSR))
        continue;
      if (!g_file_get_contents (p, &text, NULL, NULL))
        continue;
      g_hash_table_insert (snap, g_strdup (name), g_strchomp (text));
    }
  return snap;
}

char *
test_ksm_diff (GHashTable *a, GHashTable *b)
{
  GString *out = g_string_new ("");
  g_autoptr (GList) keys = g_hash_table_get_keys (a);
  keys = g_list_sort (keys, (GCompareFunc) g_strcmp0);
  for (GList *l = keys; l; l = l->next)
    if (g_strcmp0 (g_hash_table_lookup (a, l->data), g_hash_table_lookup (b, l->data)) != 0)
      g_string_append_printf (out, "%s%s=%s->%s", out->len ? "," : "", (char *) l->data,
                              (char *) g_hash_table_lookup (a, l->data),
                              (char *) g_hash_table_lookup (b, l->data));
  return g_string_free (out, FALSE);
}

/* Rates before `run` (as the daemon does); advisor_mode is a "[x] y" list
 * on read and a bare word on write. */
void
test_ksm_restore (GHashTable *snap)
{
  g_autoptr (GList) keys = g_hash_table_get_keys (snap);
  for (int pass = 0; pass < 2; pass++)
    for (GList *l = keys; l; l = l->next)
      {
        const char *name = l->data;
        if ((pass == 0) == g_str_equal (name, "run"))
          continue;
        g_autofree char *value = g_strdup (g_hash_table_lookup (snap, name));
        char *lb = strchr (value, '[');
        if (lb != NULL)
          {
            char *rb = strchr (lb, ']');
            if (rb == NULL)
              continue;
            *rb = '\0';
            memmove (value, lb + 1, strlen (lb + 1) + 1);
          }
        g_autofree char *p = g_build_filename (KSM_DIR, name, NULL);
        g_autofree char *cur = NULL;
        if (g_file_get_contents (p, &cur, NULL, NULL)
            && g_str_equal (g_strchomp (cur), g_hash_table_lookup (snap, name)))
          continue;
        int fd = open (p, O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
          {
            if (write (fd, value, strlen (value)) < 0)
              g_test_message ("restoring %s=%s: %s", name, value, g_strerror (errno));
            close (fd);
          }
      }
}
