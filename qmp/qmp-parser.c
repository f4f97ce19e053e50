/* qmp-parser.c: line framing, JSON decoding and envelope checks for QMP.
 * Pure: no sockets, no main loop, so unit tests and the fuzzer drive it. */
#define G_LOG_DOMAIN "ballast-qmp"

#include "qmp-parser.h"

#include "qmp-lines.h"

#include <errno.h>
#include <string.h>

/* int64 has 19 digits at most: longer integer tokens always overflow it. */
#define INT64_MAX_DIGITS 19

struct _QmpParser
{
  gsize max_line_bytes;
  QmpLineSplitter *lines;
  gboolean failed; /* an error or a stop ends the stream for good */
};

G_DEFINE_QUARK (qmp - error - quark, qmp_error)

QmpParser *
qmp_parser_new (gsize max_line_bytes)
{
  QmpParser *parser = g_new0 (QmpParser, 1);
  parser->max_line_bytes = max_line_bytes ? max_line_bytes : QMP_PARSER_DEFAULT_MAX_LINE_BYTES;
  parser->lines = qmp_line_splitter_new (parser->max_line_bytes);
  return parser;
}

void
qmp_parser_free (QmpParser *parser)
{
  if (parser == NULL)
    return;
  qmp_line_splitter_free (parser->lines);
  g_free (parser);
}

static gboolean
overflows_int64 (const char *token, gsize len, gsize digits)
{
  if (digits != INT64_MAX_DIGITS)
    return digits > INT64_MAX_DIGITS;
  char copy[INT64_MAX_DIGITS + 2];
  memcpy (copy, token, len);
  copy[len] = '\0';
  errno = 0;
  (void) g_ascii_strtoll (copy, NULL, 10);
  return errno == ERANGE;
}

/* jansson refuses integers outside int64, but QEMU prints uint64 values
 * (2^64-1 means "no value"): rewrite long integer tokens outside strings as
 * reals ("...5615" -> "...5615.0") so they decode with their magnitude. */
static GString *
rewrite_big_integers (const char *text, gsize len)
{
  GString *out = g_string_sized_new (len + 16);
  gboolean in_string = FALSE;
  gsize i = 0;

  while (i < len)
    {
      char c = text[i];
      if (in_string)
        {
          g_string_append_c (out, c);
          if (c == '\\' && i + 1 < len)
            g_string_append_c (out, text[++i]);
          else if (c == '"')
            in_string = FALSE;
          i++;
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      if (c != '-' && !g_ascii_isdigit (c))
        {
          g_string_append_c (out, c);
          i++;
          continue;
        }
      gsize start = i;
      if (c == '-')
        i++;
      gsize digits_start = i;
      while (i < len && g_ascii_isdigit (text[i]))
        i++;
      gsize digits = i - digits_start;
      g_string_append_len (out, text + start, i - start);
      gboolean is_real = i < len && (text[i] == '.' || text[i] == 'e' || text[i] == 'E');
      if (!is_real && overflows_int64 (text + start, i - start, digits))
        g_string_append (out, ".0");
      /* Copy the rest of a real as is so its exponent digits are not taken
       * for a new integer token. */
      while (i < len
             && (g_ascii_isdigit (text[i]) || text[i] == '.' || text[i] == 'e' || text[i] == 'E'
                 || text[i] == '+' || text[i] == '-'))
        g_string_append_c (out, text[i++]);
    }
  return out;
}

static json_t *
decode_line (const char *text, gsize len, GError **error)
{
  json_error_t jerr;
  json_t *value = json_loadb (text, len, JSON_DECODE_ANY, &jerr);

  if (value == NULL && json_error_code (&jerr) == json_error_numeric_overflow)
    {
      g_autoptr (GString) rewritten = rewrite_big_integers (text, len);
      value = json_loadb (rewritten->str, rewritten->len, JSON_DECODE_ANY, &jerr);
    }
  if (value == NULL)
    {
      g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL, "invalid JSON from peer (column %d): %s",
                   jerr.column, jerr.text);
      return NULL;
    }
  if (!json_is_object (value))
    {
      static const char *const type_names[] = { "an object", "an array", "a string", "an integer",
                                                "a real",    "true",     "false",    "null" };
      json_type type = json_typeof (value);
      g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL, "QMP message is not a JSON object but %s",
                   (gsize) type < G_N_ELEMENTS (type_names) ? type_names[type] : "unknown");
      json_decref (value);
      return NULL;
    }
  return value;
}

static gboolean
is_blank (const char *text, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isspace (text[i]))
      return FALSE;
  return TRUE;
}

typedef struct
{
  QmpParser *parser;
  QmpParserFunc func;
  gpointer user_data;
  GError **error;
  gboolean ok;
} FeedCall;

/* QMP has no use for a line past the limit: it ends the stream, as does
 * a line that is not a JSON object. */
