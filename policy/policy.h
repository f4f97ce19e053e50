/* policy.h: the decision core's inputs, outputs and entry points.
 * Pure C: no I/O, no clocks, no globals; every time is passed in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MIB (1024ull * 1024ull)
#define POLICY_GIB (1024ull * POLICY_MIB)

/* A value the source may not have reported (QEMU's 2^64-1 / -1, a missing
 * file, an agent that never spoke). Absent values never count as zero. */
typedef struct
{
  bool present;
  uint64_t value;
} PolicyStat;

/* A configured size: absolute bytes or a percentage of the VM's (or host's)
 * RAM. `set == false` means "use the default" (docs/policy.md, "Configuration keys"). */
typedef struct
{
  bool set;
  bool is_pct;
  uint64_t bytes;
  double pct;
} PolicySize;

typedef enum
{
  POLICY_VM_MODE_AUTO = 0, /* ballast decides */
  POLICY_VM_MODE_FIXED,    /* hold cfg.target */
  POLICY_VM_MODE_OBSERVE,  /* measure, never act */
  POLICY_VM_MODE_OFF,      /* ignore the VM */
} PolicyVmMode;

typedef enum
{
  POLICY_HOST_MODE_BALANCED = 0, /* surplus goes to guests by shares */
  POLICY_HOST_MODE_DENSITY,      /* surplus stays on the host */
} PolicyHostMode;

typedef enum
{
  POLICY_KSM_MODE_AUTO = 0, /* drive ksmd */
  POLICY_KSM_MODE_OBSERVE,  /* decide and report, write nothing */
  POLICY_KSM_MODE_OFF,      /* leave ksmd alone entirely */
} PolicyKsmMode;

typedef enum
{
  POLICY_KSM_IDLE = 0,
  POLICY_KSM_BOOST,
  POLICY_KSM_STEADY,
  POLICY_KSM_SETTLE,
} PolicyKsmState;

typedef enum
{
  POLICY_VM_STATE_RUNNING = 0,
  POLICY_VM_STATE_STARTING, /* created/started, balloon driver not reporting yet */
  POLICY_VM_STATE_PAUSED,
  POLICY_VM_STATE_STOPPING, /* being destroyed or migrated away */
} PolicyVmState;

/* Lifecycle kicks, as a bit set (PolicyVm.kicks, PolicySnapshot.host_kicks). */
enum
{
  POLICY_KICK_CREATING = 1u << 0,
  POLICY_KICK_CREATED = 1u << 1,
  POLICY_KICK_STARTED = 1u << 2,
  POLICY_KICK_DESTROYING = 1u << 3,
  POLICY_KICK_DESTROYED = 1u << 4,
  POLICY_KICK_MIGRATED = 1u << 5,
  POLICY_KICK_MEM_HOTPLUG = 1u << 6,
  POLICY_KICK_RESUMED = 1u << 7,
  POLICY_KICK_OPERATOR = 1u << 8, /* `kick` from the control socket */
};

typedef enum
{
  POLICY_WS_NONE = 0,
  POLICY_WS_AGENT,       /* ballast-agent, MGLRU */
  POLICY_WS_MEMINFO,     /* ballast-agent fallback: active/inactive */
  POLICY_WS_BALLOON_WSR, /* virtio-balloon working-set reporting */
} PolicyWsSource;

#define POLICY_WS_MAX_BINS 8

/* Bins are not cumulative: bin i holds bytes idle for more than bin i-1's
 * age and at most its own; age_ms == 0 marks the open-ended last bin. */
typedef struct
{
  uint64_t age_ms;
  uint64_t anon_bytes;
  uint64_t file_bytes;
} PolicyWsBin;

typedef struct
{
  PolicyWsSource source;
  uint64_t age_ms; /* time since the histogram was produced */
  size_t n_bins;
  PolicyWsBin bins[POLICY_WS_MAX_BINS];
} PolicyWs;

