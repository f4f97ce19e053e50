/* manager.c: the VMs of every backend, the tick (sample → policy_decide →
 * actuate) and the daemon's life cycle (start, reload, stop). */
#define G_LOG_DOMAIN "ballast"

#include "manager-private.h"

#include "ballast-config.h"

#include <string.h>

#include "journal.h"
#include "release.h"

/* Kicks and pressure re-run the tick at once, but a storm of them must not
 * turn the daemon into a busy loop: at most one extra tick per 50 ms. */
#define MGR_MIN_TICK_GAP_US (50 * 1000)
static void mgr_tick (Manager *m, gboolean regular);

/* ---- VM bookkeeping (the owner side of VmOwner) --------------------------- */

gboolean
mgr_owner_adopt (Vm *vm, gpointer data)
{
  Manager *m = data;
  const char *name = vm_get_name (vm);
  if (g_hash_table_contains (m->vms, name) || !mgr_under_vm_cap (m, name))
    return FALSE;
  vm_set_id (vm, ++m->next_vm_id);
  vm_add_kicks (vm, POLICY_KICK_CREATED);
  g_hash_table_insert (m->vms, (gpointer) name, vm);
  ballast_log (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, BALLAST_LOG_VM_ADDED, name, NULL,
               "%s: added (%s, %s)", name, vm_get_backend (vm),
               vm_get_qmp_path (vm) ? vm_get_qmp_path (vm) : "-");
  ctl_server_emit (m->ctl, "VM_ADDED", vm_event_json (vm));
  vm_start (vm);
  return TRUE;
}

void
mgr_owner_remove (const char *name, gpointer data)
{
  Manager *m = data;
  Vm *vm = g_hash_table_lookup (m->vms, name);
  if (vm == NULL)
    return;
  ballast_log (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, BALLAST_LOG_VM_LOST, name, "removed",
               "%s: removed", name);
  ctl_server_emit (m->ctl, "VM_REMOVED", vm_event_json (vm));
  m->host_kicks |= POLICY_KICK_DESTROYED;
  g_hash_table_remove (m->vms, name);
}

static void
mgr_owner_note (Vm *vm, VmNote note, gpointer data)
{
  mgr_note (data, vm, note);
}

const VmOwner *
mgr_owner (Manager *m)
{
  return &m->owner;
}

static gboolean
mgr_urgent_cb (gpointer data)
{
  Manager *m = data;
  m->urgent_id = 0;
  mgr_tick (m, FALSE);
  return G_SOURCE_REMOVE;
}

void
mgr_note (Manager *m, Vm *vm, VmNote note)
{
  /* A lost VM is in no tick, so a kick on the VM itself would wait for it
   * to come back and then read as destroyed: the host takes the kick. */
  if (vm != NULL && note == VM_NOTE_LOST)
    m->host_kicks |= POLICY_KICK_DESTROYED;
  if (m->urgent_id != 0)
    return;
  gint64 wait_us = m->last_tick_mono_us + MGR_MIN_TICK_GAP_US - g_get_monotonic_time ();
  if (wait_us > 0)
    m->urgent_id = g_timeout_add (MAX (1, wait_us / 1000), mgr_urgent_cb, m);
  else
    m->urgent_id = g_idle_add (mgr_urgent_cb, m);
}

void
mgr_effective_policy (Manager *m, const Vm *vm, PolicyVmConfig *out)
{
  if (!vm_get_override (vm, out))
    cfg_vm_policy (m->cfg, vm_get_name (vm), out);
}

void
mgr_forget_dry_run_plans (Manager *m)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    vm_forget_target (v);
}

/* ---- actuation ------------------------------------------------------------ */

