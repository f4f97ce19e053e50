/* qmp-backoff.c: capped exponential backoff between reconnection attempts,
 * and QmpRetry, the backoff with its own one-shot timer. */
#include "qmp-backoff.h"

void
qmp_backoff_init (QmpBackoff *backoff, guint initial_ms, guint max_ms)
{
  g_return_if_fail (backoff != NULL);
  backoff->initial_ms = MAX (initial_ms, 1);
  backoff->max_ms = MAX (max_ms, backoff->initial_ms);
  backoff->next_ms = backoff->initial_ms;
}

guint
qmp_backoff_next_ms (QmpBackoff *backoff)
{
  g_return_val_if_fail (backoff != NULL, 0);
  guint delay_ms = backoff->next_ms;
  backoff->next_ms = delay_ms > backoff->max_ms / 2 ? backoff->max_ms : delay_ms * 2;
  return delay_ms;
}

void
qmp_backoff_reset (QmpBackoff *backoff)
{
  g_return_if_fail (backoff != NULL);
  backoff->next_ms = backoff->initial_ms;
}

void
qmp_retry_init (QmpRetry *retry, guint initial_ms, guint max_ms, QmpRetryFunc func,
                gpointer user_data)
{
  qmp_backoff_init (&retry->backoff, initial_ms, max_ms);
  retry->source_id = 0;
  retry->func = func;
  retry->user_data = user_data;
}

/* Delays of a second or more go on GLib's whole-second timers, which fire
 * together: a thousand VMs retrying their sockets wake the daemon once a
 * second, not a thousand times (each wakeup polls every descriptor). */
static guint
retry_arm (QmpRetry *retry, guint delay_ms, GSourceFunc fire)
{
  if (delay_ms >= 1000)
    return g_timeout_add_seconds (delay_ms / 1000, fire, retry);
  return g_timeout_add (delay_ms, fire, retry);
}

static gboolean
retry_fire (gpointer data)
{
  QmpRetry *retry = data;
  retry->source_id = 0;
  retry->func (retry->user_data);
  return G_SOURCE_REMOVE;
}

guint
qmp_retry_schedule (QmpRetry *retry)
{
  if (retry->source_id != 0)
    return 0;
  guint delay_ms = qmp_backoff_next_ms (&retry->backoff);
  retry->source_id = retry_arm (retry, delay_ms, retry_fire);
  return delay_ms;
}

void
qmp_retry_schedule_in (QmpRetry *retry, guint delay_ms)
{
  g_clear_handle_id (&retry->source_id, g_source_remove);
  retry->source_id = retry_arm (retry, delay_ms, retry_fire);
}

gboolean
qmp_retry_pending (const QmpRetry *retry)
{
  return retry->source_id != 0;
}

void
qmp_retry_cancel (QmpRetry *retry)
{
  g_clear_handle_id (&retry->source_id, g_source_remove);
}

void
qmp_retry_reset (QmpRetry *retry)
{
  qmp_backoff_reset (&retry->backoff);
}
