/* test-agent-proto.c: the host-side agent message validator against valid
 * messages and every hostile-input rule: line length, message rate, syntax,
 * version, types, numeric sanity, unknown fields; plus the link that frames
 * lines (with the splitter of qmp-lines.h) and applies the rate limit. */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "agent-proto.h"

#define MiB (1024ULL * 1024)
#define RAM (512 * MiB)

static const char valid_report[]
    = "{\"type\":\"report\",\"v\":1,\"seq\":7,\"uptime_ms\":15400,"
      "\"mem\":{\"total\":492847104,\"free\":249466880,\"available\":213000000,\"cached\":20000000,"
      "\"anon\":210000000,\"unevictable\":19000000,\"swap_free\":0},"
      "\"psi\":{\"some_avg10\":1.25,\"full_avg10\":0,\"some_total_us\":1234},"
      "\"vmstat\":{\"workingset_refault_anon\":1,\"workingset_refault_file\":2,\"pswpin\":3,"
      "\"pswpout\":4,\"oom_kill\":0},"
      "\"ws\":{\"source\":\"mglru\",\"bins\":[{\"age_ms\":1000,\"anon\":104857600,\"file\":0},"
      "{\"age_ms\":5000,\"anon\":104857600,\"file\":4096},{\"age_ms\":null,\"anon\":3145728,"
      "\"file\":0}]},"
      "\"agent\":{\"cpu_us\":138131,\"dropped\":3}}";

static const char valid_hello[]
    = "{\"type\":\"hello\",\"v\":1,\"agent\":\"ballast-agent "
      "0.1.0\",\"kernel\":\"6.1.0-56-cloud-amd64\","
      "\"page_size\":4096,\"mglru\":true,\"psi\":true,\"interval_ms\":1000,\"bins_ms\":[1000,5000],"
      "\"aging_ms\":2000,\"ws_long_bound\":\"idle-upper\"}";

static const char valid_pressure[]
    = "{\"type\":\"pressure\",\"v\":1,\"seq\":9,\"uptime_ms\":30123,\"some_avg10\":17.5,"
      "\"some_total_us\":400000,\"available\":1048576}";

static const AgentProtoLimits limits = { .ram_bytes = RAM };

static gboolean
parse (const char *line, AgentMsg *msg, GError **error)
{
  return agent_proto_parse_line (line, strlen (line), &limits, msg, error);
}

