/* manager.c: the tick (sample → policy_decide → actuate), VM bookkeeping,
 * the decision log, control-socket commands and reloads. */
#define G_LOG_DOMAIN "ballast"

#include "manager.h"

#include "ballast-config.h"

#include <string.h>

#include "control.h"
#if HAVE_LIBVIRT
#include "libvirt.h"
#endif
#include "sample.h"
#include "vmdir.h"

/* Enough history for an operator to see the last minutes of a busy host. */
#define MGR_DECISION_LOG_LEN 512
/* Kicks and pressure re-run the tick at once, but a storm of them must not
 * turn the daemon into a busy loop: at most one extra tick per 50 ms. */
#define MGR_MIN_TICK_GAP_US (50 * 1000)
/* Event sources (hooks, libvirt) on one host: a handful. */
#define MGR_MAX_SOURCES 64

typedef struct
{
  gint64 time_ms; /* wall clock, ms since the epoch */
  char vm[CFG_MAX_VM_NAME + 1];
  guint64 old_target_bytes;
  gboolean had_old;
  guint64 new_target_bytes;
  char reason[48];
  gboolean applied; /* FALSE in dry-run */
} MgrDecisionEntry;

struct _Manager
{
  GMainLoop *loop;
  BallastConfig *cfg;
  gboolean dry_run;
  gboolean dry_run_runtime; /* set-dry-run on: kept across reloads */
  GHashTable *vms; /* name -> Vm* */
  uint64_t next_vm_id;
  guint tick_id;
  guint urgent_id;
  gint64 last_tick_mono_us;
  gint64 start_mono_us;
  guint64 n_ticks;
  PolicyCarry *carry;
  PolicyHost host;
  PolicyKsm ksm;
  PolicyKsmDecision ksm_decision;
  gboolean have_ksm_decision;
  uint64_t budget_bytes;
  uint64_t reserve_bytes;
  gboolean overloaded;
  uint32_t host_kicks;
  MgrDecisionEntry log[MGR_DECISION_LOG_LEN];
  guint log_next;
  guint log_count;
  CtlServer *ctl;
  VmDir *vmdir;
#if HAVE_LIBVIRT
  LvBackend *libvirt;
#endif
  SampleCtx *sample;
  GPtrArray *sources; /* registered event sources (names) */
  double ksmd_cpu_pct;
  uint64_t last_ksmd_cpu_ns;
  gint64 last_ksmd_mono_us;
  gint64 ksm_state_since_ms; /* wall clock of the last KSM state change */
};

static void mgr_tick (Manager *m);

/* ---- VM bookkeeping ----------------------------------------------------- */

static json_t *
mgr_vm_event_data (Vm *vm)
{
  return json_pack ("{s:s,s:s}", "name", vm->name, "backend", vm->backend);
}

gboolean
mgr_adopt_vm (Manager *m, Vm *vm)
{
  if (g_hash_table_contains (m->vms, vm->name))
    return FALSE;
  vm->id = ++m->next_vm_id;
  vm->kicks |= POLICY_KICK_CREATED;
  g_hash_table_insert (m->vms, vm->name, vm);
  g_message ("%s: added (%s, %s)", vm->name, vm->backend, vm->qmp_path ? vm->qmp_path : "-");
  ctl_server_emit (m->ctl, "VM_ADDED", mgr_vm_event_data (vm));
  vm_start (vm);
  return TRUE;
}

static Vm *
mgr_add_vm (Manager *m, const char *name, const char *backend, const char *qmp_path,
            const char *agent_path)
{
  Vm *vm = g_hash_table_lookup (m->vms, name);
  if (vm != NULL && g_strcmp0 (vm->backend, backend) != 0)
    {
      /* The first backend keeps the name (a libvirt domain and a socket of
       * the same name are not the same VM). */
      g_warning ("%s: already a %s VM; the %s one (%s) is not managed", name, vm->backend,
                 backend, qmp_path);
      return NULL;
    }
  if (vm != NULL)
    {
      /* Same name, new socket (a QEMU restarted): reconnect at once. */
      if (g_strcmp0 (vm->qmp_path, qmp_path) != 0)
        {
          g_free (vm->qmp_path);
          vm->qmp_path = g_strdup (qmp_path);
        }
      if (agent_path && g_strcmp0 (vm->agent_path, agent_path) != 0)
        {
          g_free (vm->agent_path);
          vm->agent_path = g_strdup (agent_path);
        }
      vm_start (vm);
      return vm;
    }
  vm = vm_new (m, 0, name, backend, qmp_path, agent_path);
  mgr_adopt_vm (m, vm);
  return vm;
}

void
mgr_remove_vm (Manager *m, const char *name)
{
  Vm *vm = g_hash_table_lookup (m->vms, name);
  if (vm == NULL)
    return;
  g_message ("%s: removed", name);
  ctl_server_emit (m->ctl, "VM_REMOVED", mgr_vm_event_data (vm));
  m->host_kicks |= POLICY_KICK_DESTROYED;
  g_hash_table_remove (m->vms, name);
}

