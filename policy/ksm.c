/* ksm.c: the ballast policy's KSM half: idle/boost/steady/settle, merge yield
 * per CPU-second against a threshold that falls as host memory gets tight. */
#include <math.h>
#include <string.h>

#include "defaults.h"
#include "internal.h"
#include "util.h"

/* Merge yield (bytes saved per ksmd CPU-second) worth paying for when the
 * host has plenty of memory, and when it is at its reserve; in between the
 * threshold falls linearly with tightness (memory is worth more CPU when
 * scarce). */
#define KSM_YIELD_LOOSE_BYTES_PER_CPU_S (64.0 * POLICY_MIB)
#define KSM_YIELD_TIGHT_BYTES_PER_CPU_S (1.0 * POLICY_MIB)
/* Steady runs at its full CPU budget once the yield is this many thresholds,
 * and never below this fraction of it. */
#define KSM_STEADY_FULL_YIELD_FACTOR 4.0
#define KSM_STEADY_MIN_FRAC 0.1
/* Settle scans at this fraction of the steady rate, at most this long. */
#define KSM_SETTLE_FRAC 0.25
/* Rate corrections below this (in %) within one state are not written. */
#define KSM_KNOB_HYSTERESIS_PCT 10.0
#define KSM_SETTLE_MAX_MS 120000u
/* Boost ends boost-scan-time after its start (or after the last kick that
 * extended it) once a full scan was calm, or after this many
 * boost-scan-times from its start whatever happened (bounds the CPU kicks,
 * and guests that keep growing, can cost). */
#define KSM_BOOST_MAX_FACTOR 12u
/* A full scan is calm when it added less than 1/KSM_SETTLE_GROWTH_DIV to
 * pages_sharing and the KSM VMs' QEMUs, each counted on its own, grew by
 * less than 1/KSM_SETTLE_GROWTH_DIV of their size while it ran (pages that
 * appeared behind the scan's cursor were not looked at: under TCG a guest
 * writes its pages 5-15 s after its start kick, often after a boost's first
 * full scan); two calm scans in a row mean KSM has settled. */
#define KSM_SETTLE_GROWTH_DIV 100u
#define KSM_SETTLE_CALM_SCANS 2u
/* A boost ends after this many calm full scans in a row: a guest that
 * rewrites its pages for a while after writing them (pages that neither
 * grow its QEMU nor stay merged, each write breaking the merge) makes one
 * scan calm just before they become mergeable. */
#define KSM_BOOST_CALM_SCANS 2u
/* ksmd CPU per scanned page before it is measured: a conservative prior
 * (measured values on x86 are 0.3-2 µs). */
#define KSM_DEFAULT_NS_PER_PAGE 2000.0
#define KSM_MIN_NS_PER_PAGE 50.0
/* Smoothing of the measurements (weight of the newest sample). */
#define KSM_EWMA_ALPHA 0.3
/* ksmd's wake-up interval in the running states, and bounds of the batch. */
#define KSM_SLEEP_MS 20u
#define KSM_MAX_SLEEP_MS 1000u
#define KSM_MIN_PAGES_TO_SCAN 16u
#define KSM_MAX_PAGES_TO_SCAN 65536u
/* Advisor target scan time bounds (seconds). */
#define KSM_ADVISOR_MIN_SCAN_S 1u
#define KSM_ADVISOR_MAX_SCAN_S 86400u

uint64_t
policy_ksm_saved_bytes (const PolicyKsm *ksm)
{
  uint64_t page = ksm->page_size_bytes > 0 && ksm->page_size_bytes <= POLICY_MIB
                      ? ksm->page_size_bytes
                      : 4096;
  return policy_cap_bytes (
      policy_sat_mul (policy_sat_add (ksm->pages_sharing, ksm->ksm_zero_pages), page));
}

static double
ewma (double old, double sample, bool have_old)
{
  return have_old ? old + KSM_EWMA_ALPHA * (sample - old) : sample;
}

/* Whether `grown` is 1/KSM_SETTLE_GROWTH_DIV of `base` or more (nothing
 * grown never is). */
static bool
ksm_grew (uint64_t grown, uint64_t base)
{
  return grown > 0 && policy_sat_mul (grown, KSM_SETTLE_GROWTH_DIV) >= base;
}

