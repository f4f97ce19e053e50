/* metrics.h: ballastd's figures as Prometheus text exposition 0.0.4: plain
 * structs in, text out (no I/O), plus the counters the HTTP server keeps. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <math.h>

/* A figure that may be unknown: NAN means "not known", and the series is
 * left out rather than exported as 0 (0 bytes available is a real alarm). */
#define METRICS_UNKNOWN (NAN)

typedef struct
{
  const char *name;    /* any bytes: escaped on output */
  const char *state;   /* connecting, negotiating, active, lost, paused */
  const char *backend; /* info labels */
  const char *mode;
  const char *ws_source; /* agent, meminfo, guest-stats, none */
  gboolean pressure;
  double ram_bytes;
  double actual_bytes;
  double target_bytes;
  double need_bytes;
  double min_bytes;
  double max_bytes;
  double qemu_pss_bytes;
  double ksm_merged_bytes;
  double guest_available_bytes;
  double guest_psi_some_seconds_total;
  double guest_oom_kills_total;
} MetricsVm;

/* Tick durations, seconds. The buckets span a 1 ms tick to a stuck one. */
#define METRICS_TICK_BUCKETS 12
typedef struct
{
  guint64 counts[METRICS_TICK_BUCKETS]; /* per bucket, not cumulative */
  double sum_s;
  guint64 count;
} MetricsHistogram;
extern const double metrics_tick_bucket_le_s[METRICS_TICK_BUCKETS]; /* last is +Inf */
void metrics_histogram_observe (MetricsHistogram *h, double value_s);

/* Counters the HTTP server derives from the event stream (so the tick does
 * no work for them): decisions per VM and reason, KSM boosts. */
typedef struct _MetricsCounters MetricsCounters;
MetricsCounters *metrics_counters_new (void);
void metrics_counters_free (MetricsCounters *c);
/* Feeds one control-socket event (name and its "data" object). */
void metrics_counters_event (MetricsCounters *c, const char *event, json_t *data);

typedef struct
{
  const char *version;
  double ticks_total;
  double extra_ticks_total;
  MetricsHistogram tick;
  double control_clients;
  double http_clients;
  gboolean dry_run;

  double host_total_bytes;
  double host_available_bytes;
  double host_budget_bytes;
  double host_reserve_bytes;
  double host_non_vm_bytes;
  gboolean host_overloaded;
  double host_psi_some_ratio; /* avg10, 0..1 */
  double host_psi_full_ratio;
  double host_psi_some_seconds_total;

  gboolean ksm_present;
  const char *ksm_state;
  double ksm_sharing_bytes;
  double ksm_shared_bytes;
  double ksm_scanned_bytes_total;
  double ksm_full_scans_total;
  double ksm_saved_bytes;
  double ksmd_cpu_seconds_total;
  double ksm_run;
  double ksm_pages_to_scan;
  double ksm_sleep_seconds;

  guint n_vms;
  MetricsVm *vms;
} MetricsSnapshot;

/* Appends the exposition of `s` (and of `c`, which may be NULL) to `out`. */
void metrics_render (const MetricsSnapshot *s, const MetricsCounters *c, GString *out);

/* Fills `s` from the control socket's replies (query-status, query-host,
 * query-ksm, query-metrics and one query-vm per VM, in `vms`). Strings in
 * `s` point into the JSON, which must outlive it; free with metrics_snapshot_clear(). */
void metrics_snapshot_from_json (MetricsSnapshot *s, json_t *status, json_t *host, json_t *ksm,
                                 json_t *counters, json_t *vms);
void metrics_snapshot_clear (MetricsSnapshot *s);

/* Label values: backslash, double quote and newline escaped (0.0.4). */
void metrics_append_label_value (GString *out, const char *value);