static void
test_valid_messages (void)
{
  AgentMsg m;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (valid_report, &m, &error));
  g_assert_no_error (error);
  g_assert_cmpint (m.type, ==, AGENT_MSG_REPORT);
  g_assert_cmpuint (m.report.seq, ==, 7);
  g_assert_cmpuint (m.report.mem.total_bytes, ==, 492847104);
  g_assert_true (m.report.has_psi);
  g_assert_cmpfloat (m.report.some_avg10_pct, ==, 1.25);
  g_assert_true (m.report.has_vmstat);
  g_assert_cmpuint (m.report.pswpout, ==, 4);
  g_assert_true (m.report.has_ws);
  g_assert_cmpint (m.report.ws_source, ==, AGENT_WS_SOURCE_MGLRU);
  g_assert_cmpuint (m.report.n_bins, ==, 3);
  g_assert_cmpuint (m.report.bins[1].age_ms, ==, 5000);
  g_assert_cmpuint (m.report.bins[1].file_bytes, ==, 4096);
  g_assert_cmpuint (m.report.bins[2].age_ms, ==, 0);
  g_assert_true (m.report.has_agent_cpu);
  g_assert_cmpuint (m.report.agent_cpu_us, ==, 138131);

  g_assert_true (parse (valid_hello, &m, &error));
  g_assert_cmpint (m.type, ==, AGENT_MSG_HELLO);
  g_assert_cmpstr (m.hello.agent, ==, "ballast-agent 0.1.0");
  g_assert_cmpstr (m.hello.kernel, ==, "6.1.0-56-cloud-amd64");
  g_assert_cmpuint (m.hello.page_size, ==, 4096);
  g_assert_true (m.hello.mglru);
  g_assert_cmpuint (m.hello.interval_ms, ==, 1000);
  g_assert_cmpuint (m.hello.aging_ms, ==, 2000);
  g_assert_true (m.hello.ws_long_is_upper_bound);

  g_assert_true (parse (valid_pressure, &m, &error));
  g_assert_cmpint (m.type, ==, AGENT_MSG_PRESSURE);
  g_assert_cmpuint (m.pressure.seq, ==, 9);
  g_assert_cmpfloat (m.pressure.some_avg10_pct, ==, 17.5);
  g_assert_cmpuint (m.pressure.available_bytes, ==, 1048576);
  g_assert_true (m.pressure.has_uptime);
  g_assert_cmpuint (m.pressure.uptime_ms, ==, 30123);

  /* Optional sections absent or null; meminfo source. */
  const char *minimal = "{\"v\":1,\"type\":\"report\",\"seq\":0,\"uptime_ms\":0,\"psi\":null,"
                        "\"mem\":{\"total\":1,\"free\":0,\"available\":0,\"cached\":0,\"anon\":0,"
                        "\"unevictable\":0,\"swap_free\":0},"
                        "\"ws\":{\"source\":\"meminfo\",\"bins\":[{\"age_ms\":1000,\"anon\":0,"
                        "\"file\":0},{\"age_ms\":null,\"anon\":0,\"file\":0}]}}";
  g_assert_true (parse (minimal, &m, &error));
  g_assert_false (m.report.has_psi);
  g_assert_false (m.report.has_vmstat);
  g_assert_false (m.report.has_agent_cpu);
  g_assert_cmpint (m.report.ws_source, ==, AGENT_WS_SOURCE_MEMINFO);
}

/* Applies @edit to the valid report (or hello/pressure) and expects @code. */
typedef void (*Edit) (json_t *root);

static void
expect (const char *base, Edit edit, AgentProtoError code, const char *what)
{
  json_error_t jerr;
  json_t *root = json_loads (base, 0, &jerr);
  g_assert_nonnull (root);
  edit (root);
  char *text = json_dumps (root, JSON_COMPACT);
  json_decref (root);
  AgentMsg m;
  g_autoptr (GError) error = NULL;
  gboolean ok = parse (text, &m, &error);
  if (ok || !g_error_matches (error, AGENT_PROTO_ERROR, code))
    g_error ("%s: expected error %d, got %s (%s)", what, code, ok ? "success" : "other error",
             error ? error->message : "");
  free (text);
}

static json_t *
mem (json_t *r)
{
  return json_object_get (r, "mem");
}

static json_t *
bin (json_t *r, size_t i)
{
  return json_array_get (json_object_get (json_object_get (r, "ws"), "bins"), i);
}

