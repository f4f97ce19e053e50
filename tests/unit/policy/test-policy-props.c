/* test-policy-props.c: every invariant of docs/policy.md on random snapshots
 * (extreme values, absent stats, 0 and 10,000 VMs) and random tick sequences.
 * BALLAST_POLICY_SEED and BALLAST_POLICY_CASES override the seed and count. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy-invariants.h"
#include "policy-test.h"

#define DEFAULT_SEED 20240611ull
#define DEFAULT_CASES 10000u

static uint64_t
rng_next (uint64_t *st)
{
  /* splitmix64: tiny, good enough, identical everywhere */
  uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t
rng_below (uint64_t *st, uint64_t n)
{
  return n == 0 ? 0 : rng_next (st) % n;
}

static bool
rng_chance (uint64_t *st, unsigned pct)
{
  return rng_below (st, 100) < pct;
}

/* A byte quantity: mostly plausible, often an edge. */
static uint64_t
rng_bytes (uint64_t *st, uint64_t typical)
{
  switch (rng_below (st, 12))
    {
      case 0:
        return 0;
      case 1:
        return 1;
      case 2:
        return UINT64_MAX;
      case 3:
        return UINT64_MAX - rng_below (st, 4096);
      case 4:
        return 1ull << (rng_below (st, 64));
      case 5:
        return rng_next (st);
      default:
        return typical > 0 ? rng_below (st, typical + 1) : 0;
    }
}

static double
rng_double (uint64_t *st, double typical)
{
  switch (rng_below (st, 12))
    {
      case 0:
        return NAN;
      case 1:
        return INFINITY;
      case 2:
        return -INFINITY;
      case 3:
        return -1.0;
      case 4:
        return 1e300;
      case 5:
        return 0.0;
      default:
        return typical * (double) rng_below (st, 1001) / 1000.0;
    }
}

static PolicyStat
rng_stat (uint64_t *st, uint64_t typical)
{
  return (PolicyStat){ .present = !rng_chance (st, 15), .value = rng_bytes (st, typical) };
}

static PolicySize
rng_size (uint64_t *st, uint64_t typical)
{
  PolicySize s = { .set = rng_chance (st, 40) };
  if (!s.set)
    return s;
  s.is_pct = rng_chance (st, 40);
  if (s.is_pct)
    s.pct = rng_chance (st, 10) ? rng_double (st, 100.0) : (double) rng_below (st, 101);
  else
    s.bytes = rng_bytes (st, typical);
  return s;
}

static uint64_t
rng_age (uint64_t *st)
{
  static const uint64_t ages[]
      = { 0, 1000, POLICY_WS_STALE_MS, POLICY_WS_STALE_MS + 1, UINT64_MAX };
  return ages[rng_below (st, G_N_ELEMENTS (ages))];
}

