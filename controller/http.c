/* http.c: the HTTP server: our own listener (so connections can be counted,
 * capped and timed out) handing sockets to libsoup, GET-only routes, and the
 * Server-Sent Events stream fed by the control socket's events. */
#define G_LOG_DOMAIN "ballast"

#include "http.h"

#include "ballast-config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "ballast-dashboard.h"
#include "config.h"
#include "metrics.h"

/* Connections are accepted here, not by libsoup, so they can be counted,
 * capped and timed out; libsoup keeps such connections open only while it
 * has listeners of its own, so every answer says "Connection: close". */

/* A dashboard or two, Prometheus, a reverse proxy and a burst of curl:
 * well under this; beyond it a connection is closed at once. */
#define HTTP_MAX_CLIENTS 100
/* Event streams are long-lived; a handful per host is plenty. */
#define HTTP_MAX_STREAMS 16
/* A request (headers included) must arrive whole within this. */
#define HTTP_REQUEST_TIMEOUT_S 10
/* A read or write that makes no progress for this long ends the connection
 * (a client that stops reading cannot pin a response in memory). */
#define HTTP_IO_TIMEOUT_S 10
/* Event bytes queued for a client that does not read them: past this the
 * stream is dropped rather than buffered without bound. */
#define HTTP_STREAM_MAX_QUEUED_BYTES (4 * 1024 * 1024)
/* Requests carry no body; headers past this are refused. */
#define HTTP_MAX_HEADER_BYTES (16 * 1024)
/* The dashboard asks for at most this many decisions. */
#define HTTP_MAX_DECISIONS 512
/* The snapshot the streams get between events: the page's tick. */
#define HTTP_SNAPSHOT_MIN_MS 250
#define HTTP_SNAPSHOT_MAX_MS 5000

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

typedef struct _HttpConn HttpConn;

struct _HttpServer
{
  SoupServer *soup;
  GSocketService *service;
  char *listen;
  const CtlCommand *commands;
  gsize n_commands;
  gpointer user_data;
  GHashTable *conns;  /* GSocket* -> HttpConn* */
  GPtrArray *streams; /* HttpStream* */
  guint snapshot_id;
  MetricsCounters *counters;
  gboolean full_logged;
};

struct _HttpConn
{
  HttpServer *server;
  GSocket *sock;
  guint deadline_id;
};

typedef struct
{
  HttpServer *server;
  SoupServerMessage *msg;
  gsize queued_bytes;
  gboolean gone;
} HttpStream;

/* ---- connections ------------------------------------------------------------ */

static gboolean
http_conn_expire (gpointer data)
{
  HttpConn *c = data;
  c->deadline_id = 0;
  /* libsoup sees EOF and closes the connection itself. */
  g_socket_shutdown (c->sock, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
http_conn_arm (HttpConn *c)
{
  g_clear_handle_id (&c->deadline_id, g_source_remove);
  c->deadline_id = g_timeout_add_seconds (HTTP_REQUEST_TIMEOUT_S, http_conn_expire, c);
}

/* The connection object is gone: libsoup is done with the socket. */
static void
http_conn_gone (gpointer data, GObject *where)
{
  HttpConn *c = data;
  g_clear_handle_id (&c->deadline_id, g_source_remove);
  if (c->server != NULL)
    g_hash_table_remove (c->server->conns, c->sock);
  g_object_unref (c->sock);
  g_free (c);
}

static HttpConn *
http_conn_of (HttpServer *s, SoupServerMessage *msg)
{
  GSocket *sock = soup_server_message_get_socket (msg);
  return sock ? g_hash_table_lookup (s->conns, sock) : NULL;
}

static gboolean
http_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  HttpServer *s = data;
  if (g_hash_table_size (s->conns) >= HTTP_MAX_CLIENTS)
    {
      if (!s->full_logged)
        g_warning ("http: %d clients connected; refusing more", HTTP_MAX_CLIENTS);
      s->full_logged = TRUE;
      return TRUE; /* dropping our reference closes it */
    }
  s->full_logged = FALSE;
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_socket_set_timeout (sock, HTTP_IO_TIMEOUT_S);
  HttpConn *c = g_new0 (HttpConn, 1);
  c->server = s;
  c->sock = g_object_ref (sock);
  g_hash_table_insert (s->conns, sock, c);
  g_object_weak_ref (G_OBJECT (conn), http_conn_gone, c);
  http_conn_arm (c);
  g_autoptr (GSocketAddress) local = g_socket_connection_get_local_address (conn, NULL);
  g_autoptr (GSocketAddress) remote = g_socket_connection_get_remote_address (conn, NULL);
  g_autoptr (GError) error = NULL;
  if (!soup_server_accept_iostream (s->soup, G_IO_STREAM (conn), local, remote, &error))
    g_debug ("http: %s", error->message);
  return TRUE;
}

static void
http_request_read (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  HttpConn *c = http_conn_of (data, msg);
  if (c != NULL)
    g_clear_handle_id (&c->deadline_id, g_source_remove);
}

/* ---- replies ------------------------------------------------------------------ */

static void
http_reply (SoupServerMessage *msg, guint status, const char *type, char *body, gsize len)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_replace (h, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (h, "Connection", "close");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, type, SOUP_MEMORY_TAKE, body, len);
}

