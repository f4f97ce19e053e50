/* test-policy-rules.c: one table or case per rule of docs/policy.md, on
 * hand-built snapshots with hand-computed expectations. */
#include <glib.h>
#include <math.h>

#include "carry.h"
#include "policy-test.h"

/* Default VM values for RAM sizes used below (docs/policy.md, "Configuration keys"). */
#define HEADROOM_2G 107374182ull /* 5 % of 2 GiB */
#define HEADROOM_8G 429496729ull /* 5 % of 8 GiB */

typedef struct
{
  PolicyCarry *carry;
  PolicyConfig cfg;
  PolicyDecision d;
} Fixture;

static void
fx_setup (Fixture *fx, gconstpointer data)
{
  fx->carry = policy_carry_new ();
  policy_config_defaults (&fx->cfg);
  memset (&fx->d, 0, sizeof fx->d);
}

static void
fx_teardown (Fixture *fx, gconstpointer data)
{
  g_free (fx->d.vms);
  policy_carry_free (fx->carry);
}

/* One decision with `carry` (a test's own, for a run of ticks). */
static void
fx_run_carry (Fixture *fx, const PolicySnapshot *s, PolicyCarry *carry)
{
  g_free (fx->d.vms);
  g_assert_cmpint (run_decide (s, &fx->cfg, carry, &fx->d), ==, 0);
  g_assert_cmpuint (fx->d.n_vms, ==, s->n_vms);
}

static void
fx_run (Fixture *fx, const PolicySnapshot *s)
{
  fx_run_carry (fx, s, fx->carry);
}

/* ---- rule 1: need ---------------------------------------------------- */

static PolicyWs
ws_example (uint64_t age_ms)
{
  /* 400 MiB idle <= 10 s, 200 MiB <= 60 s, 500 MiB <= 300 s, 1 GiB older. */
  return (PolicyWs){ .source = POLICY_WS_AGENT,
                     .age_ms = age_ms,
                     .n_bins = 4,
                     .bins = { { 10000, 300 * MIB, 100 * MIB },
                               { 60000, 200 * MIB, 0 },
                               { 300000, 500 * MIB, 0 },
                               { 0, 1 * GIB, 0 } } };
}

typedef struct
{
  const char *name;
  uint64_t ws_age_ms; /* UINT64_MAX: no histogram */
  bool stats;
  uint64_t cold_age_ms;
  uint64_t expect_need; /* 0: no data */
  const char *expect_reason;
} NeedCase;

static const NeedCase need_cases[] = {
  /* ws(120 s) = 400 + 200 + 500 * (120-60)/(300-60) = 725 MiB */
  { .name = "fresh-ws",
    .ws_age_ms = 1000,
    .stats = true,
    .cold_age_ms = 120000,
    .expect_need = 725 * MIB + HEADROOM_2G,
    .expect_reason = "ws+headroom" },
  { .name = "fresh-ws-at-staleness-limit",
    .ws_age_ms = POLICY_WS_STALE_MS,
    .stats = false,
    .cold_age_ms = 120000,
    .expect_need = 725 * MIB + HEADROOM_2G,
    .expect_reason = "ws+headroom" },
  /* cold age 60 s: 600 MiB exactly */
  { .name = "ws-shorter-cold-age",
    .ws_age_ms = 0,
    .stats = true,
    .cold_age_ms = 60000,
    .expect_need = 600 * MIB + HEADROOM_2G,
    .expect_reason = "ws+headroom" },
  /* stale histogram: stats, total - available = 1200 MiB */
  { .name = "stale-ws-uses-stats",
    .ws_age_ms = POLICY_WS_STALE_MS + 1,
    .stats = true,
    .cold_age_ms = 120000,
    .expect_need = 1200 * MIB + HEADROOM_2G,
    .expect_reason = "stats+headroom" },
  { .name = "stats-only",
    .ws_age_ms = UINT64_MAX,
    .stats = true,
    .cold_age_ms = 120000,
    .expect_need = 1200 * MIB + HEADROOM_2G,
    .expect_reason = "stats+headroom" },
  { .name = "no-data",
    .ws_age_ms = UINT64_MAX,
    .stats = false,
    .cold_age_ms = 120000,
    .expect_need = 0,
    .expect_reason = "no-data:hold" },
};

static void
test_need (Fixture *fx, gconstpointer data)
{
  for (size_t i = 0; i < G_N_ELEMENTS (need_cases); i++)
    {
      const NeedCase *nc = &need_cases[i];
      g_test_message ("case %s", nc->name);
      PolicyCarry *carry = policy_carry_new ();
      /* At its plan already, so the reason is the need's own. */
      uint64_t actual = nc->expect_need > 0 ? nc->expect_need : 2 * GIB;
      /* stats say 1200 MiB used, or 500 MiB when the histogram should win */
      uint64_t used = nc->ws_age_ms <= POLICY_WS_STALE_MS ? 500 * MIB : 1200 * MIB;
      PolicyVm vm = vm_stats (1, 2 * GIB, actual, used);
      vm.cfg.cold_age_ms = nc->cold_age_ms;
      if (nc->ws_age_ms != UINT64_MAX)
        vm.ws = ws_example (nc->ws_age_ms);
      if (!nc->stats)
        memset (&vm.stats, 0, sizeof vm.stats);
      PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
      fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
      fx_run_carry (fx, &s, carry);
      const PolicyVmDecision *d = &fx->d.vms[0];
      g_assert_cmpuint (d->need_bytes, ==, nc->expect_need);
      if (nc->expect_need > 0)
        {
          g_assert_cmpuint (d->plan_bytes, ==, nc->expect_need);
          g_assert_false (d->held);
        }
      else
        {
          g_assert_true (d->held);
          g_assert_false (d->set_target);
          g_assert_cmpuint (d->target_bytes, ==, 2 * GIB);
        }
      g_assert_cmpstr (d->reason, ==, nc->expect_reason);
      g_assert_false (d->set_target);
      policy_carry_free (carry);
    }
}

typedef struct
{
  const char *name;
  uint64_t used;
  PolicySize min, max;
  uint64_t expect_need;
} ClampCase;

static const ClampCase clamp_cases[] = {
  /* default min of 2 GiB RAM: max(256 MiB, 512 MiB) */
  { .name = "below-min", .used = 100 * MIB, .expect_need = 512 * MIB },
  { .name = "above-max",
    .used = 3 * GIB,
    .max = { .set = true, .bytes = 1536 * MIB },
    .expect_need = 1536 * MIB },
  { .name = "pct-min",
    .used = 100 * MIB,
    .min = { .set = true, .is_pct = true, .pct = 50 },
    .expect_need = 1 * GIB },
  { .name = "inside", .used = 1 * GIB, .expect_need = 1 * GIB + HEADROOM_2G },
};

static void
test_need_clamp (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  for (size_t i = 0; i < G_N_ELEMENTS (clamp_cases); i++)
    {
      const ClampCase *cc = &clamp_cases[i];
      g_test_message ("case %s", cc->name);
      PolicyVm vm = vm_stats (1, 2 * GIB, 2 * GIB, cc->used);
      vm.cfg.min = cc->min;
      vm.cfg.max = cc->max;
      vm.last_target_bytes = stat_of (2 * GIB);
      PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
      policy_carry_free (fx->carry);
      fx->carry = policy_carry_new ();
      fx_run (fx, &s);
      g_assert_cmpuint (fx->d.vms[0].need_bytes, ==, cc->expect_need);
    }
}

/* A VM without data is held, never inflated; it may be raised to its floor. */
static void
test_no_data (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[3];
  vms[0] = vm_stats (1, 2 * GIB, 2 * GIB, 100 * MIB);
  memset (&vms[0].stats, 0, sizeof vms[0].stats); /* driver loaded, no stats */
  vms[1] = vm_stats (2, 2 * GIB, 100 * MIB, 50 * MIB);
  memset (&vms[1].stats, 0, sizeof vms[1].stats); /* below its 512 MiB floor */
  vms[2] = vm_stats (3, 2 * GIB, 2 * GIB, 100 * MIB);
  vms[2].stats.age_ms = POLICY_STATS_STALE_MS + 1; /* stale stats */
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, vms, 3);
  fx_run (fx, &s);
  g_assert_false (fx->d.vms[0].set_target);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "no-data:hold");
  g_assert_true (fx->d.vms[1].set_target);
  g_assert_cmpuint (fx->d.vms[1].target_bytes, ==, 512 * MIB);
  g_assert_cmpstr (fx->d.vms[1].reason, ==, "no-data:floor");
  g_assert_false (fx->d.vms[2].set_target);
  g_assert_cmpuint (fx->d.held_bytes, ==, 2 * GIB + 512 * MIB + 2 * GIB);

  /* The floor target is in flight: not re-issued every tick while the
   * guest stays below it, only after the stuck re-issue delay. */
  vms[1].last_target_bytes = (PolicyStat){ .present = true, .value = 512 * MIB };
  for (uint64_t t_ms = 2000; t_ms < 31000; t_ms += 1000)
    {
      s.now_ms = t_ms;
      fx_run (fx, &s);
      g_assert_false (fx->d.vms[1].set_target);
      g_assert_cmpstr (fx->d.vms[1].reason, ==, "no-data:floor");
    }
  s.now_ms = 31000;
  fx_run (fx, &s);
  g_assert_true (fx->d.vms[1].set_target);
}

/* min=0 / max=0 would starve a guest: both stop at 64 MiB. */
static void
test_abs_floor (Fixture *fx, gconstpointer data)
{
  PolicyVm vm = vm_stats (1, 2 * GIB, 2 * GIB, 100 * MIB);
  vm.cfg.max = (PolicySize){ .set = true, .bytes = 0 };
  vm.cfg.min = (PolicySize){ .set = true, .bytes = 0 };
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.vms[0].max_bytes, ==, 64 * MIB);
  g_assert_cmpuint (fx->d.vms[0].min_bytes, ==, 64 * MIB);
  g_assert_cmpuint (fx->d.vms[0].target_bytes, >=, 64 * MIB);
}

/* ---- rule 2: thrash feedback ------------------------------------------ */

