/* sim-scenario.c: loads a ballast-sim scenario from JSON (jansson) into SimScenario;
 * per-VM policy keys and host config keys go through policy/'s own config parser. */
#include "sim.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "policy-config.h"

/* Defaults of the model; docs/simulator.md explains each choice. */
#define SIM_DEFAULT_DURATION_MS (3600u * 1000u)
#define SIM_DEFAULT_TICK_MS 1000u
/* Balloon speeds, calibrated on this machine (TCG; docs/simulator.md,
 * "Calibration") from bench/results/B2-20261202T100154Z.json, memory moved
 * into the guest per ms of its spike: the controller's balloon (a QMP target,
 * then the guest deflates; free page reporting on): ballast's arm, 285 + 229
 * MiB in 1,828 + 2,345 ms = 123 MiB/s, its reaction included; deflate-on-oom
 * alone, 277 MiB in 1,699 ms (median) = 163 MiB/s (an earlier run: 200 -> 482
 * MiB in 1.7 s, 166 MiB/s); deflate-on-oom with free page reporting (pages
 * reported to the host fault back in), 278 MiB in 2,112 ms = 132 MiB/s. */
#define SIM_DEFAULT_BALLOON_RATE_BPS (123ull * POLICY_MIB)
#define SIM_DEFAULT_DOO_RATE_BPS (163ull * POLICY_MIB)
#define SIM_DEFAULT_DOO_RATE_FPR_BPS (132ull * POLICY_MIB)
/* Free page reporting, calibrated on B1 (bench/results/B1-20261202T103135Z.json,
 * docs/simulator.md "Calibration"): the bursty guest (600 MiB for 15 s every
 * 60 s on 50 MiB) under reporting alone kept 442.1 MiB of PSS, 245.3 MiB above
 * the idle guest's 196.8; its working set averages 187.5 MiB, so the 550 MiB
 * it freed after each burst left at a mean of 57.8 MiB over the minute: a
 * half-life of 4.7 s (the kernel reports in passes 2 s apart, each taking a
 * share of the free lists). */
#define SIM_DEFAULT_FPR_HALF_LIFE_MS 4700u
/* The kernel kills within seconds once reclaim fails; 10 s is generous. */
#define SIM_DEFAULT_OOM_GRACE_MS 10000u
/* An inflating balloon allocates with __GFP_NORETRY: it takes free memory and
 * page cache, never memory in use; roughly the guest's min watermarks stay. */
#define SIM_DEFAULT_GUEST_KEEP_FREE_BYTES (32ull * POLICY_MIB)
/* QEMU polls guest stats and the agent reports every few seconds. */
#define SIM_DEFAULT_STATS_PERIOD_MS 5000u
#define SIM_DEFAULT_AGENT_PERIOD_MS 5000u
#define SIM_DEFAULT_BOOT_MS 10000u
/* Kernel defaults of /sys/kernel/mm/ksm. */
#define SIM_DEFAULT_KSM_PAGES 100u
#define SIM_DEFAULT_KSM_SLEEP_MS 20u
/* ksmd CPU per scanned page (measured 0.3-2 µs on x86). */
#define SIM_DEFAULT_KSM_NS_PER_PAGE 1000.0

void
sim_set_error (char **error, const char *fmt, ...)
{
  if (error == NULL || *error != NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (error, fmt, ap) < 0)
    *error = NULL;
  va_end (ap);
}

/* A size: a JSON number of bytes or a string "512M", "2G" (no percentages). */
static bool
get_size (json_t *obj, const char *key, uint64_t *out, bool required, const char *where,
          char **error)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL)
    {
      if (required)
        sim_set_error (error, "%s: missing \"%s\"", where, key);
      return !required;
    }
  if (json_is_integer (v) && json_integer_value (v) >= 0)
    {
      *out = (uint64_t) json_integer_value (v);
      return true;
    }
  if (json_is_real (v) && json_real_value (v) >= 0 && json_real_value (v) < 1.8e19)
    {
      *out = (uint64_t) json_real_value (v);
      return true;
    }
  if (json_is_string (v))
    {
      PolicySize sz;
      char *perr = NULL;
      if (policy_parse_size (json_string_value (v), &sz, &perr) && !sz.is_pct)
        {
          *out = sz.bytes;
          return true;
        }
      sim_set_error (error, "%s: \"%s\": %s", where, key,
                     perr != NULL ? perr : "a percentage is not a size here");
      free (perr);
      return false;
    }
  sim_set_error (error, "%s: \"%s\" must be a size (bytes or \"512M\")", where, key);
  return false;
}