static void
http_reply_text (SoupServerMessage *msg, guint status, const char *text)
{
  char *body = g_strconcat (text, "\n", NULL);
  http_reply (msg, status, "text/plain; charset=utf-8", body, strlen (body));
}

static void
http_reply_json (SoupServerMessage *msg, guint status, json_t *value)
{
  char *body = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
  /* json_dumps allocates with malloc; libsoup frees with g_free (the same
   * allocator since GLib 2.46). */
  http_reply (msg, status, "application/json", body, strlen (body));
}

/* Runs a control command as a client on the socket would, so the API's JSON
 * is the socket's JSON. Returns the "return" value or NULL with an error. */
static json_t *
http_query (HttpServer *s, const char *command, json_t *args, GError **error)
{
  g_autoptr (json_t) req = json_pack ("{s:s}", "execute", command);
  if (args != NULL)
    json_object_set (req, "arguments", args);
  g_autofree char *line = json_dumps (req, JSON_COMPACT);
  gboolean negotiated = TRUE, hang_up = FALSE;
  g_autoptr (json_t) reply = ctl_dispatch (s->commands, s->n_commands, s->user_data, &negotiated,
                                           line, strlen (line), &hang_up);
  json_t *ret = json_object_get (reply, "return");
  if (ret != NULL)
    return json_incref (ret);
  json_t *err = json_object_get (reply, "error");
  const char *cls = json_string_value (json_object_get (err, "class"));
  g_set_error (error, CTL_ERROR,
               g_strcmp0 (cls, "DeviceNotFound") == 0 ? CTL_ERROR_NOT_FOUND : CTL_ERROR_GENERIC,
               "%s", json_string_value (json_object_get (err, "desc")) ?: "failed");
  return NULL;
}

/* query-vm of every listed VM (the details: histogram, PSS, agent). */
static json_t *
http_query_vm_details (HttpServer *s)
{
  json_t *out = json_array ();
  g_autoptr (json_t) vms = http_query (s, "query-vms", NULL, NULL);
  size_t i;
  json_t *vm;
  json_array_foreach (vms, i, vm)
  {
    g_autoptr (json_t) args = json_pack ("{s:O}", "name", json_object_get (vm, "name"));
    json_t *detail = http_query (s, "query-vm", args, NULL);
    if (detail != NULL)
      json_array_append_new (out, detail);
  }
  return out;
}

static void
http_metrics (HttpServer *s, SoupServerMessage *msg)
{
  g_autoptr (json_t) status = http_query (s, "query-status", NULL, NULL);
  g_autoptr (json_t) host = http_query (s, "query-host", NULL, NULL);
  g_autoptr (json_t) ksm = http_query (s, "query-ksm", NULL, NULL);
  g_autoptr (json_t) counters = http_query (s, "query-metrics", NULL, NULL);
  g_autoptr (json_t) vms = http_query_vm_details (s);
  MetricsSnapshot snap;
  metrics_snapshot_from_json (&snap, status, host, ksm, counters, vms);
  snap.http_clients = g_hash_table_size (s->conns);
  GString *out = g_string_sized_new (16 * 1024);
  metrics_render (&snap, s->counters, out);
  metrics_snapshot_clear (&snap);
  gsize len = out->len;
  http_reply (msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
              g_string_free (out, FALSE), len);
}

