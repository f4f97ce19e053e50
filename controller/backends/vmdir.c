/* vmdir.c: watches the QMP socket directory with GFileMonitor and turns
 * socket files appearing/disappearing into VM add/remove calls. */
#define G_LOG_DOMAIN "ballast-vmdir"

#include "vmdir.h"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

struct _VmDir
{
  char *dir;
  GFileMonitor *monitor;
  VmDirFn fn;
  gpointer user_data;
  GHashTable *known; /* name -> VmDirEntry* */
  guint idle_id;
};

typedef struct
{
  char *path;
  ino_t inode; /* a new QEMU on the same path is a new socket: re-adopt it */
} VmDirEntry;

static void
vmdir_entry_free (gpointer p)
{
  VmDirEntry *e = p;
  g_free (e->path);
  g_free (e);
}

/* Returns the VM name if `base` is a QMP socket name, else NULL. */
static char *
vmdir_vm_name (const char *base)
{
  static const char *const suffixes[] = { ".qmp", ".sock" };
  for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (base, suffixes[i]))
      {
        g_autofree char *name = g_strndup (base, strlen (base) - strlen (suffixes[i]));
        if (!cfg_valid_vm_name (name))
          {
            g_debug ("qmp-dir: ignoring %s (VM names are [A-Za-z0-9._-], at most %d bytes)",
                     base, CFG_MAX_VM_NAME);
            return NULL;
          }
        return g_steal_pointer (&name);
      }
  return NULL;
}

static gboolean
vmdir_is_socket (const char *path, ino_t *inode)
{
  struct stat st;
  if (lstat (path, &st) != 0 || !S_ISSOCK (st.st_mode))
    return FALSE;
  if (inode)
    *inode = st.st_ino;
  return TRUE;
}

void
vmdir_rescan (VmDir *d)
{
  g_autoptr (GHashTable) seen
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vmdir_entry_free);
  g_autoptr (GDir) dir = g_dir_open (d->dir, 0, NULL);
  const char *base;
  while (dir && (base = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *name = vmdir_vm_name (base);
      if (name == NULL)
        continue;
      g_autofree char *path = g_build_filename (d->dir, base, NULL);
      ino_t inode;
      if (!vmdir_is_socket (path, &inode) || g_hash_table_contains (seen, name))
        continue;
      VmDirEntry *e = g_new0 (VmDirEntry, 1);
      e->path = g_steal_pointer (&path);
      e->inode = inode;
      g_hash_table_insert (seen, g_steal_pointer (&name), e);
    }

  /* Removals first, so a VM re-created under the same name is a fresh add. */
  GHashTableIter it;
  gpointer k, v;
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, d->known);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      VmDirEntry *now = g_hash_table_lookup (seen, k);
      if (now == NULL || now->inode != ((VmDirEntry *) v)->inode)
        g_ptr_array_add (gone, g_strdup (k));
    }
  for (guint i = 0; i < gone->len; i++)
    {
      const char *name = g_ptr_array_index (gone, i);
      VmDirEntry *e = g_hash_table_lookup (d->known, name);
      g_autofree char *path = g_strdup (e->path);
      g_hash_table_remove (d->known, name);
      d->fn (name, path, NULL, FALSE, d->user_data);
    }

  g_hash_table_iter_init (&it, seen);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      if (g_hash_table_contains (d->known, k))
        continue;
      VmDirEntry *src = v;
      VmDirEntry *e = g_new0 (VmDirEntry, 1);
      e->path = g_strdup (src->path);
      e->inode = src->inode;
      g_hash_table_insert (d->known, g_strdup (k), e);
      g_autofree char *agent_base = g_strconcat (k, ".agent", NULL);
      g_autofree char *agent = g_build_filename (d->dir, agent_base, NULL);
      d->fn (k, e->path, vmdir_is_socket (agent, NULL) ? agent : NULL, TRUE, d->user_data);
    }
}

static gboolean
vmdir_idle_scan (gpointer data)
{
  VmDir *d = data;
  d->idle_id = 0;
  vmdir_rescan (d);
  return G_SOURCE_REMOVE;
}

static void
vmdir_changed (GFileMonitor *m, GFile *file, GFile *other, GFileMonitorEvent ev, gpointer data)
{
  VmDir *d = data;
  /* Coalesce bursts (QEMU creating both sockets) into one scan. */
  if (d->idle_id == 0)
    d->idle_id = g_idle_add (vmdir_idle_scan, d);
}

VmDir *
vmdir_new (const char *dir, VmDirFn fn, gpointer user_data, GError **error)
{
  if (g_mkdir_with_parents (dir, 0750) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", dir, g_strerror (e));
      return NULL;
    }
  g_autoptr (GFile) f = g_file_new_for_path (dir);
  GFileMonitor *monitor = g_file_monitor_directory (f, G_FILE_MONITOR_WATCH_MOVES, NULL, error);
  if (monitor == NULL)
    return NULL;
  VmDir *d = g_new0 (VmDir, 1);
  d->dir = g_strdup (dir);
  d->monitor = monitor;
  d->fn = fn;
  d->user_data = user_data;
  d->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vmdir_entry_free);
  g_signal_connect (monitor, "changed", G_CALLBACK (vmdir_changed), d);
  d->idle_id = g_idle_add (vmdir_idle_scan, d);
  return d;
}

void
vmdir_free (VmDir *d)
{
  if (d == NULL)
    return;
  g_clear_handle_id (&d->idle_id, g_source_remove);
  g_signal_handlers_disconnect_by_data (d->monitor, d);
  g_file_monitor_cancel (d->monitor);
  g_object_unref (d->monitor);
  g_hash_table_unref (d->known);
  g_free (d->dir);
  g_free (d);
}