/* version */
static void
e_v_missing (json_t *r)
{
  json_object_del (r, "v");
}
static void
e_v_two (json_t *r)
{
  json_object_set_new (r, "v", json_integer (2));
}
static void
e_v_zero (json_t *r)
{
  json_object_set_new (r, "v", json_integer (0));
}
static void
e_v_string (json_t *r)
{
  json_object_set_new (r, "v", json_string ("1"));
}
static void
e_v_real (json_t *r)
{
  json_object_set_new (r, "v", json_real (1.0));
}
/* type */
static void
e_type_missing (json_t *r)
{
  json_object_del (r, "type");
}
static void
e_type_number (json_t *r)
{
  json_object_set_new (r, "type", json_integer (1));
}
static void
e_type_unknown (json_t *r)
{
  json_object_set_new (r, "type", json_string ("reboot"));
}
/* fields and their types */
static void
e_seq_missing (json_t *r)
{
  json_object_del (r, "seq");
}
static void
e_seq_string (json_t *r)
{
  json_object_set_new (r, "seq", json_string ("7"));
}
static void
e_seq_negative (json_t *r)
{
  json_object_set_new (r, "seq", json_integer (-1));
}
static void
e_mem_missing (json_t *r)
{
  json_object_del (r, "mem");
}
static void
e_mem_array (json_t *r)
{
  json_object_set_new (r, "mem", json_array ());
}
static void
e_total_missing (json_t *r)
{
  json_object_del (mem (r), "total");
}
static void
e_total_real (json_t *r)
{
  json_object_set_new (mem (r), "total", json_real (4096.0));
}
static void
e_total_bool (json_t *r)
{
  json_object_set_new (mem (r), "total", json_true ());
}
static void
e_psi_array (json_t *r)
{
  json_object_set_new (r, "psi", json_array ());
}
static void
e_psi_string (json_t *r)
{
  json_object_set_new (json_object_get (r, "psi"), "some_avg10", json_string ("1.0"));
}
static void
e_vmstat_missing_counter (json_t *r)
{
  json_object_del (json_object_get (r, "vmstat"), "oom_kill");
}
static void
e_ws_source (json_t *r)
{
  json_object_set_new (json_object_get (r, "ws"), "source", json_string ("magic"));
}
static void
e_bins_object (json_t *r)
{
  json_object_set_new (json_object_get (r, "ws"), "bins", json_object ());
}
static void
e_bin_not_object (json_t *r)
{
  json_array_set_new (json_object_get (json_object_get (r, "ws"), "bins"), 0, json_integer (5));
}
static void
e_bin_age_missing (json_t *r)
{
  json_object_del (bin (r, 0), "age_ms");
}
static void
e_bin_age_string (json_t *r)
{
  json_object_set_new (bin (r, 0), "age_ms", json_string ("1000"));
}
static void
e_bin_anon_missing (json_t *r)
{
  json_object_del (bin (r, 1), "anon");
}
/* numeric sanity */
static void
e_total_above_ram (json_t *r)
{
  json_object_set_new (mem (r), "total", json_integer (RAM + 1));
}
static void
e_free_above_total (json_t *r)
{
  json_object_set_new (mem (r), "free", json_integer (492847105));
}
static void
e_anon_above_total (json_t *r)
{
  json_object_set_new (mem (r), "anon", json_integer (492847105));
}
static void
e_negative_bytes (json_t *r)
{
  json_object_set_new (mem (r), "cached", json_integer (-4096));
}
static void
e_huge_swap (json_t *r)
{
  json_object_set_new (mem (r), "swap_free", json_integer (INT64_MAX));
}
static void
e_pct_above_100 (json_t *r)
{
  json_object_set_new (json_object_get (r, "psi"), "some_avg10", json_real (100.5));
}
static void
e_pct_negative (json_t *r)
{
  json_object_set_new (json_object_get (r, "psi"), "full_avg10", json_integer (-1));
}
static void
e_bin_above_ram (json_t *r)
{
  json_object_set_new (bin (r, 0), "anon", json_integer (RAM + 1));
}
static void
e_bins_sum_above_ram (json_t *r)
{
  json_object_set_new (bin (r, 0), "anon", json_integer (RAM / 2));
  json_object_set_new (bin (r, 1), "anon", json_integer (RAM / 2));
}
static void
e_bins_not_increasing (json_t *r)
{
  json_object_set_new (bin (r, 1), "age_ms", json_integer (1000));
}
static void
e_bin_age_zero (json_t *r)
{
  json_object_set_new (bin (r, 0), "age_ms", json_integer (0));
}
static void
e_bin_age_huge (json_t *r)
{
  json_object_set_new (bin (r, 1), "age_ms", json_integer (AGENT_WIRE_MAX_BIN_MS + 1));
}
static void
e_null_not_last (json_t *r)
{
  json_object_set_new (bin (r, 0), "age_ms", json_null ());
}
static void
e_last_not_null (json_t *r)
{
  json_object_set_new (bin (r, 2), "age_ms", json_integer (9000));
}
static void
e_bins_empty (json_t *r)
{
  json_object_set_new (json_object_get (r, "ws"), "bins", json_array ());
}
static void
e_bins_too_many (json_t *r)
{
  json_t *bins = json_array ();
  for (int i = 0; i < AGENT_WIRE_MAX_BINS; i++)
    json_array_append_new (
        bins, json_pack ("{s:i,s:i,s:i}", "age_ms", 1000 * (i + 1), "anon", 0, "file", 0));
  json_array_append_new (bins, json_pack ("{s:n,s:i,s:i}", "age_ms", "anon", 0, "file", 0));
  json_object_set_new (json_object_get (r, "ws"), "bins", bins);
}
/* hello */
static void
e_page_size_odd (json_t *r)
{
  json_object_set_new (r, "page_size", json_integer (5000));
}
static void
e_page_size_small (json_t *r)
{
  json_object_set_new (r, "page_size", json_integer (2048));
}
static void
e_mglru_int (json_t *r)
{
  json_object_set_new (r, "mglru", json_integer (1));
}
static void
e_kernel_long (json_t *r)
{
  char s[AGENT_PROTO_MAX_KERNEL + 1];
  memset (s, 'k', sizeof s - 1);
  s[sizeof s - 1] = '\0';
  json_object_set_new (r, "kernel", json_string (s));
}
static void
e_agent_control_chars (json_t *r)
{
  json_object_set_new (r, "agent", json_string ("evil\x1b[2J"));
}
static void
e_interval_small (json_t *r)
{
  json_object_set_new (r, "interval_ms", json_integer (1));
}
/* pressure */
static void
e_available_above_ram (json_t *r)
{
  json_object_set_new (r, "available", json_integer (RAM + 1));
}
static void
e_pressure_pct (json_t *r)
{
  json_object_set_new (r, "some_avg10", json_real (1e6));
}

