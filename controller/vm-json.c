/* vm-json.c: a VM as the control socket shows it (query-vms, query-vm and
 * the VM_ADDED/VM_REMOVED events). */
#include "vm-private.h"

#include "control.h"

static const char *
vm_ws_source_name (const Vm *vm)
{
  const VmAgentData *a = vm_agent_get_data (vm->agent);
  if (a->report_seen && a->report.has_ws)
    return a->report.ws_source == AGENT_WS_SOURCE_MGLRU ? "agent" : "meminfo";
  if (vm->stats.last_update_s > 0)
    return "guest-stats";
  return "none";
}

static const char *
vm_pressure_name (const Vm *vm, const PolicyVmConfig *cfg)
{
  const VmAgentData *a = vm_agent_get_data (vm->agent);
  if (a->report_seen && a->report.has_psi && a->report.some_avg10_pct > cfg->pressure_target_pct)
    return "some";
  return vm->urgent ? "urgent" : "none";
}

json_t *
vm_event_json (const Vm *vm)
{
  return json_pack ("{s:s,s:s}", "name", vm->name, "backend", vm->backend);
}

json_t *
vm_to_json (const Vm *vm, const PolicyVmConfig *cfg)
{
  gboolean d = vm->has_decision;
  return json_pack ("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:s}", "name", vm->name, "state",
                    vm->paused ? "paused" : vm_link_state_name (vm->state), "backend", vm->backend,
                    "mode", policy_vm_mode_name (cfg->mode), "max_bytes",
                    ctl_json_bytes (d, vm->last.max_bytes), "min_bytes",
                    ctl_json_bytes (d, vm->last.min_bytes), "actual_bytes",
                    ctl_json_bytes (vm->actual_bytes.present, vm->actual_bytes.value),
                    "target_bytes", ctl_json_bytes (d, vm->last.target_bytes), "need_bytes",
                    ctl_json_bytes (d, vm->last.need_bytes), "ws_source", vm_ws_source_name (vm),
                    "pressure", vm_pressure_name (vm, cfg), "last_reason", vm->last_reason);
}

static json_t *
vm_stat_json (const PolicyStat *v)
{
  return ctl_json_bytes (v->present, v->value);
}

static json_t *
vm_stats_json (const VmGuestStats *vs)
{
  const PolicyGuestStats *st = &vs->figures;
  return json_pack (
      "{s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "total_bytes", vm_stat_json (&st->total_bytes), "free_bytes",
      vm_stat_json (&st->free_bytes), "available_bytes", vm_stat_json (&st->available_bytes),
      "disk_caches_bytes", vm_stat_json (&st->disk_caches_bytes), "major_faults",
      vm_stat_json (&st->major_faults), "minor_faults", vm_stat_json (&st->minor_faults),
      "last_update_s", (json_int_t) vs->last_update_s);
}

static json_t *
vm_agent_json (const VmAgentData *a)
{
  const AgentReport *r = &a->report;
  json_t *bins = json_array ();
  for (guint i = 0; i < r->n_bins; i++)
    json_array_append_new (
        bins,
        json_pack ("{s:o,s:I,s:I}", "age_ms",
                   r->bins[i].age_ms ? json_integer ((json_int_t) r->bins[i].age_ms) : json_null (),
                   "anon", (json_int_t) r->bins[i].anon_bytes, "file",
                   (json_int_t) r->bins[i].file_bytes));
  return json_pack ("{s:I,s:I,s:f,s:o,s:I,s:I,s:I,s:I,s:o,s:b,s:I,s:I}", "seq", (json_int_t) r->seq,
                    "report_time_ms", (json_int_t) a->report_real_ms, "psi_some_avg10",
                    r->has_psi ? r->some_avg10_pct : 0.0, "psi_some_total_us",
                    ctl_json_bytes (r->has_psi, r->some_total_us), "available_bytes",
                    (json_int_t) r->mem.available_bytes, "oom_kills",
                    (json_int_t) (r->has_vmstat ? r->oom_kill : 0), "pressure_count",
                    (json_int_t) a->pressure_count, "pressure_time_ms",
                    (json_int_t) a->pressure_real_ms, "histogram", bins, "reclaim",
                    a->hello_seen && a->hello.reclaim, "reclaim_requests",
                    (json_int_t) a->reclaim_requests, "reclaim_requested_bytes",
                    (json_int_t) a->reclaim_bytes);
}

/* How old the QEMU's /proc figures are: a quiet VM's are read less often. */
static json_t *
vm_cost_age_json (const Vm *vm)
{
  if (vm->cost_sampled_mono_us == 0)
    return json_null ();
  return json_integer ((json_int_t) ((g_get_monotonic_time () - vm->cost_sampled_mono_us) / 1000));
}

json_t *
vm_detail_to_json (const Vm *vm, const PolicyVmConfig *cfg)
{
  json_t *o = vm_to_json (vm, cfg);
  json_object_set_new (o, "stats", vm_stats_json (&vm->stats));
  json_object_set_new (o, "host",
                       json_pack ("{s:i,s:o,s:o,s:o}", "pid", vm->pid, "pss_bytes",
                                  vm_stat_json (&vm->cost.pss_bytes), "pss_age_ms",
                                  vm_cost_age_json (vm), "ksm_merging_pages",
                                  vm_stat_json (&vm->cost.ksm_merging_pages)));
  json_object_set_new (o, "ram_bytes", json_integer ((json_int_t) vm->ram_bytes));
  json_object_set_new (o, "log_lines_suppressed", json_integer ((json_int_t) vm->log_suppressed));
  json_object_set_new (o, "kicks_dropped", json_integer ((json_int_t) vm->kicks_dropped));
  json_object_set_new (o, "added_time_ms", json_integer ((json_int_t) vm->added_real_ms));
  json_object_set_new (o, "balloon",
                       vm->balloon_device ? json_string (vm->balloon_device) : json_null ());
  json_object_set_new (o, "balloon_deflate_on_oom", json_boolean (vm->balloon_deflate_on_oom));
  json_object_set_new (o, "balloon_free_page_reporting",
                       json_boolean (vm->balloon_free_page_reporting));
  if (vm->lost_reason)
    json_object_set_new (o, "lost_reason", json_string (vm->lost_reason));
  const VmAgentData *a = vm_agent_get_data (vm->agent);
  if (a->report_seen)
    json_object_set_new (o, "agent", vm_agent_json (a));
  return o;
}