/* Updates the yield/cost measurements from counter deltas. */
static void
ksm_measure (const PolicyKsm *k, const PolicyKsmJoint *j, PolicyKsmCarry *kc, uint64_t now_ms,
             uint64_t page)
{
  uint64_t merged = policy_sat_add (k->pages_sharing, k->ksm_zero_pages);
  if (kc->have_prev && now_ms > kc->prev_ms && k->pages_scanned >= kc->prev_pages_scanned)
    {
      uint64_t dscan = k->pages_scanned - kc->prev_pages_scanned;
      uint64_t dmerged = policy_sat_sub (merged, kc->prev_merged_pages);
      bool cpu = k->ksmd_cpu_ns.present && kc->prev_cpu_present
                 && k->ksmd_cpu_ns.value >= kc->prev_cpu_ns;
      uint64_t dcpu = cpu ? k->ksmd_cpu_ns.value - kc->prev_cpu_ns : 0;
      if (dscan > 0)
        {
          double y = policy_clamp_double ((double) dmerged / (double) dscan, 0.0, 1.0);
          kc->yield = ewma (kc->yield, y, kc->yield_known);
          if (dcpu > 0)
            {
              double nspp
                  = policy_clamp_double ((double) dcpu / (double) dscan, KSM_MIN_NS_PER_PAGE, 1e9);
              kc->ns_per_page = ewma (kc->ns_per_page, nspp, kc->ns_per_page > 0.0);
              double bps = policy_clamp_double (
                  (double) dmerged * (double) page / ((double) dcpu / 1e9), 0.0, 1e18);
              kc->bytes_per_cpu_s = ewma (kc->bytes_per_cpu_s, bps, kc->yield_known);
            }
          else if (!kc->yield_known)
            kc->bytes_per_cpu_s
                = kc->yield * (double) page * 1e9
                  / (kc->ns_per_page > 0.0 ? kc->ns_per_page : KSM_DEFAULT_NS_PER_PAGE);
          kc->yield_known = true;
        }
    }
  /* The settle test: growth of pages_sharing and of the QEMUs per full scan. */
  kc->rss_grown_since_mark_bytes
      = policy_sat_add (kc->rss_grown_since_mark_bytes, j->rss_grown_bytes);
  if (k->full_scans != kc->scan_mark_full_scans || !kc->have_prev)
    {
      if (kc->have_prev && k->full_scans > kc->scan_mark_full_scans)
        {
          bool sharing_grew = ksm_grew (policy_sat_sub (k->pages_sharing, kc->scan_mark_sharing),
                                        kc->scan_mark_sharing);
          bool rss_grew = j->mergeable_bytes > 0
                          && ksm_grew (kc->rss_grown_since_mark_bytes, j->mergeable_bytes);
          bool calm = !sharing_grew && !rss_grew;
          kc->calm_scans
              = calm ? (kc->calm_scans < UINT32_MAX ? kc->calm_scans + 1 : kc->calm_scans) : 0;
        }
      kc->scan_mark_full_scans = k->full_scans;
      kc->scan_mark_sharing = k->pages_sharing;
      kc->rss_grown_since_mark_bytes = 0;
    }
  kc->have_prev = true;
  kc->prev_ms = now_ms;
  kc->prev_pages_scanned = k->pages_scanned;
  kc->prev_merged_pages = merged;
  kc->prev_cpu_present = k->ksmd_cpu_ns.present;
  kc->prev_cpu_ns = k->ksmd_cpu_ns.value;
}

static void
ksm_enter (PolicyKsmCarry *kc, PolicyKsmState state, uint64_t now_ms, const PolicyKsm *k)
{
  if (kc->state != state)
    kc->state_since_ms = now_ms;
  if (state == POLICY_KSM_BOOST && kc->state != POLICY_KSM_BOOST)
    {
      kc->boost_mark_full_scans = k->full_scans;
      kc->boost_kick_ms = now_ms;
    }
  kc->state = state;
}

/* Whether moving a knob from `cur` to `want` changes it by less than
 * KSM_KNOB_HYSTERESIS_PCT (a zero knob always changes). */
static bool
ksm_change_small (uint32_t cur, uint32_t want)
{
  if (cur == 0)
    return false;
  uint32_t diff = cur > want ? cur - want : want - cur;
  return (double) diff * 100.0 < (double) cur * KSM_KNOB_HYSTERESIS_PCT;
}

/* One decision of the KSM half: its inputs, and what the choice of state
 * leaves for the knobs. */
typedef struct
{
  const PolicyKsm *k;
  const PolicyConfig *c;
  const PolicyKsmJoint *j;
  PolicyKsmCarry *kc;
  uint64_t now, page, boost_ms;
  double threshold; /* merge yield per CPU-second worth paying for this tick */
  bool worth;       /* the measured yield beats it (or is not known yet) */
} KsmTick;

