/* test-vm.c: a Vm over its QMP backend against a scripted QEMU, in process:
 * one sample followed from the replies to the PolicyVm, the decision and the
 * `balloon` command it causes. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sample.h"

#include "qmp-test-peer.h"
#include "vm-qmp.h"

#define MiB (1024ull * 1024ull)
#define DEADLINE_US (5 * G_USEC_PER_SEC)

/* Verbatim shapes of QEMU 7.2's replies (tests/unit/qmp has the recordings). */
#define STATUS_RUNNING                                                                             \
  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, \"id\": "     \
  "$ID1}\r\n"
#define MEMORY_1G "{\"return\": {\"base-memory\": 1073741824}, \"id\": $ID2}\r\n"
#define QOM_LIST_PERIPHERAL                                                                        \
  "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}], \"id\": $ID3}\r\n"
#define QOM_LIST_ANON                                                                              \
  "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"device[0]\", "           \
  "\"type\": \"child<virtio-balloon-pci>\"}], \"id\": $ID4}\r\n"
#define DEFLATE_ON_OOM "{\"return\": true, \"id\": $ID5}\r\n"
#define REPORTING "{\"return\": true, \"id\": $ID6}\r\n"
#define POLLING_SET "{\"return\": {}, \"id\": $ID7}\r\n"
#define ACTUAL_1G "{\"return\": {\"actual\": 1073741824}, \"id\": $ID8}\r\n"
#define BALLOON_DONE "{\"return\": {}, \"id\": $ID10}\r\n"

typedef struct
{
  guint notes[VM_NOTE_KICK + 1];
} Notes;

static void
on_note (Vm *vm, VmNote note, gpointer data)
{
  Notes *n = data;
  n->notes[note]++;
}

