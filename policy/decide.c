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

/* A rise of the need by at least max(64 MiB, 10 % of RAM) above its low
 * since the last burst is a burst; it ends when the need is back within half
 * of that of the low. */
#define BURST_MIN_FLOOR_BYTES (64ull * POLICY_MIB)
#define BURST_MIN_PCT 10.0

/* Guest available memory below max(32 MiB, 2 % of RAM) is urgent. */
#define LOW_WATERMARK_FLOOR_BYTES (32ull * POLICY_MIB)
#define LOW_WATERMARK_PCT 2.0
/* Urgency again within this many ticks of the last urgent raise means the
 * raise was short: the next one is at least twice as large. */
#define URGENT_REPEAT_TICKS 3u
/* The floor an urgent raise sets holds this long: memory is given back
 * generously and taken back slowly (after it, by rate-limited inflates). */
#define URGENT_HOLD_MS 30000u
/* A guest stalled on memory (its agent's `pressure`, or its deflate-on-oom
 * balloon deflating itself) gets back at least this
 * share of what its balloon holds, at once: the stall shows a want, not its
 * size (the stats showing the allocation come a poll later), and a deflate
 * is cheap (an idle TCG guest here deflates 824 MiB in 0.5 s). */
#define URGENT_SQUEEZE_RETURN_PCT 50.0

/* The balloon's speed is measured over intervals it moved at least this much
 * toward a target it was still short of by more than DEMAND_SLACK_BYTES, and
 * smoothed with this weight for the newest interval. */
#define BALLOON_SPEED_MIN_MOVE_BYTES (8ull * POLICY_MIB)
#define BALLOON_SPEED_WEIGHT 0.3

/* Guest reclaim: cold page cache below this is not worth a request; one
 * request per VM per period, so that the histogram shows its effect (MGLRU
 * aging every 2 s, a report a second) before the next is sized; at most this
 * much per request (the agent's own cap): dropping clean cold cache costs the
 * guest little, and a refault shows as pressure, which stops the requests. */
#define RECLAIM_MIN_BYTES (16ull * POLICY_MIB)
#define RECLAIM_PERIOD_MS 5000u
#define RECLAIM_MAX_BYTES POLICY_GIB
/* Page cache counts as cold for a reclaim request at this fraction of the
 * effective cold age (30 s by default): a dropped clean page costs one read
 * if it is wanted again, and refaults raise the cold age (thrash feedback),
 * which raises this with it. */
#define RECLAIM_COLD_AGE_DIV 4u

/* A target that was issued and did not move the balloon for this long is
 * issued again (the guest may have missed it, e.g. across a driver reload). */
#define REISSUE_STUCK_MS 30000u

/* A balloon deflating by at least this much in one tick is a KSM kick: fresh
 * guest pages that may be identical to others'. */
#define KSM_KICK_DEFLATE_BYTES (256ull * POLICY_MIB)

/* A guest's stats were taken at most this long before they arrived: QEMU
 * asks the guest every second (the controller sets that), plus slack. */
#define STATS_TAKEN_BEFORE_MS 2000u

/* The host is tight below this many reserves of MemAvailable... */
#define TIGHT_RESERVE_FACTOR 2u
/* ...or when its own PSI memory `some` avg10 is above this. */
#define TIGHT_HOST_PSI_PCT 5.0
/* Tightness is 0 with MemAvailable >= this many reserves, 1 at one reserve. */
#define TIGHTNESS_SPAN_RESERVES 3u