static void
rng_vm (uint64_t *st, PolicyVm *vm, uint64_t id)
{
  uint64_t ram
      = rng_chance (st, 80) ? (1 + rng_below (st, 32)) * 512 * MIB : rng_bytes (st, 64 * GIB);
  memset (vm, 0, sizeof *vm);
  vm->id = rng_chance (st, 95) ? id : rng_next (st);
  vm->name = "r";
  vm->state = rng_chance (st, 70) ? POLICY_VM_STATE_RUNNING : (PolicyVmState) rng_below (st, 4);
  policy_vm_config_defaults (&vm->cfg);
  vm->cfg.mode = rng_chance (st, 70) ? POLICY_VM_MODE_AUTO : (PolicyVmMode) rng_below (st, 4);
  vm->cfg.min = rng_size (st, ram);
  vm->cfg.max = rng_size (st, ram);
  vm->cfg.target = rng_size (st, ram);
  vm->cfg.headroom = rng_size (st, ram / 4);
  if (rng_chance (st, 20))
    {
      static const uint32_t shares[] = { 0, 1, 1000, 65535, UINT32_MAX };
      vm->cfg.shares = shares[rng_below (st, G_N_ELEMENTS (shares))];
    }
  if (rng_chance (st, 15))
    vm->cfg.cold_age_ms = rng_bytes (st, 600000);
  vm->cfg.ksm = rng_chance (st, 80);
  if (rng_chance (st, 15))
    vm->cfg.pressure_target_pct = rng_double (st, 5.0);
  vm->ram_bytes = ram;
  vm->actual_bytes = rng_stat (st, ram);
  vm->balloon_deflate_on_oom = rng_chance (st, 30);
  vm->balloon_free_page_reporting = rng_chance (st, 50);
  if (rng_chance (st, 60) && vm->actual_bytes.present)
    vm->actual_bytes.value = ram / (1 + rng_below (st, 4));
  vm->last_target_bytes = rng_stat (st, ram);
  if (rng_chance (st, 30))
    vm->last_target_bytes.present = false;
  uint64_t total = vm->actual_bytes.present ? vm->actual_bytes.value : ram;
  vm->stats = (PolicyGuestStats){
    .total_bytes = rng_stat (st, total),
    .free_bytes = rng_stat (st, total),
    .available_bytes = rng_stat (st, total),
    .disk_caches_bytes = rng_stat (st, total),
    .major_faults = rng_stat (st, 1000),
    .minor_faults = rng_stat (st, 100000),
    .swap_in_bytes = rng_stat (st, 1000),
    .swap_out_bytes = rng_stat (st, 1000),
    .age_ms = rng_age (st),
  };
  if (rng_chance (st, 50))
    {
      vm->stats.total_bytes = (PolicyStat){ true, total };
      vm->stats.available_bytes = (PolicyStat){ true, rng_below (st, total + 1) };
      vm->stats.age_ms = rng_below (st, 5000);
    }
  if (rng_chance (st, 50))
    {
      vm->ws.source = (PolicyWsSource) rng_below (st, 4);
      vm->ws.age_ms = rng_age (st);
      /* n_bins is a size_t from the caller: may be garbage */
      vm->ws.n_bins
          = rng_chance (st, 5) ? (size_t) rng_next (st) : rng_below (st, POLICY_WS_MAX_BINS + 1);
      uint64_t age = 0;
      for (size_t b = 0; b < POLICY_WS_MAX_BINS; b++)
        {
          age = rng_chance (st, 10) ? rng_bytes (st, 600000) : age + 1 + rng_below (st, 100000);
          vm->ws.bins[b] = (PolicyWsBin){ .age_ms = age,
                                          .anon_bytes = rng_bytes (st, total / 4),
                                          .file_bytes = rng_bytes (st, total / 4) };
        }
      if (rng_chance (st, 50) && vm->ws.n_bins > 0 && vm->ws.n_bins <= POLICY_WS_MAX_BINS)
        vm->ws.bins[vm->ws.n_bins - 1].age_ms = 0;
    }
  if (rng_chance (st, 50))
    vm->agent = (PolicyGuestAgent){
      .present = rng_chance (st, 90),
      .psi_some_avg10_pct = rng_double (st, 10.0),
      .psi_full_avg10_pct = rng_double (st, 10.0),
      .psi_some_total_us = rng_bytes (st, 1ull << 40),
      .refault_total_pages = rng_bytes (st, 1ull << 30),
      .unevictable_bytes = rng_bytes (st, total / 8),
      .oom_kills = rng_bytes (st, 3),
      .urgent = rng_chance (st, 10),
      .age_ms = rng_age (st),
    };
  vm->pss_bytes = rng_stat (st, total);
  vm->ksm_merging_pages = rng_stat (st, total / 4096);
  vm->cgroup_kernel_bytes = rng_stat (st, 64 * MIB);
  if (rng_chance (st, 15))
    vm->kicks = (uint32_t) rng_below (st, 1u << 9);
}

