/* decide.c: the ballast policy's balloon half and the joint tick: need per VM,
 * thrash feedback, host budget, allocation by shares, shaping, urgent path, kicks. */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "carry.h"
#include "defaults.h"
#include "internal.h"
#include "util.h"

/* Thrash feedback: on pressure the allowance grows at once by this share of
 * the need (or the refault rate over a tick, whichever is larger)... */
#define PRESSURE_GROWTH_PCT 25u
/* ...and the effective cold age lengthens by 5/4, up to this factor. */
#define COLD_AGE_EFF_MAX_FACTOR 4u
/* After this many calm ticks the allowance decays, by at most 1 % a tick:
 * a guest that just stalled is likely to stall again soon. */
#define CALM_TICKS_BEFORE_DECAY 5u
#define DECAY_DIVISOR 100u
/* An allowance below this is dropped rather than decayed forever. */
#define ALLOWANCE_DROP_BYTES POLICY_MIB
/* A refault rate above pressure-target % of the need per second counts as
 * pressure too (0.1 % of a 2 GiB need = 2 MiB/s of refaults). */

/* A rise of `actual` at least this big that the controller did not ask for
 * is the guest's own demand (deflate-on-oom) ... */
#define DEMAND_RISE_MIN_BYTES (16ull * POLICY_MIB)
/* ... (above the last target by more than this slack: QEMU rounds) ... */
#define DEMAND_SLACK_BYTES (4ull * POLICY_MIB)
/* ... and is kept as a floor this long: the guest just showed it needs it. */
#define DEMAND_FLOOR_MS 300000u

/* Guest available memory below max(32 MiB, 2 % of RAM) is urgent. */
#define LOW_WATERMARK_FLOOR_BYTES (32ull * POLICY_MIB)
#define LOW_WATERMARK_PCT 2.0

/* A target that was issued and did not move the balloon for this long is
 * issued again (the guest may have missed it, e.g. across a driver reload). */
#define REISSUE_STUCK_MS 30000u

/* A balloon deflating by at least this much in one tick is a KSM kick: fresh
 * guest pages that may be identical to others'. */
#define KSM_KICK_DEFLATE_BYTES (256ull * POLICY_MIB)

/* The host is tight below this many reserves of MemAvailable... */
#define TIGHT_RESERVE_FACTOR 2u
/* ...or when its own PSI memory `some` avg10 is above this. */
#define TIGHT_HOST_PSI_PCT 5.0
/* Tightness is 0 with MemAvailable >= this many reserves, 1 at one reserve. */
#define TIGHTNESS_SPAN_RESERVES 3u

/* Kicks that make a VM reserve its RAM until its balloon driver reports. */
#define BOOT_KICKS (POLICY_KICK_CREATING | POLICY_KICK_CREATED | POLICY_KICK_STARTED)
/* Kicks that send KSM to boost: new guest memory to merge. */
#define KSM_KICKS                                                                          \
  (POLICY_KICK_CREATING | POLICY_KICK_CREATED | POLICY_KICK_STARTED | POLICY_KICK_MIGRATED \
   | POLICY_KICK_MEM_HOTPLUG | POLICY_KICK_RESUMED | POLICY_KICK_OPERATOR)

enum
{
  WORK_STEERED = 1u << 0,
  WORK_NO_INFLATE = 1u << 1, /* urgent: may only deflate this tick */
};

/* Per-VM values of one tick, in the carry's scratch. */
typedef struct
{
  uint64_t min, max, soft_floor, need, plan, cur;
  uint64_t lo, hi; /* the current water-fill level */
  uint32_t weight;
  uint32_t flags;
  double ksm_frac; /* share of the VM's memory KSM merged: inflating it frees less */
  const char *reason;
} VmWork;

typedef struct
{
  double key;
  uint32_t idx;
} FillItem;

