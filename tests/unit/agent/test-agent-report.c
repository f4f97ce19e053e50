/* test-agent-report.c: the agent's messages byte for byte (the host parses
 * them, so their text is the wire contract of docs/guest-agent.md). */
#include <glib.h>
#include <string.h>

#include "agent-report.h"

static const uint64_t edges_ms[] = { 1000, 5000 };

static void
test_hello (void)
{
  char store[1024];
  AgentBuf b;
  AgentHello h = {
    .agent = "ballast-agent 0.1.0",
    .kernel = "6.1.0-\"x\"",
    .page_size = 4096,
    .mglru = true,
    .psi = false,
    .reclaim = true,
    .interval_ms = 1000,
    .edges_ms = edges_ms,
    .n_edges = 2,
    .aging_ms = 2000,
  };
  agent_buf_init (&b, store, sizeof store);
  agent_format_hello (&b, &h);
  g_assert_cmpstr (
      store, ==,
      "{\"type\":\"hello\",\"v\":1,\"agent\":\"ballast-agent 0.1.0\","
      "\"kernel\":\"6.1.0-\\\"x\\\"\",\"page_size\":4096,\"mglru\":true,\"psi\":false,"
      "\"reclaim\":true,\"interval_ms\":1000,\"bins_ms\":[1000,5000],\"aging_ms\":2000,"
      "\"ws_short\":\"generation-spread\",\"ws_long\":\"oldest-generation-min\","
      "\"ws_long_bound\":\"idle-upper\"}");

  /* Without MGLRU the aging and method fields are left out. */
  h.mglru = false;
  h.psi = true;
  h.reclaim = false;
  h.n_edges = 1;
  agent_buf_init (&b, store, sizeof store);
  agent_format_hello (&b, &h);
  g_assert_cmpstr (store, ==,
                   "{\"type\":\"hello\",\"v\":1,\"agent\":\"ballast-agent 0.1.0\","
                   "\"kernel\":\"6.1.0-\\\"x\\\"\",\"page_size\":4096,\"mglru\":false,\"psi\":true,"
                   "\"reclaim\":false,\"interval_ms\":1000,\"bins_ms\":[1000]}");
  g_assert_false (b.overflow);
}

static void
test_report (void)
{
  char store[2048];
  AgentBuf b;
  AgentMeminfo mi = { .total_bytes = 1,
                      .free_bytes = 2,
                      .available_bytes = 3,
                      .cached_bytes = 4,
                      .anon_bytes = 5,
                      .unevictable_bytes = 6,
                      .swap_free_bytes = 7 };
  AgentPsi psi = { .some_avg10_centi = 1234, .full_avg10_centi = 5, .some_total_us = 99 };
  AgentVmstat vs = { .workingset_refault_anon = 10,
                     .workingset_refault_file = 11,
                     .pswpin = 12,
                     .pswpout = 13,
                     .oom_kill = 14 };
  AgentBin bins[] = { { 20, 21 }, { 22, 23 }, { 24, 25 } };
  AgentReclaim rc
      = { .done = 2, .asked_bytes = 536870912, .refused = 3, .dropped = 4, .errors = 5 };
  AgentReport r = {
    .seq = 42,
    .uptime_ms = 45056,
    .mem = &mi,
    .psi = &psi,
    .vmstat = &vs,
    .ws_source = "mglru",
    .edges_ms = edges_ms,
    .n_edges = 2,
    .bins = bins,
    .cpu_us = 375380,
    .dropped = 3,
    .aging_errors = 0,
    .reclaim = &rc,
  };
  agent_buf_init (&b, store, sizeof store);
  agent_format_report (&b, &r);
  g_assert_cmpstr (store, ==,
                   "{\"type\":\"report\",\"v\":1,\"seq\":42,\"uptime_ms\":45056,"
                   "\"mem\":{\"total\":1,\"free\":2,\"available\":3,\"cached\":4,\"anon\":5,"
                   "\"unevictable\":6,\"swap_free\":7},"
                   "\"psi\":{\"some_avg10\":12.34,\"full_avg10\":0.05,\"some_total_us\":99},"
                   "\"vmstat\":{\"workingset_refault_anon\":10,"
                   "\"workingset_refault_file\":11,"
                   "\"pswpin\":12,\"pswpout\":13,\"oom_kill\":14},"
                   "\"ws\":{\"source\":\"mglru\",\"bins\":["
                   "{\"age_ms\":1000,\"anon\":20,\"file\":21},"
                   "{\"age_ms\":5000,\"anon\":22,\"file\":23},"
                   "{\"age_ms\":null,\"anon\":24,\"file\":25}]},"
                   "\"agent\":{\"cpu_us\":375380,\"dropped\":3,\"aging_errors\":0,"
                   "\"reclaims\":2,\"reclaim_bytes\":536870912,\"reclaim_refused\":3,"
                   "\"reclaim_dropped\":4,\"reclaim_errors\":5}}");
  g_assert_false (b.overflow);

  /* No PSI, the two-bin meminfo picture, no reclaim counters. */
  r.psi = NULL;
  r.reclaim = NULL;
  r.ws_source = "meminfo";
  r.n_edges = 1;
  agent_buf_init (&b, store, sizeof store);
  agent_format_report (&b, &r);
  g_assert_cmpstr (store, ==,
                   "{\"type\":\"report\",\"v\":1,\"seq\":42,\"uptime_ms\":45056,"
                   "\"mem\":{\"total\":1,\"free\":2,\"available\":3,\"cached\":4,\"anon\":5,"
                   "\"unevictable\":6,\"swap_free\":7},\"psi\":null,"
                   "\"vmstat\":{\"workingset_refault_anon\":10,"
                   "\"workingset_refault_file\":11,"
                   "\"pswpin\":12,\"pswpout\":13,\"oom_kill\":14},"
                   "\"ws\":{\"source\":\"meminfo\",\"bins\":["
                   "{\"age_ms\":1000,\"anon\":20,\"file\":21},"
                   "{\"age_ms\":null,\"anon\":22,\"file\":23}]},"
                   "\"agent\":{\"cpu_us\":375380,\"dropped\":3,\"aging_errors\":0}}");

  /* A report that does not fit is flagged, never cut short on the wire. */
  agent_buf_init (&b, store, 200);
  agent_format_report (&b, &r);
  g_assert_true (b.overflow);
}

static void
test_pressure (void)
{
  char store[512];
  AgentBuf b;
  AgentPsi psi = { .some_avg10_centi = 7, .some_total_us = 153467 };
  AgentPressure p = { .seq = 43, .uptime_ms = 22748, .psi = &psi, .available_bytes = 5242880 };
  agent_buf_init (&b, store, sizeof store);
  agent_format_pressure (&b, &p);
  g_assert_cmpstr (store, ==,
                   "{\"type\":\"pressure\",\"v\":1,\"seq\":43,\"uptime_ms\":22748,"
                   "\"some_avg10\":0.07,"
                   "\"some_total_us\":153467,\"available\":5242880}");
  g_assert_false (b.overflow);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent/report/hello", test_hello);
  g_test_add_func ("/agent/report/report", test_report);
  g_test_add_func ("/agent/report/pressure", test_pressure);
  return g_test_run ();
}
