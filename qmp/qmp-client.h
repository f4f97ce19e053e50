/* qmp-client.h: asynchronous QMP client on a GLib main context: connect,
 * greeting, capabilities negotiation, commands with ids, events, timeouts. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "qmp-error.h"
#include "qmp-parser.h"

G_BEGIN_DECLS

/* Defaults used when an option is left at 0. */
#define QMP_DEFAULT_COMMAND_TIMEOUT_MS 5000
#define QMP_DEFAULT_GREETING_TIMEOUT_MS 5000
#define QMP_DEFAULT_MAX_TIMEOUTS 3
#define QMP_DEFAULT_MAX_LINE_BYTES QMP_PARSER_DEFAULT_MAX_LINE_BYTES

typedef struct
{
  guint command_timeout_ms;  /* per command, from qmp_client_execute() */
  guint greeting_timeout_ms; /* connect until "ready" (greeting + qmp_capabilities) */
  guint max_timeouts;        /* consecutive command timeouts that close the connection */
  gsize max_line_bytes;      /* longer input lines close the connection */
} QmpClientOptions;

typedef struct _QmpClient QmpClient;

typedef void (*QmpReadyFunc) (QmpClient *client, gpointer user_data);
/* `error` is NULL only after qmp_client_close(). */
typedef void (*QmpClosedFunc) (QmpClient *client, const GError *error, gpointer user_data);
/* Exactly one of `ret` (borrowed "return" value) and `error` is non-NULL. */
typedef void (*QmpReplyFunc) (QmpClient *client, json_t *ret, const GError *error,
                              gpointer user_data);
/* `data` is the event's "data" object (borrowed, may be NULL); `timestamp_us`
 * is QEMU's wall-clock timestamp, 0 when absent. */
typedef void (*QmpEventFunc) (QmpClient *client, const char *event, json_t *data,
                              gint64 timestamp_us, gpointer user_data);

typedef struct
{
  QmpReadyFunc ready;
  QmpClosedFunc closed;
  gpointer user_data;
} QmpClientCallbacks;

/* The client attaches its sources to the thread-default main context at
 * creation. `options` and `callbacks` may be NULL; both are copied. */
QmpClient *qmp_client_new (const QmpClientOptions *options, const QmpClientCallbacks *callbacks);
QmpClient *qmp_client_ref (QmpClient *client);
/* Dropping the last reference closes the connection; commands still pending
 * then fail with QMP_ERROR_CANCELLED (the closed callback is not called).
 * Safe to call from inside any of the client's callbacks. */
void qmp_client_unref (QmpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpClient, qmp_client_unref)

/* Starts connecting; returns FALSE with QMP_ERROR_CONNECT if the socket cannot
 * be reached at once. On TRUE, exactly one of the ready or closed callbacks
 * follows (closed can still follow ready later). One connect per client. */
gboolean qmp_client_connect (QmpClient *client, const char *socket_path, GError **error);
/* Closes the connection: pending commands fail with QMP_ERROR_CLOSED, then the
 * closed callback runs with error NULL. No-op when already closed. */
void qmp_client_close (QmpClient *client);
gboolean qmp_client_is_ready (QmpClient *client);
/* The greeting's "QMP" object (borrowed), NULL before it arrived. */
json_t *qmp_client_get_greeting (QmpClient *client);
/* PID of the process at the other end of the socket (SO_PEERCRED), e.g.
 * the QEMU to read /proc/PID from; 0 when unknown or not connected. */
int qmp_client_get_peer_pid (QmpClient *client);

/* Sends `command` with `args` (stolen, may be NULL) and a fresh id. Commands
 * issued before "ready" are queued and sent after the negotiation. `func`
 * runs exactly once, never from inside this call: with the "return" value,
 * or with an error (QMP_ERROR_COMMAND for an error reply, QMP_ERROR_TIMEOUT,
 * QMP_ERROR_CLOSED...). `func` may be NULL. Returns the command id. */
guint64 qmp_client_execute (QmpClient *client, const char *command, json_t *args, QmpReplyFunc func,
                            gpointer user_data);

/* Subscribes to one event name, or "*" for all. Returns an id > 0 for
 * qmp_client_unsubscribe(). `destroy` (may be NULL) frees user_data when the
 * subscription ends or the client is finalized. */
guint qmp_client_subscribe (QmpClient *client, const char *event, QmpEventFunc func,
                            gpointer user_data, GDestroyNotify destroy);
void qmp_client_unsubscribe (QmpClient *client, guint subscription_id);

G_END_DECLS