static void
rng_host (uint64_t *st, PolicySnapshot *s, PolicyConfig *c)
{
  uint64_t total
      = rng_chance (st, 80) ? (1 + rng_below (st, 512)) * GIB : rng_bytes (st, 1ull << 42);
  s->now_ms = rng_chance (st, 90) ? rng_below (st, 1ull << 40) : rng_bytes (st, 1ull << 40);
  s->host = (PolicyHost){
    .mem_total_bytes = total,
    .mem_available_bytes = rng_bytes (st, total),
    .mem_free_bytes = rng_bytes (st, total),
    .swap_total_bytes = rng_bytes (st, total),
    .swap_free_bytes = rng_bytes (st, total),
    .psi_some_avg10_pct = rng_double (st, 20.0),
    .psi_full_avg10_pct = rng_double (st, 20.0),
    .psi_some_total_us = rng_bytes (st, 1ull << 40),
    .non_vm_used_bytes = rng_stat (st, total / 4),
  };
  static const uint64_t page_sizes[] = { 0, 4096, 65536, 1, UINT64_MAX };
  s->ksm = (PolicyKsm){
    .present = rng_chance (st, 85),
    .page_size_bytes
    = rng_chance (st, 80) ? 4096 : page_sizes[rng_below (st, G_N_ELEMENTS (page_sizes))],
    .pages_shared = rng_bytes (st, 1ull << 20),
    .pages_sharing = rng_bytes (st, 1ull << 22),
    .pages_unshared = rng_bytes (st, 1ull << 22),
    .pages_volatile = rng_bytes (st, 1ull << 20),
    .pages_scanned = rng_bytes (st, 1ull << 40),
    .full_scans = rng_bytes (st, 1000),
    .ksm_zero_pages = rng_bytes (st, 1ull << 20),
    .general_profit_bytes = (int64_t) rng_next (st),
    .run = (uint32_t) rng_below (st, 3),
    .pages_to_scan = (uint32_t) rng_bytes (st, 5000),
    .sleep_millisecs = (uint32_t) rng_bytes (st, 200),
    .advisor_mode = (PolicyKsmAdvisor) rng_below (st, 3),
    .advisor_target_scan_time_s = (uint32_t) rng_bytes (st, 600),
    .advisor_max_cpu_pct = (uint32_t) rng_bytes (st, 100),
    .ksmd_cpu_ns = rng_stat (st, 1ull << 40),
  };
  s->host_kicks = rng_chance (st, 10) ? (uint32_t) rng_below (st, 1u << 9) : 0;
  policy_config_defaults (c);
  if (rng_chance (st, 30))
    {
      c->tick_ms = rng_bytes (st, 10000);
      c->host_reserve = rng_size (st, total / 8);
      c->host_mode = (PolicyHostMode) rng_below (st, 2);
      c->ksm_mode = (PolicyKsmMode) rng_below (st, 3);
      c->ksm_cpu_steady_pct = rng_double (st, 100.0);
      c->ksm_cpu_boost_pct = rng_double (st, 100.0);
      c->ksm_boost_scan_time_ms = rng_bytes (st, 120000);
      c->inflate_step = rng_size (st, 1 * GIB);
      c->deadband = rng_size (st, 256 * MIB);
    }
}

/* Runs the policy twice on fresh carries: bit-identical decisions. */
static bool
decide_twice (const PolicySnapshot *s, const PolicyConfig *c, PolicyCarry *c1, PolicyCarry *c2,
              PolicyDecision *d1, PolicyDecision *d2)
{
  size_t n = s->n_vms > 0 ? s->n_vms : 1;
  PolicyVmDecision *v1 = d1->vms, *v2 = d2->vms;
  memset (d1, 0, sizeof *d1);
  memset (d2, 0, sizeof *d2);
  memset (v1, 0, n * sizeof *v1);
  memset (v2, 0, n * sizeof *v2);
  d1->vms = v1;
  d2->vms = v2;
  CHECK (policy_decide (s, c, c1, d1) == 0, "policy_decide failed");
  CHECK (policy_decide (s, c, c2, d2) == 0, "policy_decide failed (second run)");
  CHECK (memcmp (v1, v2, n * sizeof *v1) == 0, "VM decisions differ between two runs");
  d2->vms = v1;
  CHECK (memcmp (d1, d2, sizeof *d1) == 0, "decisions differ between two runs");
  d2->vms = v2;
  return true;
}

static uint64_t
env_u64 (const char *name, uint64_t fallback)
{
  const char *v = g_getenv (name);
  return v != NULL && *v ? g_ascii_strtoull (v, NULL, 0) : fallback;
}