static void
mgr_log_decision (Manager *m, Vm *vm, const PolicyVmDecision *d, gboolean had_old,
                  guint64 old_target_bytes, gboolean applied)
{
  const char *name = vm_get_name (vm);
  DecisionEntry *e = decision_log_push (m->log, name, g_get_real_time () / 1000);
  e->had_old = had_old;
  e->old_target_bytes = old_target_bytes;
  e->had_new = TRUE;
  e->new_target_bytes = d->target_bytes;
  g_strlcpy (e->reason, d->reason ? d->reason : "", sizeof e->reason);
  e->applied = applied;
  g_autofree char *old_mib
      = had_old ? g_strdup_printf ("%" G_GUINT64_FORMAT, old_target_bytes >> 20) : g_strdup ("-");
  /* The ring and the event keep every decision; the journal only what fits
   * the VM's log budget, so a guest cannot flood it by changing its need. */
  if (vm_log_allowed (vm))
    ballast_log (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, BALLAST_LOG_DECISION, name, e->reason,
                 "%s: target %s -> %" G_GUINT64_FORMAT " MiB (%s)%s", name, old_mib,
                 e->new_target_bytes >> 20, e->reason, applied ? "" : " [dry-run]");
  ctl_server_emit (m->ctl, "BALLAST_DECISION",
                   json_pack ("{s:s,s:o,s:I,s:s,s:b}", "vm", name, "old_target_bytes",
                              ctl_json_bytes (had_old, old_target_bytes), "new_target_bytes",
                              (json_int_t) e->new_target_bytes, "reason", e->reason, "applied",
                              applied));
}

static void
mgr_apply_vms (Manager *m, Vm **vms, const PolicyDecision *d)
{
  for (size_t i = 0; i < d->n_vms; i++)
    {
      Vm *vm = vms[i];
      const PolicyVmDecision *vd = &d->vms[i];
      guint64 old_target_bytes;
      gboolean had_old = vm_record_decision (vm, vd, &old_target_bytes);
      if (vd->reclaim_bytes > 0 && !m->dry_run)
        vm_request_reclaim (vm, vd->reclaim_bytes);
      if (!vd->set_target)
        continue;
      gboolean apply = !m->dry_run && vm_get_state (vm) == VM_ACTIVE;
      mgr_log_decision (m, vm, vd, had_old, old_target_bytes, apply);
      if (apply)
        vm_set_balloon (vm, vd->target_bytes);
      else
        vm_plan_target (vm, vd->target_bytes);
    }
}

static void
mgr_apply_ksm (Manager *m, const PolicyKsmDecision *kd)
{
  PolicyKsmState old_state = m->have_ksm_decision ? m->ksm_decision.state : POLICY_KSM_IDLE;
  m->ksm_decision = *kd;
  m->have_ksm_decision = TRUE;
  /* Failures are logged by the sampler, once per run of them. */
  if (m->cfg->policy.ksm_mode == POLICY_KSM_MODE_AUTO && m->ksm.present)
    sample_ksm_apply (m->sample, kd, m->dry_run, NULL);
  if (kd->state == old_state)
    return;
  const char *reason = kd->reason ? kd->reason : "";
  m->ksm_state_since_ms = g_get_real_time () / 1000;
  ballast_log (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, BALLAST_LOG_KSM_STATE, NULL, reason,
               "KSM: %s -> %s (%s)", policy_ksm_state_name (old_state),
               policy_ksm_state_name (kd->state), reason);
  ctl_server_emit (m->ctl, "KSM_STATE",
                   json_pack ("{s:s,s:s,s:s}", "old", policy_ksm_state_name (old_state), "state",
                              policy_ksm_state_name (kd->state), "reason", reason));
}

/* The host became overloaded, or stopped being: the journal and an event
 * (HOST_OVERLOADED, HOST_OVERLOAD_CLEARED) with the same figures. */
static void
mgr_overload_changed (Manager *m, const PolicyDecision *d)
{
  gboolean on = d->host_overloaded;
  ballast_log (G_LOG_DOMAIN, on ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
               on ? BALLAST_LOG_OVERLOAD : BALLAST_LOG_OVERLOAD_CLEARED, NULL, d->host_reason,
               "host %s the budget (%" G_GUINT64_FORMAT " MiB %s %" G_GUINT64_FORMAT " MiB)%s",
               on ? "overloaded: needs exceed" : "no longer overloaded: needs fit",
               d->sum_need_bytes >> 20, on ? ">" : "<=", d->budget_bytes >> 20,
               on ? "; migrate a VM away" : "");
  ctl_server_emit (m->ctl, on ? "HOST_OVERLOADED" : "HOST_OVERLOAD_CLEARED",
                   json_pack ("{s:I,s:I,s:s}", "sum_need_bytes", (json_int_t) d->sum_need_bytes,
                              "budget_bytes", (json_int_t) d->budget_bytes, "reason",
                              d->host_reason ? d->host_reason : ""));
}

