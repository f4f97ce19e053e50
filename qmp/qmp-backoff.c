/* qmp-backoff.c: capped exponential backoff between reconnection attempts,
 * and QmpRetry, the backoff with a one-shot timer on one shared queue. */
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

/* ---- the shared queue: armed retries by due time, one source ----------- */

static GSource *retry_source;
static GSequence *retry_queue; /* QmpRetry*, soonest first */

static gint
retry_compare (gconstpointer a, gconstpointer b, gpointer data)
{
  const QmpRetry *ra = a, *rb = b;
  (void) data;
  return ra->due_mono_us < rb->due_mono_us ? -1 : ra->due_mono_us > rb->due_mono_us;
}

static void
retry_queue_rearm (void)
{
  GSequenceIter *first = g_sequence_get_begin_iter (retry_queue);
  g_source_set_ready_time (retry_source, g_sequence_iter_is_end (first)
                                             ? -1
                                             : ((QmpRetry *) g_sequence_get (first))->due_mono_us);
}

/* Fires what is due, soonest first, one at a time: a callback may cancel or
 * free other retries. One armed during this dispatch is due after `now`. */
static gboolean
retry_queue_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  gint64 now_mono_us = g_source_get_time (source);

  (void) callback;
  (void) user_data;
  for (;;)
    {
      GSequenceIter *first = g_sequence_get_begin_iter (retry_queue);
      if (g_sequence_iter_is_end (first))
        break;
      QmpRetry *retry = g_sequence_get (first);
      if (retry->due_mono_us > now_mono_us)
        break;
      g_sequence_remove (first);
      retry->queued = NULL;
      retry->func (retry->user_data);
    }
  retry_queue_rearm ();
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs retry_queue_funcs = { .dispatch = retry_queue_dispatch };

static void
retry_arm (QmpRetry *retry, guint delay_ms)
{
  if (retry_source == NULL)
    {
      retry_queue = g_sequence_new (NULL);
      retry_source = g_source_new (&retry_queue_funcs, sizeof (GSource));
      g_source_set_static_name (retry_source, "qmp-retry");
      g_source_attach (retry_source, NULL);
    }
  gint64 due_mono_us = g_get_monotonic_time () + MAX ((gint64) delay_ms * 1000, 1);
  /* Whole seconds fire together: a thousand VMs retrying their sockets wake
   * the daemon once a second, not a thousand times. */
  if (delay_ms >= 1000)
    due_mono_us = (due_mono_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC * G_USEC_PER_SEC;
  retry->due_mono_us = due_mono_us;
  retry->queued = g_sequence_insert_sorted (retry_queue, retry, retry_compare, NULL);
  retry_queue_rearm ();
}

void
qmp_retry_init (QmpRetry *retry, guint initial_ms, guint max_ms, QmpRetryFunc func,
                gpointer user_data)
{
  qmp_backoff_init (&retry->backoff, initial_ms, max_ms);
  retry->queued = NULL;
  retry->due_mono_us = 0;
  retry->func = func;
  retry->user_data = user_data;
}

guint
qmp_retry_schedule (QmpRetry *retry)
{
  if (retry->queued != NULL)
    return 0;
  guint delay_ms = qmp_backoff_next_ms (&retry->backoff);
  retry_arm (retry, delay_ms);
  return delay_ms;
}

void
qmp_retry_schedule_in (QmpRetry *retry, guint delay_ms)
{
  qmp_retry_cancel (retry);
  retry_arm (retry, delay_ms);
}

gboolean
qmp_retry_pending (const QmpRetry *retry)
{
  return retry->queued != NULL;
}

void
qmp_retry_cancel (QmpRetry *retry)
{
  if (retry->queued == NULL)
    return;
  g_sequence_remove (retry->queued);
  retry->queued = NULL;
  retry_queue_rearm ();
}

void
qmp_retry_reset (QmpRetry *retry)
{
  qmp_backoff_reset (&retry->backoff);
}