static void
test_random_snapshots (void)
{
  uint64_t seed = env_u64 ("BALLAST_POLICY_SEED", DEFAULT_SEED);
  uint64_t cases = env_u64 ("BALLAST_POLICY_CASES", DEFAULT_CASES);
  g_test_message ("random snapshots: seed %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " cases "
                  "(BALLAST_POLICY_SEED / BALLAST_POLICY_CASES to override)",
                  seed, cases);
  printf ("# seed %" G_GUINT64_FORMAT " cases %" G_GUINT64_FORMAT "\n", seed, cases);
  enum
  {
    MAX_VMS = 24
  };
  PolicyVm vms[MAX_VMS];
  PolicyVmDecision v1[MAX_VMS], v2[MAX_VMS];
  PolicyDecision d1 = { .vms = v1 }, d2 = { .vms = v2 };
  for (uint64_t i = 0; i < cases; i++)
    {
      uint64_t st = seed ^ (i * 0x9e3779b97f4a7c15ull);
      PolicySnapshot s = { 0 };
      PolicyConfig c;
      rng_host (&st, &s, &c);
      size_t n = rng_chance (&st, 10) ? 0 : 1 + rng_below (&st, MAX_VMS);
      for (size_t k = 0; k < n; k++)
        rng_vm (&st, &vms[k], k);
      s.vms = vms;
      s.n_vms = n;
      PolicyCarry *c1 = policy_carry_new (), *c2 = policy_carry_new ();
      bool ok = decide_twice (&s, &c, c1, c2, &d1, &d2) && check_invariants (&s, &c, &d1);
      policy_carry_free (c1);
      policy_carry_free (c2);
      if (!ok)
        g_error ("random snapshot %" G_GUINT64_FORMAT " of seed %" G_GUINT64_FORMAT
                 " broke an invariant "
                 "(rerun: BALLAST_POLICY_SEED=%" G_GUINT64_FORMAT ")",
                 i, seed, seed);
    }
}

/* Tick sequences with a carry: balloons follow targets, counters grow, VMs
 * come and go, kicks arrive; invariants hold at every tick, and two carries
 * fed the same sequence decide identically. */
static void
test_random_sequences (void)
{
  uint64_t seed = env_u64 ("BALLAST_POLICY_SEED", DEFAULT_SEED) + 1;
  uint64_t sequences = env_u64 ("BALLAST_POLICY_CASES", DEFAULT_CASES) / 20;
  printf ("# sequences: seed %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " x 40 ticks\n", seed,
          sequences);
  enum
  {
    MAX_VMS = 12,
    TICKS = 40
  };
  PolicyVm vms[MAX_VMS];
  PolicyVmDecision v1[MAX_VMS], v2[MAX_VMS];
  PolicyDecision d1 = { .vms = v1 }, d2 = { .vms = v2 };
  for (uint64_t q = 0; q < sequences; q++)
    {
      uint64_t st = seed ^ (q * 0x9e3779b97f4a7c15ull);
      PolicySnapshot s = { 0 };
      PolicyConfig c;
      rng_host (&st, &s, &c);
      size_t n = rng_below (&st, MAX_VMS + 1);
      for (size_t k = 0; k < n; k++)
        rng_vm (&st, &vms[k], k);
      uint64_t next_id = n;
      PolicyCarry *c1 = policy_carry_new (), *c2 = policy_carry_new ();
      for (int t = 0; t < TICKS; t++)
        {
          s.vms = vms;
          s.n_vms = n;
          if (!decide_twice (&s, &c, c1, c2, &d1, &d2) || !check_invariants (&s, &c, &d1))
            g_error ("sequence %" G_GUINT64_FORMAT " tick %d of seed %" G_GUINT64_FORMAT
                     " broke an invariant",
                     q, t, seed - 1);
          /* The world moves. */
          s.now_ms += 1 + rng_below (&st, 2000);
          s.host.psi_some_total_us += rng_below (&st, 50000);
          s.ksm.pages_scanned += rng_below (&st, 100000);
          s.ksm.pages_sharing += rng_below (&st, 1000);
          s.ksm.full_scans += rng_chance (&st, 20);
          s.ksm.ksmd_cpu_ns.value += rng_below (&st, 100000000);
          s.host_kicks = rng_chance (&st, 5) ? POLICY_KICK_DESTROYED : 0;
          for (size_t k = 0; k < n; k++)
            {
              PolicyVm *vm = &vms[k];
              const PolicyVmDecision *v = &v1[k];
              if (v->set_target)
                vm->last_target_bytes = stat_of (v->target_bytes);
              if (vm->actual_bytes.present && vm->last_target_bytes.present && rng_chance (&st, 70))
                {
                  uint64_t a = vm->actual_bytes.value, tgt = vm->last_target_bytes.value;
                  uint64_t move = rng_below (&st, 512 * MIB);
                  vm->actual_bytes.value = a < tgt ? (tgt - a < move ? tgt : a + move)
                                                   : (a - tgt < move ? tgt : a - move);
                }
              if (rng_chance (&st, 3) && vm->actual_bytes.present)
                vm->actual_bytes.value
                    += rng_below (&st, 1 * GIB); /* guest pulls (deflate-on-oom) */
              vm->agent.psi_some_total_us += rng_below (&st, 20000);
              vm->agent.refault_total_pages += rng_below (&st, 10000);
              vm->agent.urgent = rng_chance (&st, 5);
              if (vm->stats.available_bytes.present && vm->stats.total_bytes.present)
                {
                  vm->stats.total_bytes.value = vm->actual_bytes.value;
                  vm->stats.available_bytes.value = rng_below (&st, vm->actual_bytes.value + 1);
                }
              vm->kicks = rng_chance (&st, 5) ? (uint32_t) rng_below (&st, 1u << 9) : 0;
              if (vm->state == POLICY_VM_STATE_STARTING && rng_chance (&st, 30))
                vm->state = POLICY_VM_STATE_RUNNING;
            }
          if (n > 0 && rng_chance (&st, 10))
            {
              size_t gone = rng_below (&st, n); /* a VM disappears */
              vms[gone] = vms[n - 1];
              n--;
            }
          if (n < MAX_VMS && rng_chance (&st, 10))
            rng_vm (&st, &vms[n++], next_id++); /* one appears */
        }
      policy_carry_free (c1);
      policy_carry_free (c2);
    }
}

