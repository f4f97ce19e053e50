/* test-metrics.c: the Prometheus exposition of metrics.c from plain structs:
 * hostile VM names come back intact through the label escaping, unknown
 * figures are left out, states are one-hot, event counters follow VMs, and
 * (when installed) promtool accepts the text; plus http-listen's parser. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "metrics.h"

static const char *const hostile_names[] = {
  "plain",
  "quo\"te",
  "back\\slash",
  "new\nline",
  "}{vm=\"x\"} 1\nballast_fake 2",
  "\\\"\\n",
  "# HELP ballast_vm_ram_bytes x",
  "tab\there",
  "unicode-\xc3\xa9\xe2\x82\xac",
};

static MetricsVm
make_vm (const char *name, double actual_bytes)
{
  return (MetricsVm){
    .name = name,
    .state = "active",
    .backend = "libvirt",
    .mode = "auto",
    .ws_source = "agent",
    .ram_bytes = 2 * actual_bytes,
    .actual_bytes = actual_bytes,
    .target_bytes = actual_bytes,
    .need_bytes = actual_bytes / 2,
    .min_bytes = METRICS_UNKNOWN,
    .max_bytes = 2 * actual_bytes,
    .qemu_pss_bytes = actual_bytes,
    .ksm_merged_bytes = 0,
    .guest_available_bytes = actual_bytes / 4,
    .guest_psi_some_seconds_total = 1.5,
    .guest_oom_kills_total = 0,
  };
}

static MetricsSnapshot
make_snapshot (MetricsVm *vms, guint n)
{
  MetricsSnapshot s = {
    .version = "0.1.0",
    .ticks_total = 10,
    .host_total_bytes = 8e9,
    .host_psi_some_ratio = 0.25,
    .host_budget_bytes = METRICS_UNKNOWN,
    .ksm_present = TRUE,
    .ksm_state = "boost",
    .ksm_run = 1,
    .n_vms = n,
    .vms = vms,
  };
  metrics_histogram_observe (&s.tick, 0.002);
  metrics_histogram_observe (&s.tick, 7.0);
  return s;
}

/* Reads one label value starting after the opening quote, undoing the
 * exposition's escapes; returns the position after the closing quote or
 * NULL when the text is malformed. */
static const char *
parse_label_value (const char *p, GString *out)
{
  for (; *p != '\0' && *p != '"'; p++)
    {
      if (*p == '\n')
        return NULL; /* a raw newline would split the sample */
      if (*p != '\\')
        {
          g_string_append_c (out, *p);
          continue;
        }
      p++;
      if (*p == '\\')
        g_string_append_c (out, '\\');
      else if (*p == '"')
        g_string_append_c (out, '"');
      else if (*p == 'n')
        g_string_append_c (out, '\n');
      else
        return NULL;
    }
  return *p == '"' ? p + 1 : NULL;
}

/* The vm label of every sample of `family` in `text`, in order. */
static GPtrArray *
vm_labels_of (const char *text, const char *family)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autofree char *prefix = g_strconcat (family, "{vm=\"", NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '#' || lines[i][0] == '\0')
        continue;
      /* Every sample line is NAME{...} VALUE or NAME VALUE. */
      g_assert_true (g_ascii_isalpha (lines[i][0]));
      if (!g_str_has_prefix (lines[i], prefix))
        continue;
      GString *v = g_string_new (NULL);
      const char *rest = parse_label_value (lines[i] + strlen (prefix), v);
      g_assert_nonnull (rest);
      g_assert_true (*rest == '}' || *rest == ',');
      g_ptr_array_add (out, g_string_free (v, FALSE));
    }
  return out;
}