/* Removes every VM that came from `backend` (its source went away). */
static void
mgr_remove_backend_vms (Manager *m, const char *backend)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (g_strcmp0 (((Vm *) v)->backend, backend) == 0)
      g_ptr_array_add (names, g_strdup (k));
  for (guint i = 0; i < names->len; i++)
    mgr_remove_vm (m, g_ptr_array_index (names, i));
}

static void
mgr_on_vmdir (const char *name, const char *qmp_path, const char *agent_path, gboolean present,
              gpointer data)
{
  Manager *m = data;
  if (present)
    {
      g_autofree char *agent = agent_path ? g_strdup (agent_path) : NULL;
      if (agent == NULL)
        {
          /* The agent socket may show up a moment after the QMP one. */
          g_autofree char *dir = g_path_get_dirname (qmp_path);
          g_autofree char *base = g_strconcat (name, ".agent", NULL);
          agent = g_build_filename (dir, base, NULL);
        }
      mgr_add_vm (m, name, "qmp-dir", qmp_path, agent);
    }
  else
    {
      Vm *vm = g_hash_table_lookup (m->vms, name);
      if (vm != NULL && g_strcmp0 (vm->backend, "qmp-dir") == 0)
        mgr_remove_vm (m, name);
    }
  mgr_vm_note (m, NULL, VM_NOTE_KICK);
}

static gboolean
mgr_urgent_cb (gpointer data)
{
  Manager *m = data;
  m->urgent_id = 0;
  mgr_tick (m);
  return G_SOURCE_REMOVE;
}

void
mgr_vm_note (Manager *m, Vm *vm, VmNote note)
{
  /* A lost VM is in no tick, so a kick on the VM itself would wait for it
   * to come back and then read as destroyed: the host takes the kick. */
  if (vm != NULL && note == VM_NOTE_LOST)
    m->host_kicks |= POLICY_KICK_DESTROYED;
  if (vm != NULL && note == VM_NOTE_ACTIVE)
    vm->kicks = (vm->kicks & ~(uint32_t) POLICY_KICK_DESTROYED) | POLICY_KICK_STARTED;
  if (m->urgent_id != 0)
    return;
  gint64 wait_us = m->last_tick_mono_us + MGR_MIN_TICK_GAP_US - g_get_monotonic_time ();
  if (wait_us > 0)
    m->urgent_id = g_timeout_add (MAX (1, wait_us / 1000), mgr_urgent_cb, m);
  else
    m->urgent_id = g_idle_add (mgr_urgent_cb, m);
}

/* ---- the tick ----------------------------------------------------------- */

static void
mgr_vm_effective_policy (Manager *m, Vm *vm, PolicyVmConfig *out)
{
  if (vm->has_override)
    *out = vm->override;
  else
    cfg_vm_policy (m->cfg, vm->name, out);
}

/* The next slot of the decision ring, cleared and stamped now. */
static MgrDecisionEntry *
mgr_log_push (Manager *m, const char *vm_name)
{
  MgrDecisionEntry *e = &m->log[m->log_next];
  memset (e, 0, sizeof *e);
  e->time_ms = g_get_real_time () / 1000;
  g_strlcpy (e->vm, vm_name, sizeof e->vm);
  m->log_next = (m->log_next + 1) % MGR_DECISION_LOG_LEN;
  m->log_count = MIN (m->log_count + 1, MGR_DECISION_LOG_LEN);
  return e;
}

static void
mgr_log_decision (Manager *m, Vm *vm, const PolicyVmDecision *d, gboolean applied)
{
  MgrDecisionEntry *e = mgr_log_push (m, vm->name);
  e->had_old = vm->last_target_bytes.present;
  e->old_target_bytes = vm->last_target_bytes.value;
  e->new_target_bytes = d->target_bytes;
  g_strlcpy (e->reason, d->reason ? d->reason : "", sizeof e->reason);
  e->applied = applied;
  g_autofree char *old_mib = e->had_old ? g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                           e->old_target_bytes >> 20)
                                         : g_strdup ("-");
  g_message ("%s: target %s -> %" G_GUINT64_FORMAT " MiB (%s)%s", vm->name, old_mib,
             e->new_target_bytes >> 20, e->reason, applied ? "" : " [dry-run]");
  ctl_server_emit (m->ctl, "BALLAST_DECISION",
                   json_pack ("{s:s,s:o,s:I,s:s,s:b}", "vm", vm->name, "old_target_bytes",
                              e->had_old ? json_integer ((json_int_t) e->old_target_bytes)
                                         : json_null (),
                              "new_target_bytes", (json_int_t) e->new_target_bytes, "reason",
                              e->reason, "applied", applied));
}

