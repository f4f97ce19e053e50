/* qmp-sync.c: the blocking QMP API: each call drives the async client on a
 * private main context until its callback ran (bounded by the client's timeouts). */
#define G_LOG_DOMAIN "ballast-qmp"

#include "qmp-sync.h"

typedef struct _Wait Wait;

struct _QmpSync
{
  GMainContext *context;
  QmpClient *client;
  Wait *connecting; /* only while qmp_sync_connect() runs */
  gboolean closed;
};

struct _Wait
{
  gboolean done;
  GError *error;
  json_t *ret;
  guint64 actual_bytes;
  char *path;
  QmpGuestStats stats;
  gboolean flag;
};

static void
wait_run (QmpSync *s, Wait *w)
{
  /* Every path of the client ends in a callback: a reply, a timeout or a
   * close, so this loop is bounded by the configured timeouts. */
  while (!w->done)
    g_main_context_iteration (s->context, TRUE);
}

static gboolean
wait_finish (Wait *w, GError **error)
{
  if (w->error != NULL)
    {
      g_propagate_error (error, w->error);
      w->error = NULL;
      return FALSE;
    }
  return TRUE;
}

static void
on_ready (QmpClient *client, gpointer data)
{
  QmpSync *s = data;
  if (s->connecting != NULL)
    s->connecting->done = TRUE;
}

/* After the connection phase a close needs no handling here: the pending
 * command, if any, fails and ends its own wait. */
static void
on_closed (QmpClient *client, const GError *error, gpointer data)
{
  QmpSync *s = data;
  Wait *w = s->connecting;
  s->closed = TRUE;
  if (w == NULL || w->done)
    return;
  w->done = TRUE;
  w->error = error ? g_error_copy (error)
                   : g_error_new_literal (QMP_ERROR, QMP_ERROR_CLOSED, "QMP connection closed");
}

QmpSync *
qmp_sync_connect (const char *socket_path, guint timeout_ms, GError **error)
{
  g_return_val_if_fail (socket_path != NULL, NULL);

  QmpSync *s = g_new0 (QmpSync, 1);
  Wait w = { 0 };
  QmpClientOptions options = {
    .command_timeout_ms = timeout_ms,
    .greeting_timeout_ms = timeout_ms,
  };
  QmpClientCallbacks callbacks = { .ready = on_ready, .closed = on_closed, .user_data = s };

  s->context = g_main_context_new ();
  g_main_context_push_thread_default (s->context);
  s->client = qmp_client_new (&options, &callbacks);
  g_main_context_pop_thread_default (s->context);
  if (!qmp_client_connect (s->client, socket_path, error))
    {
      qmp_sync_free (s);
      return NULL;
    }
  s->connecting = &w;
  wait_run (s, &w);
  s->connecting = NULL;
  if (!wait_finish (&w, error))
    {
      qmp_sync_free (s);
      return NULL;
    }
  return s;
}

void
qmp_sync_free (QmpSync *s)
{
  if (s == NULL)
    return;
  g_clear_pointer (&s->client, qmp_client_unref);
  /* Let sources destroyed by the client be released with the context. */
  while (g_main_context_iteration (s->context, FALSE))
    ;
  g_main_context_unref (s->context);
  g_free (s);
}

QmpClient *
qmp_sync_get_client (QmpSync *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  return s->client;
}

static gboolean
on_run_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
qmp_sync_run (QmpSync *s, guint timeout_ms)
{
  g_return_val_if_fail (s != NULL, FALSE);
  gboolean expired = FALSE;
  GSource *t = g_timeout_source_new (timeout_ms);
  g_source_set_callback (t, on_run_timeout, &expired, NULL);
  g_source_attach (t, s->context);
  while (!expired && !s->closed)
    g_main_context_iteration (s->context, TRUE);
  g_source_destroy (t);
  g_source_unref (t);
  return !s->closed;
}

static void
on_reply (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Wait *w = data;
  w->done = TRUE;
  w->error = error ? g_error_copy (error) : NULL;
  w->ret = ret ? json_incref (ret) : NULL;
}