static void
http_dashboard (SoupServerMessage *msg)
{
  g_autoptr (GBytes) page = g_resource_lookup_data (ballast_dashboard_get_resource (),
                                                    "/org/ballast/dashboard/index.html",
                                                    G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (page == NULL)
    {
      http_reply_text (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "dashboard missing from the build");
      return;
    }
  gsize len = 0;
  const char *data = g_bytes_get_data (page, &len);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  /* Everything is inline; nothing may load from elsewhere. */
  soup_message_headers_replace (h, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; "
                                "style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
  http_reply (msg, SOUP_STATUS_OK, "text/html; charset=utf-8", g_memdup2 (data, len), len);
}

/* /api/v1/decisions?limit=N */
static json_t *
http_decisions_args (GHashTable *query, GError **error)
{
  const char *limit = query ? g_hash_table_lookup (query, "limit") : NULL;
  if (limit == NULL)
    return NULL;
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned (limit, 10, 1, HTTP_MAX_DECISIONS, &n, NULL))
    {
      g_set_error (error, CTL_ERROR, CTL_ERROR_GENERIC, "limit: expected 1 to %d",
                   HTTP_MAX_DECISIONS);
      return NULL;
    }
  return json_pack ("{s:I}", "limit", (json_int_t) n);
}

static void
http_api (HttpServer *s, SoupServerMessage *msg, const char *what, GHashTable *query)
{
  static const struct
  {
    const char *path;
    const char *command;
  } routes[] = {
    { "status", "query-status" },       { "vms", "query-vms" },   { "ksm", "query-ksm" },
    { "decisions", "query-decisions" }, { "host", "query-host" },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (json_t) args = NULL;
  const char *command = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (routes); i++)
    if (g_str_equal (what, routes[i].path))
      command = routes[i].command;
  if (command == NULL && g_str_has_prefix (what, "vms/") && what[4] != '\0')
    {
      command = "query-vm";
      args = json_pack ("{s:s}", "name", what + 4);
    }
  else if (command != NULL && g_str_equal (what, "decisions"))
    args = http_decisions_args (query, &error);
  if (command == NULL)
    {
      http_reply_text (msg, SOUP_STATUS_NOT_FOUND, "not found");
      return;
    }
  g_autoptr (json_t) value = error ? NULL : http_query (s, command, args, &error);
  if (value != NULL)
    {
      http_reply_json (msg, SOUP_STATUS_OK, value);
      return;
    }
  g_autoptr (json_t) e = json_pack ("{s:s}", "error", error->message);
  http_reply_json (msg,
                   g_error_matches (error, CTL_ERROR, CTL_ERROR_NOT_FOUND)
                       ? SOUP_STATUS_NOT_FOUND
                       : SOUP_STATUS_BAD_REQUEST,
                   e);
}

/* ---- event streams ------------------------------------------------------------- */

static void
http_stream_drop (HttpStream *st)
{
  if (st->gone)
    return;
  st->gone = TRUE;
  HttpServer *s = st->server;
  if (s != NULL)
    g_ptr_array_remove_fast (s->streams, st);
  if (s != NULL && s->streams->len == 0)
    g_clear_handle_id (&s->snapshot_id, g_source_remove);
}

static void
http_stream_finished (SoupServerMessage *msg, gpointer data)
{
  http_stream_drop (data);
}

static void
http_stream_wrote (SoupServerMessage *msg, guint n_bytes, gpointer data)
{
  HttpStream *st = data;
  st->queued_bytes -= MIN (st->queued_bytes, n_bytes);
}

static void
http_stream_send (HttpStream *st, const char *text, gsize len)
{
  if (st->gone)
    return;
  if (st->queued_bytes + len > HTTP_STREAM_MAX_QUEUED_BYTES)
    {
      /* It does not read: end it instead of buffering for it. */
      GSocket *sock = soup_server_message_get_socket (st->msg);
      if (sock != NULL)
        g_socket_shutdown (sock, TRUE, TRUE, NULL);
      http_stream_drop (st);
      return;
    }
  st->queued_bytes += len;
  soup_message_body_append (soup_server_message_get_response_body (st->msg), SOUP_MEMORY_COPY, text,
                            len);
  soup_server_message_unpause (st->msg);
}

static void
http_stream_broadcast (HttpServer *s, const char *event, json_t *message)
{
  if (s->streams->len == 0)
    return;
  g_autofree char *json = json_dumps (message, JSON_COMPACT);
  g_autofree char *text = g_strdup_printf ("event: %s\ndata: %s\n\n", event, json);
  gsize len = strlen (text);
  g_autoptr (GPtrArray) targets = g_ptr_array_copy (s->streams, NULL, NULL);
  for (guint i = 0; i < targets->len; i++)
    http_stream_send (g_ptr_array_index (targets, i), text, len);
}

/* What the page shows, once per tick while someone watches. */
static json_t *
http_snapshot_json (HttpServer *s)
{
  return json_pack ("{s:o,s:o,s:o,s:o}", "status", http_query (s, "query-status", NULL, NULL),
                    "host", http_query (s, "query-host", NULL, NULL), "ksm",
                    http_query (s, "query-ksm", NULL, NULL), "vms", http_query_vm_details (s));
}

static gboolean
http_snapshot_cb (gpointer data)
{
  HttpServer *s = data;
  g_autoptr (json_t) snap = http_snapshot_json (s);
  http_stream_broadcast (s, "snapshot", snap);
  return G_SOURCE_CONTINUE;
}

static void
http_events (HttpServer *s, SoupServerMessage *msg)
{
  if (s->streams->len >= HTTP_MAX_STREAMS)
    {
      http_reply_text (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many event streams");
      return;
    }
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_set_encoding (h, SOUP_ENCODING_CHUNKED);
  soup_message_headers_replace (h, "Content-Type", "text/event-stream");
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_replace (h, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
  soup_message_headers_replace (h, "Connection", "close");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  HttpStream *st = g_new0 (HttpStream, 1);
  st->server = s;
  st->msg = msg;
  g_ptr_array_add (s->streams, st);
  g_signal_connect (msg, "wrote-body-data", G_CALLBACK (http_stream_wrote), st);
  g_signal_connect_data (msg, "finished", G_CALLBACK (http_stream_finished), st,
                         (GClosureNotify) (void (*) (void)) g_free, 0);
  g_signal_connect (msg, "disconnected", G_CALLBACK (http_stream_finished), st);
  static const char hello[] = "retry: 2000\n\n";
  http_stream_send (st, hello, strlen (hello));
  g_autoptr (json_t) snap = http_snapshot_json (s);
  g_autofree char *json = json_dumps (snap, JSON_COMPACT);
  g_autofree char *text = g_strdup_printf ("event: snapshot\ndata: %s\n\n", json);
  http_stream_send (st, text, strlen (text));
  if (s->snapshot_id == 0)
    {
      json_int_t tick_ms
          = json_integer_value (json_object_get (json_object_get (snap, "status"), "tick_ms"));
      s->snapshot_id = g_timeout_add (
          (guint) CLAMP (tick_ms, HTTP_SNAPSHOT_MIN_MS, HTTP_SNAPSHOT_MAX_MS), http_snapshot_cb, s);
    }
}

void
http_server_event (HttpServer *s, const char *event, json_t *data, gint64 real_time_us)
{
  metrics_counters_event (s->counters, event, data);
  if (s->streams->len == 0)
    return;
  g_autoptr (json_t) message
      = json_pack ("{s:s,s:O,s:{s:I,s:I}}", "event", event, "data", data, "timestamp", "seconds",
                   (json_int_t) (real_time_us / G_USEC_PER_SEC), "microseconds",
                   (json_int_t) (real_time_us % G_USEC_PER_SEC));
  http_stream_broadcast (s, event, message);
}

/* ---- routing ------------------------------------------------------------------- */

/* Before the body is read: only GET, no body, bounded headers. */
static void
http_early (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer data)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  gsize header_bytes = strlen (g_uri_get_path (uri))
                       + (g_uri_get_query (uri) ? strlen (g_uri_get_query (uri)) : 0);
  SoupMessageHeadersIter it;
  const char *name, *value;
  soup_message_headers_iter_init (&it, req);
  while (soup_message_headers_iter_next (&it, &name, &value))
    header_bytes += strlen (name) + strlen (value) + 4;
  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "GET");
      http_reply_text (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET");
    }
  else if (soup_message_headers_get_content_length (req) > 0
           || soup_message_headers_get_encoding (req) == SOUP_ENCODING_CHUNKED)
    http_reply_text (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "a GET has no body");
  else if (header_bytes > HTTP_MAX_HEADER_BYTES)
    {
      http_reply_text (msg, 431, "headers too large");
      soup_server_message_set_status (msg, 431, "Request Header Fields Too Large");
    }
  else
    return;
  /* libsoup still reads a body that was announced before it answers: keep
   * none of it (the request deadline bounds how long that may take). */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection",
                                "close");
}

