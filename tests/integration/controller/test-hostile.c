/* test-hostile.c: ballastd with a hostile guest (ballast-load hostile: agent
 * port floods, absurd reports, alternating hellos, pressure every 10 ms, and a
 * reset loop) beside two honest ones, against a baseline ballastd with the
 * two honest ones alone, same config, run at the same time; over a window
 * of WINDOW_S that opens once every VM has settled:
 *   ballastd's CPU under 5 % of a core (the baseline's printed beside it);
 *   the honest VMs' final targets equal to the baseline's within the deadband;
 *   the hostile VM's target never above its max nor below its min;
 *   at most LOG_LINES_PER_MIN log lines a minute naming the hostile VM;
 *   KSM boosted at most once per boost length: no two boost starts closer
 *   than boost-scan-time, and no boost longer than a boost (a longer one
 *   was restarted, or extended by a kick with nothing to merge).
 * Every figure is printed; every check is evaluated (a failed one marks the
 * test failed at the end), so one run shows which of them hold. Each
 * daemon drives a fake KSM sysfs directory of its own, whose full_scans the
 * test advances every second as ksmd would, so a boost ends after exactly
 * boost-scan-time unless a kick restarts it, and a kick after its end shows
 * as a new boost. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "defaults.h"
#include "guest.h"

#define MiB (G_GINT64_CONSTANT (1) << 20)
/* The measurement window. */
#define WINDOW_S 60
/* Honest guests: a 200 MiB working set keeps their need above min, so the
 * comparison of targets is about the need, not the floor. */
#define HONEST_MIB 768
#define HONEST_WORKLOAD "steady:200M"
#define HOSTILE_NAME "hostile"
#define HOSTILE_MIB 512
/* Attacks for 16 s after each boot, then resets (a boot takes ~4 s under
 * TCG): about three resets per window. */
#define HOSTILE_WORKLOAD "hostile:16"
/* Bounds of the hostile VM inside its RAM, so that "never above max" is a
 * real check (a reset brings the guest back at its full RAM). */
#define HOSTILE_MIN_MIB 192
#define HOSTILE_MAX_MIB 448
#define CPU_LIMIT_PCT 5.0
/* Lines naming the hostile VM a minute. A VM that does everything wrong at
 * once may legitimately cause, per minute: one summary of rejected input,
 * one line for a changed agent identity, a few target changes (the policy
 * moves it between min and max as its claims swing, at most one line per
 * kind a minute once rate-limited), a link event. Six covers that; the
 * unlimited case is ~20 lines a second. */
#define LOG_LINES_PER_MIN 6
/* The default boost-scan-time: a boost lasts this long (the fake ksmd
 * completes a scan every second). A reset every ~20 s falls inside it. */
#define BOOST_SCAN_S 30
/* A boost lasts at least boost-scan-time and a kick neither restarts it
 * nor (with nothing merged) extends it, so starts are at least BOOST_SCAN_S
 * apart; BALLAST_KSM_COOLDOWN_MS overrides that gap here. */
#define KSM_COOLDOWN_DEFAULT_MS (BOOST_SCAN_S * 1000)
/* A boost ends at the first tick after boost-scan-time (1 s), and its end
 * is read as the start of the state seen next, up to 1 s later. */
#define BOOST_END_SLACK_MS 3000
/* Slack for the 1 s sampling of boost start times. */
#define SAMPLE_SLACK_MS 1500
#define ADOPT_TIMEOUT_MS 15000
/* The window opens this long after adoption, once every VM has settled:
 * the honest ones come down from their RAM to their need in inflate steps
 * (~13 ticks of 24 MiB), the hostile one from its max; those decisions and
 * their log lines are any new VM's, not the attack's. */
#define ADOPT_SETTLE_S 15