/* Seconds (number) into milliseconds. */
static bool
get_seconds (json_t *obj, const char *key, uint64_t *out_ms, bool *found, const char *where,
             char **error)
{
  json_t *v = json_object_get (obj, key);
  if (found != NULL)
    *found = v != NULL;
  if (v == NULL)
    return true;
  if (!json_is_number (v) || !(json_number_value (v) >= 0) || json_number_value (v) > 1e12)
    {
      sim_set_error (error, "%s: \"%s\" must be a number of seconds >= 0", where, key);
      return false;
    }
  *out_ms = (uint64_t) llround (json_number_value (v) * 1000.0);
  return true;
}

static bool
get_bool (json_t *obj, const char *key, bool *out, const char *where, char **error)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL)
    return true;
  if (!json_is_boolean (v))
    {
      sim_set_error (error, "%s: \"%s\" must be true or false", where, key);
      return false;
    }
  *out = json_is_true (v);
  return true;
}

/* A JSON scalar as the text policy/'s key parser takes. */
static char *
scalar_text (json_t *v)
{
  char *s = NULL;
  if (json_is_string (v))
    return strdup (json_string_value (v));
  if (json_is_integer (v))
    return asprintf (&s, "%lld", (long long) json_integer_value (v)) < 0 ? NULL : s;
  if (json_is_real (v))
    return asprintf (&s, "%.17g", json_real_value (v)) < 0 ? NULL : s;
  if (json_is_boolean (v))
    return strdup (json_is_true (v) ? "true" : "false");
  return NULL;
}

static bool
load_vm_policy (json_t *pol, PolicyVmConfig *cfg, const char *where, char **error)
{
  if (pol == NULL)
    return true;
  if (!json_is_object (pol))
    {
      sim_set_error (error, "%s: \"policy\" must be an object", where);
      return false;
    }
  const char *key;
  json_t *v;
  json_object_foreach (pol, key, v)
  {
    char *text = scalar_text (v);
    char *perr = NULL;
    PolicyKeyResult r
        = text != NULL ? policy_vm_config_set (cfg, key, text, &perr) : POLICY_KEY_INVALID;
    free (text);
    if (r == POLICY_KEY_UNKNOWN)
      sim_set_error (error, "%s: unknown policy key \"%s\"", where, key);
    else if (r == POLICY_KEY_INVALID)
      sim_set_error (error, "%s: policy key \"%s\": %s", where, key,
                     perr != NULL ? perr : "bad value");
    free (perr);
    if (r != POLICY_KEY_OK)
      return false;
  }
  return true;
}

/* Demand points: [[t_s, bytes], ...] in time order, interpolated between. */
static bool
load_demand_points (json_t *dj, SimDemand *d, const char *where, char **error)
{
  size_t n = json_array_size (dj);
  if (n == 0)
    {
      sim_set_error (error, "%s: demand points: empty", where);
      return false;
    }
  d->kind = SIM_DEMAND_POINTS;
  d->pt_ms = calloc (n, sizeof *d->pt_ms);
  d->pt_bytes = calloc (n, sizeof *d->pt_bytes);
  if (d->pt_ms == NULL || d->pt_bytes == NULL)
    return false;
  d->n_points = n;
  for (size_t i = 0; i < n; i++)
    {
      json_t *p = json_array_get (dj, i);
      json_t *wrap = json_object ();
      bool ok
          = json_is_array (p) && json_array_size (p) == 2 && json_is_number (json_array_get (p, 0));
      if (ok)
        {
          json_object_set (wrap, "t", json_array_get (p, 0));
          json_object_set (wrap, "b", json_array_get (p, 1));
          ok = get_seconds (wrap, "t", &d->pt_ms[i], NULL, where, error)
               && get_size (wrap, "b", &d->pt_bytes[i], true, where, error);
        }
      json_decref (wrap);
      if (ok && i > 0 && d->pt_ms[i] < d->pt_ms[i - 1])
        {
          sim_set_error (error, "%s: demand points must be in time order", where);
          return false;
        }
      if (!ok)
        {
          sim_set_error (error, "%s: demand point %zu must be [t_s, bytes]", where, i);
          return false;
        }
    }
  return true;
}

