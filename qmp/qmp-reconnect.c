/* qmp-reconnect.c: one QmpClient at a time per socket path; a closed or
 * failed client is dropped and a new one is started after a backoff delay. */
#define G_LOG_DOMAIN "ballast-qmp"

#include "qmp-reconnect.h"

struct _QmpReconnect {
  GMainContext *context;
  char *socket_path;
  QmpClientOptions options;
  QmpBackoff backoff;
  QmpReconnectReadyFunc ready;
  QmpReconnectLostFunc lost;
  gpointer user_data;
  QmpClient *client; /* the current attempt or connection */
  gboolean client_ready;
  GSource *retry;
};

static void schedule_attempt (QmpReconnect *r, guint delay_ms);

static void
on_ready (QmpClient *client, gpointer data)
{
  QmpReconnect *r = data;
  r->client_ready = TRUE;
  qmp_backoff_reset (&r->backoff);
  if (r->ready != NULL)
    r->ready (r, client, r->user_data);
}

static void
lose (QmpReconnect *r, const GError *error)
{
  guint retry_ms = qmp_backoff_next_ms (&r->backoff);
  /* Safe even from the client's own closed callback (see qmp_client_unref). */
  g_clear_pointer (&r->client, qmp_client_unref);
  r->client_ready = FALSE;
  schedule_attempt (r, retry_ms);
  if (r->lost != NULL)
    r->lost (r, error, retry_ms, r->user_data);
}

static void
on_closed (QmpClient *client, const GError *error, gpointer data)
{
  QmpReconnect *r = data;
  g_autoptr (GError) closed = error ? NULL
                                    : g_error_new_literal (QMP_ERROR, QMP_ERROR_CLOSED,
                                                           "QMP connection closed");
  lose (r, error ? error : closed);
}

static gboolean
on_attempt (gpointer data)
{
  QmpReconnect *r = data;
  QmpClientCallbacks callbacks = { .ready = on_ready, .closed = on_closed, .user_data = r };
  g_autoptr (GError) error = NULL;

  g_clear_pointer (&r->retry, g_source_unref);
  g_main_context_push_thread_default (r->context);
  r->client = qmp_client_new (&r->options, &callbacks);
  g_main_context_pop_thread_default (r->context);
  if (!qmp_client_connect (r->client, r->socket_path, &error))
    lose (r, error);
  return G_SOURCE_REMOVE;
}

static void
schedule_attempt (QmpReconnect *r, guint delay_ms)
{
  g_assert (r->retry == NULL);
  r->retry = delay_ms ? g_timeout_source_new (delay_ms) : g_idle_source_new ();
  g_source_set_callback (r->retry, on_attempt, r, NULL);
  g_source_attach (r->retry, r->context);
}

QmpReconnect *
qmp_reconnect_new (const char *socket_path, const QmpClientOptions *options, guint initial_ms,
                   guint max_ms, QmpReconnectReadyFunc ready, QmpReconnectLostFunc lost,
                   gpointer user_data)
{
  g_return_val_if_fail (socket_path != NULL, NULL);

  QmpReconnect *r = g_new0 (QmpReconnect, 1);
  r->context = g_main_context_ref_thread_default ();
  r->socket_path = g_strdup (socket_path);
  if (options != NULL)
    r->options = *options;
  qmp_backoff_init (&r->backoff, initial_ms, max_ms);
  r->ready = ready;
  r->lost = lost;
  r->user_data = user_data;
  schedule_attempt (r, 0);
  return r;
}

void
qmp_reconnect_free (QmpReconnect *r)
{
  if (r == NULL)
    return;
  if (r->retry != NULL)
    {
      g_source_destroy (r->retry);
      g_clear_pointer (&r->retry, g_source_unref);
    }
  g_clear_pointer (&r->client, qmp_client_unref);
  g_main_context_unref (r->context);
  g_free (r->socket_path);
  g_free (r);
}

QmpClient *
qmp_reconnect_get_client (QmpReconnect *r)
{
  g_return_val_if_fail (r != NULL, NULL);
  return r->client_ready ? r->client : NULL;
}
