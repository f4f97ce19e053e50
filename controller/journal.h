/* journal.h: ballastd's log lines an operator filters on, as structured
 * records: MESSAGE_ID per kind, BALLAST_VM and BALLAST_REASON, so that
 * `journalctl -u ballastd BALLAST_VM=web1` works. */
#pragma once

#include <glib.h>

/* The kinds with a fixed MESSAGE_ID (the ids are in journal.c and in
 * docs/ballastd.md; never change one once released). */
typedef enum
{
  BALLAST_LOG_DECISION,         /* a new balloon target */
  BALLAST_LOG_VM_ADDED,         /* a VM is managed */
  BALLAST_LOG_VM_LOST,          /* a VM's link went, or the VM did */
  BALLAST_LOG_KSM_STATE,        /* the KSM half changed state */
  BALLAST_LOG_OVERLOAD,         /* the VMs' needs exceed the budget */
  BALLAST_LOG_OVERLOAD_CLEARED, /* ... and fit again */
} BallastLogKind;

/* The MESSAGE_ID of `kind`: 32 hex digits. */
const char *ballast_log_message_id (BallastLogKind kind);

/* Logs one record in `domain` at `level`; `vm` and `reason` (may be NULL)
 * become BALLAST_VM= and BALLAST_REASON=. */
void ballast_log (const char *domain, GLogLevelFlags level, BallastLogKind kind, const char *vm,
                  const char *reason, const char *format, ...) G_GNUC_PRINTF (6, 7);
