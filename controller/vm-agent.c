/* vm-agent.c: the agent socket of one VM: async connect, reads when the main
 * loop's epoll set finds it readable, reconnects with backoff, hostile input
 * counted and logged sparingly. */
#define G_LOG_DOMAIN "ballast-vm"

#include "vm-agent.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent-wire.h"

#include "qmp-backoff.h"
#include "qmp-loop.h"

/* Reconnect: quick first retry (a QEMU restarting on the same path), then
 * back off to a few seconds so a VM without an agent costs nothing. */
#define AGENT_BACKOFF_INITIAL_MS 200
#define AGENT_BACKOFF_MAX_MS 5000
/* Nothing at the socket's path: QEMU makes its chardev sockets before its
 * monitor answers, and the VM's QMP link coming up restarts this link, so
 * an absent socket stays absent until a channel is hot-plugged. Those
 * retries back off to a minute: 1,000 VMs without an agent cost 17
 * access(2) a second, not 200. */
#define AGENT_ABSENT_MAX_MS (60 * 1000)
/* A hostile or broken agent can make many bad lines; log one per minute. */
#define AGENT_ERROR_LOG_INTERVAL_US (60 * G_USEC_PER_SEC)
/* A drop in the guest's available memory this large between two reports
 * is a demand spike worth an immediate decision. */
#define AGENT_DEMAND_JUMP_BYTES (32 * 1024 * 1024)
/* Over the message rate, reading pauses this long: the socket buffer fills
 * and the guest's writes block, so a flood costs the host nothing more. */
#define AGENT_THROTTLE_MS 500
/* An agent reports every second or two in a few KiB; this much without one
 * valid message is a flood, not an agent (libvirt gives up on a guest agent
 * after 10 MiB without a reply). */
#define AGENT_FLOOD_BYTES (1024 * 1024)
/* A flooding guest is disconnected and not heard again for this long. */
#define AGENT_FLOOD_BACKOFF_MS (60 * 1000)

/* A connection's token: an async connect holds it, not the VmAgent, so a
 * completion queued when the link stopped finds token->agent NULL and
 * touches nothing; a read holds it too, so the chunk outlives a link stopped
 * by the messages it carried. A VM without an agent has none. */
typedef struct
{
  VmAgent *agent;
  guint refs;
  guint8 chunk[4096];
} AgentToken;

struct _VmAgent
{
  const char *vm_name;
  char *path;
  VmAgentUrgentFunc urgent;
  VmAgentMayLogFunc may_log;
  gpointer user_data;
  VmAgentPeerFunc expected_pid;
  gpointer expected_pid_data;
  AgentLink *link;
  GSocketConnection *conn;
  GCancellable *cancel;
  AgentToken *token;
  QmpWatch *watch; /* while reading: not while throttled */
  QmpRetry retry;
  QmpBackoff absent; /* the retry's delays while nothing is at the path */
  QmpTimer throttle;
  guint64 bytes_since_valid;
  gint64 error_logged_mono_us;
  VmAgentData data;
};

static void agent_connect (gpointer data);
static void agent_throttle_done (gpointer data);

static AgentToken *
token_ref (AgentToken *t)
{
  t->refs++;
  return t;
}

static void
token_unref (AgentToken *t)
{
  if (--t->refs == 0)
    g_free (t);
}

VmAgent *
vm_agent_new (const char *vm_name, guint64 ram_bytes, VmAgentUrgentFunc urgent,
              VmAgentMayLogFunc may_log, gpointer user_data)
{
  VmAgent *a = g_new0 (VmAgent, 1);
  a->vm_name = vm_name;
  a->urgent = urgent;
  a->may_log = may_log;
  a->user_data = user_data;
  a->link = agent_link_new (ram_bytes);
  qmp_retry_init (&a->retry, AGENT_BACKOFF_INITIAL_MS, AGENT_BACKOFF_MAX_MS, agent_connect, a);
  qmp_backoff_init (&a->absent, AGENT_BACKOFF_INITIAL_MS, AGENT_ABSENT_MAX_MS);
  qmp_timer_init (&a->throttle, NULL, agent_throttle_done, a);
  return a;
}

static void
agent_stop (VmAgent *a)
{
  qmp_retry_cancel (&a->retry);
  qmp_timer_cancel (&a->throttle);
  a->bytes_since_valid = 0;
  /* The next agent on this socket (after a guest reboot, say) may not take
   * reclaim requests: it says so in its own hello. */
  a->data.hello.reclaim = FALSE;
  if (a->token)
    {
      a->token->agent = NULL;
      g_clear_pointer (&a->token, token_unref);
    }
  if (a->cancel)
    g_cancellable_cancel (a->cancel);
  g_clear_object (&a->cancel);
  g_clear_pointer (&a->watch, qmp_watch_remove);
  if (a->conn)
    g_io_stream_close (G_IO_STREAM (a->conn), NULL, NULL);
  g_clear_object (&a->conn);
}

void
vm_agent_free (VmAgent *a)
{
  if (a == NULL)
    return;
  agent_stop (a);
  agent_link_free (a->link);
  g_free (a->path);
  g_free (a);
}

