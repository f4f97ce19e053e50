/* qmp-lines.h: the one bounded line splitter for newline-framed peers (QMP,
 * the control socket's clients, ballast-agent). Pure: bytes in, lines out. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _QmpLineSplitter QmpLineSplitter;

/* Called per complete line: `line` is a NUL-terminated copy without its
 * '\n' (a '\r' before it, NUL bytes inside, blank lines: all passed as they
 * came), valid only during the call. Once a line grows past the limit,
 * before its newline has to arrive, it is called once with `line` NULL and
 * `too_long` TRUE; the rest of that line is then dropped up to its newline.
 * Return FALSE to stop: the feed drops the rest of its bytes. */
typedef gboolean (*QmpLineFunc) (const char *line, gsize len, gboolean too_long,
                                 gpointer user_data);

/* A line may hold `max_line_bytes` bytes besides its newline; the buffer
 * grows with the longest line seen, up to `max_line_bytes` + 1. */
QmpLineSplitter *qmp_line_splitter_new (gsize max_line_bytes);
void qmp_line_splitter_free (QmpLineSplitter *splitter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (QmpLineSplitter, qmp_line_splitter_free)

/* Consumes `bytes`, calling `func` for each line it completes or finds too
 * long. Returns FALSE when `func` stopped it; a partial line is kept for
 * the next call (after a stop, only what came before the stop counts). */
gboolean qmp_line_splitter_feed (QmpLineSplitter *splitter, const char *bytes, gsize len,
                                 QmpLineFunc func, gpointer user_data);

/* The partial line buffered so far (not NUL-terminated; empty while an
 * over-long line is being dropped), e.g. to tell a clean end of input. */
const char *qmp_line_splitter_pending (const QmpLineSplitter *splitter, gsize *len);

/* Forgets a partial or dropped line: the next byte starts a new line. */
void qmp_line_splitter_reset (QmpLineSplitter *splitter);

G_END_DECLS