static gboolean
run_until (gboolean (*cond) (gpointer), gpointer data)
{
  gint64 end = g_get_monotonic_time () + DEADLINE_US;
  while (!cond (data) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  return cond (data);
}

static gboolean
vm_is_active (gpointer data)
{
  return vm_get_state (data) == VM_ACTIVE;
}

static gboolean
vm_has_sample (gpointer data)
{
  PolicyVmConfig cfg = { 0 };
  PolicyVm pvm;
  vm_to_policy (data, &cfg, g_get_monotonic_time (), &pvm);
  return pvm.actual_bytes.present && pvm.stats.available_bytes.present;
}

/* An idle guest: 1 GiB of RAM of which 900 MiB are available. */
static char *
guest_stats_reply (void)
{
  return g_strdup_printf (
      "{\"return\": {\"stats\": {\"stat-free-memory\": %llu, \"stat-total-memory\": %llu, "
      "\"stat-available-memory\": %llu, \"stat-disk-caches\": %llu, \"stat-major-faults\": 3, "
      "\"stat-minor-faults\": 77, \"stat-swap-in\": 0, \"stat-swap-out\": 0}, "
      "\"last-update\": %" G_GINT64_FORMAT "}, \"id\": $ID9}\r\n",
      850 * MiB, 1024 * MiB, 900 * MiB, 20 * MiB, g_get_real_time () / G_USEC_PER_SEC);
}

/* Decides on one VM until a target is set (density mode shrinks an idle
 * guest); returns it. */
static guint64
decide_target (const PolicyVm *pvm)
{
  PolicyConfig cfg;
  policy_config_defaults (&cfg);
  cfg.host_mode = POLICY_HOST_MODE_DENSITY;
  PolicyCarry *carry = policy_carry_new ();
  PolicySnapshot snap = {
    .host = { .mem_total_bytes = 8192 * MiB,
              .mem_available_bytes = 6144 * MiB,
              .mem_free_bytes = 6000 * MiB },
    .n_vms = 1,
    .vms = pvm,
  };
  /* The path, not the policy: no boot grace before the first target. */
  PolicyVm vm = *pvm;
  vm.cfg.boot_grace_ms = 0;
  snap.vms = &vm;
  PolicyVmDecision dv;
  PolicyDecision d = { .vms = &dv };
  guint64 target = 0;
  for (guint tick = 0; tick < 30 && target == 0; tick++)
    {
      snap.now_ms = 1000000 + tick * 1000ull;
      g_assert_cmpint (policy_decide (&snap, &cfg, carry, &d), ==, 0);
      if (dv.set_target)
        target = dv.target_bytes;
    }
  policy_carry_free (carry);
  return target;
}

static void
test_sample_to_balloon (void)
{
  g_autofree char *stats = guest_stats_reply ();
  const PeerStep steps[] = {
    NEGOTIATE,
    EXPECT ("query-status"),
    SEND (STATUS_RUNNING),
    EXPECT ("query-memory-size-summary"),
    SEND (MEMORY_1G),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_PERIPHERAL),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_ANON),
    EXPECT ("qom-get"),
    SEND (DEFLATE_ON_OOM),
    EXPECT ("qom-get"),
    SEND (REPORTING),
    EXPECT ("qom-set"),
    SEND (POLLING_SET),
    EXPECT ("query-balloon"),
    SEND (ACTUAL_1G),
    EXPECT ("qom-get"),
    SEND (stats),
    EXPECT ("balloon"),
    SEND (BALLOON_DONE),
    { 0 },
  };
  Peer *peer = peer_start (steps);
  Notes notes = { 0 };
  VmOwner owner = { .note = on_note, .user_data = &notes };
  Vm *vm = vm_qmp_new (&owner, "web1", "static", peer_path (peer), NULL);
  vm_set_id (vm, 7);
  vm_start (vm);

  g_assert_true (run_until (vm_is_active, vm));
  g_assert_cmpuint (notes.notes[VM_NOTE_ACTIVE], ==, 1);
  g_assert_cmpstr (vm_get_balloon_device (vm), ==, "/machine/peripheral-anon/device[0]");
  g_assert_cmpuint (vm_get_ram_bytes (vm), ==, 1024 * MiB);
  g_assert_true (run_until (vm_has_sample, vm));

  PolicyVmConfig cfg;
  policy_vm_config_defaults (&cfg);
  PolicyVm pvm;
  vm_to_policy (vm, &cfg, g_get_monotonic_time (), &pvm);
  g_assert_cmpuint (pvm.id, ==, 7);
  g_assert_cmpint (pvm.state, ==, POLICY_VM_STATE_RUNNING);
  g_assert_cmpuint (pvm.ram_bytes, ==, 1024 * MiB);
  g_assert_cmpuint (pvm.actual_bytes.value, ==, 1024 * MiB);
  g_assert_true (pvm.balloon_deflate_on_oom);
  g_assert_true (pvm.balloon_free_page_reporting);
  g_assert_cmpuint (pvm.stats.total_bytes.value, ==, 1024 * MiB);
  g_assert_cmpuint (pvm.stats.available_bytes.value, ==, 900 * MiB);
  g_assert_true (pvm.stats.major_faults.present);
  g_assert_cmpuint (pvm.stats.age_ms, <, 5000);
  g_assert_true ((pvm.kicks & POLICY_KICK_STARTED) != 0);

  guint64 target = decide_target (&pvm);
  g_assert_cmpuint (target, >, 0);
  g_assert_cmpuint (target, <, 1024 * MiB);
  vm_set_balloon (vm, target);
  /* The target counts as in flight at once: the next decision sees it. */
  vm_to_policy (vm, &cfg, g_get_monotonic_time (), &pvm);
  g_assert_true (pvm.last_target_bytes.present);
  g_assert_cmpuint (pvm.last_target_bytes.value, ==, target);
  /* Let the reply arrive, then drop the link so the peer's script ends. */
  for (int i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  vm_free (vm);

  g_autoptr (GPtrArray) args = NULL;
  g_assert_cmpuint (peer_finish_with_arguments (peer, &args), ==, 11);
  g_assert_cmpstr (
      g_ptr_array_index (args, 5), ==,
      "{\"path\":\"/machine/peripheral-anon/device[0]\",\"property\":\"deflate-on-oom\"}");
  g_assert_cmpstr (
      g_ptr_array_index (args, 6), ==,
      "{\"path\":\"/machine/peripheral-anon/device[0]\",\"property\":\"free-page-reporting\"}");
  g_autofree char *expected = g_strdup_printf ("{\"value\":%" G_GUINT64_FORMAT "}", target);
  g_assert_cmpstr (g_ptr_array_index (args, 10), ==, expected);
}