void
vm_agent_set_ram (VmAgent *a, guint64 ram_bytes)
{
  agent_link_set_ram (a->link, ram_bytes);
}

const VmAgentData *
vm_agent_get_data (const VmAgent *a)
{
  return &a->data;
}

static gboolean
agent_may_log (VmAgent *a)
{
  return a->may_log == NULL || a->may_log (a->user_data);
}

static void
agent_retry_later (VmAgent *a)
{
  agent_stop (a);
  if (a->path != NULL)
    qmp_retry_schedule (&a->retry);
}

static gboolean
demand_jumped (const VmAgentData *d, const AgentReport *r)
{
  guint64 before = d->report.mem.available_bytes;
  return d->report_seen && before > r->mem.available_bytes
         && before - r->mem.available_bytes >= AGENT_DEMAND_JUMP_BYTES;
}

static void
agent_on_hello (VmAgent *a, const AgentHello *h)
{
  /* A guest may repeat hello at the agent's rate limit: log changes only. */
  VmAgentData *d = &a->data;
  gboolean changed = !d->hello_seen || strcmp (d->hello.agent, h->agent) != 0
                     || strcmp (d->hello.kernel, h->kernel) != 0 || d->hello.mglru != h->mglru;
  d->hello_seen = TRUE;
  d->hello = *h;
  if (changed && agent_may_log (a))
    g_message ("%s: agent %s, kernel %s, mglru %s", a->vm_name, h->agent, h->kernel,
               h->mglru ? "yes" : "no");
}

static void
agent_on_msg (const AgentMsg *msg, gpointer data)
{
  VmAgent *a = data;
  VmAgentData *d = &a->data;
  switch (msg->type)
    {
      case AGENT_MSG_HELLO:
        agent_on_hello (a, &msg->hello);
        break;
      case AGENT_MSG_REPORT:
        {
          gboolean jump = demand_jumped (d, &msg->report);
          d->report_seen = TRUE;
          d->report = msg->report;
          d->report_mono_us = g_get_monotonic_time ();
          d->report_real_ms = g_get_real_time () / 1000;
          /* New demand is acted on when it is seen, not at the next tick. */
          if (jump)
            a->urgent (FALSE, a->user_data);
          break;
        }
      case AGENT_MSG_PRESSURE:
        d->pressure_count++;
        d->pressure_real_ms = g_get_real_time () / 1000;
        a->urgent (TRUE, a->user_data);
        break;
    }
}

static void agent_read (VmAgent *a);

gboolean
vm_agent_send_reclaim (VmAgent *a, guint64 bytes)
{
  if (a->conn == NULL || !a->data.hello_seen || !a->data.hello.reclaim || bytes == 0)
    return FALSE;
  json_t *msg = json_pack ("{s:s,s:i,s:I}", "type", AGENT_WIRE_MSG_RECLAIM, "v", AGENT_WIRE_VERSION,
                           "bytes", (json_int_t) MIN (bytes, AGENT_WIRE_RECLAIM_MAX_BYTES));
  char *text = msg ? json_dumps (msg, JSON_COMPACT) : NULL;
  json_decref (msg);
  if (text == NULL)
    return FALSE;
  g_autofree char *line = g_strconcat (text, "\n", NULL);
  free (text);
  gsize len = strlen (line);
  GSocket *sock = g_socket_connection_get_socket (a->conn);
  gssize n = g_socket_send_with_blocking (sock, line, len, FALSE, NULL, NULL);
  if (n == (gssize) len)
    {
      a->data.reclaim_requests++;
      a->data.reclaim_bytes += MIN (bytes, AGENT_WIRE_RECLAIM_MAX_BYTES);
      return TRUE;
    }
  if (n > 0)
    {
      /* Half a line would corrupt the next one: start the link over. */
      agent_stop (a);
      agent_retry_later (a);
    }
  return FALSE;
}

static void
agent_throttle_done (gpointer data)
{
  VmAgent *a = data;
  if (a->conn != NULL)
    agent_read (a);
}

static void
agent_log_rejects (VmAgent *a, const AgentLinkCounters *after, gint64 now_us)
{
  if (now_us - a->error_logged_mono_us <= AGENT_ERROR_LOG_INTERVAL_US || !agent_may_log (a))
    return;
  g_message ("%s: agent sent invalid input (%" G_GUINT64_FORMAT " rejected so far): %s", a->vm_name,
             after->rejected, agent_link_get_last_error (a->link));
  a->error_logged_mono_us = now_us;
}