/* virtio-balloon guest stats (bytes / counters), each possibly absent. */
typedef struct
{
  PolicyStat total_bytes;
  PolicyStat free_bytes;
  PolicyStat available_bytes;
  PolicyStat disk_caches_bytes;
  PolicyStat major_faults;
  PolicyStat minor_faults;
  PolicyStat swap_in_bytes;
  PolicyStat swap_out_bytes;
  uint64_t age_ms; /* time since the guest last reported; ignored if all absent */
} PolicyGuestStats;

/* What the in-guest agent says beyond the histogram. */
typedef struct
{
  bool present;
  double psi_some_avg10_pct;
  double psi_full_avg10_pct;
  uint64_t psi_some_total_us;   /* cumulative; the policy takes deltas */
  uint64_t refault_total_pages; /* workingset_refault_anon + _file, cumulative */
  uint64_t unevictable_bytes;
  uint64_t oom_kills; /* cumulative */
  bool urgent;        /* a `pressure` message arrived since the last tick */
  bool can_reclaim;   /* the agent takes `reclaim` requests (cgroup v2 memory.reclaim) */
  uint64_t age_ms;
} PolicyGuestAgent;

typedef struct
{
  PolicyVmMode mode;
  PolicySize min;             /* default max(256 MiB, 25 % of RAM) */
  PolicySize max;             /* default the configured RAM */
  PolicySize target;          /* for mode fixed */
  PolicySize headroom;        /* default max(64 MiB, 5 % of RAM) */
  uint32_t shares;            /* default 1000 */
  uint64_t cold_age_ms;       /* default 120 s */
  bool ksm;                   /* default true */
  double pressure_target_pct; /* default 0.1 */
  uint64_t refill_ms;         /* default 0: no bound (docs/policy.md, "Refill bound") */
  uint64_t burst_hold_ms;     /* default 120 s (docs/policy.md, "Burst floor"); 0: off */
  uint64_t boot_grace_ms;     /* default 30 s (docs/policy.md, "Boot grace"); 0: off */
} PolicyVmConfig;

typedef struct
{
  uint64_t id;      /* stable across ticks while the VM exists; keys the carry */
  const char *name; /* borrowed; used only in reasons the caller logs */
  PolicyVmState state;
  PolicyVmConfig cfg;
  uint64_t ram_bytes;           /* configured RAM (the balloon's maximum) */
  PolicyStat actual_bytes;      /* balloon actual (guest's logical size) */
  /* The balloon has deflate-on-oom: its pages stay in the guest's MemTotal,
   * as used memory, so the stats' total is not the guest's size. */
  bool balloon_deflate_on_oom;
  /* The balloon offers free page reporting: memory the guest frees goes
   * back to the host without the balloon. */
  bool balloon_free_page_reporting;
  PolicyStat last_target_bytes; /* last target the controller issued, if any */
  PolicyGuestStats stats;
  PolicyWs ws;
  PolicyGuestAgent agent;
  /* host cost of the VM */
  PolicyStat pss_bytes;
  PolicyStat rss_bytes; /* its QEMU's resident size: grows as guest pages appear, KSM or not */
  PolicyStat ksm_merging_pages;
  PolicyStat cgroup_kernel_bytes;
  uint32_t kicks; /* POLICY_KICK_* pending for this VM */
} PolicyVm;

typedef struct
{
  uint64_t mem_total_bytes;
  uint64_t mem_available_bytes;
  uint64_t mem_free_bytes;
  uint64_t swap_total_bytes;
  uint64_t swap_free_bytes;
  double psi_some_avg10_pct;
  double psi_full_avg10_pct;
  uint64_t psi_some_total_us;
  PolicyStat non_vm_used_bytes; /* host memory not attributable to VMs */
} PolicyHost;

typedef enum
{
  POLICY_KSM_ADVISOR_ABSENT = 0, /* kernel has no advisor */
  POLICY_KSM_ADVISOR_NONE,       /* advisor_mode = none */
  POLICY_KSM_ADVISOR_SCAN_TIME,  /* advisor_mode = scan-time: pages_to_scan is rejected */
} PolicyKsmAdvisor;