static void
test_hostile_names (void)
{
  guint n = G_N_ELEMENTS (hostile_names);
  g_autofree MetricsVm *vms = g_new0 (MetricsVm, n + 1);
  for (guint i = 0; i < n; i++)
    vms[i] = make_vm (hostile_names[i], (i + 1) * 1048576.0);
  /* Not UTF-8 (a libvirt domain name can be anything): made valid. */
  vms[n] = make_vm ("bad-\xff\xfe-utf8", 1);
  MetricsSnapshot s = make_snapshot (vms, n + 1);
  g_autoptr (GString) out = g_string_new (NULL);
  metrics_render (&s, NULL, out);
  g_assert_true (g_utf8_validate (out->str, out->len, NULL));

  g_autoptr (GPtrArray) got = vm_labels_of (out->str, "ballast_vm_actual_bytes");
  g_assert_cmpuint (got->len, ==, n + 1);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (g_ptr_array_index (got, i), ==, hostile_names[i]);
  g_assert_cmpstr (g_ptr_array_index (got, n), ==, "bad-\xef\xbf\xbd\xef\xbf\xbd-utf8");

  /* The exact text of the worst one. */
  g_assert_nonnull (strstr (out->str,
                            "ballast_vm_actual_bytes{vm=\"}{vm=\\\"x\\\"} 1\\nballast_fake "
                            "2\"} 5242880\n"));
  g_assert_null (strstr (out->str, "\nballast_fake"));
}

static void
test_shape (void)
{
  MetricsVm vms[2] = { make_vm ("web1", 1073741824.0), make_vm ("db1", 536870912.0) };
  vms[1].state = "paused";
  vms[1].pressure = TRUE;
  MetricsSnapshot s = make_snapshot (vms, 2);
  MetricsCounters *c = metrics_counters_new ();
  json_t *d = json_pack ("{s:s,s:s}", "vm", "web1", "reason", "surplus");
  metrics_counters_event (c, "BALLAST_DECISION", d);
  metrics_counters_event (c, "BALLAST_DECISION", d);
  json_decref (d);
  d = json_pack ("{s:s,s:s}", "vm", "db1", "reason", "pressure");
  metrics_counters_event (c, "BALLAST_DECISION", d);
  json_decref (d);
  d = json_pack ("{s:s,s:s}", "old", "idle", "state", "boost");
  metrics_counters_event (c, "KSM_STATE", d);
  json_decref (d);

  g_autoptr (GString) out = g_string_new (NULL);
  metrics_render (&s, c, out);
  const char *want[] = {
    "ballast_vm_actual_bytes{vm=\"web1\"} 1073741824\n",
    "ballast_vm_state{vm=\"db1\",state=\"paused\"} 1\n",
    "ballast_vm_state{vm=\"db1\",state=\"active\"} 0\n",
    "ballast_vm_pressure{vm=\"db1\"} 1\n",
    "ballast_vm_info{vm=\"web1\",backend=\"libvirt\",mode=\"auto\",ws_source=\"agent\"} 1\n",
    "ballast_vm_decisions_total{vm=\"web1\",reason=\"surplus\"} 2\n",
    "ballast_vm_decisions_total{vm=\"db1\",reason=\"pressure\"} 1\n",
    "ballast_vm_guest_psi_some_seconds_total{vm=\"web1\"} 1.5\n",
    "ballast_ksm_state{state=\"boost\"} 1\n",
    "ballast_ksm_state{state=\"idle\"} 0\n",
    "ballast_ksm_boosts_total 1\n",
    "ballast_host_memory_pressure_some_ratio 0.25\n",
    "ballast_tick_duration_seconds_bucket{le=\"0.0025\"} 1\n",
    "ballast_tick_duration_seconds_bucket{le=\"1\"} 1\n",
    "ballast_tick_duration_seconds_bucket{le=\"+Inf\"} 2\n",
    "ballast_tick_duration_seconds_count 2\n",
    "# TYPE ballast_vm_guest_oom_kills_total counter\n",
    "# TYPE ballast_tick_duration_seconds histogram\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (want); i++)
    if (strstr (out->str, want[i]) == NULL)
      g_error ("missing: %s in:\n%s", want[i], out->str);
  /* Unknown figures are left out, not exported as 0. */
  g_assert_null (strstr (out->str, "ballast_vm_min_bytes{"));
  g_assert_null (strstr (out->str, "\nballast_host_budget_bytes "));

  /* A VM that is removed takes its counters with it. */
  d = json_pack ("{s:s,s:s}", "name", "web1", "backend", "qmp-dir");
  metrics_counters_event (c, "VM_REMOVED", d);
  json_decref (d);
  g_string_truncate (out, 0);
  metrics_render (&s, c, out);
  g_assert_null (strstr (out->str, "ballast_vm_decisions_total{vm=\"web1\""));
  g_assert_nonnull (strstr (out->str, "ballast_vm_decisions_total{vm=\"db1\""));
  metrics_counters_free (c);
}

/* promtool, when installed, must accept the hostile exposition. */
static void
test_promtool (void)
{
  g_autofree char *promtool = g_find_program_in_path ("promtool");
  if (promtool == NULL)
    {
      g_test_skip ("promtool not installed (Debian package prometheus)");
      return;
    }
  guint n = G_N_ELEMENTS (hostile_names);
  g_autofree MetricsVm *vms = g_new0 (MetricsVm, n);
  for (guint i = 0; i < n; i++)
    vms[i] = make_vm (hostile_names[i], 1 << 20);
  MetricsSnapshot s = make_snapshot (vms, n);
  MetricsCounters *c = metrics_counters_new ();
  json_t *d = json_pack ("{s:s,s:s}", "vm", "quo\"te", "reason", "x\\y\n");
  metrics_counters_event (c, "BALLAST_DECISION", d);
  json_decref (d);
  g_autoptr (GString) out = g_string_new (NULL);
  metrics_render (&s, c, out);
  metrics_counters_free (c);
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "ballast-test-metrics.txt", NULL);
  g_assert_true (g_file_set_contents (path, out->str, out->len, NULL));
  g_autofree char *cmd = g_strdup_printf ("sh -c '%s check metrics < %s'", promtool, path);
  g_autofree char *output = NULL, *errors = NULL;
  int status = 0;
  g_assert_true (g_spawn_command_line_sync (cmd, &output, &errors, &status, NULL));
  g_test_message ("promtool: %s%s", output ? output : "", errors ? errors : "");
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_unlink (path);
}

