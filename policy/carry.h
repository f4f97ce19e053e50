/* carry.h: the state a policy keeps between ticks (PolicyCarry), private to policy/.
 * Holds the ballast policy's own state, per-VM slots keyed by VM id, and generic
 * slots the reference policies (ref-*.c) use for theirs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Slots of the generic per-VM and per-host scratch the reference policies use.
 * Zeroed when a VM (or the carry) is new. */
#define POLICY_REF_VM_U64 8
#define POLICY_REF_VM_F64 8
#define POLICY_REF_HOST_U64 16
#define POLICY_REF_HOST_F64 16

/* Ticks of balloon sizes a VM's carry remembers: at a 1 s tick, the last
 * 8 s, more than a quiet VM's stats lag. */
#define POLICY_ACTUAL_HIST 8

/* A VM's state between ticks. Zero-initialized when the VM is first seen. */
typedef struct
{
  uint64_t id;
  bool used;         /* slot holds a VM */
  uint64_t seen_gen; /* carry generation of the tick that last looked it up */
  uint64_t first_seen_ms;

  /* ballast: previous samples (valid when `have_prev`) */
  bool have_prev;
  uint64_t prev_ms;
  bool prev_actual_present;
  uint64_t prev_actual_bytes;
  bool prev_agent_present;
  uint64_t prev_psi_some_total_us;
  uint64_t prev_refault_total_pages;
  uint64_t prev_oom_kills;
  bool prev_used_present;
  uint64_t prev_used_bytes; /* guest stats: total - available */

  /* ballast: thrash feedback */
  uint64_t allowance_bytes; /* extra bytes granted above the working set */
  uint64_t cold_age_eff_ms; /* 0: not adapted yet (use the configured cold age) */
  uint32_t calm_ticks;      /* consecutive ticks without pressure */

  /* ballast: urgent path (the last raise, doubled while urgency persists,
   * and the floor it set, held for a while) */
  uint64_t urgent_raise_bytes;
  uint64_t urgent_ms;
  uint64_t urgent_floor_bytes;
  uint64_t urgent_floor_until_ms;

  /* ballast: demand floor (a rise of `actual` the controller did not ask for) */
  uint64_t demand_floor_bytes;
  uint64_t demand_floor_until_ms;

  /* ballast: burst floor (docs/policy.md, "Burst floor"): the need's low
   * since the last burst, the peak of the burst under way, and the floor a
   * finished burst left, held until `burst_until_ms` */
  bool in_burst;
  uint64_t burst_low_bytes;
  uint64_t burst_peak_bytes;
  uint64_t burst_floor_bytes;
  uint64_t burst_until_ms;

  /* ballast: the balloon's speed, measured while it moved toward a target it
   * did not reach within the interval (0: never seen limited by the device) */
  double balloon_bps;

  /* ballast: the last guest reclaim request */
  bool reclaim_asked;
  uint64_t reclaim_ms;

  /* ballast: booting reservation (kick seen, driver not reporting yet),
   * then the boot grace (no inflate until this time) */
  bool booting;
  uint64_t boot_grace_until_ms;

  /* ballast: its QEMU's resident size at the previous tick (KSM's calm test) */
  PolicyStat prev_rss_bytes;

  /* ballast: the balloon's size at each of the last ticks (a ring): what the
   * guest's stats were taken at is among them (docs/policy.md, "Need") */
  uint64_t actual_hist_ms[POLICY_ACTUAL_HIST];
  uint64_t actual_hist_bytes[POLICY_ACTUAL_HIST];
  uint32_t actual_hist_next;

  /* ballast: what was last issued */
  bool issued;
  uint64_t issued_target_bytes;
  uint64_t issued_ms;

  /* reference policies: free for their use */
  uint64_t ref_u64[POLICY_REF_VM_U64];
  double ref_f64[POLICY_REF_VM_F64];
} PolicyVmCarry;

/* ballast's KSM state machine memory. */
typedef struct
{
  PolicyKsmState state;
  uint64_t state_since_ms;
  bool have_prev;
  uint64_t prev_ms;
  uint64_t prev_pages_scanned;
  uint64_t prev_merged_pages; /* pages_sharing + ksm_zero_pages */
  uint64_t prev_full_scans;
  bool prev_cpu_present;
  uint64_t prev_cpu_ns;
  /* smoothed measurements (0 until measured) */
  double yield;           /* merged pages per scanned page */
  double ns_per_page;     /* ksmd CPU per scanned page */
  double bytes_per_cpu_s; /* merge yield per CPU-second */
  bool yield_known;
  /* settle test: pages_sharing at the last full-scan boundary, and how much
   * the KSM VMs' QEMUs grew since */
  uint64_t scan_mark_full_scans;
  uint64_t scan_mark_sharing;
  uint64_t rss_grown_since_mark_bytes;
  uint32_t calm_scans;
  uint64_t boost_mark_full_scans; /* full_scans when boost began or was last extended */
  uint64_t boost_kick_ms;         /* when the running boost began or a kick last extended it */
} PolicyKsmCarry;

struct _PolicyCarry
{
  uint64_t gen; /* ticks begun */
  uint64_t last_now_ms;
  bool have_tick;

  /* per-VM slots: open addressing, linear probing, capacity a power of two */
  PolicyVmCarry *slots;
  size_t n_slots;
  size_t n_used;
  size_t n_seen; /* distinct VMs looked up in the current tick */

  PolicyKsmCarry ksm;

  /* per-tick scratch owned by the carry (no malloc per tick once warm) */
  void *scratch;
  size_t scratch_bytes;

  /* reference policies: host-wide state */
  uint64_t ref_u64[POLICY_REF_HOST_U64];
  double ref_f64[POLICY_REF_HOST_F64];
  void *ref_state; /* owned; freed with ref_state_free */
  void (*ref_state_free) (void *state);
};

/* Starts a tick for a snapshot of `n_vms` VMs: reserves room so that the
 * lookups of this tick never move slots (pointers from policy_carry_vm stay
 * valid until policy_carry_end_tick). Returns false on allocation failure. */
bool policy_carry_begin_tick (PolicyCarry *carry, size_t n_vms, uint64_t now_ms);

/* The carry of VM `id`, created zeroed on first sight (`*is_new` set then,
 * if not NULL). Call between begin_tick and end_tick; never NULL after a
 * successful begin_tick with room for every VM of the snapshot. */
PolicyVmCarry *policy_carry_vm (PolicyCarry *carry, uint64_t id, bool *is_new);

/* Looks VM `id` up without creating it; NULL if unknown. */
PolicyVmCarry *policy_carry_vm_find (PolicyCarry *carry, uint64_t id);

/* Ends a tick: forgets the VMs that were not looked up during it (they have
 * disappeared; a VM that comes back later starts fresh). */
void policy_carry_end_tick (PolicyCarry *carry);

/* A scratch buffer of at least `bytes`, kept between ticks; NULL on
 * allocation failure. Contents are undefined on return. */
void *policy_carry_scratch (PolicyCarry *carry, size_t bytes);

/* Replaces the reference policy's host state, freeing the previous one. */
void policy_carry_set_ref_state (PolicyCarry *carry, void *state, void (*free_fn) (void *));