static void
test_thrash_psi_total (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 2 * GIB);
  vm.agent = (PolicyGuestAgent){ .present = true, .psi_some_total_us = 1000000 };
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  uint64_t need0 = fx->d.vms[0].need_bytes;
  g_assert_cmpuint (need0, ==, 2 * GIB + HEADROOM_8G);

  /* 5 ms of stall in 1 s = 0.5 % > 0.1 %: +25 % at once, though avg10 is still 0. */
  s.now_ms += 1000;
  vm.agent.psi_some_total_us += 5000;
  fx_run (fx, &s);
  uint64_t need1 = fx->d.vms[0].need_bytes;
  g_assert_cmpuint (need1, >=, need0 + need0 / 4);

  /* avg10 lags high while the total no longer moves: no further growth. */
  s.now_ms += 1000;
  vm.agent.psi_some_avg10_pct = 40.0;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.vms[0].need_bytes, ==, need1);

  /* Calm: a few ticks of nothing, then a decay of at most 1 % a tick. */
  uint64_t prev = need1;
  bool decayed = false;
  for (int t = 0; t < 40; t++)
    {
      s.now_ms += 1000;
      fx_run (fx, &s);
      uint64_t n = fx->d.vms[0].need_bytes;
      g_assert_cmpuint (n, <=, prev);
      g_assert_cmpuint (n, >=, prev - prev / 100);
      if (t < 4)
        g_assert_cmpuint (n, ==, need1);
      decayed |= n < prev;
      prev = n;
    }
  g_assert_true (decayed);
  g_assert_cmpuint (prev, >, need0);
}

static void
test_thrash_refaults (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 2 * GIB);
  vm.agent = (PolicyGuestAgent){ .present = true, .refault_total_pages = 100 };
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  uint64_t need0 = fx->d.vms[0].need_bytes;
  /* 1 GiB/s of refaults: more than 25 % of the need, so the refault rate × tick wins. */
  s.now_ms += 1000;
  vm.agent.refault_total_pages += GIB / 4096;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.vms[0].need_bytes, >=, need0 + GIB);
  /* Below the target rate (0.1 % of need per second): no growth. */
  uint64_t need1 = fx->d.vms[0].need_bytes;
  s.now_ms += 1000;
  vm.agent.refault_total_pages += 10;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.vms[0].need_bytes, ==, need1);
}

/* ---- rule 3: budget --------------------------------------------------- */

static void
test_budget (Fixture *fx, gconstpointer data)
{
  PolicySnapshot s = snap_host (1000, 16 * GIB, 8 * GIB, NULL, 0);
  s.host.non_vm_used_bytes = stat_of (2 * GIB);
  s.ksm.pages_sharing = GIB / 4096; /* KSM saves 1 GiB */
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 1 * GIB };
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.budget_bytes, ==, 16 * GIB - 1 * GIB - 2 * GIB + 1 * GIB);
  /* Default reserve: max(512 MiB, 5 %): 5 % of 64 GiB. */
  policy_config_defaults (&fx->cfg);
  s.host.mem_total_bytes = 64 * GIB;
  s.host.non_vm_used_bytes = stat_of (0);
  s.ksm.pages_sharing = 0;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.budget_bytes, ==, 64 * GIB - (uint64_t) (64.0 * GIB * 0.05));
  /* Without a non-VM probe: used minus what the VMs' PSS explains. */
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB);
  vm.pss_bytes = stat_of (6 * GIB);
  s = snap_host (1000, 16 * GIB, 8 * GIB, &vm, 1);
  s.host.non_vm_used_bytes = (PolicyStat){ 0 };
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 0 };
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.budget_bytes, ==, 16 * GIB - 2 * GIB);
}

/* ---- rule 4: allocation ----------------------------------------------- */

/* Two 8 GiB VMs needing 2 GiB (their floor), shares 2000:1000, on a host of `total`. */
static void
two_vms (PolicyVm vms[2], uint64_t used)
{
  vms[0] = vm_stats (1, 8 * GIB, 8 * GIB, used);
  vms[0].cfg.shares = 2000;
  vms[1] = vm_stats (2, 8 * GIB, 8 * GIB, used);
  vms[1].cfg.shares = 1000;
}

static void
test_alloc_balanced (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[2];
  two_vms (vms, 1 * GIB);
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 0 };
  PolicySnapshot s = snap_host (1000, 7 * GIB, 6 * GIB, vms, 2);
  fx_run (fx, &s);
  /* need = 2 GiB each (floor); 3 GiB surplus split 2:1. */
  g_assert_cmpuint (fx->d.vms[0].need_bytes, ==, 2 * GIB);
  g_assert_false (fx->d.host_overloaded);
  uint64_t a = fx->d.vms[0].plan_bytes - 2 * GIB, b = fx->d.vms[1].plan_bytes - 2 * GIB;
  g_assert_cmpuint (a + b, <=, 3 * GIB);
  g_assert_cmpuint (a + b, >=, 3 * GIB - 16);
  g_assert_cmpuint (a, >=, 2 * GIB - 16);
  g_assert_cmpuint (b, >=, 1 * GIB - 16);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "rate-limit");
  /* Plenty of room: capped at max. */
  s.host.mem_total_bytes = 64 * GIB;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.vms[0].plan_bytes, ==, 8 * GIB);
  g_assert_cmpuint (fx->d.vms[1].plan_bytes, ==, 8 * GIB);
}

static void
test_alloc_density (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[2];
  two_vms (vms, 3 * GIB);
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, vms, 2);
  fx_run (fx, &s);
  for (int i = 0; i < 2; i++)
    {
      g_assert_cmpuint (fx->d.vms[i].plan_bytes, ==, 3 * GIB + HEADROOM_8G);
      g_assert_cmpuint (fx->d.vms[i].plan_bytes, ==, fx->d.vms[i].need_bytes);
    }
  g_assert_cmpuint (fx->d.sum_plan_bytes, ==, 2 * (3 * GIB + HEADROOM_8G));
}

static void
test_alloc_overloaded (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[2];
  two_vms (vms, 2 * GIB);
  for (int i = 0; i < 2; i++)
    vms[i].cfg.min = (PolicySize){ .set = true, .bytes = 1 * GIB };
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 0 };
  PolicySnapshot s = snap_host (1000, 3 * GIB, 1 * GIB, vms, 2);
  fx_run (fx, &s);
  g_assert_true (fx->d.host_overloaded);
  g_assert_cmpstr (fx->d.host_reason, ==, "overloaded");
  g_assert_cmpuint (fx->d.sum_plan_bytes, <=, 3 * GIB);
  /* 1 GiB above the floors, split 2:1 by shares. */
  uint64_t a = fx->d.vms[0].plan_bytes - 1 * GIB, b = fx->d.vms[1].plan_bytes - 1 * GIB;
  g_assert_cmpuint (a + b, >=, 1 * GIB - 16);
  g_assert_cmpuint (a, >=, 2 * b - 16);
  g_assert_cmpuint (a, <=, 2 * b + 16);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "rate-limit");
  /* Σ min > B: everyone at min, still overloaded. */
  s.host.mem_total_bytes = 1 * GIB;
  fx_run (fx, &s);
  g_assert_true (fx->d.host_overloaded);
  g_assert_cmpuint (fx->d.vms[0].plan_bytes, ==, 1 * GIB);
  g_assert_cmpuint (fx->d.vms[1].plan_bytes, ==, 1 * GIB);
}

/* ---- rule 5: shaping -------------------------------------------------- */

typedef struct
{
  const char *name;
  uint64_t actual;
  bool last_present;
  uint64_t last;
  uint64_t used; /* need = max(2 GiB, used + headroom) */
  bool expect_set;
  uint64_t expect_target;
  const char *expect_reason;
} ShapeCase;

#define NEED_2G (2 * GIB) /* used <= 1.6 GiB on an 8 GiB VM */
static const ShapeCase shape_cases[] = {
  /* inflate limited to min(10 % of 8 GiB, 256 MiB) */
  { "inflate-rate-limited", 8 * GIB, false, 0, 1 * GIB, true, 8 * GIB - 256 * MIB, "rate-limit" },
  /* already heading there and not moved yet: not re-issued */
  { "inflate-in-flight", 8 * GIB, true, 8 * GIB - 256 * MIB, 1 * GIB, false, 8 * GIB - 256 * MIB,
    "in-flight" },
  /* last step reached: next step */
  { "inflate-next-step", 8 * GIB - 256 * MIB, true, 8 * GIB - 256 * MIB, 1 * GIB, true,
    8 * GIB - 512 * MIB, "rate-limit" },
  /* within the deadband (max(1 % of 8 GiB, 16 MiB) = 81.9 MiB): nothing */
  { "deadband", NEED_2G + 50 * MIB, true, NEED_2G + 50 * MIB, 1 * GIB, false, NEED_2G + 50 * MIB,
    "deadband" },
  /* last small step: to the plan exactly */
  { "inflate-last-step", NEED_2G + 200 * MIB, true, NEED_2G + 200 * MIB, 1 * GIB, true, NEED_2G,
    "floor" },
  /* deflate: at once, all of it */
  { "deflate-at-once", 1 * GIB, true, 1 * GIB, 512 * MIB, true, NEED_2G, "floor" },
  /* deflate by less than the deadband: still at once */
  { "deflate-small", NEED_2G - 1 * MIB, true, NEED_2G - 1 * MIB, 1 * GIB, true, NEED_2G, "floor" },
  /* a deflate in flight to the plan: not re-issued */
  { "deflate-in-flight", 1 * GIB, true, NEED_2G, 512 * MIB, false, NEED_2G, "in-flight" },
  /* an inflate in flight below a plan that has grown: stopped at once */
  { "stop-inflate-below-plan", 5 * GIB, true, 1 * GIB, 4 * GIB, true, 5 * GIB - 256 * MIB,
    "rate-limit" },
};

static void
test_shaping (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  for (size_t i = 0; i < G_N_ELEMENTS (shape_cases); i++)
    {
      const ShapeCase *sc = &shape_cases[i];
      g_test_message ("case %s", sc->name);
      PolicyCarry *carry = policy_carry_new ();
      PolicyVm vm = vm_stats (1, 8 * GIB, sc->actual, sc->used);
      if (sc->last_present)
        vm.last_target_bytes = stat_of (sc->last);
      PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
      fx_run_carry (fx, &s, carry);
      const PolicyVmDecision *d = &fx->d.vms[0];
      g_assert_cmpint (d->set_target, ==, sc->expect_set);
      g_assert_cmpuint (d->target_bytes, ==, sc->expect_target);
      g_assert_cmpstr (d->reason, ==, sc->expect_reason);
      policy_carry_free (carry);
    }
}

