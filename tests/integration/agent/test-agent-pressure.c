/* test-agent-pressure.c: a guest ballooned down to about its used memory
 * allocates beyond it; the agent's urgent pressure message must arrive within
 * 1 s of the stall starting (guest timestamps), and the guest must survive
 * without an OOM kill (the test deflates on pressure; deflate-on-oom backs
 * it up). */
#include <glib.h>
#include <string.h>

#include "guest.h"
#include "qmp-sync.h"

#define MiB (G_GUINT64_CONSTANT (1) << 20)
#define GUEST_MIB 512
/* Room left above the used memory when ballooning down. */
#define HEADROOM (24 * MiB)
#define SPIKE "spike:256M:20"
#define PRESSURE_LIMIT_MS 1000

static void
test_pressure (void)
{
  g_autoptr (GError) error = NULL;
  if (!test_guest_image_ready ())
    return;
  g_autoptr (TestGuest) g = test_guest_start ("pressure", GUEST_MIB, SPIKE, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (test_guest_connect_agent (g, &error));
  g_autoptr (QmpSync) qmp = qmp_sync_connect (g->qmp_path, 5000, &error);
  g_assert_no_error (error);

  /* Used memory from the agent: total - available. */
  g_autofree AgentMsg *r0 = test_guest_next_msg (g, AGENT_MSG_REPORT, 10000);
  g_assert_nonnull (r0);
  guint64 used = r0->report.mem.total_bytes - r0->report.mem.available_bytes;
  guint64 target = ((GUEST_MIB * MiB - r0->report.mem.total_bytes) + used + HEADROOM);
  target = (target + MiB - 1) & ~(MiB - 1);
  g_test_message ("used %" G_GUINT64_FORMAT " MiB; ballooning to %" G_GUINT64_FORMAT " MiB",
                  used / MiB, target / MiB);
  g_assert_true (qmp_sync_set_balloon (qmp, target, &error));
  g_assert_no_error (error);

  /* The balloon must be inflated before the spike starts. */
  gint64 deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  guint64 actual = 0;
  for (;;)
    {
      g_assert_true (qmp_sync_query_balloon (qmp, &actual, &error));
      if (actual <= target + 4 * MiB)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (200 * 1000);
    }
  g_autofree char *early = test_guest_wait_console (g, "event=spike-start", 0);
  g_assert_null (early);

  /* Baseline: the last report before the spike. */
  g_autofree AgentMsg *base = NULL;
  AgentMsg *m;
  while ((m = test_guest_next_msg (g, 0, 30000)))
    {
      if (m->type == AGENT_MSG_REPORT)
        {
          g_autofree char *started = test_guest_wait_console (g, "event=spike-start", 0);
          if (!started)
            {
              g_free (base);
              base = m;
              continue;
            }
        }
      if (m->type == AGENT_MSG_PRESSURE)
        break;
      g_free (m);
    }
  g_assert_nonnull (m);
  g_autofree AgentMsg *pressure = m;
  g_autofree char *spike = test_guest_wait_console (g, "event=spike-start", 0);
  g_assert_nonnull (spike);
  gint64 t_spike = test_bload_field (spike, "t_ms");
  g_assert_true (pressure->pressure.has_uptime);

  /* Deflate at once, as the daemon would. */
  g_assert_true (qmp_sync_set_balloon (qmp, GUEST_MIB * MiB, &error));
  g_assert_no_error (error);

  gint64 latency = (gint64) pressure->pressure.uptime_ms - t_spike;
  g_test_message ("spike started at %" G_GINT64_FORMAT " ms; pressure at %" G_GUINT64_FORMAT
                  " ms (some_avg10 %.2f %%, available %" G_GUINT64_FORMAT " MiB): %" G_GINT64_FORMAT
                  " ms after the allocation began",
                  t_spike, pressure->pressure.uptime_ms, pressure->pressure.some_avg10_pct,
                  pressure->pressure.available_bytes / MiB, latency);
  if (base && base->report.has_psi && pressure->pressure.has_some_total)
    g_test_message ("stall accumulated since the last report before the spike: %" G_GUINT64_FORMAT
                    " us",
                    pressure->pressure.some_total_us - base->report.some_total_us);
  /* The stall cannot start before the allocation does, so this bounds the
   * latency from the stall's start too. */
  g_assert_cmpint (latency, >=, 0);
  g_assert_cmpint (latency, <=, PRESSURE_LIMIT_MS);

  /* The spike completes and the guest lives on, no OOM kill. */
  g_autofree char *done = test_guest_wait_console (g, "event=spike-done", 60000);
  g_assert_nonnull (done);
  g_autofree AgentMsg *after = NULL;
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while ((m = test_guest_next_msg (g, AGENT_MSG_REPORT, 5000)))
    {
      g_free (after);
      after = m;
      if ((gint64) m->report.uptime_ms > test_bload_field (done, "t_ms") + 1000)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  g_assert_nonnull (after);
  g_assert_true (after->report.has_vmstat);
  g_assert_cmpuint (after->report.oom_kill, ==, 0);
  g_assert_cmpuint (after->report.mem.anon_bytes, >=, 256 * MiB);
  g_autofree char *console = test_guest_console (g);
  g_assert_null (strstr (console, "Out of memory"));
  g_assert_null (strstr (console, "BALLAST-WORKLOAD-EXIT"));
  g_test_message ("%s", done);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent/integration/pressure", test_pressure);
  return g_test_run ();
}
