/* ref-kata.c: Kata Containers' KSM throttler as a reference: on a kick, scan hard
 * (AnonPages/10 per 1 ms) for 30 s, then /100 per 10 ms and /500 per 100 ms, then restore. */
#include "ref.h"
#include "util.h"

typedef enum
{
  KATA_IDLE = 0,   /* values restored; waiting for a kick */
  KATA_AGGRESSIVE, /* AnonPages/10 every 1 ms, 30 s */
  KATA_STANDARD,   /* AnonPages/100 every 10 ms, 120 s */
  KATA_SLOW,       /* AnonPages/500 every 100 ms, 120 s */
} KataPhase;

static const struct
{
  uint32_t divisor;
  uint32_t sleep_ms;
  uint64_t duration_ms;
  const char *reason;
} kata_phases[] = {
  [KATA_IDLE] = { 0, 0, 0, "kata:idle" },
  [KATA_AGGRESSIVE] = { 10, 1, 30000, "kata:aggressive" },
  [KATA_STANDARD] = { 100, 10, 120000, "kata:standard" },
  [KATA_SLOW] = { 500, 100, 120000, "kata:slow" },
};

/* Host AnonPages is not in the snapshot: the guests' resident memory (PSS,
 * else balloon actual) stands in for it, as guest RAM is the host's anon memory. */
static uint64_t
kata_anon_pages (const PolicySnapshot *s)
{
  uint64_t page = s->ksm.page_size_bytes > 0 && s->ksm.page_size_bytes <= POLICY_MIB
                      ? s->ksm.page_size_bytes
                      : 4096;
  return ref_vms_host_bytes (s) / page;
}

int
policy_kata_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                    PolicyDecision *out)
{
  if (s == NULL || c == NULL || carry == NULL || out == NULL
      || (s->n_vms > 0 && (s->vms == NULL || out->vms == NULL)))
    return -1;
  ref_decision_hold (s, out, "kata:no-balloon");
  PolicyKsmDecision *k = &out->ksm;
  if (!s->ksm.present)
    {
      k->reason = "ksm:absent";
      return 0;
    }
  uint64_t now = s->now_ms;
  uint64_t *slot = carry->ref_u64;
  bool kick = (s->host_kicks & REF_KSM_KICKS) != 0;
  for (size_t i = 0; i < s->n_vms && !kick; i++)
    kick = (s->vms[i].kicks & REF_KSM_KICKS) != 0 && s->vms[i].cfg.ksm;

  KataPhase phase
      = slot[REF_SLOT_KATA_PHASE] <= KATA_SLOW ? (KataPhase) slot[REF_SLOT_KATA_PHASE] : KATA_IDLE;
  if (kick)
    {
      /* Remember what to restore only when leaving idle: a kick during a
       * throttle restarts it but keeps the values from before the first. */
      if (phase == KATA_IDLE || !slot[REF_SLOT_KATA_SAVED])
        {
          slot[REF_SLOT_KATA_SAVED] = 1;
          slot[REF_SLOT_KATA_RUN] = s->ksm.run;
          slot[REF_SLOT_KATA_PAGES] = s->ksm.pages_to_scan;
          slot[REF_SLOT_KATA_SLEEP] = s->ksm.sleep_millisecs;
        }
      phase = KATA_AGGRESSIVE;
      slot[REF_SLOT_KATA_PHASE_MS] = now;
    }
  /* Advance through the phases whose time is up (several if ticks are sparse). */
  while (phase != KATA_IDLE)
    {
      uint64_t since = slot[REF_SLOT_KATA_PHASE_MS];
      uint64_t end = policy_sat_add (since, kata_phases[phase].duration_ms);
      if (now < since)
        end = since; /* clock went backwards: move on */
      else if (now < end)
        break;
      phase = phase == KATA_SLOW ? KATA_IDLE : (KataPhase) (phase + 1);
      slot[REF_SLOT_KATA_PHASE_MS] = end;
    }
  slot[REF_SLOT_KATA_PHASE] = phase;

  uint32_t run, pages, sleep_ms;
  if (phase == KATA_IDLE)
    {
      if (!slot[REF_SLOT_KATA_SAVED])
        {
          k->reason = "kata:idle";
          return 0;
        }
      /* Restore what was there before the kick, once. */
      run = (uint32_t) slot[REF_SLOT_KATA_RUN];
      pages = (uint32_t) slot[REF_SLOT_KATA_PAGES];
      sleep_ms = (uint32_t) slot[REF_SLOT_KATA_SLEEP];
      slot[REF_SLOT_KATA_SAVED] = 0;
      k->state = POLICY_KSM_IDLE;
      k->reason = "kata:restore";
    }
  else
    {
      uint64_t p = kata_anon_pages (s) / kata_phases[phase].divisor;
      run = 1;
      pages = (uint32_t) policy_clamp_u64 (p, 1, UINT32_MAX);
      sleep_ms = kata_phases[phase].sleep_ms;
      k->state = phase == KATA_AGGRESSIVE ? POLICY_KSM_BOOST
                 : phase == KATA_STANDARD ? POLICY_KSM_STEADY
                                          : POLICY_KSM_SETTLE;
      k->reason = kata_phases[phase].reason;
      k->expected_cpu_pct
          = policy_clamp_double ((double) pages * 1000.0 / sleep_ms * 1e3 / 1e7, 0.0, 100.0);
    }
  k->run = run;
  k->set_run = run != s->ksm.run;
  k->pages_to_scan = pages;
  k->set_pages_to_scan = pages != s->ksm.pages_to_scan;
  k->sleep_millisecs = sleep_ms;
  k->set_sleep_millisecs = sleep_ms != s->ksm.sleep_millisecs;
  return 0;
}