/* An inflate that would release KSM-merged pages is discounted. */
static void
test_shaping_ksm_discount (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  /* 150 MiB above plan: beyond the 81.9 MiB deadband... */
  PolicyVm vm = vm_stats (1, 8 * GIB, NEED_2G + 150 * MIB, 1 * GIB);
  vm.last_target_bytes = stat_of (vm.actual_bytes.value);
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  g_assert_true (fx->d.vms[0].set_target);
  /* ...but with 75 % of the VM merged, it frees only ~37 MiB: not worth it. */
  PolicyCarry *carry = policy_carry_new ();
  vm.ksm_merging_pages = stat_of ((NEED_2G + 150 * MIB) / 4096 * 3 / 4);
  fx_run_carry (fx, &s, carry);
  g_assert_false (fx->d.vms[0].set_target);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "deadband");
  policy_carry_free (carry);
}

/* ---- rule 6: urgent path and guest demand ------------------------------ */

static void
test_urgent (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyVm vms[2];
  /* 8 GiB guest using 1 GiB: would be inflated, but it said `pressure`. */
  vms[0] = vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB);
  vms[0].agent = (PolicyGuestAgent){ .present = true, .urgent = true };
  /* A guest below its low watermark (max(32 MiB, 2 % of RAM)). */
  vms[1] = vm_stats (2, 8 * GIB, 3 * GIB, 3 * GIB - 100 * MIB);
  vms[1].last_target_bytes = stat_of (3 * GIB);
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, vms, 2);
  fx_run (fx, &s);
  g_assert_false (fx->d.vms[0].set_target);
  g_assert_cmpuint (fx->d.vms[0].target_bytes, ==, 8 * GIB);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "urgent");
  /* deflated at once, by at least its headroom */
  g_assert_true (fx->d.vms[1].set_target);
  g_assert_cmpuint (fx->d.vms[1].target_bytes, >=, 3 * GIB + HEADROOM_8G);
  g_assert_cmpstr (fx->d.vms[1].reason, ==, "urgent");
}

/* The urgent path delivers the observed shortfall at once: twice what the
 * guest allocated in the last tick (it ran out, so what it got bounds its
 * rate from below), then twice the last raise while urgency persists,
 * from the target in force; and never more than the host has room for. */
static void
test_urgent_shortfall (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyVm vm = vm_stats (1, 8 * GIB, 2 * GIB, 1 * GIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  /* One tick later it used all but 16 MiB: 1008 MiB allocated in 1 s. */
  vm = vm_stats (1, 8 * GIB, 2 * GIB, 2 * GIB - 16 * MIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  s.now_ms = 2000;
  fx_run (fx, &s);
  const PolicyVmDecision *d = &fx->d.vms[0];
  g_assert_cmpstr (d->reason, ==, "urgent");
  g_assert_true (d->set_target);
  g_assert_cmpuint (d->target_bytes, >=, 2 * GIB + 2 * (1 * GIB - 16 * MIB));
  uint64_t first = d->target_bytes;
  /* Half a second later still urgent, the balloon still on its way: twice
   * the last raise on top of the target in force (capped by max). */
  vm.last_target_bytes = stat_of (first);
  s.now_ms = 2500;
  fx_run (fx, &s);
  d = &fx->d.vms[0]; /* fx_run replaced the decisions */
  g_assert_cmpuint (d->target_bytes, ==, MIN (first + 2 * (first - 2 * GIB), 8 * GIB));

  /* Taken back slowly: a raise is not undone by the next calm tick while
   * the balloon is still on its way there. */
  PolicyCarry *hold = policy_carry_new ();
  vm = vm_stats (1, 8 * GIB, 2 * GIB, 1 * GIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  vm.agent = (PolicyGuestAgent){ .present = true, .urgent = true };
  s.now_ms = 1000;
  fx_run_carry (fx, &s, hold);
  uint64_t raised = fx->d.vms[0].target_bytes;
  g_assert_cmpuint (raised, >, 2 * GIB);
  vm.agent = (PolicyGuestAgent){ 0 };
  vm.last_target_bytes = stat_of (raised);
  for (s.now_ms = 1250; s.now_ms < 20000; s.now_ms += 1000)
    {
      fx_run_carry (fx, &s, hold);
      g_assert_cmpuint (fx->d.vms[0].target_bytes, >=, raised);
    }
  policy_carry_free (hold);

  /* A host with 1 GiB of room above its reserve gives at most that. */
  PolicyCarry *carry = policy_carry_new ();
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 4 * GIB };
  vm = vm_stats (1, 8 * GIB, 2 * GIB, 1 * GIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  vm.pss_bytes = stat_of (2 * GIB);
  PolicySnapshot t = snap_host (1000, 64 * GIB, 5 * GIB, &vm, 1);
  fx_run_carry (fx, &t, carry);
  vm = vm_stats (1, 8 * GIB, 2 * GIB, 2 * GIB - 16 * MIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  vm.pss_bytes = stat_of (2 * GIB);
  t.now_ms = 2000;
  fx_run_carry (fx, &t, carry);
  g_assert_true (fx->d.vms[0].set_target);
  g_assert_cmpuint (fx->d.vms[0].target_bytes, <=, 2 * GIB + 1 * GIB);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "host-room");
  policy_carry_free (carry);
}

/* A guest held low that says it is stalled, before its stats show what it
 * allocates (they come a poll later): half of what the balloon holds comes
 * back at once, not a headroom; urgency again soon after doubles that. A
 * guest whose stats alone show it short keeps the sizing its stats give. */
static void
test_urgent_stalled (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyCarry *carry = policy_carry_new ();
  PolicyVm vm = vm_stats (1, 1 * GIB, 204 * MIB, 150 * MIB);
  vm.agent = (PolicyGuestAgent){ .present = true };
  vm.last_target_bytes = stat_of (204 * MIB);
  PolicySnapshot s = snap_host (100000, 64 * GIB, 60 * GIB, &vm, 1);
  for (int t = 0; t < 5; t++, s.now_ms += 1000)
    fx_run_carry (fx, &s, carry);
  vm.agent.urgent = true;
  fx_run_carry (fx, &s, carry);
  const PolicyVmDecision *d = &fx->d.vms[0];
  g_assert_cmpstr (d->reason, ==, "urgent");
  g_assert_true (d->set_target);
  uint64_t first = d->target_bytes;
  g_assert_cmpuint (first, >=, 204 * MIB + (1 * GIB - 204 * MIB) / 2);
  vm.last_target_bytes = stat_of (first);
  s.now_ms += 1000;
  fx_run_carry (fx, &s, carry);
  g_assert_cmpuint (fx->d.vms[0].target_bytes, ==, 1 * GIB);
  policy_carry_free (carry);

  /* Agentless, its deflate-on-oom balloon 1 MiB past the target in force
   * and growing: the guest's OOM notifier ran, as good as a stall. */
  carry = policy_carry_new ();
  vm = vm_stats (1, 1 * GIB, 204 * MIB, 150 * MIB);
  vm.balloon_deflate_on_oom = true;
  vm.last_target_bytes = stat_of (204 * MIB);
  s.vms = &vm;
  for (int t = 0; t < 5; t++, s.now_ms += 1000)
    {
      fx_run_carry (fx, &s, carry);
      g_assert_cmpstr (fx->d.vms[0].reason, !=, "urgent");
    }
  vm.actual_bytes = stat_of (205 * MIB);
  s.now_ms -= 700;
  fx_run_carry (fx, &s, carry);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "urgent");
  g_assert_cmpuint (fx->d.vms[0].target_bytes, >=, 205 * MIB + (1 * GIB - 205 * MIB) / 2);
  policy_carry_free (carry);

  PolicyVm low = vm_stats (2, 8 * GIB, 3 * GIB, 3 * GIB - 16 * MIB);
  low.last_target_bytes = stat_of (3 * GIB);
  PolicySnapshot t = snap_host (1000, 64 * GIB, 60 * GIB, &low, 1);
  fx_run (fx, &t);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "urgent");
  g_assert_cmpuint (fx->d.vms[0].target_bytes, <, 3 * GIB + (5 * GIB) / 2);
}

/* Ticks an 8 GiB guest using 512 MiB whose balloon moves at most
 * `speed_mib_s` a second toward each target issued (0: reaches it at once);
 * returns the lowest target and the last reason. */
static uint64_t
refill_run (Fixture *fx, uint64_t refill_ms, uint64_t speed_mib_s, const char **reason)
{
  PolicyCarry *carry = policy_carry_new ();
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 512 * MIB);
  vm.cfg.refill_ms = refill_ms;
  vm.cfg.min = (PolicySize){ .set = true, .bytes = 256 * MIB };
  uint64_t actual = 8 * GIB, lowest = 8 * GIB;
  for (uint64_t t = 1000; t <= 120000; t += 1000)
    {
      PolicyVm v = vm_stats (1, 8 * GIB, actual, 512 * MIB);
      v.cfg = vm.cfg;
      v.last_target_bytes = vm.last_target_bytes;
      PolicySnapshot s = snap_host (t, 64 * GIB, 60 * GIB, &v, 1);
      fx_run_carry (fx, &s, carry);
      uint64_t target = fx->d.vms[0].target_bytes;
      *reason = fx->d.vms[0].reason;
      lowest = MIN (lowest, target);
      vm.last_target_bytes = stat_of (target);
      uint64_t step = speed_mib_s > 0 ? speed_mib_s * MIB : UINT64_MAX;
      actual = target < actual ? MAX (target, actual > step ? actual - step : 0)
                               : MIN (target, actual + step);
    }
  policy_carry_free (carry);
  return lowest;
}

/* The refill bound: a balloon seen moving at 100 MiB/s short of its target
 * never holds more than 100 MiB/s × refill; one that always reaches its
 * (rate-limited) targets is never seen to be the limit and is not bounded;
 * refill 0 turns the bound off. */
static void
test_refill_bound (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  const char *reason = NULL;
  uint64_t need = 512 * MIB + HEADROOM_8G;
  uint64_t slow = refill_run (fx, 10000, 100, &reason);
  g_assert_cmpuint (slow, >=, 8 * GIB - 1000 * MIB);
  g_assert_cmpuint (slow, <=, 8 * GIB - 900 * MIB);
  g_assert_cmpstr (reason, ==, "refill");
  /* Half an inflate step (128 MiB) above the need may stay in flight. */
  g_assert_cmpuint (refill_run (fx, 0, 100, &reason), <=, need + 128 * MIB);
  g_assert_cmpuint (refill_run (fx, 10000, 0, &reason), <=, need + 128 * MIB);
}

/* One tick of a 4 GiB guest with 300 MiB of page cache idle <= 10 s, 200 MiB
 * idle 10-60 s and 600 MiB idle > 300 s; page cache is cold for reclaim at a
 * quarter of the 120 s cold age, 30 s: 600 MiB + 200 × (60-30)/(60-10) =
 * 720 MiB. Returns what the decision asks its agent to reclaim. */