/* The next state from a running state (or idle) when nothing forces one;
 * returns the reason. */
static const char *
ksm_next_state (const KsmTick *t, uint64_t elapsed)
{
  const PolicyKsm *k = t->k;
  PolicyKsmCarry *kc = t->kc;
  switch (kc->state)
    {
      case POLICY_KSM_BOOST:
        {
          /* A boost outlasts the merging it was started for: it ends only
           * after calm full scans (a guest's pages appear seconds after its
           * start kick, and ksmd merges them on a later scan). */
          uint64_t since_kick = t->now >= kc->boost_kick_ms ? t->now - kc->boost_kick_ms : 0;
          bool merged
              = k->full_scans > kc->boost_mark_full_scans && kc->calm_scans >= KSM_BOOST_CALM_SCANS;
          if ((since_kick >= t->boost_ms && merged)
              || elapsed >= policy_sat_mul (t->boost_ms, KSM_BOOST_MAX_FACTOR))
            {
              ksm_enter (kc, POLICY_KSM_STEADY, t->now, k);
              kc->calm_scans = 0;
              return "steady";
            }
          return "boost";
        }
      case POLICY_KSM_STEADY:
        if (kc->calm_scans >= KSM_SETTLE_CALM_SCANS && !t->j->tight)
          {
            ksm_enter (kc, POLICY_KSM_SETTLE, t->now, k);
            kc->calm_scans = 0;
            return "settle:merged";
          }
        if (!t->worth)
          {
            ksm_enter (kc, POLICY_KSM_SETTLE, t->now, k);
            kc->calm_scans = 0;
            return "settle:low-yield";
          }
        return "steady";
      case POLICY_KSM_SETTLE:
        if (t->j->tight && t->worth)
          {
            ksm_enter (kc, POLICY_KSM_STEADY, t->now, k);
            return "steady:tight";
          }
        if (kc->calm_scans >= 1 || elapsed >= KSM_SETTLE_MAX_MS)
          {
            ksm_enter (kc, POLICY_KSM_IDLE, t->now, k);
            return "idle:settled";
          }
        return "settle";
      case POLICY_KSM_IDLE:
      default:
        ksm_enter (kc, POLICY_KSM_IDLE, t->now, k);
        return t->j->tight ? "idle:balloon-first" : "idle";
    }
}

/* Moves the carry to this tick's state; sets t->threshold and t->worth and
 * returns the reason. */
static const char *
ksm_choose_state (KsmTick *t)
{
  const PolicyKsm *k = t->k;
  PolicyKsmCarry *kc = t->kc;
  /* Yield per CPU-second must beat a threshold that falls as memory tightens. */
  double tightness = policy_clamp_double (t->j->tightness, 0.0, 1.0);
  t->threshold = KSM_YIELD_LOOSE_BYTES_PER_CPU_S * (1.0 - tightness)
                 + KSM_YIELD_TIGHT_BYTES_PER_CPU_S * tightness;
  t->worth = !kc->yield_known || kc->bytes_per_cpu_s >= t->threshold;
  bool high_yield
      = kc->yield_known && kc->bytes_per_cpu_s >= KSM_STEADY_FULL_YIELD_FACTOR * t->threshold;
  /* Cheaper lever first: when the balloon can take the deficit from cold and
   * free guest memory, tightness alone does not spend ksmd CPU, unless
   * merging is clearly cheap. */
  bool tight_boost = t->j->tight && t->worth && (!t->j->balloon_covers || high_yield);
  uint64_t elapsed = t->now >= kc->state_since_ms ? t->now - kc->state_since_ms : 0;

  if (t->j->mergeable_bytes == 0)
    {
      ksm_enter (kc, POLICY_KSM_IDLE, t->now, k);
      return "idle:nothing-to-merge";
    }
  /* A kick starts a boost. It never restarts a running one (the boost's
   * start, and with it its hard end, stay put); it extends a running boost
   * only while that boost is merging enough to be worth its CPU, so a guest
   * resetting in a loop (or a balloon jumping back and forth) cannot keep
   * ksmd boosted with nothing new to merge. Kicks from several guests
   * started one after another each get their pages merged in one boost.
   * A big deflate is a guest allocating (often a burst of its own data),
   * not new guest images: it kicks only while merging is known to pay. */
  bool kick = t->j->kick || (t->j->deflate_kick && t->worth);
  if (kick && kc->state != POLICY_KSM_BOOST)
    {
      kc->calm_scans = 0;
      ksm_enter (kc, POLICY_KSM_BOOST, t->now, k);
      return "boost:kick";
    }
  if (kick && kc->state == POLICY_KSM_BOOST && t->worth
      && elapsed < policy_sat_mul (t->boost_ms, KSM_BOOST_MAX_FACTOR))
    {
      kc->calm_scans = 0;
      kc->boost_kick_ms = t->now;
      kc->boost_mark_full_scans = k->full_scans;
      return "boost:kick-extend";
    }
  if (tight_boost)
    {
      ksm_enter (kc, POLICY_KSM_BOOST, t->now, k);
      return "boost:tight";
    }
  return ksm_next_state (t, elapsed);
}

