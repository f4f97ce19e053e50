/* vm.c: one VM's record: identity, link state, the sample backends deliver
 * through the vm_update_* calls, and its translation into a PolicyVm. */
#define G_LOG_DOMAIN "ballast-vm"

#include "vm-private.h"

#include <string.h>

#include "journal.h"

/* A guest may cause at most 2 extra ticks a second (burst 5); beyond that its
 * news waits for the regular tick. */
#define VM_EXTRA_TICKS_PER_MIN 120
#define VM_EXTRA_TICKS_BURST 5
/* Lifecycle kicks from a guest's own events (RESET, WAKEUP, ...): a reset
 * loop must not keep ksmd boosted or the host's reserve raised. */
#define VM_KICKS_PER_MIN 2
#define VM_KICKS_BURST 2
/* Log lines about one VM: enough to follow it, not enough to flood. */
#define VM_LOG_LINES_PER_MIN 3
#define VM_LOG_LINES_BURST 4
/* A quiet VM is read less often: its guest stats at most every 4 regular
 * ticks, its QEMU's /proc figures (smaps_rollup walks every page table:
 * O(RSS) a read) at most every 8. Any change, kick, target or urgent report
 * brings both back to every tick. */
#define VM_SAMPLE_MAX_LEVEL 2
#define VM_COST_MAX_LEVEL 3
/* A due /proc reading of a QEMU whose resident size (statm, O(1)) moved
 * less than VM_QUIET_DELTA_BYTES since the last full one is skipped while
 * that one is younger than this: PSS follows RSS but for KSM merging, which
 * converges over tens of seconds. */
#define VM_COST_FULL_MAX_US (30 * G_USEC_PER_SEC)
/* ... and while the host's KSM sharing also held still, up to this age:
 * what else moves a still QEMU's PSS (shared libraries, its cgroup's kernel
 * memory) is small and slow, and a full reading walks every page table. */
#define VM_COST_STILL_MAX_US (300 * G_USEC_PER_SEC)
/* Moves smaller than this in a guest's free, available or cache figures,
 * or in its QEMU's PSS, read as quiet: an idle guest's own noise. */
#define VM_QUIET_DELTA_BYTES (8u << 20)
/* A due reading may come this much early, so timer jitter skips none. */
#define VM_CADENCE_EARLY_PCT 10

/* ---- cadence: how often a quiet VM is read ------------------------------ */

static gboolean
vm_cadence_due (const VmCadence *c, gint64 now_mono_us, gint64 tick_us)
{
  if (c->last_mono_us == 0)
    return TRUE;
  gint64 gap_us = (tick_us << c->level) / 100 * (100 - VM_CADENCE_EARLY_PCT);
  return now_mono_us - c->last_mono_us >= gap_us;
}

/* A reading is taken now: the gap doubles when nothing changed since the
 * last one. */
static void
vm_cadence_read (VmCadence *c, gint64 now_mono_us, guint max_level)
{
  if (c->last_mono_us != 0 && !c->changed && c->level < max_level)
    c->level++;
  c->changed = FALSE;
  c->last_mono_us = now_mono_us;
}

static void
vm_cadence_wake (VmCadence *c)
{
  c->level = 0;
  c->changed = TRUE;
}

/* Something about the VM moved: read everything at the next regular tick. */
static void
vm_changed (Vm *vm)
{
  vm_cadence_wake (&vm->sample_cadence);
  vm_cadence_wake (&vm->cost_cadence);
}

/* News from the guest: a quiet cadence left its stats older than a tick,
 * so they are asked for at once and their arrival decides again. */
static void
vm_sample_now (Vm *vm)
{
  gboolean slowed = vm->sample_cadence.level > 0;
  vm_changed (vm);
  if (!slowed || vm->state != VM_ACTIVE)
    return;
  vm->sample_cadence.last_mono_us = g_get_monotonic_time ();
  vm->stats_wanted_now = TRUE;
  vm_sample (vm);
}

static gboolean
vm_bytes_moved (const PolicyStat *a, const PolicyStat *b)
{
  if (a->present != b->present)
    return TRUE;
  guint64 d = a->value > b->value ? a->value - b->value : b->value - a->value;
  return a->present && d >= VM_QUIET_DELTA_BYTES;
}