static void
mgr_apply_host (Manager *m, const PolicyDecision *d)
{
  if (d->host_overloaded != m->overloaded)
    mgr_overload_changed (m, d);
  m->overloaded = d->host_overloaded;
  m->budget_bytes = d->budget_bytes;
  m->reserve_bytes = d->reserve_bytes;
}

/* ---- the tick ------------------------------------------------------------- */

/* Fills the policy input of the active VMs (a lost or connecting VM holds
 * no budget); a regular tick first asks every VM for a new sample, an extra
 * one uses the last (one guest's news must not re-query every other VM).
 * Returns how many went in. */
static guint
mgr_collect_vms (Manager *m, gboolean regular, gint64 now_mono_us, Vm **vms, PolicyVm *pvms)
{
  gint64 tick_us = (gint64) m->cfg->policy.tick_ms * 1000;
  /* Merges into the zero page (use_zero_pages) move PSS as sharing does. */
  PolicyStat ksm_sharing_bytes
      = { .present = m->ksm.present,
          .value = (m->ksm.pages_sharing + m->ksm.ksm_zero_pages) * m->ksm.page_size_bytes };
  uint64_t vm_bytes = 0;
  guint k = 0;
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      Vm *vm = value;
      if (regular)
        vm_sample_tick (vm, now_mono_us, tick_us);
      if (vm_get_state (vm) != VM_ACTIVE)
        continue;
      vm_refresh_process_cost (vm, m->sample, &ksm_sharing_bytes, now_mono_us, tick_us);
      /* A VM whose PSS cannot be read still holds memory: counting it as
       * nothing would charge its guest to the host and shrink every VM. */
      vm_bytes += vm_host_usage_bytes (vm);
      PolicyVmConfig cfg;
      mgr_effective_policy (m, vm, &cfg);
      vms[k] = vm;
      vm_to_policy (vm, &cfg, now_mono_us, &pvms[k]);
      k++;
    }
  sample_host_non_vm (&m->host, vm_bytes);
  return k;
}

static void
mgr_tick (Manager *m, gboolean regular)
{
  gint64 now_mono_us = g_get_monotonic_time ();
  m->last_tick_mono_us = now_mono_us;
  m->n_ticks++;

  sample_host (m->sample, &m->host);
  sample_ksm (m->sample, &m->ksm, now_mono_us);
  guint n = MAX (g_hash_table_size (m->vms), 1);
  g_autofree Vm **vms = g_new0 (Vm *, n);
  g_autofree PolicyVm *pvms = g_new0 (PolicyVm, n);
  g_autofree PolicyVmDecision *dvms = g_new0 (PolicyVmDecision, n);
  guint k = mgr_collect_vms (m, regular, now_mono_us, vms, pvms);
  k = mgr_limit_booting (m, vms, pvms, k, now_mono_us);

  PolicySnapshot snap = {
    .now_ms = (uint64_t) (now_mono_us / 1000),
    .host = m->host,
    .ksm = m->ksm,
    .n_vms = k,
    .vms = pvms,
    .host_kicks = m->host_kicks,
  };
  PolicyDecision d = { .vms = dvms };
  PolicyDecideFn decide = policy_lookup (m->cfg->policy_name);
  if (decide == NULL)
    decide = policy_decide;
  if (decide (&snap, &m->cfg->policy, m->carry, &d) != 0)
    {
      g_warning ("policy rejected the snapshot; no action this tick");
      mgr_metrics_tick (m, regular, now_mono_us);
      return;
    }
  mgr_apply_vms (m, vms, &d);
  mgr_apply_ksm (m, &d.ksm);
  mgr_apply_host (m, &d);

  /* Kicks and urgent flags are consumed by the decision that saw them. */
  m->host_kicks = 0;
  for (guint i = 0; i < k; i++)
    vm_consume_signals (vms[i]);
  mgr_metrics_tick (m, regular, now_mono_us);
}