static uint64_t
reclaim_tick (Fixture *fx, PolicyCarry *carry, uint64_t now_ms, bool can, bool urgent)
{
  PolicyVm vm = vm_stats (1, 4 * GIB, 4 * GIB, 1 * GIB);
  vm.ws = (PolicyWs){ .source = POLICY_WS_AGENT,
                      .age_ms = 1000,
                      .n_bins = 4,
                      .bins = { { 10000, 100 * MIB, 300 * MIB },
                                { 60000, 0, 200 * MIB },
                                { 300000, 0, 0 },
                                { 0, 0, 600 * MIB } } };
  vm.agent = (PolicyGuestAgent){ .present = true, .can_reclaim = can, .urgent = urgent };
  PolicySnapshot s = snap_host (now_ms, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run_carry (fx, &s, carry);
  return fx->d.vms[0].reclaim_bytes;
}

/* Guest reclaim: the cold page cache, in density mode (or on a tight host),
 * from an agent that takes requests, once per 5 s; never from a guest in
 * trouble, nor while a roomy balanced host hands its surplus to guests. */
static void
test_reclaim (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyCarry *carry = policy_carry_new ();
  g_assert_cmpuint (reclaim_tick (fx, carry, 1000, true, false), ==, 720 * MIB);
  g_assert_cmpuint (reclaim_tick (fx, carry, 3000, true, false), ==, 0);
  g_assert_cmpuint (reclaim_tick (fx, carry, 6000, true, false), ==, 720 * MIB);
  policy_carry_free (carry);
  carry = policy_carry_new ();
  g_assert_cmpuint (reclaim_tick (fx, carry, 1000, false, false), ==, 0);
  g_assert_cmpuint (reclaim_tick (fx, carry, 2000, true, true), ==, 0);
  policy_carry_free (carry);
  carry = policy_carry_new ();
  fx->cfg.host_mode = POLICY_HOST_MODE_BALANCED;
  g_assert_cmpuint (reclaim_tick (fx, carry, 1000, true, false), ==, 0);
  policy_carry_free (carry);
}

/* One tick at `now_s` of an 8 GiB guest (balloon at max) using `used`, on
 * a 64 GiB host with `avail` available, its balloon with free page
 * reporting or not; returns its plan. */
static uint64_t
burst_tick (Fixture *fx, PolicyCarry *carry, uint64_t now_s, uint64_t used, uint64_t hold_ms,
            uint64_t avail, bool reporting)
{
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, used);
  vm.cfg.min = (PolicySize){ .set = true, .bytes = 256 * MIB };
  vm.cfg.burst_hold_ms = hold_ms;
  vm.balloon_free_page_reporting = reporting;
  PolicySnapshot s = snap_host (now_s * 1000, 64 * GIB, avail, &vm, 1);
  fx_run_carry (fx, &s, carry);
  return fx->d.vms[0].plan_bytes;
}

/* The burst floor: a guest using 512 MiB that bursts to 3 GiB for 15 s is
 * planned at its burst's peak for `burst-hold` after the burst ends; a
 * second burst within it renews it; then it lapses. With burst-hold=0 the
 * plan falls back to the need at once. A tight host (MemAvailable under two
 * reserves) does not grant it. A balloon with free page reporting is held
 * at the guest's size instead: the guest returns what it freed by itself. */
static void
test_burst_floor (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  const uint64_t quiet = 512 * MIB + HEADROOM_8G, peak = 3 * GIB + HEADROOM_8G;
  const uint64_t bursts[][2] = { { 20, 35 }, { 80, 95 } };
  for (int reporting = 0; reporting < 2; reporting++)
    for (int hold = 0; hold < 2; hold++)
      {
        uint64_t hold_ms = hold ? 120000 : 0;
        uint64_t floor = reporting ? 8 * GIB : peak;
        PolicyCarry *carry = policy_carry_new ();
        for (uint64_t t = 1; t <= 240; t++)
          {
            bool in_burst = (t >= bursts[0][0] && t < bursts[0][1])
                            || (t >= bursts[1][0] && t < bursts[1][1]);
            bool tight = t == 60;
            uint64_t plan = burst_tick (fx, carry, t, in_burst ? 3 * GIB : 512 * MIB, hold_ms,
                                        tight ? 4 * GIB : 60 * GIB, reporting);
            bool held = hold && !tight && t >= bursts[0][1] && t < bursts[1][1] + 120;
            if (held)
              g_assert_cmpuint (plan, ==, floor);
            else if (in_burst)
              g_assert_cmpuint (plan, ==, peak);
            else if (tight)
              g_assert_cmpuint (plan, <=, quiet);
            else
              g_assert_cmpuint (plan, ==, quiet);
          }
        policy_carry_free (carry);
      }
}

/* The burst floor of a guest with a working set counts what its kernel
 * holds and reserved, not only the burst's anon pages: an 8 GiB guest whose
 * kernel holds 256 MiB and reserved 128 MiB bursts from 512 MiB to 3 GiB of
 * anon for 15 s; after the burst it is planned at 3 GiB + 384 MiB +
 * headroom, where the burst found the memory it used, not 384 MiB short of
 * it. Without deflate-on-oom the balloon (at 8 GiB) leaves MemTotal; with
 * it (at 6 GiB), its 2 GiB stay in MemTotal as used memory. */
static uint64_t
burst_ws_tick (Fixture *fx, PolicyCarry *carry, uint64_t now_s, uint64_t anon, bool doo)
{
  const uint64_t kernel = 256 * MIB, reserved = 128 * MIB;
  uint64_t actual = doo ? 6 * GIB : 8 * GIB, ballooned = 8 * GIB - actual;
  PolicyVm vm = vm_stats (1, 8 * GIB, actual, anon + kernel);
  vm.stats.total_bytes = stat_of (8 * GIB - reserved - (doo ? 0 : ballooned));
  vm.stats.available_bytes = stat_of (8 * GIB - reserved - ballooned - anon - kernel);
  vm.cfg.min = (PolicySize){ .set = true, .bytes = 256 * MIB };
  vm.ws = (PolicyWs){ .source = POLICY_WS_AGENT,
                      .age_ms = 1000,
                      .n_bins = 2,
                      .bins = { { 10000, anon, 0 }, { 0, 0, 0 } } };
  vm.agent = (PolicyGuestAgent){ .present = true };
  PolicySnapshot s = snap_host (now_s * 1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run_carry (fx, &s, carry);
  return fx->d.vms[0].plan_bytes;
}

static void
test_burst_floor_kernel (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  for (int doo = 0; doo < 2; doo++)
    {
      PolicyCarry *carry = policy_carry_new ();
      uint64_t plan = 0;
      for (uint64_t t = 1; t <= 45; t++)
        plan = burst_ws_tick (fx, carry, t, t >= 20 && t < 35 ? 3 * GIB : 512 * MIB, doo);
      g_assert_cmpuint (plan, ==, 3 * GIB + 384 * MIB + HEADROOM_8G);
      policy_carry_free (carry);
    }
}

/* The boot grace: a guest seen starting is not inflated for 30 s after its
 * first report while the host has room (its plan stays where the balloon
 * is), then follows its need; a tight host squeezes it at once. */
static void
test_boot_grace (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  const uint64_t need = 512 * MIB + HEADROOM_8G;
  for (int tight = 0; tight < 2; tight++)
    {
      PolicyCarry *carry = policy_carry_new ();
      for (uint64_t t = 1; t <= 40; t++)
        {
          PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 512 * MIB);
          vm.cfg.min = (PolicySize){ .set = true, .bytes = 256 * MIB };
          if (t == 1)
            vm.kicks = POLICY_KICK_STARTED;
          PolicySnapshot s = snap_host (t * 1000, 64 * GIB, tight ? 4 * GIB : 60 * GIB, &vm, 1);
          fx_run_carry (fx, &s, carry);
          const PolicyVmDecision *d = &fx->d.vms[0];
          if (!tight && t < 31)
            {
              g_assert_cmpuint (d->plan_bytes, ==, 8 * GIB);
              g_assert_cmpstr (d->reason, ==, "boot-grace");
              g_assert_false (d->set_target);
            }
          else if (!tight)
            g_assert_cmpuint (d->plan_bytes, ==, need);
          else
            g_assert_cmpuint (d->plan_bytes, <=, need);
        }
      policy_carry_free (carry);
    }
}

static void
test_demand_floor (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  /* Ballooned to 1 GiB (its need)... */
  PolicyVm vm = vm_stats (1, 8 * GIB, 2 * GIB, 1 * GIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  /* ...then the guest pulls actual up to 3 GiB itself (deflate-on-oom). */
  vm = vm_stats (1, 8 * GIB, 3 * GIB, 1 * GIB);
  vm.last_target_bytes = stat_of (2 * GIB);
  for (int t = 1; t < 60; t++)
    {
      s.now_ms += 1000;
      fx_run (fx, &s);
      const PolicyVmDecision *d = &fx->d.vms[0];
      g_assert_cmpuint (d->plan_bytes, >=, 3 * GIB);
      g_assert_true (!d->set_target || d->target_bytes >= 3 * GIB);
      /* Taking 1 GiB itself in a second is a stall while allocating: the
       * shortfall raise on top (2 x 1 GiB), held for URGENT_HOLD_MS; then
       * the demand floor alone. */
      if (t == 1)
        {
          g_assert_cmpstr (d->reason, ==, "urgent");
          g_assert_cmpuint (d->plan_bytes, >=, 5 * GIB);
        }
      if (t == 2)
        g_assert_cmpstr (d->reason, ==, "urgent-floor");
      if (t == 40)
        g_assert_cmpstr (d->reason, ==, "demand-floor");
    }
}

/* An agentless guest whose balloon has deflate-on-oom: its MemTotal keeps
 * the balloon's pages as used memory, so total - available is its use plus
 * the balloon. Its stats come `lag` ticks after they were taken. Taken as
 * its use, the balloon stopped halfway (1,228 of 2,048 MiB for a 300 MiB
 * guest); the guest's size when the stats were taken is the size to count
 * from, and the balloon's own travel is no growth. */
static void
test_doo_agentless (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  for (int lag = 0; lag <= 2; lag++)
    {
      PolicyCarry *carry = policy_carry_new ();
      uint64_t ram = 2 * GIB, used = 300 * MIB, hist[3] = { ram, ram, ram };
      PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, NULL, 1);
      uint64_t grown_plan = 0;
      for (int t = 0; t < 66; t++)
        {
          /* The guest grows by 300 MiB at t = 60, the balloon still. */
          if (t == 60)
            used = 600 * MIB;
          PolicyVm vm = vm_stats (1, ram, hist[lag], used);
          vm.balloon_deflate_on_oom = true;
          vm.actual_bytes = stat_of (hist[0]);
          vm.stats.total_bytes = stat_of (ram);
          vm.stats.age_ms = 0;
          s.vms = &vm;
          s.now_ms += 1000;
          fx_run_carry (fx, &s, carry);
          const PolicyVmDecision *d = &fx->d.vms[0];
          /* One way down: no inflate read as growth, no burst floor. */
          if (t < 60)
            g_assert_true (!d->set_target || d->target_bytes <= hist[0]);
          if (t == 59)
            g_assert_cmpuint (hist[0], <=, used + 256 * MIB);
          if (t >= 60)
            grown_plan = MAX (grown_plan, d->plan_bytes);
          hist[2] = hist[1];
          hist[1] = hist[0];
          if (d->set_target)
            hist[0] = d->target_bytes;
        }
      /* Growth with the balloon still is seen as soon as the stats show it. */
      g_assert_cmpuint (grown_plan, >=, used + HEADROOM_2G);
      policy_carry_free (carry);
    }
}