/* Scan rate of the state (pages per second) and its CPU cap (% of a core). */
static double
ksm_rate (const KsmTick *t, double ns_per_page, double mergeable_pages, double *cap_pct)
{
  const PolicyKsmCarry *kc = t->kc;
  double boost_pct = policy_clamp_double (t->c->ksm_cpu_boost_pct, 0.0, 100.0);
  double steady_pct = policy_clamp_double (t->c->ksm_cpu_steady_pct, 0.0, 100.0);
  double rate = 0.0;
  *cap_pct = 0.0;
  switch (kc->state)
    {
      case POLICY_KSM_BOOST:
        *cap_pct = boost_pct;
        rate = fmin (mergeable_pages / ((double) t->boost_ms / 1000.0),
                     boost_pct / 100.0 * 1e9 / ns_per_page);
        break;
      case POLICY_KSM_STEADY:
      case POLICY_KSM_SETTLE:
        {
          *cap_pct = steady_pct;
          double frac = kc->yield_known ? policy_clamp_double (
                            kc->bytes_per_cpu_s / (KSM_STEADY_FULL_YIELD_FACTOR * t->threshold),
                            KSM_STEADY_MIN_FRAC, 1.0)
                                        : 0.5;
          if (kc->state == POLICY_KSM_SETTLE)
            frac *= KSM_SETTLE_FRAC;
          rate = fmin (steady_pct / 100.0 * 1e9 / ns_per_page * frac,
                       mergeable_pages / ((double) t->boost_ms / 1000.0));
        }
        break;
      case POLICY_KSM_IDLE:
      default:
        break;
    }
  return policy_clamp_double (rate, 0.0, 1e12);
}

/* The kernel's advisor owns pages_to_scan: give it a scan time and a CPU cap. */
static void
ksm_advisor_knobs (const KsmTick *t, double rate, double cap_pct, double mergeable_pages,
                   PolicyKsmDecision *out)
{
  const PolicyKsm *k = t->k;
  double scan_s = t->kc->state == POLICY_KSM_BOOST ? (double) t->boost_ms / 1000.0
                  : rate > 0.0                     ? mergeable_pages / rate
                                                   : KSM_ADVISOR_MAX_SCAN_S;
  out->advisor_target_scan_time_s = (uint32_t) policy_clamp_double (
      ceil (scan_s), KSM_ADVISOR_MIN_SCAN_S, KSM_ADVISOR_MAX_SCAN_S);
  out->advisor_max_cpu_pct = (uint32_t) policy_clamp_double (ceil (cap_pct), 1.0, 100.0);
  out->set_advisor = out->advisor_target_scan_time_s != k->advisor_target_scan_time_s
                     || out->advisor_max_cpu_pct != k->advisor_max_cpu_pct;
  out->expected_cpu_pct = policy_clamp_double (cap_pct, 0.0, 100.0);
}

/* Knobs of a running state: a batch per wake-up (or the advisor's targets)
 * and what the chosen rate is expected to cost and save. */