static void
test_version_rules (void)
{
  expect (valid_report, e_v_missing, AGENT_PROTO_ERROR_VERSION, "v missing");
  expect (valid_report, e_v_two, AGENT_PROTO_ERROR_VERSION, "v 2");
  expect (valid_report, e_v_zero, AGENT_PROTO_ERROR_VERSION, "v 0");
  expect (valid_report, e_v_string, AGENT_PROTO_ERROR_VERSION, "v string");
  expect (valid_hello, e_v_real, AGENT_PROTO_ERROR_VERSION, "v real");
  expect (valid_pressure, e_v_two, AGENT_PROTO_ERROR_VERSION, "pressure v 2");
}

static void
test_type_rules (void)
{
  expect (valid_report, e_type_missing, AGENT_PROTO_ERROR_FIELD, "type missing");
  expect (valid_report, e_type_number, AGENT_PROTO_ERROR_FIELD, "type number");
  expect (valid_report, e_type_unknown, AGENT_PROTO_ERROR_UNKNOWN_TYPE, "type unknown");
  expect (valid_report, e_seq_missing, AGENT_PROTO_ERROR_FIELD, "seq missing");
  expect (valid_report, e_seq_string, AGENT_PROTO_ERROR_FIELD, "seq string");
  expect (valid_report, e_mem_missing, AGENT_PROTO_ERROR_FIELD, "mem missing");
  expect (valid_report, e_mem_array, AGENT_PROTO_ERROR_FIELD, "mem array");
  expect (valid_report, e_total_missing, AGENT_PROTO_ERROR_FIELD, "total missing");
  expect (valid_report, e_total_real, AGENT_PROTO_ERROR_FIELD, "total real");
  expect (valid_report, e_total_bool, AGENT_PROTO_ERROR_FIELD, "total bool");
  expect (valid_report, e_psi_array, AGENT_PROTO_ERROR_FIELD, "psi array");
  expect (valid_report, e_psi_string, AGENT_PROTO_ERROR_FIELD, "psi string");
  expect (valid_report, e_vmstat_missing_counter, AGENT_PROTO_ERROR_FIELD, "vmstat counter");
  expect (valid_report, e_ws_source, AGENT_PROTO_ERROR_FIELD, "ws source");
  expect (valid_report, e_bins_object, AGENT_PROTO_ERROR_FIELD, "bins object");
  expect (valid_report, e_bin_not_object, AGENT_PROTO_ERROR_FIELD, "bin not object");
  expect (valid_report, e_bin_age_missing, AGENT_PROTO_ERROR_FIELD, "bin age missing");
  expect (valid_report, e_bin_age_string, AGENT_PROTO_ERROR_FIELD, "bin age string");
  expect (valid_report, e_bin_anon_missing, AGENT_PROTO_ERROR_FIELD, "bin anon missing");
  expect (valid_hello, e_mglru_int, AGENT_PROTO_ERROR_FIELD, "mglru int");
  expect (valid_pressure, e_seq_missing, AGENT_PROTO_ERROR_FIELD, "pressure seq");
}

