/* policy-invariants.h: what every policy decision promises (docs/policy.md),
 * checked by the property tests and by the policy fuzz target alike. */
#pragma once

#include <glib.h>
#include <math.h>
#include <string.h>

#include "defaults.h"
#include "policy.h"

/* Where a broken invariant is told; the fuzz target, outside GTest, prints it. */
#ifndef POLICY_INVARIANT_LOG
#define POLICY_INVARIANT_LOG g_test_message
#endif

static inline bool
vm_has_data (const PolicyVm *vm)
{
  bool ws
      = vm->ws.source != POLICY_WS_NONE && vm->ws.n_bins > 0 && vm->ws.age_ms <= POLICY_WS_STALE_MS;
  bool stats = vm->stats.total_bytes.present && vm->stats.available_bytes.present
               && vm->stats.total_bytes.value > 0 && vm->stats.age_ms <= POLICY_STATS_STALE_MS;
  return vm->actual_bytes.present && (ws || stats);
}

#define CHECK(cond, ...)                                                                           \
  do                                                                                               \
    {                                                                                              \
      if (!(cond))                                                                                 \
        {                                                                                          \
          POLICY_INVARIANT_LOG ("invariant broken: %s (%s:%d)", #cond, __FILE__, __LINE__);        \
          POLICY_INVARIANT_LOG (__VA_ARGS__);                                                      \
          return false;                                                                            \
        }                                                                                          \
    }                                                                                              \
  while (0)

static inline uint64_t
invariant_vm_cur (const PolicyVm *vm)
{
  return vm->actual_bytes.present        ? vm->actual_bytes.value
         : vm->last_target_bytes.present ? vm->last_target_bytes.value
                                         : vm->ram_bytes;
}

/* What a deflate gives: above what the VM holds (its size, or its QEMU's
 * PSS when that is more). */
static inline uint64_t
invariant_vm_gives (const PolicyVm *vm, const PolicyVmDecision *v)
{
  uint64_t held = invariant_vm_cur (vm);
  if (vm->pss_bytes.present && vm->pss_bytes.value > held)
    held = vm->pss_bytes.value;
  return v->set_target && v->target_bytes > held ? v->target_bytes - held : 0;
}

/* A deflate the host's free memory cannot cover yet, or a tick without host
 * figures: the target may stay below the floor for now. */
static inline bool
invariant_waits_for_host (const PolicyVmDecision *v)
{
  return strcmp (v->reason, "host-room") == 0 || strcmp (v->reason, "no-host-data:hold") == 0;
}

/* Every invariant of docs/policy.md for one decision. */
static inline bool
check_invariants (const PolicySnapshot *s, const PolicyConfig *c, const PolicyDecision *d)
{
  CHECK (d->n_vms == s->n_vms, "n_vms %zu != %zu", d->n_vms, s->n_vms);
  uint64_t sum_min_steered = 0, sum_plan = 0, sum_given = 0, sum_plan_budgeted = 0;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      const PolicyVm *vm = &s->vms[i];
      const PolicyVmDecision *v = &d->vms[i];
      CHECK (v->id == vm->id, "vm %zu: id", i);
      CHECK (v->reason != NULL, "vm %zu: no reason", i);
      CHECK (v->min_bytes <= v->max_bytes,
             "vm %zu: min %" G_GUINT64_FORMAT " > max %" G_GUINT64_FORMAT, i, v->min_bytes,
             v->max_bytes);
      CHECK (v->max_bytes <= vm->ram_bytes, "vm %zu: max above RAM", i);
      sum_given += invariant_vm_gives (vm, v);
      if (vm->ram_bytes == 0 || s->host.mem_total_bytes == 0)
        CHECK (!v->set_target, "vm %zu (%s): ballooned without its RAM size or host figures", i,
               v->reason);
      if (vm->cfg.mode == POLICY_VM_MODE_AUTO && vm->ram_bytes > 0 && !invariant_waits_for_host (v))
        CHECK (v->min_bytes <= v->target_bytes && v->target_bytes <= v->max_bytes,
               "vm %zu (%s): target %" G_GUINT64_FORMAT " outside [%" G_GUINT64_FORMAT
               ", %" G_GUINT64_FORMAT "]",
               i, v->reason, v->target_bytes, v->min_bytes, v->max_bytes);
      if (vm->cfg.mode == POLICY_VM_MODE_AUTO && vm->ram_bytes > 0)
        {
          CHECK (v->min_bytes <= v->plan_bytes && v->plan_bytes <= v->max_bytes,
                 "vm %zu (%s): plan %" G_GUINT64_FORMAT " outside [%" G_GUINT64_FORMAT
                 ", %" G_GUINT64_FORMAT "]",
                 i, v->reason, v->plan_bytes, v->min_bytes, v->max_bytes);
        }
      else if (vm->cfg.mode == POLICY_VM_MODE_FIXED)
        CHECK (!v->set_target || invariant_waits_for_host (v)
                   || (v->min_bytes <= v->target_bytes && v->target_bytes <= v->max_bytes),
               "vm %zu: fixed target %" G_GUINT64_FORMAT " outside [%" G_GUINT64_FORMAT
               ", %" G_GUINT64_FORMAT "]",
               i, v->target_bytes, v->min_bytes, v->max_bytes);
      else
        CHECK (!v->set_target, "vm %zu: mode %s got a target", i,
               policy_vm_mode_name (vm->cfg.mode));
      if (!vm_has_data (vm))
        {
          CHECK (v->held, "vm %zu: no data but steered", i);
          /* mode=fixed follows the operator's target, not the guest's data. */
          CHECK (!v->set_target || vm->cfg.mode == POLICY_VM_MODE_FIXED
                     || (vm->actual_bytes.present && v->target_bytes > vm->actual_bytes.value),
                 "vm %zu: no data but inflated to %" G_GUINT64_FORMAT, i, v->target_bytes);
        }
      if (v->set_target)
        CHECK (vm->cfg.mode == POLICY_VM_MODE_AUTO || vm->cfg.mode == POLICY_VM_MODE_FIXED,
               "vm %zu: target outside auto and fixed", i);
      /* Reclaim: only steered VMs whose agent takes it, at most 1 GiB. */
      CHECK (v->reclaim_bytes == 0
                 || (!v->held && vm->agent.can_reclaim && v->reclaim_bytes <= POLICY_GIB
                     && vm->ws.source == POLICY_WS_AGENT && !vm->agent.urgent
                     && (c->host_mode == POLICY_HOST_MODE_DENSITY || d->host_tight)),
             "vm %zu: reclaim %" G_GUINT64_FORMAT " (held %d, can %d)", i, v->reclaim_bytes,
             (int) v->held, (int) vm->agent.can_reclaim);
      CHECK (v->refill_bytes <= v->max_bytes, "vm %zu: refill bound %" G_GUINT64_FORMAT " > max", i,
             v->refill_bytes);
      CHECK (v->burst_floor_bytes <= v->max_bytes && v->raise_bytes <= v->max_bytes,
             "vm %zu: burst floor %" G_GUINT64_FORMAT " or raise %" G_GUINT64_FORMAT " > max", i,
             v->burst_floor_bytes, v->raise_bytes);
      CHECK (v->raise_bytes >= MAX (v->refill_bytes, v->burst_floor_bytes) || v->raise_bytes == 0,
             "vm %zu: raise %" G_GUINT64_FORMAT " below its parts", i, v->raise_bytes);
      if (!v->held)
        {
          CHECK (vm->cfg.mode == POLICY_VM_MODE_AUTO, "vm %zu: steered outside auto", i);
          /* Deflation is never delayed by rate limits or deadbands, only
           * by the host's free memory. */
          if (v->plan_bytes > vm->actual_bytes.value && !invariant_waits_for_host (v))
            CHECK (v->target_bytes == v->plan_bytes,
                   "vm %zu: deflate to %" G_GUINT64_FORMAT " delayed (target %" G_GUINT64_FORMAT
                   ", actual %" G_GUINT64_FORMAT ", %s)",
                   i, v->plan_bytes, v->target_bytes, vm->actual_bytes.value, v->reason);
          sum_min_steered += v->min_bytes;
          sum_plan += v->plan_bytes;
          /* Above the need only the raise (refill bound, burst floor, boot
           * grace) may go past the budget. */
          sum_plan_budgeted += v->plan_bytes > v->need_bytes && v->plan_bytes <= v->raise_bytes
                                   ? v->need_bytes
                                   : v->plan_bytes;
        }
    }
  /* Memory is taken back before it is given: one tick's deflates fit in
   * what is free above the reserve. */
  uint64_t room = s->host.mem_available_bytes > d->reserve_bytes
                      ? s->host.mem_available_bytes - d->reserve_bytes
                      : 0;
  if (s->host.mem_total_bytes == 0)
    room = 0;
  CHECK (sum_given <= room, "deflates give %" G_GUINT64_FORMAT " > room %" G_GUINT64_FORMAT,
         sum_given, room);
  CHECK (sum_plan == d->sum_plan_bytes, "sum_plan %" G_GUINT64_FORMAT " != %" G_GUINT64_FORMAT,
         sum_plan, d->sum_plan_bytes);
  /* Σ targets <= B whenever Σ min <= B (held VMs count at what they hold),
   * the refill and burst-floor raise above a need apart: it is granted only
   * while the host is not tight (docs/policy.md, "Refill bound"). */
  if (d->held_bytes <= d->budget_bytes && sum_min_steered <= d->budget_bytes - d->held_bytes)
    CHECK (sum_plan_budgeted <= d->budget_bytes - d->held_bytes,
           "Σ plan %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " budgeted) + held %" G_GUINT64_FORMAT
           " > B %" G_GUINT64_FORMAT " with Σ min %" G_GUINT64_FORMAT,
           sum_plan, sum_plan_budgeted, d->held_bytes, d->budget_bytes, sum_min_steered);
  if (d->host_tight && d->held_bytes <= d->budget_bytes
      && sum_min_steered <= d->budget_bytes - d->held_bytes)
    CHECK (sum_plan <= d->budget_bytes - d->held_bytes,
           "refill raise on a tight host: Σ plan %" G_GUINT64_FORMAT " > B %" G_GUINT64_FORMAT,
           sum_plan, d->budget_bytes);
  /* KSM: finite outputs, flags per mode and advisor. */
  const PolicyKsmDecision *k = &d->ksm;
  CHECK (k->reason != NULL, "ksm: no reason");
  CHECK (isfinite (k->expected_cpu_pct) && k->expected_cpu_pct >= 0.0
             && k->expected_cpu_pct <= 100.0,
         "ksm: expected cpu %g", k->expected_cpu_pct);
  CHECK (k->state <= POLICY_KSM_SETTLE, "ksm: state %d", (int) k->state);
  CHECK (k->run <= 1 || !k->set_run, "ksm: run %u", k->run);
  if (c->ksm_mode != POLICY_KSM_MODE_AUTO || !s->ksm.present)
    CHECK (!k->set_run && !k->set_pages_to_scan && !k->set_sleep_millisecs && !k->set_advisor,
           "ksm: writes in mode %d", (int) c->ksm_mode);
  if (s->ksm.advisor_mode == POLICY_KSM_ADVISOR_SCAN_TIME)
    CHECK (!k->set_pages_to_scan, "ksm: pages_to_scan written under the advisor");
  else
    CHECK (!k->set_advisor, "ksm: advisor written without one");
  if (k->set_pages_to_scan)
    CHECK (k->pages_to_scan > 0 && k->sleep_millisecs > 0, "ksm: zero scan knobs");
  CHECK (d->host_reason != NULL, "host: no reason");
  return true;
}
