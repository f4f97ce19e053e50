/* fuzz-qmp-parser.c: libFuzzer target for the QMP framing, envelope checks
 * and reply parsers; also checks that chunking never changes the result. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "qmp-balloon.h"
#include "qmp-parser.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Small limits so the fuzzer reaches the too-long path with short inputs. */
static const gsize line_limits[] = { 16, 256, 4096, 0 };

typedef struct
{
  GString *seen; /* every message, serialized, one per line */
} Trace;

static void
exercise_reply_parsers (json_t *value)
{
  g_autoptr (GError) error = NULL;
  QmpGuestStats stats;
  guint64 actual_bytes;

  if (!qmp_parse_guest_stats (value, &stats, &error))
    g_assert_nonnull (error);
  g_clear_error (&error);
  if (!qmp_parse_query_balloon (value, &actual_bytes, &error))
    g_assert_nonnull (error);
  g_clear_error (&error);
  g_autofree char *path = qmp_parse_balloon_child (value, "/machine/peripheral", &error);
  g_assert_true (path == NULL || error == NULL);
}

static gboolean
on_message (json_t *message, gpointer data)
{
  Trace *trace = data;
  QmpMessage msg;
  g_autoptr (GError) error = NULL;

  g_assert_true (json_is_object (message));
  char *text = json_dumps (message, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  g_assert_nonnull (text);
  g_string_append (trace->seen, text);
  g_string_append_c (trace->seen, '\n');
  free (text);

  if (!qmp_message_classify (message, &msg, &error))
    {
      g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
      return TRUE;
    }
  if (msg.kind == QMP_MESSAGE_RETURN)
    exercise_reply_parsers (msg.value);
  if (msg.kind == QMP_MESSAGE_EVENT)
    g_assert_nonnull (msg.event);
  return TRUE;
}

/* Feeds `bytes` in pieces of the given sizes (cycled); returns the trace and
 * the error code (-1 when none). */
static int
run (const char *bytes, gsize len, gsize limit, const uint8_t *cuts, gsize ncuts, GString *seen)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (limit);
  g_autoptr (GError) error = NULL;
  Trace trace = { seen };
  gsize pos = 0, k = 0;

  while (pos < len)
    {
      gsize piece = ncuts ? (gsize) cuts[k++ % ncuts] + 1 : len;
      piece = MIN (piece, len - pos);
      if (!qmp_parser_feed (parser, bytes + pos, piece, on_message, &trace, &error))
        {
          g_assert_true (error->domain == QMP_ERROR);
          return error->code;
        }
      pos += piece;
    }
  if (!qmp_parser_finish (parser, &error))
    return error->code;
  return -1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  gsize limit = line_limits[data[0] % G_N_ELEMENTS (line_limits)];
  gsize ncuts = MIN ((gsize) data[1] % 8, size - 2);
  const uint8_t *cuts = data + 2;
  const char *bytes = (const char *) data + 2 + ncuts;
  gsize len = size - 2 - ncuts;

  g_autoptr (GString) whole = g_string_new (NULL);
  g_autoptr (GString) pieces = g_string_new (NULL);
  int whole_code = run (bytes, len, limit, NULL, 0, whole);
  int pieces_code = run (bytes, len, limit, cuts, ncuts, pieces);
  g_assert_cmpint (whole_code, ==, pieces_code);
  g_assert_cmpstr (whole->str, ==, pieces->str);
  return 0;
}
