/* manager-commands.c: the control socket's commands (queries, set-policy,
 * kicks, reload) and their JSON; the socket itself is control.c. */
#define G_LOG_DOMAIN "ballast"

#include "manager-private.h"

#include "ballast-config.h"

#include <string.h>

/* Event sources (hooks, libvirt) on one host: a handful. */
#define MGR_MAX_SOURCES 64

static Vm *
mgr_vm_arg (Manager *m, json_t *args, GError **error)
{
  const char *name = json_string_value (json_object_get (args, "name"));
  if (name == NULL)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'name' (string) is required");
      return NULL;
    }
  Vm *vm = g_hash_table_lookup (m->vms, name);
  if (vm == NULL)
    g_set_error (error, CTL_ERROR, CTL_ERROR_NOT_FOUND, "no VM named '%s'", name);
  return vm;
}

static json_t *
mgr_vm_json (Manager *m, const Vm *vm)
{
  PolicyVmConfig cfg;
  mgr_effective_policy (m, vm, &cfg);
  return vm_to_json (vm, &cfg);
}

/* The VM named by args, with its effective policy. */
static Vm *
mgr_vm_policy_arg (Manager *m, json_t *args, PolicyVmConfig *cfg, GError **error)
{
  Vm *vm = mgr_vm_arg (m, args, error);
  if (vm != NULL)
    mgr_effective_policy (m, vm, cfg);
  return vm;
}

static json_t *
cmd_query_vms (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *list = json_array ();
  g_autoptr (GList) names = g_hash_table_get_keys (m->vms);
  names = g_list_sort (names, (GCompareFunc) g_strcmp0);
  for (GList *l = names; l; l = l->next)
    json_array_append_new (list, mgr_vm_json (m, g_hash_table_lookup (m->vms, l->data)));
  return list;
}

static json_t *
cmd_query_vm (gpointer data, json_t *args, GError **error)
{
  PolicyVmConfig cfg;
  Vm *vm = mgr_vm_policy_arg (data, args, &cfg, error);
  if (vm == NULL)
    return NULL;
  return vm_detail_to_json (vm, &cfg);
}

static json_t *
cmd_query_status (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  gint64 uptime_ms = (g_get_monotonic_time () - m->start_mono_us) / 1000;
  return json_pack (
      "{s:s,s:s,s:I,s:b,s:i,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:f}}", "version", BALLAST_VERSION, "policy",
      m->cfg->policy_name, "uptime_ms", (json_int_t) uptime_ms, "dry_run", m->dry_run, "vm_count",
      (int) g_hash_table_size (m->vms), "tick_ms", (json_int_t) m->cfg->policy.tick_ms, "ticks",
      (json_int_t) m->n_ticks, "host", "total_bytes", (json_int_t) m->host.mem_total_bytes,
      "available_bytes", (json_int_t) m->host.mem_available_bytes, "reserve_bytes",
      (json_int_t) m->reserve_bytes, "budget_bytes", (json_int_t) m->budget_bytes, "psi_some_avg10",
      m->host.psi_some_avg10_pct);
}

static json_t *
cmd_query_host (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  return json_pack (
      "{s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:b}", "total_bytes", (json_int_t) m->host.mem_total_bytes,
      "available_bytes", (json_int_t) m->host.mem_available_bytes, "free_bytes",
      (json_int_t) m->host.mem_free_bytes, "reserve_bytes", (json_int_t) m->reserve_bytes,
      "budget_bytes", (json_int_t) m->budget_bytes, "psi_some_avg10", m->host.psi_some_avg10_pct,
      "psi_full_avg10", m->host.psi_full_avg10_pct, "non_vm_used_bytes",
      (json_int_t) m->host.non_vm_used_bytes.value, "overloaded", m->overloaded);
}

static const char *
mgr_ksm_mode_name (PolicyKsmMode mode)
{
  static const char *const names[] = { "auto", "observe", "off" };
  return mode < G_N_ELEMENTS (names) ? names[mode] : "?";
}