/* 10,000 VMs: random ones, and a uniform fleet at 2^64-1 everywhere. */
static void
test_ten_thousand (void)
{
  enum
  {
    N = 10000
  };
  uint64_t seed = env_u64 ("BALLAST_POLICY_SEED", DEFAULT_SEED) + 2;
  PolicyVm *vms = g_new0 (PolicyVm, N);
  PolicyDecision d1 = { .vms = g_new0 (PolicyVmDecision, N) },
                 d2 = { .vms = g_new0 (PolicyVmDecision, N) };
  for (int round = 0; round < 4; round++)
    {
      uint64_t st = seed ^ (uint64_t) round;
      PolicySnapshot s = { 0 };
      PolicyConfig c;
      rng_host (&st, &s, &c);
      for (size_t k = 0; k < N; k++)
        {
          if (round == 3)
            {
              /* Everything huge. */
              vms[k] = vm_stats (k, UINT64_MAX, UINT64_MAX, UINT64_MAX);
              vms[k].last_target_bytes = stat_of (UINT64_MAX);
              vms[k].pss_bytes = stat_of (UINT64_MAX);
              vms[k].ksm_merging_pages = stat_of (UINT64_MAX);
              vms[k].cfg.shares = UINT32_MAX;
            }
          else if (round == 2)
            vms[k]
                = vm_stats (k, 4 * GIB, 4 * GIB, rng_below (&st, 4 * GIB)); /* a plausible fleet */
          else
            rng_vm (&st, &vms[k], k);
        }
      if (round >= 2)
        {
          s.host.mem_total_bytes = round == 3 ? UINT64_MAX : 16384 * GIB;
          s.host.mem_available_bytes = s.host.mem_total_bytes / 2;
        }
      s.vms = vms;
      s.n_vms = N;
      PolicyCarry *c1 = policy_carry_new (), *c2 = policy_carry_new ();
      gint64 t0 = g_get_monotonic_time ();
      bool ok = decide_twice (&s, &c, c1, c2, &d1, &d2);
      gint64 t1 = g_get_monotonic_time ();
      ok = ok && check_invariants (&s, &c, &d1);
      printf ("# 10,000 VMs round %d: %.1f ms per decision\n", round, (double) (t1 - t0) / 2000.0);
      /* A few more ticks on the same carry. */
      for (int t = 0; ok && t < 3; t++)
        {
          s.now_ms += 1000;
          ok = decide_twice (&s, &c, c1, c2, &d1, &d2) && check_invariants (&s, &c, &d1);
        }
      policy_carry_free (c1);
      policy_carry_free (c2);
      if (!ok)
        g_error ("10,000-VM round %d broke an invariant", round);
    }
  g_free (vms);
  g_free (d1.vms);
  g_free (d2.vms);
}