static void
test_numeric_sanity (void)
{
  expect (valid_report, e_seq_negative, AGENT_PROTO_ERROR_RANGE, "seq negative");
  expect (valid_report, e_total_above_ram, AGENT_PROTO_ERROR_RANGE, "total > RAM");
  expect (valid_report, e_free_above_total, AGENT_PROTO_ERROR_RANGE, "free > total");
  expect (valid_report, e_anon_above_total, AGENT_PROTO_ERROR_RANGE, "anon > total");
  expect (valid_report, e_negative_bytes, AGENT_PROTO_ERROR_RANGE, "negative bytes");
  expect (valid_report, e_huge_swap, AGENT_PROTO_ERROR_RANGE, "swap above ceiling");
  expect (valid_report, e_pct_above_100, AGENT_PROTO_ERROR_RANGE, "pct > 100");
  expect (valid_report, e_pct_negative, AGENT_PROTO_ERROR_RANGE, "pct < 0");
  expect (valid_report, e_bin_above_ram, AGENT_PROTO_ERROR_RANGE, "bin > RAM");
  expect (valid_report, e_bins_sum_above_ram, AGENT_PROTO_ERROR_RANGE, "bins sum > RAM");
  expect (valid_report, e_bins_not_increasing, AGENT_PROTO_ERROR_RANGE, "ages not increasing");
  expect (valid_report, e_bin_age_zero, AGENT_PROTO_ERROR_RANGE, "age 0");
  expect (valid_report, e_bin_age_huge, AGENT_PROTO_ERROR_RANGE, "age > a day");
  expect (valid_report, e_null_not_last, AGENT_PROTO_ERROR_RANGE, "null age first");
  expect (valid_report, e_last_not_null, AGENT_PROTO_ERROR_RANGE, "last age not null");
  expect (valid_report, e_bins_empty, AGENT_PROTO_ERROR_RANGE, "no bins");
  expect (valid_report, e_bins_too_many, AGENT_PROTO_ERROR_RANGE, "too many bins");
  expect (valid_hello, e_page_size_odd, AGENT_PROTO_ERROR_RANGE, "page size 5000");
  expect (valid_hello, e_page_size_small, AGENT_PROTO_ERROR_RANGE, "page size 2048");
  expect (valid_hello, e_kernel_long, AGENT_PROTO_ERROR_RANGE, "kernel too long");
  expect (valid_hello, e_agent_control_chars, AGENT_PROTO_ERROR_RANGE, "control chars");
  expect (valid_hello, e_interval_small, AGENT_PROTO_ERROR_RANGE, "interval 1 ms");
  expect (valid_pressure, e_available_above_ram, AGENT_PROTO_ERROR_RANGE, "available > RAM");
  expect (valid_pressure, e_pressure_pct, AGENT_PROTO_ERROR_RANGE, "pressure pct");

  /* The same report passes with a larger VM, and the ceiling applies when
   * the RAM is unknown. */
  AgentMsg m;
  g_autoptr (GError) error = NULL;
  const AgentProtoLimits unknown = { 0 };
  g_assert_true (
      agent_proto_parse_line (valid_report, strlen (valid_report), &unknown, &m, &error));
  const AgentProtoLimits tiny = { .ram_bytes = 256 * MiB };
  g_assert_false (agent_proto_parse_line (valid_report, strlen (valid_report), &tiny, &m, &error));
  g_assert_error (error, AGENT_PROTO_ERROR, AGENT_PROTO_ERROR_RANGE);
}