static json_t *
cmd_query_ksm (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  const PolicyKsmDecision *kd = &m->ksm_decision;
  uint64_t page = m->ksm.page_size_bytes ? m->ksm.page_size_bytes : 4096;
  return json_pack (
      "{s:s,s:s,s:b,s:b,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:f,s:I,s:s,s:I,s:f}", "state",
      policy_ksm_state_name (m->have_ksm_decision ? kd->state : POLICY_KSM_IDLE), "mode",
      mgr_ksm_mode_name (m->cfg->policy.ksm_mode), "driving",
      m->cfg->policy.ksm_mode == POLICY_KSM_MODE_AUTO && !m->dry_run
          && sample_ksm_driving (m->sample),
      "present", m->ksm.present, "run", (int) m->ksm.run, "pages_to_scan",
      (int) m->ksm.pages_to_scan, "sleep_millisecs", (int) m->ksm.sleep_millisecs, "pages_sharing",
      (json_int_t) m->ksm.pages_sharing, "pages_shared", (json_int_t) m->ksm.pages_shared,
      "full_scans", (json_int_t) m->ksm.full_scans, "saved_bytes",
      (json_int_t) (m->ksm.pages_sharing > m->ksm.pages_shared
                        ? (m->ksm.pages_sharing - m->ksm.pages_shared) * page
                        : 0),
      "ksmd_cpu_pct", sample_ksmd_cpu_pct (m->sample), "state_since_ms",
      (json_int_t) m->ksm_state_since_ms, "last_reason",
      m->have_ksm_decision && kd->reason ? kd->reason : "", "expected_saved_bytes",
      (json_int_t) kd->expected_saved_bytes, "expected_cpu_pct", kd->expected_cpu_pct);
}

static json_t *
cmd_query_decisions (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_int_t limit = 50;
  json_t *l = json_object_get (args, "limit");
  if (l != NULL)
    {
      if (!json_is_integer (l) || json_integer_value (l) < 1)
        {
          g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'limit' must be a positive integer");
          return NULL;
        }
      limit = json_integer_value (l);
    }
  return decision_log_to_json (m->log, (guint) MIN (limit, (json_int_t) G_MAXUINT));
}

/* The raw counters behind /metrics that the other queries do not show. */
static json_t *
cmd_query_metrics (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *counts = json_array ();
  for (guint i = 0; i < METRICS_TICK_BUCKETS; i++)
    json_array_append_new (counts, json_integer ((json_int_t) m->tick_hist.counts[i]));
  return json_pack (
      "{s:I,s:I,s:{s:o,s:f,s:I},s:i,s:I,s:I,s:I,s:o}", "ticks", (json_int_t) m->n_ticks,
      "extra_ticks", (json_int_t) m->n_extra_ticks, "tick_duration_seconds", "counts", counts,
      "sum", m->tick_hist.sum_s, "count", (json_int_t) m->tick_hist.count, "control_clients",
      (int) ctl_server_client_count (m->ctl), "host_psi_some_total_us",
      (json_int_t) m->host.psi_some_total_us, "ksm_pages_scanned",
      (json_int_t) m->ksm.pages_scanned, "ksm_page_size_bytes",
      (json_int_t) (m->ksm.page_size_bytes ? m->ksm.page_size_bytes : 4096), "ksmd_cpu_ns",
      ctl_json_bytes (m->ksm.ksmd_cpu_ns.present, m->ksm.ksmd_cpu_ns.value));
}