/* The same config for both daemons. Density mode: spare memory stays on the
 * host, so an honest VM's target is its need whatever the other VMs do. Three
 * defaults are changed so that the baseline itself is reproducible within
 * the deadband:
 * - headroom 256M (default 64M): the need the policy derives for a
 *   steady:200M guest leaves out ~100 MiB the guest holds (kernel, non-LRU),
 *   so at 64 or 128 MiB the honest guests fall into the urgent path in the
 *   baseline too, and then demand floors and decaying pressure allowances
 *   decide their final targets, not the hostile guest;
 * - boot-grace 0 (default 30 s): every VM settles within ADOPT_SETTLE_S;
 * - inflate-step 24M (default 77 MiB here): a target short of the plan by
 *   less than half a step counts as in flight and is not moved further, so
 *   a final target lands anywhere in [plan, plan + step / 2) depending on
 *   tick timing; with the default step that spread alone exceeds the 16 MiB
 *   deadband. */
#define HOSTILE_CONF                                                                               \
  "[host]\nmode=density\ninflate-step=24M\n[defaults]\nheadroom=256M\nboot-grace=0\n"             \
  "[ksm]\nmode=auto\nsysfs=%s\nboost-scan-time=%ds\nrestore-on-exit=false\n"                       \
  "[vm " HOSTILE_NAME "]\nmin=%dM\nmax=%dM\n"

static const char *const honest_names[] = { "honest1", "honest2" };

/* One KSM boost seen through query-ksm, wall ms; end -1 while it runs. */
typedef struct
{
  gint64 start_ms;
  gint64 end_ms;
} KsmBoost;

typedef struct
{
  const char *label;
  char *ksm_dir;
  TestDaemon *d;
  TestGuest *guests[3];
  guint n_guests;
  gint64 t0_us;
  gint64 t0_real_ms;
  gint64 t1_real_ms; /* the window's end */
  guint64 cpu0_ticks;
  guint log0_hostile;
  double cpu_pct;
  GArray *boosts; /* KsmBoost, in order */
  gint64 last_boost_since_ms;
  guint missed_samples;
  /* honest VMs' targets over the second half of the window */
  gint64 honest_lo[2], honest_hi[2];
} Run;

/* Failed checks, listed at the end. */
static GString *failures;

static void check (gboolean ok, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
check (gboolean ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_test_message ("%s: %s", ok ? "PASS" : "FAIL", msg);
  if (!ok)
    g_string_append_printf (failures, "\n  %s", msg);
}

/* ---- fake ksmd ---- */

static const char *const ksm_files[][2] = {
  { "run", "0" },
  { "pages_to_scan", "100" },
  { "sleep_millisecs", "20" },
  { "pages_shared", "0" },
  { "pages_sharing", "0" },
  { "pages_unshared", "0" },
  { "pages_volatile", "0" },
  { "pages_scanned", "0" },
  { "full_scans", "0" },
  { "ksm_zero_pages", "0" },
  { "merge_across_nodes", "1" },
  { "use_zero_pages", "0" },
  { "max_page_sharing", "256" },
  { "stable_node_chains", "0" },
  { "stable_node_dups", "0" },
};

static char *
fake_ksm_new (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("ballast-fake-ksm-XXXXXX", &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_files); i++)
    {
      g_autofree char *p = g_build_filename (dir, ksm_files[i][0], NULL);
      g_assert_true (g_file_set_contents (p, ksm_files[i][1], -1, NULL));
    }
  return dir;
}