/* ---- rule 7: kicks ----------------------------------------------------- */

static void
test_kicks (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 0 };
  PolicyVm vms[2];
  vms[0] = vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB);
  vms[1] = (PolicyVm){
    .id = 2, .state = POLICY_VM_STATE_STARTING, .ram_bytes = 8 * GIB, .kicks = POLICY_KICK_STARTED
  };
  policy_vm_config_defaults (&vms[1].cfg);
  PolicySnapshot s = snap_host (1000, 12 * GIB, 4 * GIB, vms, 2);
  fx_run (fx, &s);
  /* The starting VM reserves its 8 GiB: the other gets 4 GiB, not more. */
  g_assert_cmpuint (fx->d.held_bytes, ==, 8 * GIB);
  g_assert_cmpuint (fx->d.vms[0].plan_bytes, ==, 4 * GIB);
  g_assert_cmpstr (fx->d.vms[1].reason, ==, "kick:vm-starting");
  g_assert_false (fx->d.vms[1].set_target);
  /* ...and KSM boosts in the same tick. */
  g_assert_cmpint (fx->d.ksm.state, ==, POLICY_KSM_BOOST);
  g_assert_cmpstr (fx->d.ksm.reason, ==, "boost:kick");
  g_assert_true (fx->d.ksm.set_run);
  /* The kick is gone next tick but the driver still has not reported: still reserved. */
  s.now_ms += 1000;
  vms[1].kicks = 0;
  vms[1].state = POLICY_VM_STATE_RUNNING;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.held_bytes, ==, 8 * GIB);
  /* Destroyed: released at once, the other VM grows in the same tick. */
  s.now_ms += 1000;
  vms[1].kicks = POLICY_KICK_DESTROYED;
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.held_bytes, ==, 0);
  g_assert_cmpuint (fx->d.vms[0].plan_bytes, ==, 8 * GIB);
  g_assert_cmpstr (fx->d.vms[1].reason, ==, "kick:vm-destroyed");
}

/* ---- modes ------------------------------------------------------------- */

static void
test_modes (Fixture *fx, gconstpointer data)
{
  static const PolicyVmMode modes[] = { POLICY_VM_MODE_OBSERVE, POLICY_VM_MODE_OFF };
  for (size_t i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      PolicyVm vms[3] = {
        vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB), /* would inflate */
        vm_stats (2, 8 * GIB, 1 * GIB, 1 * GIB), /* would deflate */
        vm_stats (3, 8 * GIB, 8 * GIB, 1 * GIB), /* urgent */
      };
      vms[2].agent = (PolicyGuestAgent){ .present = true, .urgent = true };
      for (int k = 0; k < 3; k++)
        {
          vms[k].cfg.mode = modes[i];
          vms[k].cfg.target = (PolicySize){ .set = true, .bytes = 3 * GIB };
        }
      PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, vms, 3);
      fx_run (fx, &s);
      for (int k = 0; k < 3; k++)
        {
          g_assert_false (fx->d.vms[k].set_target);
          g_assert_true (fx->d.vms[k].held);
        }
      if (modes[i] == POLICY_VM_MODE_OBSERVE)
        g_assert_cmpuint (fx->d.vms[0].need_bytes, ==, 2 * GIB); /* measured */
    }
}

/* mode=fixed drives the balloon to its target whatever the guest says, once
 * per target, within [min, max], and a deflate waits for the host's room. */
static void
test_mode_fixed (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[4] = {
    vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB), /* inflated to 3 GiB */
    vm_stats (2, 8 * GIB, 1 * GIB, 1 * GIB), /* deflated to 3 GiB */
    vm_stats (3, 8 * GIB, 8 * GIB, 7 * GIB), /* urgent: still 3 GiB */
    vm_stats (4, 8 * GIB, 8 * GIB, 1 * GIB), /* target below min: min */
  };
  vms[2].agent = (PolicyGuestAgent){ .present = true, .urgent = true };
  for (int k = 0; k < 4; k++)
    {
      vms[k].cfg.mode = POLICY_VM_MODE_FIXED;
      vms[k].cfg.target = (PolicySize){ .set = true, .bytes = 3 * GIB };
    }
  vms[3].cfg.min = (PolicySize){ .set = true, .bytes = 4 * GIB };
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, vms, 4);
  fx_run (fx, &s);
  for (int k = 0; k < 4; k++)
    {
      g_assert_true (fx->d.vms[k].set_target);
      g_assert_true (fx->d.vms[k].held);
      g_assert_cmpstr (fx->d.vms[k].reason, ==, "mode:fixed");
      g_assert_cmpuint (fx->d.vms[k].target_bytes, ==, k == 3 ? 4 * GIB : 3 * GIB);
    }
  /* On its way: not sent again next tick... */
  for (int k = 0; k < 4; k++)
    vms[k].last_target_bytes = stat_of (fx->d.vms[k].target_bytes);
  s.now_ms += 1000;
  fx_run (fx, &s);
  for (int k = 0; k < 4; k++)
    g_assert_false (fx->d.vms[k].set_target);
  /* ... unless the controller dropped it (a dry-run plan, a failed command). */
  vms[0].last_target_bytes = (PolicyStat){ 0 };
  s.now_ms += 1000;
  fx_run (fx, &s);
  g_assert_true (fx->d.vms[0].set_target);
  vms[0].last_target_bytes = stat_of (3 * GIB);
  s.now_ms += 1000;
  fx_run (fx, &s);
  for (int k = 0; k < 4; k++)
    g_assert_false (fx->d.vms[k].set_target);
  /* ... and nothing to send once reached. */
  for (int k = 0; k < 4; k++)
    vms[k].actual_bytes = stat_of (fx->d.vms[k].target_bytes);
  s.now_ms += 60000;
  fx_run (fx, &s);
  for (int k = 0; k < 4; k++)
    g_assert_false (fx->d.vms[k].set_target);

  /* A deflate the host cannot cover now goes out only as far as it can. */
  PolicyVm low = vm_stats (5, 8 * GIB, 1 * GIB, 1 * GIB);
  low.cfg.mode = POLICY_VM_MODE_FIXED;
  low.cfg.target = (PolicySize){ .set = true, .bytes = 6 * GIB };
  PolicySnapshot tight = snap_host (1000, 16 * GIB, 1 * GIB, &low, 1);
  fx_run (fx, &tight);
  g_assert_cmpuint (fx->d.vms[0].target_bytes, <, 6 * GIB);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "host-room");
}

/* ---- KSM --------------------------------------------------------------- */

static void
test_ksm_boost_rate (Fixture *fx, gconstpointer data)
{
  PolicyVm vm = vm_stats (1, 4 * GIB, 4 * GIB, 1 * GIB);
  vm.kicks = POLICY_KICK_MEM_HOTPLUG;
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  fx_run (fx, &s);
  /* 1 Mi pages in 10 s = 104858 pages/s, under the 50 % cap at the 2 µs/page
   * prior (250,000 pages/s): 2098 pages per 20 ms. */
  const PolicyKsmDecision *k = &fx->d.ksm;
  g_assert_cmpint (k->state, ==, POLICY_KSM_BOOST);
  g_assert_true (k->set_run);
  g_assert_cmpuint (k->run, ==, 1);
  g_assert_cmpuint (k->pages_to_scan, ==, 2098);
  g_assert_true (k->set_pages_to_scan);
  g_assert_cmpuint (k->sleep_millisecs, ==, 20);
  g_assert_false (k->set_sleep_millisecs); /* already 20: only changes are written */
  g_assert_false (k->set_advisor);
  g_assert_true (isfinite (k->expected_cpu_pct) && k->expected_cpu_pct <= 50.0);

  /* Capped by the boost CPU budget: 10 % of a core at 2 µs = 50,000 pages/s. */
  PolicyCarry *carry = policy_carry_new ();
  vm.ram_bytes = 64 * GIB;
  vm.actual_bytes = stat_of (64 * GIB);
  fx->cfg.ksm_cpu_boost_pct = 10.0;
  fx_run_carry (fx, &s, carry);
  g_assert_cmpuint (fx->d.ksm.pages_to_scan, ==, 1000);
  policy_carry_free (carry);
}

static void
test_ksm_advisor_and_modes (Fixture *fx, gconstpointer data)
{
  PolicyVm vm = vm_stats (1, 4 * GIB, 4 * GIB, 1 * GIB);
  vm.kicks = POLICY_KICK_CREATED;
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  s.ksm.advisor_mode = POLICY_KSM_ADVISOR_SCAN_TIME;
  fx_run (fx, &s);
  g_assert_cmpint (fx->d.ksm.state, ==, POLICY_KSM_BOOST);
  g_assert_true (fx->d.ksm.set_advisor);
  g_assert_cmpuint (fx->d.ksm.advisor_target_scan_time_s, ==, 10);
  g_assert_cmpuint (fx->d.ksm.advisor_max_cpu_pct, ==, 50);
  g_assert_false (fx->d.ksm.set_pages_to_scan);

  static const PolicyKsmMode modes[] = { POLICY_KSM_MODE_OBSERVE, POLICY_KSM_MODE_OFF };
  for (size_t i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      PolicyCarry *carry = policy_carry_new ();
      fx->cfg.ksm_mode = modes[i];
      s.ksm.advisor_mode = POLICY_KSM_ADVISOR_ABSENT;
      fx_run_carry (fx, &s, carry);
      const PolicyKsmDecision *k = &fx->d.ksm;
      g_assert_false (k->set_run || k->set_pages_to_scan || k->set_sleep_millisecs
                      || k->set_advisor);
      if (modes[i] == POLICY_KSM_MODE_OBSERVE)
        {
          g_assert_cmpint (k->state, ==, POLICY_KSM_BOOST); /* decided, not written */
          g_assert_cmpuint (k->pages_to_scan, ==, 2098);
        }
      else
        {
          g_assert_cmpint (k->state, ==, POLICY_KSM_IDLE);
          g_assert_cmpstr (k->reason, ==, "ksm:off");
        }
      policy_carry_free (carry);
    }
}

