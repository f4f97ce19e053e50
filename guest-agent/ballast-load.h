/* ballast-load.h: what ballast-load.c shares with its hostile workloads
 * (load-hostile.c): the guest clock, sleeping and the progress lines. */
#pragma once

#include <stdint.h>

/* The guest's CLOCK_BOOTTIME in ms: the clock of the agent's uptime_ms. */
uint64_t now_ms (void);
void sleep_ms (uint64_t ms);
/* One "BLOAD t_ms=... " line on stdout (the guest console). */
void progress (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* hostile:RESET_S: owns the agent port (tests/vm/init starts no agent for
 * it) and attacks the host through it; resets the guest after @reset_ms
 * when non-zero. */
int run_hostile (uint64_t reset_ms);
/* reset-loop:SECS: the guest resets itself @reset_ms after each start. */
int run_reset_loop (uint64_t reset_ms);
