/* test-manager.c: a manager with two fake backends driven through ticks in
 * process: adoption, the sample → decision → set_balloon path, the control
 * socket's view, and removal. Host figures come from a synthetic /proc. */
#include <gio/gio.h>
#include <jansson.h>
#include <string.h>

#include "fake-root.h"
#include "journal.h"
#include "manager.h"

#define MiB (1024ull * 1024ull)

/* A fake backend: the VM is active at once with a fixed sample, and every
 * balloon target it is asked for is recorded. */
typedef struct
{
  guint64 ram_bytes;
  guint64 available_bytes;
  guint samples;
  GArray *targets; /* guint64 */
  Vm *vm;
} FakeVm;

static void
fake_sample (Vm *vm)
{
  FakeVm *f = vm_get_backend_data (vm);
  f->samples++;
  vm_update_actual (vm, f->ram_bytes);
  VmGuestStats st = {
    .figures = { .total_bytes = { TRUE, f->ram_bytes },
                 .available_bytes = { TRUE, f->available_bytes },
                 .free_bytes = { TRUE, f->available_bytes } },
    .last_update_s = g_get_real_time () / G_USEC_PER_SEC,
  };
  vm_update_guest_stats (vm, &st);
}

static void
fake_start (Vm *vm)
{
  FakeVm *f = vm_get_backend_data (vm);
  vm_update_ram (vm, f->ram_bytes);
  vm_update_balloon_device (vm, "fake-balloon");
  vm_link_up (vm, "fake");
}

static void
fake_set_balloon (Vm *vm, guint64 target_bytes)
{
  FakeVm *f = vm_get_backend_data (vm);
  g_array_append_val (f->targets, target_bytes);
  vm_target_issued (vm, target_bytes);
}

static void
fake_free (Vm *vm)
{
  FakeVm *f = vm_get_backend_data (vm);
  g_array_unref (f->targets);
  g_free (f);
}

static const VmOps fake_ops = {
  .start = fake_start,
  .sample = fake_sample,
  .set_balloon = fake_set_balloon,
  .free = fake_free,
};

static FakeVm *
fake_adopt (Manager *m, const char *name, const char *backend, guint64 ram_bytes,
            guint64 available_bytes)
{
  FakeVm *f = g_new0 (FakeVm, 1);
  f->ram_bytes = ram_bytes;
  f->available_bytes = available_bytes;
  f->targets = g_array_new (FALSE, FALSE, sizeof (guint64));
  const VmOwner *owner = mgr_owner (m);
  Vm *vm = vm_new (owner, name, backend, NULL, NULL, &fake_ops, f);
  f->vm = vm;
  g_assert_true (owner->adopt (vm, owner->user_data));
  return f;
}

static json_t *
run_command (Manager *m, const char *line)
{
  gboolean negotiated = TRUE, hang_up = FALSE;
  json_t *reply = mgr_dispatch (m, &negotiated, line, strlen (line), &hang_up);
  g_assert_nonnull (reply);
  g_assert_false (hang_up);
  return reply;
}

static json_t *
vm_entry (json_t *vms, const char *name)
{
  size_t i;
  json_t *v;
  json_array_foreach (vms, i,
                      v) if (g_strcmp0 (json_string_value (json_object_get (v, "name")), name)
                             == 0) return v;
  return NULL;
}

static Manager *manager_on_fake_host (char **root_out);

/* ---- the journal's records: what `journalctl BALLAST_VM=...` filters on ---- */

/* "MESSAGE_ID VM REASON" of every record with a MESSAGE_ID, in order. */
static GPtrArray *journal_records;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  const char *id = NULL, *vm = "-", *reason = "-";
  for (gsize i = 0; i < n_fields; i++)
    {
      if (fields[i].length != -1)
        continue;
      if (g_str_equal (fields[i].key, "MESSAGE_ID"))
        id = fields[i].value;
      else if (g_str_equal (fields[i].key, "BALLAST_VM"))
        vm = fields[i].value;
      else if (g_str_equal (fields[i].key, "BALLAST_REASON"))
        reason = fields[i].value;
    }
  if (id != NULL)
    g_ptr_array_add (journal_records, g_strdup_printf ("%s %s %s", id, vm, reason));
  return g_log_writer_default (level, fields, n_fields, data);
}

