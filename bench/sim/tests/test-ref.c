/* test-ref.c: the reference policies reproduce their published behaviour on
 * hand-computed cases (MoM 5 % steps every 10 s, Proxmox ±100 MiB, ksmtuned, Kata phases). */
#include <glib.h>
#include <string.h>

#include "policy.h"

#define MIB POLICY_MIB
#define GIB POLICY_GIB

typedef struct
{
  PolicyConfig cfg;
  PolicySnapshot snap;
  PolicyVm vms[4];
  PolicyVmDecision dvms[4];
  PolicyDecision dec;
  PolicyCarry *carry;
} Fx;

static void
fx_init (Fx *fx, uint64_t host_total, uint64_t host_avail, size_t n_vms)
{
  memset (fx, 0, sizeof *fx);
  policy_config_defaults (&fx->cfg);
  fx->snap.host.mem_total_bytes = host_total;
  fx->snap.host.mem_available_bytes = host_avail;
  fx->snap.host.mem_free_bytes = host_avail;
  fx->snap.ksm.present = true;
  fx->snap.ksm.page_size_bytes = 4096;
  fx->snap.ksm.pages_to_scan = 100;
  fx->snap.ksm.sleep_millisecs = 20;
  fx->snap.n_vms = n_vms;
  fx->snap.vms = fx->vms;
  fx->dec.vms = fx->dvms;
  for (size_t i = 0; i < n_vms; i++)
    {
      PolicyVm *vm = &fx->vms[i];
      vm->id = i + 1;
      vm->name = "vm";
      policy_vm_config_defaults (&vm->cfg);
      vm->cfg.min = (PolicySize){ .set = true, .bytes = 256 * MIB };
      vm->ram_bytes = 4 * GIB;
      vm->actual_bytes = (PolicyStat){ true, 4 * GIB };
    }
  fx->carry = policy_carry_new ();
}

static void
fx_stats (Fx *fx, size_t i, uint64_t free_b)
{
  PolicyVm *vm = &fx->vms[i];
  vm->stats.total_bytes = (PolicyStat){ true, vm->actual_bytes.value };
  vm->stats.free_bytes = (PolicyStat){ true, free_b };
  vm->stats.available_bytes = (PolicyStat){ true, free_b };
}

/* What the daemon does between ticks: the issued target becomes the last
 * target, the balloon reaches it, KSM knobs are written. */
static void
fx_apply (Fx *fx)
{
  for (size_t i = 0; i < fx->snap.n_vms; i++)
    if (fx->dvms[i].set_target)
      {
        fx->vms[i].last_target_bytes = (PolicyStat){ true, fx->dvms[i].target_bytes };
        uint64_t used = fx->vms[i].stats.total_bytes.value - fx->vms[i].stats.free_bytes.value;
        fx->vms[i].actual_bytes.value = fx->dvms[i].target_bytes;
        fx->vms[i].stats.total_bytes.value = fx->dvms[i].target_bytes;
        fx->vms[i].stats.free_bytes.value = fx->dvms[i].target_bytes - used;
      }
  const PolicyKsmDecision *k = &fx->dec.ksm;
  if (k->set_run)
    fx->snap.ksm.run = k->run;
  if (k->set_pages_to_scan)
    fx->snap.ksm.pages_to_scan = k->pages_to_scan;
  if (k->set_sleep_millisecs)
    fx->snap.ksm.sleep_millisecs = k->sleep_millisecs;
}

static void
fx_run (Fx *fx, PolicyDecideFn fn, uint64_t now_ms)
{
  fx->snap.now_ms = now_ms;
  g_assert_cmpint (fn (&fx->snap, &fx->cfg, fx->carry, &fx->dec), ==, 0);
  g_assert_cmpuint (fx->dec.n_vms, ==, fx->snap.n_vms);
}

static void
fx_clear (Fx *fx)
{
  policy_carry_free (fx->carry);
}

static void
test_lookup (void)
{
  g_assert_true (policy_lookup ("mom") == policy_mom_decide);
  g_assert_true (policy_lookup ("proxmox") == policy_proxmox_decide);
  g_assert_true (policy_lookup ("ksmtuned") == policy_ksmtuned_decide);
  g_assert_true (policy_lookup ("kata") == policy_kata_decide);
  PolicyConfig c;
  policy_config_defaults (&c);
  PolicySnapshot s = { 0 };
  PolicyDecision d = { 0 };
  g_assert_cmpint (policy_mom_decide (NULL, &c, NULL, &d), ==, -1);
  g_assert_cmpint (policy_proxmox_decide (&s, NULL, NULL, &d), ==, -1);
  g_assert_cmpint (policy_kata_decide (&s, &c, NULL, &d), ==, -1);
}

/* Host free 12.5 % (< 20 %): every guest shrinks by exactly 5 % per step,
 * and only every 10 s. */
