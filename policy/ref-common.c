/* ref-common.c: what the reference policies share: a "hold everything" decision,
 * their evaluation cadence, target bookkeeping, and ksmtuned's adjust step. */
#include <string.h>

#include "internal.h"
#include "ref.h"
#include "util.h"

uint64_t
ref_vm_current (const PolicyVm *vm)
{
  if (vm->last_target_bytes.present)
    return policy_cap_bytes (vm->last_target_bytes.value);
  if (vm->actual_bytes.present)
    return policy_cap_bytes (vm->actual_bytes.value);
  return policy_cap_bytes (vm->ram_bytes);
}

bool
ref_vm_steerable (const PolicyVm *vm)
{
  return vm->cfg.mode == POLICY_VM_MODE_AUTO && vm->state == POLICY_VM_STATE_RUNNING
         && vm->actual_bytes.present
         && !(vm->kicks & (POLICY_KICK_DESTROYING | POLICY_KICK_DESTROYED));
}

void
ref_decision_hold (const PolicySnapshot *s, PolicyDecision *out, const char *reason)
{
  out->n_vms = s->n_vms;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      const PolicyVm *vm = &s->vms[i];
      PolicyVmDecision *d = &out->vms[i];
      memset (d, 0, sizeof *d);
      d->id = vm->id;
      policy_vm_limits (vm, &d->min_bytes, &d->max_bytes);
      d->target_bytes = ref_vm_current (vm);
      d->plan_bytes = policy_clamp_u64 (d->target_bytes, d->min_bytes, d->max_bytes);
      d->need_bytes = d->plan_bytes;
      d->held = !ref_vm_steerable (vm);
      d->reason = d->held ? "held" : reason;
    }
  memset (&out->ksm, 0, sizeof out->ksm);
  out->ksm.state = s->ksm.run ? POLICY_KSM_STEADY : POLICY_KSM_IDLE;
  out->ksm.run = s->ksm.run;
  out->ksm.pages_to_scan = s->ksm.pages_to_scan;
  out->ksm.sleep_millisecs = s->ksm.sleep_millisecs;
  out->ksm.advisor_target_scan_time_s = s->ksm.advisor_target_scan_time_s;
  out->ksm.advisor_max_cpu_pct = s->ksm.advisor_max_cpu_pct;
  out->ksm.saved_bytes = s->ksm.present ? policy_ksm_saved_bytes (&s->ksm) : 0;
  out->ksm.expected_saved_bytes = out->ksm.saved_bytes;
  out->ksm.reason = "ksm:not-managed";
  out->budget_bytes = policy_cap_bytes (s->host.mem_total_bytes);
  out->host_overloaded = false;
  out->host_tight = false;
  out->host_reason = "ok";
  ref_decision_sums (out);
}

void
ref_decision_sums (PolicyDecision *out)
{
  uint64_t t = 0, need = 0, plan = 0, held = 0;
  for (size_t i = 0; i < out->n_vms; i++)
    {
      const PolicyVmDecision *d = &out->vms[i];
      t = policy_sat_add (t, d->target_bytes);
      need = policy_sat_add (need, d->need_bytes);
      if (d->held)
        held = policy_sat_add (held, d->target_bytes);
      else
        plan = policy_sat_add (plan, d->plan_bytes);
    }
  out->sum_target_bytes = t;
  out->sum_need_bytes = need;
  out->sum_plan_bytes = plan;
  out->held_bytes = held;
}

bool
ref_due (PolicyCarry *carry, uint64_t now_ms, uint64_t interval_ms)
{
  uint64_t last = carry->ref_u64[REF_SLOT_LAST_RUN_MS];
  if (last != 0 && now_ms >= last - 1 && now_ms - (last - 1) < interval_ms)
    return false;
  carry->ref_u64[REF_SLOT_LAST_RUN_MS] = policy_sat_add (now_ms, 1);
  return true;
}

void
ref_vm_set (const PolicyVm *vm, PolicyVmDecision *d, uint64_t target_bytes, const char *reason)
{
  uint64_t t = policy_clamp_u64 (target_bytes, d->min_bytes, d->max_bytes);
  d->target_bytes = t;
  d->plan_bytes = t;
  d->set_target = t != ref_vm_current (vm);
  d->reason = reason;
}