static gboolean
vm_count_moved (const PolicyStat *a, const PolicyStat *b)
{
  return a->present != b->present || a->value != b->value;
}

/* Minor faults tick on in any running guest; what the policy acts on is
 * the level of free, available and cache memory, major faults and swap. */
static gboolean
vm_stats_moved (const PolicyGuestStats *a, const PolicyGuestStats *b)
{
  return vm_bytes_moved (&a->total_bytes, &b->total_bytes)
         || vm_bytes_moved (&a->free_bytes, &b->free_bytes)
         || vm_bytes_moved (&a->available_bytes, &b->available_bytes)
         || vm_bytes_moved (&a->disk_caches_bytes, &b->disk_caches_bytes)
         || vm_count_moved (&a->major_faults, &b->major_faults)
         || vm_count_moved (&a->swap_in_bytes, &b->swap_in_bytes)
         || vm_count_moved (&a->swap_out_bytes, &b->swap_out_bytes);
}

static void
vm_on_agent_urgent (gboolean pressure, gpointer data)
{
  Vm *vm = data;
  if (pressure)
    vm->urgent = TRUE;
  vm_sample_now (vm);
  vm_note (vm, VM_NOTE_URGENT);
}

static gboolean
vm_agent_may_log (gpointer data)
{
  return vm_log_allowed (data);
}

/* A VM with a QMP socket learns its QEMU's PID from it: until then the
 * agent waits. Without one (libvirt), an unknown PID cannot be learnt and
 * the agent socket, named by libvirt, is taken unchecked (-1). */
static int
vm_agent_expected_pid (gpointer data)
{
  Vm *vm = data;
  if (vm->pid > 0)
    return vm->pid;
  return vm->qmp_path != NULL ? 0 : -1;
}

Vm *
vm_new (const VmOwner *owner, const char *name, const char *backend, const char *qmp_path,
        const char *agent_path, const VmOps *ops, gpointer backend_data)
{
  Vm *vm = g_new0 (Vm, 1);
  vm->owner = *owner;
  vm->name = g_strdup (name);
  vm->backend = backend;
  vm->qmp_path = g_strdup (qmp_path);
  vm->agent_path = g_strdup (agent_path);
  vm->ops = ops;
  vm->backend_data = backend_data;
  vm->state = VM_CONNECTING;
  vm->statm = (ProcRssFile) PROC_RSS_FILE_INIT;
  vm->added_real_ms = g_get_real_time () / 1000;
  vm->agent = vm_agent_new (vm->name, 0, vm_on_agent_urgent, vm_agent_may_log, vm);
  vm_agent_set_expected_peer (vm->agent, vm_agent_expected_pid, vm);
  rate_limit_init (&vm->extra_ticks, VM_EXTRA_TICKS_PER_MIN, VM_EXTRA_TICKS_BURST);
  rate_limit_init (&vm->kick_limit, VM_KICKS_PER_MIN, VM_KICKS_BURST);
  rate_limit_init (&vm->log_limit, VM_LOG_LINES_PER_MIN, VM_LOG_LINES_BURST);
  return vm;
}

void
vm_free (Vm *vm)
{
  if (vm == NULL)
    return;
  if (vm->ops->free)
    vm->ops->free (vm);
  vm_agent_free (vm->agent);
  proc_rss_file_close (&vm->statm);
  g_free (vm->name);
  g_free (vm->qmp_path);
  g_free (vm->agent_path);
  g_free (vm->balloon_device);
  g_free (vm->lost_reason);
  g_free (vm);
}

void
vm_note (Vm *vm, VmNote note)
{
  /* Over its budget, a guest's news is not dropped: its flags stay set and
   * the regular tick acts on them. */
  gboolean extra = note == VM_NOTE_URGENT || note == VM_NOTE_KICK;
  if (extra && !rate_limit_allow (&vm->extra_ticks, g_get_monotonic_time ()))
    return;
  if (vm->owner.note != NULL)
    vm->owner.note (vm, note, vm->owner.user_data);
}

gboolean
vm_log_allowed (Vm *vm)
{
  /* What does not fit is only counted (query-vm shows it): a line saying
   * so would itself be one more line a guest can cause. */
  if (rate_limit_allow (&vm->log_limit, g_get_monotonic_time ()))
    return TRUE;
  vm->log_suppressed++;
  return FALSE;
}

