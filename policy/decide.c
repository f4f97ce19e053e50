/* decide.c: the ballast policy (placeholder while the core lands). */
#include "policy.h"

#include "carry.h"

int
policy_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
               PolicyDecision *out)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return -1;
  out->n_vms = s->n_vms;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      const PolicyVm *vm = &s->vms[i];
      PolicyVmDecision *d = &out->vms[i];
      *d = (PolicyVmDecision) { .id = vm->id, .reason = "hold" };
      policy_vm_limits (vm, &d->min_bytes, &d->max_bytes);
      d->target_bytes = vm->actual_bytes.present ? vm->actual_bytes.value : vm->ram_bytes;
    }
  out->ksm = (PolicyKsmDecision) { .state = POLICY_KSM_IDLE, .reason = "hold" };
  out->host_reason = "hold";
  return 0;
}
