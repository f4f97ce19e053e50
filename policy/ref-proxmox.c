/* ref-proxmox.c: Proxmox VE's auto-ballooning (pvestatd) as a reference: every 10 s,
 * steer host usage to 80 %, moving each VM by at most 100 MiB, by shares. */
#include <math.h>

#include "ref.h"
#include "util.h"

/* pvestatd's status loop runs every 10 s. */
#define PVE_INTERVAL_MS 10000u
/* Host memory target: 80 % used. */
#define PVE_TARGET_USED_PCT 80u
/* A VM's balloon moves by at most 100 MiB per round. */
#define PVE_MAX_CHANGE_BYTES (100ull * POLICY_MIB)

typedef enum
{
  PVE_GROW,
  PVE_SHRINK,
} PveDir;

/* Bounds of VM i's allocation for one direction: grow hands out increments
 * in [0, min(100 MiB, max - cur)]; shrink computes an allocation in [min, cur]. */
static bool
pve_bounds (const PolicySnapshot *s, const PolicyDecision *out, size_t i, PveDir dir, uint64_t *lo,
            uint64_t *hi)
{
  const PolicyVm *vm = &s->vms[i];
  const PolicyVmDecision *d = &out->vms[i];
  if (!ref_vm_steerable (vm))
    return false;
  uint64_t cur = policy_cap_bytes (vm->actual_bytes.value);
  if (dir == PVE_GROW)
    {
      if (cur >= d->max_bytes)
        return false;
      *lo = 0;
      *hi = policy_min_u64 (PVE_MAX_CHANGE_BYTES, d->max_bytes - cur);
    }
  else
    {
      if (cur <= d->min_bytes)
        return false;
      *lo = d->min_bytes;
      *hi = cur;
    }
  return true;
}

static double
pve_fill_sum (const PolicySnapshot *s, const PolicyDecision *out, PveDir dir, double lambda)
{
  double sum = 0.0;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      uint64_t lo, hi;
      if (!pve_bounds (s, out, i, dir, &lo, &hi))
        continue;
      double v = lambda * (double) s->vms[i].cfg.shares;
      sum += v < (double) lo ? (double) lo : v > (double) hi ? (double) hi : v;
    }
  return sum;
}

/* The water level λ at which Σ clamp(λ·shares, lo, hi) reaches `want`:
 * memory goes to VMs in proportion to their shares. */
static double
pve_level (const PolicySnapshot *s, const PolicyDecision *out, PveDir dir, double want)
{
  double hi_l = 0.0;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      uint64_t lo, hi;
      if (pve_bounds (s, out, i, dir, &lo, &hi) && s->vms[i].cfg.shares > 0)
        hi_l = fmax (hi_l, (double) hi / (double) s->vms[i].cfg.shares);
    }
  double lo_l = 0.0;
  for (int it = 0; it < 64; it++)
    {
      double mid = 0.5 * (lo_l + hi_l);
      if (pve_fill_sum (s, out, dir, mid) < want)
        lo_l = mid;
      else
        hi_l = mid;
    }
  /* The level that reaches `want` (from above: a saturated VM gets exactly its bound). */
  return hi_l;
}

int
policy_proxmox_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                       PolicyDecision *out)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL
      || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return -1;
  ref_decision_hold (s, out, "proxmox:wait");
  if (!ref_due (carry, s->now_ms, PVE_INTERVAL_MS))
    return 0;

  uint64_t total = policy_cap_bytes (s->host.mem_total_bytes);
  uint64_t used = policy_sat_sub (
      total, policy_min_u64 (policy_cap_bytes (s->host.mem_available_bytes), total));
  uint64_t target_used = policy_mul_div (total, PVE_TARGET_USED_PCT, 100);
  out->budget_bytes = target_used;
  /* goal > 0: memory to hand out; goal < 0: memory to take back. */
  double goal = (double) target_used - (double) used;
  PveDir dir = goal >= 0.0 ? PVE_GROW : PVE_SHRINK;
  out->host_tight = dir == PVE_SHRINK;
  out->host_reason = dir == PVE_SHRINK ? "proxmox:above-target" : "ok";

  double lo_sum = 0.0, hi_sum = 0.0;
  for (size_t i = 0; i < s->n_vms; i++)
    {
      uint64_t lo, hi;
      if (pve_bounds (s, out, i, dir, &lo, &hi))
        {
          lo_sum += (double) lo;
          hi_sum += (double) hi;
        }
    }
  if (hi_sum <= lo_sum)
    {
      ref_decision_sums (out);
      return 0;
    }
  /* Grow: Σ increments = goal; shrink: Σ allocations = Σ cur - |goal|. */
  double want = dir == PVE_GROW ? fmin (goal, hi_sum) : fmax (hi_sum + goal, lo_sum);
  double lambda = pve_level (s, out, dir, want);
  for (size_t i = 0; i < s->n_vms; i++)
    {
      uint64_t lo, hi;
      if (!pve_bounds (s, out, i, dir, &lo, &hi))
        continue;
      const PolicyVm *vm = &s->vms[i];
      uint64_t cur = policy_cap_bytes (vm->actual_bytes.value);
      double v = lambda * (double) vm->cfg.shares;
      uint64_t share = policy_u64_from_double (round (v < (double) lo   ? (double) lo
                                                      : v > (double) hi ? (double) hi
                                                                        : v));
      uint64_t target;
      if (dir == PVE_GROW)
        target = policy_sat_add (cur, share);
      else
        target = policy_max_u64 (share, policy_sat_sub (cur, PVE_MAX_CHANGE_BYTES));
      if (target == cur)
        continue;
      ref_vm_set (vm, &out->vms[i], target, dir == PVE_GROW ? "proxmox:grow" : "proxmox:shrink");
    }
  ref_decision_sums (out);
  return 0;
}