static void
fake_ksm_free (char *dir)
{
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_files); i++)
    {
      g_autofree char *p = g_build_filename (dir, ksm_files[i][0], NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
  g_free (dir);
}

/* One second of ksmd: a full scan done, pages scanned, nothing merged. */
static void
fake_ksm_advance (const char *dir, guint second)
{
  g_autofree char *scans = g_build_filename (dir, "full_scans", NULL);
  g_autofree char *scanned = g_build_filename (dir, "pages_scanned", NULL);
  g_autofree char *n_scans = g_strdup_printf ("%u", second);
  g_autofree char *n_scanned = g_strdup_printf ("%u", second * 10000);
  g_file_set_contents (scans, n_scans, -1, NULL);
  g_file_set_contents (scanned, n_scanned, -1, NULL);
}

/* ---- reading the daemon ---- */

/* A control command that may fail (a daemon under attack may be slow);
 * NULL then, and the miss is counted. */
static json_t *
try_cmd (Run *r, const char *command, json_t *args)
{
  g_autoptr (GError) error = NULL;
  json_t *ret = qmp_sync_execute (r->d->ctl, command, args, &error);
  if (ret == NULL)
    {
      r->missed_samples++;
      g_test_message ("%s: %s failed: %s", r->label, command, error->message);
    }
  return ret;
}

static json_t *
try_vm (Run *r, const char *name)
{
  return try_cmd (r, "query-vm", json_pack ("{s:s}", "name", name));
}

/* An integer member, or @fallback when absent or not an integer. */
static gint64
int_or (json_t *o, const char *key, gint64 fallback)
{
  json_t *v = json_object_get (o, key);
  return json_is_integer (v) ? json_integer_value (v) : fallback;
}

/* utime + stime of @pid in clock ticks (fields 14 and 15 of its stat). */
static guint64
proc_cpu_ticks (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  const char *p = strrchr (text, ')');
  g_assert_nonnull (p);
  g_auto (GStrv) f = g_strsplit (p + 2, " ", -1);
  g_assert_cmpuint (g_strv_length (f), >, 12);
  /* f[0] is field 3 (state): utime is field 14, stime 15. */
  return g_ascii_strtoull (f[11], NULL, 10) + g_ascii_strtoull (f[12], NULL, 10);
}

static gboolean
vm_active (Run *r, const char *name)
{
  json_t *vm = try_vm (r, name);
  gboolean ok = vm && g_strcmp0 (json_string_value (json_object_get (vm, "state")), "active") == 0;
  json_decref (vm);
  return ok;
}

static void
wait_adopted (Run *r)
{
  gint64 deadline = g_get_monotonic_time () + ADOPT_TIMEOUT_MS * 1000;
  for (guint i = 0; i < r->n_guests; i++)
    while (!vm_active (r, r->guests[i]->name))
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (100 * 1000);
      }
}

/* ---- the runs ---- */

static void
run_init (Run *r, const char *label)
{
  g_autoptr (GError) error = NULL;
  r->label = label;
  r->ksm_dir = fake_ksm_new ();
  g_autofree char *conf
      = g_strdup_printf (HOSTILE_CONF, r->ksm_dir, BOOST_SCAN_S, HOSTILE_MIN_MIB, HOSTILE_MAX_MIB);
  r->d = test_daemon_new (conf, &error);
  g_assert_no_error (error);
  r->boosts = g_array_new (FALSE, FALSE, sizeof (KsmBoost));
  for (gsize i = 0; i < G_N_ELEMENTS (r->honest_lo); i++)
    r->honest_lo[i] = r->honest_hi[i] = -1;
}

static void
run_boot (Run *r, const char *name, guint mem_mib, const char *workload)
{
  g_autoptr (GError) error = NULL;
  TestGuest *g = test_guest_start_in (r->d->qmp_dir, name, mem_mib, workload, 0, "tcg", &error);
  g_assert_no_error (error);
  g_test_message ("%s: guest %s (%u MiB, %s) up in %" G_GINT64_FORMAT " ms", r->label, name,
                  mem_mib, workload, g->boot_us / 1000);
  r->guests[r->n_guests++] = g;
}

static void
run_start (Run *r)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (test_daemon_start (r->d, NULL, &error));
  g_assert_no_error (error);
}

static void
run_window_open (Run *r)
{
  r->t0_us = g_get_monotonic_time ();
  r->t0_real_ms = g_get_real_time () / 1000;
  r->cpu0_ticks = proc_cpu_ticks (r->d->pid);
  r->log0_hostile = test_daemon_log_count (r->d, HOSTILE_NAME);
}

static void
run_window_close (Run *r)
{
  r->t1_real_ms = g_get_real_time () / 1000;
  guint64 ticks = proc_cpu_ticks (r->d->pid) - r->cpu0_ticks;
  double secs = (double) (g_get_monotonic_time () - r->t0_us) / G_USEC_PER_SEC;
  r->cpu_pct = (double) ticks / (double) sysconf (_SC_CLK_TCK) / secs * 100.0;
  g_test_message ("%s: ballastd CPU %.2f %% of a core over %.1f s (%" G_GUINT64_FORMAT
                  " ticks); %u control commands failed",
                  r->label, r->cpu_pct, secs, ticks, r->missed_samples);
}

