/* agent-report.h: the text of the agent's messages (hello, report, pressure),
 * formatted from figures already gathered; no I/O, so tests pin the wire output. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent-json.h"
#include "agent-mglru.h"
#include "agent-proc.h"
#include "agent-reclaim.h"

typedef struct
{
  const char *agent; /* "ballast-agent VERSION" */
  const char *kernel;
  long page_size;
  bool mglru;
  bool psi;
  bool reclaim; /* memory.reclaim is there and writable */
  uint32_t interval_ms;
  const uint64_t *edges_ms;
  unsigned n_edges;
  uint64_t aging_ms; /* sent only with mglru, with the ws_* method fields */
} AgentHello;

typedef struct
{
  uint64_t seq;
  uint64_t uptime_ms;
  const AgentMeminfo *mem;
  const AgentPsi *psi; /* NULL: sent as null (no PSI) */
  const AgentVmstat *vmstat;
  const char *ws_source;    /* "mglru" or "meminfo" */
  const uint64_t *edges_ms; /* upper edges of every bin but the last, open one */
  unsigned n_edges;
  const AgentBin *bins; /* n_edges + 1 */
  uint64_t cpu_us;
  uint64_t dropped;
  uint64_t aging_errors;
  const AgentReclaim *reclaim; /* its counters; NULL: left out */
} AgentReport;

typedef struct
{
  uint64_t seq;
  uint64_t uptime_ms;
  const AgentPsi *psi;
  uint64_t available_bytes;
} AgentPressure;

/* Each appends one message, without its newline, to @b; a message that does
 * not fit leaves @b->overflow set (the caller drops it). */
void agent_format_hello (AgentBuf *b, const AgentHello *h);
void agent_format_report (AgentBuf *b, const AgentReport *r);
void agent_format_pressure (AgentBuf *b, const AgentPressure *p);
