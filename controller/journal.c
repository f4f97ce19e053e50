/* journal.c: see journal.h. Records go through g_log_structured_array, so
 * GLib's writer sends them to the journal under systemd (fields intact)
 * and prints the message on stderr otherwise. */
#include "journal.h"

#include <stdarg.h>

/* Made once with a random generator, as systemd's catalog ids are. */
static const char *const ballast_log_ids[] = {
  [BALLAST_LOG_DECISION] = "8cdd5c75a9a04fbeaacad1f612d63906",
  [BALLAST_LOG_VM_ADDED] = "f0289508748140f1af181cf3cb3d9245",
  [BALLAST_LOG_VM_LOST] = "6d3c99ef07e14fd59e5437128cde3519",
  [BALLAST_LOG_KSM_STATE] = "4652bd8fe8f84ff3be59dccc2e2bad88",
  [BALLAST_LOG_OVERLOAD] = "798aacb2d9b04307bc573b5841732d2b",
  [BALLAST_LOG_OVERLOAD_CLEARED] = "9c21b9f5e41e426bb211df44f93d454d",
};

const char *
ballast_log_message_id (BallastLogKind kind)
{
  g_return_val_if_fail ((gsize) kind < G_N_ELEMENTS (ballast_log_ids), "");
  return ballast_log_ids[kind];
}

/* syslog priorities, as g_log_structured gives them. */
static const char *
ballast_log_priority (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "3";
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return "4";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "5";
  if (level & G_LOG_LEVEL_INFO)
    return "6";
  return "7";
}

void
ballast_log (const char *domain, GLogLevelFlags level, BallastLogKind kind, const char *vm,
             const char *reason, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *message = g_strdup_vprintf (format, ap);
  va_end (ap);
  GLogField fields[6];
  gsize n = 0;
  fields[n++] = (GLogField){ "MESSAGE", message, -1 };
  fields[n++] = (GLogField){ "PRIORITY", ballast_log_priority (level), -1 };
  fields[n++] = (GLogField){ "GLIB_DOMAIN", domain, -1 };
  fields[n++] = (GLogField){ "MESSAGE_ID", ballast_log_message_id (kind), -1 };
  if (vm != NULL && *vm != '\0')
    fields[n++] = (GLogField){ "BALLAST_VM", vm, -1 };
  if (reason != NULL && *reason != '\0')
    fields[n++] = (GLogField){ "BALLAST_REASON", reason, -1 };
  g_log_structured_array (level, fields, n);
}