/* The first record of `kind` (for `vm` when not NULL) since the last
 * clear, or NULL. */
static const char *
journal_find (BallastLogKind kind, const char *vm)
{
  g_autofree char *prefix = g_strdup_printf ("%s %s ", ballast_log_message_id (kind), vm ? vm : "");
  for (guint i = 0; i < journal_records->len; i++)
    {
      const char *r = g_ptr_array_index (journal_records, i);
      if (vm ? g_str_has_prefix (r, prefix) : g_str_has_prefix (r, ballast_log_message_id (kind)))
        return r;
    }
  return NULL;
}

static void
test_two_backends_tick (void)
{
  char *root;
  Manager *m = manager_on_fake_host (&root);

  /* Two backends, each with a guest of 1 GiB (alpha uses 624 MiB, beta is idle). */
  FakeVm *a = fake_adopt (m, "alpha", "fake-a", 1024 * MiB, 400 * MiB);
  FakeVm *b = fake_adopt (m, "beta", "fake-b", 1024 * MiB, 900 * MiB);
  for (int tick = 0; tick < 30 && (a->targets->len == 0 || b->targets->len == 0); tick++)
    mgr_tick_now (m);
  g_assert_cmpuint (a->samples, >, 0);
  g_assert_cmpuint (b->samples, >, 0);
  g_assert_cmpuint (a->targets->len, >, 0);
  g_assert_cmpuint (b->targets->len, >, 0);
  guint64 a_target = g_array_index (a->targets, guint64, a->targets->len - 1);
  g_assert_cmpuint (a_target, <, 1024 * MiB);

  json_t *vms = run_command (m, "{\"execute\":\"query-vms\"}");
  json_t *ret = json_object_get (vms, "return");
  g_assert_cmpuint (json_array_size (ret), ==, 2);
  json_t *alpha = vm_entry (ret, "alpha");
  g_assert_nonnull (alpha);
  g_assert_cmpstr (json_string_value (json_object_get (alpha, "backend")), ==, "fake-a");
  g_assert_cmpstr (json_string_value (json_object_get (alpha, "state")), ==, "active");
  g_assert_cmpint (json_integer_value (json_object_get (alpha, "actual_bytes")), ==, 1024 * MiB);
  g_assert_cmpint (json_integer_value (json_object_get (alpha, "target_bytes")), ==, a_target);
  g_assert_cmpstr (json_string_value (json_object_get (alpha, "ws_source")), ==, "guest-stats");
  /* The need comes from the guest's stats: 624 MiB in use plus headroom. */
  json_int_t need_bytes = json_integer_value (json_object_get (alpha, "need_bytes"));
  g_test_message ("alpha: need %" JSON_INTEGER_FORMAT " MiB, target %" G_GUINT64_FORMAT " MiB",
                  need_bytes >> 20, a_target >> 20);
  g_assert_cmpint (need_bytes, >=, 624 * MiB);
  g_assert_cmpint (need_bytes, <=, 624 * MiB + 128 * MiB);
  json_decref (vms);

  /* Neither fake QEMU has a PSS (no PID): their guests are still theirs,
   * not the host's. 2 GiB used on the host = the two 1 GiB guests. */
  json_t *host = run_command (m, "{\"execute\":\"query-host\"}");
  json_t *h = json_object_get (host, "return");
  g_test_message ("host: non-VM %" JSON_INTEGER_FORMAT " MiB, budget %" JSON_INTEGER_FORMAT " MiB",
                  json_integer_value (json_object_get (h, "non_vm_used_bytes")) >> 20,
                  json_integer_value (json_object_get (h, "budget_bytes")) >> 20);
  g_assert_cmpint (json_integer_value (json_object_get (h, "non_vm_used_bytes")), ==, 0);
  g_assert_cmpint (json_integer_value (json_object_get (h, "budget_bytes")), ==,
                   8192 * MiB - 512 * MiB);
  json_decref (host);

  json_t *decisions = run_command (m, "{\"execute\":\"query-decisions\"}");
  g_assert_cmpuint (json_array_size (json_object_get (decisions, "return")), >=, 2);
  json_decref (decisions);

  /* Each VM's added and decision records carry its name and the reason. */
  g_assert_nonnull (journal_find (BALLAST_LOG_VM_ADDED, "alpha"));
  g_assert_nonnull (journal_find (BALLAST_LOG_VM_ADDED, "beta"));
  const char *decided = journal_find (BALLAST_LOG_DECISION, "alpha");
  g_assert_nonnull (decided);
  g_test_message ("decision record: %s", decided);
  g_assert_false (g_str_has_suffix (decided, " -"));

  /* A backend removes its VM: the manager forgets it. */
  const VmOwner *owner = mgr_owner (m);
  owner->remove ("beta", owner->user_data);
  g_assert_nonnull (journal_find (BALLAST_LOG_VM_LOST, "beta"));
  mgr_tick_now (m);
  vms = run_command (m, "{\"execute\":\"query-vms\"}");
  g_assert_cmpuint (json_array_size (json_object_get (vms, "return")), ==, 1);
  json_decref (vms);

  mgr_free (m);
  g_unsetenv ("BALLAST_PROC_ROOT");
  fake_root_free (root);
}