const char *
vm_link_state_name (VmLinkState state)
{
  static const char *const names[] = { "connecting", "negotiating", "active", "lost" };
  return state < G_N_ELEMENTS (names) ? names[state] : "?";
}

/* ---- for the owner ------------------------------------------------------ */

void
vm_start (Vm *vm)
{
  vm->ops->start (vm);
}

void
vm_sample (Vm *vm)
{
  vm->ops->sample (vm);
}

void
vm_sample_tick (Vm *vm, gint64 now_mono_us, gint64 tick_us)
{
  if (vm->state != VM_ACTIVE || !vm_cadence_due (&vm->sample_cadence, now_mono_us, tick_us))
    return;
  vm_cadence_read (&vm->sample_cadence, now_mono_us, VM_SAMPLE_MAX_LEVEL);
  vm_sample (vm);
}

void
vm_set_balloon (Vm *vm, guint64 target_bytes)
{
  vm->ops->set_balloon (vm, target_bytes);
}

void
vm_request_reclaim (Vm *vm, guint64 bytes)
{
  if (vm->agent != NULL)
    vm_agent_send_reclaim (vm->agent, bytes);
}

const char *
vm_get_name (const Vm *vm)
{
  return vm->name;
}

const char *
vm_get_backend (const Vm *vm)
{
  return vm->backend;
}

const char *
vm_get_qmp_path (const Vm *vm)
{
  return vm->qmp_path;
}

VmLinkState
vm_get_state (const Vm *vm)
{
  return vm->state;
}

int
vm_get_pid (const Vm *vm)
{
  return vm->pid;
}

uint64_t
vm_host_usage_bytes (const Vm *vm)
{
  if (vm->cost.pss_bytes.present)
    return vm->cost.pss_bytes.value;
  return vm->actual_bytes.present ? vm->actual_bytes.value : vm->ram_bytes;
}

void
vm_set_id (Vm *vm, uint64_t id)
{
  vm->id = id;
}

void
vm_set_paths (Vm *vm, const char *qmp_path, const char *agent_path)
{
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
}

void
vm_add_kicks (Vm *vm, uint32_t kicks)
{
  vm->kicks |= kicks;
  vm_changed (vm);
}

/* Whether the last full /proc reading still stands for this resident size
 * and this KSM sharing. */
static gboolean
vm_cost_fresh (const Vm *vm, const PolicyStat *rss, const PolicyStat *ksm_sharing_bytes,
               gint64 now_mono_us)
{
  if (!rss->present || !vm->cost.pss_bytes.present || vm->cost_sampled_mono_us == 0
      || vm_bytes_moved (&vm->cost_rss_bytes, rss))
    return FALSE;
  gint64 age_us = now_mono_us - vm->cost_sampled_mono_us;
  if (age_us < VM_COST_FULL_MAX_US)
    return TRUE;
  return age_us < VM_COST_STILL_MAX_US
         && !vm_bytes_moved (&vm->cost_ksm_sharing_bytes, ksm_sharing_bytes);
}

void
vm_refresh_process_cost (Vm *vm, SampleCtx *sample, const PolicyStat *ksm_sharing_bytes,
                         gint64 now_mono_us, gint64 tick_us)
{
  if (!vm_cadence_due (&vm->cost_cadence, now_mono_us, tick_us))
    return;
  vm_cadence_read (&vm->cost_cadence, now_mono_us, VM_COST_MAX_LEVEL);
  guint64 rss = 0;
  gboolean have_rss = sample_vm_rss (sample, &vm->statm, vm->pid, &rss);
  vm->rss_bytes = (PolicyStat){ .present = have_rss, .value = rss };
  if (vm_cost_fresh (vm, &vm->rss_bytes, ksm_sharing_bytes, now_mono_us))
    return;
  PolicyStat old_pss = vm->cost.pss_bytes;
  sample_vm_process (sample, vm->pid, &vm->cost);
  vm->cost_sampled_mono_us = now_mono_us;
  vm->cost_rss_bytes = vm->rss_bytes;
  vm->cost_ksm_sharing_bytes = *ksm_sharing_bytes;
  if (vm_bytes_moved (&old_pss, &vm->cost.pss_bytes))
    vm_cadence_wake (&vm->cost_cadence);
}

