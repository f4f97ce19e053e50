/* qmp-backoff.h: capped exponential backoff for reconnecting to a QMP
 * socket (plain arithmetic, no clock, no main loop). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
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

G_END_DECLS