/* A boost whose start was not seen before is a new one; the first other
 * state after it says when it ended. A kick that restarts a running boost
 * changes neither: it shows as a boost that lasts too long. */
static void
sample_ksm (Run *r)
{
  json_t *k = try_cmd (r, "query-ksm", NULL);
  if (k == NULL)
    return;
  gint64 since = int_or (k, "state_since_ms", 0);
  gboolean boost = g_strcmp0 (json_string_value (json_object_get (k, "state")), "boost") == 0;
  json_decref (k);
  KsmBoost *last = r->boosts->len ? &g_array_index (r->boosts, KsmBoost, r->boosts->len - 1) : NULL;
  if (boost && since != r->last_boost_since_ms)
    {
      r->last_boost_since_ms = since;
      KsmBoost b = { .start_ms = since, .end_ms = -1 };
      g_array_append_val (r->boosts, b);
    }
  else if (!boost && last && last->end_ms < 0)
    last->end_ms = since;
}

typedef struct
{
  guint n;
  guint out_of_bounds;
  gint64 target_lo, target_hi, actual_lo, actual_hi, min, max;
} HostileSamples;

static void
sample_hostile (Run *r, HostileSamples *s)
{
  json_t *vm = try_vm (r, HOSTILE_NAME);
  if (vm == NULL)
    return;
  gint64 target = int_or (vm, "target_bytes", -1), actual = int_or (vm, "actual_bytes", -1);
  gint64 min = int_or (vm, "min_bytes", -1), max = int_or (vm, "max_bytes", -1);
  json_decref (vm);
  if (target < 0 || min < 0 || max < 0)
    return;
  if (s->n++ == 0)
    {
      s->target_lo = s->target_hi = target;
      s->actual_lo = s->actual_hi = actual;
    }
  s->target_lo = MIN (s->target_lo, target);
  s->target_hi = MAX (s->target_hi, target);
  if (actual >= 0)
    {
      s->actual_lo = MIN (s->actual_lo, actual);
      s->actual_hi = MAX (s->actual_hi, actual);
    }
  s->min = min;
  s->max = max;
  if (target < min || target > max)
    {
      s->out_of_bounds++;
      g_test_message ("hostile target %" G_GINT64_FORMAT " MiB outside [%" G_GINT64_FORMAT
                      ", %" G_GINT64_FORMAT "] MiB",
                      target / MiB, min / MiB, max / MiB);
    }
}

/* The honest VMs' target ranges over the second half of the window show
 * how settled they are (both runs). */
static void
sample_honest (Run *r)
{
  for (gsize i = 0; i < G_N_ELEMENTS (honest_names); i++)
    {
      json_t *vm = try_vm (r, honest_names[i]);
      gint64 t = int_or (vm, "target_bytes", -1);
      json_decref (vm);
      if (t < 0)
        continue;
      r->honest_lo[i] = r->honest_lo[i] < 0 ? t : MIN (r->honest_lo[i], t);
      r->honest_hi[i] = MAX (r->honest_hi[i], t);
    }
}

/* The honest VM's largest fall of target within one second, from the
 * decision ring: extra ticks compress the per-tick inflate steps. */
static gint64
fastest_inflate_per_s (Run *r, const char *name)
{
  json_t *dec = try_cmd (r, "query-decisions", json_pack ("{s:i}", "limit", 512));
  g_autoptr (GArray) t = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) v = g_array_new (FALSE, FALSE, sizeof (gint64));
  size_t i;
  json_t *e;
  json_array_foreach (dec, i,
                      e) if (g_strcmp0 (json_string_value (json_object_get (e, "vm")), name) == 0
                             && json_is_integer (json_object_get (e, "new_target_bytes")))
  {
    gint64 ti = int_or (e, "time_ms", 0), vi = int_or (e, "new_target_bytes", 0);
    g_array_append_val (t, ti);
    g_array_append_val (v, vi);
  }
  json_decref (dec);
  gint64 best = 0;
  for (guint a = 0; a < t->len; a++)
    for (guint b = a + 1; b < t->len; b++)
      if (g_array_index (t, gint64, b) - g_array_index (t, gint64, a) < 1000)
        best = MAX (best, g_array_index (v, gint64, a) - g_array_index (v, gint64, b));
  return best;
}

