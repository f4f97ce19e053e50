/* policy.c: defaults (docs/policy.md, "Configuration keys"), limits and size
 * resolution shared by every policy, names, and the table of policies by name. */
#include "policy.h"

#include <string.h>

#include "defaults.h"
#include "util.h"

void
policy_vm_config_defaults (PolicyVmConfig *v)
{
  if (v == NULL)
    return;
  memset (v, 0, sizeof *v);
  v->mode = POLICY_VM_MODE_AUTO;
  v->shares = POLICY_DEFAULT_SHARES;
  v->cold_age_ms = POLICY_DEFAULT_COLD_AGE_MS;
  v->ksm = true;
  v->pressure_target_pct = POLICY_DEFAULT_PRESSURE_TARGET_PCT;
  v->refill_ms = POLICY_DEFAULT_REFILL_MS;
  v->burst_hold_ms = POLICY_DEFAULT_BURST_HOLD_MS;
  v->boot_grace_ms = POLICY_DEFAULT_BOOT_GRACE_MS;
}

void
policy_config_defaults (PolicyConfig *c)
{
  if (c == NULL)
    return;
  memset (c, 0, sizeof *c);
  c->tick_ms = POLICY_DEFAULT_TICK_MS;
  c->host_mode = POLICY_HOST_MODE_BALANCED;
  c->ksm_mode = POLICY_KSM_MODE_AUTO;
  c->ksm_cpu_steady_pct = POLICY_DEFAULT_KSM_CPU_STEADY_PCT;
  c->ksm_cpu_boost_pct = POLICY_DEFAULT_KSM_CPU_BOOST_PCT;
  c->ksm_boost_scan_time_ms = POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS;
  policy_vm_config_defaults (&c->vm_defaults);
}

uint64_t
policy_size_resolve (const PolicySize *size, uint64_t base_bytes, uint64_t default_bytes)
{
  if (size == NULL || !size->set)
    return default_bytes;
  if (size->is_pct)
    return policy_pct_of (base_bytes, size->pct);
  return size->bytes;
}

void
policy_vm_limits (const PolicyVm *vm, uint64_t *min_bytes, uint64_t *max_bytes)
{
  uint64_t lo = 0, hi = 0;
  if (vm != NULL)
    {
      uint64_t ram = policy_cap_bytes (vm->ram_bytes);
      hi = policy_min_u64 (policy_size_resolve (&vm->cfg.max, ram, ram), ram);
      uint64_t def_min = policy_max_u64 (POLICY_DEFAULT_MIN_FLOOR_BYTES,
                                         policy_pct_of (ram, POLICY_DEFAULT_MIN_PCT));
      /* No guest runs in less: a min or max below this (e.g. max=0 or 1 %) is
       * starvation, not a policy. */
      uint64_t abs_floor = policy_min_u64 (POLICY_ABS_MIN_BYTES, ram);
      hi = policy_max_u64 (hi, abs_floor);
      lo = policy_min_u64 (
          policy_max_u64 (policy_size_resolve (&vm->cfg.min, ram, def_min), abs_floor), hi);
    }
  if (min_bytes != NULL)
    *min_bytes = lo;
  if (max_bytes != NULL)
    *max_bytes = hi;
}

const char *
policy_ksm_state_name (PolicyKsmState state)
{
  static const char *const names[] = {
    [POLICY_KSM_IDLE] = "idle",
    [POLICY_KSM_BOOST] = "boost",
    [POLICY_KSM_STEADY] = "steady",
    [POLICY_KSM_SETTLE] = "settle",
  };
  if ((unsigned) state < sizeof names / sizeof names[0])
    return names[state];
  return "unknown";
}

const char *
policy_vm_mode_name (PolicyVmMode mode)
{
  static const char *const names[] = {
    [POLICY_VM_MODE_AUTO] = "auto",
    [POLICY_VM_MODE_FIXED] = "fixed",
    [POLICY_VM_MODE_OBSERVE] = "observe",
    [POLICY_VM_MODE_OFF] = "off",
  };
  if ((unsigned) mode < sizeof names / sizeof names[0])
    return names[mode];
  return "unknown";
}

/* The reference policies are compiled in when their sources exist
 * (policy/meson.build defines POLICY_HAVE_REF_*). */
static const struct
{
  const char *name;
  PolicyDecideFn fn;
} policy_table[] = {
  { "ballast", policy_decide },
#if POLICY_HAVE_REF_MOM
  { "mom", policy_mom_decide },
#endif
#if POLICY_HAVE_REF_PROXMOX
  { "proxmox", policy_proxmox_decide },
#endif
#if POLICY_HAVE_REF_KSMTUNED
  { "ksmtuned", policy_ksmtuned_decide },
#endif
#if POLICY_HAVE_REF_KATA
  { "kata", policy_kata_decide },
#endif
};

PolicyDecideFn
policy_lookup (const char *name)
{
  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof policy_table / sizeof policy_table[0]; i++)
    if (strcmp (policy_table[i].name, name) == 0)
      return policy_table[i].fn;
  return NULL;
}