static void
mgr_apply (Manager *m, Vm **vms, const PolicyDecision *d)
{
  for (size_t i = 0; i < d->n_vms; i++)
    {
      Vm *vm = vms[i];
      const PolicyVmDecision *vd = &d->vms[i];
      vm->last = *vd;
      vm->has_decision = TRUE;
      g_strlcpy (vm->last_reason, vd->reason ? vd->reason : "", sizeof vm->last_reason);
      if (!vd->set_target)
        continue;
      gboolean apply = !m->dry_run && vm->state == VM_ACTIVE;
      mgr_log_decision (m, vm, vd, apply);
      if (apply)
        vm_set_balloon (vm, vd->target_bytes);
      else
        {
          /* Remember the plan so the policy sees it as in flight. */
          vm->last_target_bytes.present = TRUE;
          vm->last_target_bytes.value = vd->target_bytes;
        }
    }

  PolicyKsmState old_state = m->have_ksm_decision ? m->ksm_decision.state : POLICY_KSM_IDLE;
  m->ksm_decision = d->ksm;
  m->have_ksm_decision = TRUE;
  if (m->cfg->policy.ksm_mode == POLICY_KSM_MODE_AUTO && m->ksm.present)
    {
      /* Failures are logged by the sampler, once per run of them. */
      sample_ksm_apply (m->sample, &d->ksm, m->dry_run, NULL);
    }
  if (d->ksm.state != old_state)
    {
      m->ksm_state_since_ms = g_get_real_time () / 1000;
      g_message ("KSM: %s -> %s (%s)", policy_ksm_state_name (old_state),
                 policy_ksm_state_name (d->ksm.state), d->ksm.reason ? d->ksm.reason : "");
      ctl_server_emit (m->ctl, "KSM_STATE",
                       json_pack ("{s:s,s:s,s:s}", "old", policy_ksm_state_name (old_state),
                                  "state", policy_ksm_state_name (d->ksm.state), "reason",
                                  d->ksm.reason ? d->ksm.reason : ""));
    }

  if (d->host_overloaded && !m->overloaded)
    {
      g_warning ("host overloaded: needs exceed the budget (%" G_GUINT64_FORMAT
                 " MiB > %" G_GUINT64_FORMAT " MiB); migrate a VM away",
                 d->sum_need_bytes >> 20, d->budget_bytes >> 20);
      ctl_server_emit (m->ctl, "HOST_OVERLOADED",
                       json_pack ("{s:I,s:I,s:s}", "sum_need_bytes", (json_int_t) d->sum_need_bytes,
                                  "budget_bytes", (json_int_t) d->budget_bytes, "reason",
                                  d->host_reason ? d->host_reason : ""));
    }
  m->overloaded = d->host_overloaded;
  m->budget_bytes = d->budget_bytes;
}

static void
mgr_tick (Manager *m)
{
  gint64 now_mono_us = g_get_monotonic_time ();
  gint64 now_real_us = g_get_real_time ();
  m->last_tick_mono_us = now_mono_us;
  m->n_ticks++;

  sample_host (m->sample, &m->host);
  sample_ksm (m->sample, &m->ksm);
  if (m->ksm.ksmd_cpu_ns.present)
    {
      if (m->last_ksmd_mono_us > 0 && now_mono_us > m->last_ksmd_mono_us
          && m->ksm.ksmd_cpu_ns.value >= m->last_ksmd_cpu_ns)
        m->ksmd_cpu_pct = 100.0 * (double) (m->ksm.ksmd_cpu_ns.value - m->last_ksmd_cpu_ns)
                          / ((double) (now_mono_us - m->last_ksmd_mono_us) * 1000.0);
      m->last_ksmd_cpu_ns = m->ksm.ksmd_cpu_ns.value;
      m->last_ksmd_mono_us = now_mono_us;
    }

  guint n = g_hash_table_size (m->vms);
  g_autofree Vm **vms = g_new0 (Vm *, MAX (n, 1));
  g_autofree PolicyVm *pvms = g_new0 (PolicyVm, MAX (n, 1));
  g_autofree PolicyVmDecision *dvms = g_new0 (PolicyVmDecision, MAX (n, 1));
  guint k = 0;
  uint64_t vm_pss_bytes = 0;
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      Vm *vm = value;
      vm_sample (vm);
      if (vm->state != VM_ACTIVE)
        continue; /* a lost or connecting VM holds no budget */
      /* Extra ticks (kicks, guest pressure) reuse the process figures of the
       * last regular tick: a guest must not make the daemon walk other
       * tenants' QEMUs at 20 Hz. */
      if (now_mono_us - vm->proc_sampled_mono_us >= (gint64) m->cfg->policy.tick_ms * 900)
        {
          sample_vm_process (m->sample, vm->pid, &vm->pss_bytes, &vm->ksm_merging_pages,
                             &vm->cgroup_kernel_bytes);
          vm->proc_sampled_mono_us = now_mono_us;
        }
      if (vm->pss_bytes.present)
        vm_pss_bytes += vm->pss_bytes.value;
      PolicyVmConfig cfg;
      mgr_vm_effective_policy (m, vm, &cfg);
      vms[k] = vm;
      vm_to_policy (vm, &cfg, now_mono_us, now_real_us, &pvms[k]);
      k++;
    }
  sample_host_non_vm (&m->host, vm_pss_bytes);

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
      return;
    }
  m->reserve_bytes = d.reserve_bytes;
  mgr_apply (m, vms, &d);

  /* Kicks and urgent flags are consumed by the decision that saw them. */
  m->host_kicks = 0;
  for (guint i = 0; i < k; i++)
    {
      vms[i]->kicks = 0;
      vms[i]->urgent = FALSE;
    }
}

