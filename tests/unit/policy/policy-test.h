/* policy-test.h: builders shared by the policy tests: a host, a running VM
 * with fresh stats, and a decision with room for the VMs. */
#pragma once

#include <glib.h>
#include <string.h>

#include "defaults.h"
#include "policy.h"

#define MIB POLICY_MIB
#define GIB POLICY_GIB

static inline PolicyStat
stat_of (uint64_t v)
{
  return (PolicyStat){ .present = true, .value = v };
}

/* A host with `total` bytes, `avail` available, nothing outside VMs, KSM present and idle. */
static inline PolicySnapshot
snap_host (uint64_t now_ms, uint64_t total, uint64_t avail, const PolicyVm *vms, size_t n)
{
  return (PolicySnapshot){
    .now_ms = now_ms,
    .host = { .mem_total_bytes = total,
              .mem_available_bytes = avail,
              .mem_free_bytes = avail,
              .non_vm_used_bytes = stat_of (0) },
    .ksm
    = { .present = true, .page_size_bytes = 4096, .sleep_millisecs = 20, .pages_to_scan = 100 },
    .n_vms = n,
    .vms = vms,
  };
}

/* A running auto VM of `ram` bytes at `actual`, whose guest uses `used`
 * (stats: total = actual, available = actual - used), reported just now. */
static inline PolicyVm
vm_stats (uint64_t id, uint64_t ram, uint64_t actual, uint64_t used)
{
  PolicyVm vm = {
    .id = id,
    .name = "vm",
    .state = POLICY_VM_STATE_RUNNING,
    .ram_bytes = ram,
    .actual_bytes = stat_of (actual),
    .stats = { .total_bytes = stat_of (actual),
               .available_bytes = stat_of (actual > used ? actual - used : 0),
               .free_bytes = stat_of (actual > used ? actual - used : 0),
               .age_ms = 1000 },
  };
  policy_vm_config_defaults (&vm.cfg);
  return vm;
}

/* Runs policy_decide on a fresh decision buffer (owned by the caller: g_free out->vms). */
static inline int
run_decide (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *carry, PolicyDecision *out)
{
  memset (out, 0, sizeof *out);
  out->vms = g_new0 (PolicyVmDecision, s->n_vms > 0 ? s->n_vms : 1);
  return policy_decide (s, c, carry, out);
}