static void
test_mom_shrink_5pct_every_10s (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 2 * GIB, 1);
  fx_stats (&fx, 0, 2 * GIB); /* used 2 GiB: floor 2 + 0.8 GiB, far below */
  fx_run (&fx, policy_mom_decide, 0);
  uint64_t want = 4 * GIB * 95 / 100;
  g_assert_true (fx.dvms[0].set_target);
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==, want);
  g_assert_cmpstr (fx.dvms[0].reason, ==, "mom:shrink");
  fx_apply (&fx);
  for (uint64_t t = 1000; t < 10000; t += 1000)
    {
      fx_run (&fx, policy_mom_decide, t);
      g_assert_false (fx.dvms[0].set_target);
      g_assert_cmpuint (fx.dvms[0].target_bytes, ==, want);
    }
  fx_run (&fx, policy_mom_decide, 10000);
  g_assert_true (fx.dvms[0].set_target);
  /* 5 % of the current size, integer bytes: cur * 95 / 100 rounded down. */
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==, (uint64_t) ((unsigned __int128) want * 95 / 100));
  fx_clear (&fx);
}

/* Under pressure the guest keeps 20 % of its size free: used 3.1 GiB of
 * 4 GiB stops the shrink at 3.1 GiB + 20 % × 4 GiB instead of 3.8 GiB. */
static void
test_mom_guest_free_floor (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 2 * GIB, 1);
  uint64_t used = 3 * GIB + 100 * MIB;
  fx_stats (&fx, 0, 4 * GIB - used);
  fx_run (&fx, policy_mom_decide, 0);
  g_assert_true (fx.dvms[0].set_target);
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==, used + 4 * GIB / 5);
  g_assert_cmpstr (fx.dvms[0].reason, ==, "mom:guest-free-floor");
  fx_clear (&fx);
}

/* Host not under pressure: grow by 5 % toward the maximum. */
static void
test_mom_grow (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 8 * GIB, 1);
  fx.vms[0].actual_bytes.value = 2 * GIB;
  fx_stats (&fx, 0, 1536 * MIB);
  fx_run (&fx, policy_mom_decide, 0);
  g_assert_true (fx.dvms[0].set_target);
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==,
                    (uint64_t) ((unsigned __int128) 2 * GIB * 105 / 100));
  g_assert_cmpstr (fx.dvms[0].reason, ==, "mom:grow");
  /* Already at its maximum: nothing to do. */
  fx.vms[0].actual_bytes.value = 4 * GIB;
  fx_stats (&fx, 0, 3 * GIB);
  fx_run (&fx, policy_mom_decide, 10000);
  g_assert_false (fx.dvms[0].set_target);
  fx_clear (&fx);
}

/* A change below 0.25 % of the size is not issued; no stats, no action. */
static void
test_mom_deadband_and_no_stats (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 2 * GIB, 2);
  /* floor = used + 0.8 GiB = 4 GiB - 1 MiB: a 1 MiB change (< 10.24 MiB). */
  uint64_t used = 4 * GIB - 1 * MIB - 4 * GIB / 5;
  fx_stats (&fx, 0, 4 * GIB - used);
  fx_run (&fx, policy_mom_decide, 0);
  g_assert_false (fx.dvms[0].set_target);
  g_assert_cmpstr (fx.dvms[0].reason, ==, "mom:deadband");
  g_assert_false (fx.dvms[1].set_target);
  g_assert_cmpstr (fx.dvms[1].reason, ==, "mom:no-stats");
  fx_clear (&fx);
}

/* ksm.rules / ksmtuned: +300 while free < 20 %, clamped to 1250; -50 when
 * free but committed near total, floored at 64; stop when plenty. */
