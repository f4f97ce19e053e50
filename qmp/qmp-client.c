/* qmp-client.c: the asynchronous QMP client: non-blocking unix socket I/O on
 * a GLib main context, negotiation, id-matched replies, events, timeouts. */
#define G_LOG_DOMAIN "ballast-qmp"

#include "qmp-client.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "qmp-parser.h"
#include "qmp-loop.h"

/* One read per dispatch keeps a chatty peer from starving other sources. */
#define READ_CHUNK_BYTES (64 * 1024)
/* Ids of timed-out commands are remembered so their late replies are not
 * reported as unknown; bounded because a wedged peer may never answer. */
#define MAX_LATE_IDS 1024

typedef enum
{
  STATE_IDLE,        /* created, not connected yet */
  STATE_CONNECTING,  /* connect(2) in progress */
  STATE_GREETING,    /* waiting for {"QMP": ...} */
  STATE_NEGOTIATING, /* qmp_capabilities sent */
  STATE_READY,
  STATE_CLOSED,
} State;

typedef struct
{
  QmpClient *client; /* not a reference: the client owns this struct */
  guint64 id;
  char *command;
  char *line; /* serialized, newline-terminated; NULL once written */
  QmpReplyFunc func;
  gpointer user_data;
  QmpTimer timeout;
  GError *error; /* set when queued for a deferred failure */
} Pending;

typedef struct
{
  guint id;
  char *event;
  QmpEventFunc func;
  gpointer user_data;
  GDestroyNotify destroy;
} Subscription;

struct _QmpClient
{
  gint refcount;
  gboolean finalizing;
  GMainContext *context;
  QmpClientOptions options;
  QmpClientCallbacks callbacks;
  State state;
  GSocket *socket;
  QmpWatch *read_watch;
  GSource *write_source;
  QmpTimer greeting_timeout;
  GSource *fail_idle;
  QmpParser *parser;
  GByteArray *outbuf;
  GHashTable *pending;  /* &Pending.id -> Pending*, sent or waiting for "ready" */
  GQueue unsent;        /* Pending* in issue order, waiting for "ready" */
  GQueue failed;        /* Pending* with an error, delivered from fail_idle */
  GHashTable *late_ids; /* guint64* set */
  guint64 next_id;
  guint consecutive_timeouts;
  json_t *greeting;
  GHashTable *subscriptions; /* GUINT_TO_POINTER(id) -> Subscription* */
  GHashTable *by_event;      /* event name or "*" -> GArray of guint ids */
  guint next_subscription_id;
  gboolean reading; /* inside on_read */
};

static void client_fail (QmpClient *client, GError *error);
static void ensure_write_source (QmpClient *client);
static void on_greeting_timeout (gpointer data);

static void
pending_free (Pending *p)
{
  qmp_timer_cancel (&p->timeout);
  g_clear_error (&p->error);
  g_free (p->command);
  g_free (p->line);
  g_free (p);
}

static void
subscription_free (gpointer data)
{
  Subscription *sub = data;
  if (sub->destroy != NULL)
    sub->destroy (sub->user_data);
  g_free (sub->event);
  g_free (sub);
}

static void
destroy_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static GSource *
attach (QmpClient *client, GSource *source, GSourceFunc func, gpointer data)
{
  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, client->context);
  return source;
}

