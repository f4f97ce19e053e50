/* vmdir.c: watches the QMP socket directory with GFileMonitor and turns
 * socket files appearing/disappearing into VM add/remove calls; only a
 * directory no one but root (or ballastd's user) can write is trusted. */
#define G_LOG_DOMAIN "ballast-vmdir"

#include "vmdir.h"

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _VmDir
{
  char *dir;
  int dir_fd;   /* O_PATH: the directory that was checked, whatever its path becomes */
  char *fd_dir; /* "/proc/self/fd/N": sockets are reached through dir_fd */
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
            g_debug ("qmp-dir: ignoring %s (VM names are [A-Za-z0-9._-], at most %d bytes)", base,
                     CFG_MAX_VM_NAME);
            return NULL;
          }
        return g_steal_pointer (&name);
      }
  return NULL;
}

/* A socket directly in the directory: fstatat without following, so a
 * symlink (to another VM's socket, to some daemon's) is never taken. */
static gboolean
vmdir_is_socket (VmDir *d, const char *base, ino_t *inode)
{
  struct stat st;
  if (fstatat (d->dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK (st.st_mode))
    return FALSE;
  if (inode)
    *inode = st.st_ino;
  return TRUE;
}

/* A path that resolves through dir_fd: the directory cannot be swapped for
 * another under ballastd. The last component is resolved by connect(),
 * which follows a symlink, but nobody except the directory's owner (root
 * or ballastd's user, checked by vmdir_open_dir) can put one there. */
static char *
vmdir_fd_path (VmDir *d, const char *base)
{
  return g_build_filename (d->fd_dir, base, NULL);
}

void
vmdir_rescan (VmDir *d)
{
  g_autoptr (GHashTable) seen
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vmdir_entry_free);
  int list_fd = openat (d->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = list_fd >= 0 ? fdopendir (list_fd) : NULL;
  if (dir == NULL && list_fd >= 0)
    close (list_fd);
  struct dirent *de;
  while (dir && (de = readdir (dir)) != NULL)
    {
      g_autofree char *name = vmdir_vm_name (de->d_name);
      ino_t inode;
      if (name == NULL || !vmdir_is_socket (d, de->d_name, &inode)
          || g_hash_table_contains (seen, name))
        continue;
      VmDirEntry *e = g_new0 (VmDirEntry, 1);
      e->path = vmdir_fd_path (d, de->d_name);
      e->inode = inode;
      g_hash_table_insert (seen, g_steal_pointer (&name), e);
    }
  if (dir != NULL)
    closedir (dir);

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
      /* The agent socket may come a moment later: the link retries, and
       * checks its peer is the QEMU behind the QMP socket. */
      g_autofree char *agent_base = g_strconcat (k, ".agent", NULL);
      g_autofree char *agent = vmdir_fd_path (d, agent_base);
      d->fn (k, e->path, agent, TRUE, d->user_data);
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

/* Opens `dir` (created 0750 if missing) and checks that only root or
 * ballastd's user can add entries: anyone else could plant fake VMs,
 * forge another VM's agent, or take a name first. Returns the O_PATH fd. */
static int
vmdir_open_dir (const char *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0750) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", dir, g_strerror (e));
      return -1;
    }
  int fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", dir, g_strerror (e));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  const char *why = NULL;
  if (st.st_uid != 0 && st.st_uid != geteuid ())
    why = "is not owned by root or by ballastd's user";
  else if (st.st_mode & (S_IWGRP | S_IWOTH))
    why = "is writable by its group or by others";
  if (why != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%s %s (owner %u, mode %04o): anyone who can create sockets there could "
                   "add fake VMs; make it root-owned and 0750 or stricter (see docs/security.md)",
                   dir, why, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
      close (fd);
      return -1;
    }
  return fd;
}

gboolean
vmdir_check (const char *dir, GError **error)
{
  int fd = vmdir_open_dir (dir, error);
  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

static VmDir *
vmdir_alloc (const char *dir, int dir_fd, VmDirFn fn, gpointer user_data)
{
  VmDir *d = g_new0 (VmDir, 1);
  d->dir = g_strdup (dir);
  d->dir_fd = dir_fd;
  d->fd_dir = g_strdup_printf ("/proc/self/fd/%d", dir_fd);
  d->fn = fn;
  d->user_data = user_data;
  d->known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, vmdir_entry_free);
  return d;
}

VmDir *
vmdir_new (const char *dir, VmDirFn fn, gpointer user_data, GError **error)
{
  int dir_fd = vmdir_open_dir (dir, error);
  if (dir_fd < 0)
    return NULL;
  g_autoptr (GFile) f = g_file_new_for_path (dir);
  GFileMonitor *monitor = g_file_monitor_directory (f, G_FILE_MONITOR_WATCH_MOVES, NULL, error);
  if (monitor == NULL)
    {
      close (dir_fd);
      return NULL;
    }
  VmDir *d = vmdir_alloc (dir, dir_fd, fn, user_data);
  d->monitor = monitor;
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
  if (d->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (d->monitor, d);
      g_file_monitor_cancel (d->monitor);
      g_object_unref (d->monitor);
    }
  g_hash_table_unref (d->known);
  close (d->dir_fd);
  g_free (d->fd_dir);
  g_free (d->dir);
  g_free (d);
}

VmDir *
vmdir_snapshot (const char *dir, VmDirFn fn, gpointer user_data, GError **error)
{
  int dir_fd = vmdir_open_dir (dir, error);
  if (dir_fd < 0)
    return NULL;
  VmDir *d = vmdir_alloc (dir, dir_fd, fn, user_data);
  vmdir_rescan (d);
  return d;
}