/* Zero VMs, zero RAM, an all-zero snapshot and an all-ones one. */
static void
test_edges (void)
{
  PolicyConfig c;
  policy_config_defaults (&c);
  PolicyVmDecision v1[2], v2[2];
  PolicyDecision d1 = { .vms = v1 }, d2 = { .vms = v2 };
  PolicySnapshot s = { 0 };
  PolicyCarry *c1 = policy_carry_new (), *c2 = policy_carry_new ();
  g_assert_true (decide_twice (&s, &c, c1, c2, &d1, &d2) && check_invariants (&s, &c, &d1));
  PolicyVm vms[2];
  memset (vms, 0, sizeof vms);
  s.vms = vms;
  s.n_vms = 2;
  g_assert_true (decide_twice (&s, &c, c1, c2, &d1, &d2) && check_invariants (&s, &c, &d1));
  /* Every number at its largest (bools stay valid bools). */
  for (int k = 0; k < 2; k++)
    {
      vms[k] = vm_stats ((uint64_t) k, UINT64_MAX, UINT64_MAX, 0);
      vms[k].last_target_bytes = stat_of (UINT64_MAX);
      vms[k].cfg.min = vms[k].cfg.max = vms[k].cfg.headroom
          = (PolicySize){ .set = true, .bytes = UINT64_MAX };
      vms[k].cfg.cold_age_ms = UINT64_MAX;
      vms[k].cfg.shares = UINT32_MAX;
      vms[k].cfg.pressure_target_pct = NAN;
      vms[k].ws = (PolicyWs){ .source = POLICY_WS_AGENT, .n_bins = SIZE_MAX };
      for (int b = 0; b < POLICY_WS_MAX_BINS; b++)
        vms[k].ws.bins[b] = (PolicyWsBin){ UINT64_MAX, UINT64_MAX, UINT64_MAX };
      vms[k].agent = (PolicyGuestAgent){ .present = true,
                                         .psi_some_avg10_pct = INFINITY,
                                         .psi_some_total_us = UINT64_MAX,
                                         .refault_total_pages = UINT64_MAX,
                                         .unevictable_bytes = UINT64_MAX,
                                         .oom_kills = UINT64_MAX };
      vms[k].pss_bytes = vms[k].ksm_merging_pages = vms[k].cgroup_kernel_bytes
          = stat_of (UINT64_MAX);
      vms[k].kicks = UINT32_MAX;
    }
  vms[1].kicks = 0;
  s.now_ms = UINT64_MAX;
  s.host = (PolicyHost){ UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,          UINT64_MAX,
                         NAN,        NAN,        UINT64_MAX, stat_of (UINT64_MAX) };
  s.ksm = (PolicyKsm){ .present = true,
                       .page_size_bytes = UINT64_MAX,
                       .pages_shared = UINT64_MAX,
                       .pages_sharing = UINT64_MAX,
                       .pages_unshared = UINT64_MAX,
                       .pages_volatile = UINT64_MAX,
                       .pages_scanned = UINT64_MAX,
                       .full_scans = UINT64_MAX,
                       .ksm_zero_pages = UINT64_MAX,
                       .general_profit_bytes = INT64_MIN,
                       .run = UINT32_MAX,
                       .pages_to_scan = UINT32_MAX,
                       .sleep_millisecs = UINT32_MAX,
                       .advisor_mode = POLICY_KSM_ADVISOR_SCAN_TIME,
                       .advisor_target_scan_time_s = UINT32_MAX,
                       .advisor_max_cpu_pct = UINT32_MAX,
                       .ksmd_cpu_ns = stat_of (UINT64_MAX) };
  s.host_kicks = UINT32_MAX;
  c.tick_ms = UINT64_MAX;
  c.host_reserve = c.inflate_step = c.deadband
      = (PolicySize){ .set = true, .is_pct = true, .pct = INFINITY };
  c.ksm_cpu_boost_pct = c.ksm_cpu_steady_pct = NAN;
  c.ksm_boost_scan_time_ms = UINT64_MAX;
  for (int t = 0; t < 3; t++)
    {
      g_assert_true (decide_twice (&s, &c, c1, c2, &d1, &d2) && check_invariants (&s, &c, &d1));
      s.now_ms = (uint64_t) t; /* the clock going backwards is survived too */
    }
  policy_carry_free (c1);
  policy_carry_free (c2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/policy/props/random-snapshots", test_random_snapshots);
  g_test_add_func ("/policy/props/random-sequences", test_random_sequences);
  g_test_add_func ("/policy/props/ten-thousand-vms", test_ten_thousand);
  g_test_add_func ("/policy/props/edges", test_edges);
  return g_test_run ();
}