gboolean
vm_record_decision (Vm *vm, const PolicyVmDecision *d, guint64 *old_target_bytes)
{
  vm->last = *d;
  vm->has_decision = TRUE;
  g_strlcpy (vm->last_reason, d->reason ? d->reason : "", sizeof vm->last_reason);
  *old_target_bytes = vm->last_target_bytes.value;
  return vm->last_target_bytes.present;
}

void
vm_plan_target (Vm *vm, guint64 target_bytes)
{
  vm->last_target_bytes.present = TRUE;
  vm->last_target_bytes.value = target_bytes;
}

void
vm_forget_target (Vm *vm)
{
  vm->last_target_bytes.present = FALSE;
}

void
vm_consume_signals (Vm *vm)
{
  vm->kicks = 0;
  vm->urgent = FALSE;
}

gboolean
vm_get_override (const Vm *vm, PolicyVmConfig *out)
{
  if (vm->has_override)
    *out = vm->override;
  return vm->has_override;
}

void
vm_set_override (Vm *vm, const PolicyVmConfig *cfg)
{
  vm->override = *cfg;
  vm->has_override = TRUE;
}

void
vm_clear_override (Vm *vm)
{
  vm->has_override = FALSE;
}

/* ---- for backends -------------------------------------------------------- */

gpointer
vm_get_backend_data (const Vm *vm)
{
  return vm->backend_data;
}

void
vm_set_backend_data (Vm *vm, gpointer backend_data)
{
  vm->backend_data = backend_data;
}

const char *
vm_get_agent_path (const Vm *vm)
{
  return vm->agent_path;
}

const char *
vm_get_balloon_device (const Vm *vm)
{
  return vm->balloon_device;
}

guint64
vm_get_ram_bytes (const Vm *vm)
{
  return vm->ram_bytes;
}

void
vm_link_connecting (Vm *vm)
{
  vm->state = VM_CONNECTING;
  vm_update_pid (vm, 0);
  vm->cost_sampled_mono_us = 0;
  vm->cost_cadence = (VmCadence){ 0 };
  vm->sample_cadence = (VmCadence){ 0 };
  vm->stats_wanted_now = FALSE;
  vm->paused = FALSE;
  vm->actual_bytes.present = FALSE;
  vm->last_target_bytes.present = FALSE;
  memset (&vm->stats, 0, sizeof vm->stats);
  g_clear_pointer (&vm->balloon_device, g_free);
  vm->balloon_deflate_on_oom = FALSE;
  vm->balloon_free_page_reporting = FALSE;
}

void
vm_link_negotiating (Vm *vm)
{
  vm->state = VM_NEGOTIATING;
}

void
vm_link_up (Vm *vm, const char *detail)
{
  vm->state = VM_ACTIVE;
  g_clear_pointer (&vm->lost_reason, g_free);
  g_message ("%s: active (%s)", vm->name, detail);
  /* A VM back from a lost link is a start, not the end it read as meanwhile. */
  vm->kicks = (vm->kicks & ~(uint32_t) POLICY_KICK_DESTROYED) | POLICY_KICK_STARTED;
  vm_note (vm, VM_NOTE_ACTIVE);
  vm_sample (vm);
}

void
vm_link_lost (Vm *vm, const char *why)
{
  gboolean was_up = vm->state == VM_ACTIVE || vm->state == VM_NEGOTIATING;
  if (was_up || vm->lost_reason == NULL)
    ballast_log (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, BALLAST_LOG_VM_LOST, vm->name, why,
                 "%s: QMP link lost: %s", vm->name, why);
  else
    g_debug ("%s: reconnect failed: %s", vm->name, why);
  g_free (vm->lost_reason);
  vm->lost_reason = g_strdup (why);
  vm_link_connecting (vm);
  vm->state = VM_LOST;
  if (was_up)
    vm_note (vm, VM_NOTE_LOST);
}

void
vm_update_ram (Vm *vm, guint64 ram_bytes)
{
  vm->ram_bytes = ram_bytes;
  vm_agent_set_ram (vm->agent, ram_bytes);
}

void
vm_update_paused (Vm *vm, gboolean paused)
{
  if (vm->paused != paused)
    vm_changed (vm);
  vm->paused = paused;
}

