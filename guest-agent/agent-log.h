/* agent-log.h: the agent's one log format, "ballast-agent: ..." lines on
 * stderr, for each of its files (inline: the agent links no log library). */
#pragma once

#include <stdarg.h>
#include <stdio.h>

static inline void agent_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static inline void
agent_log (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  fputs ("ballast-agent: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
  va_end (ap);
}
