/* release.c: the plan for giving ballooned memory back when ballast stops:
 * every VM towards its max, all of it only within the host's free memory. */
#include "defaults.h"
#include "policy.h"
#include "util.h"

uint64_t
policy_host_reserve_bytes (const PolicyConfig *c, uint64_t mem_total_bytes)
{
  uint64_t total = policy_cap_bytes (mem_total_bytes);
  uint64_t def = policy_max_u64 (POLICY_DEFAULT_RESERVE_FLOOR_BYTES,
                                 policy_pct_of (total, POLICY_DEFAULT_RESERVE_PCT));
  return policy_cap_bytes (policy_size_resolve (&c->host_reserve, total, def));
}

uint64_t
policy_release_room (const PolicyHost *h, const PolicyConfig *c)
{
  uint64_t total = policy_cap_bytes (h->mem_total_bytes);
  if (total == 0)
    return 0;
  uint64_t avail = policy_min_u64 (policy_cap_bytes (h->mem_available_bytes), total);
  return policy_sat_sub (avail, policy_host_reserve_bytes (c, total));
}

/* What a VM holds of the host: its balloon, or its QEMU's PSS if more. */
static uint64_t
release_held_bytes (const PolicyReleaseVm *vm)
{
  uint64_t pss = vm->pss_bytes.present ? policy_cap_bytes (vm->pss_bytes.value) : 0;
  return policy_max_u64 (policy_cap_bytes (vm->actual_bytes), pss);
}

uint64_t
policy_release_plan (const PolicyReleaseVm *vms, size_t n_vms, uint64_t room_bytes,
                     uint64_t *targets_bytes)
{
  uint64_t short_sum = 0;
  for (size_t i = 0; i < n_vms; i++)
    short_sum = policy_sat_add (short_sum, policy_sat_sub (policy_cap_bytes (vms[i].max_bytes),
                                                           release_held_bytes (&vms[i])));
  /* Proportional shares: no VM is filled while another stays at its floor. */
  bool all = short_sum <= room_bytes;
  uint64_t given = 0;
  for (size_t i = 0; i < n_vms; i++)
    {
      uint64_t max = policy_cap_bytes (vms[i].max_bytes);
      uint64_t held = release_held_bytes (&vms[i]);
      uint64_t shortfall = policy_sat_sub (max, held);
      uint64_t share = shortfall;
      if (!all)
        share = policy_mul_div (shortfall, room_bytes, short_sum) / POLICY_MIB * POLICY_MIB;
      /* Up to what it already holds costs the host nothing. */
      uint64_t target = policy_min_u64 (policy_sat_add (held, share), max);
      targets_bytes[i] = policy_max_u64 (vms[i].actual_bytes, target);
      given += targets_bytes[i] > held ? targets_bytes[i] - held : 0;
    }
  return given;
}
