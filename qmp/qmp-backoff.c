/* qmp-backoff.c: capped exponential backoff between reconnection attempts;
 * the caller owns the timer, this only computes the delays. */
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
