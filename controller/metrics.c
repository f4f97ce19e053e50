/* metrics.c: renders ballastd's figures as Prometheus text exposition 0.0.4
 * (pure: structs in, text out) and keeps the counters fed by events. */
#include "metrics.h"

#include <string.h>

#include "policy.h"

/* From a 1 ms tick to one that blocks the loop for seconds. */
const double metrics_tick_bucket_le_s[METRICS_TICK_BUCKETS] = {
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, INFINITY,
};

/* The link states query-vms shows, exported one-hot so a state that is not
 * the current one reads 0 rather than vanishing. */
static const char *const metrics_vm_states[]
    = { "connecting", "negotiating", "active", "lost", "paused" };

void
metrics_histogram_observe (MetricsHistogram *h, double value_s)
{
  guint i = 0;
  while (i + 1 < METRICS_TICK_BUCKETS && value_s > metrics_tick_bucket_le_s[i])
    i++;
  h->counts[i]++;
  h->sum_s += value_s;
  h->count++;
}

/* ---- counters fed by events ------------------------------------------------ */

struct _MetricsCounters
{
  GHashTable *decisions; /* vm name -> (reason -> guint64*) */
  guint64 ksm_boosts;
};

MetricsCounters *
metrics_counters_new (void)
{
  MetricsCounters *c = g_new0 (MetricsCounters, 1);
  c->decisions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_hash_table_unref);
  return c;
}

void
metrics_counters_free (MetricsCounters *c)
{
  if (c == NULL)
    return;
  g_hash_table_unref (c->decisions);
  g_free (c);
}

static void
metrics_count_decision (MetricsCounters *c, const char *vm, const char *reason)
{
  GHashTable *per_vm = g_hash_table_lookup (c->decisions, vm);
  if (per_vm == NULL)
    {
      per_vm = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_insert (c->decisions, g_strdup (vm), per_vm);
    }
  guint64 *n = g_hash_table_lookup (per_vm, reason);
  if (n == NULL)
    {
      n = g_new0 (guint64, 1);
      g_hash_table_insert (per_vm, g_strdup (reason), n);
    }
  (*n)++;
}

void
metrics_counters_event (MetricsCounters *c, const char *event, json_t *data)
{
  const char *vm = json_string_value (json_object_get (data, "vm"));
  const char *name = json_string_value (json_object_get (data, "name"));
  if (g_str_equal (event, "BALLAST_DECISION") && vm != NULL)
    {
      const char *reason = json_string_value (json_object_get (data, "reason"));
      metrics_count_decision (c, vm, reason ? reason : "");
    }
  else if (g_str_equal (event, "VM_REMOVED") && name != NULL)
    /* A VM that is gone takes its series with it: churn must not grow the
     * exposition without bound. */
    g_hash_table_remove (c->decisions, name);
  else if (g_str_equal (event, "KSM_STATE"))
    {
      const char *state = json_string_value (json_object_get (data, "state"));
      const char *old = json_string_value (json_object_get (data, "old"));
      if (g_strcmp0 (state, "boost") == 0 && g_strcmp0 (old, "boost") != 0)
        c->ksm_boosts++;
    }
}

/* ---- text ------------------------------------------------------------------- */