/* A QEMU that closes the socket: the VM goes lost, tells its owner, and
 * reconnects by itself; a reply to the dead connection is never used. */
static void
test_lost_and_back (void)
{
  const PeerStep steps[] = {
    NEGOTIATE,
    EXPECT ("query-status"),
    SEND (STATUS_RUNNING),
    EXPECT ("query-memory-size-summary"),
    SEND (MEMORY_1G),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_PERIPHERAL),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_ANON),
    EXPECT ("qom-get"),
    SEND (DEFLATE_ON_OOM),
    EXPECT ("qom-get"),
    SEND (REPORTING),
    EXPECT ("qom-set"),
    SEND (POLLING_SET),
    EXPECT ("query-balloon"),
    CLOSE,
    ACCEPT,
    SEND (GREETING),
    EXPECT ("qmp_capabilities"),
    SEND ("{\"return\": {}, \"id\": $ID9}\r\n"),
    { 0 },
  };
  Peer *peer = peer_start (steps);
  Notes notes = { 0 };
  VmOwner owner = { .note = on_note, .user_data = &notes };
  Vm *vm = vm_qmp_new (&owner, "web2", "qmp-dir", peer_path (peer), NULL);
  vm_start (vm);
  g_assert_true (run_until (vm_is_active, vm));
  gint64 end = g_get_monotonic_time () + DEADLINE_US;
  while (notes.notes[VM_NOTE_LOST] == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (notes.notes[VM_NOTE_LOST], ==, 1);
  PolicyVmConfig cfg;
  policy_vm_config_defaults (&cfg);
  PolicyVm pvm;
  vm_to_policy (vm, &cfg, g_get_monotonic_time (), &pvm);
  g_assert_false (pvm.actual_bytes.present);
  g_assert_true ((pvm.kicks & POLICY_KICK_STARTED) != 0);
  /* Back on the same path after the first backoff step. */
  end = g_get_monotonic_time () + DEADLINE_US;
  while (vm_get_state (vm) != VM_NEGOTIATING && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (vm_get_state (vm), ==, VM_NEGOTIATING);
  vm_free (vm);
  g_assert_cmpuint (peer_finish (peer), ==, 10);
}

static gboolean
vm_has_ram (gpointer data)
{
  return vm_get_ram_bytes (data) > 0;
}

/* query-memory-size-summary times out or fails: the VM comes up without a
 * RAM size and asks again (with backoff) until it has one. */
static void
test_ram_size_retried (void)
{
  const PeerStep steps[] = {
    NEGOTIATE,
    EXPECT ("query-status"),
    SEND (STATUS_RUNNING),
    EXPECT ("query-memory-size-summary"),
    SEND ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}, \"id\": $ID2}\r\n"),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_PERIPHERAL),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_ANON),
    EXPECT ("qom-get"),
    SEND (DEFLATE_ON_OOM),
    EXPECT ("qom-get"),
    SEND (REPORTING),
    EXPECT ("qom-set"),
    SEND (POLLING_SET),
    EXPECT ("query-balloon"),
    SEND (ACTUAL_1G),
    EXPECT ("qom-get"),
    SEND ("{\"return\": {\"stats\": {}, \"last-update\": 0}, \"id\": $ID9}\r\n"),
    EXPECT ("query-memory-size-summary"),
    SEND ("{\"return\": {\"base-memory\": 1073741824}, \"id\": $ID10}\r\n"),
    { 0 },
  };
  Peer *peer = peer_start (steps);
  VmOwner owner = { 0 };
  Vm *vm = vm_qmp_new (&owner, "web3", "static", peer_path (peer), NULL);
  vm_start (vm);
  g_assert_true (run_until (vm_is_active, vm));
  g_assert_cmpuint (vm_get_ram_bytes (vm), ==, 0);
  g_assert_true (run_until (vm_has_ram, vm));
  g_assert_cmpuint (vm_get_ram_bytes (vm), ==, 1024 * MiB);
  vm_free (vm);
  g_assert_cmpuint (peer_finish (peer), ==, 11);
}