static gboolean
mgr_tick_cb (gpointer data)
{
  mgr_tick (data);
  return G_SOURCE_CONTINUE;
}

static void
mgr_arm_timer (Manager *m)
{
  g_clear_handle_id (&m->tick_id, g_source_remove);
  guint tick_ms = (guint) CLAMP (m->cfg->policy.tick_ms, 50, 60000);
  m->tick_id = g_timeout_add (tick_ms, mgr_tick_cb, m);
}

/* ---- control socket commands ------------------------------------------- */

static Vm *
mgr_vm_arg (Manager *m, json_t *args, GError **error)
{
  const char *name = json_string_value (json_object_get (args, "name"));
  if (name == NULL)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'name' (string) is required");
      return NULL;
    }
  Vm *vm = g_hash_table_lookup (m->vms, name);
  if (vm == NULL)
    g_set_error (error, CTL_ERROR, CTL_ERROR_NOT_FOUND, "no VM named '%s'", name);
  return vm;
}

static json_t *
mgr_bytes_or_null (gboolean present, guint64 v)
{
  return present ? json_integer ((json_int_t) MIN (v, (guint64) G_MAXINT64)) : json_null ();
}

static json_t *
mgr_vm_json (Manager *m, Vm *vm)
{
  PolicyVmConfig cfg;
  mgr_vm_effective_policy (m, vm, &cfg);
  const char *pressure = vm->urgent ? "urgent" : "none";
  if (vm->agent_report_seen && vm->agent_report.has_psi
      && vm->agent_report.some_avg10_pct > cfg.pressure_target_pct)
    pressure = "some";
  return json_pack ("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:s}", "name", vm->name,
                    "state", vm->paused ? "paused" : vm_link_state_name (vm->state), "backend",
                    vm->backend, "mode", policy_vm_mode_name (cfg.mode), "max_bytes",
                    mgr_bytes_or_null (vm->has_decision, vm->last.max_bytes), "min_bytes",
                    mgr_bytes_or_null (vm->has_decision, vm->last.min_bytes), "actual_bytes",
                    mgr_bytes_or_null (vm->actual_bytes.present, vm->actual_bytes.value),
                    "target_bytes", mgr_bytes_or_null (vm->has_decision, vm->last.target_bytes),
                    "need_bytes", mgr_bytes_or_null (vm->has_decision, vm->last.need_bytes),
                    "ws_source", vm_ws_source_name (vm), "pressure", pressure, "last_reason",
                    vm->last_reason);
}

static json_t *
cmd_query_vms (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *list = json_array ();
  g_autoptr (GList) names = g_hash_table_get_keys (m->vms);
  names = g_list_sort (names, (GCompareFunc) g_strcmp0);
  for (GList *l = names; l; l = l->next)
    json_array_append_new (list, mgr_vm_json (m, g_hash_table_lookup (m->vms, l->data)));
  return list;
}

static json_t *
mgr_stat_json (const QmpStatValue *v)
{
  return mgr_bytes_or_null (v->present, v->value);
}