static void
ksm_running_knobs (const KsmTick *t, PolicyKsmState state_before, PolicyKsmDecision *out)
{
  const PolicyKsm *k = t->k;
  const PolicyKsmCarry *kc = t->kc;
  double ns_per_page = kc->ns_per_page > 0.0 ? kc->ns_per_page : KSM_DEFAULT_NS_PER_PAGE;
  double mergeable_pages = (double) t->j->mergeable_bytes / (double) t->page;
  double cap_pct;
  double rate = ksm_rate (t, ns_per_page, mergeable_pages, &cap_pct);
  /* pages_to_scan per KSM_SLEEP_MS wake-up; slow rates sleep longer instead. */
  double pages = rate * KSM_SLEEP_MS / 1000.0;
  uint32_t sleep_ms = KSM_SLEEP_MS;
  if (pages < KSM_MIN_PAGES_TO_SCAN)
    {
      double ms = rate > 0.0 ? KSM_MIN_PAGES_TO_SCAN * 1000.0 / rate : KSM_MAX_SLEEP_MS;
      sleep_ms = (uint32_t) policy_clamp_double (ms, KSM_SLEEP_MS, KSM_MAX_SLEEP_MS);
      pages = KSM_MIN_PAGES_TO_SCAN;
    }
  uint32_t pts
      = (uint32_t) policy_clamp_double (ceil (pages), KSM_MIN_PAGES_TO_SCAN, KSM_MAX_PAGES_TO_SCAN);
  double real_rate = pts * 1000.0 / sleep_ms;
  out->expected_cpu_pct = policy_clamp_double (real_rate * ns_per_page / 1e7, 0.0, 100.0);
  if (k->advisor_mode == POLICY_KSM_ADVISOR_SCAN_TIME)
    ksm_advisor_knobs (t, rate, cap_pct, mergeable_pages, out);
  else
    {
      /* Within a state, a rate correction of a few percent is not worth a
       * sysfs write (and a log line) every tick. */
      bool same_state = kc->state == state_before;
      bool pts_small = same_state && ksm_change_small (k->pages_to_scan, pts);
      bool sleep_small = same_state && ksm_change_small (k->sleep_millisecs, sleep_ms);
      out->pages_to_scan = pts_small ? k->pages_to_scan : pts;
      out->sleep_millisecs = sleep_small ? k->sleep_millisecs : sleep_ms;
      out->set_pages_to_scan = out->pages_to_scan != k->pages_to_scan;
      out->set_sleep_millisecs = out->sleep_millisecs != k->sleep_millisecs;
    }
  if (kc->yield_known)
    {
      /* One more full scan at the measured yield, at most all mergeable memory. */
      uint64_t more = policy_u64_from_double (kc->yield * (double) t->j->mergeable_bytes);
      out->expected_saved_bytes = policy_max_u64 (
          out->saved_bytes, policy_min_u64 (policy_sat_add (out->saved_bytes, more),
                                            policy_cap_bytes (t->j->mergeable_bytes)));
    }
}

void
policy_ksm_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyKsmCarry *kc,
                   const PolicyKsmJoint *j, PolicyKsmDecision *out)
{
  const PolicyKsm *k = &s->ksm;
  KsmTick t = {
    .k = k,
    .c = c,
    .j = j,
    .kc = kc,
    .now = s->now_ms,
    .page = k->page_size_bytes > 0 && k->page_size_bytes <= POLICY_MIB ? k->page_size_bytes : 4096,
  };
  memset (out, 0, sizeof *out);
  out->run = k->run;
  out->pages_to_scan = k->pages_to_scan;
  out->sleep_millisecs = k->sleep_millisecs;
  out->advisor_target_scan_time_s = k->advisor_target_scan_time_s;
  out->advisor_max_cpu_pct = k->advisor_max_cpu_pct;
  out->saved_bytes = k->present ? policy_ksm_saved_bytes (k) : 0;
  out->expected_saved_bytes = out->saved_bytes;

  if (!k->present)
    {
      out->state = POLICY_KSM_IDLE;
      out->reason = "ksm:absent";
      return;
    }
  ksm_measure (k, j, kc, t.now, t.page);
  PolicyKsmState state_before = kc->state;
  if (c->ksm_mode == POLICY_KSM_MODE_OFF)
    {
      kc->state = POLICY_KSM_IDLE;
      out->state = POLICY_KSM_IDLE;
      out->reason = "ksm:off";
      return;
    }

  t.boost_ms = c->ksm_boost_scan_time_ms > 0 ? c->ksm_boost_scan_time_ms
                                             : POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS;
  out->reason = ksm_choose_state (&t);
  out->state = kc->state;
  out->run = kc->state != POLICY_KSM_IDLE ? 1 : 0;
  out->set_run = out->run != k->run;
  if (kc->state != POLICY_KSM_IDLE)
    ksm_running_knobs (&t, state_before, out);
  if (c->ksm_mode == POLICY_KSM_MODE_OBSERVE)
    {
      /* Decided and reported, never written. */
      out->set_run = out->set_pages_to_scan = out->set_sleep_millisecs = out->set_advisor = false;
    }
}