static void
nop_vm (Vm *vm)
{
}

static void
nop_balloon (Vm *vm, guint64 target_bytes)
{
}

static const VmOps nop_ops = { .start = nop_vm, .sample = nop_vm, .set_balloon = nop_balloon };

static uint64_t
stats_age_ms (Vm *vm)
{
  PolicyVmConfig cfg;
  policy_vm_config_defaults (&cfg);
  PolicyVm pvm;
  vm_to_policy (vm, &cfg, g_get_monotonic_time (), &pvm);
  g_assert_true (pvm.stats.available_bytes.present);
  return pvm.stats.age_ms;
}

/* The host's wall clock steps an hour ahead between two guest reports: a
 * report that just arrived is fresh, and one that stops coming ages on the
 * monotonic clock. */
static void
test_stats_age_monotonic (void)
{
  VmOwner owner = { 0 };
  Vm *vm = vm_new (&owner, "clock", "static", NULL, NULL, &nop_ops, NULL);
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  VmGuestStats st = { .figures = { .available_bytes = { TRUE, 100 * MiB } } };
  st.last_update_s = now_s;
  vm_update_guest_stats (vm, &st);
  g_assert_cmpuint (stats_age_ms (vm), <, 2000);
  /* The guest's next report is stamped by a host clock an hour behind. */
  st.last_update_s = now_s - 3600;
  vm_update_guest_stats (vm, &st);
  g_assert_cmpuint (stats_age_ms (vm), <, 2000);
  /* The same report again: no news, so it ages. */
  g_usleep (30 * 1000);
  vm_update_guest_stats (vm, &st);
  g_assert_cmpuint (stats_age_ms (vm), >=, 30);
  vm_free (vm);
}

/* A backend whose guest reports the same figures on every sample. */
static guint quiet_samples;

static void
quiet_sample (Vm *vm)
{
  quiet_samples++;
  VmGuestStats st = {
    .figures = { .total_bytes = { TRUE, 1024 * MiB }, .available_bytes = { TRUE, 900 * MiB } },
    .last_update_s = g_get_real_time () / G_USEC_PER_SEC,
  };
  vm_update_guest_stats (vm, &st);
  vm_update_actual (vm, 1024 * MiB);
}

static const VmOps quiet_ops
    = { .start = nop_vm, .sample = quiet_sample, .set_balloon = nop_balloon };

/* Regular ticks t0+1 .. t0+n s: how many of them sampled. */
static guint
samples_over (Vm *vm, gint64 *t_us, guint n)
{
  guint before = quiet_samples;
  for (guint i = 0; i < n; i++)
    {
      *t_us += G_USEC_PER_SEC;
      vm_sample_tick (vm, *t_us, G_USEC_PER_SEC);
    }
  return quiet_samples - before;
}

/* A VM whose figures do not move is sampled every 4th tick at most, not
 * every tick; a change (here a balloon event) brings it back to every tick
 * at once. */