QmpClient *
qmp_client_new (const QmpClientOptions *options, const QmpClientCallbacks *callbacks)
{
  QmpClient *client = g_new0 (QmpClient, 1);

  client->refcount = 1;
  client->context = g_main_context_ref_thread_default ();
  if (options != NULL)
    client->options = *options;
  if (client->options.command_timeout_ms == 0)
    client->options.command_timeout_ms = QMP_DEFAULT_COMMAND_TIMEOUT_MS;
  if (client->options.greeting_timeout_ms == 0)
    client->options.greeting_timeout_ms = QMP_DEFAULT_GREETING_TIMEOUT_MS;
  if (client->options.max_timeouts == 0)
    client->options.max_timeouts = QMP_DEFAULT_MAX_TIMEOUTS;
  if (client->options.max_line_bytes == 0)
    client->options.max_line_bytes = QMP_DEFAULT_MAX_LINE_BYTES;
  if (callbacks != NULL)
    client->callbacks = *callbacks;
  client->outbuf = g_byte_array_new ();
  client->pending = g_hash_table_new (g_int64_hash, g_int64_equal);
  client->late_ids = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  client->subscriptions
      = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, subscription_free);
  client->by_event
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
  client->next_id = 1;
  client->next_subscription_id = 1;
  qmp_timer_init (&client->greeting_timeout, client->context, on_greeting_timeout, client);
  return client;
}

QmpClient *
qmp_client_ref (QmpClient *client)
{
  g_return_val_if_fail (client != NULL && !client->finalizing, NULL);
  g_atomic_int_inc (&client->refcount);
  return client;
}

static void
close_socket (QmpClient *client)
{
  g_clear_pointer (&client->read_watch, qmp_watch_remove);
  destroy_source (&client->write_source);
  qmp_timer_cancel (&client->greeting_timeout);
  if (client->socket != NULL)
    {
      g_socket_close (client->socket, NULL);
      g_clear_object (&client->socket);
    }
}

/* Takes every pending command out of the tables, oldest first, so callbacks
 * that re-enter the client see consistent state. */
static GPtrArray *
take_pending (QmpClient *client)
{
  GPtrArray *all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, client->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  g_hash_table_remove_all (client->pending);
  g_queue_clear (&client->unsent);
  while (!g_queue_is_empty (&client->failed))
    g_ptr_array_add (all, g_queue_pop_head (&client->failed));
  destroy_source (&client->fail_idle);
  return all;
}

static gint
compare_pending (gconstpointer a, gconstpointer b)
{
  const Pending *pa = *(Pending *const *) a;
  const Pending *pb = *(Pending *const *) b;
  return pa->id < pb->id ? -1 : pa->id > pb->id;
}

/* Fails each command with its own error if it has one, else with `code`. */
static void
fail_all (QmpClient *client, GPtrArray *all, gint code, const char *why)
{
  g_ptr_array_sort (all, compare_pending);
  for (guint i = 0; i < all->len; i++)
    {
      Pending *p = all->pdata[i];
      g_autoptr (GError) error = NULL;
      if (p->error != NULL)
        error = g_steal_pointer (&p->error);
      else
        error = g_error_new (QMP_ERROR, code, "command '%s' not answered: %s", p->command, why);
      if (p->func != NULL)
        p->func (client, NULL, error, p->user_data);
      pending_free (p);
    }
  g_ptr_array_unref (all);
}

void
qmp_client_unref (QmpClient *client)
{
  if (client == NULL)
    return;
  if (!g_atomic_int_dec_and_test (&client->refcount))
    return;

  client->finalizing = TRUE;
  client->state = STATE_CLOSED;
  close_socket (client);
  fail_all (client, take_pending (client), QMP_ERROR_CANCELLED, "the client was freed");
  g_hash_table_unref (client->subscriptions);
  g_hash_table_unref (client->by_event);
  g_hash_table_unref (client->pending);
  g_hash_table_unref (client->late_ids);
  g_clear_pointer (&client->parser, qmp_parser_free);
  g_byte_array_unref (client->outbuf);
  g_clear_pointer (&client->greeting, json_decref);
  g_main_context_unref (client->context);
  g_free (client);
}

gboolean
qmp_client_is_ready (QmpClient *client)
{
  g_return_val_if_fail (client != NULL, FALSE);
  return client->state == STATE_READY;
}

json_t *
qmp_client_get_greeting (QmpClient *client)
{
  g_return_val_if_fail (client != NULL, NULL);
  return client->greeting;
}

