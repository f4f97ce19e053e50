/* sample.h: the daemon's view of host probes and the KSM actuator: fills
 * policy inputs from /proc and sysfs, applies KSM decisions, restores knobs. */
#pragma once

#include <glib.h>

#include "policy.h"
#include "proc.h"

typedef struct _SampleCtx SampleCtx;

/* `ksm_sysfs` is the KSM knob directory; `restore_on_exit` makes
 * sample_free() put every changed knob back, and keeps their originals in
 * `ksm_saved_path` (NULL: in memory only) before the first write, so the
 * next sample_new() (the next start, or `ballastd --release`) restores them
 * after a crash; it does that first, unless another daemon drives ksmd or
 * this is a dry run. */
SampleCtx *sample_new (const char *ksm_sysfs, gboolean restore_on_exit, const char *ksm_saved_path,
                       gboolean dry_run);
void sample_free (SampleCtx *ctx);

void sample_host (SampleCtx *ctx, PolicyHost *out);
/* Host memory not attributable to VMs, from what the VMs hold on the host. */
void sample_host_non_vm (PolicyHost *host, uint64_t vm_bytes);
/* Reads KSM's counters and knobs; also measures ksmd's CPU use since the
 * previous call at `now_mono_us` (see sample_ksmd_cpu_pct). */
void sample_ksm (SampleCtx *ctx, PolicyKsm *out, gint64 now_mono_us);
/* ksmd's CPU use between the last two sample_ksm() calls, % of one core;
 * 0 until two readings exist. */
double sample_ksmd_cpu_pct (const SampleCtx *ctx);
/* Takes the host-wide lock on driving ksmd (real sysfs only); FALSE while
 * another daemon holds it (logged once per change). */
gboolean sample_ksm_claim (SampleCtx *ctx);
/* Whether this daemon writes KSM knobs (holds the lock or needs none). */
gboolean sample_ksm_driving (SampleCtx *ctx);
/* Writes the knobs the decision sets that differ from what is there; in
 * dry-run, logs them only; while another daemon drives ksmd, nothing. */
gboolean sample_ksm_apply (SampleCtx *ctx, const PolicyKsmDecision *d, gboolean dry_run,
                           GError **error);
/* What a VM's QEMU costs the host. */
typedef struct
{
  PolicyStat pss_bytes;
  PolicyStat ksm_merging_pages;
  PolicyStat cgroup_kernel_bytes; /* only in its own cgroup v2 */
} SampleVmCost;

/* Per-process cost of a VM's QEMU (pid 0, or a process gone: all absent). */
void sample_vm_process (SampleCtx *ctx, int pid, SampleVmCost *out);
/* Its resident size, O(1) (statm, kept open in `file`); FALSE when it
 * cannot be read. */
gboolean sample_vm_rss (SampleCtx *ctx, ProcRssFile *file, int pid, guint64 *out_bytes);