/* ---- the checks ---- */

static void
check_cpu (Run *hostile, Run *base)
{
  check (hostile->cpu_pct < CPU_LIMIT_PCT,
         "ballastd CPU with the hostile guest %.2f %% of a core over %d s (limit %.1f %%; "
         "baseline %.2f %%)",
         hostile->cpu_pct, WINDOW_S, CPU_LIMIT_PCT, base->cpu_pct);
}

static void
check_honest_targets (Run *hostile, Run *base)
{
  guint64 ram = (guint64) HONEST_MIB * MiB;
  gint64 deadband = (gint64) MAX ((guint64) (ram * POLICY_DEFAULT_DEADBAND_PCT / 100.0),
                                  POLICY_DEFAULT_DEADBAND_FLOOR_BYTES);
  for (gsize i = 0; i < G_N_ELEMENTS (honest_names); i++)
    {
      json_t *h = try_vm (hostile, honest_names[i]);
      json_t *b = try_vm (base, honest_names[i]);
      gint64 th = int_or (h, "target_bytes", -1), tb = int_or (b, "target_bytes", -1);
      g_test_message ("%s: need %" G_GINT64_FORMAT " / %" G_GINT64_FORMAT
                      " MiB, actual %" G_GINT64_FORMAT " / %" G_GINT64_FORMAT
                      " MiB, target over the last %d s %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT
                      " / %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT " MiB (hostile run / baseline)",
                      honest_names[i], int_or (h, "need_bytes", -1) / MiB,
                      int_or (b, "need_bytes", -1) / MiB, int_or (h, "actual_bytes", -1) / MiB,
                      int_or (b, "actual_bytes", -1) / MiB, WINDOW_S / 2,
                      hostile->honest_lo[i] / MiB, hostile->honest_hi[i] / MiB,
                      base->honest_lo[i] / MiB, base->honest_hi[i] / MiB);
      check (th >= 0 && tb >= 0 && ABS (th - tb) <= deadband,
             "%s final target %" G_GINT64_FORMAT " MiB with the hostile guest, %" G_GINT64_FORMAT
             " MiB in the baseline: differ by %" G_GINT64_FORMAT " MiB (deadband %" G_GINT64_FORMAT
             " MiB)",
             honest_names[i], th / MiB, tb / MiB, ABS (th - tb) / MiB, deadband / MiB);
      json_decref (h);
      json_decref (b);
      g_test_message ("%s: largest target fall within 1 s: %" G_GINT64_FORMAT " / %" G_GINT64_FORMAT
                      " MiB (hostile run / baseline; not checked)",
                      honest_names[i], fastest_inflate_per_s (hostile, honest_names[i]) / MiB,
                      fastest_inflate_per_s (base, honest_names[i]) / MiB);
    }
}

static void
check_hostile_bounds (const HostileSamples *s)
{
  check (s->n >= (ADOPT_SETTLE_S + WINDOW_S) / 2 && s->out_of_bounds == 0,
         "hostile target in [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] MiB over %u samples: "
         "lowest %" G_GINT64_FORMAT " MiB, highest %" G_GINT64_FORMAT " MiB, %u outside "
         "(actual %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT " MiB)",
         s->min / MiB, s->max / MiB, s->n, s->target_lo / MiB, s->target_hi / MiB, s->out_of_bounds,
         s->actual_lo / MiB, s->actual_hi / MiB);
}

/* Counts of the hostile VM's log lines by kind (the text up to the first
 * digit or '('), the most frequent first, for the report. */