int
qmp_client_get_peer_pid (QmpClient *client)
{
  g_return_val_if_fail (client != NULL, 0);
  if (client->socket == NULL || client->state == STATE_CONNECTING)
    return 0;
  g_autoptr (GCredentials) credentials = g_socket_get_credentials (client->socket, NULL);
  if (credentials == NULL)
    return 0;
  pid_t pid = g_credentials_get_unix_pid (credentials, NULL);
  return pid > 0 ? (int) pid : 0;
}

/* Ends the connection: every pending command fails, then the closed callback
 * runs. Takes `error` (NULL for an orderly close). */
static void
client_fail (QmpClient *client, GError *error)
{
  g_autoptr (GError) owned = error;

  if (client->state == STATE_CLOSED)
    return;
  qmp_client_ref (client);
  client->state = STATE_CLOSED;
  close_socket (client);
  if (owned != NULL)
    g_debug ("QMP connection closed: %s", owned->message);
  fail_all (client, take_pending (client), QMP_ERROR_CLOSED,
            owned != NULL ? owned->message : "the connection was closed");
  if (client->callbacks.closed != NULL)
    client->callbacks.closed (client, owned, client->callbacks.user_data);
  qmp_client_unref (client);
}

void
qmp_client_close (QmpClient *client)
{
  g_return_if_fail (client != NULL);
  client_fail (client, NULL);
}

/* Sends at once when nothing is queued: a write source per command would
 * add and remove a descriptor in the main loop's poll set, and GLib wakes
 * its loop on every such change. Only what the socket does not take now
 * (or an error, reported from the write source, never from inside the
 * caller's API call) waits for the socket to be writable. */
static void
queue_line (QmpClient *client, const char *line)
{
  gsize len = strlen (line);
  gsize sent = 0;
  if (client->write_source == NULL && client->outbuf->len == 0 && client->socket != NULL
      && client->state != STATE_CONNECTING)
    {
      gssize n = g_socket_send (client->socket, line, len, NULL, NULL);
      sent = n > 0 ? (gsize) n : 0;
    }
  if (sent == len)
    return;
  g_byte_array_append (client->outbuf, (const guint8 *) line + sent, (guint) (len - sent));
  ensure_write_source (client);
}

static void
send_unsent (QmpClient *client)
{
  while (!g_queue_is_empty (&client->unsent))
    {
      Pending *p = g_queue_pop_head (&client->unsent);
      queue_line (client, p->line);
      g_clear_pointer (&p->line, g_free);
    }
}

