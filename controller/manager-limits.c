/* manager-limits.c: what the VMs of a socket directory can make the daemon
 * hold: at most max-vms of them, and a capped, timed reserve while booting. */
#define G_LOG_DOMAIN "ballast"

#include "manager-private.h"

/* [daemon] max-vms: a flood of sockets cannot make every tick walk (and
 * reserve for) thousands of VMs. Says so once per run of refusals. */
gboolean
mgr_under_vm_cap (Manager *m, const char *name)
{
  if (g_hash_table_size (m->vms) < m->cfg->max_vms)
    {
      m->vm_cap_logged = FALSE;
      return TRUE;
    }
  if (!m->vm_cap_logged)
    g_warning ("%s: not managed: already %u VMs ([daemon] max-vms)", name, m->cfg->max_vms);
  m->vm_cap_logged = TRUE;
  return FALSE;
}

typedef struct
{
  gint64 since_mono_us;
  gboolean expired_logged;
} MgrBooting;

/* A VM without a running balloon is STARTING to the policy, which holds
 * its whole RAM in reserve: a fake QEMU reporting a huge RAM could squeeze
 * every real VM. The reserve is capped at [daemon] booting-max, and past
 * booting-time the VM leaves the snapshot (its real use still counts as the
 * host's). The clock runs from the first tick that saw it starting and is
 * kept while it reconnects, so a VM cannot restart it by dropping its link;
 * it ends when the VM runs with a balloon or goes. Returns the new count. */
guint
mgr_limit_booting (Manager *m, Vm **vms, PolicyVm *pvms, guint n, gint64 now_mono_us)
{
  if (m->booting_since == NULL)
    m->booting_since = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* A percentage of an unknown host caps nothing rather than everything. */
  const PolicySize *max = &m->cfg->booting_max;
  uint64_t cap_bytes = max->is_pct && m->host.mem_total_bytes == 0
                           ? G_MAXUINT64
                           : policy_size_resolve (max, m->host.mem_total_bytes, G_MAXUINT64);
  guint k = 0;
  for (guint i = 0; i < n; i++)
    {
      const char *name = vm_get_name (vms[i]);
      if (pvms[i].state != POLICY_VM_STATE_STARTING)
        g_hash_table_remove (m->booting_since, name);
      else
        {
          MgrBooting *b = g_hash_table_lookup (m->booting_since, name);
          if (b == NULL)
            {
              b = g_new0 (MgrBooting, 1);
              b->since_mono_us = now_mono_us;
              g_hash_table_insert (m->booting_since, g_strdup (name), b);
            }
          gint64 held_ms = (now_mono_us - b->since_mono_us) / 1000;
          if (held_ms >= 0 && (guint64) held_ms >= m->cfg->booting_time_ms)
            {
              if (!b->expired_logged)
                g_warning ("%s: no running balloon after %" G_GINT64_FORMAT " s; its RAM is no "
                           "longer held in reserve ([daemon] booting-time)",
                           name, held_ms / 1000);
              b->expired_logged = TRUE;
              continue;
            }
          pvms[i].ram_bytes = MIN (pvms[i].ram_bytes, cap_bytes);
        }
      vms[k] = vms[i];
      pvms[k] = pvms[i];
      k++;
    }
  /* VMs that went: their clock goes with them. */
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, m->booting_since);
  while (g_hash_table_iter_next (&it, &key, NULL))
    if (!g_hash_table_contains (m->vms, key))
      g_hash_table_iter_remove (&it);
  return k;
}