static Manager *
manager_on_fake_host (char **root_out)
{
  char *root = fake_root_new ();
  fake_write (
      root, "proc/meminfo",
      "MemTotal:        8388608 kB\nMemFree:         6291456 kB\n"
      "MemAvailable:    6291456 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n");
  fake_write (root, "proc/pressure/memory",
              "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  fake_mkdir (root, "ksm");
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_autofree char *ksm = g_build_filename (root, "ksm", NULL);
  g_autofree char *sock = g_build_filename (root, "control.sock", NULL);
  g_setenv ("BALLAST_PROC_ROOT", proc, TRUE);
  /* Ticks here come milliseconds apart: a boot grace would hide every
   * decision. */
  g_autofree char *text
      = g_strdup_printf ("[daemon]\ncontrol-socket=%s\nhttp-listen=off\n[host]\nmode=density\n"
                         "[ksm]\nmode=off\nsysfs=%s\n[defaults]\nboot-grace=0\n",
                         sock, ksm);
  g_autoptr (GError) error = NULL;
  BallastConfig *cfg = cfg_load_data (text, "test", &error);
  g_assert_no_error (error);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Manager *m = mgr_new (cfg, loop, &error);
  g_assert_no_error (error);
  *root_out = root;
  return m;
}

static json_int_t
ticks_so_far (Manager *m)
{
  json_t *status = run_command (m, "{\"execute\":\"query-status\"}");
  json_int_t ticks
      = json_integer_value (json_object_get (json_object_get (status, "return"), "ticks"));
  json_decref (status);
  return ticks;
}

/* One guest's lifecycle events in a loop: they cannot make the daemon tick
 * (and re-query every other VM) at their rate. */
static void
test_kick_storm (void)
{
  char *root;
  Manager *m = manager_on_fake_host (&root);
  FakeVm *a = fake_adopt (m, "alpha", "fake-a", 1024 * MiB, 400 * MiB);
  FakeVm *b = fake_adopt (m, "beta", "fake-b", 1024 * MiB, 400 * MiB);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  json_int_t ticks_before = ticks_so_far (m);
  guint samples_before = a->samples;
  /* beta resets 50 times in a second. */
  gint64 end = g_get_monotonic_time () + G_USEC_PER_SEC;
  for (int i = 0; g_get_monotonic_time () < end; i++)
    {
      if (i % 20 == 0)
        vm_kick (b->vm, POLICY_KICK_STARTED);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  json_int_t ticks = ticks_so_far (m) - ticks_before;
  g_test_message ("in 1 s of kicks: %" JSON_INTEGER_FORMAT " ticks, alpha sampled %u times", ticks,
                  a->samples - samples_before);
  /* The regular tick (1 s) plus the two kicks the budget lets through. */
  g_assert_cmpint (ticks, <=, 4);
  g_assert_cmpuint (a->samples - samples_before, <=, 2);
  mgr_free (m);
  g_unsetenv ("BALLAST_PROC_ROOT");
  fake_root_free (root);
}

/* ---- what a socket directory can make the manager hold ------------------- */

/* A VM whose QEMU answers but never gets a running balloon: the policy sees
 * it STARTING and would hold its whole RAM. */
static void
booting_start (Vm *vm)
{
  FakeVm *f = vm_get_backend_data (vm);
  vm_update_ram (vm, f->ram_bytes);
  vm_link_up (vm, "fake, no balloon");
}

/* Without a balloon there is nothing to query or set (as over QMP). */
static void
booting_sample (Vm *vm)
{
}

static void
booting_set_balloon (Vm *vm, guint64 target_bytes)
{
  FakeVm *f = vm_get_backend_data (vm);
  g_array_append_val (f->targets, target_bytes);
}

static const VmOps booting_ops = {
  .start = booting_start,
  .sample = booting_sample,
  .set_balloon = booting_set_balloon,
  .free = fake_free,
};

static Vm *
booting_new (Manager *m, const char *name, guint64 ram_bytes)
{
  FakeVm *f = g_new0 (FakeVm, 1);
  f->ram_bytes = ram_bytes;
  f->targets = g_array_new (FALSE, FALSE, sizeof (guint64));
  return vm_new (mgr_owner (m), name, "fake-dir", NULL, NULL, &booting_ops, f);
}

/* A manager on a synthetic 8 GiB host with `daemon_keys` in [daemon]. */
static Manager *
limits_manager_new (const char *root, const char *daemon_keys)
{
  fake_write (
      root, "proc/meminfo",
      "MemTotal:        8388608 kB\nMemFree:         7340032 kB\n"
      "MemAvailable:    7340032 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n");
  fake_write (root, "proc/pressure/memory",
              "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_autofree char *sock = g_build_filename (root, "control.sock", NULL);
  g_setenv ("BALLAST_PROC_ROOT", proc, TRUE);
  g_autofree char *text = g_strdup_printf (
      "[daemon]\ncontrol-socket=%s\nhttp-listen=off\n%s\n[ksm]\nmode=off\n", sock, daemon_keys);
  g_autoptr (GError) error = NULL;
  BallastConfig *cfg = cfg_load_data (text, "test", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cfg->warnings->len, ==, 0);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Manager *m = mgr_new (cfg, loop, &error);
  g_assert_no_error (error);
  return m;
}

static void
limits_manager_free (Manager *m, char *root)
{
  mgr_free (m);
  g_unsetenv ("BALLAST_PROC_ROOT");
  fake_root_free (root);
}

static void
test_vm_cap (void)
{
  char *root = fake_root_new ();
  Manager *m = limits_manager_new (root, "max-vms=2");
  fake_adopt (m, "alpha", "fake-a", 1024 * MiB, 512 * MiB);
  fake_adopt (m, "beta", "fake-a", 1024 * MiB, 512 * MiB);
  const VmOwner *owner = mgr_owner (m);
  Vm *third = booting_new (m, "gamma", 1024 * MiB);
  g_test_expect_message ("ballast", G_LOG_LEVEL_WARNING, "gamma: not managed*max-vms*");
  g_assert_false (owner->adopt (third, owner->user_data));
  g_test_assert_expected_messages ();
  vm_free (third);
  /* Room again once one goes. */
  owner->remove ("beta", owner->user_data);
  g_assert_true (owner->adopt (booting_new (m, "gamma", 1024 * MiB), owner->user_data));
  limits_manager_free (m, root);
}

/* The lowest target alpha (4 GiB, 1 GiB in use) is given within `ticks`
 * while a 64 GiB VM boots next to it; G_MAXUINT64 when none. */
static guint64
alpha_lowest_target (Manager *m, guint ticks)
{
  FakeVm *a = fake_adopt (m, "alpha", "fake-a", 4096 * MiB, 3072 * MiB);
  const VmOwner *owner = mgr_owner (m);
  g_assert_true (owner->adopt (booting_new (m, "huge", 64ull * 1024 * MiB), owner->user_data));
  for (guint i = 0; i < ticks; i++)
    mgr_tick_now (m);
  guint64 lowest = G_MAXUINT64;
  for (guint i = 0; i < a->targets->len; i++)
    lowest = MIN (lowest, g_array_index (a->targets, guint64, i));
  return lowest;
}

static gboolean
host_overloaded (Manager *m)
{
  json_t *host = run_command (m, "{\"execute\":\"query-host\"}");
  gboolean overloaded
      = json_is_true (json_object_get (json_object_get (host, "return"), "overloaded"));
  json_decref (host);
  return overloaded;
}

static void
test_booting_cap (void)
{
  /* Capped at 1 GiB, the booting VM leaves alpha alone. */
  char *root = fake_root_new ();
  Manager *m = limits_manager_new (root, "booting-max=1G");
  guint64 lowest = alpha_lowest_target (m, 10);
  g_assert_cmpuint (lowest, >=, 4096 * MiB);
  g_assert_false (host_overloaded (m));
  limits_manager_free (m, root);

  /* The whole host held for it: alpha is squeezed, the host overloaded ...
   * until booting-time passes. */
  root = fake_root_new ();
  m = limits_manager_new (root, "booting-max=100%\nbooting-time=300ms");
  lowest = alpha_lowest_target (m, 3);
  g_test_message ("booting-max=100%%: alpha's lowest target %" G_GUINT64_FORMAT " MiB",
                  lowest >> 20);
  g_assert_true (host_overloaded (m));
  g_assert_nonnull (journal_find (BALLAST_LOG_OVERLOAD, NULL));
  g_assert_null (journal_find (BALLAST_LOG_OVERLOAD_CLEARED, NULL));
  g_usleep (350 * 1000);
  g_test_expect_message ("ballast", G_LOG_LEVEL_WARNING, "huge: no running balloon after*");
  mgr_tick_now (m);
  g_test_assert_expected_messages ();
  mgr_tick_now (m);
  g_assert_false (host_overloaded (m));
  /* The overload's end is told too (HOST_OVERLOAD_CLEARED, in the journal). */
  g_assert_nonnull (journal_find (BALLAST_LOG_OVERLOAD_CLEARED, NULL));
  limits_manager_free (m, root);
}

static void
test_limit_keys (void)
{
  static const char *const bad[]
      = { "max-vms=0", "max-vms=lots", "booting-max=huge", "booting-time=soon" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *text = g_strdup_printf ("[daemon]\n%s\n", bad[i]);
      g_autoptr (BallastConfig) cfg = cfg_load_data (text, "t.conf", &error);
      g_assert_null (cfg);
      g_assert_error (error, CFG_ERROR, CFG_ERROR_VALUE);
      g_assert_nonnull (strstr (error->message, "t.conf:2: [daemon]"));
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (BallastConfig) cfg
      = cfg_load_data ("[daemon]\nmax-vms=7\nbooting-max=2G\nbooting-time=90s\n"
                       "read-only-socket=/run/x.sock\nread-only-group=adm\n",
                       "t.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cfg->warnings->len, ==, 0);
  g_assert_cmpuint (cfg->max_vms, ==, 7);
  g_assert_false (cfg->booting_max.is_pct);
  g_assert_cmpuint (cfg->booting_max.bytes, ==, 2048 * MiB);
  g_assert_cmpuint (cfg->booting_time_ms, ==, 90000);
  g_assert_cmpstr (cfg->read_only_socket, ==, "/run/x.sock");
  g_assert_cmpstr (cfg->read_only_group, ==, "adm");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The empty KSM dir makes the probe warn once; that is not a failure here. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  journal_records = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_test_add_func ("/manager/two-backends-tick", test_two_backends_tick);
  g_test_add_func ("/manager/kick-storm", test_kick_storm);
  g_test_add_func ("/manager/limit-keys", test_limit_keys);
  g_test_add_func ("/manager/vm-cap", test_vm_cap);
  g_test_add_func ("/manager/booting-cap", test_booting_cap);
  return g_test_run ();
}