static json_t *
cmd_query_vm (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  Vm *vm = mgr_vm_arg (m, args, error);
  if (vm == NULL)
    return NULL;
  json_t *o = mgr_vm_json (m, vm);
  const QmpGuestStats *st = &vm->stats;
  json_object_set_new (
      o, "stats",
      json_pack ("{s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "total_bytes", mgr_stat_json (&st->total_bytes),
                 "free_bytes", mgr_stat_json (&st->free_bytes), "available_bytes",
                 mgr_stat_json (&st->available_bytes), "disk_caches_bytes",
                 mgr_stat_json (&st->disk_caches_bytes), "major_faults",
                 mgr_stat_json (&st->major_faults), "minor_faults",
                 mgr_stat_json (&st->minor_faults), "last_update_s",
                 (json_int_t) st->last_update_s));
  json_object_set_new (o, "host",
                       json_pack ("{s:i,s:o,s:o}", "pid", vm->pid, "pss_bytes",
                                  mgr_bytes_or_null (vm->pss_bytes.present, vm->pss_bytes.value),
                                  "ksm_merging_pages",
                                  mgr_bytes_or_null (vm->ksm_merging_pages.present,
                                                     vm->ksm_merging_pages.value)));
  json_object_set_new (o, "ram_bytes", json_integer ((json_int_t) vm->ram_bytes));
  json_object_set_new (o, "added_time_ms", json_integer ((json_int_t) vm->added_real_ms));
  json_object_set_new (o, "balloon", vm->balloon_path ? json_string (vm->balloon_path)
                                                      : json_null ());
  if (vm->lost_reason)
    json_object_set_new (o, "lost_reason", json_string (vm->lost_reason));
  if (vm->agent_report_seen)
    {
      const AgentReport *r = &vm->agent_report;
      json_t *bins = json_array ();
      for (guint i = 0; i < r->n_bins; i++)
        json_array_append_new (bins,
                               json_pack ("{s:o,s:I,s:I}", "age_ms",
                                          r->bins[i].age_ms ? json_integer ((json_int_t) r->bins[i].age_ms)
                                                            : json_null (),
                                          "anon", (json_int_t) r->bins[i].anon_bytes, "file",
                                          (json_int_t) r->bins[i].file_bytes));
      json_object_set_new (
          o, "agent",
          json_pack ("{s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:o}", "seq", (json_int_t) r->seq,
                     "report_time_ms", (json_int_t) vm->agent_report_real_ms, "psi_some_avg10",
                     r->has_psi ? r->some_avg10_pct : 0.0, "available_bytes",
                     (json_int_t) r->mem.available_bytes, "oom_kills",
                     (json_int_t) (r->has_vmstat ? r->oom_kill : 0), "pressure_count",
                     (json_int_t) vm->pressure_count, "pressure_time_ms",
                     (json_int_t) vm->pressure_real_ms, "histogram", bins));
    }
  return o;
}

static json_t *
cmd_query_status (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  gint64 uptime_ms = (g_get_monotonic_time () - m->start_mono_us) / 1000;
  return json_pack ("{s:s,s:s,s:I,s:b,s:i,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:f}}", "version",
                    BALLAST_VERSION, "policy", m->cfg->policy_name, "uptime_ms", (json_int_t) uptime_ms, "dry_run", m->dry_run,
                    "vm_count", (int) g_hash_table_size (m->vms), "tick_ms",
                    (json_int_t) m->cfg->policy.tick_ms, "ticks", (json_int_t) m->n_ticks, "host",
                    "total_bytes", (json_int_t) m->host.mem_total_bytes, "available_bytes",
                    (json_int_t) m->host.mem_available_bytes, "reserve_bytes",
                    (json_int_t) m->reserve_bytes, "budget_bytes", (json_int_t) m->budget_bytes,
                    "psi_some_avg10", m->host.psi_some_avg10_pct);
}

static json_t *
cmd_query_host (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  return json_pack ("{s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:b}", "total_bytes",
                    (json_int_t) m->host.mem_total_bytes, "available_bytes",
                    (json_int_t) m->host.mem_available_bytes, "free_bytes",
                    (json_int_t) m->host.mem_free_bytes, "reserve_bytes",
                    (json_int_t) m->reserve_bytes, "budget_bytes", (json_int_t) m->budget_bytes,
                    "psi_some_avg10", m->host.psi_some_avg10_pct, "psi_full_avg10",
                    m->host.psi_full_avg10_pct, "non_vm_used_bytes",
                    (json_int_t) m->host.non_vm_used_bytes.value, "overloaded", m->overloaded);
}

static const char *
mgr_ksm_mode_name (PolicyKsmMode mode)
{
  static const char *const names[] = { "auto", "observe", "off" };
  return mode < G_N_ELEMENTS (names) ? names[mode] : "?";
}

static json_t *
cmd_query_ksm (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  const PolicyKsmDecision *kd = &m->ksm_decision;
  uint64_t page = m->ksm.page_size_bytes ? m->ksm.page_size_bytes : 4096;
  return json_pack ("{s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:f,s:I,s:s,s:I,s:f}", "state",
                    policy_ksm_state_name (m->have_ksm_decision ? kd->state : POLICY_KSM_IDLE),
                    "mode", mgr_ksm_mode_name (m->cfg->policy.ksm_mode), "driving",
                    m->cfg->policy.ksm_mode == POLICY_KSM_MODE_AUTO && !m->dry_run
                        && sample_ksm_driving (m->sample),
                    "present",
                    m->ksm.present, "run", (int) m->ksm.run, "pages_to_scan",
                    (int) m->ksm.pages_to_scan, "sleep_millisecs", (int) m->ksm.sleep_millisecs,
                    "pages_sharing", (json_int_t) m->ksm.pages_sharing, "pages_shared",
                    (json_int_t) m->ksm.pages_shared, "full_scans", (json_int_t) m->ksm.full_scans,
                    "saved_bytes",
                    (json_int_t) (m->ksm.pages_sharing > m->ksm.pages_shared
                                      ? (m->ksm.pages_sharing - m->ksm.pages_shared) * page
                                      : 0),
                    "ksmd_cpu_pct", m->ksmd_cpu_pct, "state_since_ms",
                    (json_int_t) m->ksm_state_since_ms, "last_reason",
                    m->have_ksm_decision && kd->reason ? kd->reason : "", "expected_saved_bytes",
                    (json_int_t) kd->expected_saved_bytes, "expected_cpu_pct",
                    kd->expected_cpu_pct);
}

