/* test-agent-boot.c: a tiny guest boots under TCG in < 60 s with the balloon
 * driver live (query-balloon answers, guest-stats present once polling is on),
 * and its agent says hello, reports, takes config, and survives the host end
 * going away and coming back. */
#include <glib.h>
#include <string.h>

#include "guest.h"
#include "qmp-sync.h"

#define BOOT_LIMIT_US (60 * G_USEC_PER_SEC)

static void
test_boot_balloon (void)
{
  g_autoptr (GError) error = NULL;
  if (!test_guest_image_ready ())
    return;

  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (TestGuest) g = test_guest_start ("boot", 512, "idle", 0, "tcg", &error);
  g_assert_no_error (error);

  g_autoptr (QmpSync) qmp = qmp_sync_connect (g->qmp_path, 5000, &error);
  g_assert_no_error (error);
  guint64 actual = 0;
  g_assert_true (qmp_sync_query_balloon (qmp, &actual, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (actual, ==, 512ULL << 20);

  g_assert_true (test_guest_connect_agent (g, &error));
  g_autofree AgentMsg *hello = test_guest_next_msg (g, AGENT_MSG_HELLO, 10000);
  g_assert_nonnull (hello);
  gint64 boot_us = g_get_monotonic_time () - t0;
  g_test_message ("boot under TCG: %.1f s to BALLAST-READY, %.1f s to query-balloon + agent hello",
                  g->boot_us / 1e6, boot_us / 1e6);
  g_assert_cmpint (boot_us, <, BOOT_LIMIT_US);
  g_assert_true (hello->hello.mglru);
  g_assert_true (hello->hello.psi);
  g_assert_cmpuint (hello->hello.page_size, ==, 4096);
  g_assert_true (g_str_has_prefix (hello->hello.agent, "ballast-agent "));

  /* Guest stats through the balloon driver. */
  g_autofree char *path = qmp_sync_find_balloon_path (qmp, &error);
  g_assert_no_error (error);
  g_assert_true (qmp_sync_set_stats_polling (qmp, path, 1, &error));
  g_assert_no_error (error);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  QmpGuestStats st = { 0 };
  for (;;)
    {
      g_assert_true (qmp_sync_guest_stats (qmp, path, &st, &error));
      g_assert_no_error (error);
      if (st.last_update_s != 0 && st.total_bytes.present && st.free_bytes.present)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (250 * 1000);
    }
  g_test_message ("guest-stats: total %" G_GUINT64_FORMAT " MiB, free %" G_GUINT64_FORMAT
                  " MiB, available %s",
                  st.total_bytes.value >> 20, st.free_bytes.value >> 20,
                  st.available_bytes.present ? "present" : "absent");
  g_assert_cmpuint (st.total_bytes.value, <=, 512ULL << 20);
  g_assert_cmpuint (st.total_bytes.value, >, 256ULL << 20);

  /* A report agrees with the balloon driver's view of the guest. */
  g_autofree AgentMsg *rep = test_guest_next_msg (g, AGENT_MSG_REPORT, 5000);
  g_assert_nonnull (rep);
  g_assert_cmpuint (rep->report.mem.total_bytes, ==, st.total_bytes.value);
  g_assert_true (rep->report.has_ws);
  g_assert_cmpint (rep->report.ws_source, ==, AGENT_WS_SOURCE_MGLRU);
  g_assert_cmpuint (rep->report.n_bins, ==, 6);
}

static void
test_agent_link (void)
{
  g_autoptr (GError) error = NULL;
  if (!test_guest_image_ready ())
    return;
  g_autoptr (TestGuest) g = test_guest_start ("link", 256, "idle", 0, NULL, &error);
  g_assert_no_error (error);

  /* Host end absent since boot: the first thing on connecting is hello. */
  g_assert_true (test_guest_connect_agent (g, &error));
  g_autofree AgentMsg *first = test_guest_next_msg (g, 0, 10000);
  g_assert_nonnull (first);
  g_assert_cmpint (first->type, ==, AGENT_MSG_HELLO);
  g_autofree AgentMsg *r1 = test_guest_next_msg (g, AGENT_MSG_REPORT, 5000);
  g_assert_nonnull (r1);

  /* Config: reports every 500 ms, then back to 1 s. */
  g_assert_true (
      test_guest_send_agent (g, "{\"type\":\"config\",\"v\":1,\"interval_ms\":500}", &error));
  g_autofree AgentMsg *a = NULL;
  g_autofree AgentMsg *b = NULL;
  /* Skip the report that may already be on its way at the old pace. */
  g_free (test_guest_next_msg (g, AGENT_MSG_REPORT, 3000));
  a = test_guest_next_msg (g, AGENT_MSG_REPORT, 3000);
  b = test_guest_next_msg (g, AGENT_MSG_REPORT, 3000);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  guint64 gap = b->report.uptime_ms - a->report.uptime_ms;
  g_test_message ("report gap after config interval_ms=500: %" G_GUINT64_FORMAT " ms", gap);
  g_assert_cmpuint (gap, >=, 400);
  g_assert_cmpuint (gap, <=, 700);
  /* Hostile host lines are refused without harm. */
  g_assert_true (
      test_guest_send_agent (g, "{\"type\":\"config\",\"v\":1,\"interval_ms\":1}", &error));
  g_assert_true (test_guest_send_agent (g, "garbage", &error));
  g_assert_true (
      test_guest_send_agent (g, "{\"type\":\"config\",\"v\":1,\"interval_ms\":1000}", &error));

  /* Host end gone for 5 s: no crash, no busy loop (agent CPU), and on
   * reconnect a fresh hello and reports resume. */
  g_autofree AgentMsg *before = test_guest_next_msg (g, AGENT_MSG_REPORT, 3000);
  g_assert_nonnull (before);
  g_assert_true (before->report.has_agent_cpu);
  test_guest_disconnect_agent (g);
  g_usleep (5 * G_USEC_PER_SEC);
  g_assert_true (test_guest_connect_agent (g, &error));
  g_autofree AgentMsg *again = test_guest_next_msg (g, 0, 10000);
  g_assert_nonnull (again);
  g_assert_cmpint (again->type, ==, AGENT_MSG_HELLO);
  g_autofree AgentMsg *after = test_guest_next_msg (g, AGENT_MSG_REPORT, 5000);
  g_assert_nonnull (after);
  g_assert_cmpuint (after->report.seq, >, before->report.seq);
  guint64 cpu_us = after->report.agent_cpu_us - before->report.agent_cpu_us;
  guint64 wall_ms = after->report.uptime_ms - before->report.uptime_ms;
  g_test_message ("agent while host absent: %" G_GUINT64_FORMAT " us CPU over %" G_GUINT64_FORMAT
                  " ms",
                  cpu_us, wall_ms);
  g_assert_cmpuint (wall_ms, >=, 5000);
  /* A busy loop would burn most of the wall time. */
  g_assert_cmpuint (cpu_us, <, wall_ms * 1000 / 50);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent/integration/boot-balloon", test_boot_balloon);
  g_test_add_func ("/agent/integration/link", test_agent_link);
  return g_test_run ();
}