static void
test_syntax_rules (void)
{
  static const char *bad[] = {
    "",
    "not json",
    "[1,2]",
    "\"report\"",
    "{\"type\":\"report\",\"v\":1",          /* truncated */
    "{\"type\":\"report\",\"v\":1,\"v\":1}", /* duplicate key */
    "{\"type\":\"report\",\"v\":1} {}",      /* two objects */
    "{\"type\":\"pressure\",\"v\":1,\"seq\":1,\"some_avg10\":1e400,\"available\":0}",
    "{\"type\":\"pressure\",\"v\":1,\"seq\":99999999999999999999,\"some_avg10\":1,\"available\":0}",
    "{\"type\":\"hello\",\"v\":1,\"agent\":\"a\\u0000b\"}", /* NUL in a string */
    "{\"type\":\"hello\",\"v\":1,\"agent\":\"\xff\xfe\"}",  /* invalid UTF-8 */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      AgentMsg m;
      g_autoptr (GError) error = NULL;
      if (parse (bad[i], &m, &error)
          || !g_error_matches (error, AGENT_PROTO_ERROR, AGENT_PROTO_ERROR_SYNTAX))
        g_error ("syntax case %zu accepted or misclassified: %s", i, error ? error->message : "ok");
    }
  /* A raw NUL byte inside the line. */
  char with_nul[] = "{\"type\":\"report\",\"v\":1}";
  with_nul[3] = '\0';
  AgentMsg m;
  g_autoptr (GError) error = NULL;
  g_assert_false (agent_proto_parse_line (with_nul, sizeof with_nul - 1, &limits, &m, &error));
  g_assert_error (error, AGENT_PROTO_ERROR, AGENT_PROTO_ERROR_SYNTAX);

  /* Deep nesting in an ignored field is refused by jansson's depth limit,
   * without crashing. */
  GString *deep = g_string_new ("{\"type\":\"report\",\"v\":1,\"x\":");
  for (int i = 0; i < 5000; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < 5000; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, '}');
  g_clear_error (&error);
  g_assert_false (agent_proto_parse_line (deep->str, deep->len, &limits, &m, &error));
  g_string_free (deep, TRUE);
}

static void
test_unknown_fields_ignored (void)
{
  json_error_t jerr;
  json_t *root = json_loads (valid_report, 0, &jerr);
  json_object_set_new (root, "future", json_pack ("{s:[i,i],s:s}", "a", 1, 2, "b", "c"));
  json_object_set_new (mem (root), "hugepages", json_integer (5));
  json_object_set_new (bin (root, 0), "tier", json_string ("x"));
  json_object_set_new (root, "agent", json_string ("not an object: extension ignored"));
  char *text = json_dumps (root, JSON_COMPACT);
  json_decref (root);
  AgentMsg m;
  g_autoptr (GError) error = NULL;
  g_assert_true (parse (text, &m, &error));
  g_assert_false (m.report.has_agent_cpu);
  g_assert_cmpuint (m.report.bins[0].anon_bytes, ==, 104857600);
  free (text);
}

/* The agent's reclaim extensions (hello's "reclaim", the counters in the
 * report's "agent") pass a parser that does not know them. */
