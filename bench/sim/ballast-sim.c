/* ballast-sim.c: command line of the fleet simulator: runs a scenario under a
 * balloon and a KSM policy, prints JSON lines per tick and a summary, or searches "how many fit". */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* A count is "fitting" with no OOM kill, total stall under this share of
 * VM time and the host reserve kept (sim_result_fits; B5: "no guest OOM and
 * bounded stall"). */
#define FIT_DEFAULT_STALL_PCT 1.0
#define FIT_DEFAULT_MAX 4096

typedef struct
{
  gboolean ok;
  SimResult res;
} Trial;

/* The figures of one run the fit reports: per trial, and beside the answer. */
static void
write_figures (const SimResult *r, FILE *f)
{
  fprintf (f,
           "\"oom_kills\":%llu,\"stall_pct\":%.4f,\"mean_host_used_bytes\":%.0f,"
           "\"peak_host_used_bytes\":%llu,\"min_host_free_bytes\":%llu,\"reserve_bytes\":%llu,"
           "\"reserve_breach_ms\":%llu,\"ksm_saved_bytes\":%llu,\"ksm_cpu_s\":%.3f,"
           "\"ksm_cpu_pct\":%.4f,\"blind_vm_ticks\":%llu",
           (unsigned long long) r->oom_kills, r->stall_pct, r->mean_host_used_bytes,
           (unsigned long long) r->peak_host_used_bytes,
           (unsigned long long) r->min_host_free_bytes, (unsigned long long) r->reserve_bytes,
           (unsigned long long) r->reserve_breach_ms, (unsigned long long) r->ksm_saved_bytes,
           r->ksm_cpu_s, r->ksm_cpu_pct, (unsigned long long) r->blind_vm_ticks);
}

static gboolean
run_count (SimScenario *sc, SimVmSpec *spec, uint32_t count, const SimOptions *opt,
           double stall_pct, FILE *log, Trial *trial, char **error)
{
  spec->count = count;
  gint64 t0 = g_get_monotonic_time ();
  if (sim_run (sc, opt, &trial->res, error) != 0)
    return FALSE;
  trial->res.wall_s = (double) (g_get_monotonic_time () - t0) / 1e6;
  trial->ok = sim_result_fits (&trial->res, stall_pct);
  fprintf (log, "{\"fit_trial\":%u,\"ok\":%s,", count, trial->ok ? "true" : "false");
  write_figures (&trial->res, log);
  fprintf (log, ",\"wall_s\":%.2f}\n", trial->res.wall_s);
  fflush (log);
  return TRUE;
}

/* The figures of the largest count that fitted and of the smallest that did
 * not (what broke it). */
typedef struct
{
  SimResult ok, fail;
  gboolean have_ok, have_fail;
  uint32_t fail_count;
} FitFigures;

static void
keep_trial (Trial *t, uint32_t count, FitFigures *ff)
{
  gboolean *have = t->ok ? &ff->have_ok : &ff->have_fail;
  SimResult *slot = t->ok ? &ff->ok : &ff->fail;
  /* The bisection moves the fitting count up and the failing one down. */
  if (*have)
    sim_result_clear (slot);
  *slot = t->res;
  *have = TRUE;
  if (!t->ok)
    ff->fail_count = count;
}

static void
fit_figures_clear (FitFigures *ff)
{
  if (ff->have_ok)
    sim_result_clear (&ff->ok);
  if (ff->have_fail)
    sim_result_clear (&ff->fail);
}

/* The largest count of the fit group that fits (sim_result_fits): doubling,
 * then bisection. The answer carries that run's figures (stall, OOM, the
 * reserve, ksmd CPU) and those of the smallest count that failed. */
static int
fit_search (SimScenario *sc, const SimOptions *opt, double stall_pct, uint32_t max_count)
{
  SimVmSpec *spec = sim_scenario_fit_spec (sc);
  if (spec == NULL)
    {
      fprintf (stderr, "ballast-sim: --fit needs at least one VM group\n");
      return 1;
    }
  char *error = NULL;
  uint32_t lo = 0, hi = spec->count > 0 ? spec->count : 1;
  Trial t;
  FitFigures ff = { 0 };
  for (;;)
    {
      if (!run_count (sc, spec, hi, opt, stall_pct, stderr, &t, &error))
        goto fail;
      gboolean ok = t.ok;
      keep_trial (&t, hi, &ff);
      if (!ok)
        break;
      lo = hi;
      if (hi >= max_count)
        {
          hi = max_count + 1;
          break;
        }
      hi = hi * 2 > max_count ? max_count : hi * 2;
    }
  while (hi - lo > 1)
    {
      uint32_t mid = lo + (hi - lo) / 2;
      if (!run_count (sc, spec, mid, opt, stall_pct, stderr, &t, &error))
        goto fail;
      if (t.ok)
        lo = mid;
      else
        hi = mid;
      keep_trial (&t, mid, &ff);
    }
  printf ("{\"fit\":%u,\"group\":\"%s\",\"policy\":\"%s\",\"ksm_policy\":\"%s\","
          "\"free_page_reporting\":%s,\"stall_pct_limit\":%.3f,\"capped\":%s",
          lo, spec->name, opt->policy, opt->ksm_policy != NULL ? opt->ksm_policy : "auto",
          sc->free_page_reporting ? "true" : "false", stall_pct,
          lo >= max_count ? "true" : "false");
  if (ff.have_ok)
    {
      fputc (',', stdout);
      write_figures (&ff.ok, stdout);
    }
  if (ff.have_fail)
    {
      printf (",\"fails_at\":{\"count\":%u,", ff.fail_count);
      write_figures (&ff.fail, stdout);
      fputc ('}', stdout);
    }
  printf ("}\n");
  fit_figures_clear (&ff);
  return 0;
fail:
  fit_figures_clear (&ff);
  fprintf (stderr, "ballast-sim: %s\n", error != NULL ? error : "failed");
  free (error);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autofree char *policy = NULL;
  g_autofree char *ksm_policy = NULL;
  gboolean summary_only = FALSE, per_vm = FALSE, fit = FALSE, fpr = FALSE;
  gint64 seed = -1;
  double duration_s = -1.0, fit_stall_pct = FIT_DEFAULT_STALL_PCT;
  int tick_ms = 0, every = 1, count = -1, fit_max = FIT_DEFAULT_MAX;
  GOptionEntry entries[] = {
    { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy,
      "Balloon policy: ballast|mom|proxmox|none (ballast)", "NAME" },
    { "ksm-policy", 'k', 0, G_OPTION_ARG_STRING, &ksm_policy,
      "KSM policy: ballast|mom|ksmtuned|kata|none (the balloon policy's own; none for proxmox)",
      "NAME" },
    { "summary-only", 's', 0, G_OPTION_ARG_NONE, &summary_only, "Print only the final summary",
      NULL },
    { "per-vm", 0, 0, G_OPTION_ARG_NONE, &per_vm, "Include per-VM results in the summary", NULL },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed for random phases (overrides the scenario)",
      "N" },
    { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &duration_s,
      "Simulated seconds (overrides the scenario)", "S" },
    { "tick-ms", 0, 0, G_OPTION_ARG_INT, &tick_ms, "Tick in ms (overrides the scenario)", "MS" },
    { "every", 0, 0, G_OPTION_ARG_INT, &every, "Write every N-th tick line", "N" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &count,
      "Size of the fit group (first group, or the one marked fit)", "N" },
    { "fit", 0, 0, G_OPTION_ARG_NONE, &fit,
      "Search the largest fit-group count with zero OOM kills and stall under --fit-stall-pct",
      NULL },
    { "fit-stall-pct", 0, 0, G_OPTION_ARG_DOUBLE, &fit_stall_pct,
      "Stall limit for --fit, % of VM time (1)", "PCT" },
    { "fit-max", 0, 0, G_OPTION_ARG_INT, &fit_max, "Upper bound of the --fit search (4096)", "N" },
    { "fpr", 0, 0, G_OPTION_ARG_NONE, &fpr,
      "Free page reporting on every guest (overrides the scenario)", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("SCENARIO.json - ballast fleet simulator");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) gerr = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &gerr))
    {
      fprintf (stderr, "ballast-sim: %s\n", gerr->message);
      return 2;
    }
  if (argc != 2)
    {
      fprintf (stderr, "ballast-sim: exactly one scenario file expected (see --help)\n");
      return 2;
    }
  char *error = NULL;
  SimScenario *sc = sim_scenario_load_file (argv[1], &error);
  if (sc == NULL)
    {
      fprintf (stderr, "ballast-sim: %s\n", error != NULL ? error : "cannot load scenario");
      free (error);
      return 2;
    }
  if (seed >= 0)
    sc->seed = (uint64_t) seed;
  if (duration_s >= 0.0)
    sc->duration_ms = (uint64_t) (duration_s * 1000.0);
  if (fpr)
    sc->free_page_reporting = true;
  if (tick_ms > 0)
    sc->tick_ms = sc->config.tick_ms = (uint64_t) tick_ms;
  if (count >= 0 && sim_scenario_fit_spec (sc) != NULL)
    sim_scenario_fit_spec (sc)->count = (uint32_t) count;

  static char outbuf[1 << 20];
  setvbuf (stdout, outbuf, _IOFBF, sizeof outbuf);
  SimOptions opt = {
    .policy = policy != NULL ? policy : "ballast",
    .ksm_policy = ksm_policy,
    .ticks = summary_only || fit ? NULL : stdout,
    .ticks_every = every > 0 ? (uint32_t) every : 1,
  };
  int rc;
  if (fit)
    rc = fit_search (sc, &opt, fit_stall_pct, fit_max > 0 ? (uint32_t) fit_max : FIT_DEFAULT_MAX);
  else
    {
      SimResult res;
      gint64 t0 = g_get_monotonic_time ();
      rc = sim_run (sc, &opt, &res, &error) == 0 ? 0 : 1;
      if (rc == 0)
        {
          res.wall_s = (double) (g_get_monotonic_time () - t0) / 1e6;
          sim_result_write (&res, &opt, per_vm, stdout);
          sim_result_clear (&res);
        }
      else
        {
          fprintf (stderr, "ballast-sim: %s\n", error != NULL ? error : "failed");
          free (error);
        }
    }
  fflush (stdout);
  sim_scenario_free (sc);
  return rc;
}
