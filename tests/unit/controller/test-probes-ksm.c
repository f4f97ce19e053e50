/* test-probes-ksm.c: the KSM reader and actuator against a fake sysfs root:
 * counters, missing files, advisor mode, write-only-changed, restore order
 * and values, dry-run, write errors, and ksmd CPU time with PID re-finding. */
#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "fake-root.h"
#include "ksm.h"

typedef struct
{
  char *root;
  HostRoots *roots;
  KsmCtx *ksm;
} Fixture;

static const struct
{
  const char *name;
  const char *value;
} ksm_tree[] = {
  { "run", "0\n" },
  { "pages_to_scan", "100\n" },
  { "sleep_millisecs", "20\n" },
  { "pages_shared", "1000\n" },
  { "pages_sharing", "5000\n" },
  { "pages_unshared", "300\n" },
  { "pages_volatile", "7\n" },
  { "pages_scanned", "123456789\n" },
  { "full_scans", "42\n" },
  { "general_profit", "-8192\n" },
  { "ksm_zero_pages", "3\n" },
  { "stable_node_chains", "1\n" },
  { "stable_node_dups", "2\n" },
  { "merge_across_nodes", "1\n" },
  { "use_zero_pages", "0\n" },
  { "max_page_sharing", "256\n" },
  { "advisor_mode", "[none] scan-time\n" },
  { "advisor_target_scan_time", "200\n" },
  { "advisor_max_cpu", "70\n" },
  { "advisor_min_pages_to_scan", "500\n" },
  { "advisor_max_pages_to_scan", "30000\n" },
};

static void
write_ksm (Fixture *f, const char *name, const char *value)
{
  g_autofree char *rel = g_build_filename ("ksm", name, NULL);
  fake_write (f->root, rel, value);
}

static char *
read_ksm (Fixture *f, const char *name)
{
  g_autofree char *rel = g_build_filename ("ksm", name, NULL);
  char *text = fake_read (f->root, rel);
  g_assert_nonnull (text);
  return g_strchomp (text);
}

#define assert_ksm_file(f, name, expected)                                                         \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *got_ = read_ksm (f, name);                                                    \
    g_assert_cmpstr (got_, ==, expected);                                                          \
  }                                                                                                \
  G_STMT_END

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->root = fake_root_new ();
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_tree); i++)
    write_ksm (f, ksm_tree[i].name, ksm_tree[i].value);
  fake_mkdir (f->root, "proc");
  g_autofree char *proc = g_build_filename (f->root, "proc", NULL);
  g_autofree char *sys = g_build_filename (f->root, "sys", NULL);
  g_autofree char *ksm = g_build_filename (f->root, "ksm", NULL);
  f->roots = host_roots_new (proc, sys, ksm);
  f->ksm = ksm_ctx_new (f->roots);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  ksm_ctx_free (f->ksm);
  host_roots_free (f->roots);
  fake_root_free (f->root);
}

static void
test_advisor_parse (void)
{
  PolicyKsmAdvisor a = POLICY_KSM_ADVISOR_ABSENT;
  g_assert_true (ksm_advisor_parse ("[none] scan-time\n", &a));
  g_assert_cmpint (a, ==, POLICY_KSM_ADVISOR_NONE);
  g_assert_true (ksm_advisor_parse ("none [scan-time]", &a));
  g_assert_cmpint (a, ==, POLICY_KSM_ADVISOR_SCAN_TIME);
  g_assert_true (ksm_advisor_parse ("[none] scan-time future-mode\n", &a));
  g_assert_cmpint (a, ==, POLICY_KSM_ADVISOR_NONE);
  static const char *const bad[]
      = { "",        "none scan-time", "[none] [scan-time]", "[future] none",
          "[] none", "[none",          "\x01[none]\x02" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      a = POLICY_KSM_ADVISOR_NONE;
      g_assert_false (ksm_advisor_parse (bad[i], &a));
    }
}

