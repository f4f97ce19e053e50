/* ref-mom.c: oVirt MoM's default policy (balloon.rules + ksm.rules) as a reference:
 * every 10 s, shrink every guest by 5 % while host free is below 20 %, else grow by 5 %. */
#include "ref.h"
#include "util.h"

/* MoM's policy thread evaluates the rules every 10 s (guests polled every 5 s). */
#define MOM_INTERVAL_MS 10000u
/* Host under pressure when free memory is below 20 % of its total. */
#define MOM_PRESSURE_THRESHOLD_PCT 20u
/* Guests keep at least 20 % of their current size free. */
#define MOM_MIN_GUEST_FREE_PCT 20u
/* A step changes a balloon by at most 5 %... */
#define MOM_MAX_CHANGE_PCT 5u
/* ...and is not issued when smaller than 0.25 % (in basis points: 25). */
#define MOM_MIN_CHANGE_BP 25u

/* Guest memory in use as MoM sees it: size minus free (page cache counts as
 * used). Returns false without guest stats: MoM leaves such a guest alone. */
static bool
mom_guest_used (const PolicyVm *vm, uint64_t cur, uint64_t *used)
{
  const PolicyGuestStats *st = &vm->stats;
  const PolicyStat *fr = st->free_bytes.present ? &st->free_bytes : &st->available_bytes;
  if (!fr->present)
    return false;
  uint64_t size = st->total_bytes.present && st->total_bytes.value > 0
                      ? policy_cap_bytes (st->total_bytes.value)
                      : cur;
  *used = policy_sat_sub (size, policy_cap_bytes (fr->value));
  return true;
}

int
policy_mom_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                   PolicyDecision *out)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL
      || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return -1;
  ref_decision_hold (s, out, "mom:wait");
  if (!ref_due (carry, s->now_ms, MOM_INTERVAL_MS))
    return 0;

  uint64_t total = policy_cap_bytes (s->host.mem_total_bytes);
  uint64_t free_b = policy_min_u64 (policy_cap_bytes (s->host.mem_available_bytes), total);
  bool pressure = policy_sat_mul (free_b, 100) < policy_sat_mul (total, MOM_PRESSURE_THRESHOLD_PCT);
  out->host_tight = pressure;
  out->host_reason = pressure ? "mom:host-pressure" : "ok";
  out->budget_bytes = policy_mul_div (total, 100 - MOM_PRESSURE_THRESHOLD_PCT, 100);

  for (size_t i = 0; i < s->n_vms; i++)
    {
      const PolicyVm *vm = &s->vms[i];
      PolicyVmDecision *d = &out->vms[i];
      if (!ref_vm_steerable (vm))
        continue;
      /* balloon_cur: the guest's current size. */
      uint64_t cur = policy_cap_bytes (vm->actual_bytes.value);
      uint64_t used;
      if (!mom_guest_used (vm, cur, &used))
        {
          d->reason = "mom:no-stats";
          continue;
        }
      uint64_t floor_b = policy_sat_add (used, policy_mul_div (cur, MOM_MIN_GUEST_FREE_PCT, 100));
      d->need_bytes = policy_clamp_u64 (floor_b, d->min_bytes, d->max_bytes);
      uint64_t size;
      const char *reason;
      if (pressure)
        {
          size = policy_mul_div (cur, 100 - MOM_MAX_CHANGE_PCT, 100);
          reason = "mom:shrink";
          if (size < floor_b)
            {
              size = floor_b;
              reason = "mom:guest-free-floor";
            }
          /* MoM only sets a target a guest can hold. */
          if (size > d->max_bytes)
            continue;
        }
      else
        {
          if (cur >= d->max_bytes)
            continue;
          size = policy_min_u64 (policy_mul_div (cur, 100 + MOM_MAX_CHANGE_PCT, 100), d->max_bytes);
          reason = "mom:grow";
          if (size < floor_b)
            {
              size = floor_b;
              reason = "mom:guest-free-floor";
            }
        }
      /* Deadband: a change below 0.25 % of the current size is not worth a command. */
      uint64_t diff = size > cur ? size - cur : cur - size;
      if (policy_sat_mul (diff, 10000) <= policy_sat_mul (cur, MOM_MIN_CHANGE_BP))
        {
          d->reason = "mom:deadband";
          continue;
        }
      ref_vm_set (vm, d, size, reason);
      if (d->target_bytes != size)
        d->reason = d->target_bytes == d->min_bytes ? "floor" : "ceiling";
    }
  ref_decision_sums (out);
  ref_ksmtuned_step (s, out, "mom");
  return 0;
}
