/* qmp-objects.c: splits a byte stream into JSON values with jansson's
 * JSON_DISABLE_EOF_CHECK (the parse stops after one value and says where). */
#include "qmp-objects.h"

#include <string.h>

struct _QmpObjectSplitter
{
  GString *buf;
  gsize max_message_bytes;
};

QmpObjectSplitter *
qmp_object_splitter_new (gsize max_message_bytes)
{
  QmpObjectSplitter *s = g_new0 (QmpObjectSplitter, 1);
  s->buf = g_string_new (NULL);
  s->max_message_bytes = max_message_bytes;
  return s;
}

void
qmp_object_splitter_free (QmpObjectSplitter *s)
{
  if (s == NULL)
    return;
  g_string_free (s->buf, TRUE);
  g_free (s);
}

static gsize
objects_skip_space (const GString *buf)
{
  gsize i = 0;
  while (i < buf->len && g_ascii_isspace (buf->str[i]))
    i++;
  return i;
}

/* The input ran out inside the value: more may complete it. jansson says so
 * for a cut string, object or number; a cut literal ("tr") is an invalid
 * token that ends exactly where the input does. */
static gboolean
objects_cut_short (const json_error_t *err, gsize len)
{
  return json_error_code (err) == json_error_premature_end_of_input
         || (err->position >= 0 && (gsize) err->position >= len);
}

static gboolean
objects_fail (QmpObjectSplitter *s, const char *why, QmpObjectFunc func, gpointer user_data)
{
  g_string_truncate (s->buf, 0);
  func (NULL, why, user_data);
  return FALSE;
}

gboolean
qmp_object_splitter_feed (QmpObjectSplitter *s, const char *bytes, gsize len, QmpObjectFunc func,
                          gpointer user_data)
{
  g_string_append_len (s->buf, bytes, len);
  for (;;)
    {
      g_string_erase (s->buf, 0, objects_skip_space (s->buf));
      if (s->buf->len == 0)
        return TRUE;
      json_error_t err;
      json_t *v
          = json_loadb (s->buf->str, s->buf->len,
                        JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
      if (v == NULL)
        {
          if (!objects_cut_short (&err, s->buf->len))
            {
              g_autofree char *why = g_strdup_printf ("JSON parse error: %s", err.text);
              return objects_fail (s, why, func, user_data);
            }
          if (s->buf->len > s->max_message_bytes)
            {
              g_autofree char *why = g_strdup_printf (
                  "message too long (over %" G_GSIZE_FORMAT " bytes)", s->max_message_bytes);
              return objects_fail (s, why, func, user_data);
            }
          return TRUE;
        }
      gsize used = (gsize) err.position;
      if (used > s->max_message_bytes)
        {
          json_decref (v);
          return objects_fail (s, "message too long", func, user_data);
        }
      g_string_erase (s->buf, 0, used);
      gboolean go_on = func (v, NULL, user_data);
      json_decref (v);
      if (!go_on)
        return FALSE;
    }
}