static json_t *
cmd_query_decisions (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_int_t limit = 50;
  json_t *l = json_object_get (args, "limit");
  if (l != NULL)
    {
      if (!json_is_integer (l) || json_integer_value (l) < 1)
        {
          g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'limit' must be a positive integer");
          return NULL;
        }
      limit = json_integer_value (l);
    }
  guint n = (guint) MIN ((json_int_t) m->log_count, limit);
  json_t *list = json_array ();
  /* Newest last, like a log. */
  for (guint i = 0; i < n; i++)
    {
      guint idx = (m->log_next + MGR_DECISION_LOG_LEN - n + i) % MGR_DECISION_LOG_LEN;
      const MgrDecisionEntry *e = &m->log[idx];
      json_array_append_new (list,
                             json_pack ("{s:I,s:s,s:o,s:I,s:s,s:b}", "time_ms",
                                        (json_int_t) e->time_ms, "vm", e->vm, "old_target_bytes",
                                        mgr_bytes_or_null (e->had_old, e->old_target_bytes),
                                        "new_target_bytes", (json_int_t) e->new_target_bytes,
                                        "reason", e->reason, "applied", e->applied));
    }
  return list;
}

static json_t *
mgr_policy_json (const PolicyVmConfig *c)
{
  json_t *o = json_pack ("{s:s,s:i,s:I,s:b,s:f}", "mode", policy_vm_mode_name (c->mode),
                         "shares", (int) c->shares, "cold_age_ms", (json_int_t) c->cold_age_ms,
                         "ksm", c->ksm, "pressure_target_pct", c->pressure_target_pct);
  const struct
  {
    const char *key;
    const PolicySize *size;
  } sizes[] = { { "min", &c->min }, { "max", &c->max }, { "target", &c->target },
                { "headroom", &c->headroom } };
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      const PolicySize *s = sizes[i].size;
      json_t *v = !s->set     ? json_null ()
                  : s->is_pct ? json_sprintf ("%g%%", s->pct)
                              : json_integer ((json_int_t) s->bytes);
      json_object_set_new (o, sizes[i].key, v);
    }
  return o;
}

static json_t *
cmd_query_policy (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  Vm *vm = mgr_vm_arg (m, args, error);
  if (vm == NULL)
    return NULL;
  PolicyVmConfig cfg;
  mgr_vm_effective_policy (m, vm, &cfg);
  json_t *o = mgr_policy_json (&cfg);
  json_object_set_new (o, "runtime_override", json_boolean (vm->has_override));
  return o;
}

static json_t *
cmd_set_policy (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  Vm *vm = mgr_vm_arg (m, args, error);
  if (vm == NULL)
    return NULL;
  PolicyVmConfig cfg;
  mgr_vm_effective_policy (m, vm, &cfg);
  const char *key;
  json_t *value;
  /* Validate every key on a copy; apply only if all are good. */
  json_object_foreach (args, key, value)
    {
      if (g_str_equal (key, "name"))
        continue;
      g_autofree char *text = NULL;
      if (json_is_string (value))
        text = g_strdup (json_string_value (value));
      else if (json_is_integer (value))
        text = g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
      else if (json_is_real (value))
        text = g_strdup_printf ("%g", json_real_value (value));
      else if (json_is_boolean (value))
        text = g_strdup (json_is_true (value) ? "true" : "false");
      else
        {
          g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "%s: expected a scalar", key);
          return NULL;
        }
      if (!cfg_vm_policy_set (&cfg, key, text, error))
        return NULL;
    }
  vm->override = cfg;
  vm->has_override = TRUE;
  g_message ("%s: policy changed at run time", vm->name);
  mgr_vm_note (m, vm, VM_NOTE_KICK);
  return mgr_policy_json (&cfg);
}

/* Dry-run plans were recorded as targets in flight; once live, they must be
 * issued rather than waited for. */
static void
mgr_forget_dry_run_plans (Manager *m)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    ((Vm *) v)->last_target_bytes.present = FALSE;
}

static json_t *
cmd_set_dry_run (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *e = json_object_get (args, "enabled");
  if (!json_is_boolean (e))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'enabled' (boolean) is required");
      return NULL;
    }
  gboolean was = m->dry_run;
  m->dry_run = json_is_true (e);
  m->dry_run_runtime = m->dry_run;
  if (was && !m->dry_run)
    mgr_forget_dry_run_plans (m);
  g_message ("dry-run %s", m->dry_run ? "on" : "off");
  return json_pack ("{s:b}", "dry_run", m->dry_run);
}

