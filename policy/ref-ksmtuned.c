/* ref-ksmtuned.c: ksmtuned (the KSM tuning daemon shipped with qemu-kvm) as a reference:
 * every 60 s, stop ksmd when memory is plentiful, else +300 / -50 pages_to_scan. */
#include "ref.h"

/* ksmtuned's KSM_MONITOR_INTERVAL. */
#define KSMTUNED_INTERVAL_MS 60000u

int
policy_ksmtuned_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                        PolicyDecision *out)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL
      || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return -1;
  /* KSM only: every VM keeps its target. */
  ref_decision_hold (s, out, "ksmtuned:no-balloon");
  if (!ref_due (carry, s->now_ms, KSMTUNED_INTERVAL_MS))
    {
      out->ksm.reason = "ksmtuned:wait";
      return 0;
    }
  ref_ksmtuned_step (s, out, "ksmtuned");
  return 0;
}