static void
test_quiet_cadence (void)
{
  VmOwner owner = { 0 };
  Vm *vm = vm_new (&owner, "quiet", "static", NULL, NULL, &quiet_ops, NULL);
  vm_update_balloon_device (vm, "b0");
  vm_link_up (vm, "test");
  gint64 t_us = g_get_monotonic_time ();
  samples_over (vm, &t_us, 10); /* the first readings: changes, then backing off */
  guint quiet = samples_over (vm, &t_us, 40);
  g_test_message ("quiet: %u samples in 40 ticks", quiet);
  g_assert_cmpuint (quiet, <=, 10);
  g_assert_cmpuint (quiet, >=, 9);
  vm_update_actual (vm, 512 * MiB); /* BALLOON_CHANGE */
  g_assert_cmpuint (samples_over (vm, &t_us, 1), ==, 1);
  vm_kick (vm, POLICY_KICK_RESUMED);
  g_assert_cmpuint (samples_over (vm, &t_us, 1), ==, 1);
  vm_free (vm);
}

/* A deflate-on-oom balloon that grows past its target and its last size was
 * deflated by its guest, out of memory: the owner hears it at once (an
 * urgent note), not at the next tick. A deflate the controller asked for,
 * or a balloon without the option, is no such news. */
static void
test_self_deflate (void)
{
  for (int doo = 0; doo <= 1; doo++)
    {
      Notes notes = { 0 };
      VmOwner owner = { .note = on_note, .user_data = &notes };
      Vm *vm = vm_new (&owner, "squeezed", "static", NULL, NULL, &quiet_ops, NULL);
      vm_update_balloon_deflate_on_oom (vm, doo);
      vm_update_actual (vm, 1024 * MiB);
      vm_plan_target (vm, 204 * MiB);
      vm_update_actual (vm, 600 * MiB);
      vm_update_actual (vm, 204 * MiB);
      g_assert_cmpuint (notes.notes[VM_NOTE_URGENT], ==, 0);
      vm_update_actual (vm, 205 * MiB);
      g_assert_cmpuint (notes.notes[VM_NOTE_URGENT], ==, (guint) doo);
      vm_plan_target (vm, 614 * MiB);
      vm_update_actual (vm, 400 * MiB);
      vm_update_actual (vm, 614 * MiB);
      g_assert_cmpuint (notes.notes[VM_NOTE_URGENT], ==, (guint) doo);
      vm_free (vm);
    }
}

static void
write_proc_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, "4242", name, NULL);
  /* In place, as /proc's files change under a descriptor kept open. */
  FILE *f = fopen (path, "w");
  g_assert_nonnull (f);
  g_assert_cmpint (fputs (text, f), >=, 0);
  g_assert_cmpint (fclose (f), ==, 0);
}

/* The PSS the policy sees after regular ticks up to `until_s`, with the
 * host's KSM sharing at `sharing_mib`. */
static guint64
pss_after (Vm *vm, SampleCtx *sample, gint64 t0_us, guint from_s, guint until_s, guint sharing_mib)
{
  PolicyStat sharing = { .present = TRUE, .value = sharing_mib * MiB };
  for (guint s = from_s; s <= until_s; s++)
    vm_refresh_process_cost (vm, sample, &sharing, t0_us + (gint64) s * G_USEC_PER_SEC,
                             G_USEC_PER_SEC);
  PolicyVmConfig cfg;
  policy_vm_config_defaults (&cfg);
  PolicyVm out;
  vm_to_policy (vm, &cfg, t0_us + (gint64) until_s * G_USEC_PER_SEC, &out);
  return out.pss_bytes.value;
}

/* A due /proc reading whose QEMU's resident size (statm) did not move is
 * skipped while the last full one (smaps_rollup) is under 30 s old, or
 * under 300 s while the host's KSM sharing held still too; a move of RSS,
 * or those ages, reads it again. */