static json_t *
cmd_reload_config (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  if (!mgr_reload (m, error))
    return NULL;
  return json_object ();
}

/* Names accepted for kicks and vm-events, mapped to policy kicks. */
static const struct
{
  const char *name;
  uint32_t kick;
} mgr_kick_names[] = {
  { "CREATED", POLICY_KICK_CREATED },     { "CREATING", POLICY_KICK_CREATING },
  { "DESTROYED", POLICY_KICK_DESTROYED }, { "DESTROYING", POLICY_KICK_DESTROYING },
  { "MIGRATED", POLICY_KICK_MIGRATED },   { "RESUMED", POLICY_KICK_RESUMED },
  { "STARTED", POLICY_KICK_STARTED },     { "operator", POLICY_KICK_OPERATOR },
};

static gboolean
mgr_kick_by_name (Manager *m, const char *vm_name, const char *event, GError **error)
{
  /* The name goes into the decision log and its JSON. */
  if (vm_name != NULL && !cfg_valid_vm_name (vm_name))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC,
                   "not a VM name ([A-Za-z0-9._-], at most %d bytes)", CFG_MAX_VM_NAME);
      return FALSE;
    }
  uint32_t kick = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (mgr_kick_names); i++)
    if (g_ascii_strcasecmp (event, mgr_kick_names[i].name) == 0)
      kick = mgr_kick_names[i].kick;
  if (kick == 0)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC,
                   "unknown event '%s' (CREATING, CREATED, STARTED, RESUMED, MIGRATED, "
                   "DESTROYING, DESTROYED, operator)",
                   event);
      return FALSE;
    }
  Vm *vm = vm_name ? g_hash_table_lookup (m->vms, vm_name) : NULL;
  if (vm != NULL)
    vm->kicks |= kick;
  else
    m->host_kicks |= kick;
  g_message ("kick %s%s%s", event, vm_name ? " for " : "", vm_name ? vm_name : "");
  /* The decision log shows kicks next to the targets they cause. */
  MgrDecisionEntry *e = mgr_log_push (m, vm_name ? vm_name : "");
  g_snprintf (e->reason, sizeof e->reason, "kick:%s", event);
  mgr_vm_note (m, vm, VM_NOTE_KICK);
  return TRUE;
}

static json_t *
cmd_kick (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *name = json_object_get (args, "name");
  json_t *event = json_object_get (args, "event");
  if ((name != NULL && !json_is_string (name)) || (event != NULL && !json_is_string (event)))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'name' and 'event' must be strings");
      return NULL;
    }
  if (!mgr_kick_by_name (m, name ? json_string_value (name) : NULL,
                         event ? json_string_value (event) : "operator", error))
    return NULL;
  return json_object ();
}

static json_t *
cmd_register_source (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  const char *name = json_string_value (json_object_get (args, "name"));
  if (name == NULL || strlen (name) > 64)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'name' (string, <= 64 chars) is required");
      return NULL;
    }
  if (g_ptr_array_find_with_equal_func (m->sources, name, g_str_equal, NULL))
    return json_object ();
  /* A bound, so a client cannot grow the daemon's memory without limit. */
  if (m->sources->len >= MGR_MAX_SOURCES)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "too many sources (%d)", MGR_MAX_SOURCES);
      return NULL;
    }
  g_ptr_array_add (m->sources, g_strdup (name));
  return json_object ();
}

static json_t *
cmd_vm_event (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  const char *vm = json_string_value (json_object_get (args, "vm"));
  const char *type = json_string_value (json_object_get (args, "type"));
  if (vm == NULL || type == NULL)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'vm' and 'type' (strings) are required");
      return NULL;
    }

  if (!mgr_kick_by_name (m, vm, type, error))
    return NULL;
  return json_object ();
}

/* Sorted by name: the server looks commands up with bsearch. */
static const CtlCommand mgr_commands[] = {
  { "kick", cmd_kick },
  { "query-decisions", cmd_query_decisions },
  { "query-host", cmd_query_host },
  { "query-ksm", cmd_query_ksm },
  { "query-policy", cmd_query_policy },
  { "query-status", cmd_query_status },
  { "query-vm", cmd_query_vm },
  { "query-vms", cmd_query_vms },
  { "register-source", cmd_register_source },
  { "reload-config", cmd_reload_config },
  { "set-dry-run", cmd_set_dry_run },
  { "set-policy", cmd_set_policy },
  { "vm-event", cmd_vm_event },
};

json_t *
mgr_dispatch (Manager *m, gboolean *negotiated, const char *line, gsize len, gboolean *hang_up)
{
  return ctl_dispatch (mgr_commands, G_N_ELEMENTS (mgr_commands), m, negotiated, line, len,
                       hang_up);
}