static void
test_read_all (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_no_error (error);
  g_assert_true (k.present);
  g_assert_cmpuint (k.page_size_bytes, ==, (uint64_t) sysconf (_SC_PAGESIZE));
  g_assert_cmpuint (k.pages_shared, ==, 1000);
  g_assert_cmpuint (k.pages_sharing, ==, 5000);
  g_assert_cmpuint (k.pages_unshared, ==, 300);
  g_assert_cmpuint (k.pages_volatile, ==, 7);
  g_assert_cmpuint (k.pages_scanned, ==, 123456789);
  g_assert_cmpuint (k.full_scans, ==, 42);
  g_assert_cmpuint (k.ksm_zero_pages, ==, 3);
  g_assert_cmpint (k.general_profit_bytes, ==, -8192);
  g_assert_cmpuint (k.run, ==, 0);
  g_assert_cmpuint (k.pages_to_scan, ==, 100);
  g_assert_cmpuint (k.sleep_millisecs, ==, 20);
  g_assert_cmpint (k.advisor_mode, ==, POLICY_KSM_ADVISOR_NONE);
  g_assert_cmpuint (k.advisor_target_scan_time_s, ==, 200);
  g_assert_cmpuint (k.advisor_max_cpu_pct, ==, 70);
  g_assert_false (k.ksmd_cpu_ns.present); /* no ksmd in the fake /proc */

  int64_t v = 0;
  g_assert_true (ksm_get (f->ksm, "stable_node_dups", &v));
  g_assert_cmpint (v, ==, 2);
  /* Files the policy does not use are not read each tick, only when asked. */
  write_ksm (f, "stable_node_dups", "not a number\n");
  g_assert_true (ksm_read (f->ksm, &k, NULL));
  g_assert_false (ksm_get (f->ksm, "stable_node_dups", &v));
  write_ksm (f, "stable_node_dups", "5\n");
  g_assert_true (ksm_get (f->ksm, "stable_node_dups", &v));
  g_assert_cmpint (v, ==, 5);
  g_assert_true (ksm_has (f->ksm, "max_page_sharing"));
  g_assert_false (ksm_has (f->ksm, "smart_scan"));
  g_assert_false (ksm_get (f->ksm, "smart_scan", &v));
  g_assert_false (ksm_get (f->ksm, "no_such_file", &v));
}

static void
test_read_old_kernel (Fixture *f, gconstpointer data)
{
  /* A 5.x kernel: no advisor, no general_profit, no ksm_zero_pages. */
  static const char *const newer[] = { "advisor_mode",
                                       "advisor_target_scan_time",
                                       "advisor_max_cpu",
                                       "advisor_min_pages_to_scan",
                                       "advisor_max_pages_to_scan",
                                       "general_profit",
                                       "ksm_zero_pages" };
  for (gsize i = 0; i < G_N_ELEMENTS (newer); i++)
    {
      g_autofree char *rel = g_build_filename ("ksm", newer[i], NULL);
      fake_remove (f->root, rel);
    }
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_no_error (error);
  g_assert_true (k.present);
  g_assert_cmpint (k.advisor_mode, ==, POLICY_KSM_ADVISOR_ABSENT);
  g_assert_cmpint (k.general_profit_bytes, ==, 0);
  g_assert_cmpuint (k.pages_sharing, ==, 5000);

  /* The advisor's knobs are never written where they do not exist. */
  PolicyKsmDecision d = { .set_advisor = TRUE,
                          .advisor_target_scan_time_s = 10,
                          .advisor_max_cpu_pct = 5,
                          .set_pages_to_scan = TRUE,
                          .pages_to_scan = 999 };
  guint n = 99;
  g_assert_true (ksm_apply (f->ksm, &d, FALSE, &n, &error));
  g_assert_cmpuint (n, ==, 1);
  assert_ksm_file (f, "pages_to_scan", "999");
  g_autofree char *adv = fake_read (f->root, "ksm/advisor_max_cpu");
  g_assert_null (adv);
}