static gboolean
on_write (GSocket *socket, GIOCondition condition, gpointer data)
{
  QmpClient *client = data;
  g_autoptr (GError) error = NULL;

  if (client->state == STATE_CONNECTING)
    {
      if (!g_socket_check_connect_result (socket, &error))
        {
          client_fail (client, g_error_new (QMP_ERROR, QMP_ERROR_CONNECT,
                                            "cannot connect to QMP socket: %s", error->message));
          return G_SOURCE_REMOVE;
        }
      client->state = STATE_GREETING;
    }
  while (client->outbuf->len > 0)
    {
      gssize n = g_socket_send (socket, (const char *) client->outbuf->data, client->outbuf->len,
                                NULL, &error);
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return G_SOURCE_CONTINUE;
          client_fail (client, g_error_new (QMP_ERROR, QMP_ERROR_IO,
                                            "cannot write to QMP socket: %s", error->message));
          return G_SOURCE_REMOVE;
        }
      g_byte_array_remove_range (client->outbuf, 0, (guint) n);
    }
  g_clear_pointer (&client->write_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
ensure_write_source (QmpClient *client)
{
  if (client->write_source != NULL || client->socket == NULL)
    return;
  client->write_source = attach (client, g_socket_create_source (client->socket, G_IO_OUT, NULL),
                                 (GSourceFunc) (void (*) (void)) on_write, client);
}

static gboolean
on_fail_idle (gpointer data)
{
  QmpClient *client = data;
  GPtrArray *all = g_ptr_array_new ();

  g_clear_pointer (&client->fail_idle, g_source_unref);
  while (!g_queue_is_empty (&client->failed))
    g_ptr_array_add (all, g_queue_pop_head (&client->failed));
  qmp_client_ref (client);
  fail_all (client, all, QMP_ERROR_CLOSED, "the connection is closed");
  qmp_client_unref (client);
  return G_SOURCE_REMOVE;
}

/* Delivers a failure from the main loop, never from inside the API call. */
static void
fail_soon (QmpClient *client, Pending *p, GError *error)
{
  p->error = error;
  if (client->finalizing)
    {
      GPtrArray *one = g_ptr_array_new ();
      g_ptr_array_add (one, p);
      fail_all (client, one, QMP_ERROR_CANCELLED, "the client was freed");
      return;
    }
  g_queue_push_tail (&client->failed, p);
  if (client->fail_idle == NULL)
    {
      /* Default priority: a failure is an answer and must not wait for idle time. */
      GSource *idle = g_idle_source_new ();
      g_source_set_priority (idle, G_PRIORITY_DEFAULT);
      client->fail_idle = attach (client, idle, on_fail_idle, client);
    }
}

static void
on_command_timeout (gpointer data)
{
  Pending *p = data;
  QmpClient *client = p->client;
  g_autoptr (GError) error = NULL;

  qmp_client_ref (client);
  g_hash_table_remove (client->pending, &p->id);
  if (p->line != NULL)
    g_queue_remove (&client->unsent, p);
  else
    {
      if (g_hash_table_size (client->late_ids) >= MAX_LATE_IDS)
        g_hash_table_remove_all (client->late_ids);
      g_hash_table_add (client->late_ids, g_memdup2 (&p->id, sizeof p->id));
    }
  client->consecutive_timeouts++;
  error = g_error_new (QMP_ERROR, QMP_ERROR_TIMEOUT, "command '%s' timed out after %u ms",
                       p->command, client->options.command_timeout_ms);
  if (p->func != NULL)
    p->func (client, NULL, error, p->user_data);
  pending_free (p);
  if (client->consecutive_timeouts >= client->options.max_timeouts && client->state != STATE_CLOSED)
    client_fail (client,
                 g_error_new (QMP_ERROR, QMP_ERROR_TIMEOUT,
                              "%u consecutive QMP commands timed out (%u ms each)",
                              client->consecutive_timeouts, client->options.command_timeout_ms));
  qmp_client_unref (client);
}

static char *
serialize_command (const char *command, json_t *args, guint64 id)
{
  g_autoptr (GString) line = NULL;
  json_t *name = json_string (command);
  char *text;

  if (name == NULL)
    return NULL; /* not UTF-8 */
  json_t *msg = json_object ();
  json_object_set_new (msg, "execute", name);
  if (args != NULL)
    json_object_set (msg, "arguments", args);
  json_object_set_new (msg, "id", json_integer ((json_int_t) id));
  text = json_dumps (msg, JSON_COMPACT);
  json_decref (msg);
  if (text == NULL)
    return NULL;
  line = g_string_new (text);
  free (text);
  g_string_append_c (line, '\n');
  return g_string_free (g_steal_pointer (&line), FALSE);
}

guint64
qmp_client_execute (QmpClient *client, const char *command, json_t *args, QmpReplyFunc func,
                    gpointer user_data)
{
  g_return_val_if_fail (client != NULL && command != NULL, 0);

  Pending *p = g_new0 (Pending, 1);
  p->client = client;
  p->id = client->next_id++;
  p->command = g_strdup (command);
  p->func = func;
  p->user_data = user_data;

  if (args != NULL && !json_is_object (args))
    {
      json_decref (args);
      fail_soon (client, p,
                 g_error_new (QMP_ERROR, QMP_ERROR_PROTOCOL,
                              "arguments of '%s' are not a JSON object", command));
      return p->id;
    }
  p->line = serialize_command (command, args, p->id);
  json_decref (args);
  if (p->line == NULL)
    {
      fail_soon (
          client, p,
          g_error_new (QMP_ERROR, QMP_ERROR_PROTOCOL, "cannot serialize command '%s'", command));
      return p->id;
    }
  if (client->state == STATE_CLOSED)
    {
      fail_soon (client, p,
                 g_error_new (QMP_ERROR, QMP_ERROR_CLOSED,
                              "command '%s': the QMP connection is closed", command));
      return p->id;
    }

  guint64 id = p->id;
  g_hash_table_insert (client->pending, &p->id, p);
  qmp_timer_init (&p->timeout, client->context, on_command_timeout, p);
  qmp_timer_arm_in (&p->timeout, client->options.command_timeout_ms);
  if (client->state == STATE_READY)
    {
      queue_line (client, p->line);
      g_clear_pointer (&p->line, g_free);
    }
  else
    g_queue_push_tail (&client->unsent, p);
  return id;
}

guint
qmp_client_subscribe (QmpClient *client, const char *event, QmpEventFunc func, gpointer user_data,
                      GDestroyNotify destroy)
{
  g_return_val_if_fail (client != NULL && event != NULL && func != NULL, 0);

  Subscription *sub = g_new0 (Subscription, 1);
  sub->id = client->next_subscription_id++;
  sub->event = g_strdup (event);
  sub->func = func;
  sub->user_data = user_data;
  sub->destroy = destroy;
  g_hash_table_insert (client->subscriptions, GUINT_TO_POINTER (sub->id), sub);

  GArray *ids = g_hash_table_lookup (client->by_event, event);
  if (ids == NULL)
    {
      ids = g_array_new (FALSE, FALSE, sizeof (guint));
      g_hash_table_insert (client->by_event, g_strdup (event), ids);
    }
  g_array_append_val (ids, sub->id);
  return sub->id;
}

void
qmp_client_unsubscribe (QmpClient *client, guint subscription_id)
{
  g_return_if_fail (client != NULL);

  Subscription *sub
      = g_hash_table_lookup (client->subscriptions, GUINT_TO_POINTER (subscription_id));
  if (sub == NULL)
    return;
  GArray *ids = g_hash_table_lookup (client->by_event, sub->event);
  for (guint i = 0; ids != NULL && i < ids->len; i++)
    if (g_array_index (ids, guint, i) == subscription_id)
      {
        g_array_remove_index (ids, i);
        break;
      }
  g_hash_table_remove (client->subscriptions, GUINT_TO_POINTER (subscription_id));
}

/* Inside a dispatch the client holds one reference of its own; if that is
 * the last one, the owner let go and must get no more callbacks. */
static gboolean
orphaned (QmpClient *client)
{
  return g_atomic_int_get (&client->refcount) <= 1;
}

static gint
compare_guint (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;
  return x < y ? -1 : x > y;
}

static void
dispatch_event (QmpClient *client, const QmpMessage *msg)
{
  /* Copy the ids first: a callback may subscribe or unsubscribe. */
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint));
  GArray *named = g_hash_table_lookup (client->by_event, msg->event);
  GArray *all = g_hash_table_lookup (client->by_event, "*");

  if (named != NULL)
    g_array_append_vals (ids, named->data, named->len);
  if (all != NULL && !g_str_equal (msg->event, "*"))
    g_array_append_vals (ids, all->data, all->len);
  g_array_sort (ids, compare_guint);
  for (guint i = 0; i < ids->len && client->state != STATE_CLOSED && !orphaned (client); i++)
    {
      Subscription *sub = g_hash_table_lookup (client->subscriptions,
                                               GUINT_TO_POINTER (g_array_index (ids, guint, i)));
      if (sub != NULL)
        sub->func (client, msg->event, msg->value, msg->timestamp_us, sub->user_data);
    }
}