/* boost -> steady -> settle -> idle on a modelled ksmd that merges 50 %
 * of the pages of the first scan and nothing after. */
static void
test_ksm_lifecycle (Fixture *fx, gconstpointer data)
{
  PolicyVm vm = vm_stats (1, 4 * GIB, 4 * GIB, 1 * GIB);
  vm.kicks = POLICY_KICK_STARTED;
  PolicySnapshot s = snap_host (0, 64 * GIB, 60 * GIB, &vm, 1);
  s.ksm.ksmd_cpu_ns = stat_of (0);
  uint64_t pages = 4 * GIB / 4096;
  PolicyKsmState seen[8];
  int n_seen = 0;
  PolicyKsmState last = (PolicyKsmState) -1;
  for (int t = 0; t < 600 && n_seen < 8; t++)
    {
      fx_run (fx, &s);
      const PolicyKsmDecision *k = &fx->d.ksm;
      if (k->state != last)
        seen[n_seen++] = last = k->state;
      vm.kicks = 0;
      /* ksmd follows the knobs it was given. */
      s.ksm.run = k->run;
      s.ksm.pages_to_scan = k->pages_to_scan;
      s.ksm.sleep_millisecs = k->sleep_millisecs;
      if (k->run)
        {
          uint64_t scanned = (uint64_t) k->pages_to_scan * (1000 / k->sleep_millisecs);
          uint64_t before = s.ksm.pages_scanned;
          s.ksm.pages_scanned += scanned;
          s.ksm.full_scans = s.ksm.pages_scanned / pages;
          if (before < pages)
            s.ksm.pages_sharing = MIN (s.ksm.pages_scanned, pages) / 2;
          s.ksm.ksmd_cpu_ns.value += scanned * 1000;
        }
      s.now_ms += 1000;
    }
  g_assert_cmpint (n_seen, >=, 4);
  g_assert_cmpint (seen[0], ==, POLICY_KSM_BOOST);
  g_assert_cmpint (seen[1], ==, POLICY_KSM_STEADY);
  g_assert_cmpint (seen[2], ==, POLICY_KSM_SETTLE);
  g_assert_cmpint (seen[3], ==, POLICY_KSM_IDLE);
  g_assert_cmpuint (fx->d.ksm.run, ==, 0);
  g_assert_cmpuint (fx->d.ksm.saved_bytes, ==, 2 * GIB);
}

/* Tight host: the cheaper lever goes first. */
static void
test_ksm_cheaper_lever (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 4 * GIB };
  /* MemAvailable 6 GiB < 2 reserves: tight, deficit 2 GiB. A guest with
   * 6 GiB of cold memory covers it: balloon first, KSM stays idle. */
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB);
  PolicySnapshot s = snap_host (1000, 64 * GIB, 6 * GIB, &vm, 1);
  fx_run (fx, &s);
  g_assert_true (fx->d.host_tight);
  g_assert_cmpint (fx->d.ksm.state, ==, POLICY_KSM_IDLE);
  g_assert_cmpstr (fx->d.ksm.reason, ==, "idle:balloon-first");
  /* A guest that uses all it has: nothing to balloon, so merge. */
  PolicyCarry *carry = policy_carry_new ();
  vm = vm_stats (1, 8 * GIB, 8 * GIB, 8 * GIB);
  fx_run_carry (fx, &s, carry);
  g_assert_cmpint (fx->d.ksm.state, ==, POLICY_KSM_BOOST);
  g_assert_cmpstr (fx->d.ksm.reason, ==, "boost:tight");
  policy_carry_free (carry);
}

/* The yield threshold falls as memory gets tight: a yield of 8 MiB per
 * ksmd CPU-second is not worth it on a roomy host, and is on a tight one. */
static void
test_ksm_yield_threshold (Fixture *fx, gconstpointer data)
{
  static const struct
  {
    uint64_t avail;
    const char *expect_reason;
    PolicyKsmState expect_state;
  } cases[] = {
    { 60 * GIB, "settle:low-yield", POLICY_KSM_SETTLE },
    { 4 * GIB, "boost:tight", POLICY_KSM_BOOST },
  };
  fx->cfg.host_reserve = (PolicySize){ .set = true, .bytes = 4 * GIB };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      PolicyCarry *carry = policy_carry_new ();
      carry->ksm = (PolicyKsmCarry){ .state = POLICY_KSM_STEADY,
                                     .yield_known = true,
                                     .yield = 0.01,
                                     .ns_per_page = 1000.0,
                                     .bytes_per_cpu_s = 8.0 * MIB };
      PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 8 * GIB); /* nothing to balloon */
      PolicySnapshot s = snap_host (1000, 64 * GIB, cases[i].avail, &vm, 1);
      fx_run_carry (fx, &s, carry);
      g_assert_cmpstr (fx->d.ksm.reason, ==, cases[i].expect_reason);
      g_assert_cmpint (fx->d.ksm.state, ==, cases[i].expect_state);
      policy_carry_free (carry);
    }
}

/* Every policy the table knows runs on an empty and a one-VM snapshot. */
static void
test_lookup_all (Fixture *fx, gconstpointer data)
{
  static const char *const names[] = { "ballast", "mom", "proxmox", "ksmtuned", "kata" };
  PolicyVm vm = vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB);
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      PolicyDecideFn fn = policy_lookup (names[i]);
      if (fn == NULL)
        {
          g_test_message ("%s: not built", names[i]);
          continue;
        }
      for (size_t n = 0; n < 2; n++)
        {
          PolicyCarry *carry = policy_carry_new ();
          PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, n);
          PolicyDecision d = { .vms = g_new0 (PolicyVmDecision, 1) };
          g_assert_cmpint (fn (&s, &fx->cfg, carry, &d), ==, 0);
          g_assert_cmpuint (d.n_vms, ==, n);
          g_free (d.vms);
          policy_carry_free (carry);
        }
    }
}

/* ---- carry, lookup, arguments ------------------------------------------ */

static void
test_carry (Fixture *fx, gconstpointer data)
{
  PolicyCarry *c = fx->carry;
  g_assert_true (policy_carry_begin_tick (c, 3, 0));
  for (uint64_t id = 1; id <= 3; id++)
    {
      bool is_new = false;
      PolicyVmCarry *v = policy_carry_vm (c, id * 1000003, &is_new);
      g_assert_nonnull (v);
      g_assert_true (is_new);
      v->ref_u64[0] = id;
    }
  policy_carry_end_tick (c);
  /* VM 2 disappears, VM 4 appears; 1 and 3 keep their state. */
  g_assert_true (policy_carry_begin_tick (c, 3, 1));
  g_assert_cmpuint (policy_carry_vm (c, 1 * 1000003, NULL)->ref_u64[0], ==, 1);
  g_assert_cmpuint (policy_carry_vm (c, 3 * 1000003, NULL)->ref_u64[0], ==, 3);
  bool is_new = false;
  g_assert_cmpuint (policy_carry_vm (c, 4 * 1000003, &is_new)->ref_u64[0], ==, 0);
  g_assert_true (is_new);
  policy_carry_end_tick (c);
  g_assert_null (policy_carry_vm_find (c, 2 * 1000003));
  g_assert_nonnull (policy_carry_vm_find (c, 3 * 1000003));
  /* Many VMs, then few: all found, then all but the few forgotten. */
  g_assert_true (policy_carry_begin_tick (c, 5000, 2));
  for (uint64_t id = 0; id < 5000; id++)
    policy_carry_vm (c, id, NULL)->ref_u64[1] = id + 7;
  policy_carry_end_tick (c);
  g_assert_true (policy_carry_begin_tick (c, 2, 3));
  g_assert_cmpuint (policy_carry_vm (c, 4999, NULL)->ref_u64[1], ==, 4999 + 7);
  g_assert_cmpuint (policy_carry_vm (c, 0, NULL)->ref_u64[1], ==, 7);
  policy_carry_end_tick (c);
  g_assert_null (policy_carry_vm_find (c, 17));
  g_assert_nonnull (policy_carry_scratch (c, 1 << 20));
  policy_carry_set_ref_state (c, g_malloc (16), g_free); /* freed by policy_carry_free */
}

static void
test_lookup_and_args (Fixture *fx, gconstpointer data)
{
  g_assert_true (policy_lookup ("ballast") == policy_decide);
  g_assert_null (policy_lookup ("nonesuch"));
  g_assert_null (policy_lookup (NULL));
  PolicySnapshot s = snap_host (0, GIB, GIB, NULL, 0);
  PolicyDecision d = { 0 };
  g_assert_cmpint (policy_decide (NULL, &fx->cfg, fx->carry, &d), ==, -1);
  g_assert_cmpint (policy_decide (&s, NULL, fx->carry, &d), ==, -1);
  g_assert_cmpint (policy_decide (&s, &fx->cfg, NULL, &d), ==, -1);
  g_assert_cmpint (policy_decide (&s, &fx->cfg, fx->carry, NULL), ==, -1);
  s.n_vms = 1; /* vms NULL */
  g_assert_cmpint (policy_decide (&s, &fx->cfg, fx->carry, &d), ==, -1);
  g_assert_cmpstr (policy_ksm_state_name (POLICY_KSM_SETTLE), ==, "settle");
  g_assert_cmpstr (policy_vm_mode_name (POLICY_VM_MODE_OBSERVE), ==, "observe");
  g_assert_cmpstr (policy_vm_mode_name ((PolicyVmMode) 99), ==, "unknown");
  /* limits: default min max(256 MiB, 25 %), capped by max; zero RAM is all zero. */
  PolicyVm vm = vm_stats (1, 512 * MIB, 0, 0);
  uint64_t lo, hi;
  policy_vm_limits (&vm, &lo, &hi);
  g_assert_cmpuint (lo, ==, 256 * MIB);
  g_assert_cmpuint (hi, ==, 512 * MIB);
  vm.ram_bytes = 0;
  policy_vm_limits (&vm, &lo, &hi);
  g_assert_cmpuint (lo, ==, 0);
  g_assert_cmpuint (hi, ==, 0);
}