static void
test_ksm_boost_decay_clamp (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 2 * GIB, 1);
  fx.vms[0].pss_bytes = (PolicyStat){ true, 14 * GIB };
  static const uint32_t boost[] = { 400, 700, 1000, 1250, 1250 };
  for (size_t i = 0; i < G_N_ELEMENTS (boost); i++)
    {
      fx_run (&fx, policy_ksmtuned_decide, i * 60000);
      g_assert_cmpuint (fx.dec.ksm.run, ==, 1);
      g_assert_cmpuint (fx.dec.ksm.pages_to_scan, ==, boost[i]);
      /* 10 ms x 16 GiB / 16 GiB */
      g_assert_cmpuint (fx.dec.ksm.sleep_millisecs, ==, 10);
      fx_apply (&fx);
      /* In between, ksmtuned sleeps (60 s). */
      fx_run (&fx, policy_ksmtuned_decide, i * 60000 + 30000);
      g_assert_false (fx.dec.ksm.set_pages_to_scan || fx.dec.ksm.set_run);
    }
  /* Free 25 % but committed + threshold > total: decay by 50 down to 64. */
  fx.snap.host.mem_available_bytes = 4 * GIB;
  uint32_t expect = 1250;
  for (int i = 0; i < 30; i++)
    {
      fx_run (&fx, policy_ksmtuned_decide, 600000 + i * 60000);
      expect = expect - 50 < 64 ? 64 : expect - 50;
      g_assert_cmpuint (fx.dec.ksm.pages_to_scan, ==, expect);
      fx_apply (&fx);
    }
  g_assert_cmpuint (expect, ==, 64);
  /* Plenty: committed 4 GiB + threshold 3.2 GiB < 16 GiB and free > 3.2 GiB. */
  fx.vms[0].pss_bytes.value = 4 * GIB;
  fx.snap.host.mem_available_bytes = 10 * GIB;
  fx_run (&fx, policy_ksmtuned_decide, 3000000);
  g_assert_true (fx.dec.ksm.set_run);
  g_assert_cmpuint (fx.dec.ksm.run, ==, 0);
  fx_clear (&fx);

  /* MoM's ksm.rules: the same step, every 10 s, sleep 10 ms x 16 GiB / RAM. */
  fx_init (&fx, 8 * GIB, 1 * GIB, 1);
  fx.vms[0].pss_bytes = (PolicyStat){ true, 7 * GIB };
  fx_run (&fx, policy_mom_decide, 0);
  g_assert_cmpuint (fx.dec.ksm.pages_to_scan, ==, 400);
  g_assert_cmpuint (fx.dec.ksm.sleep_millisecs, ==, 20);
  fx_apply (&fx);
  fx_run (&fx, policy_mom_decide, 9999);
  g_assert_false (fx.dec.ksm.set_pages_to_scan);
  fx_run (&fx, policy_mom_decide, 10000);
  g_assert_cmpuint (fx.dec.ksm.pages_to_scan, ==, 700);
  fx_clear (&fx);
}

/* Proxmox: host at 50 % grows each VM by at most 100 MiB per 10 s round. */
static void
test_proxmox_grow_100mib (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 8 * GIB, 2);
  fx.vms[0].actual_bytes.value = 1 * GIB;
  fx.vms[1].actual_bytes.value = 4 * GIB - 30 * MIB;
  fx_run (&fx, policy_proxmox_decide, 0);
  g_assert_true (fx.dvms[0].set_target);
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==, 1 * GIB + 100 * MIB);
  g_assert_true (fx.dvms[1].set_target);
  g_assert_cmpuint (fx.dvms[1].target_bytes, ==, 4 * GIB);
  fx_apply (&fx);
  fx_run (&fx, policy_proxmox_decide, 5000);
  g_assert_false (fx.dvms[0].set_target);
  fx_run (&fx, policy_proxmox_decide, 10000);
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==, 1 * GIB + 200 * MIB);
  fx_clear (&fx);
}

/* Proxmox: above 80 % used, the shrink is water-filled by shares (the VM
 * with the most memory per share gives first) and capped at 100 MiB. */
static void
test_proxmox_shrink_waterfill (void)
{
  Fx fx;
  /* used = 80 % + 200 MiB: goal -200 MiB. */
  uint64_t total = 16 * GIB;
  uint64_t used = total / 100 * 80 + 200 * MIB;
  fx_init (&fx, total, total - used, 2);
  fx.vms[1].actual_bytes.value = 2 * GIB;
  fx_run (&fx, policy_proxmox_decide, 0);
  /* Level: (6 GiB - 200 MiB) / 2 > 2 GiB, so vm 2 keeps its 2 GiB and vm 1
   * alone gives 200 MiB, of which 100 MiB this round. */
  g_assert_true (fx.dvms[0].set_target);
  g_assert_cmpuint (fx.dvms[0].target_bytes, ==, 4 * GIB - 100 * MIB);
  g_assert_false (fx.dvms[1].set_target);
  /* Far above target: both shrink, each by exactly 100 MiB. */
  fx_clear (&fx);
  fx_init (&fx, total, total / 10, 2);
  fx_run (&fx, policy_proxmox_decide, 0);
  for (int i = 0; i < 2; i++)
    g_assert_cmpuint (fx.dvms[i].target_bytes, ==, 4 * GIB - 100 * MIB);
  fx_clear (&fx);
}

/* Kata: kick -> AnonPages/10 per 1 ms for 30 s -> /100 per 10 ms for 120 s
 * -> /500 per 100 ms for 120 s -> the values from before the kick. */
