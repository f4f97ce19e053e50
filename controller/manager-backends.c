/* manager-backends.c: the backends the manager runs from its config: the
 * socket directory, static [vm] sections and libvirt, kept in step on reload. */
#define G_LOG_DOMAIN "ballast"

#include "manager-private.h"

#include <sys/stat.h>

#include "vm-qmp.h"

/* A qmp-dir or static VM: added, or reconnected when its QEMU restarted. */
static void
mgr_add_qmp_vm (Manager *m, const char *name, const char *backend, const char *qmp_path,
                const char *agent_path)
{
  Vm *vm = g_hash_table_lookup (m->vms, name);
  if (vm != NULL && g_strcmp0 (vm_get_backend (vm), backend) != 0)
    {
      /* The first backend keeps the name (a libvirt domain and a socket of
       * the same name are not the same VM). */
      g_warning ("%s: already a %s VM; the %s one (%s) is not managed", name, vm_get_backend (vm),
                 backend, qmp_path);
      return;
    }
  if (vm != NULL)
    {
      vm_set_paths (vm, qmp_path, agent_path);
      vm_start (vm);
      return;
    }
  vm = vm_qmp_new (&m->owner, name, backend, qmp_path, agent_path);
  if (!mgr_owner_adopt (vm, m))
    vm_free (vm);
}

/* Removes every VM that came from `backend` (its source went away). */
void
mgr_remove_backend_vms (Manager *m, const char *backend)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (g_strcmp0 (vm_get_backend (v), backend) == 0)
      g_ptr_array_add (names, g_strdup (k));
  for (guint i = 0; i < names->len; i++)
    mgr_owner_remove (g_ptr_array_index (names, i), m);
}

/* TRUE when `path` is one of ballastd's own control sockets (same inode),
 * as when control-socket is placed inside the qmp-dir. */
static gboolean
mgr_is_own_socket (Manager *m, const char *path)
{
  const char *own[] = { m->cfg->control_socket, m->cfg->read_only_socket };
  struct stat st, o;
  if (stat (path, &st) != 0)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (own); i++)
    if (own[i] != NULL && stat (own[i], &o) == 0 && o.st_dev == st.st_dev && o.st_ino == st.st_ino)
      return TRUE;
  return FALSE;
}

static void
mgr_on_vmdir (const char *name, const char *qmp_path, const char *agent_path, gboolean present,
              gpointer data)
{
  Manager *m = data;
  if (present && mgr_is_own_socket (m, qmp_path))
    {
      g_debug ("qmp-dir: %s is ballastd's own control socket, not a VM", qmp_path);
      return;
    }
  /* vmdir names NAME.agent beside the QMP socket (it may appear later). */
  if (present)
    mgr_add_qmp_vm (m, name, "qmp-dir", qmp_path, agent_path);
  else
    {
      Vm *vm = g_hash_table_lookup (m->vms, name);
      if (vm != NULL && g_strcmp0 (vm_get_backend (vm), "qmp-dir") == 0)
        mgr_owner_remove (name, m);
    }
  mgr_note (m, NULL, VM_NOTE_KICK);
}

void
mgr_sync_static_vms (Manager *m)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->cfg->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      CfgVm *c = v;
      if (c->qmp_path == NULL)
        continue;
      Vm *vm = g_hash_table_lookup (m->vms, c->name);
      if (vm == NULL || g_strcmp0 (vm_get_qmp_path (vm), c->qmp_path) != 0)
        mgr_add_qmp_vm (m, c->name, "static", c->qmp_path, c->agent_path);
    }
  /* Static VMs whose section went away on reload. */
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      CfgVm *c = g_hash_table_lookup (m->cfg->vms, k);
      if (g_str_equal (vm_get_backend (v), "static") && (c == NULL || c->qmp_path == NULL))
        g_ptr_array_add (gone, g_strdup (k));
    }
  for (guint i = 0; i < gone->len; i++)
    mgr_owner_remove (g_ptr_array_index (gone, i), m);
}

/* Starts, restarts (new URI) or stops the libvirt backend to match the config. */
void
mgr_sync_libvirt (Manager *m)
{
#if HAVE_LIBVIRT
  if (m->libvirt && g_strcmp0 (lv_backend_get_uri (m->libvirt), m->cfg->libvirt_uri) == 0)
    return;
  g_clear_pointer (&m->libvirt, lv_backend_free);
  if (m->cfg->libvirt_uri)
    m->libvirt = lv_backend_new (&m->owner, m->cfg->libvirt_uri);
#else
  if (m->cfg->libvirt_uri)
    g_warning ("[libvirt] uri is set but this ballastd was built without libvirt");
#endif
}

/* Follows qmp-dir; on reload, the old directory's VMs go first. */
gboolean
mgr_sync_vmdir (Manager *m, GError **error)
{
  g_clear_pointer (&m->vmdir, vmdir_free);
  if (m->cfg->qmp_dir == NULL)
    return TRUE;
  m->vmdir = vmdir_new (m->cfg->qmp_dir, mgr_on_vmdir, m, error);
  if (m->vmdir == NULL)
    g_prefix_error (error, "qmp-dir: ");
  return m->vmdir != NULL;
}