static void
on_capabilities (QmpClient *client, json_t *ret, const GError *error, gpointer user_data)
{
  if (client->state != STATE_NEGOTIATING)
    return;
  if (error != NULL)
    {
      client_fail (client, g_error_new (QMP_ERROR,
                                        error->code == QMP_ERROR_TIMEOUT ? QMP_ERROR_TIMEOUT
                                                                         : QMP_ERROR_PROTOCOL,
                                        "qmp_capabilities failed: %s", error->message));
      return;
    }
  client->state = STATE_READY;
  qmp_timer_cancel (&client->greeting_timeout);
  send_unsent (client);
  if (client->callbacks.ready != NULL)
    client->callbacks.ready (client, client->callbacks.user_data);
}

static void
handle_greeting (QmpClient *client, const QmpMessage *msg)
{
  if (client->state != STATE_GREETING)
    {
      client_fail (client, g_error_new_literal (QMP_ERROR, QMP_ERROR_PROTOCOL,
                                                "unexpected second QMP greeting"));
      return;
    }
  client->greeting = json_incref (msg->value);
  client->state = STATE_NEGOTIATING;

  /* Negotiation goes ahead of any queued command: QMP refuses everything
   * else until qmp_capabilities succeeded. */
  Pending *p = g_new0 (Pending, 1);
  p->client = client;
  p->id = client->next_id++;
  p->command = g_strdup ("qmp_capabilities");
  p->func = on_capabilities;
  p->line = serialize_command (p->command, NULL, p->id);
  g_hash_table_insert (client->pending, &p->id, p);
  queue_line (client, p->line);
  g_clear_pointer (&p->line, g_free);
}