static bool
load_demand_bursty (json_t *g, SimDemand *d, const char *where, char **error)
{
  d->kind = SIM_DEMAND_BURSTY;
  if (!get_size (g, "peak", &d->peak, true, where, error)
      || !get_size (g, "base", &d->base, false, where, error)
      || !get_seconds (g, "period_s", &d->period_ms, NULL, where, error)
      || !get_seconds (g, "burst_s", &d->burst_ms, NULL, where, error)
      || !get_seconds (g, "ramp_s", &d->ramp_ms, NULL, where, error)
      || !get_seconds (g, "phase_s", &d->phase_ms, &d->phase_set, where, error)
      || !get_seconds (g, "phase_step_s", &d->phase_step_ms, NULL, where, error))
    return false;
  if (d->period_ms == 0 || d->burst_ms > d->period_ms || d->ramp_ms > d->burst_ms)
    {
      sim_set_error (error, "%s: bursty needs period_s > 0 and ramp_s <= burst_s <= period_s",
                     where);
      return false;
    }
  return true;
}

static bool
load_demand_spike (json_t *g, SimDemand *d, const char *where, char **error)
{
  d->kind = SIM_DEMAND_SPIKE;
  bool found;
  if (!get_size (g, "bytes", &d->bytes, true, where, error)
      || !get_size (g, "base", &d->base, false, where, error)
      || !get_seconds (g, "at_s", &d->at_ms, &found, where, error)
      || !get_seconds (g, "duration_s", &d->dur_ms, NULL, where, error))
    return false;
  if (!found)
    {
      sim_set_error (error, "%s: spike needs at_s", where);
      return false;
    }
  return true;
}

/* One generator by name: {"steady"|"idle"|"bursty"|"spike": {...}}. */
static bool
load_demand_generator (const char *kind, json_t *g, SimDemand *d, const char *where, char **error)
{
  if (!json_is_object (g))
    {
      sim_set_error (error, "%s: demand \"%s\" takes an object", where, kind);
      return false;
    }
  if (strcmp (kind, "steady") == 0)
    {
      d->kind = SIM_DEMAND_STEADY;
      return get_size (g, "bytes", &d->bytes, true, where, error);
    }
  if (strcmp (kind, "idle") == 0)
    {
      d->kind = SIM_DEMAND_IDLE;
      return get_size (g, "bytes", &d->bytes, false, where, error);
    }
  if (strcmp (kind, "bursty") == 0)
    return load_demand_bursty (g, d, where, error);
  if (strcmp (kind, "spike") == 0)
    return load_demand_spike (g, d, where, error);
  sim_set_error (error, "%s: unknown demand generator \"%s\"", where, kind);
  return false;
}

static bool
load_demand (json_t *dj, SimDemand *d, const char *where, char **error)
{
  memset (d, 0, sizeof *d);
  d->kind = SIM_DEMAND_IDLE;
  if (dj == NULL)
    return true;
  if (json_is_array (dj))
    return load_demand_points (dj, d, where, error);
  if (!json_is_object (dj) || json_object_size (dj) != 1)
    {
      sim_set_error (
          error,
          "%s: demand must be [[t_s, bytes], ...] or one of {steady|idle|bursty|spike: {...}}",
          where);
      return false;
    }
  /* The object's only key. */
  void *it = json_object_iter (dj);
  return load_demand_generator (json_object_iter_key (it), json_object_iter_value (it), d, where,
                                error);
}