static void
agent_on_read (VmAgent *a, const guint8 *chunk, gssize n)
{
  if (n <= 0)
    {
      g_debug ("%s: agent link closed", a->vm_name);
      agent_retry_later (a);
      return;
    }
  gint64 now_us = g_get_monotonic_time ();
  AgentLinkCounters before, after;
  agent_link_get_counters (a->link, &before);
  agent_link_feed (a->link, (const char *) chunk, n, now_us, agent_on_msg, a);
  agent_link_get_counters (a->link, &after);
  if (after.rejected > before.rejected)
    agent_log_rejects (a, &after, now_us);
  a->bytes_since_valid = after.accepted > before.accepted ? 0 : a->bytes_since_valid + (guint64) n;
  if (a->bytes_since_valid > AGENT_FLOOD_BYTES)
    {
      g_message ("%s: agent sent %d KiB without a valid message; disconnected for %d s", a->vm_name,
                 AGENT_FLOOD_BYTES / 1024, AGENT_FLOOD_BACKOFF_MS / 1000);
      agent_stop (a);
      qmp_retry_schedule_in (&a->retry, AGENT_FLOOD_BACKOFF_MS);
      return;
    }
  if (a->conn == NULL)
    return;
  if (after.rate_limited > before.rate_limited)
    {
      g_clear_pointer (&a->watch, qmp_watch_remove);
      qmp_timer_arm_in (&a->throttle, AGENT_THROTTLE_MS);
    }
}

static void
agent_on_readable (int fd, GIOCondition condition, gpointer data)
{
  VmAgent *a = data;
  g_autoptr (GError) error = NULL;
  GSocket *sock = g_socket_connection_get_socket (a->conn);
  AgentToken *t = token_ref (a->token);
  gssize n = g_socket_receive_with_blocking (sock, (gchar *) t->chunk, sizeof t->chunk, FALSE, NULL,
                                             &error);
  if (n >= 0 || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    agent_on_read (a, t->chunk, n);
  token_unref (t);
}

static void
agent_read (VmAgent *a)
{
  g_autoptr (GError) error = NULL;
  GSocket *sock = g_socket_connection_get_socket (a->conn);
  a->watch = qmp_watch_add (g_main_context_get_thread_default (), g_socket_get_fd (sock), G_IO_IN,
                            agent_on_readable, a, &error);
  if (a->watch == NULL)
    {
      g_warning ("%s: agent socket: %s", a->vm_name, error->message);
      agent_retry_later (a);
    }
}

void
vm_agent_set_expected_peer (VmAgent *a, VmAgentPeerFunc expected_pid, gpointer user_data)
{
  a->expected_pid = expected_pid;
  a->expected_pid_data = user_data;
}

/* Whether the peer of `conn` may speak for this VM; says why not (once a
 * minute, a planted socket is an attack worth seeing, not a flood). */
static gboolean
agent_peer_ok (VmAgent *a, GSocketConnection *conn)
{
  if (a->expected_pid == NULL)
    return TRUE;
  int want = a->expected_pid (a->expected_pid_data);
  if (want < 0)
    return TRUE;
  if (want == 0)
    {
      /* The QMP link learns the PID in a few ms; the retry comes after it. */
      g_debug ("%s: agent socket: QEMU's PID not known yet", a->vm_name);
      return FALSE;
    }
  g_autoptr (GCredentials) cred
      = g_socket_get_credentials (g_socket_connection_get_socket (conn), NULL);
  pid_t got = cred ? g_credentials_get_unix_pid (cred, NULL) : -1;
  if (got == want)
    return TRUE;
  gint64 now_us = g_get_monotonic_time ();
  if (now_us - a->error_logged_mono_us > AGENT_ERROR_LOG_INTERVAL_US)
    {
      g_warning ("%s: agent socket %s is served by PID %d, not by its QEMU (PID %d); ignored",
                 a->vm_name, a->path, (int) got, want);
      a->error_logged_mono_us = now_us;
    }
  return FALSE;
}

static void
agent_connected (GObject *src, GAsyncResult *res, gpointer data)
{
  AgentToken *t = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (src), res, &error);
  VmAgent *a = t->agent;
  token_unref (t);
  if (a == NULL)
    {
      g_clear_object (&conn);
      return;
    }
  if (conn == NULL)
    {
      g_debug ("%s: agent socket: %s", a->vm_name, error->message);
      agent_retry_later (a);
      return;
    }
  a->conn = conn;
  if (!agent_peer_ok (a, conn))
    {
      agent_retry_later (a);
      return;
    }
  qmp_retry_reset (&a->retry);
  qmp_backoff_reset (&a->absent);
  agent_link_reset (a->link);
  agent_read (a);
}

static void
agent_connect (gpointer data)
{
  VmAgent *a = data;
  agent_stop (a);
  if (a->path == NULL)
    return;
  /* Most VMs without an agent have no socket at all: one access(2) instead
   * of a socket, an async connect and its main-loop sources per retry. */
  if (!g_file_test (a->path, G_FILE_TEST_EXISTS))
    {
      g_debug ("%s: agent socket %s: not there", a->vm_name, a->path);
      qmp_retry_schedule_in (&a->retry, qmp_backoff_next_ms (&a->absent));
      return;
    }
  a->cancel = g_cancellable_new ();
  a->token = g_new0 (AgentToken, 1);
  a->token->agent = a;
  a->token->refs = 1;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (a->path);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (addr), a->cancel, agent_connected,
                                 token_ref (a->token));
}

void
vm_agent_connect_to (VmAgent *a, const char *path)
{
  if (path != a->path)
    {
      g_free (a->path);
      a->path = g_strdup (path);
    }
  qmp_retry_reset (&a->retry);
  qmp_backoff_reset (&a->absent);
  agent_connect (a);
}