/* ---- safety: missing data holds, memory is taken before it is given ---- */

/* /proc/meminfo unreadable: no budget is known, so no guest is shrunk (nor grown). */
static void
test_no_host_data (Fixture *fx, gconstpointer data)
{
  fx->cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyVm vms[2]
      = { vm_stats (1, 8 * GIB, 8 * GIB, 1 * GIB), vm_stats (2, 8 * GIB, 4 * GIB, 1 * GIB) };
  PolicySnapshot s = snap_host (1000, 0, 0, vms, 2);
  s.host.non_vm_used_bytes = (PolicyStat){ 0 };
  for (int tick = 0; tick < 5; tick++)
    {
      s.now_ms = 1000 + 1000 * (uint64_t) tick;
      fx_run (fx, &s);
      for (size_t i = 0; i < 2; i++)
        {
          g_assert_false (fx->d.vms[i].set_target);
          g_assert_cmpuint (fx->d.vms[i].target_bytes, >=, vms[i].actual_bytes.value);
        }
    }
}

/* A RAM size that never came: limits unknown, the VM is held, not ballooned to 64 MiB. */
static void
test_no_ram_size (Fixture *fx, gconstpointer data)
{
  PolicyVm vm = vm_stats (1, 0, 2 * GIB, 1 * GIB);
  PolicySnapshot s = snap_host (1000, 64 * GIB, 60 * GIB, &vm, 1);
  for (int tick = 0; tick < 5; tick++)
    {
      s.now_ms = 1000 + 1000 * (uint64_t) tick;
      fx_run (fx, &s);
      g_assert_false (fx->d.vms[0].set_target);
      g_assert_cmpuint (fx->d.vms[0].target_bytes, ==, 2 * GIB);
      g_assert_cmpstr (fx->d.vms[0].reason, ==, "no-ram:hold");
    }
}

/* A full host (MemAvailable below the reserve): one guest's deflate waits
 * for the memory another's inflate gives back, instead of both at once. */
static void
test_give_after_take (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[2];
  /* Below its low watermark: urgent, wants actual + headroom at once. */
  vms[0] = vm_stats (1, 8 * GIB, 3 * GIB, 3 * GIB - 100 * MIB);
  vms[0].last_target_bytes = stat_of (3 * GIB);
  /* Idle: will be inflated by a step. */
  vms[1] = vm_stats (2, 8 * GIB, 8 * GIB, 1 * GIB);
  /* 16 GiB host with 512 MiB available, under its reserve (819 MiB, 5 %). */
  PolicySnapshot s = snap_host (1000, 16 * GIB, 512 * MIB, vms, 2);
  fx_run (fx, &s);
  g_assert_cmpuint (fx->d.reserve_bytes, >, 512 * MIB);
  g_assert_false (fx->d.vms[0].set_target);
  g_assert_cmpstr (fx->d.vms[0].reason, ==, "host-room");
  /* The inflate goes out. */
  g_assert_true (fx->d.vms[1].set_target);
  g_assert_cmpuint (fx->d.vms[1].target_bytes, <, 8 * GIB);
  /* Next tick the inflate freed memory: room above the reserve. */
  uint64_t freed = 8 * GIB - fx->d.vms[1].target_bytes;
  vms[1].actual_bytes = stat_of (fx->d.vms[1].target_bytes);
  vms[1].last_target_bytes = stat_of (fx->d.vms[1].target_bytes);
  vms[1].stats.total_bytes = stat_of (fx->d.vms[1].target_bytes);
  s.host.mem_available_bytes = fx->d.reserve_bytes + freed;
  s.now_ms = 2000;
  fx_run (fx, &s);
  g_assert_true (fx->d.vms[0].set_target);
  g_assert_cmpuint (fx->d.vms[0].target_bytes, >, 3 * GIB);
  g_assert_cmpuint (fx->d.vms[0].target_bytes - 3 * GIB, <=, freed);
}

/* A guest that reports a small balloon while its QEMU holds more: a deflate
 * is charged from what the QEMU holds, so the liar cannot take the room. */
static void
test_give_counts_pss (Fixture *fx, gconstpointer data)
{
  PolicyVm vms[2];
  /* Liar: says 1 GiB, its QEMU's PSS is 4 GiB; below its watermark (urgent). */
  vms[0] = vm_stats (1, 8 * GIB, 1 * GIB, 1 * GIB - 10 * MIB);
  vms[0].last_target_bytes = stat_of (1 * GIB);
  vms[0].pss_bytes = stat_of (4 * GIB);
  /* Honest and urgent too. 256 MiB of room above the reserve to share. */
  vms[1] = vm_stats (2, 8 * GIB, 2 * GIB, 2 * GIB - 10 * MIB);
  vms[1].last_target_bytes = stat_of (2 * GIB);
  PolicySnapshot s = snap_host (1000, 16 * GIB, 0, vms, 2);
  fx_run (fx, &s);
  s.host.mem_available_bytes = fx->d.reserve_bytes + 256 * MIB;
  s.now_ms = 2000;
  fx_run (fx, &s);
  uint64_t given = 0;
  for (size_t i = 0; i < 2; i++)
    {
      uint64_t held
          = MAX (vms[i].actual_bytes.value, vms[i].pss_bytes.present ? vms[i].pss_bytes.value : 0);
      if (fx->d.vms[i].set_target && fx->d.vms[i].target_bytes > held)
        given += fx->d.vms[i].target_bytes - held;
    }
  g_assert_cmpuint (given, <=, 256 * MIB);
  g_assert_true (fx->d.vms[1].set_target);
  g_assert_cmpuint (fx->d.vms[1].target_bytes, >, 2 * GIB);
}

/* One second of a ksmd that follows the knobs: scans pages_to_scan per
 * wake-up over `pages` mergeable pages at 1 µs a page, and merges
 * `merge_pages` more (its share of what is new). */
static void
ksmd_second (PolicySnapshot *s, const PolicyKsmDecision *k, uint64_t pages, uint64_t merge_pages)
{
  s->ksm.run = k->run;
  s->ksm.pages_to_scan = k->pages_to_scan;
  s->ksm.sleep_millisecs = k->sleep_millisecs;
  if (k->run && k->sleep_millisecs > 0)
    {
      uint64_t scanned = (uint64_t) k->pages_to_scan * (1000 / k->sleep_millisecs);
      s->ksm.pages_scanned += scanned;
      s->ksm.full_scans = s->ksm.pages_scanned / pages;
      s->ksm.pages_sharing += merge_pages;
      s->ksm.ksmd_cpu_ns.value += scanned * 1000;
    }
  s->now_ms += 1000;
}

/* Safety: a guest resetting every 2 s with nothing new to merge. Boosts are
 * never restarted or extended by its kicks (each lasts boost-scan-time and
 * a scan, so starts are at least boost-scan-time apart), and a guest whose
 * resets do bring pages to merge still cannot hold one boost beyond its
 * hard end (KSM_BOOST_MAX_FACTOR in ksm.c: 12 boost-scan-times from its
 * start). */
#define KSM_BOOST_HARD_END_FACTOR 12u
static void
test_ksm_kick_never_restarts (Fixture *fx, gconstpointer data)
{
  uint64_t boost_ms = POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS;
  uint64_t pages = 4 * GIB / 4096;
  for (int merging = 0; merging <= 1; merging++)
    {
      PolicyCarry *carry = policy_carry_new ();
      PolicyVm vm = vm_stats (1, 4 * GIB, 4 * GIB, 1 * GIB);
      /* Its QEMU's size known and holding still: the growth test of a calm
       * scan (ksm/boost-outlasts-growth) must not lengthen these boosts. */
      vm.rss_bytes = stat_of (1 * GIB);
      PolicySnapshot s = snap_host (0, 64 * GIB, 60 * GIB, &vm, 1);
      s.ksm.ksmd_cpu_ns = stat_of (0);
      guint kick_boosts = 0;
      uint64_t boost_since = 0, longest_ms = 0;
      for (uint64_t t = 0; t < 2 * KSM_BOOST_HARD_END_FACTOR * boost_ms / 1000; t++)
        {
          vm.kicks = t % 2 == 0 ? POLICY_KICK_STARTED : 0;
          fx_run_carry (fx, &s, carry);
          const PolicyKsmDecision *k = &fx->d.ksm;
          if (g_str_equal (k->reason, "boost:kick"))
            {
              kick_boosts++;
              g_assert_true (kick_boosts == 1 || s.now_ms - boost_since >= boost_ms);
              boost_since = s.now_ms;
            }
          if (k->state == POLICY_KSM_BOOST)
            longest_ms = MAX (longest_ms, s.now_ms - boost_since);
          ksmd_second (&s, k, pages, merging ? 4096 : 0);
        }
      g_assert_cmpuint (kick_boosts, >=, 1);
      if (!merging)
        {
          /* At most one kick-boost per boost length, not one per kick;
           * each ends at its second calm full scan (one per boost-scan-time
           * here) after boost-scan-time. */
          g_assert_cmpuint (kick_boosts, <=, 2 * KSM_BOOST_HARD_END_FACTOR);
          g_assert_cmpuint (longest_ms, <=, 2 * boost_ms + 2000);
        }
      else
        {
          /* Extended by the kicks while it merges, but not past its hard end. */
          g_assert_cmpuint (longest_ms, >, 2 * boost_ms + 2000);
          g_assert_cmpuint (longest_ms, <, KSM_BOOST_HARD_END_FACTOR * boost_ms);
        }
      policy_carry_free (carry);
    }
}

/* Guests started 20 s apart, each with pages that become mergeable some
 * seconds after its start kick: a kick during a boost that is merging
 * extends it (boost-scan-time after the kick, then until a full scan merged
 * next to nothing), so the last guest's pages are merged while boosted
 * rather than left to a slow settle. */