static int
fill_item_cmp (const void *a, const void *b)
{
  const FillItem *x = a, *y = b;
  if (x->key < y->key)
    return -1;
  if (x->key > y->key)
    return 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Water-fill: each steered VM gets lo + min(hi - lo, λ·weight) with the
 * largest λ such that the sum stays within `budget` (which must be >= Σ lo).
 * Writes plan; Σ plan <= budget exactly (integer fix-up after the float λ). */
static void
water_fill (VmWork *w, const uint32_t *steered, size_t n, uint64_t budget, FillItem *items)
{
  uint64_t sum_lo = 0, sum_hi = 0;
  for (size_t k = 0; k < n; k++)
    {
      sum_lo = policy_sat_add (sum_lo, w[steered[k]].lo);
      sum_hi = policy_sat_add (sum_hi, w[steered[k]].hi);
    }
  if (sum_hi <= budget)
    {
      for (size_t k = 0; k < n; k++)
        w[steered[k]].plan = w[steered[k]].hi;
      return;
    }
  uint64_t remaining = policy_sat_sub (budget, sum_lo);
  size_t m = 0;
  double weight_sum = 0.0;
  for (size_t k = 0; k < n; k++)
    {
      VmWork *v = &w[steered[k]];
      v->plan = v->lo;
      uint64_t gap = v->hi - v->lo;
      if (gap == 0 || v->weight == 0)
        continue;
      items[m].key = (double) gap / (double) v->weight;
      items[m].idx = steered[k];
      weight_sum += v->weight;
      m++;
    }
  if (m == 0)
    return;
  qsort (items, m, sizeof *items, fill_item_cmp);
  double rem = (double) remaining;
  double lambda = 0.0;
  size_t saturated = 0;
  for (; saturated < m; saturated++)
    {
      const VmWork *v = &w[items[saturated].idx];
      if (items[saturated].key * weight_sum > rem)
        break;
      rem -= (double) (v->hi - v->lo);
      weight_sum -= v->weight;
    }
  if (saturated < m && weight_sum > 0.0 && rem > 0.0)
    lambda = rem / weight_sum;
  uint64_t sum = sum_lo;
  for (size_t k = 0; k < m; k++)
    {
      VmWork *v = &w[items[k].idx];
      uint64_t gap = v->hi - v->lo;
      uint64_t add = k < saturated ? gap : policy_min_u64 (gap, policy_u64_from_double (lambda * v->weight));
      v->plan = v->lo + add;
      sum = policy_sat_add (sum, add);
    }
  /* Float rounding may overshoot by a few bytes: take it back, largest first. */
  for (size_t k = m; k > 0 && sum > budget; k--)
    {
      VmWork *v = &w[items[k - 1].idx];
      uint64_t take = policy_min_u64 (sum - budget, v->plan - v->lo);
      v->plan -= take;
      sum -= take;
    }
}

/* Bytes idle for at most `cold_ms`, interpolating inside the bin that
 * straddles it; the open-ended last bin (age 0 after the first) is cold. */
static uint64_t
ws_bytes (const PolicyWs *ws, uint64_t cold_ms)
{
  size_t n = ws->n_bins < POLICY_WS_MAX_BINS ? ws->n_bins : POLICY_WS_MAX_BINS;
  uint64_t total = 0, prev_age = 0;
  for (size_t i = 0; i < n; i++)
    {
      const PolicyWsBin *b = &ws->bins[i];
      uint64_t bytes = policy_sat_add (policy_cap_bytes (b->anon_bytes), policy_cap_bytes (b->file_bytes));
      if (b->age_ms == 0 && i > 0)
        break; /* open-ended: older than everything else */
      if (b->age_ms <= prev_age && i > 0)
        break; /* not increasing: malformed, stop at what is known */
      if (b->age_ms <= cold_ms)
        total = policy_sat_add (total, bytes);
      else
        {
          if (cold_ms > prev_age)
            total = policy_sat_add (total, policy_mul_div (bytes, cold_ms - prev_age, b->age_ms - prev_age));
          break;
        }
      prev_age = b->age_ms;
    }
  return policy_cap_bytes (total);
}

static bool
stats_fresh (const PolicyGuestStats *st)
{
  return st->total_bytes.present && st->available_bytes.present && st->total_bytes.value > 0
         && st->age_ms <= POLICY_STATS_STALE_MS;
}

static bool
ws_fresh (const PolicyWs *ws)
{
  return ws->source != POLICY_WS_NONE && ws->n_bins > 0 && ws->age_ms <= POLICY_WS_STALE_MS;
}

static bool
agent_fresh (const PolicyGuestAgent *a)
{
  return a->present && a->age_ms <= POLICY_AGENT_STALE_MS;
}

/* Thrash feedback from the agent's cumulative counters. Returns true if the
 * guest is under pressure this tick; *refault_bps gets the refault rate. */
static bool
vm_pressure (const PolicyVm *vm, const PolicyVmCarry *vc, uint64_t now_ms, uint64_t base_bytes,
             uint64_t page_bytes, double *refault_bps)
{
  *refault_bps = 0.0;
  const PolicyGuestAgent *a = &vm->agent;
  if (!agent_fresh (a))
    return false;
  double target = policy_clamp_double (vm->cfg.pressure_target_pct, 0.0, 100.0);
  if (!vc->have_prev || !vc->prev_agent_present || now_ms <= vc->prev_ms)
    {
      /* No delta yet: avg10 is late but better than nothing on first sight. */
      double avg10 = policy_clamp_double (a->psi_some_avg10_pct, 0.0, 100.0);
      return avg10 > target;
    }
  double dt_us = (double) (now_ms - vc->prev_ms) * 1000.0;
  bool pressure = false;
  if (a->psi_some_total_us >= vc->prev_psi_some_total_us)
    {
      double stall_pct = (double) (a->psi_some_total_us - vc->prev_psi_some_total_us) / dt_us * 100.0;
      if (stall_pct > target)
        pressure = true;
    }
  if (a->refault_total_pages >= vc->prev_refault_total_pages)
    {
      double pages = (double) (a->refault_total_pages - vc->prev_refault_total_pages);
      *refault_bps = policy_clamp_double (pages * (double) page_bytes / (dt_us / 1e6), 0.0, 1e18);
      if (*refault_bps > (double) base_bytes * target / 100.0 && pages > 0)
        pressure = true;
    }
  if (a->oom_kills > vc->prev_oom_kills)
    pressure = true;
  return pressure;
}

/* Shapes the plan into this tick's target (rate limit, deadband, in-flight,
 * stuck re-issue) and decides whether to issue it. */
static void
vm_shape (const PolicyVm *vm, const PolicyConfig *c, VmWork *w, PolicyVmCarry *vc, uint64_t now_ms,
          PolicyVmDecision *d)
{
  uint64_t ram = policy_cap_bytes (vm->ram_bytes);
  uint64_t cur = w->cur, plan = w->plan;
  uint64_t step = policy_size_resolve (&c->inflate_step, ram,
                                       policy_min_u64 (policy_pct_of (ram, POLICY_DEFAULT_INFLATE_STEP_PCT),
                                                       POLICY_DEFAULT_INFLATE_STEP_CAP_BYTES));
  uint64_t deadband = policy_size_resolve (&c->deadband, ram,
                                           policy_max_u64 (policy_pct_of (ram, POLICY_DEFAULT_DEADBAND_PCT),
                                                           POLICY_DEFAULT_DEADBAND_FLOOR_BYTES));
  /* The target in force: where the balloon is heading. */
  uint64_t force = vm->last_target_bytes.present ? policy_cap_bytes (vm->last_target_bytes.value) : cur;
  double keep = 1.0 - policy_clamp_double (w->ksm_frac, 0.0, 1.0);
  const char *reason = w->reason;
  uint64_t target;
  bool issue;

  if (plan >= cur)
    {
      /* Deflate: never delayed, never deadbanded. */
      target = plan;
      issue = force != plan;
    }
  else if (w->flags & WORK_NO_INFLATE)
    {
      /* Urgent: keep a deflate in flight, stop an inflate in flight. */
      target = force > cur ? force : cur;
      issue = force < cur;
      reason = "urgent";
    }
  else if ((double) (cur - plan) * keep < (double) deadband)
    {
      /* Not worth a command: an inflate frees only the unmerged part. */
      if (force >= plan && force <= cur)
        {
          target = force;
          issue = false;
        }
      else
        {
          target = cur;
          issue = true;
        }
      reason = target != cur ? "in-flight" : "deadband";
    }
  else
    {
      uint64_t lo = policy_max_u64 (plan, policy_sat_sub (cur, step));
      if (lo > plan)
        reason = "rate-limit";
      if (force >= lo && force <= cur && force - lo <= step / 2)
        {
          target = force;
          issue = false;
          reason = "in-flight";
        }
      else
        {
          target = lo;
          issue = true;
        }
    }
  /* The ceiling and floor are hard: applied at once. */
  if (target > w->max || target < w->min)
    {
      target = policy_clamp_u64 (target, w->min, w->max);
      issue = force != target;
      reason = target == w->max ? "ceiling" : "floor";
    }
  if (!issue && vc->issued && vc->issued_target_bytes == target && target != cur
      && now_ms >= vc->issued_ms && now_ms - vc->issued_ms >= REISSUE_STUCK_MS && vc->have_prev
      && vc->prev_actual_present && vc->prev_actual_bytes == cur)
    {
      issue = true;
      reason = "reissue";
    }
  else if (!issue && target == force && force != cur && plan > cur)
    reason = "in-flight";
  if (issue)
    {
      vc->issued = true;
      vc->issued_target_bytes = target;
      vc->issued_ms = now_ms;
    }
  d->set_target = issue;
  d->target_bytes = target;
  d->reason = reason;
}

int
policy_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry, PolicyDecision *out)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL
      || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return -1;
  size_t n = s->n_vms;
  if (n > UINT32_MAX || n > SIZE_MAX / (sizeof (VmWork) + sizeof (FillItem) + sizeof (uint32_t)))
    return -1;
  if (!policy_carry_begin_tick (carry, n, s->now_ms))
    return -1;
  uint8_t *scratch = policy_carry_scratch (carry, n * (sizeof (VmWork) + sizeof (FillItem) + sizeof (uint32_t)));
  if (scratch == NULL)
    return -1;
  VmWork *work = (VmWork *) scratch;
  FillItem *items = (FillItem *) (scratch + n * sizeof (VmWork));
  uint32_t *steered = (uint32_t *) (scratch + n * (sizeof (VmWork) + sizeof (FillItem)));
  size_t n_steered = 0;

  uint64_t now = s->now_ms;
  uint64_t tick_ms = c->tick_ms > 0 ? c->tick_ms : POLICY_DEFAULT_TICK_MS;
  uint64_t dt_ms = carry->have_tick && now > carry->last_now_ms ? now - carry->last_now_ms : tick_ms;
  uint64_t page_bytes = s->ksm.page_size_bytes > 0 && s->ksm.page_size_bytes <= POLICY_MIB ? s->ksm.page_size_bytes : 4096;

  /* Host budget. */
  const PolicyHost *h = &s->host;
  uint64_t mem_total = policy_cap_bytes (h->mem_total_bytes);
  uint64_t mem_avail = policy_min_u64 (policy_cap_bytes (h->mem_available_bytes), mem_total);
  uint64_t reserve = policy_size_resolve (&c->host_reserve, mem_total,
                                          policy_max_u64 (POLICY_DEFAULT_RESERVE_FLOOR_BYTES,
                                                          policy_pct_of (mem_total, POLICY_DEFAULT_RESERVE_PCT)));
  reserve = policy_cap_bytes (reserve);
  out->reserve_bytes = reserve;

  memset (&out->ksm, 0, sizeof out->ksm);
  out->n_vms = n;
  out->host_overloaded = false;
  out->host_tight = false;
  uint64_t held = 0, vm_pss_sum = 0, mergeable = 0;
  bool pss_all = true, any_booting = false, ksm_kick = (s->host_kicks & KSM_KICKS) != 0;

  /* Pass 1: need, feedback and mode of every VM. */
  for (size_t i = 0; i < n; i++)
    {
      const PolicyVm *vm = &s->vms[i];
      PolicyVmDecision *d = &out->vms[i];
      VmWork *w = &work[i];
      memset (w, 0, sizeof *w);
      memset (d, 0, sizeof *d);
      d->id = vm->id;
      PolicyVmCarry *vc = policy_carry_vm (carry, vm->id, NULL);
      if (vc == NULL)
        return -1;

      uint64_t ram = policy_cap_bytes (vm->ram_bytes);
      policy_vm_limits (vm, &w->min, &w->max);
      d->min_bytes = w->min;
      d->max_bytes = w->max;
      bool actual_present = vm->actual_bytes.present;
      uint64_t actual = policy_cap_bytes (vm->actual_bytes.value);
      w->cur = actual_present ? actual
               : vm->last_target_bytes.present ? policy_cap_bytes (vm->last_target_bytes.value)
                                               : ram;
      bool destroyed = (vm->kicks & POLICY_KICK_DESTROYED) != 0;
      if (vm->pss_bytes.present)
        vm_pss_sum = policy_sat_add (vm_pss_sum, destroyed ? 0 : policy_cap_bytes (vm->pss_bytes.value));
      else if (!destroyed)
        pss_all = false;
      if (vm->ksm_merging_pages.present && w->cur > 0)
        w->ksm_frac = policy_clamp_double ((double) policy_sat_mul (vm->ksm_merging_pages.value, page_bytes)
                                               / (double) w->cur,
                                           0.0, 1.0);

      /* Need. */
      bool have_ws = ws_fresh (&vm->ws), have_stats = stats_fresh (&vm->stats);
      bool have_agent = agent_fresh (&vm->agent);
      bool has_data = actual_present && (have_ws || have_stats);
      uint64_t headroom = policy_size_resolve (&vm->cfg.headroom, ram,
                                               policy_max_u64 (POLICY_DEFAULT_HEADROOM_FLOOR_BYTES,
                                                               policy_pct_of (ram, POLICY_DEFAULT_HEADROOM_PCT)));
      headroom = policy_cap_bytes (headroom);
      uint64_t cold = vm->cfg.cold_age_ms > 0 ? vm->cfg.cold_age_ms : POLICY_DEFAULT_COLD_AGE_MS;
      if (vc->cold_age_eff_ms < cold)
        vc->cold_age_eff_ms = cold;
      uint64_t cold_max = policy_sat_mul (cold, COLD_AGE_EFF_MAX_FACTOR);
      if (vc->cold_age_eff_ms > cold_max)
        vc->cold_age_eff_ms = cold_max;

      uint64_t base = 0;
      const char *reason = "no-data";
      if (have_stats)
        {
          base = policy_sat_sub (policy_cap_bytes (vm->stats.total_bytes.value),
                                 policy_cap_bytes (vm->stats.available_bytes.value));
          reason = "stats+headroom";
        }
      if (have_ws)
        {
          base = ws_bytes (&vm->ws, vc->cold_age_eff_ms);
          if (have_agent)
            base = policy_sat_add (base, policy_cap_bytes (vm->agent.unevictable_bytes));
          reason = "ws+headroom";
        }
      double refault_bps = 0.0;
      bool pressure = vm_pressure (vm, vc, now, policy_sat_add (base, headroom), page_bytes, &refault_bps);
      bool urgent = (have_agent && vm->agent.urgent)
                    || (have_stats
                        && policy_cap_bytes (vm->stats.available_bytes.value)
                               < policy_max_u64 (LOW_WATERMARK_FLOOR_BYTES, policy_pct_of (ram, LOW_WATERMARK_PCT)));
      /* A rise of actual the controller did not ask for: the guest's demand. */
      if (actual_present && vc->have_prev && vc->prev_actual_present
          && actual >= policy_sat_add (vc->prev_actual_bytes, DEMAND_RISE_MIN_BYTES))
        {
          uint64_t asked = vm->last_target_bytes.present ? policy_cap_bytes (vm->last_target_bytes.value)
                           : vc->issued                   ? vc->issued_target_bytes
                                                          : 0;
          if (actual > policy_sat_add (asked, DEMAND_SLACK_BYTES))
            {
              vc->demand_floor_bytes = actual;
              vc->demand_floor_until_ms = policy_sat_add (now, DEMAND_FLOOR_MS);
              pressure = true;
            }
          if (policy_sat_sub (actual, vc->prev_actual_bytes) >= KSM_KICK_DEFLATE_BYTES && vm->cfg.ksm)
            ksm_kick = true;
        }
      if (urgent)
        pressure = true;
      if (has_data && vm->cfg.mode != POLICY_VM_MODE_OFF)
        {
          uint64_t need0 = policy_sat_add (base, headroom);
          if (pressure)
            {
              uint64_t growth = policy_max_u64 (policy_mul_div (need0, PRESSURE_GROWTH_PCT, 100),
                                                policy_u64_from_double (refault_bps * (double) tick_ms / 1000.0));
              vc->allowance_bytes = policy_min_u64 (policy_sat_add (vc->allowance_bytes, growth), ram);
              vc->cold_age_eff_ms = policy_min_u64 (policy_mul_div (vc->cold_age_eff_ms, 5, 4), cold_max);
              vc->calm_ticks = 0;
            }
          else
            {
              if (vc->calm_ticks < UINT32_MAX)
                vc->calm_ticks++;
              if (vc->calm_ticks > CALM_TICKS_BEFORE_DECAY)
                {
                  vc->allowance_bytes -= vc->allowance_bytes / DECAY_DIVISOR;
                  if (vc->allowance_bytes < ALLOWANCE_DROP_BYTES)
                    vc->allowance_bytes = 0;
                  vc->cold_age_eff_ms -= (vc->cold_age_eff_ms - cold) / DECAY_DIVISOR;
                }
            }
          uint64_t raw = policy_sat_add (need0, vc->allowance_bytes);
          w->need = policy_clamp_u64 (raw, w->min, w->max);
          if (vc->allowance_bytes > 0)
            reason = "pressure";
          if (raw > w->max)
            reason = "ceiling";
          else if (raw < w->min)
            reason = "floor";
          w->soft_floor = w->min;
          if (now < vc->demand_floor_until_ms)
            {
              uint64_t f = policy_min_u64 (vc->demand_floor_bytes, w->max);
              if (f > w->soft_floor)
                w->soft_floor = f;
              if (f >= w->need)
                reason = "demand-floor";
            }
          if (urgent)
            {
              w->flags |= WORK_NO_INFLATE;
              uint64_t f = policy_min_u64 (policy_sat_add (w->cur, headroom), w->max);
              if (f > w->soft_floor)
                w->soft_floor = f;
              reason = "urgent";
            }
          if (w->soft_floor > w->need)
            w->need = w->soft_floor;
        }
      w->reason = reason;
      w->weight = vm->cfg.shares;
      d->need_bytes = w->need;

      /* Booting: reserve the configured RAM until the driver reports. */
      if (vm->state == POLICY_VM_STATE_STARTING || (vm->kicks & BOOT_KICKS))
        vc->booting = true;
      if (has_data)
        vc->booting = false;
      if (vm->cfg.ksm && (vm->kicks & KSM_KICKS))
        ksm_kick = true;
      if (vm->cfg.ksm && vm->cfg.mode != POLICY_VM_MODE_OFF && !destroyed)
        mergeable = policy_sat_add (mergeable, vc->booting ? ram : w->cur);

      /* Mode and lifecycle: who is held, and at what. */
      uint64_t hold = w->cur;
      d->target_bytes = w->cur;
      d->plan_bytes = policy_clamp_u64 (w->cur, w->min, w->max);
      d->held = true;
      if (destroyed)
        {
          hold = 0;
          d->target_bytes = d->plan_bytes;
          d->reason = "kick:vm-destroyed";
        }
      else if (vm->cfg.mode == POLICY_VM_MODE_OFF)
        d->reason = "mode:off";
      else if (vm->cfg.mode == POLICY_VM_MODE_OBSERVE)
        d->reason = "mode:observe";
      else if (vm->cfg.mode == POLICY_VM_MODE_FIXED)
        {
          uint64_t fixed = policy_min_u64 (policy_cap_bytes (policy_size_resolve (&vm->cfg.target, ram, w->cur)), ram);
          d->target_bytes = fixed;
          d->plan_bytes = fixed;
          hold = policy_max_u64 (w->cur, fixed);
          d->reason = "mode:fixed";
        }
      else if (vc->booting)
        {
          any_booting = true;
          hold = ram;
          d->target_bytes = d->plan_bytes;
          d->reason = "kick:vm-starting";
        }
      else if (vm->state == POLICY_VM_STATE_PAUSED || vm->state == POLICY_VM_STATE_STOPPING || !has_data)
        {
          /* Held where it is and never inflated; only raised to its floor. */
          uint64_t t = d->plan_bytes;
          d->target_bytes = t;
          /* Issued lately and not reached: in flight (a guest that never
           * reaches its floor must not draw a command every tick). */
          bool in_flight = vc->issued && vc->issued_target_bytes == t && now >= vc->issued_ms
                           && now - vc->issued_ms < REISSUE_STUCK_MS;
          d->set_target = actual_present && t > actual && vm->state == POLICY_VM_STATE_RUNNING
                          && !in_flight;
          hold = policy_max_u64 (w->cur, t);
          d->reason = vm->state == POLICY_VM_STATE_PAUSED     ? "paused"
                      : vm->state == POLICY_VM_STATE_STOPPING ? "stopping"
                      : d->set_target || in_flight            ? "no-data:floor"
                                                              : "no-data:hold";
          if (d->set_target)
            {
              vc->issued = true;
              vc->issued_target_bytes = t;
              vc->issued_ms = now;
            }
        }
      else
        {
          d->held = false;
          w->flags |= WORK_STEERED;
          steered[n_steered++] = (uint32_t) i;
          hold = 0;
        }
      held = policy_sat_add (held, hold);

      /* Samples for the next tick. */
      vc->have_prev = true;
      vc->prev_ms = now;
      vc->prev_actual_present = actual_present;
      vc->prev_actual_bytes = actual;
      vc->prev_agent_present = have_agent;
      if (have_agent)
        {
          vc->prev_psi_some_total_us = vm->agent.psi_some_total_us;
          vc->prev_refault_total_pages = vm->agent.refault_total_pages;
          vc->prev_oom_kills = vm->agent.oom_kills;
        }
    }

  /* B = MemTotal - reserve - non-VM usage + what KSM saves. Without a probe
   * of non-VM usage, it is what is used minus what the VMs' PSS explains. */
  uint64_t non_vm;
  if (h->non_vm_used_bytes.present)
    non_vm = policy_cap_bytes (h->non_vm_used_bytes.value);
  else if (pss_all && n > 0)
    non_vm = policy_sat_sub (mem_total - mem_avail, vm_pss_sum);
  else
    non_vm = 0;
  uint64_t saved = policy_min_u64 (policy_ksm_saved_bytes (&s->ksm), POLICY_BYTES_CAP);
  if (!s->ksm.present)
    saved = 0;
  uint64_t budget = policy_sat_add (policy_sat_sub (policy_sat_sub (mem_total, reserve), non_vm), saved);
  out->budget_bytes = budget;
  out->held_bytes = held;

  /* Allocation: min -> soft floor -> need -> max, water-filled by shares. */
  uint64_t room = policy_sat_sub (budget, held);
  uint64_t sum_min = 0, sum_floor = 0, sum_need = 0;
  for (size_t k = 0; k < n_steered; k++)
    {
      VmWork *w = &work[steered[k]];
      sum_min = policy_sat_add (sum_min, w->min);
      sum_floor = policy_sat_add (sum_floor, w->soft_floor);
      sum_need = policy_sat_add (sum_need, w->need);
    }
  uint64_t sum_need_all = sum_need;
  for (size_t i = 0; i < n; i++)
    if (!(work[i].flags & WORK_STEERED))
      sum_need_all = policy_sat_add (sum_need_all, out->vms[i].need_bytes);
  out->sum_need_bytes = sum_need_all;
  bool overloaded = held > budget || sum_need > room;
  /* A host short of MemAvailable hands out no surplus, whatever the budget
   * says (non-VM usage may be under-measured): cold guest memory is the
   * cheapest lever, so it is reclaimed first. */
  bool tight = overloaded || mem_avail < policy_sat_mul (reserve, TIGHT_RESERVE_FACTOR)
               || policy_clamp_double (h->psi_some_avg10_pct, 0.0, 100.0) >= TIGHT_HOST_PSI_PCT;
  for (size_t k = 0; k < n_steered; k++)
    {
      VmWork *w = &work[steered[k]];
      if (!overloaded)
        {
          w->lo = w->need;
          w->hi = c->host_mode == POLICY_HOST_MODE_DENSITY || tight ? w->need : w->max;
        }
      else if (sum_floor <= room)
        {
          w->lo = w->soft_floor;
          w->hi = w->need;
        }
      else
        {
          w->lo = w->min;
          w->hi = sum_min <= room ? w->soft_floor : w->min;
        }
    }
  water_fill (work, steered, n_steered, room, items);

  /* Host state for the KSM half and the cheaper-lever choice. */
  double tightness = 0.0;
  if (reserve > 0)
    {
      double slack = ((double) mem_avail - (double) reserve) / ((double) reserve * TIGHTNESS_SPAN_RESERVES);
      tightness = 1.0 - policy_clamp_double (slack, 0.0, 1.0);
    }
  else if (mem_avail == 0)
    tightness = 1.0;
  if (overloaded)
    tightness = 1.0;
  uint64_t deficit = policy_sat_sub (policy_sat_mul (reserve, TIGHT_RESERVE_FACTOR), mem_avail);
  if (overloaded)
    deficit = policy_max_u64 (deficit, policy_sat_sub (policy_sat_add (held, sum_need), budget));
  double reclaimable = 0.0;

  /* Pass 2: shape the steered VMs. */
  uint64_t sum_plan = 0, sum_target = 0;
  for (size_t k = 0; k < n_steered; k++)
    {
      size_t i = steered[k];
      VmWork *w = &work[i];
      PolicyVmDecision *d = &out->vms[i];
      if (w->plan > w->need)
        w->reason = "surplus";
      else if (w->plan < w->need)
        w->reason = "overloaded";
      d->plan_bytes = w->plan;
      sum_plan = policy_sat_add (sum_plan, w->plan);
      if (w->cur > w->plan)
        reclaimable += (double) (w->cur - w->plan) * (1.0 - w->ksm_frac);
      PolicyVmCarry *vc = policy_carry_vm (carry, s->vms[i].id, NULL);
      vm_shape (&s->vms[i], c, w, vc, now, d);
    }
  for (size_t i = 0; i < n; i++)
    sum_target = policy_sat_add (sum_target, out->vms[i].target_bytes);
  out->sum_plan_bytes = sum_plan;
  out->sum_target_bytes = sum_target;
  out->host_overloaded = overloaded;
  out->host_tight = tight;
  out->host_reason = overloaded ? "overloaded" : tight ? "tight" : any_booting ? "kick:reserve" : "ok";

  /* The KSM half, in the same tick and on the same budget. */
  PolicyKsmJoint joint = {
    .dt_ms = dt_ms > 0 ? dt_ms : 1,
    .kick = ksm_kick,
    .tight = tight,
    .tightness = tightness,
    .balloon_covers = deficit > 0 && reclaimable >= (double) deficit,
    .mergeable_bytes = mergeable,
  };
  policy_ksm_decide (s, c, &carry->ksm, &joint, &out->ksm);

  carry->have_tick = true;
  carry->last_now_ms = now;
  policy_carry_end_tick (carry);
  return 0;
}