static bool
load_vm (json_t *vj, const PolicyConfig *host_cfg, SimVmSpec *v, size_t idx, char **error)
{
  char where[64];
  snprintf (where, sizeof where, "vms[%zu]", idx);
  if (!json_is_object (vj))
    {
      sim_set_error (error, "%s: must be an object", where);
      return false;
    }
  json_t *name = json_object_get (vj, "name");
  char buf[32];
  snprintf (buf, sizeof buf, "vm%zu", idx);
  v->name = strdup (json_is_string (name) ? json_string_value (name) : buf);
  json_t *count = json_object_get (vj, "count");
  v->count = 1;
  if (count != NULL)
    {
      if (!json_is_integer (count) || json_integer_value (count) < 0
          || json_integer_value (count) > 1000000)
        {
          sim_set_error (error, "%s: \"count\" must be an integer in [0, 1000000]", where);
          return false;
        }
      v->count = (uint32_t) json_integer_value (count);
    }
  v->cfg = host_cfg->vm_defaults;
  v->boot_ms = SIM_DEFAULT_BOOT_MS;
  v->agent = true;
  v->agent_reclaim = true;
  v->stats_period_ms = SIM_DEFAULT_STATS_PERIOD_MS;
  v->agent_period_ms = SIM_DEFAULT_AGENT_PERIOD_MS;
  json_t *frac = json_object_get (vj, "ksm_fraction");
  if (frac != NULL)
    {
      if (!json_is_number (frac)
          || !(json_number_value (frac) >= 0.0 && json_number_value (frac) <= 1.0))
        {
          sim_set_error (error, "%s: \"ksm_fraction\" must be in [0, 1]", where);
          return false;
        }
      v->ksm_fraction = json_number_value (frac);
    }
  if (!get_size (vj, "ram", &v->ram_bytes, true, where, error)
      || !get_size (vj, "cache", &v->cache_bytes, false, where, error)
      || !get_size (vj, "initial_actual", &v->initial_actual_bytes, false, where, error)
      || !get_seconds (vj, "start_s", &v->start_ms, &v->has_start, where, error)
      || !get_seconds (vj, "stop_s", &v->stop_ms, &v->has_stop, where, error)
      || !get_seconds (vj, "boot_s", &v->boot_ms, NULL, where, error)
      || !get_seconds (vj, "stats_period_s", &v->stats_period_ms, NULL, where, error)
      || !get_seconds (vj, "agent_period_s", &v->agent_period_ms, NULL, where, error)
      || !get_bool (vj, "deflate_on_oom", &v->deflate_on_oom, where, error)
      || !get_bool (vj, "agent", &v->agent, where, error)
      || !get_bool (vj, "agent_reclaim", &v->agent_reclaim, where, error)
      || !get_bool (vj, "fit", &v->fit, where, error)
      || !load_vm_policy (json_object_get (vj, "policy"), &v->cfg, where, error)
      || !load_demand (json_object_get (vj, "demand"), &v->demand, where, error))
    return false;
  v->has_initial_actual = json_object_get (vj, "initial_actual") != NULL;
  if (v->ram_bytes == 0)
    {
      sim_set_error (error, "%s: \"ram\" must be > 0", where);
      return false;
    }
  if (v->has_initial_actual && v->initial_actual_bytes > v->ram_bytes)
    v->initial_actual_bytes = v->ram_bytes;
  if (v->stats_period_ms == 0)
    v->stats_period_ms = 1;
  if (v->agent_period_ms == 0)
    v->agent_period_ms = 1;
  return true;
}

