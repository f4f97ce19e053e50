/* release.h: gives ballooned memory back when ballast stops (a clean stop,
 * or `ballastd --release` after a crash): every VM toward its max. */
#pragma once

#include <glib.h>

#include "config.h"
#include "sample.h"

/* The whole release gets this long; QEMUs are reached several at once and
 * a hung one is given up after RELEASE_VM_TIMEOUT_MS; a QMP exchange started
 * before the deadline may end that much after it: a stop waits at most 6 s. */
#define RELEASE_DEADLINE_MS 5000
#define RELEASE_VM_TIMEOUT_MS 1000

/* Reaches every static and qmp-dir VM of `cfg` over QMP (its monitor must
 * be free: the daemon's own links closed first) and every running domain of
 * its libvirtd, skips those in mode observe or off, and deflates the others
 * toward their max within the host's free memory above the reserve
 * (policy_release_plan), by equal fractions of their shortfall when it does
 * not cover all. A libvirtd that does not answer by the deadline is left
 * behind on its worker threads. Everything is logged; TRUE when every
 * source was listed and every VM reached is at its max. Blocks; never call it from a running main loop. */
gboolean release_run (const BallastConfig *cfg, SampleCtx *sample, guint deadline_ms);

/* `ballastd --release` (the unit's ExecStopPost=): puts back the KSM knobs
 * a killed daemon left boosted (from [ksm] saved-knobs) and, unless
 * release-on-exit or dry-run say otherwise, runs release_run(). */
gboolean release_after_stop (const BallastConfig *cfg);