static void
test_kata_phases (void)
{
  Fx fx;
  fx_init (&fx, 64 * GIB, 32 * GIB, 1);
  fx.vms[0].pss_bytes = (PolicyStat){ true, 4 * GIB };
  const uint64_t anon = 4 * GIB / 4096;
  fx_run (&fx, policy_kata_decide, 0);
  g_assert_false (fx.dec.ksm.set_run || fx.dec.ksm.set_pages_to_scan);
  fx.vms[0].kicks = POLICY_KICK_STARTED;
  fx_run (&fx, policy_kata_decide, 1000);
  fx.vms[0].kicks = 0;
  static const struct
  {
    uint64_t t_ms;
    uint32_t run, pages, sleep_ms;
  } steps[] = {
    { 1000, 1, anon / 10, 1 },     { 30999, 1, anon / 10, 1 },     { 31000, 1, anon / 100, 10 },
    { 150999, 1, anon / 100, 10 }, { 151000, 1, anon / 500, 100 }, { 270999, 1, anon / 500, 100 },
    { 271000, 0, 100, 20 },        { 400000, 0, 100, 20 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      if (i > 0)
        fx_run (&fx, policy_kata_decide, steps[i].t_ms);
      g_assert_cmpuint (fx.dec.ksm.run, ==, steps[i].run);
      g_assert_cmpuint (fx.dec.ksm.pages_to_scan, ==, steps[i].pages);
      g_assert_cmpuint (fx.dec.ksm.sleep_millisecs, ==, steps[i].sleep_ms);
      fx_apply (&fx);
    }
  /* A kick during a throttle restarts it; the restore still brings back the
   * values from before the first kick. */
  fx.vms[0].kicks = POLICY_KICK_STARTED;
  fx_run (&fx, policy_kata_decide, 500000);
  fx_apply (&fx);
  fx_run (&fx, policy_kata_decide, 540000); /* standard */
  fx_apply (&fx);
  fx_run (&fx, policy_kata_decide, 541000); /* kick again */
  fx.vms[0].kicks = 0;
  g_assert_cmpuint (fx.dec.ksm.sleep_millisecs, ==, 1);
  fx_apply (&fx);
  fx_run (&fx, policy_kata_decide, 541000 + 270000);
  g_assert_cmpuint (fx.dec.ksm.run, ==, 0);
  g_assert_cmpuint (fx.dec.ksm.pages_to_scan, ==, 100);
  g_assert_cmpuint (fx.dec.ksm.sleep_millisecs, ==, 20);
  fx_clear (&fx);
}

/* Balloon-only policies leave KSM alone; KSM-only ones issue no targets. */
static void
test_roles (void)
{
  Fx fx;
  fx_init (&fx, 16 * GIB, 1 * GIB, 1);
  fx_stats (&fx, 0, 3 * GIB);
  fx_run (&fx, policy_proxmox_decide, 0);
  g_assert_false (fx.dec.ksm.set_run || fx.dec.ksm.set_pages_to_scan
                  || fx.dec.ksm.set_sleep_millisecs);
  fx_clear (&fx);
  PolicyDecideFn ksm_only[] = { policy_ksmtuned_decide, policy_kata_decide };
  for (size_t i = 0; i < G_N_ELEMENTS (ksm_only); i++)
    {
      fx_init (&fx, 16 * GIB, 1 * GIB, 1);
      fx_stats (&fx, 0, 3 * GIB);
      fx.vms[0].kicks = POLICY_KICK_STARTED;
      fx_run (&fx, ksm_only[i], 0);
      g_assert_false (fx.dvms[0].set_target);
      fx_clear (&fx);
    }
  /* fixed/observe/off VMs are never steered. */
  fx_init (&fx, 16 * GIB, 1 * GIB, 1);
  fx_stats (&fx, 0, 3 * GIB);
  fx.vms[0].cfg.mode = POLICY_VM_MODE_OBSERVE;
  fx_run (&fx, policy_mom_decide, 0);
  g_assert_false (fx.dvms[0].set_target);
  fx_run (&fx, policy_proxmox_decide, 20000);
  g_assert_false (fx.dvms[0].set_target);
  fx_clear (&fx);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ref/lookup", test_lookup);
  g_test_add_func ("/ref/mom/shrink-5pct-every-10s", test_mom_shrink_5pct_every_10s);
  g_test_add_func ("/ref/mom/guest-free-floor", test_mom_guest_free_floor);
  g_test_add_func ("/ref/mom/grow", test_mom_grow);
  g_test_add_func ("/ref/mom/deadband-no-stats", test_mom_deadband_and_no_stats);
  g_test_add_func ("/ref/ksmtuned/boost-decay-clamp", test_ksm_boost_decay_clamp);
  g_test_add_func ("/ref/proxmox/grow-100mib", test_proxmox_grow_100mib);
  g_test_add_func ("/ref/proxmox/shrink-waterfill", test_proxmox_shrink_waterfill);
  g_test_add_func ("/ref/kata/phases", test_kata_phases);
  g_test_add_func ("/ref/roles", test_roles);
  return g_test_run ();
}
