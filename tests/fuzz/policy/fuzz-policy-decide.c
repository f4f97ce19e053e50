/* fuzz-policy-decide.c: libFuzzer target for policy_decide: a snapshot and a
 * config built field by field from the input, several ticks on one carry. */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void fuzz_invariant_log (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
#define POLICY_INVARIANT_LOG fuzz_invariant_log

#include "fuzz-bytes.h"
#include "policy-invariants.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Enough VMs for shares, budgets and held VMs to interact; more only slows
 * each run down. */
#define FUZZ_MAX_VMS 16
/* Ticks on one carry: hysteresis, rate limits and KSM states need a few. */
#define FUZZ_MAX_TICKS 8
/* Plausible magnitudes the edge values are mixed with. */
#define FUZZ_TYPICAL_RAM_BYTES (64 * POLICY_GIB)
#define FUZZ_TYPICAL_HOST_BYTES (512 * POLICY_GIB)

static void
fuzz_invariant_log (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

static PolicyStat
fuzz_stat (FuzzBytes *b, uint64_t typical)
{
  PolicyStat st = { .present = fuzz_bool (b) };
  st.value = fuzz_bytes_near (b, typical);
  return st;
}

static PolicySize
fuzz_size (FuzzBytes *b, uint64_t typical)
{
  PolicySize sz = { .set = fuzz_bool (b) };
  if (!sz.set)
    return sz;
  sz.is_pct = fuzz_bool (b);
  if (sz.is_pct)
    sz.pct = fuzz_double_near (b, 100.0);
  else
    sz.bytes = fuzz_bytes_near (b, typical);
  return sz;
}

static void
fuzz_vm_config (FuzzBytes *b, PolicyVmConfig *v, uint64_t ram)
{
  v->mode = (PolicyVmMode) fuzz_range (b, POLICY_VM_MODE_AUTO, POLICY_VM_MODE_OFF);
  v->min = fuzz_size (b, ram);
  v->max = fuzz_size (b, ram);
  v->target = fuzz_size (b, ram);
  v->headroom = fuzz_size (b, ram / 4);
  if (fuzz_bool (b))
    v->shares = (uint32_t) fuzz_range (b, 0, UINT32_MAX);
  if (fuzz_bool (b))
    v->cold_age_ms = fuzz_bytes_near (b, 600000);
  v->ksm = fuzz_bool (b);
  if (fuzz_bool (b))
    v->pressure_target_pct = fuzz_double_near (b, 5.0);
  if (fuzz_bool (b))
    v->refill_ms = fuzz_bytes_near (b, 60000);
  if (fuzz_bool (b))
    v->burst_hold_ms = fuzz_bytes_near (b, 240000);
  if (fuzz_bool (b))
    v->boot_grace_ms = fuzz_bytes_near (b, 60000);
}

static void
fuzz_ws (FuzzBytes *b, PolicyWs *ws, uint64_t total)
{
  ws->source = (PolicyWsSource) fuzz_range (b, POLICY_WS_NONE, POLICY_WS_BALLOON_WSR);
  ws->age_ms = fuzz_bytes_near (b, 2 * POLICY_WS_STALE_MS);
  /* A size_t from the caller: garbage is allowed. */
  ws->n_bins = fuzz_bool (b) ? (size_t) fuzz_u64 (b) : fuzz_range (b, 0, POLICY_WS_MAX_BINS);
  for (size_t i = 0; i < POLICY_WS_MAX_BINS; i++)
    ws->bins[i] = (PolicyWsBin){ .age_ms = fuzz_bytes_near (b, 600000),
                                 .anon_bytes = fuzz_bytes_near (b, total / 4),
                                 .file_bytes = fuzz_bytes_near (b, total / 4) };
}

static void
fuzz_vm (FuzzBytes *b, PolicyVm *vm, uint64_t id)
{
  uint64_t ram = fuzz_bool (b) ? fuzz_range (b, 1, 64) * 512 * POLICY_MIB
                               : fuzz_bytes_near (b, FUZZ_TYPICAL_RAM_BYTES);
  memset (vm, 0, sizeof *vm);
  /* Ids are unique in practice; a clash must still not break anything. */
  vm->id = fuzz_range (b, 0, 15) == 0 ? fuzz_range (b, 0, FUZZ_MAX_VMS) : id;
  vm->name = "fuzz";
  vm->state = (PolicyVmState) fuzz_range (b, POLICY_VM_STATE_RUNNING, POLICY_VM_STATE_STOPPING);
  policy_vm_config_defaults (&vm->cfg);
  if (fuzz_bool (b))
    fuzz_vm_config (b, &vm->cfg, ram);
  vm->ram_bytes = ram;
  vm->actual_bytes = fuzz_stat (b, ram);
  vm->last_target_bytes = fuzz_stat (b, ram);
  uint64_t total = vm->actual_bytes.present ? vm->actual_bytes.value : ram;
  vm->stats = (PolicyGuestStats){
    .total_bytes = fuzz_stat (b, total),
    .free_bytes = fuzz_stat (b, total),
    .available_bytes = fuzz_stat (b, total),
    .disk_caches_bytes = fuzz_stat (b, total),
    .major_faults = fuzz_stat (b, 1000),
    .minor_faults = fuzz_stat (b, 100000),
    .swap_in_bytes = fuzz_stat (b, 1000),
    .swap_out_bytes = fuzz_stat (b, 1000),
    .age_ms = fuzz_bytes_near (b, 2 * POLICY_STATS_STALE_MS),
  };
  if (fuzz_bool (b))
    fuzz_ws (b, &vm->ws, total);
  if (fuzz_bool (b))
    vm->agent = (PolicyGuestAgent){
      .present = fuzz_bool (b),
      .psi_some_avg10_pct = fuzz_double_near (b, 10.0),
      .psi_full_avg10_pct = fuzz_double_near (b, 10.0),
      .psi_some_total_us = fuzz_bytes_near (b, 1ull << 40),
      .refault_total_pages = fuzz_bytes_near (b, 1ull << 30),
      .unevictable_bytes = fuzz_bytes_near (b, total / 8),
      .oom_kills = fuzz_bytes_near (b, 3),
      .urgent = fuzz_bool (b),
      .can_reclaim = fuzz_bool (b),
      .age_ms = fuzz_bytes_near (b, 60000),
    };
  vm->pss_bytes = fuzz_stat (b, total);
  vm->ksm_merging_pages = fuzz_stat (b, total / 4096);
  vm->cgroup_kernel_bytes = fuzz_stat (b, 64 * POLICY_MIB);
  vm->kicks = (uint32_t) fuzz_range (b, 0, (1u << 9) - 1);
}

static void
fuzz_host (FuzzBytes *b, PolicySnapshot *s)
{
  uint64_t total = fuzz_bool (b) ? fuzz_range (b, 1, 512) * POLICY_GIB
                                 : fuzz_bytes_near (b, FUZZ_TYPICAL_HOST_BYTES);
  s->now_ms = fuzz_bytes_near (b, 1ull << 40);
  s->host = (PolicyHost){
    .mem_total_bytes = total,
    .mem_available_bytes = fuzz_bytes_near (b, total),
    .mem_free_bytes = fuzz_bytes_near (b, total),
    .swap_total_bytes = fuzz_bytes_near (b, total),
    .swap_free_bytes = fuzz_bytes_near (b, total),
    .psi_some_avg10_pct = fuzz_double_near (b, 20.0),
    .psi_full_avg10_pct = fuzz_double_near (b, 20.0),
    .psi_some_total_us = fuzz_bytes_near (b, 1ull << 40),
    .non_vm_used_bytes = fuzz_stat (b, total / 4),
  };
  s->ksm = (PolicyKsm){
    .present = fuzz_bool (b),
    .page_size_bytes = fuzz_bool (b) ? 4096 : fuzz_bytes_near (b, 65536),
    .pages_shared = fuzz_bytes_near (b, 1ull << 20),
    .pages_sharing = fuzz_bytes_near (b, 1ull << 22),
    .pages_unshared = fuzz_bytes_near (b, 1ull << 22),
    .pages_volatile = fuzz_bytes_near (b, 1ull << 20),
    .pages_scanned = fuzz_bytes_near (b, 1ull << 40),
    .full_scans = fuzz_bytes_near (b, 1000),
    .ksm_zero_pages = fuzz_bytes_near (b, 1ull << 20),
    .general_profit_bytes = (int64_t) fuzz_u64 (b),
    .run = (uint32_t) fuzz_range (b, 0, 2),
    .pages_to_scan = (uint32_t) fuzz_bytes_near (b, 5000),
    .sleep_millisecs = (uint32_t) fuzz_bytes_near (b, 200),
    .advisor_mode
    = (PolicyKsmAdvisor) fuzz_range (b, POLICY_KSM_ADVISOR_ABSENT, POLICY_KSM_ADVISOR_SCAN_TIME),
    .advisor_target_scan_time_s = (uint32_t) fuzz_bytes_near (b, 600),
    .advisor_max_cpu_pct = (uint32_t) fuzz_bytes_near (b, 100),
    .ksmd_cpu_ns = fuzz_stat (b, 1ull << 40),
  };
  s->host_kicks = (uint32_t) fuzz_range (b, 0, (1u << 9) - 1);
}

static void
fuzz_config (FuzzBytes *b, PolicyConfig *c, uint64_t host_total)
{
  policy_config_defaults (c);
  if (!fuzz_bool (b))
    return;
  c->tick_ms = fuzz_bytes_near (b, 10000);
  c->host_reserve = fuzz_size (b, host_total / 8);
  c->host_mode
      = (PolicyHostMode) fuzz_range (b, POLICY_HOST_MODE_BALANCED, POLICY_HOST_MODE_DENSITY);
  c->ksm_mode = (PolicyKsmMode) fuzz_range (b, POLICY_KSM_MODE_AUTO, POLICY_KSM_MODE_OFF);
  c->ksm_cpu_steady_pct = fuzz_double_near (b, 100.0);
  c->ksm_cpu_boost_pct = fuzz_double_near (b, 100.0);
  c->ksm_boost_scan_time_ms = fuzz_bytes_near (b, 120000);
  c->inflate_step = fuzz_size (b, POLICY_GIB);
  c->deadband = fuzz_size (b, 256 * POLICY_MIB);
  if (fuzz_bool (b))
    fuzz_vm_config (b, &c->vm_defaults, 4 * POLICY_GIB);
}

/* Between ticks the world moves as the controller would make it: issued
 * targets are remembered, balloons move toward them, counters grow. */
static void
fuzz_world_moves (FuzzBytes *b, PolicySnapshot *s, PolicyVm *vms, const PolicyDecision *d)
{
  /* Mostly forward; the clock going backwards must be survived too. */
  if (fuzz_range (b, 0, 15) == 0)
    s->now_ms -= fuzz_range (b, 0, 10000);
  else
    s->now_ms += fuzz_range (b, 0, 5000);
  s->host.psi_some_total_us += fuzz_range (b, 0, 100000);
  s->host.mem_available_bytes = fuzz_bytes_near (b, s->host.mem_total_bytes);
  s->ksm.pages_scanned += fuzz_range (b, 0, 100000);
  s->ksm.pages_sharing += fuzz_range (b, 0, 1000);
  s->ksm.full_scans += fuzz_range (b, 0, 1);
  s->ksm.ksmd_cpu_ns.value += fuzz_range (b, 0, 100000000);
  s->host_kicks = (uint32_t) fuzz_range (b, 0, (1u << 9) - 1);
  for (size_t i = 0; i < s->n_vms; i++)
    {
      PolicyVm *vm = &vms[i];
      const PolicyVmDecision *v = &d->vms[i];
      if (v->set_target)
        vm->last_target_bytes = (PolicyStat){ .present = true, .value = v->target_bytes };
      if (vm->actual_bytes.present && vm->last_target_bytes.present && fuzz_bool (b))
        vm->actual_bytes.value = vm->last_target_bytes.value; /* the balloon got there */
      else if (vm->actual_bytes.present)
        vm->actual_bytes.value += fuzz_range (b, 0, POLICY_GIB); /* deflate-on-oom */
      vm->agent.psi_some_total_us += fuzz_range (b, 0, 20000);
      vm->agent.refault_total_pages += fuzz_range (b, 0, 10000);
      vm->agent.urgent = fuzz_bool (b);
      vm->stats.total_bytes.value = vm->actual_bytes.value;
      vm->stats.available_bytes.value = fuzz_range (b, 0, vm->actual_bytes.value);
      vm->stats.age_ms = fuzz_range (b, 0, 2 * POLICY_STATS_STALE_MS);
      vm->kicks = (uint32_t) fuzz_range (b, 0, (1u << 9) - 1);
      if (vm->state == POLICY_VM_STATE_STARTING && fuzz_bool (b))
        vm->state = POLICY_VM_STATE_RUNNING;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzBytes b = { data, size };
  PolicySnapshot s = { 0 };
  PolicyConfig c;
  fuzz_host (&b, &s);
  fuzz_config (&b, &c, s.host.mem_total_bytes);
  size_t n = fuzz_range (&b, 0, FUZZ_MAX_VMS);
  /* Exactly as large as promised, so an overrun is caught by ASan. */
  PolicyVm *vms = g_new0 (PolicyVm, n > 0 ? n : 1);
  PolicyVmDecision *out = g_new0 (PolicyVmDecision, n > 0 ? n : 1);
  for (size_t i = 0; i < n; i++)
    fuzz_vm (&b, &vms[i], i);
  s.vms = vms;
  s.n_vms = n;
  unsigned ticks = (unsigned) fuzz_range (&b, 1, FUZZ_MAX_TICKS);
  PolicyCarry *carry = policy_carry_new ();
  for (unsigned t = 0; t < ticks; t++)
    {
      PolicyDecision d = { .vms = out };
      if (policy_decide (&s, &c, carry, &d) != 0)
        {
          fprintf (stderr, "policy_decide failed at tick %u\n", t);
          abort ();
        }
      if (!check_invariants (&s, &c, &d))
        {
          fprintf (stderr, "tick %u of %u broke an invariant\n", t, ticks);
          abort ();
        }
      fuzz_world_moves (&b, &s, vms, &d);
      /* A VM may disappear between ticks (the last one, keeping ids unique). */
      if (s.n_vms > 0 && fuzz_range (&b, 0, 7) == 0)
        s.n_vms--;
    }
  policy_carry_free (carry);
  g_free (vms);
  g_free (out);
  return 0;
}