static gboolean
on_line (const char *line, gsize len, gboolean too_long, gpointer data)
{
  FeedCall *call = data;

  if (too_long)
    {
      g_set_error (call->error, QMP_ERROR, QMP_ERROR_TOO_LONG,
                   "QMP line longer than the limit of %" G_GSIZE_FORMAT " bytes",
                   call->parser->max_line_bytes);
      call->ok = FALSE;
      return FALSE;
    }
  if (is_blank (line, len))
    return TRUE;
  json_t *message = decode_line (line, len, call->error);
  if (message == NULL)
    {
      call->ok = FALSE;
      return FALSE;
    }
  gboolean go_on = call->func (message, call->user_data);
  json_decref (message);
  return go_on;
}

gboolean
qmp_parser_feed (QmpParser *parser, const char *bytes, gsize len, QmpParserFunc func,
                 gpointer user_data, GError **error)
{
  g_return_val_if_fail (parser != NULL, FALSE);
  g_return_val_if_fail (bytes != NULL || len == 0, FALSE);

  if (parser->failed)
    {
      g_set_error_literal (error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                           "QMP stream already ended by an earlier error");
      return FALSE;
    }
  FeedCall call = { parser, func, user_data, error, TRUE };
  if (!qmp_line_splitter_feed (parser->lines, bytes, len, on_line, &call))
    parser->failed = TRUE;
  return call.ok;
}

gboolean
qmp_parser_finish (QmpParser *parser, GError **error)
{
  g_return_val_if_fail (parser != NULL, FALSE);

  gsize len;
  const char *partial = qmp_line_splitter_pending (parser->lines, &len);
  if (!is_blank (partial, len))
    {
      g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                   "connection ended in the middle of a QMP message (%" G_GSIZE_FORMAT
                   " bytes without newline)",
                   len);
      return FALSE;
    }
  return TRUE;
}

static gboolean
wrong_type (GError **error, const char *member, const char *expected)
{
  g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL, "QMP message member \"%s\" is not %s", member,
               expected);
  return FALSE;
}

static gint64
event_timestamp_us (json_t *message)
{
  json_t *ts = json_object_get (message, "timestamp");
  json_t *s = json_object_get (ts, "seconds");
  json_t *us = json_object_get (ts, "microseconds");

  if (!json_is_integer (s) || !json_is_integer (us))
    return 0;
  json_int_t seconds = json_integer_value (s);
  json_int_t micro = json_integer_value (us);
  /* QEMU uses -1 when it has no clock; also keep the product in range. */
  if (seconds < 0 || micro < 0 || micro >= G_USEC_PER_SEC
      || seconds > G_MAXINT64 / G_USEC_PER_SEC - 1)
    return 0;
  return seconds * G_USEC_PER_SEC + micro;
}

gboolean
qmp_message_classify (json_t *message, QmpMessage *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (!json_is_object (message))
    {
      g_set_error_literal (error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                           "QMP message is not a JSON object");
      return FALSE;
    }
  out->id = json_object_get (message, "id");

  json_t *member;
  if ((member = json_object_get (message, "QMP")) != NULL)
    {
      if (!json_is_object (member))
        return wrong_type (error, "QMP", "an object");
      json_t *caps = json_object_get (member, "capabilities");
      if (caps != NULL && !json_is_array (caps))
        return wrong_type (error, "QMP.capabilities", "an array");
      out->kind = QMP_MESSAGE_GREETING;
      out->value = member;
      return TRUE;
    }
  if ((member = json_object_get (message, "event")) != NULL)
    {
      if (!json_is_string (member))
        return wrong_type (error, "event", "a string");
      json_t *data = json_object_get (message, "data");
      if (data != NULL && !json_is_object (data))
        return wrong_type (error, "data", "an object");
      out->kind = QMP_MESSAGE_EVENT;
      out->event = json_string_value (member);
      out->value = data;
      out->timestamp_us = event_timestamp_us (message);
      return TRUE;
    }
  if ((member = json_object_get (message, "return")) != NULL)
    {
      out->kind = QMP_MESSAGE_RETURN;
      out->value = member;
      return TRUE;
    }
  if ((member = json_object_get (message, "error")) != NULL)
    {
      if (!json_is_object (member))
        return wrong_type (error, "error", "an object");
      json_t *klass = json_object_get (member, "class");
      json_t *desc = json_object_get (member, "desc");
      if (!json_is_string (klass))
        return wrong_type (error, "error.class", "a string");
      if (!json_is_string (desc))
        return wrong_type (error, "error.desc", "a string");
      out->kind = QMP_MESSAGE_ERROR;
      out->error_class = json_string_value (klass);
      out->error_desc = json_string_value (desc);
      return TRUE;
    }
  out->kind = QMP_MESSAGE_UNKNOWN;
  return TRUE;
}
