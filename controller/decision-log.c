/* decision-log.c: a fixed ring, so a busy host's log costs a constant
 * amount of memory however long the daemon runs. */
#include "decision-log.h"

#include <string.h>

#include "control.h"

/* Enough history for an operator to see the last minutes of a busy host. */
#define DECISION_LOG_LEN 512

struct _DecisionLog
{
  DecisionEntry entries[DECISION_LOG_LEN];
  guint next;
  guint count;
};

DecisionLog *
decision_log_new (void)
{
  return g_new0 (DecisionLog, 1);
}

void
decision_log_free (DecisionLog *log)
{
  g_free (log);
}

DecisionEntry *
decision_log_push (DecisionLog *log, const char *vm_name, gint64 time_ms)
{
  DecisionEntry *e = &log->entries[log->next];
  memset (e, 0, sizeof *e);
  e->time_ms = time_ms;
  g_strlcpy (e->vm, vm_name, sizeof e->vm);
  log->next = (log->next + 1) % DECISION_LOG_LEN;
  log->count = MIN (log->count + 1, DECISION_LOG_LEN);
  return e;
}

json_t *
decision_log_to_json (const DecisionLog *log, guint limit)
{
  guint n = MIN (log->count, limit);
  json_t *list = json_array ();
  for (guint i = 0; i < n; i++)
    {
      const DecisionEntry *e
          = &log->entries[(log->next + DECISION_LOG_LEN - n + i) % DECISION_LOG_LEN];
      json_array_append_new (
          list,
          json_pack ("{s:I,s:s,s:o,s:o,s:s,s:o}", "time_ms", (json_int_t) e->time_ms, "vm", e->vm,
                     "old_target_bytes", ctl_json_bytes (e->had_old, e->old_target_bytes),
                     "new_target_bytes", ctl_json_bytes (e->had_new, e->new_target_bytes), "reason",
                     e->reason, "applied", e->had_new ? json_boolean (e->applied) : json_null ()));
    }
  return list;
}