void
mgr_tick_now (Manager *m)
{
  mgr_tick (m, TRUE);
}

static gboolean
mgr_tick_cb (gpointer data)
{
  mgr_tick (data, TRUE);
  return G_SOURCE_CONTINUE;
}

static void
mgr_arm_timer (Manager *m)
{
  g_clear_handle_id (&m->tick_id, g_source_remove);
  guint tick_ms = (guint) CLAMP (m->cfg->policy.tick_ms, 50, 60000);
  m->tick_id = g_timeout_add (tick_ms, mgr_tick_cb, m);
}

/* ---- life cycle ------------------------------------------------------------- */

static void
mgr_log_warnings (BallastConfig *cfg)
{
  for (guint i = 0; i < cfg->warnings->len; i++)
    g_warning ("%s", (const char *) g_ptr_array_index (cfg->warnings, i));
}

Manager *
mgr_new (BallastConfig *cfg, GMainLoop *loop, GError **error)
{
  g_autoptr (BallastConfig) owned = cfg;
  Manager *m = g_new0 (Manager, 1);
  m->loop = g_main_loop_ref (loop);
  m->cfg = g_steal_pointer (&owned);
  m->owner = (VmOwner){
    .adopt = mgr_owner_adopt, .remove = mgr_owner_remove, .note = mgr_owner_note, .user_data = m
  };
  m->dry_run = m->cfg->dry_run || m->cfg->dry_run_forced;
  m->start_mono_us = g_get_monotonic_time ();
  m->vms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) vm_free);
  m->carry = policy_carry_new ();
  m->log = decision_log_new ();
  m->sources = g_ptr_array_new_with_free_func (g_free);
  mgr_log_warnings (m->cfg);

  m->sample = sample_new (m->cfg->ksm_sysfs, m->cfg->ksm_restore_on_exit, m->cfg->ksm_saved_path,
                          m->dry_run);
  m->ctl = ctl_server_new (m->cfg->control_socket, m->cfg->control_group, mgr_commands,
                           mgr_n_commands, m, error);
  if (m->ctl != NULL && m->cfg->read_only_socket != NULL
      && !ctl_server_add_read_only (m->ctl, m->cfg->read_only_socket, m->cfg->read_only_group,
                                    error))
    g_clear_pointer (&m->ctl, ctl_server_free);
  if (m->ctl == NULL)
    g_prefix_error (error, "control socket: ");
  if (m->ctl == NULL || !mgr_sync_vmdir (m, error))
    {
      mgr_free (m);
      return NULL;
    }
  if (!mgr_http_sync (m, error))
    {
      mgr_free (m);
      return NULL;
    }
  mgr_sync_static_vms (m);
  mgr_sync_libvirt (m);
  mgr_arm_timer (m);
  /* First decision right away so the control socket has data at once. */
  mgr_note (m, NULL, VM_NOTE_KICK);
  return m;
}

/* What outlives a reload: the open control socket and any dry-run that the
 * command line or set-dry-run asked for. */
static void
mgr_carry_over (Manager *m, BallastConfig *fresh)
{
  if (g_strcmp0 (fresh->control_socket, m->cfg->control_socket) != 0)
    g_warning ("control-socket changes take effect at restart");
  g_free (fresh->control_socket);
  fresh->control_socket = g_strdup (m->cfg->control_socket);
  fresh->dry_run_forced = m->cfg->dry_run_forced;
  gboolean was_dry = m->dry_run;
  m->dry_run = fresh->dry_run || fresh->dry_run_forced || m->dry_run_runtime;
  if (was_dry && !m->dry_run)
    mgr_forget_dry_run_plans (m);
}