static void
handle_reply (QmpClient *client, const QmpMessage *msg)
{
  if (!json_is_integer (msg->id) || json_integer_value (msg->id) <= 0)
    {
      g_autofree char *id_text = msg->id ? json_dumps (msg->id, JSON_ENCODE_ANY) : NULL;
      g_warning ("QMP reply with unknown id %s ignored", id_text ? id_text : "(none)");
      return;
    }
  guint64 id = (guint64) json_integer_value (msg->id);
  Pending *p = g_hash_table_lookup (client->pending, &id);
  if (p == NULL || p->line != NULL)
    {
      if (g_hash_table_remove (client->late_ids, &id))
        g_debug ("late QMP reply to timed-out command %" G_GUINT64_FORMAT " dropped", id);
      else
        g_warning ("QMP reply with unknown id %" G_GUINT64_FORMAT " ignored", id);
      return;
    }
  client->consecutive_timeouts = 0;
  g_hash_table_remove (client->pending, &id);

  g_autoptr (GError) error = NULL;
  if (msg->kind == QMP_MESSAGE_ERROR)
    error = g_error_new (QMP_ERROR, QMP_ERROR_COMMAND, "command '%s' failed: %s: %s", p->command,
                         msg->error_class, msg->error_desc);
  if (p->func != NULL)
    p->func (client, error ? NULL : msg->value, error, p->user_data);
  pending_free (p);
}

static gboolean
on_message (json_t *message, gpointer data)
{
  QmpClient *client = data;
  QmpMessage msg;
  GError *error = NULL;

  if (!qmp_message_classify (message, &msg, &error))
    {
      client_fail (client, error);
      return FALSE;
    }
  if (client->state == STATE_GREETING && msg.kind != QMP_MESSAGE_GREETING)
    {
      client_fail (client, g_error_new_literal (QMP_ERROR, QMP_ERROR_PROTOCOL,
                                                "first QMP message is not a greeting"));
      return FALSE;
    }
  switch (msg.kind)
    {
      case QMP_MESSAGE_GREETING:
        handle_greeting (client, &msg);
        break;
      case QMP_MESSAGE_RETURN:
      case QMP_MESSAGE_ERROR:
        handle_reply (client, &msg);
        break;
      case QMP_MESSAGE_EVENT:
        dispatch_event (client, &msg);
        break;
      case QMP_MESSAGE_UNKNOWN:
      default:
        g_warning ("QMP message of unknown kind ignored");
        break;
    }
  return client->state != STATE_CLOSED && !orphaned (client);
}