void
vm_update_pid (Vm *vm, int pid)
{
  if (pid != vm->pid)
    proc_rss_file_close (&vm->statm);
  vm->pid = pid;
}

void
vm_update_balloon_device (Vm *vm, const char *device)
{
  if (g_strcmp0 (vm->balloon_device, device) == 0)
    return;
  g_free (vm->balloon_device);
  vm->balloon_device = g_strdup (device);
}

void
vm_update_balloon_deflate_on_oom (Vm *vm, gboolean deflate_on_oom)
{
  vm->balloon_deflate_on_oom = deflate_on_oom;
}

void
vm_update_balloon_free_page_reporting (Vm *vm, gboolean reporting)
{
  vm->balloon_free_page_reporting = reporting;
}

void
vm_update_actual (Vm *vm, guint64 actual_bytes)
{
  /* Grown past the target and its last size, a deflate-on-oom balloon was
   * deflated by its guest, which ran out of memory: decide now, not at the
   * next tick (QEMU sends the first BALLOON_CHANGE of a quiet second at once). */
  gboolean self_deflated = vm->balloon_deflate_on_oom && vm->last_target_bytes.present
                           && vm->actual_bytes.present && actual_bytes > vm->actual_bytes.value
                           && actual_bytes > vm->last_target_bytes.value;
  if (!vm->actual_bytes.present || vm->actual_bytes.value != actual_bytes)
    vm_changed (vm);
  vm->actual_bytes.present = TRUE;
  vm->actual_bytes.value = actual_bytes;
  if (self_deflated)
    vm_note (vm, VM_NOTE_URGENT);
}

/* A wall clock older than this at first sight is taken as it is: a guest
 * that stopped reporting long ago must not read as fresh. */
#define VM_STATS_FIRST_AGE_MAX_US (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

void
vm_update_guest_stats (Vm *vm, const VmGuestStats *stats)
{
  /* Freshness runs on the monotonic clock: a new report is seen when its
   * stamp changes, so a host clock step cannot make stats stale or fresh.
   * Only the first sight has nothing better than the wall clock. */
  gint64 now_us = g_get_monotonic_time ();
  if (stats->last_update_s > 0 && vm->stats.last_update_s > 0
      && stats->last_update_s != vm->stats.last_update_s)
    vm->stats_seen_mono_us = now_us;
  else if (stats->last_update_s > 0 && vm->stats.last_update_s <= 0)
    {
      gint64 age_us = g_get_real_time () - stats->last_update_s * G_USEC_PER_SEC;
      vm->stats_seen_mono_us = now_us - CLAMP (age_us, 0, VM_STATS_FIRST_AGE_MAX_US);
    }
  if (vm_stats_moved (&vm->stats.figures, &stats->figures))
    vm_changed (vm);
  vm->stats = *stats;
  if (vm->stats_wanted_now)
    {
      vm->stats_wanted_now = FALSE;
      vm_note (vm, VM_NOTE_URGENT);
    }
}

void
vm_update_ksm_excluded (Vm *vm, gboolean excluded)
{
  vm->ksm_excluded = excluded;
}

void
vm_update_agent_path (Vm *vm, const char *agent_path)
{
  if (g_strcmp0 (vm->agent_path, agent_path) == 0)
    return;
  g_free (vm->agent_path);
  vm->agent_path = g_strdup (agent_path);
  vm_agent_restart (vm);
}

void
vm_agent_restart (Vm *vm)
{
  vm_agent_connect_to (vm->agent, vm->agent_path);
}

void
vm_kick (Vm *vm, uint32_t kicks)
{
  if (!rate_limit_allow (&vm->kick_limit, g_get_monotonic_time ()))
    {
      vm->kicks_dropped++;
      if (vm_log_allowed (vm))
        g_message ("%s: lifecycle events faster than %d a minute; %" G_GUINT64_FORMAT
                   " ignored so far",
                   vm->name, VM_KICKS_PER_MIN, vm->kicks_dropped);
      return;
    }
  vm->kicks |= kicks;
  vm_changed (vm);
  vm_note (vm, VM_NOTE_KICK);
}

void
vm_target_issued (Vm *vm, guint64 target_bytes)
{
  vm_plan_target (vm, target_bytes);
  vm_changed (vm);
}

