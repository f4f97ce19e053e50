/* qmp-backoff.c: capped exponential backoff between reconnection attempts,
 * and QmpRetry, the backoff with its own one-shot QmpTimer. */
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

static void
retry_arm (QmpRetry *retry, guint delay_ms)
{
  gint64 due_mono_us = g_get_monotonic_time () + (gint64) delay_ms * 1000;
  /* Whole seconds fire together: a thousand VMs retrying their sockets wake
   * the daemon once a second, not a thousand times. */
  if (delay_ms >= 1000)
    due_mono_us = (due_mono_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC * G_USEC_PER_SEC;
  qmp_timer_arm (&retry->timer, due_mono_us);
}

void
qmp_retry_init (QmpRetry *retry, guint initial_ms, guint max_ms, QmpRetryFunc func,
                gpointer user_data)
{
  qmp_backoff_init (&retry->backoff, initial_ms, max_ms);
  qmp_timer_init (&retry->timer, NULL, func, user_data);
}

guint
qmp_retry_schedule (QmpRetry *retry)
{
  if (qmp_timer_armed (&retry->timer))
    return 0;
  guint delay_ms = qmp_backoff_next_ms (&retry->backoff);
  retry_arm (retry, delay_ms);
  return delay_ms;
}

void
qmp_retry_schedule_in (QmpRetry *retry, guint delay_ms)
{
  retry_arm (retry, delay_ms);
}

gboolean
qmp_retry_pending (const QmpRetry *retry)
{
  return qmp_timer_armed (&retry->timer);
}

void
qmp_retry_cancel (QmpRetry *retry)
{
  qmp_timer_cancel (&retry->timer);
}

void
qmp_retry_reset (QmpRetry *retry)
{
  qmp_backoff_reset (&retry->backoff);
}
