/* decision-log.h: the ring of recent decisions and kicks the control socket
 * shows (query-decisions); newest last. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"

typedef struct
{
  gint64 time_ms;               /* wall clock, ms since the epoch */
  char vm[CFG_MAX_VM_NAME + 1]; /* "" for a host-wide kick */
  gboolean had_old;
  guint64 old_target_bytes;
  gboolean had_new; /* FALSE for a kick: no target */
  guint64 new_target_bytes;
  char reason[48];
  gboolean applied; /* FALSE in dry-run */
} DecisionEntry;

typedef struct _DecisionLog DecisionLog;

DecisionLog *decision_log_new (void);
void decision_log_free (DecisionLog *log);
/* The next slot, cleared and stamped with `time_ms`; it overwrites the oldest. */
DecisionEntry *decision_log_push (DecisionLog *log, const char *vm_name, gint64 time_ms);
/* The newest `limit` entries, oldest first. */
json_t *decision_log_to_json (const DecisionLog *log, guint limit);