typedef struct
{
  bool present; /* KSM sysfs exists */
  uint64_t page_size_bytes;
  uint64_t pages_shared;
  uint64_t pages_sharing;
  uint64_t pages_unshared;
  uint64_t pages_volatile;
  uint64_t pages_scanned; /* cumulative */
  uint64_t full_scans;    /* cumulative */
  uint64_t ksm_zero_pages;
  int64_t general_profit_bytes;
  uint32_t run;
  uint32_t pages_to_scan;
  uint32_t sleep_millisecs;
  PolicyKsmAdvisor advisor_mode;
  uint32_t advisor_target_scan_time_s;
  uint32_t advisor_max_cpu_pct;
  PolicyStat ksmd_cpu_ns; /* cumulative ksmd CPU time */
} PolicyKsm;

typedef struct
{
  uint64_t now_ms; /* monotonic; the only clock the policy sees */
  PolicyHost host;
  PolicyKsm ksm;
  size_t n_vms;
  const PolicyVm *vms;
  uint32_t host_kicks; /* kicks not tied to a VM in `vms` (e.g. one just destroyed) */
} PolicySnapshot;

typedef struct
{
  uint64_t tick_ms;        /* default 1000 */
  PolicySize host_reserve; /* default max(512 MiB, 5 % of MemTotal) */
  PolicyHostMode host_mode;
  PolicyKsmMode ksm_mode;
  double ksm_cpu_steady_pct;       /* of one core, default 10 */
  double ksm_cpu_boost_pct;        /* of one core, default 50 */
  uint64_t ksm_boost_scan_time_ms; /* default 30 s */
  PolicySize inflate_step;         /* default min(10 % of RAM, 256 MiB) per tick */
  PolicySize deadband;             /* default max(1 % of RAM, 16 MiB) */
  PolicyVmConfig vm_defaults;
} PolicyConfig;

typedef struct
{
  uint64_t id;
  bool set_target;       /* issue a balloon command for target_bytes */
  uint64_t target_bytes; /* this tick's target: plan_bytes after rate limit and deadband
                          * (the target in flight when not re-issued) */
  uint64_t need_bytes;
  uint64_t min_bytes; /* effective floor and ceiling after defaults */
  uint64_t max_bytes;
  const char *reason;  /* static string: "ws+headroom", "floor", "rate-limit", ... */
  uint64_t plan_bytes; /* the allocation this VM converges to (before rate limit and
                          * deadband); within [min_bytes, max_bytes] */
  bool held;           /* not steered this tick (no data, booting, paused, stopping,
                          * destroyed, or mode fixed/observe/off): counted in held_bytes */
  uint64_t refill_bytes;  /* the refill bound (0: none; docs/policy.md, "Refill bound") */
  uint64_t burst_floor_bytes; /* the burst floor in force (0: none; docs/policy.md,
                               * "Burst floor") */
  uint64_t raise_bytes; /* what the plan may be raised to outside the budget while the
                         * host has room: the need, refill bound, burst floor or, in
                         * the boot grace, the balloon's size (0: no data) */
  uint64_t reclaim_bytes; /* ask the guest's agent to reclaim this much cold page cache
                           * now (0: no request; docs/policy.md, "Guest reclaim") */
} PolicyVmDecision;

typedef struct
{
  PolicyKsmState state;
  bool set_run;
  uint32_t run;
  bool set_pages_to_scan;
  uint32_t pages_to_scan;
  bool set_sleep_millisecs;
  uint32_t sleep_millisecs;
  bool set_advisor; /* advisor_target_scan_time_s / advisor_max_cpu_pct */
  uint32_t advisor_target_scan_time_s;
  uint32_t advisor_max_cpu_pct;
  uint64_t saved_bytes;          /* what KSM saves now */
  uint64_t expected_saved_bytes; /* what the chosen rate is expected to reach */
  double expected_cpu_pct;       /* of one core */
  const char *reason;            /* static string */
} PolicyKsmDecision;