static void
test_listen (void)
{
  const struct
  {
    const char *text;
    const char *host;
    guint16 port;
  } good[] = {
    { "127.0.0.1:9781", "127.0.0.1", 9781 },
    { "[::1]:9781", "::1", 9781 },
    { "0.0.0.0:0", "0.0.0.0", 0 },
    { "[::]:65535", "::", 65535 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *host = NULL;
      guint16 port = 1;
      g_assert_null (cfg_parse_listen (good[i].text, &host, &port));
      g_assert_cmpstr (host, ==, good[i].host);
      g_assert_cmpuint (port, ==, good[i].port);
    }
  const char *const bad[]
      = { "0.0.0.0:abc",    "127.0.0.1",       "localhost:9781", "::1:9781", "[127.0.0.1]:9781",
          "[::1]",          "127.0.0.1:65536", "127.0.0.1:-1",   ":9781",    "[::1:9781",
          "127.0.0.1: 9781" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    if (cfg_parse_listen (bad[i], NULL, NULL) == NULL)
      g_error ("accepted: %s", bad[i]);

  /* In a file: off disables, a bad value names file and line. */
  g_autoptr (GError) error = NULL;
  g_autoptr (BallastConfig) off = cfg_load_data ("[daemon]\nhttp-listen=off\n", "t.conf", &error);
  g_assert_no_error (error);
  g_assert_null (off->http_listen);
  g_autoptr (BallastConfig) def = cfg_load_data ("[daemon]\n", "t.conf", &error);
  g_assert_cmpstr (def->http_listen, ==, "127.0.0.1:9781");
  g_autoptr (BallastConfig) v6
      = cfg_load_data ("[daemon]\nhttp-listen=[::1]:9000\n", "t.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (v6->http_listen, ==, "[::1]:9000");
  g_autoptr (BallastConfig) broken
      = cfg_load_data ("[daemon]\ntick-ms=1000\nhttp-listen=0.0.0.0:abc\n", "t.conf", &error);
  g_assert_null (broken);
  g_assert_error (error, CFG_ERROR, CFG_ERROR_VALUE);
  g_assert_true (g_str_has_prefix (error->message, "t.conf:3: [daemon] http-listen: "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/hostile-names", test_hostile_names);
  g_test_add_func ("/metrics/shape", test_shape);
  g_test_add_func ("/metrics/promtool", test_promtool);
  g_test_add_func ("/http/listen", test_listen);
  return g_test_run ();
}