static void
test_rss_gate (void)
{
  g_autofree char *root = g_dir_make_tmp ("ballast-proc-XXXXXX", NULL);
  g_autofree char *pid_dir = g_build_filename (root, "4242", NULL);
  g_assert_cmpint (g_mkdir (pid_dir, 0700), ==, 0);
  g_setenv ("BALLAST_PROC_ROOT", root, TRUE);
  g_setenv ("BALLAST_SYS_ROOT", root, TRUE);
  g_autofree char *ksm = g_build_filename (root, "ksm", NULL);
  SampleCtx *sample = sample_new (ksm, FALSE, NULL, TRUE);
  long page = sysconf (_SC_PAGESIZE);
  g_autofree char *statm_a = g_strdup_printf ("9000 %llu 10 1 0 100 0\n", (unsigned long long) (100 * MiB / page));
  g_autofree char *statm_b = g_strdup_printf ("9000 %llu 10 1 0 100 0\n", (unsigned long long) (120 * MiB / page));
  write_proc_file (root, "statm", statm_a);
  write_proc_file (root, "smaps_rollup", "Rss: 102400 kB\nPss: 102400 kB\n");

  VmOwner owner = { 0 };
  Vm *vm = vm_new (&owner, "gated", "static", NULL, NULL, &quiet_ops, NULL);
  vm_update_pid (vm, 4242);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_cmpuint (pss_after (vm, sample, t0, 0, 0, 0), ==, 100 * MiB);
  /* KSM merged: PSS and the host's sharing moved, RSS did not. */
  write_proc_file (root, "smaps_rollup", "Rss: 102400 kB\nPss: 51200 kB\n");
  g_assert_cmpuint (pss_after (vm, sample, t0, 1, 25, 50), ==, 100 * MiB);
  g_assert_cmpuint (pss_after (vm, sample, t0, 26, 40, 50), ==, 50 * MiB);
  /* The guest grew: RSS moved, read at the next due reading (<= 8 ticks). */
  write_proc_file (root, "statm", statm_b);
  write_proc_file (root, "smaps_rollup", "Rss: 122880 kB\nPss: 71680 kB\n");
  g_assert_cmpuint (pss_after (vm, sample, t0, 41, 49, 50), ==, 70 * MiB);
  /* Nothing the host can see moved: the figure stands for minutes... */
  write_proc_file (root, "smaps_rollup", "Rss: 122880 kB\nPss: 66560 kB\n");
  g_assert_cmpuint (pss_after (vm, sample, t0, 50, 330, 50), ==, 70 * MiB);
  /* ... and not past 300 s. */
  g_assert_cmpuint (pss_after (vm, sample, t0, 331, 360, 50), ==, 65 * MiB);
  /* KSM sharing moved by less than the quiet delta: still stands. */
  write_proc_file (root, "smaps_rollup", "Rss: 122880 kB\nPss: 61440 kB\n");
  g_assert_cmpuint (pss_after (vm, sample, t0, 361, 420, 54), ==, 65 * MiB);
  /* ... by more: read within 30 s of the last full reading's age bound. */
  g_assert_cmpuint (pss_after (vm, sample, t0, 421, 430, 80), ==, 60 * MiB);

  vm_free (vm);
  sample_free (sample);
  g_unsetenv ("BALLAST_PROC_ROOT");
  g_unsetenv ("BALLAST_SYS_ROOT");
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
  g_assert_cmpint (system (cmd), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vm/qmp/sample-to-balloon", test_sample_to_balloon);
  g_test_add_func ("/vm/qmp/lost-and-back", test_lost_and_back);
  g_test_add_func ("/vm/stats-age-monotonic", test_stats_age_monotonic);
  g_test_add_func ("/vm/qmp/ram-size-retried", test_ram_size_retried);
  g_test_add_func ("/vm/quiet-cadence", test_quiet_cadence);
  g_test_add_func ("/vm/rss-gate", test_rss_gate);
  g_test_add_func ("/vm/self-deflate", test_self_deflate);
  return g_test_run ();
}