static void
print_log_kinds (TestDaemon *d)
{
  g_autofree char *log = NULL;
  if (!g_file_get_contents (d->log_path, &log, NULL, NULL))
    return;
  g_autoptr (GHashTable) kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  for (gsize i = 0; lines[i]; i++)
    {
      const char *at = strstr (lines[i], HOSTILE_NAME ": ");
      if (at == NULL)
        continue;
      gsize n = strcspn (at, "0123456789(");
      char *kind = g_strndup (at, MIN (n, 48));
      guint c = GPOINTER_TO_UINT (g_hash_table_lookup (kinds, kind));
      g_hash_table_replace (kinds, kind, GUINT_TO_POINTER (c + 1));
    }
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, kinds);
  while (g_hash_table_iter_next (&it, &k, &v))
    g_test_message ("  log lines \"%s...\": %u (whole run)", (char *) k, GPOINTER_TO_UINT (v));
}

static void
check_log (Run *hostile, Run *base)
{
  guint n = test_daemon_log_count (hostile->d, HOSTILE_NAME) - hostile->log0_hostile;
  double per_min = n * 60.0 / WINDOW_S;
  print_log_kinds (hostile->d);
  check (per_min <= LOG_LINES_PER_MIN,
         "log lines naming the hostile VM: %u in %d s = %.1f a minute (limit %d); baseline log "
         "%u lines in all",
         n, WINDOW_S, per_min, LOG_LINES_PER_MIN, test_daemon_log_count (base->d, ""));
}

/* " [-2.0..+28.1] [+35.2..running]" (s into the window), or " -"; the
 * longest boost (one still running: up to the window's end) and the
 * shortest gap between starts, in ms. */
static char *
boost_summary (Run *r, gint64 *longest_ms, gint64 *min_gap_ms)
{
  GString *out = g_string_new ("");
  *longest_ms = 0;
  *min_gap_ms = G_MAXINT64;
  for (guint i = 0; i < r->boosts->len; i++)
    {
      KsmBoost *b = &g_array_index (r->boosts, KsmBoost, i);
      gint64 end = b->end_ms >= 0 ? b->end_ms : r->t1_real_ms;
      *longest_ms = MAX (*longest_ms, end - b->start_ms);
      if (i > 0)
        *min_gap_ms = MIN (*min_gap_ms, b->start_ms - (b - 1)->start_ms);
      g_string_append_printf (out, " [%+.1f..", (b->start_ms - r->t0_real_ms) / 1000.0);
      if (b->end_ms >= 0)
        g_string_append_printf (out, "%+.1f]", (b->end_ms - r->t0_real_ms) / 1000.0);
      else
        g_string_append (out, "running]");
    }
  return g_string_free (out->len ? out : g_string_assign (out, " -"), FALSE);
}

static void
check_ksm (Run *hostile, Run *base)
{
  const char *env = g_getenv ("BALLAST_KSM_COOLDOWN_MS");
  gint64 cooldown_ms = env ? g_ascii_strtoll (env, NULL, 10) : KSM_COOLDOWN_DEFAULT_MS;
  gint64 longest, gap, base_longest, base_gap;
  g_autofree char *seen = boost_summary (hostile, &longest, &gap);
  g_autofree char *base_seen = boost_summary (base, &base_longest, &base_gap);
  gint64 max_len_ms = BOOST_SCAN_S * 1000 + BOOST_END_SLACK_MS;
  g_autofree char *gap_s
      = gap == G_MAXINT64 ? g_strdup ("-") : g_strdup_printf ("%.1f s", gap / 1000.0);
  check (longest <= max_len_ms && (gap == G_MAXINT64 || gap >= cooldown_ms - SAMPLE_SLACK_MS),
         "KSM boosts (s into the window):%s; longest %.1f s (a boost is %d s: longer means a kick "
         "restarted it), shortest gap between starts %s (cooldown %.1f s); baseline:%s",
         seen, longest / 1000.0, BOOST_SCAN_S, gap_s, cooldown_ms / 1000.0, base_seen);
}

static void
check_alive (Run *r)
{
  int status;
  check (waitpid (r->d->pid, &status, WNOHANG) == 0, "%s ballastd still running", r->label);
}