static void
http_route (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer data)
{
  HttpServer *s = data;
  if (soup_server_message_get_status (msg) != 0)
    return; /* refused early */
  if (g_str_equal (path, "/metrics"))
    http_metrics (s, msg);
  else if (g_str_equal (path, "/") || g_str_equal (path, "/index.html"))
    http_dashboard (msg);
  else if (g_str_equal (path, "/api/v1/events"))
    http_events (s, msg);
  else if (g_str_has_prefix (path, "/api/v1/"))
    http_api (s, msg, path + strlen ("/api/v1/"), query);
  else
    http_reply_text (msg, SOUP_STATUS_NOT_FOUND, "not found");
}

/* ---- life cycle ----------------------------------------------------------------- */

static GSocketService *
http_bind (HttpServer *s, const char *listen, GError **error)
{
  g_autofree char *host = NULL;
  guint16 port = 0;
  const char *why = cfg_parse_listen (listen, &host, &port);
  if (why != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "http-listen %s: %s", listen,
                   why);
      return NULL;
    }
  g_autoptr (GSocketService) service = g_socket_service_new ();
  /* A burst of scrapers must not overflow the kernel's queue (the default is 10). */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), HTTP_MAX_CLIENTS);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new_from_string (host, port);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) local = NULL;
  if (addr == NULL
      || !g_socket_listener_add_address (G_SOCKET_LISTENER (service), addr, G_SOCKET_TYPE_STREAM,
                                         G_SOCKET_PROTOCOL_TCP, NULL, &bound, &local))
    {
      g_set_error (error, G_IO_ERROR, local ? local->code : G_IO_ERROR_INVALID_ARGUMENT,
                   "http-listen: %s", local ? local->message : "not an address");
      return NULL;
    }
  g_signal_connect (service, "incoming", G_CALLBACK (http_incoming), s);
  g_socket_service_start (service);
  g_autofree char *where = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (bound));
  g_message ("http: dashboard and metrics on http://%s/", where);
  return g_steal_pointer (&service);
}

