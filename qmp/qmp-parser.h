/* qmp-parser.h: QMP framing and message checks, free of sockets and main
 * loops: bytes in, JSON objects out. The fuzz target drives it directly. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "qmp-error.h"

G_BEGIN_DECLS

typedef struct _QmpParser QmpParser;

/* Called once per complete message (a JSON object; borrowed). Return FALSE
 * to stop: qmp_parser_feed() then returns TRUE and drops the rest. */
typedef gboolean (*QmpParserFunc) (json_t *message, gpointer user_data);

/* `max_line_bytes` 0 means QMP_PARSER_DEFAULT_MAX_LINE_BYTES. */
#define QMP_PARSER_DEFAULT_MAX_LINE_BYTES (1024 * 1024)
QmpParser *qmp_parser_new (gsize max_line_bytes);
void qmp_parser_free (QmpParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpParser, qmp_parser_free)

/* Splits `bytes` into newline-terminated lines (partial lines are kept for
 * the next call) and hands each JSON object to `func`. Returns FALSE with
 * QMP_ERROR_TOO_LONG (a line over the limit, even before its newline
 * arrives) or QMP_ERROR_PROTOCOL (invalid JSON, not an object); after an
 * error or a stop every later call fails. Integers beyond the int64 range
 * (QEMU prints 2^64-1 for "no value") are turned into JSON reals. */
gboolean qmp_parser_feed (QmpParser *parser, const char *bytes, gsize len, QmpParserFunc func,
                          gpointer user_data, GError **error);
/* At end of input: FALSE with QMP_ERROR_PROTOCOL if a partial message is
 * still buffered. */
gboolean qmp_parser_finish (QmpParser *parser, GError **error);

typedef enum
{
  QMP_MESSAGE_GREETING, /* {"QMP": {...}} */
  QMP_MESSAGE_RETURN,   /* {"return": any, "id"?: any} */
  QMP_MESSAGE_ERROR,    /* {"error": {"class", "desc"}, "id"?: any} */
  QMP_MESSAGE_EVENT,    /* {"event": name, "data"?: {...}, "timestamp"?: {...}} */
  QMP_MESSAGE_UNKNOWN,  /* none of the above: a newer QEMU may send it */
} QmpMessageKind;

/* Borrowed views into the message passed to qmp_message_classify(). */
typedef struct
{
  QmpMessageKind kind;
  json_t *id;              /* RETURN, ERROR: the echoed id or NULL */
  json_t *value;           /* GREETING: the "QMP" object; RETURN: "return"; EVENT: "data" or NULL */
  const char *event;       /* EVENT */
  const char *error_class; /* ERROR */
  const char *error_desc;  /* ERROR */
  gint64 timestamp_us;     /* EVENT: 0 when absent or malformed */
} QmpMessage;

/* Returns FALSE with QMP_ERROR_PROTOCOL when a known member has the wrong
 * type (e.g. "event" not a string, "error" without a string "class"). */
gboolean qmp_message_classify (json_t *message, QmpMessage *out, GError **error);

G_END_DECLS
