/* agent-reclaim.h: guest-side proactive reclaim on the host's request: which
 * requests run (a cap per message, a minimum gap between runs) and the write
 * to cgroup v2 memory.reclaim. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The root cgroup's file: reclaim from the whole guest (Linux >= 5.19). */
#define AGENT_RECLAIM_PATH "/sys/fs/cgroup/memory.reclaim"

typedef struct
{
  bool has_run;
  uint64_t last_run_ms;
  uint64_t done;        /* writes the kernel took (a partial reclaim included) */
  uint64_t asked_bytes; /* what those writes asked for, after the cap */
  uint64_t refused;     /* reclaim lines refused as malformed or of another version */
  uint64_t dropped;     /* valid requests not run: too soon after the last run */
  uint64_t errors;      /* writes that failed (no cgroup2, not writable, ...) */
} AgentReclaim;

/* Decides on a valid request for @bytes arriving at @now_ms: returns what to
 * ask the kernel for (at most AGENT_WIRE_RECLAIM_MAX_BYTES), or returns 0 and
 * counts it dropped when it comes less than AGENT_WIRE_RECLAIM_MIN_GAP_MS
 * after the end of the last run. */
uint64_t agent_reclaim_admit (AgentReclaim *r, uint64_t bytes, uint64_t now_ms);
/* Records a run that asked for @asked_bytes and ended at @now_ms with
 * @result, agent_reclaim_write()'s return value. */
void agent_reclaim_finish (AgentReclaim *r, uint64_t asked_bytes, int result, uint64_t now_ms);

/* Writes @bytes in decimal to @path (memory.reclaim) in one write. Returns
 * 0 when the kernel reclaimed all of it, 1 when it reclaimed less (EAGAIN:
 * normal, not an error), else -errno. */
int agent_reclaim_write (const char *path, uint64_t bytes);

/* True when @path exists and this process may write it. */
bool agent_reclaim_available (const char *path);