static void
test_reclaim_extensions_ignored (void)
{
  json_error_t jerr;
  AgentMsg m;
  g_autoptr (GError) error = NULL;

  json_t *hello = json_loads (valid_hello, 0, &jerr);
  json_object_set_new (hello, "reclaim", json_true ());
  char *text = json_dumps (hello, JSON_COMPACT);
  json_decref (hello);
  g_assert_true (parse (text, &m, &error));
  g_assert_no_error (error);
  g_assert_cmpint (m.type, ==, AGENT_MSG_HELLO);
  free (text);

  json_t *report = json_loads (valid_report, 0, &jerr);
  json_t *agent = json_object_get (report, "agent");
  json_object_set_new (agent, "reclaims", json_integer (2));
  json_object_set_new (agent, "reclaim_bytes", json_integer (536870912));
  json_object_set_new (agent, "reclaim_refused", json_integer (0));
  json_object_set_new (agent, "reclaim_dropped", json_integer (1));
  json_object_set_new (agent, "reclaim_errors", json_integer (0));
  text = json_dumps (report, JSON_COMPACT);
  json_decref (report);
  g_assert_true (parse (text, &m, &error));
  g_assert_no_error (error);
  g_assert_true (m.report.has_agent_cpu);
  g_assert_cmpuint (m.report.agent_cpu_us, ==, 138131);
  free (text);
}

static void
test_line_length (void)
{
  AgentMsg m;
  g_autoptr (GError) error = NULL;
  /* A valid report padded with spaces to exactly the limit passes... */
  char *line = g_malloc (AGENT_WIRE_MAX_LINE_BYTES + 2);
  memset (line, ' ', AGENT_WIRE_MAX_LINE_BYTES + 1);
  memcpy (line, valid_report, strlen (valid_report));
  g_assert_true (agent_proto_parse_line (line, AGENT_WIRE_MAX_LINE_BYTES, &limits, &m, &error));
  /* ...one byte more does not, before any parsing. */
  g_assert_false (
      agent_proto_parse_line (line, AGENT_WIRE_MAX_LINE_BYTES + 1, &limits, &m, &error));
  g_assert_error (error, AGENT_PROTO_ERROR, AGENT_PROTO_ERROR_TOO_LONG);
  g_free (line);
}

static void
test_rate_limit (void)
{
  RateLimit rl;
  rate_limit_init (&rl, 10 * 60, 5);
  int64_t t = 1000000;
  for (int i = 0; i < 5; i++)
    g_assert_true (rate_limit_allow (&rl, t));
  g_assert_false (rate_limit_allow (&rl, t));
  /* 100 ms at 10/s buys one more. */
  g_assert_false (rate_limit_allow (&rl, t + 50000));
  g_assert_true (rate_limit_allow (&rl, t + 100000));
  g_assert_false (rate_limit_allow (&rl, t + 100000));
  /* A long pause refills only up to the burst. */
  t += 3600LL * G_USEC_PER_SEC * 24;
  int n = 0;
  while (rate_limit_allow (&rl, t))
    n++;
  g_assert_cmpint (n, ==, 5);
  /* Time going backwards grants nothing. */
  g_assert_false (rate_limit_allow (&rl, t - 10 * G_USEC_PER_SEC));
}

static void
count_msg (const AgentMsg *msg, gpointer user_data)
{
  (*(int *) user_data)++;
}