static void
test_ksm_kick_extends_merging_boost (Fixture *fx, gconstpointer data)
{
  uint64_t boost_ms = POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS;
  uint64_t pages = 2 * GIB / 4096;
  PolicyVm vm = vm_stats (1, 2 * GIB, 2 * GIB, 1 * GIB);
  PolicySnapshot s = snap_host (0, 64 * GIB, 60 * GIB, &vm, 1);
  s.ksm.ksmd_cpu_ns = stat_of (0);
  guint extends = 0;
  for (uint64_t t = 0; t <= 80; t++)
    {
      /* Starts at 0, 20, 40, 60 s; merging goes on until 75 s. */
      vm.kicks = t % 20 == 0 && t <= 60 ? POLICY_KICK_STARTED : 0;
      fx_run (fx, &s);
      const PolicyKsmDecision *k = &fx->d.ksm;
      if (g_str_equal (k->reason, "boost:kick-extend"))
        extends++;
      if (t == 60 + boost_ms / 1000 - 1)
        g_assert_cmpint (k->state, ==, POLICY_KSM_BOOST);
      ksmd_second (&s, k, pages, t < 75 ? 4096 : 0);
    }
  g_assert_cmpuint (extends, ==, 3);
  /* Merging stopped: the boost ended once a full scan found nothing new. */
  for (int t = 0; t < 6 * (int) boost_ms / 1000 && fx->d.ksm.state == POLICY_KSM_BOOST; t++)
    {
      fx_run (fx, &s);
      ksmd_second (&s, &fx->d.ksm, pages, 0);
    }
  g_assert_cmpint (fx->d.ksm.state, !=, POLICY_KSM_BOOST);
}

/* A guest whose balloon jumps up by 512 MiB every 20 s (its own bursts):
 * with ksmd merging nothing, the first boost measures a worthless yield and
 * later deflates start no boost; while merging pays, they still do. */
static void
test_ksm_deflate_kick_needs_yield (Fixture *fx, gconstpointer data)
{
  uint64_t pages = 4 * GIB / 4096;
  for (int merging = 0; merging <= 1; merging++)
    {
      PolicyCarry *carry = policy_carry_new ();
      PolicySnapshot s = snap_host (0, 64 * GIB, 60 * GIB, NULL, 0);
      s.ksm.ksmd_cpu_ns = stat_of (0);
      guint boosts = 0;
      for (uint64_t t = 0; t < 200; t++)
        {
          uint64_t actual = t % 20 == 10 ? 2 * GIB + 512 * MIB : 2 * GIB;
          PolicyVm vm = vm_stats (1, 4 * GIB, actual, 1 * GIB);
          vm.last_target_bytes = stat_of (actual);
          s.vms = &vm;
          s.n_vms = 1;
          fx_run_carry (fx, &s, carry);
          if (g_str_equal (fx->d.ksm.reason, "boost:kick"))
            boosts++;
          ksmd_second (&s, &fx->d.ksm, pages, merging ? 4096 : 0);
        }
      g_test_message ("merging %d: %u boosts from 10 deflates", merging, boosts);
      if (merging)
        g_assert_cmpuint (boosts, >=, 2);
      else
        g_assert_cmpuint (boosts, <=, 1);
      policy_carry_free (carry);
    }
}

/* What the guests do after a start kick: VM 1's QEMU grows by
 * grow_bytes_per_s from 5 s to grow_to_s, VM 2's shrinks as fast (its
 * balloon inflating) or holds still, and ksmd merges 4096 pages a second
 * from merge_from_s to merge_to_s. */
typedef struct
{
  uint64_t grow_bytes_per_s, grow_to_s;
  bool other_shrinks;
  uint64_t merge_from_s, merge_to_s;
} GrowthCase;

/* When the boost that the kick began ends (0: not within 200 s). */
static uint64_t
growth_boost_end_s (Fixture *fx, const GrowthCase *gc)
{
  const uint64_t grow_from_s = 5;
  uint64_t pages = 8 * GIB / 4096;
  PolicyCarry *carry = policy_carry_new ();
  PolicyVm vms[2]
      = { vm_stats (1, 4 * GIB, 4 * GIB, 1 * GIB), vm_stats (2, 4 * GIB, 4 * GIB, 1 * GIB) };
  PolicySnapshot s = snap_host (0, 64 * GIB, 60 * GIB, vms, 2);
  s.ksm.ksmd_cpu_ns = stat_of (0);
  uint64_t end_s = 0;
  for (uint64_t t = 0; t < 200 && end_s == 0; t++)
    {
      vms[0].kicks = t == 0 ? POLICY_KICK_STARTED : 0;
      uint64_t moved_bytes
          = (t < grow_from_s ? 0 : MIN (t, gc->grow_to_s) - grow_from_s) * gc->grow_bytes_per_s;
      vms[0].rss_bytes = stat_of (256 * MIB + moved_bytes);
      vms[1].rss_bytes = stat_of (3 * GIB - (gc->other_shrinks ? moved_bytes : 0));
      fx_run_carry (fx, &s, carry);
      if (t == 0)
        g_assert_cmpstr (fx->d.ksm.reason, ==, "boost:kick");
      else if (fx->d.ksm.state != POLICY_KSM_BOOST)
        end_s = t;
      bool merging = t >= gc->merge_from_s && t < gc->merge_to_s;
      ksmd_second (&s, &fx->d.ksm, pages, merging ? 4096 : 0);
    }
  policy_carry_free (carry);
  g_test_message ("growth %" G_GUINT64_FORMAT " MiB/s until %" G_GUINT64_FORMAT
                  " s%s, merging %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT
                  " s: boost ends at %" G_GUINT64_FORMAT " s",
                  (guint64) (gc->grow_bytes_per_s / MIB), gc->grow_to_s,
                  gc->other_shrinks ? ", the other VM shrinking" : "", gc->merge_from_s,
                  gc->merge_to_s, end_s);
  return end_s;
}

/* A guest's pages appear 5-25 s after its start kick (its QEMU grows),
 * after the boost's first full scan: full scans while the KSM VMs' QEMUs
 * grow by 1 % of their size (8 GiB here: 82 MiB a 10 s scan) are not calm,
 * so the boost lasts until a full scan after the growth stopped, and no
 * longer; another VM shrinking meanwhile hides nothing; growth under 1 %
 * holds nothing; growth that never stops holds it to its hard end. */
static void
test_ksm_boost_outlasts_growth (Fixture *fx, gconstpointer data)
{
  const uint64_t scan_s = POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS / 1000;
  const uint64_t grow_to_s = 25;
  for (int shrinks = 0; shrinks <= 1; shrinks++)
    {
      uint64_t end_s = growth_boost_end_s (fx, &(GrowthCase){ .grow_bytes_per_s = 64 * MIB,
                                                              .grow_to_s = grow_to_s,
                                                              .other_shrinks = shrinks });
      g_assert_cmpuint (end_s, >, grow_to_s);
      g_assert_cmpuint (end_s, <=, grow_to_s + 3 * scan_s + 2);
    }
  g_assert_cmpuint (
      growth_boost_end_s (fx, &(GrowthCase){ .grow_bytes_per_s = 4 * MIB, .grow_to_s = grow_to_s }),
      <=, 2 * scan_s + 2);
  uint64_t endless_s
      = growth_boost_end_s (fx, &(GrowthCase){ .grow_bytes_per_s = 32 * MIB, .grow_to_s = 1000 });
  g_assert_cmpuint (endless_s, >=, KSM_BOOST_HARD_END_FACTOR * scan_s);
  g_assert_cmpuint (endless_s, <=, KSM_BOOST_HARD_END_FACTOR * scan_s + 2);
}

/* A guest writes its pages 5-15 s after its start kick, then rewrites them
 * until 30 s (each write breaks a merge: nothing grows, nothing stays
 * merged), then leaves them to merge from 30 to 40 s. The boost's scan from
 * 20 to 30 s is calm; the boost must still be on when they merge, and end
 * after the merging. */
static void
test_ksm_boost_outlasts_rewrite (Fixture *fx, gconstpointer data)
{
  const uint64_t scan_s = POLICY_DEFAULT_KSM_BOOST_SCAN_TIME_MS / 1000;
  const uint64_t merge_to_s = 40;
  uint64_t end_s = growth_boost_end_s (fx, &(GrowthCase){ .grow_bytes_per_s = 64 * MIB,
                                                          .grow_to_s = 15,
                                                          .merge_from_s = 30,
                                                          .merge_to_s = merge_to_s });
  g_assert_cmpuint (end_s, >, merge_to_s);
  g_assert_cmpuint (end_s, <=, merge_to_s + 3 * scan_s + 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/policy/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
  ADD ("need/source", test_need);
  ADD ("need/clamp", test_need_clamp);
  ADD ("need/no-data", test_no_data);
  ADD ("need/abs-floor", test_abs_floor);
  ADD ("thrash/psi-total", test_thrash_psi_total);
  ADD ("thrash/refaults", test_thrash_refaults);
  ADD ("budget", test_budget);
  ADD ("alloc/balanced", test_alloc_balanced);
  ADD ("alloc/density", test_alloc_density);
  ADD ("alloc/overloaded", test_alloc_overloaded);
  ADD ("shaping/table", test_shaping);
  ADD ("shaping/ksm-discount", test_shaping_ksm_discount);
  ADD ("urgent", test_urgent);
  ADD ("urgent/shortfall", test_urgent_shortfall);
  ADD ("urgent/stalled", test_urgent_stalled);
  ADD ("refill/bound", test_refill_bound);
  ADD ("reclaim/cold-cache", test_reclaim);
  ADD ("demand-floor", test_demand_floor);
  ADD ("doo-agentless", test_doo_agentless);
  ADD ("burst-floor", test_burst_floor);
  ADD ("burst-floor-kernel", test_burst_floor_kernel);
  ADD ("boot-grace", test_boot_grace);
  ADD ("kicks", test_kicks);
  ADD ("modes", test_modes);
  ADD ("mode-fixed", test_mode_fixed);
  ADD ("ksm/boost-rate", test_ksm_boost_rate);
  ADD ("ksm/advisor-and-modes", test_ksm_advisor_and_modes);
  ADD ("ksm/lifecycle", test_ksm_lifecycle);
  ADD ("ksm/cheaper-lever", test_ksm_cheaper_lever);
  ADD ("ksm/yield-threshold", test_ksm_yield_threshold);
  ADD ("lookup-all", test_lookup_all);
  ADD ("carry", test_carry);
  ADD ("lookup-and-args", test_lookup_and_args);
  ADD ("safety/no-host-data", test_no_host_data);
  ADD ("safety/no-ram-size", test_no_ram_size);
  ADD ("safety/give-after-take", test_give_after_take);
  ADD ("safety/give-counts-pss", test_give_counts_pss);
  ADD ("safety/ksm-kick-never-restarts", test_ksm_kick_never_restarts);
  ADD ("ksm/boost-outlasts-growth", test_ksm_boost_outlasts_growth);
  ADD ("ksm/boost-outlasts-rewrite", test_ksm_boost_outlasts_rewrite);
  ADD ("ksm/kick-extends-merging-boost", test_ksm_kick_extends_merging_boost);
  ADD ("ksm/deflate-kick-needs-yield", test_ksm_deflate_kick_needs_yield);
  return g_test_run ();
}
