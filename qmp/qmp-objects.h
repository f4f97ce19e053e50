/* qmp-objects.h: the bounded splitter of a stream of JSON objects as QEMU
 * reads QMP: objects back to back, with or without newlines between them. */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

typedef struct _QmpObjectSplitter QmpObjectSplitter;

/* Called per complete JSON value (`value`, borrowed for the call; any JSON
 * type: the caller decides what it accepts), or once with `value` NULL and
 * `error` saying why the stream cannot go on (not JSON, or a message past
 * the limit). After an error the splitter holds nothing and the caller
 * should hang up. Return FALSE to stop: the rest of the feed is dropped. */
typedef gboolean (*QmpObjectFunc) (json_t *value, const char *error, gpointer user_data);

/* One message may hold at most `max_message_bytes` bytes (whitespace
 * before it not counted); the buffer stays below that plus one feed. */
QmpObjectSplitter *qmp_object_splitter_new (gsize max_message_bytes);
void qmp_object_splitter_free (QmpObjectSplitter *splitter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpObjectSplitter, qmp_object_splitter_free)

/* Consumes `bytes`, calling `func` for each value it completes. A value cut
 * by the end of the bytes waits for the next feed. Returns FALSE when
 * `func` stopped it or after an error. */
gboolean qmp_object_splitter_feed (QmpObjectSplitter *splitter, const char *bytes, gsize len,
                                   QmpObjectFunc func, gpointer user_data);

G_END_DECLS
