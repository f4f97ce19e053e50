/* ref.h: helpers shared by the reference policies (ref-*.c), private to policy/.
 * Re-implementations of published algorithms (oVirt MoM, Proxmox, ksmtuned, Kata). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "carry.h"
#include "policy.h"

/* Host-wide carry slots (PolicyCarry.ref_u64) the reference policies use. A
 * carry belongs to one policy, so the slots never collide. */
enum
{
  REF_SLOT_LAST_RUN_MS = 0, /* 1 + now_ms of the last evaluation (0: never ran) */
  REF_SLOT_KATA_PHASE,      /* RefKataPhase */
  REF_SLOT_KATA_PHASE_MS,   /* when the current phase began */
  REF_SLOT_KATA_SAVED,      /* 1 when the values below hold what to restore */
  REF_SLOT_KATA_RUN,
  REF_SLOT_KATA_PAGES,
  REF_SLOT_KATA_SLEEP,
};

/* Kicks after which the KSM reference policies (Kata) throttle ksmd up. */
#define REF_KSM_KICKS                                                                              \
  (POLICY_KICK_CREATING | POLICY_KICK_CREATED | POLICY_KICK_STARTED | POLICY_KICK_MIGRATED         \
   | POLICY_KICK_MEM_HOTPLUG | POLICY_KICK_RESUMED | POLICY_KICK_OPERATOR)

/* Fills `out` with a "do nothing" decision: every VM keeps the target in
 * force (last target, else actual, else RAM) without a command, KSM keeps its
 * knobs. Reference policies start from this and change what they decide. */
void ref_decision_hold (const PolicySnapshot *s, PolicyDecision *out, const char *reason);

/* True when a policy that evaluates every `interval_ms` is due at s->now_ms
 * (always on the first call; again when the clock went backwards); records
 * the run in the carry when due. */
bool ref_due (PolicyCarry *carry, uint64_t now_ms, uint64_t interval_ms);

/* The target in force for a VM: last target, else actual, else RAM. */
uint64_t ref_vm_current (const PolicyVm *vm);

/* True when the VM is steered by a reference policy: mode auto, running,
 * balloon actual known, not being destroyed. */
bool ref_vm_steerable (const PolicyVm *vm);

/* Records a new target for VM decision `d` (clamped to [min, max]); issues a
 * command when it differs from the target in force. */
void ref_vm_set (const PolicyVm *vm, PolicyVmDecision *d, uint64_t target_bytes,
                 const char *reason);

/* Recomputes the decision's sums (targets, needs) after the VMs were decided. */
void ref_decision_sums (PolicyDecision *out);

/* ksmtuned's adjust step, shared by `ksmtuned` (every 60 s) and MoM's
 * ksm.rules (every 10 s). Writes out->ksm. */
/* What the live VMs occupy on the host: each QEMU's PSS, else its balloon
 * size, else its RAM (ksmtuned sums resident sizes; Kata counts anon pages). */
uint64_t ref_vms_host_bytes (const PolicySnapshot *s);
void ref_ksmtuned_step (const PolicySnapshot *s, PolicyDecision *out, const char *who);

/* ksmd sleep between batches: 10 ms × 16 GiB / MemTotal, at least 10 ms. */
uint32_t ref_ksmtuned_sleep_ms (uint64_t mem_total_bytes);

/* Published constants (docs/simulator.md, "Reference policies: choices where the
 * published facts stop"). */
#define REF_KSM_NPAGES_BOOST 300u
#define REF_KSM_NPAGES_DECAY 50u
#define REF_KSM_NPAGES_MIN 64u
#define REF_KSM_NPAGES_MAX 1250u
#define REF_KSM_THRES_PCT 20u
/* ksmtuned's KSM_THRES_CONST: the threshold is never below 2 GiB. */
#define REF_KSM_THRES_CONST_BYTES (2ull * POLICY_GIB)
#define REF_KSM_SLEEP_BASE_MS 10u
#define REF_KSM_SLEEP_REF_BYTES (16ull * POLICY_GIB)