static bool
load_host (json_t *hj, SimScenario *sc, char **error)
{
  const char *where = "host";
  if (!json_is_object (hj))
    {
      sim_set_error (error, "missing \"host\" object");
      return false;
    }
  sc->balloon_rate_bps = SIM_DEFAULT_BALLOON_RATE_BPS;
  sc->doo_rate_bps = SIM_DEFAULT_DOO_RATE_BPS;
  sc->doo_rate_fpr_bps = SIM_DEFAULT_DOO_RATE_FPR_BPS;
  sc->fpr_half_life_ms = SIM_DEFAULT_FPR_HALF_LIFE_MS;
  sc->oom_grace_ms = SIM_DEFAULT_OOM_GRACE_MS;
  sc->guest_keep_free_bytes = SIM_DEFAULT_GUEST_KEEP_FREE_BYTES;
  sc->ksm_present = true;
  sc->ksm_pages_to_scan = SIM_DEFAULT_KSM_PAGES;
  sc->ksm_sleep_ms = SIM_DEFAULT_KSM_SLEEP_MS;
  sc->ksm_ns_per_page = SIM_DEFAULT_KSM_NS_PER_PAGE;
  if (!get_size (hj, "ram", &sc->ram_bytes, true, where, error)
      || !get_size (hj, "non_vm", &sc->non_vm_bytes, false, where, error)
      || !get_size (hj, "vm_overhead", &sc->vm_overhead_bytes, false, where, error)
      || !get_size (hj, "balloon_rate", &sc->balloon_rate_bps, false, where, error)
      || !get_size (hj, "doo_rate", &sc->doo_rate_bps, false, where, error)
      || !get_size (hj, "doo_rate_fpr", &sc->doo_rate_fpr_bps, false, where, error)
      || !get_size (hj, "guest_keep_free", &sc->guest_keep_free_bytes, false, where, error)
      || !get_seconds (hj, "oom_grace_s", &sc->oom_grace_ms, NULL, where, error)
      || !get_seconds (hj, "fpr_half_life_s", &sc->fpr_half_life_ms, NULL, where, error)
      || !get_bool (hj, "free_page_reporting", &sc->free_page_reporting, where, error))
    return false;
  json_t *kj = json_object_get (hj, "ksm");
  if (kj != NULL)
    {
      json_t *v;
      if (!json_is_object (kj) || !get_bool (kj, "present", &sc->ksm_present, "host.ksm", error))
        {
          sim_set_error (error, "host.ksm must be an object");
          return false;
        }
      if ((v = json_object_get (kj, "run")) != NULL)
        sc->ksm_run = json_is_integer (v) && json_integer_value (v) != 0;
      if ((v = json_object_get (kj, "pages_to_scan")) != NULL && json_is_integer (v)
          && json_integer_value (v) > 0)
        sc->ksm_pages_to_scan = (uint32_t) json_integer_value (v);
      if ((v = json_object_get (kj, "sleep_ms")) != NULL && json_is_integer (v)
          && json_integer_value (v) >= 0)
        sc->ksm_sleep_ms = (uint32_t) json_integer_value (v);
      if ((v = json_object_get (kj, "ns_per_page")) != NULL && json_is_number (v)
          && json_number_value (v) >= 0)
        sc->ksm_ns_per_page = json_number_value (v);
    }
  if (sc->ram_bytes == 0)
    {
      sim_set_error (error, "host: \"ram\" must be > 0");
      return false;
    }
  return true;
}

/* "config": {"host": {"reserve": "2G", "mode": "density"}, "ksm": {...},
 * "defaults": {...}}: the same keys as ballast.conf. */
static bool
load_config (json_t *cj, PolicyConfig *c, char **error)
{
  if (cj == NULL)
    return true;
  if (!json_is_object (cj))
    {
      sim_set_error (error, "\"config\" must be an object of sections");
      return false;
    }
  const char *section;
  json_t *sj;
  json_object_foreach (cj, section, sj)
  {
    const char *key;
    json_t *v;
    if (!json_is_object (sj))
      {
        sim_set_error (error, "config.%s must be an object", section);
        return false;
      }
    json_object_foreach (sj, key, v)
    {
      char *text = scalar_text (v);
      char *perr = NULL;
      PolicyKeyResult r
          = text != NULL ? policy_config_set (c, section, key, text, &perr) : POLICY_KEY_INVALID;
      free (text);
      if (r == POLICY_KEY_UNKNOWN)
        sim_set_error (error, "config.%s: unknown key \"%s\"", section, key);
      else if (r == POLICY_KEY_INVALID)
        sim_set_error (error, "config.%s.%s: %s", section, key, perr != NULL ? perr : "bad value");
      free (perr);
      if (r != POLICY_KEY_OK)
        return false;
    }
  }
  return true;
}