static void
on_read (int fd, GIOCondition condition, gpointer data)
{
  QmpClient *client = data;
  g_autoptr (GError) error = NULL;
  GError *parse_error = NULL;

  /* A callback that iterates this context: the outer read finishes first. */
  if (client->reading)
    return;
  g_autofree char *buf = g_malloc (READ_CHUNK_BYTES);
  gssize n = g_socket_receive (client->socket, buf, READ_CHUNK_BYTES, NULL, &error);
  if (n < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        client_fail (client, g_error_new (QMP_ERROR, QMP_ERROR_IO,
                                          "cannot read from QMP socket: %s", error->message));
      return;
    }

  qmp_client_ref (client);
  client->reading = TRUE;
  if (n == 0)
    {
      if (!qmp_parser_finish (client->parser, &parse_error))
        client_fail (client, parse_error);
      else if (client->state == STATE_GREETING)
        client_fail (client,
                     g_error_new_literal (QMP_ERROR, QMP_ERROR_CLOSED,
                                          "QMP peer closed the connection before its greeting"));
      else
        client_fail (client, g_error_new_literal (QMP_ERROR, QMP_ERROR_CLOSED,
                                                  "QMP peer closed the connection"));
    }
  else if (!qmp_parser_feed (client->parser, buf, (gsize) n, on_message, client, &parse_error))
    client_fail (client, parse_error);
  client->reading = FALSE;
  qmp_client_unref (client);
}

static void
on_greeting_timeout (gpointer data)
{
  QmpClient *client = data;

  client_fail (client, g_error_new (QMP_ERROR, QMP_ERROR_TIMEOUT,
                                    client->state == STATE_NEGOTIATING
                                        ? "no answer to qmp_capabilities within %u ms"
                                        : "no QMP greeting within %u ms",
                                    client->options.greeting_timeout_ms));
}

gboolean
qmp_client_connect (QmpClient *client, const char *socket_path, GError **error)
{
  g_return_val_if_fail (client != NULL && socket_path != NULL, FALSE);
  g_return_val_if_fail (client->state == STATE_IDLE, FALSE);

  g_autoptr (GError) local = NULL;
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_DEFAULT, &local);
  if (socket == NULL)
    {
      g_set_error (error, QMP_ERROR, QMP_ERROR_CONNECT, "cannot create socket: %s", local->message);
      return FALSE;
    }
  g_socket_set_blocking (socket, FALSE);
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (socket_path);
  State next = STATE_GREETING;
  if (!g_socket_connect (socket, address, NULL, &local))
    {
      if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PENDING))
        {
          g_set_error (error, QMP_ERROR, QMP_ERROR_CONNECT, "cannot connect to %s: %s", socket_path,
                       local->message);
          return FALSE;
        }
      next = STATE_CONNECTING;
    }

  g_clear_error (&local);
  QmpWatch *watch
      = qmp_watch_add (client->context, g_socket_get_fd (socket), G_IO_IN, on_read, client, &local);
  if (watch == NULL)
    {
      g_set_error (error, QMP_ERROR, QMP_ERROR_CONNECT, "cannot watch the socket of %s: %s",
                   socket_path, local->message);
      return FALSE;
    }
  client->socket = g_steal_pointer (&socket);
  client->read_watch = watch;
  client->state = next;
  client->parser = qmp_parser_new (client->options.max_line_bytes);
  qmp_timer_arm_in (&client->greeting_timeout, client->options.greeting_timeout_ms);
  if (next == STATE_CONNECTING)
    ensure_write_source (client);
  return TRUE;
}
