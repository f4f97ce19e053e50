/* vm-private.h: the Vm record, for vm.c and vm-json.c only; everyone else
 * goes through vm.h. */
#pragma once

#include "rate-limit.h"
#include "vm-agent.h"
#include "vm.h"

/* How often a figure is read: every regular tick while the VM changes; each
 * reading that follows a quiet interval doubles the gap, up to a cap (see
 * vm.c). */
typedef struct
{
  guint level;         /* the gap is 2^level ticks */
  gboolean changed;    /* something changed since the last reading */
  gint64 last_mono_us; /* 0: never read (due at once) */
} VmCadence;

struct _Vm
{
  VmOwner owner;
  uint64_t id;
  char *name;
  const char *backend; /* static string */
  const VmOps *ops;
  gpointer backend_data;
  char *qmp_path;
  char *agent_path;
  gint64 added_real_ms; /* wall clock when the daemon learnt of it */

  /* link and sample, written by the backend */
  VmLinkState state;
  char *lost_reason;
  char *balloon_device; /* QMP path or libvirt alias; NULL: none */
  gboolean balloon_deflate_on_oom;
  gboolean balloon_free_page_reporting;
  gboolean paused;
  int pid;           /* QEMU's PID, 0 if unknown */
  guint64 ram_bytes; /* base memory; 0 until known */
  PolicyStat actual_bytes;
  PolicyStat last_target_bytes; /* in flight, issued or planned */
  VmGuestStats stats;
  gint64 stats_seen_mono_us; /* when the guest's last report was first seen */
  gboolean ksm_excluded;

  VmAgent *agent;
  gboolean urgent;

  /* What one guest may cost the host: extra ticks it causes, lifecycle
   * kicks it sends (each may boost ksmd), and log lines about it. */
  RateLimit extra_ticks;
  RateLimit kick_limit;
  RateLimit log_limit;
  guint64 kicks_dropped;
  guint64 log_suppressed;

  /* host cost of its QEMU, read by the owner's tick */
  SampleVmCost cost;
  gint64 cost_sampled_mono_us;
  PolicyStat cost_rss_bytes;         /* the QEMU's resident size at that reading */
  PolicyStat cost_ksm_sharing_bytes; /* the host's KSM sharing at that reading */
  PolicyStat rss_bytes;   /* its resident size at the latest statm read */
  ProcRssFile statm;      /* its QEMU's statm, open while the link is up */
  VmCadence cost_cadence;
  VmCadence sample_cadence;  /* the backend's sample (QMP or libvirt stats) */
  gboolean stats_wanted_now; /* asked out of cadence for urgent news: decide on arrival */

  /* policy state */
  gboolean has_override;
  PolicyVmConfig override;
  uint32_t kicks;
  PolicyVmDecision last;
  gboolean has_decision;
  char last_reason[48];
};

void vm_note (Vm *vm, VmNote note);
