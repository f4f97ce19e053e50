/* internal.h: the interface between the balloon half (decide.c) and the KSM
 * half (ksm.c) of the ballast policy; private to policy/. */
#pragma once

#include "carry.h"
#include "policy.h"

/* What the balloon half tells the KSM half about this tick. */
typedef struct
{
  uint64_t dt_ms;           /* since the previous tick (>= 1) */
  bool kick;                /* a KSM-relevant lifecycle kick arrived (boot, start, hotplug...) */
  bool deflate_kick;        /* a balloon deflated by KSM_KICK_DEFLATE_BYTES or more in a tick */
  bool tight;               /* host memory is scarce */
  double tightness;         /* 0 (plenty) .. 1 (at or below the reserve) */
  bool balloon_covers;      /* cold/free guest memory reclaimable by balloon covers the deficit */
  uint64_t mergeable_bytes; /* Σ size of KSM-enabled VMs */
  uint64_t rss_grown_bytes; /* Σ of their QEMUs' resident size growth this tick (known ones) */
} PolicyKsmJoint;

/* Fills out->ksm and advances carry->ksm. Pure; never fails. */
void policy_ksm_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyKsmCarry *kc,
                        const PolicyKsmJoint *j, PolicyKsmDecision *out);

/* What KSM saves now (bytes), from the snapshot's counters. */
uint64_t policy_ksm_saved_bytes (const PolicyKsm *ksm);
