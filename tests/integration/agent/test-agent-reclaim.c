/* test-agent-reclaim.c: the host → agent "reclaim" message in a real guest:
 * hello announces memory.reclaim, a guest whose page cache was filled once
 * and left cold gives a clear part of it back when the host asks, and the
 * agent counts what it ran, dropped (too soon) and refused. */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "agent-wire.h"
#include "guest.h"

#define MiB (G_GUINT64_CONSTANT (1) << 20)
#define CACHE_MIB 300
#define RECLAIM_BYTES (256 * MiB)
/* What "a clear amount" of the cache means here. */
#define MIN_DROP_BYTES (100 * MiB)
/* Reports read after the request before giving up on the drop. */
#define AFTER_REPORTS 10

/* The integer @obj.@key (@key at the top when @obj is NULL) of the raw
 * @line; -1 when absent. */
static gint64
raw_int (const char *line, const char *obj, const char *key)
{
  json_error_t jerr;
  json_t *root = json_loads (line, 0, &jerr);
  g_assert_nonnull (root);
  json_t *o = obj ? json_object_get (root, obj) : root;
  json_t *v = o ? json_object_get (o, key) : NULL;
  gint64 r = json_is_integer (v) ? json_integer_value (v) : -1;
  json_decref (root);
  return r;
}

static gboolean
raw_true (const char *line, const char *key)
{
  json_error_t jerr;
  json_t *root = json_loads (line, 0, &jerr);
  g_assert_nonnull (root);
  gboolean r = json_is_true (json_object_get (root, key));
  json_decref (root);
  return r;
}

static void
test_reclaim (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *request = g_strdup_printf ("{\"type\":\"" AGENT_WIRE_MSG_RECLAIM
                                              "\",\"v\":1,\"bytes\":%" G_GUINT64_FORMAT "}",
                                              RECLAIM_BYTES);
  g_autofree char *workload = g_strdup_printf ("cache:%uM", CACHE_MIB);
  if (!test_guest_image_ready ())
    return;
  g_autoptr (TestGuest) g
      = test_guest_start ("reclaim", 512, workload, CACHE_MIB + 16, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (test_guest_connect_agent (g, &error));

  g_autofree AgentMsg *hello = test_guest_next_msg (g, AGENT_MSG_HELLO, 10000);
  g_assert_nonnull (hello);
  g_test_message ("hello: %s", test_guest_raw_hello (g));
  g_assert_true (raw_true (test_guest_raw_hello (g), "reclaim"));

  /* The cache is read once, then left alone. */
  g_autofree char *done = test_guest_wait_console (g, "mode=cache event=read-done", 120000);
  g_assert_nonnull (done);
  gint64 t_done = test_bload_field (done, "t_ms");
  g_autofree AgentMsg *before = NULL;
  while (!before)
    {
      AgentMsg *m = test_guest_next_msg (g, AGENT_MSG_REPORT, 5000);
      g_assert_nonnull (m);
      if ((gint64) m->report.uptime_ms > t_done)
        before = m;
      else
        g_free (m);
    }
  guint64 cached_before = before->report.mem.cached_bytes;
  g_test_message ("before: t=%" G_GUINT64_FORMAT " ms cached %" G_GUINT64_FORMAT
                  " MiB free %" G_GUINT64_FORMAT " MiB",
                  before->report.uptime_ms, cached_before / MiB,
                  before->report.mem.free_bytes / MiB);
  g_assert_cmpuint (cached_before, >=, (CACHE_MIB - 50) * MiB);

  /* The request; the same again at once (inside the 1000 ms gap: dropped);
   * a malformed one (refused). */
  g_assert_true (test_guest_send_agent (g, request, &error));
  g_assert_true (test_guest_send_agent (g, request, &error));
  g_assert_true (
      test_guest_send_agent (g, "{\"type\":\"reclaim\",\"v\":1,\"bytes\":-4096}", &error));

  guint64 cached_after = cached_before;
  gint64 t_after = -1;
  const char *line = NULL;
  for (guint i = 0; i < AFTER_REPORTS && cached_before - cached_after < MIN_DROP_BYTES; i++)
    {
      g_autofree AgentMsg *m = test_guest_next_msg (g, AGENT_MSG_REPORT, 5000);
      g_assert_nonnull (m);
      line = test_guest_raw_report (g);
      gint64 cached = raw_int (line, "mem", "cached");
      g_assert_cmpint (cached, >=, 0);
      cached_after = MIN (cached_after, (guint64) cached);
      t_after = raw_int (line, NULL, "uptime_ms");
    }
  g_test_message ("after: t=%" G_GINT64_FORMAT " ms cached %" G_GUINT64_FORMAT
                  " MiB (fell by %" G_GUINT64_FORMAT " MiB, asked for %" G_GUINT64_FORMAT " MiB)",
                  t_after, cached_after / MiB, (cached_before - cached_after) / MiB,
                  RECLAIM_BYTES / MiB);
  g_autofree char *ran = test_guest_wait_console (g, "ballast-agent: reclaim", 0);
  g_test_message ("agent: %s", ran ? ran : "(no reclaim line on the console)");
  g_assert_cmpuint (cached_before - cached_after, >=, MIN_DROP_BYTES);

  /* The counters of a report sent after all three lines were handled. */
  g_free (test_guest_next_msg (g, AGENT_MSG_REPORT, 5000));
  line = test_guest_raw_report (g);
  g_test_message ("report: %s", strstr (line, "\"agent\":"));
  g_assert_cmpint (raw_int (line, "agent", "reclaims"), ==, 1);
  g_assert_cmpint (raw_int (line, "agent", "reclaim_bytes"), ==, (gint64) RECLAIM_BYTES);
  g_assert_cmpint (raw_int (line, "agent", "reclaim_dropped"), ==, 1);
  g_assert_cmpint (raw_int (line, "agent", "reclaim_refused"), ==, 1);
  g_assert_cmpint (raw_int (line, "agent", "reclaim_errors"), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent/reclaim/page-cache", test_reclaim);
  return g_test_run ();
}