/* ---- life cycle ---------------------------------------------------------- */

static void
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
      if (vm == NULL || g_strcmp0 (vm->qmp_path, c->qmp_path) != 0)
        mgr_add_vm (m, c->name, "static", c->qmp_path, c->agent_path);
    }
  /* Static VMs whose section went away on reload. */
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      Vm *vm = v;
      CfgVm *c = g_hash_table_lookup (m->cfg->vms, vm->name);
      if (g_str_equal (vm->backend, "static") && (c == NULL || c->qmp_path == NULL))
        g_ptr_array_add (gone, g_strdup (vm->name));
    }
  for (guint i = 0; i < gone->len; i++)
    mgr_remove_vm (m, g_ptr_array_index (gone, i));
}

/* Starts, restarts (new URI) or stops the libvirt backend to match the config. */
static void
mgr_sync_libvirt (Manager *m)
{
#if HAVE_LIBVIRT
  if (m->libvirt && g_strcmp0 (lv_backend_get_uri (m->libvirt), m->cfg->libvirt_uri) == 0)
    return;
  g_clear_pointer (&m->libvirt, lv_backend_free);
  if (m->cfg->libvirt_uri)
    m->libvirt = lv_backend_new (m, m->cfg->libvirt_uri);
#else
  if (m->cfg->libvirt_uri)
    g_warning ("[libvirt] uri is set but this ballastd was built without libvirt");
#endif
}

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
  m->dry_run = m->cfg->dry_run || m->cfg->dry_run_forced;
  m->start_mono_us = g_get_monotonic_time ();
  m->vms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) vm_free);
  m->carry = policy_carry_new ();
  m->sources = g_ptr_array_new_with_free_func (g_free);
  mgr_log_warnings (m->cfg);

  m->sample = sample_new (m->cfg->ksm_sysfs, m->cfg->ksm_restore_on_exit);
  m->ctl = ctl_server_new (m->cfg->control_socket, m->cfg->control_group, mgr_commands,
                           G_N_ELEMENTS (mgr_commands), m, error);
  if (m->ctl == NULL)
    {
      g_prefix_error (error, "control socket: ");
      mgr_free (m);
      return NULL;
    }
  if (m->cfg->qmp_dir)
    {
      m->vmdir = vmdir_new (m->cfg->qmp_dir, mgr_on_vmdir, m, error);
      if (m->vmdir == NULL)
        {
          g_prefix_error (error, "qmp-dir: ");
          mgr_free (m);
          return NULL;
        }
    }
  mgr_sync_static_vms (m);
  mgr_sync_libvirt (m);
  mgr_arm_timer (m);
  /* First decision right away so the control socket has data at once. */
  mgr_vm_note (m, NULL, VM_NOTE_KICK);
  return m;
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
  if (g_strcmp0 (fresh->control_socket, m->cfg->control_socket) != 0)
    g_warning ("control-socket changes take effect at restart");
  /* Keep the sockets the daemon already has open. */
  g_free (fresh->control_socket);
  fresh->control_socket = g_strdup (m->cfg->control_socket);
  /* --dry-run on the command line and set-dry-run on outlive a reload. */
  fresh->dry_run_forced = m->cfg->dry_run_forced;
  gboolean was_dry = m->dry_run;
  m->dry_run = fresh->dry_run || fresh->dry_run_forced || m->dry_run_runtime;
  if (was_dry && !m->dry_run)
    mgr_forget_dry_run_plans (m);
  if (restart_dir)
    mgr_remove_backend_vms (m, "qmp-dir");
  cfg_free (m->cfg);
  m->cfg = g_steal_pointer (&fresh);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    ((Vm *) v)->has_override = FALSE;
  if (restart_dir)
    {
      g_clear_pointer (&m->vmdir, vmdir_free);
      if (m->cfg->qmp_dir)
        {
          g_autoptr (GError) local = NULL;
          m->vmdir = vmdir_new (m->cfg->qmp_dir, mgr_on_vmdir, m, &local);
          if (m->vmdir == NULL)
            g_warning ("qmp-dir: %s", local->message);
        }
    }
  mgr_sync_static_vms (m);
  mgr_sync_libvirt (m);
  mgr_arm_timer (m);
  g_message ("configuration reloaded from %s", m->cfg->path);
  mgr_vm_note (m, NULL, VM_NOTE_KICK);
  return TRUE;
}

char *
mgr_status_line (Manager *m)
{
  guint active = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, m->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    active += ((Vm *) v)->state == VM_ACTIVE;
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
  g_clear_pointer (&m->ctl, ctl_server_free);
  g_clear_pointer (&m->sample, sample_free); /* restores KSM knobs */
  g_clear_pointer (&m->carry, policy_carry_free);
  g_clear_pointer (&m->sources, g_ptr_array_unref);
  cfg_free (m->cfg);
  g_main_loop_unref (m->loop);
  g_free (m);
}