static void
test_link (void)
{
  g_autoptr (AgentLink) link = agent_link_new (RAM);
  AgentLinkCounters k;
  int got = 0;
  int64_t t = 5 * G_USEC_PER_SEC;

  /* A flood of valid reports in one read: only the burst gets through. */
  GString *flood = g_string_new (NULL);
  for (int i = 0; i < 100; i++)
    g_string_append_printf (flood, "%s\n", valid_report);
  agent_link_feed (link, flood->str, flood->len, t, count_msg, &got);
  g_assert_cmpint (got, ==, AGENT_LINK_RATE_BURST);
  agent_link_get_counters (link, &k);
  g_assert_cmpuint (k.accepted, ==, AGENT_LINK_RATE_BURST);
  g_assert_cmpuint (k.rate_limited, ==, 100 - AGENT_LINK_RATE_BURST);
  g_assert_cmpstr (agent_link_get_last_error (link), ==, "message rate above the limit");
  g_string_free (flood, TRUE);

  /* A second later: garbage, an over-long line, an unknown type, then a
   * valid hello — only the hello is delivered. */
  t += G_USEC_PER_SEC;
  got = 0;
  GString *mix = g_string_new ("garbage\n{\"type\":\"x\",\"v\":1}\n");
  for (int i = 0; i < AGENT_WIRE_MAX_LINE_BYTES + 100; i++)
    g_string_append_c (mix, 'z');
  g_string_append_printf (mix, "\n%s\n", valid_hello);
  agent_link_feed (link, mix->str, mix->len, t, count_msg, &got);
  g_assert_cmpint (got, ==, 1);
  agent_link_get_counters (link, &k);
  g_assert_cmpuint (k.too_long, ==, 1);
  g_assert_cmpuint (k.unknown_type, ==, 1);
  g_assert_cmpuint (k.rejected, ==, 100 - AGENT_LINK_RATE_BURST + 3);
  g_string_free (mix, TRUE);

  /* The RAM limit can change (e.g. after QMP told the VM's size). */
  agent_link_set_ram (link, 64 * MiB);
  t += 10 * G_USEC_PER_SEC;
  got = 0;
  agent_link_feed (link, valid_report, strlen (valid_report), t, count_msg, &got);
  agent_link_feed (link, "\n", 1, t, count_msg, &got);
  g_assert_cmpint (got, ==, 0);

  /* Framing (tested in full with the splitter, test-qmp-lines.c): reset
   * drops a partial line, and the link reads on after an over-long line
   * that comes in several reads. */
  agent_link_set_ram (link, RAM);
  t += 10 * G_USEC_PER_SEC;
  agent_link_feed (link, valid_report, 20, t, count_msg, &got);
  agent_link_reset (link);
  agent_link_feed (link, valid_hello, strlen (valid_hello), t, count_msg, &got);
  agent_link_feed (link, "\r\n", 2, t, count_msg, &got);
  g_assert_cmpint (got, ==, 1);
  g_autofree char *zs = g_strnfill (AGENT_WIRE_MAX_LINE_BYTES, 'z');
  agent_link_feed (link, zs, AGENT_WIRE_MAX_LINE_BYTES, t, count_msg, &got);
  agent_link_feed (link, zs, AGENT_WIRE_MAX_LINE_BYTES, t, count_msg, &got);
  g_autofree char *rest = g_strdup_printf ("zz\n%s\n", valid_report);
  agent_link_feed (link, rest, strlen (rest), t, count_msg, &got);
  g_assert_cmpint (got, ==, 2);
  agent_link_get_counters (link, &k);
  g_assert_cmpuint (k.too_long, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent-proto/valid", test_valid_messages);
  g_test_add_func ("/agent-proto/version", test_version_rules);
  g_test_add_func ("/agent-proto/types", test_type_rules);
  g_test_add_func ("/agent-proto/numeric-sanity", test_numeric_sanity);
  g_test_add_func ("/agent-proto/syntax", test_syntax_rules);
  g_test_add_func ("/agent-proto/unknown-fields", test_unknown_fields_ignored);
  g_test_add_func ("/agent-proto/reclaim-extensions", test_reclaim_extensions_ignored);
  g_test_add_func ("/agent-proto/line-length", test_line_length);
  g_test_add_func ("/agent-proto/rate-limit", test_rate_limit);
  g_test_add_func ("/agent-proto/link", test_link);
  return g_test_run ();
}
