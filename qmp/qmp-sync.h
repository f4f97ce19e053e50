/* qmp-sync.h: a small blocking QMP API for CLI tools and tests. Each call runs
 * a private main context until the answer or the timeout; never use it inside
 * the daemon's main loop. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "qmp-balloon.h"
#include "qmp-error.h"

G_BEGIN_DECLS

typedef struct _QmpSync QmpSync;

/* Connects to the unix socket, reads the greeting and negotiates
 * qmp_capabilities. `timeout_ms` bounds the connection and each later
 * command (0 = the library default, 5 s). Returns NULL with an error. */
QmpSync *qmp_sync_connect (const char *socket_path, guint timeout_ms, GError **error);
/* Runs one command. `args` is stolen and may be NULL. Returns a new reference
 * to the "return" value, or NULL with an error (QMP_ERROR_COMMAND with the
 * QMP class in the message for an error reply). */
json_t *qmp_sync_execute (QmpSync *s, const char *command, json_t *args, GError **error);
void qmp_sync_free (QmpSync *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpSync, qmp_sync_free)

/* The async client underneath, e.g. to subscribe to events; they are
 * delivered while a qmp_sync_* call runs. */
QmpClient *qmp_sync_get_client (QmpSync *s);

/* Runs the connection for `timeout_ms`, delivering events to subscribers
 * meanwhile. Returns FALSE once the peer has closed it. */
gboolean qmp_sync_run (QmpSync *s, guint timeout_ms);

/* Typed helpers; see qmp-balloon.h for the semantics. Strings are newly
 * allocated; FALSE/NULL come with an error. */
char *qmp_sync_find_balloon_path (QmpSync *s, GError **error);
gboolean qmp_sync_query_balloon (QmpSync *s, guint64 *actual_bytes, GError **error);
gboolean qmp_sync_set_balloon (QmpSync *s, guint64 target_bytes, GError **error);
gboolean qmp_sync_set_stats_polling (QmpSync *s, const char *balloon_path, guint interval_s,
                                     GError **error);
gboolean qmp_sync_guest_stats (QmpSync *s, const char *balloon_path, QmpGuestStats *out,
                               GError **error);
gboolean qmp_sync_balloon_flag (QmpSync *s, const char *balloon_path, const char *property,
                                gboolean *out, GError **error);

G_END_DECLS