/* What the hostile guest did: resets and the bytes it got through the port. */
static void
print_hostile_guest (TestGuest *g)
{
  g_autofree char *console = test_guest_console (g);
  guint resets = 0;
  guint64 sent = 0, boot_sent = 0;
  g_auto (GStrv) lines = g_strsplit (console, "\n", -1);
  for (gsize i = 0; lines[i]; i++)
    {
      if (strstr (lines[i], "mode=hostile event=reset"))
        resets++;
      /* sent_bytes restarts at every boot: add up the last of each boot. */
      if (strstr (lines[i], "BALLAST-READY"))
        {
          sent += boot_sent;
          boot_sent = 0;
        }
      gint64 s = test_bload_field (lines[i], "sent_bytes");
      if (s >= 0)
        boot_sent = (guint64) s;
    }
  sent += boot_sent;
  g_test_message ("hostile guest: %u resets, %" G_GUINT64_FORMAT " MiB written to the agent port "
                  "(whole run, boots included)",
                  resets, sent / MiB);
}

static void
run_free (Run *r)
{
  for (guint i = 0; i < r->n_guests; i++)
    test_guest_free (r->guests[i]);
  test_daemon_free (r->d);
  fake_ksm_free (r->ksm_dir);
  g_array_free (r->boosts, TRUE);
}

/* Samples both daemons every second from adoption to the window's end (the
 * window opens after ADOPT_SETTLE_S), the fake ksmds advancing: the hostile
 * VM's target and KSM throughout, the honest targets in the window's second
 * half. */
static void
run_sample (Run *hostile, Run *base, HostileSamples *s)
{
  gint64 start_us = g_get_monotonic_time ();
  for (guint sec = 1; sec <= ADOPT_SETTLE_S + WINDOW_S; sec++)
    {
      if (sec == ADOPT_SETTLE_S + 1)
        {
          run_window_open (hostile);
          run_window_open (base);
        }
      fake_ksm_advance (hostile->ksm_dir, sec);
      fake_ksm_advance (base->ksm_dir, sec);
      sample_hostile (hostile, s);
      sample_ksm (hostile);
      sample_ksm (base);
      if (sec > ADOPT_SETTLE_S + WINDOW_S / 2)
        {
          sample_honest (hostile);
          sample_honest (base);
        }
      gint64 until = start_us + (gint64) sec * G_USEC_PER_SEC, now = g_get_monotonic_time ();
      if (now < until)
        g_usleep ((gulong) (until - now));
    }
  run_window_close (hostile);
  run_window_close (base);
}

static void
test_hostile (void)
{
  if (!test_guest_image_ready ())
    return;
  failures = g_string_new ("");
  Run hostile = { 0 }, base = { 0 };
  run_init (&hostile, "hostile run");
  run_init (&base, "baseline");

  /* Boot order interleaved, so the honest pairs are of the same age. */
  for (gsize i = 0; i < G_N_ELEMENTS (honest_names); i++)
    {
      run_boot (&base, honest_names[i], HONEST_MIB, HONEST_WORKLOAD);
      run_boot (&hostile, honest_names[i], HONEST_MIB, HONEST_WORKLOAD);
    }
  g_setenv ("BALLAST_VM_REBOOT", "1", TRUE);
  run_boot (&hostile, HOSTILE_NAME, HOSTILE_MIB, HOSTILE_WORKLOAD);
  g_unsetenv ("BALLAST_VM_REBOOT");

  run_start (&hostile);
  run_start (&base);
  wait_adopted (&hostile);
  wait_adopted (&base);

  HostileSamples s = { 0 };
  run_sample (&hostile, &base, &s);

  print_hostile_guest (hostile.guests[hostile.n_guests - 1]);
  check_alive (&hostile);
  check_alive (&base);
  check_cpu (&hostile, &base);
  check_honest_targets (&hostile, &base);
  check_hostile_bounds (&s);
  check_log (&hostile, &base);
  check_ksm (&hostile, &base);
  gboolean failed = failures->len > 0;
  if (failed)
    {
      g_test_message ("failed checks:%s", failures->str);
      g_test_fail ();
    }
  g_string_free (failures, TRUE);
  run_free (&hostile);
  run_free (&base);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ballastd/hostile-guest", test_hostile);
  return g_test_run ();
}