static void
http_unbind (GSocketService *service)
{
  if (service == NULL)
    return;
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  g_object_unref (service);
}

gboolean
http_server_listen (HttpServer *s, const char *listen, GError **error)
{
  if (g_strcmp0 (listen, s->listen) == 0)
    return TRUE;
  GSocketService *service = http_bind (s, listen, error);
  if (service == NULL)
    return FALSE;
  http_unbind (s->service);
  s->service = service;
  g_free (s->listen);
  s->listen = g_strdup (listen);
  return TRUE;
}

const char *
http_server_get_listen (HttpServer *s)
{
  return s->listen;
}

HttpServer *
http_server_new (const char *listen, const CtlCommand *commands, gsize n_commands,
                 gpointer user_data, GError **error)
{
  HttpServer *s = g_new0 (HttpServer, 1);
  s->commands = commands;
  s->n_commands = n_commands;
  s->user_data = user_data;
  s->conns = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->streams = g_ptr_array_new ();
  s->counters = metrics_counters_new ();
  s->soup = soup_server_new ("server-header", "ballastd/" BALLAST_VERSION " ", NULL);
  soup_server_add_early_handler (s->soup, NULL, http_early, s, NULL);
  soup_server_add_handler (s->soup, NULL, http_route, s, NULL);
  g_signal_connect (s->soup, "request-read", G_CALLBACK (http_request_read), s);
  if (!http_server_listen (s, listen, error))
    {
      http_server_free (s);
      return NULL;
    }
  return s;
}

void
http_server_free (HttpServer *s)
{
  if (s == NULL)
    return;
  http_unbind (s->service);
  g_clear_handle_id (&s->snapshot_id, g_source_remove);
  for (guint i = 0; i < s->streams->len; i++)
    ((HttpStream *) g_ptr_array_index (s->streams, i))->server = NULL;
  /* Connections still open outlive us by a moment: cut them loose. */
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, s->conns);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      HttpConn *c = v;
      c->server = NULL;
      g_clear_handle_id (&c->deadline_id, g_source_remove);
    }
  soup_server_disconnect (s->soup);
  g_object_unref (s->soup);
  g_hash_table_unref (s->conns);
  g_ptr_array_unref (s->streams);
  metrics_counters_free (s->counters);
  g_free (s->listen);
  g_free (s);
}