void
metrics_append_label_value (GString *out, const char *value)
{
  /* The format is UTF-8; a libvirt domain name need not be. */
  g_autofree char *valid = g_utf8_make_valid (value ? value : "", -1);
  for (const char *p = valid; *p; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '"')
        g_string_append (out, "\\\"");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

static void
metrics_append_value (GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (isinf (v))
    g_string_append (out, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor (v) && fabs (v) < 1e15)
    g_string_append_printf (out, "%.0f", v);
  else
    g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.15g", v));
}

static void
metrics_family (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: `labels` is NULL or "key", "value", ..., NULL. NAN is left out. */
static void
metrics_sample (GString *out, const char *name, double v, const char *const *labels)
{
  if (isnan (v))
    return;
  g_string_append (out, name);
  if (labels != NULL && labels[0] != NULL)
    {
      g_string_append_c (out, '{');
      for (guint i = 0; labels[i] != NULL; i += 2)
        {
          g_string_append_printf (out, "%s%s=\"", i ? "," : "", labels[i]);
          metrics_append_label_value (out, labels[i + 1]);
          g_string_append_c (out, '"');
        }
      g_string_append_c (out, '}');
    }
  g_string_append_c (out, ' ');
  metrics_append_value (out, v);
  g_string_append_c (out, '\n');
}

static void
metrics_single (GString *out, const char *name, const char *type, const char *help, double v)
{
  if (isnan (v))
    return;
  metrics_family (out, name, type, help);
  metrics_sample (out, name, v, NULL);
}

static const struct
{
  const char *name;
  const char *type;
  const char *help;
  gsize offset;
} metrics_vm_figures[] = {
#define VMF(n, t, h, f)                                                                            \
  {                                                                                                \
    n, t, h, G_STRUCT_OFFSET (MetricsVm, f)                                                        \
  }
  VMF ("ballast_vm_ram_bytes", "gauge", "Configured RAM (the balloon's maximum).", ram_bytes),
  VMF ("ballast_vm_actual_bytes", "gauge", "Balloon actual: the guest's current size.",
       actual_bytes),
  VMF ("ballast_vm_target_bytes", "gauge", "Balloon target the policy chose.", target_bytes),
  VMF ("ballast_vm_need_bytes", "gauge", "What the policy thinks the guest needs.", need_bytes),
  VMF ("ballast_vm_min_bytes", "gauge", "Effective lower bound of the balloon.", min_bytes),
  VMF ("ballast_vm_max_bytes", "gauge", "Effective upper bound of the balloon.", max_bytes),
  VMF ("ballast_vm_qemu_pss_bytes", "gauge", "PSS of the VM's QEMU process on the host.",
       qemu_pss_bytes),
  VMF ("ballast_vm_ksm_merged_bytes", "gauge", "Bytes of the VM that KSM merged.",
       ksm_merged_bytes),
  VMF ("ballast_vm_guest_available_bytes", "gauge", "MemAvailable inside the guest.",
       guest_available_bytes),
  VMF ("ballast_vm_guest_psi_some_seconds_total", "counter",
       "Guest memory pressure stall time (PSI some), from the agent.",
       guest_psi_some_seconds_total),
  VMF ("ballast_vm_guest_oom_kills_total", "counter", "OOM kills inside the guest, from the agent.",
       guest_oom_kills_total),
#undef VMF
};

static void
metrics_render_vm_figures (const MetricsSnapshot *s, GString *out)
{
  for (gsize f = 0; f < G_N_ELEMENTS (metrics_vm_figures); f++)
    {
      metrics_family (out, metrics_vm_figures[f].name, metrics_vm_figures[f].type,
                      metrics_vm_figures[f].help);
      for (guint i = 0; i < s->n_vms; i++)
        {
          const MetricsVm *vm = &s->vms[i];
          double v = G_STRUCT_MEMBER (double, vm, metrics_vm_figures[f].offset);
          metrics_sample (out, metrics_vm_figures[f].name, v,
                          (const char *[]){ "vm", vm->name, NULL });
        }
    }
}

static void
metrics_render_vm_states (const MetricsSnapshot *s, GString *out)
{
  metrics_family (out, "ballast_vm_pressure", "gauge",
                  "1 while the guest reports memory pressure or asked for memory urgently.");
  for (guint i = 0; i < s->n_vms; i++)
    metrics_sample (out, "ballast_vm_pressure", s->vms[i].pressure,
                    (const char *[]){ "vm", s->vms[i].name, NULL });
  metrics_family (out, "ballast_vm_state", "gauge", "The VM's link state, one-hot.");
  for (guint i = 0; i < s->n_vms; i++)
    {
      const MetricsVm *vm = &s->vms[i];
      gboolean known = FALSE;
      for (gsize k = 0; k < G_N_ELEMENTS (metrics_vm_states); k++)
        {
          gboolean on = g_strcmp0 (vm->state, metrics_vm_states[k]) == 0;
          known |= on;
          metrics_sample (out, "ballast_vm_state", on,
                          (const char *[]){ "vm", vm->name, "state", metrics_vm_states[k], NULL });
        }
      if (!known && vm->state != NULL)
        metrics_sample (out, "ballast_vm_state", 1,
                        (const char *[]){ "vm", vm->name, "state", vm->state, NULL });
    }
  metrics_family (out, "ballast_vm_info", "gauge",
                  "Always 1; the labels say where the VM comes from and what the working set "
                  "figure is based on.");
  for (guint i = 0; i < s->n_vms; i++)
    {
      const MetricsVm *vm = &s->vms[i];
      metrics_sample (out, "ballast_vm_info", 1,
                      (const char *[]){ "vm", vm->name, "backend", vm->backend ? vm->backend : "",
                                        "mode", vm->mode ? vm->mode : "", "ws_source",
                                        vm->ws_source ? vm->ws_source : "", NULL });
    }
}

static gint
metrics_strcmp (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (a, b);
}

static void
metrics_render_decisions (const MetricsCounters *c, GString *out)
{
  metrics_family (out, "ballast_vm_decisions_total", "counter",
                  "Balloon targets the policy set, by reason (since ballastd started).");
  g_autoptr (GList) vms = g_list_sort (g_hash_table_get_keys (c->decisions), metrics_strcmp);
  for (GList *v = vms; v; v = v->next)
    {
      GHashTable *per_vm = g_hash_table_lookup (c->decisions, v->data);
      g_autoptr (GList) reasons = g_list_sort (g_hash_table_get_keys (per_vm), metrics_strcmp);
      for (GList *r = reasons; r; r = r->next)
        metrics_sample (out, "ballast_vm_decisions_total",
                        (double) *(guint64 *) g_hash_table_lookup (per_vm, r->data),
                        (const char *[]){ "vm", v->data, "reason", r->data, NULL });
    }
}

static void
metrics_render_host (const MetricsSnapshot *s, GString *out)
{
  metrics_single (out, "ballast_host_memory_total_bytes", "gauge", "MemTotal of the host.",
                  s->host_total_bytes);
  metrics_single (out, "ballast_host_memory_available_bytes", "gauge", "MemAvailable of the host.",
                  s->host_available_bytes);
  metrics_single (out, "ballast_host_budget_bytes", "gauge", "Memory the policy may hand to VMs.",
                  s->host_budget_bytes);
  metrics_single (out, "ballast_host_reserve_bytes", "gauge", "Memory kept back for the host.",
                  s->host_reserve_bytes);
  metrics_single (out, "ballast_host_non_vm_used_bytes", "gauge",
                  "Host memory in use that no VM accounts for.", s->host_non_vm_bytes);
  metrics_single (out, "ballast_host_overloaded", "gauge",
                  "1 while the VMs' needs exceed the budget.", s->host_overloaded);
  metrics_single (out, "ballast_host_memory_pressure_some_ratio", "gauge",
                  "Host memory PSI some, avg10, as a ratio.", s->host_psi_some_ratio);
  metrics_single (out, "ballast_host_memory_pressure_full_ratio", "gauge",
                  "Host memory PSI full, avg10, as a ratio.", s->host_psi_full_ratio);
  metrics_single (out, "ballast_host_memory_pressure_some_seconds_total", "counter",
                  "Host memory PSI some, total stall time.", s->host_psi_some_seconds_total);
}

static void
metrics_render_ksm (const MetricsSnapshot *s, const MetricsCounters *c, GString *out)
{
  metrics_single (out, "ballast_ksm_present", "gauge", "1 when the kernel has KSM.",
                  s->ksm_present);
  metrics_family (out, "ballast_ksm_state", "gauge", "The KSM driver's state, one-hot.");
  for (int st = 0; !g_str_equal (policy_ksm_state_name (st), "unknown"); st++)
    metrics_sample (out, "ballast_ksm_state",
                    g_strcmp0 (s->ksm_state, policy_ksm_state_name (st)) == 0,
                    (const char *[]){ "state", policy_ksm_state_name (st), NULL });
  metrics_single (out, "ballast_ksm_pages_sharing_bytes", "gauge", "KSM pages_sharing, in bytes.",
                  s->ksm_sharing_bytes);
  metrics_single (out, "ballast_ksm_pages_shared_bytes", "gauge", "KSM pages_shared, in bytes.",
                  s->ksm_shared_bytes);
  metrics_single (out, "ballast_ksm_scanned_bytes_total", "counter", "KSM pages_scanned, in bytes.",
                  s->ksm_scanned_bytes_total);
  metrics_single (out, "ballast_ksm_full_scans_total", "counter", "KSM full scans.",
                  s->ksm_full_scans_total);
  metrics_single (out, "ballast_ksm_saved_bytes", "gauge",
                  "Memory KSM saves (pages_sharing - pages_shared).", s->ksm_saved_bytes);
  metrics_single (out, "ballast_ksmd_cpu_seconds_total", "counter", "CPU time used by ksmd.",
                  s->ksmd_cpu_seconds_total);
  metrics_single (out, "ballast_ksm_run", "gauge", "The KSM run knob.", s->ksm_run);
  metrics_single (out, "ballast_ksm_pages_to_scan", "gauge", "The KSM pages_to_scan knob.",
                  s->ksm_pages_to_scan);
  metrics_single (out, "ballast_ksm_sleep_seconds", "gauge", "The KSM sleep_millisecs knob.",
                  s->ksm_sleep_seconds);
  if (c != NULL)
    metrics_single (out, "ballast_ksm_boosts_total", "counter",
                    "Times the KSM driver entered boost (since ballastd started).",
                    (double) c->ksm_boosts);
}

static void
metrics_render_daemon (const MetricsSnapshot *s, GString *out)
{
  metrics_family (out, "ballast_build_info", "gauge", "Always 1; the version as a label.");
  metrics_sample (out, "ballast_build_info", 1,
                  (const char *[]){ "version", s->version ? s->version : "", NULL });
  metrics_single (out, "ballast_dry_run", "gauge", "1 while decisions are not applied.",
                  s->dry_run);
  metrics_single (out, "ballast_ticks_total", "counter", "Policy ticks run.", s->ticks_total);
  metrics_single (out, "ballast_extra_ticks_total", "counter",
                  "Ticks run early because a VM or the host asked.", s->extra_ticks_total);
  metrics_single (out, "ballast_control_clients", "gauge", "Clients on the control socket.",
                  s->control_clients);
  metrics_single (out, "ballast_http_clients", "gauge", "Open HTTP connections.", s->http_clients);
  const char *h = "ballast_tick_duration_seconds";
  metrics_family (out, h, "histogram", "Wall time of one tick (sample, decide, actuate).");
  guint64 cumulative = 0;
  for (guint i = 0; i < METRICS_TICK_BUCKETS; i++)
    {
      char le[G_ASCII_DTOSTR_BUF_SIZE];
      cumulative += s->tick.counts[i];
      if (isinf (metrics_tick_bucket_le_s[i]))
        g_strlcpy (le, "+Inf", sizeof le);
      else
        g_ascii_formatd (le, sizeof le, "%g", metrics_tick_bucket_le_s[i]);
      metrics_sample (out, "ballast_tick_duration_seconds_bucket", (double) cumulative,
                      (const char *[]){ "le", le, NULL });
    }
  metrics_sample (out, "ballast_tick_duration_seconds_sum", s->tick.sum_s, NULL);
  metrics_sample (out, "ballast_tick_duration_seconds_count", (double) s->tick.count, NULL);
}

void
metrics_render (const MetricsSnapshot *s, const MetricsCounters *c, GString *out)
{
  metrics_render_daemon (s, out);
  metrics_render_host (s, out);
  metrics_render_ksm (s, c, out);
  metrics_render_vm_figures (s, out);
  metrics_render_vm_states (s, out);
  if (c != NULL)
    metrics_render_decisions (c, out);
}

/* ---- from the control socket's JSON ---------------------------------------- */

static double
metrics_num (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  return json_is_number (v) ? json_number_value (v) : METRICS_UNKNOWN;
}

static void
metrics_vm_from_json (MetricsVm *vm, json_t *o, double page_bytes)
{
  json_t *host = json_object_get (o, "host");
  json_t *agent = json_object_get (o, "agent");
  vm->name = json_string_value (json_object_get (o, "name"));
  vm->state = json_string_value (json_object_get (o, "state"));
  vm->backend = json_string_value (json_object_get (o, "backend"));
  vm->mode = json_string_value (json_object_get (o, "mode"));
  vm->ws_source = json_string_value (json_object_get (o, "ws_source"));
  vm->pressure = g_strcmp0 (json_string_value (json_object_get (o, "pressure")), "none") != 0;
  vm->ram_bytes = metrics_num (o, "ram_bytes");
  vm->actual_bytes = metrics_num (o, "actual_bytes");
  vm->target_bytes = metrics_num (o, "target_bytes");
  vm->need_bytes = metrics_num (o, "need_bytes");
  vm->min_bytes = metrics_num (o, "min_bytes");
  vm->max_bytes = metrics_num (o, "max_bytes");
  vm->qemu_pss_bytes = metrics_num (host, "pss_bytes");
  vm->ksm_merged_bytes = metrics_num (host, "ksm_merging_pages") * page_bytes;
  /* The agent's MemAvailable is fresher than the balloon driver's stats. */
  vm->guest_available_bytes = agent ? metrics_num (agent, "available_bytes")
                                    : metrics_num (json_object_get (o, "stats"), "available_bytes");
  vm->guest_psi_some_seconds_total = metrics_num (agent, "psi_some_total_us") / 1e6;
  vm->guest_oom_kills_total = metrics_num (agent, "oom_kills");
}

void
metrics_snapshot_from_json (MetricsSnapshot *s, json_t *status, json_t *host, json_t *ksm,
                            json_t *counters, json_t *vms)
{
  memset (s, 0, sizeof *s);
  s->version = json_string_value (json_object_get (status, "version"));
  s->dry_run = json_is_true (json_object_get (status, "dry_run"));
  s->ticks_total = metrics_num (counters, "ticks");
  s->extra_ticks_total = metrics_num (counters, "extra_ticks");
  s->control_clients = metrics_num (counters, "control_clients");
  s->http_clients = METRICS_UNKNOWN;
  json_t *tick = json_object_get (counters, "tick_duration_seconds");
  json_t *counts = json_object_get (tick, "counts");
  for (guint i = 0; i < METRICS_TICK_BUCKETS && i < json_array_size (counts); i++)
    s->tick.counts[i] = (guint64) json_integer_value (json_array_get (counts, i));
  s->tick.sum_s = json_number_value (json_object_get (tick, "sum"));
  s->tick.count = (guint64) json_integer_value (json_object_get (tick, "count"));

  s->host_total_bytes = metrics_num (host, "total_bytes");
  s->host_available_bytes = metrics_num (host, "available_bytes");
  s->host_budget_bytes = metrics_num (host, "budget_bytes");
  s->host_reserve_bytes = metrics_num (host, "reserve_bytes");
  s->host_non_vm_bytes = metrics_num (host, "non_vm_used_bytes");
  s->host_overloaded = json_is_true (json_object_get (host, "overloaded"));
  s->host_psi_some_ratio = metrics_num (host, "psi_some_avg10") / 100;
  s->host_psi_full_ratio = metrics_num (host, "psi_full_avg10") / 100;
  s->host_psi_some_seconds_total = metrics_num (counters, "host_psi_some_total_us") / 1e6;

  double page = metrics_num (counters, "ksm_page_size_bytes");
  if (isnan (page) || page <= 0)
    page = 4096;
  s->ksm_present = json_is_true (json_object_get (ksm, "present"));
  s->ksm_state = json_string_value (json_object_get (ksm, "state"));
  s->ksm_sharing_bytes = metrics_num (ksm, "pages_sharing") * page;
  s->ksm_shared_bytes = metrics_num (ksm, "pages_shared") * page;
  s->ksm_scanned_bytes_total = metrics_num (counters, "ksm_pages_scanned") * page;
  s->ksm_full_scans_total = metrics_num (ksm, "full_scans");
  s->ksm_saved_bytes = metrics_num (ksm, "saved_bytes");
  s->ksmd_cpu_seconds_total = metrics_num (counters, "ksmd_cpu_ns") / 1e9;
  s->ksm_run = metrics_num (ksm, "run");
  s->ksm_pages_to_scan = metrics_num (ksm, "pages_to_scan");
  s->ksm_sleep_seconds = metrics_num (ksm, "sleep_millisecs") / 1000;
  if (!s->ksm_present)
    s->ksm_run = s->ksm_pages_to_scan = s->ksm_sleep_seconds = METRICS_UNKNOWN;

  s->n_vms = json_array_size (vms);
  s->vms = g_new0 (MetricsVm, MAX (s->n_vms, 1));
  for (guint i = 0; i < s->n_vms; i++)
    metrics_vm_from_json (&s->vms[i], json_array_get (vms, i), page);
}

void
metrics_snapshot_clear (MetricsSnapshot *s)
{
  g_clear_pointer (&s->vms, g_free);
  s->n_vms = 0;
}