typedef struct
{
  size_t n_vms;          /* set by the callee: == snapshot n_vms */
  PolicyVmDecision *vms; /* caller-allocated, capacity >= snapshot n_vms, same order */
  PolicyKsmDecision ksm;
  uint64_t budget_bytes; /* B */
  uint64_t sum_need_bytes;
  uint64_t sum_target_bytes;
  bool host_overloaded;
  const char *host_reason; /* static string */
  uint64_t held_bytes;     /* budget taken by held VMs (at their current size) and by
                            * booting VMs (their configured RAM) */
  uint64_t sum_plan_bytes; /* Σ plan_bytes of the steered (not held) VMs; the allocation
                            * guarantees held_bytes + sum_plan_bytes <= budget_bytes
                            * whenever held_bytes + Σ min_bytes (steered) <= budget_bytes */
  bool host_tight;         /* host memory is scarce (KSM threshold lowered, cheaper lever first) */
  uint64_t reserve_bytes;  /* the host reserve R as resolved against MemTotal */
} PolicyDecision;

/* State between ticks, owned by the caller, private to the policy. */
typedef struct _PolicyCarry PolicyCarry;

PolicyCarry *policy_carry_new (void);
void policy_carry_free (PolicyCarry *carry);

/* Every policy (ballast and the reference ones) has this shape.
 * Returns 0, or -1 on invalid arguments (NULL pointers); any numeric input
 * is valid and yields finite, bounded outputs. */
typedef int (*PolicyDecideFn) (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                               PolicyDecision *out);

int policy_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                   PolicyDecision *out);

/* Reference policies (baselines): balloon-only ones leave the KSM decision
 * unchanged (no set_* flags), KSM-only ones issue no balloon targets. */
int policy_mom_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                       PolicyDecision *out);
int policy_proxmox_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                           PolicyDecision *out);
int policy_ksmtuned_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                            PolicyDecision *out);
int policy_kata_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry,
                        PolicyDecision *out);

/* Looks a policy up by name ("ballast", "mom", "proxmox", "ksmtuned",
 * "kata"); NULL if unknown. */
PolicyDecideFn policy_lookup (const char *name);

/* Defaults from docs/policy.md, "Configuration keys". */
void policy_config_defaults (PolicyConfig *c);
void policy_vm_config_defaults (PolicyVmConfig *v);

/* Effective floor/ceiling of a VM after defaults: min <= max <= ram. */
void policy_vm_limits (const PolicyVm *vm, uint64_t *min_bytes, uint64_t *max_bytes);

/* Resolves a size against a base (RAM) with a fallback when unset. */
uint64_t policy_size_resolve (const PolicySize *size, uint64_t base_bytes, uint64_t default_bytes);

const char *policy_ksm_state_name (PolicyKsmState state);
const char *policy_vm_mode_name (PolicyVmMode mode);

/* ---- release: giving ballooned memory back when ballast stops ------------ */

/* One VM of a release: where its balloon is and where it may go. */
typedef struct
{
  uint64_t actual_bytes; /* the balloon's size now */
  PolicyStat pss_bytes;  /* its QEMU's PSS, when known */
  uint64_t max_bytes;    /* its ceiling (policy_vm_limits) */
} PolicyReleaseVm;

/* The host reserve resolved against MemTotal (default: docs/policy.md, "Configuration keys"). */
uint64_t policy_host_reserve_bytes (const PolicyConfig *c, uint64_t mem_total_bytes);

/* What a release may hand out: MemAvailable above the reserve; 0 when the
 * host figures are missing (nothing known is free). */
uint64_t policy_release_room (const PolicyHost *h, const PolicyConfig *c);

/* Plans the release: targets_bytes[i] is vms[i]'s new size, in
 * [actual, max(actual, max)]: never a shrink. A VM is counted at what it
 * holds, max(actual, PSS), as in policy_decide: a guest that reports a small
 * balloon while its QEMU holds more gets no extra room. When the room covers
 * every shortfall (max - held) each VM goes to its max; otherwise each gets
 * the same fraction of its shortfall, rounded down to a MiB. Returns the
 * bytes handed out (Σ target - held over the VMs it raises), never more than
 * `room_bytes`. */
uint64_t policy_release_plan (const PolicyReleaseVm *vms, size_t n_vms, uint64_t room_bytes,
                              uint64_t *targets_bytes);
