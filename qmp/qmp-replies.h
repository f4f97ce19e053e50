/* qmp-replies.h: pure parsers of the QMP replies and events ballastd reads
 * besides the balloon's own (qmp-balloon.h): RAM size, run state, balloon events. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/* `query-memory-size-summary`: base-memory plus plugged-memory (absent
 * counts as 0). FALSE with QMP_ERROR_PROTOCOL unless base-memory is a
 * positive integer and plugged-memory, when present, a non-negative one. */
gboolean qmp_parse_memory_size (json_t *ret, guint64 *ram_bytes, GError **error);

/* `query-status`: whether the guest's CPUs run. FALSE with
 * QMP_ERROR_PROTOCOL unless "running" is a boolean. */
gboolean qmp_parse_status (json_t *ret, gboolean *running, GError **error);

/* The data of a BALLOON_CHANGE event: the guest's new size. FALSE with
 * QMP_ERROR_PROTOCOL unless "actual" is a non-negative integer. */
gboolean qmp_parse_balloon_change (json_t *data, guint64 *actual_bytes, GError **error);

G_END_DECLS
