/* qmp-backoff.h: capped exponential backoff (plain arithmetic) and QmpRetry,
 * the one reconnect timer of the tree: a backoff that owns a QmpTimer. */
#pragma once

#include <glib.h>

#include "qmp-loop.h"

G_BEGIN_DECLS

typedef struct
{
  guint initial_ms;
  guint max_ms;
  guint next_ms; /* the delay qmp_backoff_next_ms() returns next */
} QmpBackoff;

/* initial_ms 0 is taken as 1; max_ms below initial_ms is raised to it. */
void qmp_backoff_init (QmpBackoff *backoff, guint initial_ms, guint max_ms);
/* Returns the delay to wait before the next attempt: initial, then doubling
 * on each call, never above max_ms. */
guint qmp_backoff_next_ms (QmpBackoff *backoff);
/* After a successful connection: the next delay is initial_ms again. */
void qmp_backoff_reset (QmpBackoff *backoff);

typedef QmpTimerFunc QmpRetryFunc;

/* A one-shot timer on the default main context that calls `func` after the
 * next backoff delay (a delay of 1 s or more fires on a whole second of the
 * monotonic clock: up to a second late, never early). A QmpTimer (qmp-loop.h):
 * a thousand VMs waiting to reconnect cost the main loop one source, not a
 * thousand. Embed it in the object `user_data` points to. */
typedef struct
{
  QmpBackoff backoff;
  QmpTimer timer; /* calls the retry's func with its user_data */
} QmpRetry;

void qmp_retry_init (QmpRetry *retry, guint initial_ms, guint max_ms, QmpRetryFunc func,
                     gpointer user_data);
/* Arms the timer for the next backoff delay unless it is already armed.
 * Returns the delay armed now, or 0 when one was pending. */
guint qmp_retry_schedule (QmpRetry *retry);
/* Arms the timer for exactly `delay_ms` (a penalty longer than the backoff's
 * cap), replacing a pending one. */
void qmp_retry_schedule_in (QmpRetry *retry, guint delay_ms);
gboolean qmp_retry_pending (const QmpRetry *retry);
/* Disarms a pending timer; safe when none is (and before teardown). */
void qmp_retry_cancel (QmpRetry *retry);
/* After a success: the next delay is initial_ms again (a pending timer stays). */
void qmp_retry_reset (QmpRetry *retry);

G_END_DECLS