uint32_t
ref_ksmtuned_sleep_ms (uint64_t mem_total_bytes)
{
  if (mem_total_bytes == 0)
    return REF_KSM_SLEEP_BASE_MS;
  uint64_t ms = policy_mul_div (REF_KSM_SLEEP_BASE_MS, REF_KSM_SLEEP_REF_BYTES, mem_total_bytes);
  /* ksmtuned floors the computed sleep at its base (10 ms): on hosts larger
   * than 16 GiB the formula alone would ask ksmd never to sleep. */
  if (ms < REF_KSM_SLEEP_BASE_MS)
    ms = REF_KSM_SLEEP_BASE_MS;
  return ms > UINT32_MAX ? UINT32_MAX : (uint32_t) ms;
}

uint64_t
ref_vms_host_bytes (const PolicySnapshot *s)
{
  uint64_t bytes = 0;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      const PolicyVm *vm = &s->vms[i];
      if (vm->kicks & POLICY_KICK_DESTROYED)
        continue;
      uint64_t v = vm->pss_bytes.present      ? vm->pss_bytes.value
                   : vm->actual_bytes.present ? vm->actual_bytes.value
                                              : vm->ram_bytes;
      bytes = policy_sat_add (bytes, policy_cap_bytes (v));
    }
  return bytes;
}

void
ref_ksmtuned_step (const PolicySnapshot *s, PolicyDecision *out, const char *who)
{
  PolicyKsmDecision *k = &out->ksm;
  (void) who;
  if (!s->ksm.present)
    {
      k->state = POLICY_KSM_IDLE;
      k->reason = "ksm:absent";
      return;
    }
  uint64_t total = policy_cap_bytes (s->host.mem_total_bytes);
  uint64_t free_b = policy_min_u64 (policy_cap_bytes (s->host.mem_available_bytes), total);
  uint64_t thres
      = policy_max_u64 (policy_mul_div (total, REF_KSM_THRES_PCT, 100), REF_KSM_THRES_CONST_BYTES);
  /* "committed": what the guests occupy on the host (ksmtuned sums the QEMU
   * processes' resident size). */
  uint64_t committed = ref_vms_host_bytes (s);
  if (policy_sat_add (committed, thres) < total && free_b > thres)
    {
      k->state = POLICY_KSM_IDLE;
      k->run = 0;
      k->set_run = s->ksm.run != 0;
      k->reason = "stop:free-above-threshold";
      return;
    }
  uint32_t npages = s->ksm.pages_to_scan;
  if (free_b < thres)
    {
      npages
          = npages > UINT32_MAX - REF_KSM_NPAGES_BOOST ? UINT32_MAX : npages + REF_KSM_NPAGES_BOOST;
      k->state = POLICY_KSM_BOOST;
      k->reason = "boost:free-below-threshold";
    }
  else
    {
      npages = npages > REF_KSM_NPAGES_DECAY ? npages - REF_KSM_NPAGES_DECAY : 0;
      k->state = POLICY_KSM_STEADY;
      k->reason = "decay:committed-near-total";
    }
  if (npages < REF_KSM_NPAGES_MIN)
    npages = REF_KSM_NPAGES_MIN;
  if (npages > REF_KSM_NPAGES_MAX)
    npages = REF_KSM_NPAGES_MAX;
  uint32_t sleep_ms = ref_ksmtuned_sleep_ms (total);
  k->run = 1;
  k->set_run = s->ksm.run != 1;
  k->pages_to_scan = npages;
  k->set_pages_to_scan = npages != s->ksm.pages_to_scan;
  k->sleep_millisecs = sleep_ms;
  k->set_sleep_millisecs = sleep_ms != s->ksm.sleep_millisecs;
  /* A nominal 1 µs of ksmd CPU per scanned page (no measurement here). */
  k->expected_cpu_pct
      = policy_clamp_double ((double) npages * 1000.0 / sleep_ms * 1e3 / 1e7, 0.0, 100.0);
}