static json_t *
mgr_policy_json (const PolicyVmConfig *c)
{
  json_t *o = json_pack ("{s:s,s:i,s:I,s:b,s:f,s:I,s:I,s:I}", "mode",
                         policy_vm_mode_name (c->mode), "shares", (int) c->shares, "cold_age_ms",
                         (json_int_t) c->cold_age_ms, "ksm", c->ksm, "pressure_target_pct",
                         c->pressure_target_pct, "refill_ms", (json_int_t) c->refill_ms,
                         "burst_hold_ms", (json_int_t) c->burst_hold_ms, "boot_grace_ms",
                         (json_int_t) c->boot_grace_ms);
  const struct
  {
    const char *key;
    const PolicySize *size;
  } sizes[] = {
    { "min", &c->min }, { "max", &c->max }, { "target", &c->target }, { "headroom", &c->headroom }
  };
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      const PolicySize *s = sizes[i].size;
      json_t *v = !s->set     ? json_null ()
                  : s->is_pct ? json_sprintf ("%g%%", s->pct)
                              : json_integer ((json_int_t) s->bytes);
      json_object_set_new (o, sizes[i].key, v);
    }
  return o;
}

static json_t *
cmd_query_policy (gpointer data, json_t *args, GError **error)
{
  PolicyVmConfig cfg;
  Vm *vm = mgr_vm_policy_arg (data, args, &cfg, error);
  if (vm == NULL)
    return NULL;
  json_t *o = mgr_policy_json (&cfg);
  PolicyVmConfig unused;
  json_object_set_new (o, "runtime_override", json_boolean (vm_get_override (vm, &unused)));
  return o;
}

static json_t *
cmd_set_policy (gpointer data, json_t *args, GError **error)
{
  PolicyVmConfig cfg;
  Vm *vm = mgr_vm_policy_arg (data, args, &cfg, error);
  if (vm == NULL)
    return NULL;
  const char *key;
  json_t *value;
  /* Validate every key on a copy; apply only if all are good. */
  json_object_foreach (args, key, value)
  {
    if (g_str_equal (key, "name"))
      continue;
    g_autofree char *text = NULL;
    if (json_is_string (value))
      text = g_strdup (json_string_value (value));
    else if (json_is_integer (value))
      text = g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (value));
    else if (json_is_real (value))
      text = g_strdup_printf ("%g", json_real_value (value));
    else if (json_is_boolean (value))
      text = g_strdup (json_is_true (value) ? "true" : "false");
    else
      {
        g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "%s: expected a scalar", key);
        return NULL;
      }
    if (!cfg_vm_policy_set (&cfg, key, text, error))
      return NULL;
  }
  if (!cfg_vm_policy_check (&cfg, error))
    return NULL;
  vm_set_override (vm, &cfg);
  g_message ("%s: policy changed at run time", vm_get_name (vm));
  mgr_note (data, vm, VM_NOTE_KICK);
  return mgr_policy_json (&cfg);
}

static json_t *
cmd_set_dry_run (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *e = json_object_get (args, "enabled");
  if (!json_is_boolean (e))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'enabled' (boolean) is required");
      return NULL;
    }
  gboolean was = m->dry_run;
  m->dry_run = json_is_true (e);
  m->dry_run_runtime = m->dry_run;
  if (was && !m->dry_run)
    mgr_forget_dry_run_plans (m);
  g_message ("dry-run %s", m->dry_run ? "on" : "off");
  return json_pack ("{s:b}", "dry_run", m->dry_run);
}

static json_t *
cmd_reload_config (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  if (!mgr_reload (m, error))
    return NULL;
  return json_object ();
}

/* Names accepted for kicks and vm-events, mapped to policy kicks. */
static const struct
{
  const char *name;
  uint32_t kick;
} mgr_kick_names[] = {
  { "CREATED", POLICY_KICK_CREATED },     { "CREATING", POLICY_KICK_CREATING },
  { "DESTROYED", POLICY_KICK_DESTROYED }, { "DESTROYING", POLICY_KICK_DESTROYING },
  { "MIGRATED", POLICY_KICK_MIGRATED },   { "RESUMED", POLICY_KICK_RESUMED },
  { "STARTED", POLICY_KICK_STARTED },     { "operator", POLICY_KICK_OPERATOR },
};

