/* rate-limit.h: the token bucket every per-VM and per-link limit uses
 * (agent lines, extra ticks, kicks, log lines). Time is passed in. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct
{
  uint64_t per_minute;
  uint64_t burst;
  uint64_t tokens_milli;
  int64_t last_us;
  gboolean started;
} RateLimit;

/* `per_minute` sustained, `burst` at once (at least 1); starts full. */
void rate_limit_init (RateLimit *rl, guint per_minute, guint burst);
/* Returns TRUE and spends a token when one more event at `now_us`
 * (monotonic) is allowed. */
gboolean rate_limit_allow (RateLimit *rl, int64_t now_us);
