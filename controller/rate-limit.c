/* rate-limit.c: a token bucket in thousandths of a token, so slow rates
 * (a few a minute) refill smoothly without floating point. */
#include "rate-limit.h"

#include <string.h>

void
rate_limit_init (RateLimit *rl, guint per_minute, guint burst)
{
  memset (rl, 0, sizeof *rl);
  rl->per_minute = per_minute;
  rl->burst = MAX (burst, 1u);
  rl->tokens_milli = rl->burst * 1000;
}

gboolean
rate_limit_allow (RateLimit *rl, int64_t now_us)
{
  if (!rl->started)
    {
      rl->started = TRUE;
      rl->last_us = now_us;
    }
  if (now_us > rl->last_us)
    {
      /* tokens (milli) gained = per_minute * elapsed_us / 60000; cap the
       * elapsed time so the product cannot overflow. */
      uint64_t elapsed = (uint64_t) (now_us - rl->last_us);
      elapsed = MIN (elapsed, (uint64_t) 3600 * G_USEC_PER_SEC);
      rl->tokens_milli
          = MIN (rl->tokens_milli + rl->per_minute * elapsed / 60000, rl->burst * 1000);
      rl->last_us = now_us;
    }
  if (rl->tokens_milli < 1000)
    return FALSE;
  rl->tokens_milli -= 1000;
  return TRUE;
}