gboolean
mgr_reload (Manager *m, GError **error)
{
  g_autoptr (BallastConfig) fresh = cfg_load (m->cfg->path, TRUE, error);
  if (fresh == NULL)
    {
      g_warning ("reload failed, keeping the running configuration: %s",
                 error && *error ? (*error)->message : "?");
      return FALSE;
    }
  mgr_log_warnings (fresh);
  gboolean restart_dir = g_strcmp0 (fresh->qmp_dir, m->cfg->qmp_dir) != 0;
  g_autoptr (GError) dir_error = NULL;
  if (restart_dir && fresh->qmp_dir != NULL && !vmdir_check (fresh->qmp_dir, &dir_error))
    {
      g_warning ("reload failed, keeping the running configuration: qmp-dir: %s",
                 dir_error->message);
      g_propagate_prefixed_error (error, g_steal_pointer (&dir_error), "qmp-dir: ");
      return FALSE;
    }
  mgr_carry_over (m, fresh);
  if (restart_dir)
    mgr_remove_backend_vms (m, "qmp-dir");
  cfg_free (m->cfg);
  m->cfg = g_steal_pointer (&fresh);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    vm_clear_override (v);
  g_autoptr (GError) local = NULL;
  if (restart_dir && !mgr_sync_vmdir (m, &local))
    g_warning ("%s", local->message);
  mgr_sync_static_vms (m);
  mgr_sync_libvirt (m);
  mgr_http_reload (m);
  mgr_arm_timer (m);
  g_message ("configuration reloaded from %s", m->cfg->path);
  mgr_note (m, NULL, VM_NOTE_KICK);
  return TRUE;
}

json_t *
mgr_dispatch (Manager *m, gboolean *negotiated, const char *line, gsize len, gboolean *hang_up)
{
  return ctl_dispatch (mgr_commands, mgr_n_commands, m, negotiated, line, len, hang_up);
}

char *
mgr_status_line (Manager *m)
{
  guint active = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    active += vm_get_state (v) == VM_ACTIVE;
  return g_strdup_printf ("%u VMs (%u active), budget %" G_GUINT64_FORMAT " MiB, KSM %s%s",
                          g_hash_table_size (m->vms), active, m->budget_bytes >> 20,
                          policy_ksm_state_name (m->ksm_decision.state),
                          m->dry_run ? ", dry-run" : "");
}

void
mgr_free (Manager *m)
{
  if (m == NULL)
    return;
  g_clear_handle_id (&m->tick_id, g_source_remove);
  g_clear_handle_id (&m->urgent_id, g_source_remove);
  g_clear_pointer (&m->vmdir, vmdir_free);
#if HAVE_LIBVIRT
  g_clear_pointer (&m->libvirt, lv_backend_free); /* removes its VMs */
#endif
  g_clear_pointer (&m->vms, g_hash_table_unref);
  mgr_http_stop (m);
  g_clear_pointer (&m->ctl, ctl_server_free);
  g_clear_pointer (&m->sample, sample_free); /* restores KSM knobs */
  g_clear_pointer (&m->carry, policy_carry_free);
  g_clear_pointer (&m->log, decision_log_free);
  g_clear_pointer (&m->sources, g_ptr_array_unref);
  g_clear_pointer (&m->booting_since, g_hash_table_unref);
  cfg_free (m->cfg);
  g_main_loop_unref (m->loop);
  g_free (m);
}

void
mgr_release (Manager *m)
{
  if (!m->cfg->release_on_exit || m->dry_run)
    return;
  /* A QEMU's monitor serves one client: the daemon's links close first. */
  g_clear_handle_id (&m->tick_id, g_source_remove);
  g_clear_handle_id (&m->urgent_id, g_source_remove);
  g_clear_pointer (&m->vmdir, vmdir_free);
#if HAVE_LIBVIRT
  g_clear_pointer (&m->libvirt, lv_backend_free);
#endif
  g_hash_table_remove_all (m->vms);
  release_run (m->cfg, m->sample, RELEASE_DEADLINE_MS);
}