static gboolean
mgr_kick_by_name (Manager *m, const char *vm_name, const char *event, GError **error)
{
  /* The name goes into the decision log and its JSON. */
  if (vm_name != NULL && !cfg_valid_vm_name (vm_name))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC,
                   "not a VM name ([A-Za-z0-9._-], at most %d bytes)", CFG_MAX_VM_NAME);
      return FALSE;
    }
  uint32_t kick = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (mgr_kick_names); i++)
    if (g_ascii_strcasecmp (event, mgr_kick_names[i].name) == 0)
      kick = mgr_kick_names[i].kick;
  if (kick == 0)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC,
                   "unknown event '%s' (CREATING, CREATED, STARTED, RESUMED, MIGRATED, "
                   "DESTROYING, DESTROYED, operator)",
                   event);
      return FALSE;
    }
  Vm *vm = vm_name ? g_hash_table_lookup (m->vms, vm_name) : NULL;
  if (vm != NULL)
    vm_add_kicks (vm, kick);
  else
    m->host_kicks |= kick;
  g_message ("kick %s%s%s", event, vm_name ? " for " : "", vm_name ? vm_name : "");
  /* The decision log shows kicks next to the targets they cause. */
  DecisionEntry *e = decision_log_push (m->log, vm_name ? vm_name : "", g_get_real_time () / 1000);
  g_snprintf (e->reason, sizeof e->reason, "kick:%s", event);
  mgr_note (m, vm, VM_NOTE_KICK);
  return TRUE;
}

static json_t *
cmd_kick (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  json_t *name = json_object_get (args, "name");
  json_t *event = json_object_get (args, "event");
  if ((name != NULL && !json_is_string (name)) || (event != NULL && !json_is_string (event)))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'name' and 'event' must be strings");
      return NULL;
    }
  /* An operator's kick names a VM ballastd has (a hook's vm-event may come
   * before its VM does). */
  if (name != NULL && mgr_vm_arg (m, args, error) == NULL)
    return NULL;
  if (!mgr_kick_by_name (m, name ? json_string_value (name) : NULL,
                         event ? json_string_value (event) : "operator", error))
    return NULL;
  return json_object ();
}

static json_t *
cmd_register_source (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  const char *name = json_string_value (json_object_get (args, "name"));
  if (name == NULL || strlen (name) > 64)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'name' (string, <= 64 chars) is required");
      return NULL;
    }
  if (g_ptr_array_find_with_equal_func (m->sources, name, g_str_equal, NULL))
    return json_object ();
  /* A bound, so a client cannot grow the daemon's memory without limit. */
  if (m->sources->len >= MGR_MAX_SOURCES)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "too many sources (%d)", MGR_MAX_SOURCES);
      return NULL;
    }
  g_ptr_array_add (m->sources, g_strdup (name));
  return json_object ();
}

static json_t *
cmd_vm_event (gpointer data, json_t *args, GError **error)
{
  Manager *m = data;
  const char *vm = json_string_value (json_object_get (args, "vm"));
  const char *type = json_string_value (json_object_get (args, "type"));
  if (vm == NULL || type == NULL)
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "'vm' and 'type' (strings) are required");
      return NULL;
    }

  if (!mgr_kick_by_name (m, vm, type, error))
    return NULL;
  return json_object ();
}

/* Sorted by name: the server looks commands up with bsearch. */
const CtlCommand mgr_commands[] = {
  { "kick", cmd_kick },
  { "query-decisions", cmd_query_decisions },
  { "query-host", cmd_query_host },
  { "query-ksm", cmd_query_ksm },
  { "query-metrics", cmd_query_metrics },
  { "query-policy", cmd_query_policy },
  { "query-status", cmd_query_status },
  { "query-vm", cmd_query_vm },
  { "query-vms", cmd_query_vms },
  { "register-source", cmd_register_source },
  { "reload-config", cmd_reload_config },
  { "set-dry-run", cmd_set_dry_run },
  { "set-policy", cmd_set_policy },
  { "vm-event", cmd_vm_event },
};

const gsize mgr_n_commands = G_N_ELEMENTS (mgr_commands);
