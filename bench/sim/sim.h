/* sim.h: ballast-sim, a fleet simulator that drives policy/ with a modelled host:
 * scenario (loaded from JSON), the host/guest/balloon/KSM model, and the run loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

typedef enum
{
  SIM_DEMAND_STEADY = 0, /* constant bytes */
  SIM_DEMAND_IDLE,       /* constant (default 0) bytes: nothing but the guest's cache */
  SIM_DEMAND_BURSTY,     /* base, and peak for burst_ms every period_ms (phase per VM) */
  SIM_DEMAND_SPIKE,      /* base, then base + bytes from at_ms (for dur_ms, 0 = forever) */
  SIM_DEMAND_POINTS,     /* [[t_s, bytes], ...], linear in between, held after the last */
} SimDemandKind;

typedef struct
{
  SimDemandKind kind;
  uint64_t bytes;     /* steady/idle level; spike: the extra bytes */
  uint64_t base;      /* bursty/spike: level outside the burst/before the spike */
  uint64_t peak;      /* bursty */
  uint64_t period_ms; /* bursty */
  uint64_t burst_ms;  /* bursty: time at peak */
  uint64_t ramp_ms;   /* bursty: linear ramp up to the peak (0: a step) */
  bool phase_set;     /* bursty: phase given (else random per VM from the seed) */
  uint64_t phase_ms;
  uint64_t phase_step_ms; /* bursty: added per VM of a group when the phase is given */
  uint64_t at_ms;         /* spike */
  uint64_t dur_ms;        /* spike */
  size_t n_points;        /* points */
  uint64_t *pt_ms;
  uint64_t *pt_bytes;
} SimDemand;

/* One VM, or a group of `count` identical VMs (name-0, name-1, ...). */
typedef struct
{
  char *name;
  uint32_t count;
  bool fit; /* the group --fit grows */
  uint64_t ram_bytes;
  PolicyVmConfig cfg;
  SimDemand demand;
  uint64_t cache_bytes; /* page cache the guest fills when it has room (cold) */
  double ksm_fraction;  /* share of its resident memory KSM can eventually free */
  bool has_start;       /* starts at start_ms with a kick (else runs from t = 0) */
  uint64_t start_ms;
  bool has_stop;
  uint64_t stop_ms;
  uint64_t boot_ms; /* after a start: no stats/agent for this long */
  bool deflate_on_oom;
  bool agent;               /* in-guest agent: working set, PSI, urgent messages */
  bool agent_reclaim;       /* the agent takes reclaim requests (memory.reclaim) */
  uint64_t stats_period_ms; /* guest stats polling */
  uint64_t agent_period_ms; /* agent reports */
  bool has_initial_actual;
  uint64_t initial_actual_bytes;
} SimVmSpec;

typedef struct
{
  uint64_t duration_ms;
  uint64_t tick_ms;
  uint64_t seed;
  /* host */
  uint64_t ram_bytes;
  uint64_t non_vm_bytes;          /* host memory used by everything but the guests */
  uint64_t vm_overhead_bytes;     /* per running VM (QEMU itself) */
  uint64_t balloon_rate_bps;      /* balloon speed, both ways, bytes per second */
  uint64_t doo_rate_bps;          /* deflate-on-oom's speed */
  uint64_t doo_rate_fpr_bps;      /* the same with free page reporting (refaults) */
  uint64_t oom_grace_ms;          /* a guest stalled this long in a row is OOM-killed */
  uint64_t guest_keep_free_bytes; /* an inflating balloon leaves the guest this much free */
  bool free_page_reporting;       /* guests return freed pages to the host */
  uint64_t fpr_half_life_ms;      /* free page reporting: freed memory's half-life */
  bool ksm_present;
  uint32_t ksm_run, ksm_pages_to_scan, ksm_sleep_ms; /* initial knobs */
  double ksm_ns_per_page;                            /* ksmd CPU per scanned page */
  PolicyConfig config; /* the policy's host config (reserve, mode, ...) */
  size_t n_specs;
  SimVmSpec *specs;
} SimScenario;

