/* defaults.h: the defaults of docs/policy.md in one place (internal to policy/).
 * The config parser, docs/policy.md and the decision code all read these. */
#pragma once

#include "policy.h"

#define POLICY_DEFAULT_TICK_MS 1000u
#define POLICY_DEFAULT_SHARES 1000u
#define POLICY_DEFAULT_COLD_AGE_MS 120000u
#define POLICY_DEFAULT_PRESSURE_TARGET_PCT 0.1
/* refill: off by default (docs/policy.md, "Refill bound": a conservative
 * bound costs density where the balloon inflates slowly) */
#define POLICY_DEFAULT_REFILL_MS 0u
/* burst-hold: a burst that comes back within this of the last one's end
 * finds the memory still there (docs/policy.md, "Burst floor") */
#define POLICY_DEFAULT_BURST_HOLD_MS 120000u
/* boot-grace: no inflate this long after a starting guest's first report
 * (docs/policy.md, "Boot grace") */
#define POLICY_DEFAULT_BOOT_GRACE_MS 30000u
/* min: max(256 MiB, 25 % of RAM) */
#define POLICY_DEFAULT_MIN_FLOOR_BYTES (256ull * POLICY_MIB)
/* min and max never go below this (or the VM's RAM when smaller). */
#define POLICY_ABS_MIN_BYTES (64ull * POLICY_MIB)
#define POLICY_DEFAULT_MIN_PCT 25.0
/* headroom: max(64 MiB, 5 % of RAM) */
#define POLICY_DEFAULT_HEADROOM_FLOOR_BYTES (64ull * POLICY_MIB)
#define POLICY_DEFAULT_HEADROOM_PCT 5.0
/* host reserve: max(512 MiB, 5 % of MemTotal) */
#define POLICY_DEFAULT_RESERVE_FLOOR_BYTES (512ull * POLICY_MIB)
#define POLICY_DEFAULT_RESERVE_PCT 5.0
/* inflate step: min(10 % of RAM, 256 MiB) per tick */
#define POLICY_DEFAULT_INFLATE_STEP_CAP_BYTES (256ull * POLICY_MIB)
#define POLICY_DEFAULT_INFLATE_STEP_PCT 10.0
/* deadband: max(1 % of RAM, 16 MiB) */
#define POLICY_DEFAULT_DEADBAND_FLOOR_BYTES (16ull * POLICY_MIB)
#define POLICY_DEFAULT_DEADBAND_PCT 1.0
/* ksmd CPU budgets, % of one core */
#define POLICY_DEFAULT_KSM_CPU_STEADY_PCT 10.0
#define POLICY_DEFAULT_KSM_CPU_BOOST_PCT 50.0
#define POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS 10000u

/* A working-set histogram older than this is stale: the agent reports every
 * few seconds, so 30 s means several reports were missed. */
#define POLICY_WS_STALE_MS 30000u
/* Guest stats older than this are stale (QEMU polls them every 1-10 s). */
#define POLICY_STATS_STALE_MS 30000u
/* Agent PSI/refault counters older than this are not used for feedback. */
#define POLICY_AGENT_STALE_MS 30000u