static void
test_read_absent_and_garbage (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;

  /* No KSM at all. */
  g_autofree char *nowhere = g_build_filename (f->root, "no-ksm", NULL);
  g_autoptr (HostRoots) absent_roots = host_roots_new (NULL, NULL, nowhere);
  g_autoptr (KsmCtx) absent = ksm_ctx_new (absent_roots);
  g_assert_true (ksm_read (absent, &k, &error));
  g_assert_false (k.present);
  PolicyKsmDecision d = { .set_run = TRUE, .run = 1 };
  guint n = 9;
  g_assert_true (ksm_apply (absent, &d, FALSE, &n, &error));
  g_assert_cmpuint (n, ==, 0);
  g_assert_true (ksm_restore (absent, &error));

  /* Garbage in one file: the rest is read, the error names the file. */
  g_assert_true (ksm_read (f->ksm, &k, &error));
  write_ksm (f, "pages_sharing", "12abc\n");
  write_ksm (f, "full_scans", "99999999999999999999999\n");
  write_ksm (f, "pages_shared", "2000\n");
  g_assert_false (ksm_read (f->ksm, &k, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "pages_sharing"));
  g_clear_error (&error);
  g_assert_true (k.present);
  g_assert_cmpuint (k.pages_shared, ==, 2000);
  g_assert_cmpuint (k.pages_sharing, ==, 5000); /* last good value kept */
  g_assert_cmpuint (k.full_scans, ==, 42);

  /* Huge knob values clamp to the u32 fields; a vanished file stops being read. */
  write_ksm (f, "pages_sharing", "5000\n");
  write_ksm (f, "full_scans", "9223372036854775807\n");
  write_ksm (f, "pages_to_scan", "4294967296\n");
  fake_remove (f->root, "ksm/pages_volatile");
  g_assert_false (ksm_read (f->ksm, &k, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (k.full_scans, ==, G_MAXINT64);
  g_assert_cmpuint (k.pages_to_scan, ==, G_MAXUINT32);
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_no_error (error);
  g_assert_false (ksm_has (f->ksm, "pages_volatile"));
  g_assert_cmpuint (k.pages_volatile, ==, 0);
  int64_t v = 0;
  fake_remove (f->root, "ksm/stable_node_dups");
  g_assert_false (ksm_get (f->ksm, "stable_node_dups", &v));
  g_assert_false (ksm_has (f->ksm, "stable_node_dups"));

  /* Unknown advisor mode: reported, read as absent. */
  write_ksm (f, "advisor_mode", "[future]\n");
  g_autoptr (KsmCtx) fresh = ksm_ctx_new (f->roots);
  g_assert_false (ksm_read (fresh, &k, &error));
  g_assert_nonnull (strstr (error->message, "advisor_mode"));
  g_assert_cmpint (k.advisor_mode, ==, POLICY_KSM_ADVISOR_ABSENT);
}

static void
test_apply_only_changed_and_restore (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  g_assert_true (ksm_read (f->ksm, &k, &error));

  PolicyKsmDecision boost = { .state = POLICY_KSM_BOOST,
                              .set_run = TRUE,
                              .run = 1,
                              .set_pages_to_scan = TRUE,
                              .pages_to_scan = 5000,
                              .set_sleep_millisecs = TRUE,
                              .sleep_millisecs = 20,
                              .reason = "kick" };
  g_assert_true (ksm_apply (f->ksm, &boost, FALSE, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 2); /* sleep_millisecs was already 20 */
  assert_ksm_file (f, "run", "1");
  assert_ksm_file (f, "pages_to_scan", "5000");
  assert_ksm_file (f, "sleep_millisecs", "20");
  g_assert_cmpuint (ksm_n_saved (f->ksm), ==, 2);
  /* The advisor is off: its knobs are untouched. */
  assert_ksm_file (f, "advisor_target_scan_time", "200");

  /* Same decision again: nothing is written. A marker in the file shows
   * that the actuator compares with its last value, not with the file. */
  write_ksm (f, "pages_to_scan", "marker\n");
  g_assert_true (ksm_apply (f->ksm, &boost, FALSE, &n, &error));
  g_assert_cmpuint (n, ==, 0);
  assert_ksm_file (f, "pages_to_scan", "marker");
  write_ksm (f, "pages_to_scan", "5000\n");

  /* Steady: a second change of the same knob keeps its first original. */
  PolicyKsmDecision steady = { .state = POLICY_KSM_STEADY,
                               .set_pages_to_scan = TRUE,
                               .pages_to_scan = 300,
                               .set_sleep_millisecs = TRUE,
                               .sleep_millisecs = 50 };
  g_assert_true (ksm_apply (f->ksm, &steady, FALSE, &n, &error));
  g_assert_cmpuint (n, ==, 2);
  assert_ksm_file (f, "pages_to_scan", "300");
  assert_ksm_file (f, "sleep_millisecs", "50");
  assert_ksm_file (f, "run", "1");
  g_assert_cmpuint (ksm_n_saved (f->ksm), ==, 3);

  g_assert_true (ksm_restore (f->ksm, &error));
  g_assert_no_error (error);
  assert_ksm_file (f, "run", "0");
  assert_ksm_file (f, "pages_to_scan", "100");
  assert_ksm_file (f, "sleep_millisecs", "20");
  g_assert_cmpuint (ksm_n_saved (f->ksm), ==, 0);
  /* Never-written files are untouched. */
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_tree); i++)
    {
      g_autofree char *rel = g_build_filename ("ksm", ksm_tree[i].name, NULL);
      g_autofree char *now = fake_read (f->root, rel);
      g_assert_cmpstr (now, ==, ksm_tree[i].value);
    }

  /* A second restore has nothing to do. */
  g_assert_true (ksm_restore (f->ksm, &error));
}

static void
test_restore_order (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  g_assert_true (ksm_read (f->ksm, &k, &error));
  PolicyKsmDecision on = { .set_run = TRUE,
                           .run = 1,
                           .set_pages_to_scan = TRUE,
                           .pages_to_scan = 4000,
                           .set_sleep_millisecs = TRUE,
                           .sleep_millisecs = 10 };
  g_assert_true (ksm_apply (f->ksm, &on, FALSE, NULL, &error));

  /* `run` as a directory makes its restore fail; the rates before it are
   * still restored and the error names run's path. */
  fake_remove (f->root, "ksm/run");
  fake_mkdir (f->root, "ksm/run");
  g_assert_false (ksm_restore (f->ksm, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "ksm/run"));
  g_clear_error (&error);
  assert_ksm_file (f, "pages_to_scan", "100");
  assert_ksm_file (f, "sleep_millisecs", "20");
  g_assert_cmpuint (ksm_n_saved (f->ksm), ==, 1); /* run is kept for a retry */

  fake_remove (f->root, "ksm/run");
  write_ksm (f, "run", "1\n");
  g_assert_true (ksm_restore (f->ksm, &error));
  g_assert_no_error (error);
  assert_ksm_file (f, "run", "0");

  /* An operator who put a knob back already: restore skips it. */
  g_assert_true (ksm_apply (f->ksm, &on, FALSE, NULL, &error));
  write_ksm (f, "pages_to_scan", "100\n");
  g_assert_true (ksm_restore (f->ksm, &error));
  assert_ksm_file (f, "pages_to_scan", "100");
  assert_ksm_file (f, "run", "0");
}

static void
test_advisor_mode (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  write_ksm (f, "advisor_mode", "none [scan-time]\n");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_cmpint (k.advisor_mode, ==, POLICY_KSM_ADVISOR_SCAN_TIME);

  PolicyKsmDecision d = { .set_run = TRUE,
                          .run = 1,
                          .set_pages_to_scan = TRUE,
                          .pages_to_scan = 5000,
                          .set_advisor = TRUE,
                          .advisor_target_scan_time_s = 30,
                          .advisor_max_cpu_pct = 50 };
  g_assert_true (ksm_apply (f->ksm, &d, FALSE, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 3);
  assert_ksm_file (f, "advisor_target_scan_time", "30");
  assert_ksm_file (f, "advisor_max_cpu", "50");
  assert_ksm_file (f, "pages_to_scan", "100"); /* the advisor owns it */
  assert_ksm_file (f, "run", "1");

  g_assert_true (ksm_restore (f->ksm, &error));
  assert_ksm_file (f, "advisor_target_scan_time", "200");
  assert_ksm_file (f, "advisor_max_cpu", "70");
  assert_ksm_file (f, "run", "0");

  /* Advisor switched on by someone else after pages_to_scan was changed:
   * restore leaves pages_to_scan to the advisor (the kernel would refuse). */
  g_autoptr (KsmCtx) ctx = ksm_ctx_new (f->roots);
  write_ksm (f, "advisor_mode", "[none] scan-time\n");
  g_assert_true (ksm_read (ctx, &k, &error));
  g_assert_true (ksm_apply (ctx, &d, FALSE, &n, &error));
  assert_ksm_file (f, "pages_to_scan", "5000");
  assert_ksm_file (f, "advisor_max_cpu", "70");
  write_ksm (f, "advisor_mode", "none [scan-time]\n");
  g_assert_true (ksm_restore (ctx, &error));
  g_assert_no_error (error);
  assert_ksm_file (f, "pages_to_scan", "5000");
  assert_ksm_file (f, "run", "0");
}

static void
test_dry_run (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  /* Without a prior read: the actuator reads what it needs itself. */
  PolicyKsmDecision d = { .set_run = TRUE,
                          .run = 1,
                          .set_pages_to_scan = TRUE,
                          .pages_to_scan = 5000,
                          .set_sleep_millisecs = TRUE,
                          .sleep_millisecs = 200,
                          .reason = "test" };
  g_assert_true (ksm_apply (f->ksm, &d, TRUE, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 3);
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_tree); i++)
    {
      g_autofree char *rel = g_build_filename ("ksm", ksm_tree[i].name, NULL);
      g_autofree char *now = fake_read (f->root, rel);
      g_assert_cmpstr (now, ==, ksm_tree[i].value);
    }
  g_assert_cmpuint (ksm_n_saved (f->ksm), ==, 0);
  /* Still "would change" next time: dry-run does not pretend it wrote. */
  g_assert_true (ksm_apply (f->ksm, &d, TRUE, &n, &error));
  g_assert_cmpuint (n, ==, 3);
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_cmpuint (k.run, ==, 0);
  g_assert_true (ksm_restore (f->ksm, &error));
  assert_ksm_file (f, "run", "0");
}

static void
test_write_error (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  g_assert_true (ksm_read (f->ksm, &k, &error));
  /* /dev/full fails every write with ENOSPC, as the kernel fails a
   * rejected value with EINVAL/EBUSY: at write(), not open(). */
  fake_symlink (f->root, "ksm/pages_to_scan", "/dev/full");
  PolicyKsmDecision d
      = { .set_run = TRUE, .run = 1, .set_pages_to_scan = TRUE, .pages_to_scan = 5000 };
  g_assert_false (ksm_apply (f->ksm, &d, FALSE, &n, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (error->message, "ksm/pages_to_scan"));
  g_assert_nonnull (strstr (error->message, "5000"));
  g_clear_error (&error);
  /* The failing knob does not block the others. */
  g_assert_cmpuint (n, ==, 1);
  assert_ksm_file (f, "run", "1");

  fake_remove (f->root, "ksm/pages_to_scan");
  write_ksm (f, "pages_to_scan", "100\n");
  g_assert_true (ksm_restore (f->ksm, &error));
  g_assert_no_error (error);
  assert_ksm_file (f, "run", "0");
  assert_ksm_file (f, "pages_to_scan", "100");
}

static void
test_ksmd_cpu (Fixture *f, gconstpointer data)
{
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  long hz = sysconf (_SC_CLK_TCK);
  uint64_t ns_per_tick = 1000000000ull / (uint64_t) hz;

  fake_write (f->root, "proc/1/comm", "init\n");
  fake_write (f->root, "proc/1/stat", "1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 5 5 0 0\n");
  fake_write (f->root, "proc/37/comm", "ksmd\n");
  fake_write (f->root, "proc/37/stat", "37 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 150 250 0 0\n");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_true (k.ksmd_cpu_ns.present);
  g_assert_cmpuint (k.ksmd_cpu_ns.value, ==, 400 * ns_per_tick);
  g_assert_cmpint (ksm_ksmd_pid (f->ksm), ==, 37);

  /* Cached: a second ksmd-named dir appearing does not matter. */
  fake_write (f->root, "proc/37/stat", "37 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 151 250 0 0\n");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_cmpuint (k.ksmd_cpu_ns.value, ==, 401 * ns_per_tick);

  /* PID reused by a user process: found again under its new PID. */
  fake_write (f->root, "proc/37/comm", "bash\n");
  fake_write (f->root, "proc/37/stat", "37 (bash) S 2 0 0 0 -1 4194560 0 0 0 0 1 1 0 0\n");
  fake_write (f->root, "proc/41/comm", "ksmd\n");
  fake_write (f->root, "proc/41/stat", "41 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 7 3 0 0\n");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_cmpint (ksm_ksmd_pid (f->ksm), ==, 41);
  g_assert_cmpuint (k.ksmd_cpu_ns.value, ==, 10 * ns_per_tick);

  /* Gone entirely: absent, and the /proc scan is not repeated every read. */
  fake_remove (f->root, "proc/41/stat");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_false (k.ksmd_cpu_ns.present);
  g_assert_cmpint (ksm_ksmd_pid (f->ksm), ==, 0);
  fake_write (f->root, "proc/41/stat", "41 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 7 3 0 0\n");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_false (k.ksmd_cpu_ns.present);
  for (int i = 0; i < KSM_KSMD_RESCAN_READS && !k.ksmd_cpu_ns.present; i++)
    g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_true (k.ksmd_cpu_ns.present);
  g_assert_cmpint (ksm_ksmd_pid (f->ksm), ==, 41);

  /* Garbage stat: absent, not a crash or a bogus number. */
  fake_write (f->root, "proc/41/stat", "41 (ksmd) S junk\n");
  g_assert_true (ksm_read (f->ksm, &k, &error));
  g_assert_false (k.ksmd_cpu_ns.present);
}

static const PolicyKsmDecision saved_boost = { .state = POLICY_KSM_BOOST,
                                               .set_run = TRUE,
                                               .run = 1,
                                               .set_pages_to_scan = TRUE,
                                               .pages_to_scan = 5000 };

/* A daemon killed while boosted: its originals are on disk before the first
 * write, and the next run's recovery puts them back and removes the file. */
static void
test_saved_crash_recover (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->root, "run", "ksm-saved.json", NULL);
  guint n = 0;
  ksm_set_saved_path (f->ksm, path);
  g_assert_true (ksm_apply (f->ksm, &saved_boost, FALSE, NULL, &error));
  g_assert_no_error (error);
  assert_ksm_file (f, "run", "1");
  g_autofree char *saved = fake_read (f->root, "run/ksm-saved.json");
  g_assert_nonnull (saved);
  g_assert_nonnull (strstr (saved, "\"pages_to_scan\": 100"));
  g_assert_nonnull (strstr (saved, "\"run\": 0"));

  /* SIGKILL: no restore; a new run starts from the boosted values. */
  ksm_ctx_free (f->ksm);
  f->ksm = ksm_ctx_new (f->roots);
  ksm_set_saved_path (f->ksm, path);
  g_assert_true (ksm_recover_saved (f->ksm, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 2);
  assert_ksm_file (f, "run", "0");
  assert_ksm_file (f, "pages_to_scan", "100");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  /* Its own boost then saves the host's values, not the boosted ones. */
  g_assert_true (ksm_apply (f->ksm, &saved_boost, FALSE, NULL, &error));
  g_assert_true (ksm_restore (f->ksm, &error));
  assert_ksm_file (f, "pages_to_scan", "100");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  /* No file: nothing to do. */
  g_assert_true (ksm_recover_saved (f->ksm, &n, &error));
  g_assert_cmpuint (n, ==, 0);
}

/* A knob whose original cannot be saved is not written; a garbage file is
 * removed; a file for another KSM dir is left alone. */
static void
test_saved_file_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  guint n = 0;
  fake_write (f->root, "blocker", "a file, not a directory\n");
  g_autofree char *bad = g_build_filename (f->root, "blocker", "ksm-saved.json", NULL);
  ksm_set_saved_path (f->ksm, bad);
  g_assert_false (ksm_apply (f->ksm, &saved_boost, FALSE, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  assert_ksm_file (f, "run", "0");
  assert_ksm_file (f, "pages_to_scan", "100");
  g_assert_cmpuint (ksm_n_saved (f->ksm), ==, 0);

  g_autofree char *path = g_build_filename (f->root, "ksm-saved.json", NULL);
  ksm_set_saved_path (f->ksm, path);
  fake_write (f->root, "ksm-saved.json", "{\"ksm-dir\": 3}");
  g_assert_false (ksm_recover_saved (f->ksm, &n, &error));
  g_clear_error (&error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  fake_write (f->root, "ksm-saved.json", "{\"ksm-dir\": \"/elsewhere\", \"knobs\": {\"run\": 1}}");
  g_assert_false (ksm_recover_saved (f->ksm, &n, &error));
  g_clear_error (&error);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  assert_ksm_file (f, "run", "0");
  g_autofree char *other
      = g_strdup_printf ("{\"ksm-dir\": \"%s\", \"knobs\": {\"uid\": 1}}", f->roots->ksm_dir);
  fake_write (f->root, "ksm-saved.json", other);
  g_assert_false (ksm_recover_saved (f->ksm, &n, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/probes/ksm/advisor-parse", test_advisor_parse);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/probes/ksm/read-all", test_read_all);
  ADD ("/probes/ksm/read-old-kernel", test_read_old_kernel);
  ADD ("/probes/ksm/read-absent-and-garbage", test_read_absent_and_garbage);
  ADD ("/probes/ksm/apply-only-changed-and-restore", test_apply_only_changed_and_restore);
  ADD ("/probes/ksm/restore-order", test_restore_order);
  ADD ("/probes/ksm/advisor-mode", test_advisor_mode);
  ADD ("/probes/ksm/dry-run", test_dry_run);
  ADD ("/probes/ksm/write-error", test_write_error);
  ADD ("/probes/ksm/ksmd-cpu", test_ksmd_cpu);
  ADD ("/probes/ksm/saved-crash-recover", test_saved_crash_recover);
  ADD ("/probes/ksm/saved-file-errors", test_saved_file_errors);
#undef ADD
  return g_test_run ();
}