/* Loads a scenario from JSON text / a file. NULL with a malloc'd *error
 * naming the offending field on failure. */
SimScenario *sim_scenario_load_string (const char *text, char **error);
SimScenario *sim_scenario_load_file (const char *path, char **error);
void sim_scenario_free (SimScenario *sc);
/* The spec --fit grows: the first group marked "fit", else the first group. */
SimVmSpec *sim_scenario_fit_spec (SimScenario *sc);

typedef struct
{
  const char *policy; /* ballast | mom | proxmox | none */
  const char
      *ksm_policy; /* ballast | mom | ksmtuned | kata | none | NULL (the balloon policy's own) */
  FILE *ticks;     /* JSON line per tick, or NULL */
  uint32_t ticks_every; /* write every n-th tick (>= 1) */
} SimOptions;

typedef struct
{
  char *name;
  uint64_t stall_ms;
  uint64_t oom_kills;
  uint64_t alive_ms;
  /* spike demands: the reaction (times from the spike, -1 when it never happened) */
  int64_t spike_visible_ms;           /* the snapshot first shows the demand */
  int64_t spike_raise_ms;             /* the first raised target */
  int64_t spike_met_ms;               /* actual first covers the demand */
  uint32_t spike_raises;              /* targets raised until the demand was met */
  uint64_t spike_target_before_bytes; /* the target in force when the spike began */
  uint64_t spike_first_raise_bytes;   /* size of the first raise */
  uint64_t spike_stall_ms;
} SimVmResult;

typedef struct
{
  uint64_t ticks;
  uint64_t oom_kills;      /* guest + host */
  uint64_t host_oom_kills; /* of those, guests the host could not back */
  uint64_t stall_ms;
  uint64_t vm_ms;   /* Σ VM lifetime */
  double stall_pct; /* stall_ms / vm_ms × 100 */
  double mean_host_used_bytes;
  uint64_t peak_host_used_bytes;
  double mean_sum_actual_bytes;
  double mean_sum_resident_bytes;
  double ksm_cpu_s;
  double ksm_cpu_pct;       /* ksm_cpu_s over the simulated time, % of one core */
  uint64_t ksm_saved_bytes; /* at the end */
  double mean_ksm_saved_bytes;
  uint64_t targets_issued;
  /* VM-ticks a running, booted VM went into the policy's snapshot without its
   * guest stats (or, with an agent, without its working set) */
  uint64_t blind_vm_ticks;
  /* The host reserve (config host.reserve against MemTotal) and how the host
   * kept it: the least free memory at the end of a tick, and the simulated
   * time spent below the reserve. */
  uint64_t reserve_bytes;
  uint64_t min_host_free_bytes;
  uint64_t reserve_breach_ms;
  uint64_t sim_ms; /* simulated time */
  double wall_s;   /* filled by the caller if wanted */
  size_t n_vms;
  SimVmResult *vms;
} SimResult;

/* Runs a scenario. Returns 0, or -1 with a malloc'd *error (unknown policy,
 * policy failure). `res` is filled (free with sim_result_clear). */
int sim_run (const SimScenario *sc, const SimOptions *opt, SimResult *res, char **error);
void sim_result_clear (SimResult *res);
/* The fit criterion (--fit, B5): no guest OOM kill, total stall under
 * `stall_pct` % of VM time, and the host never below its reserve. */
bool sim_result_fits (const SimResult *res, double stall_pct);
/* Writes the summary as one JSON object (per-VM arrays included if per_vm). */
void sim_result_write (const SimResult *res, const SimOptions *opt, bool per_vm, FILE *f);

/* Demand of a VM at time t (exposed for tests). `phase_ms` is the VM's phase,
 * `cursor` a per-VM search hint for points (may be NULL). */
uint64_t sim_demand_at (const SimDemand *d, uint64_t phase_ms, uint64_t t_ms, size_t *cursor);

/* Sets *error (if error is not NULL and not yet set) to a formatted message. */
void sim_set_error (char **error, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