void
vm_target_failed (Vm *vm, const char *why)
{
  g_message ("%s: balloon: %s", vm->name, why);
  vm_forget_target (vm);
}

/* ---- policy input ------------------------------------------------------ */

static void
vm_stats_to_policy (const Vm *vm, gint64 now_mono_us, PolicyGuestStats *out)
{
  if (vm->stats.last_update_s <= 0)
    return;
  *out = vm->stats.figures;
  gint64 age_us = now_mono_us - vm->stats_seen_mono_us;
  out->age_ms = age_us > 0 ? (uint64_t) age_us / 1000 : 0;
}

/* More bins than the policy holds: the oldest fold into the last. */
static void
vm_ws_to_policy (const AgentReport *r, uint64_t age_ms, PolicyWs *out)
{
  if (!r->has_ws || r->n_bins == 0)
    return;
  out->source = r->ws_source == AGENT_WS_SOURCE_MGLRU ? POLICY_WS_AGENT : POLICY_WS_MEMINFO;
  out->age_ms = age_ms;
  size_t n = MIN (r->n_bins, (guint) POLICY_WS_MAX_BINS);
  for (size_t i = 0; i < r->n_bins; i++)
    {
      size_t j = MIN (i, n - 1);
      out->bins[j].age_ms = (i < n - 1) ? r->bins[i].age_ms : 0;
      out->bins[j].anon_bytes += r->bins[i].anon_bytes;
      out->bins[j].file_bytes += r->bins[i].file_bytes;
    }
  out->n_bins = n;
}

static void
vm_agent_to_policy (const VmAgentData *a, gint64 now_mono_us, PolicyVm *out)
{
  if (!a->report_seen)
    return;
  const AgentReport *r = &a->report;
  gint64 age_us = now_mono_us - a->report_mono_us;
  uint64_t age_ms = age_us > 0 ? (uint64_t) age_us / 1000 : 0;
  vm_ws_to_policy (r, age_ms, &out->ws);
  out->agent.present = TRUE;
  out->agent.age_ms = age_ms;
  out->agent.psi_some_avg10_pct = r->has_psi ? r->some_avg10_pct : 0;
  out->agent.psi_full_avg10_pct = r->has_psi ? r->full_avg10_pct : 0;
  out->agent.psi_some_total_us = r->has_psi ? r->some_total_us : 0;
  out->agent.refault_total_pages
      = r->has_vmstat ? r->workingset_refault_anon + r->workingset_refault_file : 0;
  out->agent.unevictable_bytes = r->mem.unevictable_bytes;
  out->agent.oom_kills = r->has_vmstat ? r->oom_kill : 0;
  out->agent.can_reclaim = a->hello_seen && a->hello.reclaim;
}

void
vm_to_policy (const Vm *vm, const PolicyVmConfig *cfg, gint64 now_mono_us, PolicyVm *out)
{
  memset (out, 0, sizeof *out);
  out->id = vm->id;
  out->name = vm->name;
  out->cfg = *cfg;
  if (vm->ksm_excluded)
    out->cfg.ksm = FALSE;
  out->state = vm->paused                                       ? POLICY_VM_STATE_PAUSED
               : (vm->state == VM_ACTIVE && vm->balloon_device) ? POLICY_VM_STATE_RUNNING
                                                                : POLICY_VM_STATE_STARTING;
  out->ram_bytes = vm->ram_bytes;
  out->actual_bytes = vm->actual_bytes;
  out->balloon_deflate_on_oom = vm->balloon_deflate_on_oom;
  out->balloon_free_page_reporting = vm->balloon_free_page_reporting;
  out->last_target_bytes = vm->last_target_bytes;
  vm_stats_to_policy (vm, now_mono_us, &out->stats);
  vm_agent_to_policy (vm_agent_get_data (vm->agent), now_mono_us, out);
  out->agent.urgent = vm->urgent;
  out->pss_bytes = vm->cost.pss_bytes;
  out->rss_bytes = vm->rss_bytes;
  out->ksm_merging_pages = vm->cost.ksm_merging_pages;
  out->cgroup_kernel_bytes = vm->cost.cgroup_kernel_bytes;
  out->kicks = vm->kicks;
}