/* Kicks that make a VM reserve its RAM until its balloon driver reports. */
#define BOOT_KICKS (POLICY_KICK_CREATING | POLICY_KICK_CREATED | POLICY_KICK_STARTED)
/* Kicks that send KSM to boost: new guest memory to merge. */
#define KSM_KICKS                                                                                  \
  (POLICY_KICK_CREATING | POLICY_KICK_CREATED | POLICY_KICK_STARTED | POLICY_KICK_MIGRATED         \
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
  uint64_t refill; /* need raised to the refill bound or the burst floor (docs/policy.md,
                    * "Refill bound", "Burst floor"), for `raise_reason` */
  const char *raise_reason;
  uint64_t cold_file; /* cold page cache the guest's agent may be asked to reclaim */
  uint64_t lo, hi;    /* the current water-fill level */
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
      uint64_t add
          = k < saturated ? gap : policy_min_u64 (gap, policy_u64_from_double (lambda * v->weight));
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

/* Bytes (page cache only if `file_only`) idle for at most `cold_ms`,
 * interpolating inside the bin that straddles it; the open-ended last bin
 * (age 0 after the first) is cold. */
static uint64_t
ws_bytes (const PolicyWs *ws, uint64_t cold_ms, bool file_only)
{
  size_t n = ws->n_bins < POLICY_WS_MAX_BINS ? ws->n_bins : POLICY_WS_MAX_BINS;
  uint64_t total = 0, prev_age = 0;
  for (size_t i = 0; i < n; i++)
    {
      const PolicyWsBin *b = &ws->bins[i];
      uint64_t bytes = policy_sat_add (file_only ? 0 : policy_cap_bytes (b->anon_bytes),
                                       policy_cap_bytes (b->file_bytes));
      if (b->age_ms == 0 && i > 0)
        break; /* open-ended: older than everything else */
      if (b->age_ms <= prev_age && i > 0)
        break; /* not increasing: malformed, stop at what is known */
      if (b->age_ms <= cold_ms)
        total = policy_sat_add (total, bytes);
      else
        {
          if (cold_ms > prev_age)
            total = policy_sat_add (
                total, policy_mul_div (bytes, cold_ms - prev_age, b->age_ms - prev_age));
          break;
        }
      prev_age = b->age_ms;
    }
  return policy_cap_bytes (total);
}

/* Page cache in every bin, the coldest included. */
static uint64_t
ws_file_total (const PolicyWs *ws)
{
  size_t n = ws->n_bins < POLICY_WS_MAX_BINS ? ws->n_bins : POLICY_WS_MAX_BINS;
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++)
    total = policy_sat_add (total, policy_cap_bytes (ws->bins[i].file_bytes));
  return total;
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
      double stall_pct
          = (double) (a->psi_some_total_us - vc->prev_psi_some_total_us) / dt_us * 100.0;
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

/* The most a VM's balloon inflates in one tick. */
static uint64_t
inflate_step_bytes (const PolicyConfig *c, uint64_t ram)
{
  return policy_size_resolve (&c->inflate_step, ram,
                              policy_min_u64 (policy_pct_of (ram, POLICY_DEFAULT_INFLATE_STEP_PCT),
                                              POLICY_DEFAULT_INFLATE_STEP_CAP_BYTES));
}

/* Shapes the plan into this tick's target (rate limit, deadband, in-flight,
 * stuck re-issue) and decides whether to issue it. */
static void
vm_shape (const PolicyVm *vm, const PolicyConfig *c, VmWork *w, PolicyVmCarry *vc, uint64_t now_ms,
          PolicyVmDecision *d)
{
  uint64_t ram = policy_cap_bytes (vm->ram_bytes);
  uint64_t cur = w->cur, plan = w->plan;
  uint64_t step = inflate_step_bytes (c, ram);
  uint64_t deadband
      = policy_size_resolve (&c->deadband, ram,
                             policy_max_u64 (policy_pct_of (ram, POLICY_DEFAULT_DEADBAND_PCT),
                                             POLICY_DEFAULT_DEADBAND_FLOOR_BYTES));
  /* The target in force: where the balloon is heading. */
  uint64_t force
      = vm->last_target_bytes.present ? policy_cap_bytes (vm->last_target_bytes.value) : cur;
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

/* One tick of the balloon half: its inputs, the scratch arrays in the carry,
 * and the host-wide values each phase leaves for the next. */
typedef struct
{
  const PolicySnapshot *s;
  const PolicyConfig *c;
  PolicyCarry *carry;
  PolicyDecision *out;
  VmWork *work;
  FillItem *items;
  uint32_t *steered; /* indices of the VMs the allocation steers */
  size_t n_steered;
  uint64_t now, tick_ms, dt_ms, page_bytes;
  uint64_t mem_total, mem_avail, reserve;
  bool host_known; /* MemTotal read: without it nothing is taken from a guest */
  /* Sums over the VMs in pass 1. */
  uint64_t held, vm_pss_sum, mergeable, ksm_rss_grown_bytes;
  bool pss_all, any_booting, ksm_kick, ksm_deflate_kick;
  /* The allocation. */
  uint64_t budget, sum_need; /* sum_need: of the steered VMs */
  bool overloaded, tight;
} DecideCtx;

/* Pass 1's view of one VM, beyond what it keeps in VmWork. */
typedef struct
{
  const PolicyVm *vm;
  PolicyVmCarry *vc;
  PolicyVmDecision *d;
  VmWork *w;
  uint64_t ram, actual, headroom, cold, cold_max, base;
  uint64_t base_anon; /* base without page cache (a burst is the guest's own memory) */
  bool actual_present, destroyed, have_ws, have_stats, have_agent, has_data;
  bool pressure, urgent;
  bool stalled; /* the agent said `pressure`, or a deflate-on-oom balloon deflated itself */
  double refault_bps;
  uint64_t used;             /* guest stats: total - available (0 without stats) */
  uint64_t alloc_tick_bytes; /* the guest's allocation rate over one tick */
} VmTick;

/* Checks the arguments, lays out the scratch and reads the host; false on
 * invalid arguments or allocation failure (nothing is written then). */
static bool
decide_begin (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
              PolicyDecision *out, DecideCtx *x)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL
      || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return false;
  size_t n = s->n_vms;
  if (n > UINT32_MAX || n > SIZE_MAX / (sizeof (VmWork) + sizeof (FillItem) + sizeof (uint32_t)))
    return false;
  if (!policy_carry_begin_tick (carry, n, s->now_ms))
    return false;
  uint8_t *scratch
      = policy_carry_scratch (carry, n * (sizeof (VmWork) + sizeof (FillItem) + sizeof (uint32_t)));
  if (scratch == NULL)
    return false;
  *x = (DecideCtx){
    .s = s,
    .c = c,
    .carry = carry,
    .out = out,
    .work = (VmWork *) scratch,
    .items = (FillItem *) (scratch + n * sizeof (VmWork)),
    .steered = (uint32_t *) (scratch + n * (sizeof (VmWork) + sizeof (FillItem))),
    .now = s->now_ms,
    .tick_ms = c->tick_ms > 0 ? c->tick_ms : POLICY_DEFAULT_TICK_MS,
    .pss_all = true,
    .ksm_kick = (s->host_kicks & KSM_KICKS) != 0,
  };
  x->dt_ms
      = carry->have_tick && x->now > carry->last_now_ms ? x->now - carry->last_now_ms : x->tick_ms;
  x->page_bytes = s->ksm.page_size_bytes > 0 && s->ksm.page_size_bytes <= POLICY_MIB
                      ? s->ksm.page_size_bytes
                      : 4096;

  /* The host's memory and its reserve. */
  const PolicyHost *h = &s->host;
  x->mem_total = policy_cap_bytes (h->mem_total_bytes);
  x->mem_avail = policy_min_u64 (policy_cap_bytes (h->mem_available_bytes), x->mem_total);
  x->reserve = policy_host_reserve_bytes (c, x->mem_total);
  x->host_known = x->mem_total > 0;
  out->reserve_bytes = x->reserve;

  memset (&out->ksm, 0, sizeof out->ksm);
  out->n_vms = n;
  out->host_overloaded = false;
  out->host_tight = false;
  return true;
}

/* Limits, current size and host cost of one VM; false if the carry has no
 * slot for it. */
static bool
vm_observe (DecideCtx *x, size_t i, VmTick *t)
{
  const PolicyVm *vm = &x->s->vms[i];
  PolicyVmDecision *d = &x->out->vms[i];
  VmWork *w = &x->work[i];
  memset (w, 0, sizeof *w);
  memset (d, 0, sizeof *d);
  d->id = vm->id;
  PolicyVmCarry *vc = policy_carry_vm (x->carry, vm->id, NULL);
  if (vc == NULL)
    return false;
  *t = (VmTick){ .vm = vm, .vc = vc, .d = d, .w = w };

  t->ram = policy_cap_bytes (vm->ram_bytes);
  policy_vm_limits (vm, &w->min, &w->max);
  d->min_bytes = w->min;
  d->max_bytes = w->max;
  t->actual_present = vm->actual_bytes.present;
  t->actual = policy_cap_bytes (vm->actual_bytes.value);
  w->cur = t->actual_present               ? t->actual
           : vm->last_target_bytes.present ? policy_cap_bytes (vm->last_target_bytes.value)
                                           : t->ram;
  t->destroyed = (vm->kicks & POLICY_KICK_DESTROYED) != 0;
  if (vm->pss_bytes.present)
    x->vm_pss_sum
        = policy_sat_add (x->vm_pss_sum, t->destroyed ? 0 : policy_cap_bytes (vm->pss_bytes.value));
  else if (!t->destroyed)
    x->pss_all = false;
  if (vm->ksm_merging_pages.present && w->cur > 0)
    w->ksm_frac = policy_clamp_double (
        (double) policy_sat_mul (vm->ksm_merging_pages.value, x->page_bytes) / (double) w->cur, 0.0,
        1.0);
  return true;
}

/* The balloon's smallest and largest size over [from_ms, to_ms] (to_ms
 * may be now), from the ring. False when the ring does not reach back to
 * from_ms. */
static bool
actual_range (const VmTick *t, uint64_t from_ms, uint64_t to_ms, uint64_t now_ms, uint64_t *lo,
              uint64_t *hi)
{
  const PolicyVmCarry *vc = t->vc;
  /* The size at from_ms lies between the last entry at or before it and
   * the first after it: a balloon moves one way between two ticks. */
  uint64_t start_ms = 0;
  for (uint32_t i = 0; i < POLICY_ACTUAL_HIST; i++)
    if (vc->actual_hist_ms[i] <= from_ms && vc->actual_hist_ms[i] > start_ms)
      start_ms = vc->actual_hist_ms[i];
  if (start_ms == 0)
    return false;
  *lo = UINT64_MAX;
  *hi = 0;
  if (to_ms >= now_ms)
    *lo = *hi = t->actual;
  for (uint32_t i = 0; i < POLICY_ACTUAL_HIST; i++)
    if (vc->actual_hist_ms[i] >= start_ms && vc->actual_hist_ms[i] <= to_ms)
      {
        *lo = policy_min_u64 (*lo, vc->actual_hist_bytes[i]);
        *hi = policy_max_u64 (*hi, vc->actual_hist_bytes[i]);
      }
  return true;
}

/* The guest's used memory from its stats: total - available. With
 * deflate-on-oom the balloon's pages stay in the guest's MemTotal as used
 * memory, so the balloon's size when the stats were taken, not MemTotal, is
 * the guest's total. The stats lag a moving balloon: that size is known as
 * the range the balloon went through while they can have been taken, and
 * the use last estimated is kept within it (exact once the balloon holds
 * still), never read from the balloon's own travel, which would take an
 * inflate for the guest growing. The first estimate takes the balloon's
 * size now. */
static uint64_t
stats_used (const DecideCtx *x, const VmTick *t)
{
  const PolicyVmCarry *vc = t->vc;
  const PolicyGuestStats *st = &t->vm->stats;
  uint64_t available = policy_cap_bytes (st->available_bytes.value);
  uint64_t most = policy_sat_sub (policy_cap_bytes (st->total_bytes.value), available);
  if (!t->vm->balloon_deflate_on_oom || !t->actual_present)
    return most;
  uint64_t to_ms = policy_sat_sub (x->now, st->age_ms), least = 0, lo, hi;
  bool known
      = actual_range (t, policy_sat_sub (to_ms, STATS_TAKEN_BEFORE_MS), to_ms, x->now, &lo, &hi);
  if (known)
    {
      least = policy_sat_sub (lo, available);
      most = policy_min_u64 (most, policy_sat_sub (hi, available));
    }
  if (!vc->have_prev || !vc->prev_used_present)
    return known ? most : policy_min_u64 (most, policy_sat_sub (t->actual, available));
  return policy_min_u64 (policy_max_u64 (vc->prev_used_bytes, least), most);
}

/* Need: the base (working set, else stats) the headroom is added to, and
 * the effective cold age it is measured at. */
static void
vm_base (const DecideCtx *x, VmTick *t)
{
  const PolicyVm *vm = t->vm;
  PolicyVmCarry *vc = t->vc;
  t->have_ws = ws_fresh (&vm->ws);
  t->have_stats = stats_fresh (&vm->stats);
  t->have_agent = agent_fresh (&vm->agent);
  t->has_data = t->actual_present && (t->have_ws || t->have_stats);
  uint64_t headroom
      = policy_size_resolve (&vm->cfg.headroom, t->ram,
                             policy_max_u64 (POLICY_DEFAULT_HEADROOM_FLOOR_BYTES,
                                             policy_pct_of (t->ram, POLICY_DEFAULT_HEADROOM_PCT)));
  t->headroom = policy_cap_bytes (headroom);
  t->cold = vm->cfg.cold_age_ms > 0 ? vm->cfg.cold_age_ms : POLICY_DEFAULT_COLD_AGE_MS;
  if (vc->cold_age_eff_ms < t->cold)
    vc->cold_age_eff_ms = t->cold;
  t->cold_max = policy_sat_mul (t->cold, COLD_AGE_EFF_MAX_FACTOR);
  if (vc->cold_age_eff_ms > t->cold_max)
    vc->cold_age_eff_ms = t->cold_max;

  t->w->reason = "no-data";
  if (t->have_stats)
    {
      t->used = stats_used (x, t);
      t->base = t->used;
      t->w->reason = "stats+headroom";
    }
  t->base_anon = t->base;
  if (t->have_ws)
    {
      t->base = ws_bytes (&vm->ws, vc->cold_age_eff_ms, false);
      t->base_anon
          = policy_sat_sub (t->base, ws_bytes (&vm->ws, vc->cold_age_eff_ms, true));
      if (t->have_agent)
        {
          uint64_t unevictable = policy_cap_bytes (vm->agent.unevictable_bytes);
          t->base = policy_sat_add (t->base, unevictable);
          t->base_anon = policy_sat_add (t->base_anon, unevictable);
        }
      t->w->reason = "ws+headroom";
    }
}

/* Pressure this tick: thrash feedback, the urgent path, and a rise of
 * actual the controller did not ask for (the guest's demand). */
static void
vm_signals (DecideCtx *x, VmTick *t)
{
  const PolicyVm *vm = t->vm;
  PolicyVmCarry *vc = t->vc;
  t->pressure = vm_pressure (vm, vc, x->now, policy_sat_add (t->base, t->headroom), x->page_bytes,
                             &t->refault_bps);
  t->urgent = (t->have_agent && vm->agent.urgent)
              || (t->have_stats
                  && policy_cap_bytes (vm->stats.available_bytes.value) < policy_max_u64 (
                         LOW_WATERMARK_FLOOR_BYTES, policy_pct_of (t->ram, LOW_WATERMARK_PCT)));
  uint64_t asked = vm->last_target_bytes.present ? policy_cap_bytes (vm->last_target_bytes.value)
                   : vc->issued                  ? vc->issued_target_bytes
                                                 : 0;
  bool grew = t->actual_present && vc->have_prev && vc->prev_actual_present
              && t->actual > vc->prev_actual_bytes;
  /* A deflate-on-oom balloon past the size it was asked for and still
   * growing was deflated by its guest's OOM notifier: the guest ran out, a
   * megabyte in, before any stall is long enough to show (B2: 0.24 s into a
   * spike against 0.75 s for the agent's PSI trigger). */
  t->stalled = (t->have_agent && vm->agent.urgent)
               || (vm->balloon_deflate_on_oom && grew && asked > 0 && t->actual > asked);
  t->urgent = t->urgent || t->stalled;
  if (grew && t->actual >= policy_sat_add (vc->prev_actual_bytes, DEMAND_RISE_MIN_BYTES))
    {
      if (t->actual > policy_sat_add (asked, DEMAND_SLACK_BYTES))
        {
          vc->demand_floor_bytes = t->actual;
          vc->demand_floor_until_ms = policy_sat_add (x->now, DEMAND_FLOOR_MS);
          t->pressure = true;
        }
      if (policy_sat_sub (t->actual, vc->prev_actual_bytes) >= KSM_KICK_DEFLATE_BYTES
          && vm->cfg.ksm)
        x->ksm_deflate_kick = true;
    }
  if (t->urgent)
    t->pressure = true;
  /* What the guest allocated since the last sample (its used memory, or a
   * rise of actual it took itself), at that rate over one tick. */
  if (vc->have_prev && x->now > vc->prev_ms)
    {
      uint64_t grown = t->have_stats && vc->prev_used_present
                           ? policy_sat_sub (t->used, vc->prev_used_bytes)
                           : 0;
      if (x->now < vc->demand_floor_until_ms && t->actual_present && vc->prev_actual_present)
        grown = policy_max_u64 (grown, policy_sat_sub (t->actual, vc->prev_actual_bytes));
      t->alloc_tick_bytes = policy_mul_div (grown, x->tick_ms, x->now - vc->prev_ms);
    }
}

/* The balloon's speed: only intervals in which it moved toward the target in
 * force and did not reach it tell how fast the device is (one that reached
 * it may be faster; inflates are also rate-limited by the policy). */
static void
vm_balloon_speed (const DecideCtx *x, const VmTick *t)
{
  PolicyVmCarry *vc = t->vc;
  const PolicyStat *last = &t->vm->last_target_bytes;
  if (!t->actual_present || !last->present || !vc->have_prev || !vc->prev_actual_present
      || x->now <= vc->prev_ms)
    return;
  uint64_t to = policy_cap_bytes (last->value), from = vc->prev_actual_bytes, at = t->actual;
  bool toward = to > from ? at > from && at < policy_sat_sub (to, DEMAND_SLACK_BYTES)
                          : at < from && at > policy_sat_add (to, DEMAND_SLACK_BYTES);
  uint64_t moved = at > from ? at - from : from - at;
  if (!toward || moved < BALLOON_SPEED_MIN_MOVE_BYTES)
    return;
  double bps = (double) moved * 1000.0 / (double) (x->now - vc->prev_ms);
  vc->balloon_bps = vc->balloon_bps > 0.0
                        ? vc->balloon_bps + BALLOON_SPEED_WEIGHT * (bps - vc->balloon_bps)
                        : bps;
}

/* The refill bound: a guest gets all of its memory back within `refill` at
 * the balloon's measured speed, so the balloon never holds more than that
 * (nothing is bounded while the device was never seen to be the limit). */
static uint64_t
refill_floor (const VmTick *t)
{
  uint64_t refill_ms = t->vm->cfg.refill_ms;
  if (refill_ms == 0 || t->vc->balloon_bps <= 0.0)
    return 0;
  double reach = t->vc->balloon_bps * (double) refill_ms / 1000.0;
  return policy_sat_sub (t->w->max, policy_u64_from_double (reach));
}

/* The urgent raise: the shortfall at once, not a headroom a tick. At least
 * the headroom; at least twice what the guest allocated in the last tick
 * (an urgent guest ran out of memory: what it had capped its rate, so what
 * it got is a lower bound of what it wants); for a stalled guest, at least
 * URGENT_SQUEEZE_RETURN_PCT of its balloon; at least twice
 * the last raise when urgency came back soon after it (that raise was
 * short). Raised from the target in force when the balloon is still on its
 * way there. */
static uint64_t
urgent_floor (const DecideCtx *x, const VmTick *t)
{
  PolicyVmCarry *vc = t->vc;
  const PolicyStat *last = &t->vm->last_target_bytes;
  uint64_t from
      = last->present ? policy_max_u64 (t->w->cur, policy_cap_bytes (last->value)) : t->w->cur;
  uint64_t raise = policy_max_u64 (t->headroom, policy_sat_mul (t->alloc_tick_bytes, 2));
  if (t->stalled)
    raise = policy_max_u64 (
        raise, policy_pct_of (policy_sat_sub (t->w->max, from), URGENT_SQUEEZE_RETURN_PCT));
  if (vc->urgent_raise_bytes > 0 && x->now >= vc->urgent_ms
      && x->now - vc->urgent_ms <= policy_sat_mul (x->tick_ms, URGENT_REPEAT_TICKS))
    raise = policy_max_u64 (raise, policy_sat_mul (vc->urgent_raise_bytes, 2));
  vc->urgent_raise_bytes = policy_min_u64 (raise, t->ram);
  vc->urgent_ms = x->now;
  return policy_min_u64 (policy_sat_add (from, raise), t->w->max);
}

/* Thrash feedback: the allowance and the effective cold age grow at once
 * under pressure and decay slowly after calm ticks. */
static void
vm_feedback (const DecideCtx *x, const VmTick *t, uint64_t need0)
{
  PolicyVmCarry *vc = t->vc;
  if (t->pressure)
    {
      uint64_t growth
          = policy_max_u64 (policy_mul_div (need0, PRESSURE_GROWTH_PCT, 100),
                            policy_u64_from_double (t->refault_bps * (double) x->tick_ms / 1000.0));
      vc->allowance_bytes = policy_min_u64 (policy_sat_add (vc->allowance_bytes, growth), t->ram);
      vc->cold_age_eff_ms
          = policy_min_u64 (policy_mul_div (vc->cold_age_eff_ms, 5, 4), t->cold_max);
      vc->calm_ticks = 0;
      return;
    }
  if (vc->calm_ticks < UINT32_MAX)
    vc->calm_ticks++;
  if (vc->calm_ticks > CALM_TICKS_BEFORE_DECAY)
    {
      vc->allowance_bytes -= vc->allowance_bytes / DECAY_DIVISOR;
      if (vc->allowance_bytes < ALLOWANCE_DROP_BYTES)
        vc->allowance_bytes = 0;
      vc->cold_age_eff_ms -= (vc->cold_age_eff_ms - t->cold) / DECAY_DIVISOR;
    }
}

/* A burst's level: the guest's own memory this tick, page cache left out,
 * as a balloon size. The working set's anon part misses what the guest's
 * kernel holds (slab, page tables) and what it reserved at boot; a floor
 * without them squeezes the next burst by that much. `actual - available`
 * counts both, whether the balloon's pages leave MemTotal or (with
 * deflate-on-oom) stay in it as used memory. */
static uint64_t
burst_level (const VmTick *t)
{
  if (!t->have_stats || !t->actual_present)
    return t->base_anon;
  uint64_t available = policy_cap_bytes (t->vm->stats.available_bytes.value);
  return policy_max_u64 (t->base_anon, policy_sat_sub (t->actual, available));
}

/* Burst floor: a burst's peak (the guest's own memory, page cache left out:
 * a read-once file is no burst, and cache can be read again) plus headroom
 * is kept as a floor for `burst-hold` after the burst ends, renewed by the next burst, so a guest that bursts
 * periodically finds its memory where it left it; when the bursts stop, the
 * floor goes and rate-limited inflates take the memory back. Free page
 * reporting returns what the guest freed in between either way. Like the
 * refill bound it is a raise outside the budget, dropped on a tight host: a
 * floor for memory not in use never outranks another guest's need. */
static void
vm_burst (const DecideCtx *x, const VmTick *t)
{
  PolicyVmCarry *vc = t->vc;
  uint64_t need0 = policy_sat_add (t->base_anon, t->headroom);
  uint64_t rise
      = policy_max_u64 (BURST_MIN_FLOOR_BYTES, policy_pct_of (t->ram, BURST_MIN_PCT));
  if (!vc->in_burst)
    {
      if (vc->burst_low_bytes == 0 || need0 < vc->burst_low_bytes)
        vc->burst_low_bytes = need0;
      if (need0 < policy_sat_add (vc->burst_low_bytes, rise))
        return;
      vc->in_burst = true;
      vc->burst_peak_bytes = need0;
    }
  /* The stats lag a moving balloon, so they size the peak only (burst_level
   * is at least base_anon, so the peak is at least need0): as the burst's
   * start and end they would see a deflate as a burst. */
  vc->burst_peak_bytes
      = policy_max_u64 (vc->burst_peak_bytes, policy_sat_add (burst_level (t), t->headroom));
  if (need0 > policy_sat_add (vc->burst_low_bytes, rise / 2))
    return;
  vc->in_burst = false;
  vc->burst_low_bytes = need0;
  if (t->vm->cfg.burst_hold_ms == 0)
    return;
  vc->burst_floor_bytes = x->now < vc->burst_until_ms
                              ? policy_max_u64 (vc->burst_floor_bytes, vc->burst_peak_bytes)
                              : vc->burst_peak_bytes;
  vc->burst_until_ms = policy_sat_add (x->now, t->vm->cfg.burst_hold_ms);
}

/* The floor a burst pattern holds. With free page reporting the guest hands
 * back what it freed after a burst by itself, so a balloon between the
 * burst's peak and the guest's size takes nothing the host would not get
 * anyway, and leaves the next burst a smaller guest: such a guest is left
 * whole while the pattern lasts (B1, 480 s, beside the floor at the peak:
 * the bursty guest's mean PSS 390.2 MiB against 389.3, its bursts 1.02 x
 * free page reporting's against 1.09 x). */
static uint64_t
burst_floor (const VmTick *t, uint64_t peak_bytes)
{
  if (t->vm->balloon_free_page_reporting)
    return t->w->max;
  return policy_min_u64 (peak_bytes, t->w->max);
}

/* Need of a VM with data: base + headroom + allowance within [min, max],
 * raised to the demand and urgent floors while they hold; the raise the
 * refill bound, the burst floor and the boot grace ask for, granted outside
 * the budget. */
static void
vm_need (const DecideCtx *x, VmTick *t)
{
  PolicyVmCarry *vc = t->vc;
  VmWork *w = t->w;
  uint64_t need0 = policy_sat_add (t->base, t->headroom);
  vm_feedback (x, t, need0);
  vm_burst (x, t);
  uint64_t raw = policy_sat_add (need0, vc->allowance_bytes);
  w->need = policy_clamp_u64 (raw, w->min, w->max);
  if (vc->allowance_bytes > 0)
    w->reason = "pressure";
  if (raw > w->max)
    w->reason = "ceiling";
  else if (raw < w->min)
    w->reason = "floor";
  w->soft_floor = w->min;
  if (x->now < vc->demand_floor_until_ms)
    {
      uint64_t f = policy_min_u64 (vc->demand_floor_bytes, w->max);
      if (f > w->soft_floor)
        w->soft_floor = f;
      if (f >= w->need)
        w->reason = "demand-floor";
    }
  /* Short of memory: the guest said so, or it is stalled while allocating
   * (a deflate-on-oom guest that takes memory itself never runs dry). */
  bool short_now = t->urgent || (t->pressure && t->alloc_tick_bytes >= DEMAND_RISE_MIN_BYTES);
  if (short_now)
    {
      uint64_t f = urgent_floor (x, t);
      bool held = x->now < vc->urgent_floor_until_ms;
      vc->urgent_floor_bytes = held ? policy_max_u64 (vc->urgent_floor_bytes, f) : f;
      vc->urgent_floor_until_ms = policy_sat_add (x->now, URGENT_HOLD_MS);
    }
  if (x->now < vc->urgent_floor_until_ms)
    {
      uint64_t f = policy_min_u64 (vc->urgent_floor_bytes, w->max);
      if (f > w->soft_floor)
        w->soft_floor = f;
      if (f >= w->need)
        w->reason = short_now ? "urgent" : "urgent-floor";
    }
  if (t->urgent)
    {
      w->flags |= WORK_NO_INFLATE;
      w->reason = "urgent";
    }
  if (w->soft_floor > w->need)
    w->need = w->soft_floor;
  t->d->refill_bytes = refill_floor (t);
  t->d->burst_floor_bytes
      = x->now < vc->burst_until_ms ? burst_floor (t, vc->burst_floor_bytes) : 0;
  w->refill = policy_max_u64 (w->need, t->d->refill_bytes);
  w->raise_reason = "refill";
  if (t->d->burst_floor_bytes > w->refill)
    {
      w->refill = t->d->burst_floor_bytes;
      w->raise_reason = "burst-floor";
    }
  /* Boot grace: boot and the workload it starts are when a guest allocates
   * most, and pages it has not touched cost the host nothing. */
  bool grace = vc->booting ? t->vm->cfg.boot_grace_ms > 0 : x->now < vc->boot_grace_until_ms;
  if (grace && w->cur > w->refill)
    {
      w->refill = policy_min_u64 (w->cur, w->max);
      w->raise_reason = "boot-grace";
    }
  t->d->raise_bytes = w->refill;
}

/* Cold page cache the guest may drop itself: only from a fresh MGLRU
 * histogram (the meminfo fallback's bins are active/inactive, not ages: it
 * would name every recent read cold) of an agent that takes requests, and never from a guest under
 * pressure this tick. A thrash allowance (the balloon's business) does not
 * stop it: the refaults that grew it also raised the cold age it is sized
 * at. */
static void
vm_cold_file (VmTick *t)
{
  if (!t->has_data || !t->have_ws || t->vm->ws.source != POLICY_WS_AGENT || !t->have_agent
      || !t->vm->agent.can_reclaim || t->pressure || t->urgent)
    return;
  t->w->cold_file
      = policy_sat_sub (ws_file_total (&t->vm->ws),
                        ws_bytes (&t->vm->ws, t->vc->cold_age_eff_ms / RECLAIM_COLD_AGE_DIV, true));
}

/* Guest reclaim (docs/policy.md): where the memory is worth more on the host
 * than as the guest's cold cache (density mode, or a tight host), one
 * request per period. */
static uint64_t
vm_reclaim (const DecideCtx *x, const VmWork *w, PolicyVmCarry *vc)
{
  if (w->cold_file < RECLAIM_MIN_BYTES || !x->host_known
      || (x->c->host_mode != POLICY_HOST_MODE_DENSITY && !x->tight))
    return 0;
  if (vc->reclaim_asked && x->now >= vc->reclaim_ms && x->now - vc->reclaim_ms < RECLAIM_PERIOD_MS)
    return 0;
  vc->reclaim_asked = true;
  vc->reclaim_ms = x->now;
  return policy_min_u64 (w->cold_file, RECLAIM_MAX_BYTES);
}

/* Booting (the configured RAM is reserved until the driver reports) and
 * what the VM adds to the KSM half's kick and mergeable size. */
static void
vm_boot (DecideCtx *x, const VmTick *t)
{
  const PolicyVm *vm = t->vm;
  PolicyVmCarry *vc = t->vc;
  if (t->has_data && vc->booting)
    {
      vc->booting = false;
      vc->boot_grace_until_ms = policy_sat_add (x->now, vm->cfg.boot_grace_ms);
    }
  if (vm->cfg.ksm && (vm->kicks & KSM_KICKS))
    x->ksm_kick = true;
  /* Each QEMU's own growth: one VM's balloon or free page reporting
   * shrinking it must not hide another's new pages. */
  if (vm->cfg.ksm && vm->cfg.mode != POLICY_VM_MODE_OFF && !t->destroyed)
    {
      x->mergeable = policy_sat_add (x->mergeable, vc->booting ? t->ram : t->w->cur);
      if (vm->rss_bytes.present && vc->prev_rss_bytes.present)
        x->ksm_rss_grown_bytes
            = policy_sat_add (x->ksm_rss_grown_bytes,
                              policy_sat_sub (vm->rss_bytes.value, vc->prev_rss_bytes.value));
    }
  vc->prev_rss_bytes = vm->rss_bytes;
}

/* Issues `target` to a running VM unless that very target went out lately
 * and is not reached yet (a guest that never reaches it must not draw a
 * command every tick). A target the controller dropped (a failed command, a
 * dry-run plan) is not in flight. `inflate` allows targets below the actual
 * size. */
static bool
vm_issue (const DecideCtx *x, const VmTick *t, uint64_t target, bool inflate, bool *in_flight)
{
  PolicyVmCarry *vc = t->vc;
  PolicyVmDecision *d = t->d;
  d->target_bytes = target;
  const PolicyStat *last = &t->vm->last_target_bytes;
  *in_flight = vc->issued && vc->issued_target_bytes == target && x->now >= vc->issued_ms
               && x->now - vc->issued_ms < REISSUE_STUCK_MS && last->present
               && last->value == target;
  bool moves = target > t->actual || (inflate && target < t->actual);
  d->set_target
      = t->actual_present && moves && t->vm->state == POLICY_VM_STATE_RUNNING && !*in_flight;
  if (d->set_target)
    {
      vc->issued = true;
      vc->issued_target_bytes = target;
      vc->issued_ms = x->now;
    }
  return d->set_target;
}

/* A paused, stopping or no-data VM: held where it is and never inflated;
 * only raised to its floor. Returns what it holds of the budget. */
static uint64_t
vm_hold_in_place (const DecideCtx *x, const VmTick *t)
{
  const PolicyVm *vm = t->vm;
  PolicyVmDecision *d = t->d;
  uint64_t floor_target = d->plan_bytes;
  bool in_flight;
  vm_issue (x, t, floor_target, false, &in_flight);
  d->reason = vm->state == POLICY_VM_STATE_PAUSED     ? "paused"
              : vm->state == POLICY_VM_STATE_STOPPING ? "stopping"
              : d->set_target || in_flight            ? "no-data:floor"
                                                      : "no-data:hold";
  return policy_max_u64 (t->w->cur, floor_target);
}

/* mode=fixed: driven to its target within [min, max]; a deflate still waits
 * for the host's room (limit_giving). Without a target (the loader refuses
 * that) or a known size, it is held where it is. */
static uint64_t
vm_hold_fixed (const DecideCtx *x, const VmTick *t)
{
  PolicyVmDecision *d = t->d;
  const VmWork *w = t->w;
  d->reason = "mode:fixed";
  if (!t->vm->cfg.target.set || t->ram == 0)
    return w->cur;
  uint64_t fixed
      = policy_clamp_u64 (policy_size_resolve (&t->vm->cfg.target, t->ram, w->cur), w->min, w->max);
  d->plan_bytes = fixed;
  bool in_flight;
  vm_issue (x, t, fixed, true, &in_flight);
  return policy_max_u64 (w->cur, fixed);
}

/* Mode and lifecycle: who is held, and at what; the others are steered. */
static void
vm_hold (DecideCtx *x, size_t i, const VmTick *t)
{
  const PolicyVm *vm = t->vm;
  PolicyVmDecision *d = t->d;
  VmWork *w = t->w;
  uint64_t hold = w->cur;
  d->target_bytes = w->cur;
  d->plan_bytes = policy_clamp_u64 (w->cur, w->min, w->max);
  d->held = true;
  if (t->destroyed)
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
    hold = vm_hold_fixed (x, t);
  else if (t->ram == 0)
    {
      /* Its size is unknown, so are its limits: held, never ballooned. */
      d->target_bytes = w->cur;
      d->plan_bytes = w->cur;
      d->reason = "no-ram:hold";
    }
  else if (t->vc->booting)
    {
      x->any_booting = true;
      hold = t->ram;
      d->target_bytes = d->plan_bytes;
      d->reason = "kick:vm-starting";
    }
  else if (vm->state == POLICY_VM_STATE_PAUSED || vm->state == POLICY_VM_STATE_STOPPING
           || !t->has_data)
    hold = vm_hold_in_place (x, t);
  else
    {
      d->held = false;
      w->flags |= WORK_STEERED;
      x->steered[x->n_steered++] = (uint32_t) i;
      hold = 0;
    }
  x->held = policy_sat_add (x->held, hold);
}

/* Samples for the next tick's deltas. */
static void
vm_remember (const DecideCtx *x, const VmTick *t)
{
  PolicyVmCarry *vc = t->vc;
  vc->have_prev = true;
  vc->prev_ms = x->now;
  vc->prev_actual_present = t->actual_present;
  vc->prev_actual_bytes = t->actual;
  vc->prev_agent_present = t->have_agent;
  vc->prev_used_present = t->have_stats;
  vc->prev_used_bytes = t->used;
  if (t->actual_present)
    {
      vc->actual_hist_ms[vc->actual_hist_next] = x->now;
      vc->actual_hist_bytes[vc->actual_hist_next] = t->actual;
      vc->actual_hist_next = (vc->actual_hist_next + 1) % POLICY_ACTUAL_HIST;
    }
  if (t->have_agent)
    {
      vc->prev_psi_some_total_us = t->vm->agent.psi_some_total_us;
      vc->prev_refault_total_pages = t->vm->agent.refault_total_pages;
      vc->prev_oom_kills = t->vm->agent.oom_kills;
    }
}

/* Pass 1: need, feedback and mode of VM i. False if the carry has no slot. */
static bool
vm_pass1 (DecideCtx *x, size_t i)
{
  VmTick t;
  if (!vm_observe (x, i, &t))
    return false;
  vm_base (x, &t);
  if (t.vm->state == POLICY_VM_STATE_STARTING || (t.vm->kicks & BOOT_KICKS))
    t.vc->booting = true;
  vm_signals (x, &t);
  vm_balloon_speed (x, &t);
  if (t.has_data && t.vm->cfg.mode != POLICY_VM_MODE_OFF)
    vm_need (x, &t);
  vm_cold_file (&t);
  t.w->weight = t.vm->cfg.shares;
  t.d->need_bytes = t.w->need;
  vm_boot (x, &t);
  vm_hold (x, i, &t);
  vm_remember (x, &t);
  return true;
}

/* B = MemTotal - reserve - non-VM usage + what KSM saves. Without a probe
 * of non-VM usage, it is what is used minus what the VMs' PSS explains. */
static void
host_budget (DecideCtx *x)
{
  const PolicySnapshot *s = x->s;
  uint64_t non_vm;
  if (s->host.non_vm_used_bytes.present)
    non_vm = policy_cap_bytes (s->host.non_vm_used_bytes.value);
  else if (x->pss_all && s->n_vms > 0)
    non_vm = policy_sat_sub (x->mem_total - x->mem_avail, x->vm_pss_sum);
  else
    non_vm = 0;
  uint64_t saved = policy_min_u64 (policy_ksm_saved_bytes (&s->ksm), POLICY_BYTES_CAP);
  if (!s->ksm.present)
    saved = 0;
  x->budget
      = policy_sat_add (policy_sat_sub (policy_sat_sub (x->mem_total, x->reserve), non_vm), saved);
  x->out->budget_bytes = x->budget;
  x->out->held_bytes = x->held;
}

/* Allocation: min -> soft floor -> need -> max, water-filled by shares
 * within the budget; then, while every need fits and the host is not tight,
 * each VM is raised to its refill bound, its burst floor and, in its boot
 * grace, where its balloon is. That raise is not taken from the
 * budget: it keeps the guest's memory within reach (a target never above
 * max, so never more than no controller gives), and the memory is backed
 * only once the guest uses it, which the give rule and a tight host see. */
static void
allocate (DecideCtx *x)
{
  VmWork *work = x->work;
  uint64_t room = policy_sat_sub (x->budget, x->held);
  uint64_t sum_min = 0, sum_floor = 0, sum_need = 0;
  for (size_t k = 0; k < x->n_steered; k++)
    {
      VmWork *w = &work[x->steered[k]];
      sum_min = policy_sat_add (sum_min, w->min);
      sum_floor = policy_sat_add (sum_floor, w->soft_floor);
      sum_need = policy_sat_add (sum_need, w->need);
    }
  uint64_t sum_need_all = sum_need;
  for (size_t i = 0; i < x->s->n_vms; i++)
    if (!(work[i].flags & WORK_STEERED))
      sum_need_all = policy_sat_add (sum_need_all, x->out->vms[i].need_bytes);
  x->out->sum_need_bytes = sum_need_all;
  x->sum_need = sum_need;
  bool overloaded = x->held > x->budget || sum_need > room;
  /* A host short of MemAvailable hands out no surplus, whatever the budget
   * says (non-VM usage may be under-measured): cold guest memory is the
   * cheapest lever, so it is reclaimed first. */
  x->tight
      = overloaded || x->mem_avail < policy_sat_mul (x->reserve, TIGHT_RESERVE_FACTOR)
        || policy_clamp_double (x->s->host.psi_some_avg10_pct, 0.0, 100.0) >= TIGHT_HOST_PSI_PCT;
  x->overloaded = overloaded;
  for (size_t k = 0; k < x->n_steered; k++)
    {
      VmWork *w = &work[x->steered[k]];
      if (!overloaded)
        {
          w->lo = w->need;
          w->hi = x->c->host_mode == POLICY_HOST_MODE_DENSITY || x->tight ? w->need : w->max;
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
  water_fill (work, x->steered, x->n_steered, room, x->items);
  if (overloaded || x->tight)
    return;
  for (size_t k = 0; k < x->n_steered; k++)
    {
      VmWork *w = &work[x->steered[k]];
      if (w->plan < w->refill)
        w->plan = w->refill;
    }
}

/* Pass 2: shape the steered VMs. Returns the memory their inflates would
 * free (discounted by what KSM merged), for the cheaper-lever choice. */
static double
shape_steered (DecideCtx *x)
{
  double reclaimable = 0.0;
  uint64_t sum_plan = 0;
  for (size_t k = 0; k < x->n_steered; k++)
    {
      size_t i = x->steered[k];
      VmWork *w = &x->work[i];
      PolicyVmDecision *d = &x->out->vms[i];
      if (w->plan > w->need)
        w->reason = w->plan <= w->refill ? w->raise_reason : "surplus";
      else if (w->plan < w->need)
        w->reason = "overloaded";
      d->plan_bytes = w->plan;
      sum_plan = policy_sat_add (sum_plan, w->plan);
      if (w->cur > w->plan)
        reclaimable += (double) (w->cur - w->plan) * (1.0 - w->ksm_frac);
      PolicyVmCarry *vc = policy_carry_vm (x->carry, x->s->vms[i].id, NULL);
      if (x->host_known)
        vm_shape (&x->s->vms[i], x->c, w, vc, x->now, d);
      else
        {
          /* No host figures, no budget: hold, never take from a guest. */
          d->target_bytes = w->cur;
          d->set_target = false;
          d->reason = "no-host-data:hold";
        }
      d->reclaim_bytes = vm_reclaim (x, w, vc);
    }
  x->out->sum_plan_bytes = sum_plan;
  return reclaimable;
}

/* What a VM holds on the host: a guest that lies about its balloon size
 * cannot hide what its QEMU's PSS shows. */
static uint64_t
vm_held_bytes (const DecideCtx *x, size_t i)
{
  const PolicyVm *vm = &x->s->vms[i];
  uint64_t pss = vm->pss_bytes.present ? policy_cap_bytes (vm->pss_bytes.value) : 0;
  return policy_max_u64 (x->work[i].cur, pss);
}

/* Gives VM i at most `room` of its deflate; returns what it took. A deflate
 * cut short goes out partly (reason host-room) or waits for the next tick. */
static uint64_t
give_within (DecideCtx *x, size_t i, uint64_t room)
{
  PolicyVmDecision *d = &x->out->vms[i];
  uint64_t held = vm_held_bytes (x, i);
  if (!d->set_target || d->target_bytes <= held)
    return 0;
  uint64_t give = d->target_bytes - held;
  if (give <= room)
    return give;
  PolicyVmCarry *vc = policy_carry_vm (x->carry, x->s->vms[i].id, NULL);
  d->reason = "host-room";
  d->target_bytes = policy_sat_add (held, room);
  d->set_target = room > 0;
  if (vc != NULL)
    {
      vc->issued = d->set_target;
      vc->issued_target_bytes = d->target_bytes;
    }
  return room;
}

/* Memory is taken back before it is given: the deflates of one tick never
 * give more than is free now above the reserve, less the deflates still in
 * flight. Urgent guests are served first, then the others in order. */
static void
limit_giving (DecideCtx *x)
{
  if (!x->host_known)
    {
      /* Without host figures nothing moves, either way. */
      for (size_t i = 0; i < x->s->n_vms; i++)
        if (x->out->vms[i].set_target)
          {
            x->out->vms[i].set_target = false;
            x->out->vms[i].reason = "no-host-data:hold";
            PolicyVmCarry *vc = policy_carry_vm (x->carry, x->s->vms[i].id, NULL);
            if (vc != NULL)
              vc->issued = false;
          }
      return;
    }
  uint64_t room = policy_sat_sub (x->mem_avail, x->reserve);
  for (size_t i = 0; i < x->s->n_vms; i++)
    {
      const PolicyVm *vm = &x->s->vms[i];
      const PolicyVmDecision *d = &x->out->vms[i];
      if (!d->set_target && vm->last_target_bytes.present)
        room = policy_sat_sub (room, policy_sat_sub (policy_cap_bytes (vm->last_target_bytes.value),
                                                     vm_held_bytes (x, i)));
    }
  for (int urgent_pass = 1; urgent_pass >= 0; urgent_pass--)
    for (size_t i = 0; i < x->s->n_vms; i++)
      if (((x->work[i].flags & WORK_NO_INFLATE) != 0) == (urgent_pass == 1))
        room -= give_within (x, i, room);
}

/* The host's part of the decision once every VM is decided. */
static void
host_summary (const DecideCtx *x)
{
  PolicyDecision *out = x->out;
  uint64_t sum_target = 0;
  for (size_t i = 0; i < x->s->n_vms; i++)
    sum_target = policy_sat_add (sum_target, out->vms[i].target_bytes);
  out->sum_target_bytes = sum_target;
  out->host_overloaded = x->overloaded;
  out->host_tight = x->tight;
  out->host_reason = x->overloaded    ? "overloaded"
                     : x->tight       ? "tight"
                     : x->any_booting ? "kick:reserve"
                                      : "ok";
}

/* The KSM half, in the same tick and on the same budget: how tight the host
 * is, and whether the balloon alone can cover the deficit. */
static void
decide_ksm (const DecideCtx *x, double reclaimable)
{
  double tightness = 0.0;
  if (x->reserve > 0)
    {
      double slack = ((double) x->mem_avail - (double) x->reserve)
                     / ((double) x->reserve * TIGHTNESS_SPAN_RESERVES);
      tightness = 1.0 - policy_clamp_double (slack, 0.0, 1.0);
    }
  else if (x->mem_avail == 0)
    tightness = 1.0;
  if (x->overloaded)
    tightness = 1.0;
  uint64_t deficit
      = policy_sat_sub (policy_sat_mul (x->reserve, TIGHT_RESERVE_FACTOR), x->mem_avail);
  if (x->overloaded)
    deficit = policy_max_u64 (deficit,
                              policy_sat_sub (policy_sat_add (x->held, x->sum_need), x->budget));
  PolicyKsmJoint joint = {
    .dt_ms = x->dt_ms > 0 ? x->dt_ms : 1,
    .kick = x->ksm_kick,
    .deflate_kick = x->ksm_deflate_kick,
    .tight = x->tight,
    .tightness = tightness,
    .balloon_covers = deficit > 0 && reclaimable >= (double) deficit,
    .mergeable_bytes = x->mergeable,
    .rss_grown_bytes = x->ksm_rss_grown_bytes,
  };
  policy_ksm_decide (x->s, x->c, &x->carry->ksm, &joint, &x->out->ksm);
}

int
policy_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
               PolicyDecision *out)
{
  DecideCtx x;
  if (!decide_begin (s, c, carry, out, &x))
    return -1;
  for (size_t i = 0; i < s->n_vms; i++)
    if (!vm_pass1 (&x, i))
      return -1;
  host_budget (&x);
  allocate (&x);
  double reclaimable = shape_steered (&x);
  limit_giving (&x);
  host_summary (&x);
  decide_ksm (&x, reclaimable);

  carry->have_tick = true;
  carry->last_now_ms = x.now;
  policy_carry_end_tick (carry);
  return 0;
}
