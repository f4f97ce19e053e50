/* test-qmp-qemu.c: the QMP library against real paused qemu-system-x86_64
 * processes: negotiation, balloon helpers, events, and a SIGSTOPped QEMU. */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "qmp-balloon.h"
#include "qmp-client.h"
#include "qmp-sync.h"

#define QEMU_BINARY "qemu-system-x86_64"
#define QEMU_MEMORY_BYTES (G_GUINT64_CONSTANT (64) * 1024 * 1024)
/* QEMU under TCG opens its monitor socket well within this. */
#define SOCKET_DEADLINE_MS 15000
/* Any single wait in these tests longer than this is a hang. */
#define HANG_DEADLINE_MS 20000
/* Short command timeout for the stopped QEMU, and the bar for the
 * one that keeps running. */
#define STOPPED_TIMEOUT_MS 1000
#define RUNNING_MAX_LATENCY_MS 1000
#define PROBE_INTERVAL_MS 100

typedef struct
{
  GPid pid;
  char *dir;
  char *socket_path;
} Qemu;

static void
child_setup (gpointer data)
{
  /* If the test process dies on a failed assertion, its QEMUs die too. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
can_connect (const char *path)
{
  g_autoptr (GSocket) socket
      = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (path);
  return socket != NULL && g_socket_connect (socket, address, NULL, NULL);
}

static void
qemu_start (Qemu *q, const char *device)
{
  g_autoptr (GError) error = NULL;

  q->dir = g_dir_make_tmp ("qmp-qemu-XXXXXX", &error);
  g_assert_no_error (error);
  q->socket_path = g_build_filename (q->dir, "qmp.sock", NULL);
  g_autofree char *qmp_arg = g_strdup_printf ("unix:%s,server=on,wait=off", q->socket_path);
  const char *argv[] = { QEMU_BINARY, "-S",  "-m",      "64",   "-display", "none",  "-nodefaults",
                         "-accel",    "tcg", "-device", device, "-qmp",     qmp_arg, NULL };
  g_spawn_async (NULL, (char **) argv, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                 child_setup, NULL, &q->pid, &error);
  g_assert_no_error (error);

  gint64 deadline_us = g_get_monotonic_time () + SOCKET_DEADLINE_MS * 1000;
  while (!can_connect (q->socket_path))
    {
      int status;
      if (waitpid (q->pid, &status, WNOHANG) == q->pid)
        {
          q->pid = 0;
          g_error ("QEMU exited before opening its QMP socket (status %d)", status);
        }
      if (g_get_monotonic_time () > deadline_us)
        g_error ("QEMU did not open %s within %d ms", q->socket_path, SOCKET_DEADLINE_MS);
      g_usleep (20 * 1000);
    }
}

static void
qemu_stop (Qemu *q)
{
  if (q->pid > 0)
    {
      kill (q->pid, SIGCONT);
      kill (q->pid, SIGKILL);
      while (waitpid (q->pid, NULL, 0) < 0 && errno == EINTR)
        ;
      g_spawn_close_pid (q->pid);
      q->pid = 0;
    }
  if (q->socket_path != NULL)
    g_unlink (q->socket_path);
  if (q->dir != NULL)
    g_rmdir (q->dir);
  g_clear_pointer (&q->socket_path, g_free);
  g_clear_pointer (&q->dir, g_free);
}

static gboolean
have_qemu (void)
{
  g_autofree char *path = g_find_program_in_path (QEMU_BINARY);
  if (path == NULL)
    g_test_skip (QEMU_BINARY " is not installed");
  return path != NULL;
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
run_until (gboolean *flag)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (HANG_DEADLINE_MS, on_deadline, &expired);

  while (!*flag && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_false (expired);
}

static void
test_sync_balloon (void)
{
  if (!have_qemu ())
    return;
  Qemu q = { 0 };
  qemu_start (&q, "virtio-balloon-pci");

  g_autoptr (GError) error = NULL;
  g_autoptr (QmpSync) s = qmp_sync_connect (q.socket_path, 5000, &error);
  g_assert_no_error (error);
  json_t *version = json_object_get (qmp_client_get_greeting (qmp_sync_get_client (s)), "version");
  g_assert_nonnull (json_object_get (version, "qemu"));

  g_autofree char *path = qmp_sync_find_balloon_path (s, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (path, "/machine/peripheral-anon/"));
  gboolean deflate_on_oom = TRUE, reporting = TRUE;
  g_assert_true (qmp_sync_balloon_flag (s, path, QMP_BALLOON_DEFLATE_ON_OOM, &deflate_on_oom,
                                        &error));
  g_assert_no_error (error);
  g_assert_false (deflate_on_oom);
  g_assert_true (qmp_sync_balloon_flag (s, path, QMP_BALLOON_FREE_PAGE_REPORTING, &reporting,
                                        &error));
  g_assert_no_error (error);
  g_assert_false (reporting);
  /* A property the balloon does not have is an error, not a flag. */
  g_assert_false (qmp_sync_balloon_flag (s, path, "no-such-flag", &reporting, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_COMMAND);
  g_clear_error (&error);

  guint64 actual_bytes = 0;
  g_assert_true (qmp_sync_query_balloon (s, &actual_bytes, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (actual_bytes, ==, QEMU_MEMORY_BYTES);

  g_assert_true (qmp_sync_set_balloon (s, QEMU_MEMORY_BYTES / 2, &error));
  g_assert_no_error (error);

  g_assert_true (qmp_sync_set_stats_polling (s, path, 1, &error));
  g_assert_no_error (error);
  QmpGuestStats stats;
  memset (&stats, 0xa5, sizeof stats);
  g_assert_true (qmp_sync_guest_stats (s, path, &stats, &error));
  g_assert_no_error (error);
  /* No guest runs: QEMU reads 2^64-1 everywhere and last-update 0. */
  g_assert_cmpint (stats.last_update_s, ==, 0);
  const QmpStatValue *all[]
      = { &stats.swap_in_bytes,   &stats.swap_out_bytes,    &stats.major_faults,
          &stats.minor_faults,    &stats.free_bytes,        &stats.total_bytes,
          &stats.available_bytes, &stats.disk_caches_bytes, &stats.hugetlb_allocs,
          &stats.hugetlb_failures };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    g_assert_false (all[i]->present);

  /* A QMP error reply keeps its class and leaves the connection usable. */
  json_t *ret = qmp_sync_execute (s, "no-such-command", NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, QMP_ERROR, QMP_ERROR_COMMAND);
  g_assert_nonnull (strstr (error->message, "CommandNotFound"));
  g_clear_error (&error);
  ret = qmp_sync_execute (s, "query-status", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_string_value (json_object_get (ret, "status")), ==, "prelaunch");
  json_decref (ret);

  g_clear_pointer (&s, qmp_sync_free);
  qemu_stop (&q);
}

static void
test_balloon_with_id (void)
{
  if (!have_qemu ())
    return;
  Qemu q = { 0 };
  qemu_start (&q, "virtio-balloon-pci,id=mem7,deflate-on-oom=on,free-page-reporting=on");

  g_autoptr (GError) error = NULL;
  g_autoptr (QmpSync) s = qmp_sync_connect (q.socket_path, 5000, &error);
  g_assert_no_error (error);
  g_autofree char *path = qmp_sync_find_balloon_path (s, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, "/machine/peripheral/mem7");
  /* The PCI device answers for its balloon's properties. */
  gboolean deflate_on_oom = FALSE, reporting = FALSE;
  g_assert_true (qmp_sync_balloon_flag (s, path, QMP_BALLOON_DEFLATE_ON_OOM, &deflate_on_oom,
                                        &error));
  g_assert_no_error (error);
  g_assert_true (deflate_on_oom);
  g_assert_true (qmp_sync_balloon_flag (s, path, QMP_BALLOON_FREE_PAGE_REPORTING, &reporting,
                                        &error));
  g_assert_no_error (error);
  g_assert_true (reporting);
  QmpGuestStats stats;
  g_assert_true (qmp_sync_guest_stats (s, path, &stats, &error));
  g_assert_false (stats.free_bytes.present);
  g_clear_pointer (&s, qmp_sync_free);
  qemu_stop (&q);
}

typedef struct
{
  gboolean ready;
  gboolean closed;
  GError *closed_error;
  GPtrArray *events;
  gboolean replied;
  GError *reply_error;
} Conn;

static void
conn_ready (QmpClient *client, gpointer data)
{
  ((Conn *) data)->ready = TRUE;
}

static void
conn_closed (QmpClient *client, const GError *error, gpointer data)
{
  Conn *c = data;
  c->closed = TRUE;
  c->closed_error = error ? g_error_copy (error) : NULL;
}

static void
conn_event (QmpClient *client, const char *event, json_t *data, gint64 ts_us, gpointer user_data)
{
  Conn *c = user_data;
  g_assert_cmpint (ts_us, >, 0);
  g_ptr_array_add (c->events, g_strdup (event));
}

static void
conn_reply (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Conn *c = data;
  c->replied = TRUE;
  g_clear_error (&c->reply_error);
  c->reply_error = error ? g_error_copy (error) : NULL;
}

static QmpClient *
conn_open (Conn *c, const char *path, const QmpClientOptions *options)
{
  QmpClientCallbacks callbacks = { .ready = conn_ready, .closed = conn_closed, .user_data = c };
  g_autoptr (GError) error = NULL;

  c->events = g_ptr_array_new_with_free_func (g_free);
  QmpClient *client = qmp_client_new (options, &callbacks);
  qmp_client_subscribe (client, "*", conn_event, c, NULL);
  g_assert_true (qmp_client_connect (client, path, &error));
  g_assert_no_error (error);
  return client;
}

static void
conn_clear (Conn *c)
{
  g_clear_error (&c->closed_error);
  g_clear_error (&c->reply_error);
  g_clear_pointer (&c->events, g_ptr_array_unref);
}

static gboolean
has_event (Conn *c, const char *name)
{
  for (guint i = 0; i < c->events->len; i++)
    if (g_str_equal (c->events->pdata[i], name))
      return TRUE;
  return FALSE;
}

static void
wait_event (Conn *c, const char *name)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (HANG_DEADLINE_MS, on_deadline, &expired);
  while (!has_event (c, name) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_false (expired);
}

static void
test_events (void)
{
  if (!have_qemu ())
    return;
  Qemu q = { 0 };
  Conn c = { 0 };
  qemu_start (&q, "virtio-balloon-pci");
  QmpClient *client = conn_open (&c, q.socket_path, NULL);
  run_until (&c.ready);
  g_assert_cmpint (qmp_client_get_peer_pid (client), ==, q.pid);

  /* -S starts stopped: "cont" first gives RESUME, then "stop" gives STOP. */
  qmp_client_execute (client, "cont", NULL, conn_reply, &c);
  run_until (&c.replied);
  g_assert_no_error (c.reply_error);
  wait_event (&c, "RESUME");

  c.replied = FALSE;
  qmp_client_execute (client, "stop", NULL, conn_reply, &c);
  run_until (&c.replied);
  g_assert_no_error (c.reply_error);
  wait_event (&c, "STOP");
  g_assert_false (c.closed);

  qmp_client_unref (client);
  conn_clear (&c);
  qemu_stop (&q);
}

typedef struct
{
  QmpClient *client;
  guint answered;
  guint failed;
  guint in_flight;
  gint64 sent_us;
  gint64 max_latency_us;
} Prober;

static void
on_probe_reply (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Prober *p = data;
  gint64 latency_us = g_get_monotonic_time () - p->sent_us;
  p->in_flight--;
  if (error != NULL)
    p->failed++;
  else
    p->answered++;
  p->max_latency_us = MAX (p->max_latency_us, latency_us);
}

/* Asks the running QEMU every PROBE_INTERVAL_MS; one probe at a time so a
 * slow answer shows up as latency, not as a pile-up. */
static gboolean
on_probe_tick (gpointer data)
{
  Prober *p = data;
  if (p->in_flight > 0)
    {
      p->max_latency_us = MAX (p->max_latency_us, g_get_monotonic_time () - p->sent_us);
      return G_SOURCE_CONTINUE;
    }
  p->in_flight++;
  p->sent_us = g_get_monotonic_time ();
  qmp_client_execute (p->client, "query-status", NULL, on_probe_reply, p);
  return G_SOURCE_CONTINUE;
}

static void
test_sigstop (void)
{
  if (!have_qemu ())
    return;
  Qemu stopped = { 0 }, running = { 0 };
  Conn cs = { 0 }, cr = { 0 };
  QmpClientOptions options = { .command_timeout_ms = STOPPED_TIMEOUT_MS, .max_timeouts = 2 };

  qemu_start (&stopped, "virtio-balloon-pci");
  qemu_start (&running, "virtio-balloon-pci");
  QmpClient *cs_client = conn_open (&cs, stopped.socket_path, &options);
  QmpClient *cr_client = conn_open (&cr, running.socket_path, &options);
  run_until (&cs.ready);
  run_until (&cr.ready);

  g_assert_cmpint (kill (stopped.pid, SIGSTOP), ==, 0);
  Prober prober = { .client = cr_client };
  guint tick = g_timeout_add (PROBE_INTERVAL_MS, on_probe_tick, &prober);

  gint64 start_us = g_get_monotonic_time ();
  qmp_client_execute (cs_client, "query-status", NULL, conn_reply, &cs);
  run_until (&cs.replied);
  gint64 first_timeout_ms = (g_get_monotonic_time () - start_us) / 1000;
  g_assert_error (cs.reply_error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_assert_cmpint (first_timeout_ms, >=, STOPPED_TIMEOUT_MS - 10);
  g_assert_false (cs.closed);

  /* The second consecutive timeout closes the connection. */
  cs.replied = FALSE;
  qmp_client_execute (cs_client, "query-status", NULL, conn_reply, &cs);
  run_until (&cs.closed);
  gint64 closed_ms = (g_get_monotonic_time () - start_us) / 1000;
  g_assert_true (cs.replied);
  g_assert_error (cs.reply_error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_assert_error (cs.closed_error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_source_remove (tick);

  /* Meanwhile the other QEMU on the same loop kept answering promptly. */
  g_test_message ("stopped QEMU: first timeout after %" G_GINT64_FORMAT
                  " ms, closed after %" G_GINT64_FORMAT
                  " ms; running QEMU: %u answers, max latency %.3f ms",
                  first_timeout_ms, closed_ms, prober.answered, prober.max_latency_us / 1000.0);
  g_assert_cmpuint (prober.failed, ==, 0);
  g_assert_cmpuint (prober.answered, >=, (guint) (closed_ms / PROBE_INTERVAL_MS) / 2);
  g_assert_cmpint (prober.max_latency_us, <, RUNNING_MAX_LATENCY_MS * 1000);
  g_assert_true (cr.ready && !cr.closed);

  qmp_client_unref (cs_client);
  qmp_client_unref (cr_client);
  conn_clear (&cs);
  conn_clear (&cr);
  qemu_stop (&stopped);
  qemu_stop (&running);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/qmp/qemu/sync-balloon", test_sync_balloon);
  g_test_add_func ("/qmp/qemu/balloon-with-id", test_balloon_with_id);
  g_test_add_func ("/qmp/qemu/events", test_events);
  g_test_add_func ("/qmp/qemu/sigstop", test_sigstop);
  return g_test_run ();
}
