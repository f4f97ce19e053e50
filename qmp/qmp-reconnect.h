/* qmp-reconnect.h: keeps one QMP connection up: connects, and after any
 * failure or close retries with capped exponential backoff (QmpBackoff). */
#pragma once

#include "qmp-backoff.h"
#include "qmp-client.h"

G_BEGIN_DECLS

typedef struct _QmpReconnect QmpReconnect;

/* A fresh client finished its negotiation; subscribe to events on it here.
 * It is borrowed: valid until the next lost callback or qmp_reconnect_free(). */
typedef void (*QmpReconnectReadyFunc) (QmpReconnect *reconnect, QmpClient *client,
                                       gpointer user_data);
/* A connection attempt failed or a ready connection ended; the next attempt
 * starts in `retry_ms`. */
typedef void (*QmpReconnectLostFunc) (QmpReconnect *reconnect, const GError *error,
                                      guint retry_ms, gpointer user_data);

/* Starts the first attempt from the main loop (never from inside this call).
 * `options` may be NULL; `initial_ms`/`max_ms` as qmp_backoff_init(). */
QmpReconnect *qmp_reconnect_new (const char *socket_path, const QmpClientOptions *options,
                                 guint initial_ms, guint max_ms, QmpReconnectReadyFunc ready,
                                 QmpReconnectLostFunc lost, gpointer user_data);
/* Closes the connection without calling the lost callback. */
void qmp_reconnect_free (QmpReconnect *reconnect);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpReconnect, qmp_reconnect_free)
/* The ready client, or NULL while (re)connecting. Borrowed. */
QmpClient *qmp_reconnect_get_client (QmpReconnect *reconnect);

G_END_DECLS