json_t *
qmp_sync_execute (QmpSync *s, const char *command, json_t *args, GError **error)
{
  g_return_val_if_fail (s != NULL && command != NULL, NULL);

  Wait w = { 0 };
  qmp_client_execute (s->client, command, args, on_reply, &w);
  wait_run (s, &w);
  if (!wait_finish (&w, error))
    return NULL;
  return w.ret;
}

static void
on_done (QmpClient *client, const GError *error, gpointer data)
{
  Wait *w = data;
  w->done = TRUE;
  w->error = error ? g_error_copy (error) : NULL;
}

static void
on_path (QmpClient *client, const char *path, const GError *error, gpointer data)
{
  Wait *w = data;
  w->done = TRUE;
  w->error = error ? g_error_copy (error) : NULL;
  w->path = g_strdup (path);
}

char *
qmp_sync_find_balloon_path (QmpSync *s, GError **error)
{
  g_return_val_if_fail (s != NULL, NULL);

  Wait w = { 0 };
  qmp_client_find_balloon_path (s->client, on_path, &w);
  wait_run (s, &w);
  if (!wait_finish (&w, error))
    return NULL;
  return w.path;
}

static void
on_balloon (QmpClient *client, guint64 actual_bytes, const GError *error, gpointer data)
{
  Wait *w = data;
  w->done = TRUE;
  w->error = error ? g_error_copy (error) : NULL;
  w->actual_bytes = actual_bytes;
}

gboolean
qmp_sync_query_balloon (QmpSync *s, guint64 *actual_bytes, GError **error)
{
  g_return_val_if_fail (s != NULL, FALSE);

  Wait w = { 0 };
  qmp_client_query_balloon (s->client, on_balloon, &w);
  wait_run (s, &w);
  if (!wait_finish (&w, error))
    return FALSE;
  if (actual_bytes != NULL)
    *actual_bytes = w.actual_bytes;
  return TRUE;
}

gboolean
qmp_sync_set_balloon (QmpSync *s, guint64 target_bytes, GError **error)
{
  g_return_val_if_fail (s != NULL, FALSE);

  Wait w = { 0 };
  qmp_client_set_balloon (s->client, target_bytes, on_done, &w);
  wait_run (s, &w);
  return wait_finish (&w, error);
}

gboolean
qmp_sync_set_stats_polling (QmpSync *s, const char *balloon_path, guint interval_s, GError **error)
{
  g_return_val_if_fail (s != NULL && balloon_path != NULL, FALSE);

  Wait w = { 0 };
  qmp_client_set_stats_polling (s->client, balloon_path, interval_s, on_done, &w);
  wait_run (s, &w);
  return wait_finish (&w, error);
}

static void
on_stats (QmpClient *client, const QmpGuestStats *stats, const GError *error, gpointer data)
{
  Wait *w = data;
  w->done = TRUE;
  w->error = error ? g_error_copy (error) : NULL;
  if (stats != NULL)
    w->stats = *stats;
}

gboolean
qmp_sync_guest_stats (QmpSync *s, const char *balloon_path, QmpGuestStats *out, GError **error)
{
  g_return_val_if_fail (s != NULL && balloon_path != NULL && out != NULL, FALSE);

  Wait w = { 0 };
  qmp_client_guest_stats (s->client, balloon_path, on_stats, &w);
  wait_run (s, &w);
  if (!wait_finish (&w, error))
    return FALSE;
  *out = w.stats;
  return TRUE;
}

static void
on_flag (QmpClient *client, gboolean value, const GError *error, gpointer data)
{
  Wait *w = data;
  w->done = TRUE;
  w->error = error ? g_error_copy (error) : NULL;
  w->flag = value;
}

gboolean
qmp_sync_balloon_flag (QmpSync *s, const char *balloon_path, const char *property,
                       gboolean *out, GError **error)
{
  g_return_val_if_fail (s != NULL && balloon_path != NULL && property != NULL && out != NULL,
                        FALSE);

  Wait w = { 0 };
  qmp_client_balloon_flag (s->client, balloon_path, property, on_flag, &w);
  wait_run (s, &w);
  if (!wait_finish (&w, error))
    return FALSE;
  *out = w.flag;
  return TRUE;
}