SimScenario *
sim_scenario_load_string (const char *text, char **error)
{
  json_error_t jerr;
  json_t *root = json_loads (text, 0, &jerr);
  if (root == NULL)
    {
      sim_set_error (error, "scenario: line %d: %s", jerr.line, jerr.text);
      return NULL;
    }
  SimScenario *sc = calloc (1, sizeof *sc);
  bool ok = sc != NULL && json_is_object (root);
  if (!ok)
    sim_set_error (error, "scenario: must be a JSON object");
  if (ok)
    {
      sc->duration_ms = SIM_DEFAULT_DURATION_MS;
      sc->tick_ms = SIM_DEFAULT_TICK_MS;
      sc->seed = 1;
      policy_config_defaults (&sc->config);
      json_t *seed = json_object_get (root, "seed");
      if (json_is_integer (seed))
        sc->seed = (uint64_t) json_integer_value (seed);
      ok = get_seconds (root, "duration_s", &sc->duration_ms, NULL, "scenario", error)
           && load_config (json_object_get (root, "config"), &sc->config, error)
           && load_host (json_object_get (root, "host"), sc, error);
      json_t *tick = json_object_get (root, "tick_ms");
      if (ok && tick != NULL)
        {
          ok = json_is_integer (tick) && json_integer_value (tick) > 0
               && json_integer_value (tick) <= 3600000;
          if (!ok)
            sim_set_error (error, "scenario: \"tick_ms\" must be an integer in [1, 3600000]");
          else
            sc->tick_ms = (uint64_t) json_integer_value (tick);
        }
      sc->config.tick_ms = sc->tick_ms;
    }
  json_t *vms = ok ? json_object_get (root, "vms") : NULL;
  if (ok && !json_is_array (vms))
    {
      sim_set_error (error, "scenario: missing \"vms\" array");
      ok = false;
    }
  if (ok)
    {
      sc->n_specs = json_array_size (vms);
      sc->specs = calloc (sc->n_specs > 0 ? sc->n_specs : 1, sizeof *sc->specs);
      ok = sc->specs != NULL;
      for (size_t i = 0; ok && i < sc->n_specs; i++)
        ok = load_vm (json_array_get (vms, i), &sc->config, &sc->specs[i], i, error);
    }
  json_decref (root);
  if (!ok)
    {
      sim_set_error (error, "scenario: invalid");
      sim_scenario_free (sc);
      return NULL;
    }
  return sc;
}

SimScenario *
sim_scenario_load_file (const char *path, char **error)
{
  FILE *f = fopen (path, "rb");
  if (f == NULL)
    {
      sim_set_error (error, "%s: cannot open", path);
      return NULL;
    }
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream (&buf, &len);
  char chunk[65536];
  size_t n;
  while (m != NULL && (n = fread (chunk, 1, sizeof chunk, f)) > 0)
    fwrite (chunk, 1, n, m);
  fclose (f);
  if (m == NULL)
    return NULL;
  fclose (m);
  SimScenario *sc = sim_scenario_load_string (buf, error);
  free (buf);
  return sc;
}

void
sim_scenario_free (SimScenario *sc)
{
  if (sc == NULL)
    return;
  for (size_t i = 0; i < sc->n_specs; i++)
    {
      free (sc->specs[i].name);
      free (sc->specs[i].demand.pt_ms);
      free (sc->specs[i].demand.pt_bytes);
    }
  free (sc->specs);
  free (sc);
}

SimVmSpec *
sim_scenario_fit_spec (SimScenario *sc)
{
  if (sc == NULL || sc->n_specs == 0)
    return NULL;
  for (size_t i = 0; i < sc->n_specs; i++)
    if (sc->specs[i].fit)
      return &sc->specs[i];
  return &sc->specs[0];
}
