/* qmp-lines.c: newline framing with a hard bound on what one peer can make
 * us buffer; an over-long line is reported once and then skipped. */
#include "qmp-lines.h"

#include <string.h>

/* Most lines (QMP replies, agent reports, control commands) fit in this;
 * longer ones grow the buffer by doubling. */
#define QMP_LINES_INITIAL_BYTES 256

struct _QmpLineSplitter
{
  gsize max_line_bytes;
  char *buf; /* the partial line, room for its NUL */
  gsize len;
  gsize cap;           /* at most max_line_bytes + 1 */
  gboolean discarding; /* inside an over-long line, until its newline */
};

QmpLineSplitter *
qmp_line_splitter_new (gsize max_line_bytes)
{
  g_return_val_if_fail (max_line_bytes < G_MAXSIZE, NULL);

  QmpLineSplitter *s = g_new0 (QmpLineSplitter, 1);
  s->max_line_bytes = max_line_bytes;
  s->cap = MIN (max_line_bytes + 1, QMP_LINES_INITIAL_BYTES);
  s->buf = g_malloc (s->cap);
  return s;
}

void
qmp_line_splitter_free (QmpLineSplitter *splitter)
{
  if (splitter == NULL)
    return;
  g_free (splitter->buf);
  g_free (splitter);
}

void
qmp_line_splitter_reset (QmpLineSplitter *splitter)
{
  splitter->len = 0;
  splitter->discarding = FALSE;
}

const char *
qmp_line_splitter_pending (const QmpLineSplitter *splitter, gsize *len)
{
  *len = splitter->len;
  return splitter->buf;
}

/* The caller checked that the line stays within the limit. */
static void
append (QmpLineSplitter *s, const char *bytes, gsize len)
{
  gsize need = s->len + len + 1;
  if (need > s->cap)
    {
      gsize cap = MAX (need, s->cap * 2);
      s->cap = MIN (cap, s->max_line_bytes + 1);
      s->buf = g_realloc (s->buf, s->cap);
    }
  memcpy (s->buf + s->len, bytes, len);
  s->len += len;
}

gboolean
qmp_line_splitter_feed (QmpLineSplitter *s, const char *bytes, gsize len, QmpLineFunc func,
                        gpointer user_data)
{
  g_return_val_if_fail (s != NULL && func != NULL, FALSE);
  g_return_val_if_fail (bytes != NULL || len == 0, FALSE);

  while (len > 0)
    {
      const char *newline = memchr (bytes, '\n', len);
      gsize chunk = newline ? (gsize) (newline - bytes) : len;

      if (!s->discarding && chunk > s->max_line_bytes - s->len)
        {
          s->discarding = TRUE;
          s->len = 0;
          if (!func (NULL, 0, TRUE, user_data))
            return FALSE;
        }
      else if (!s->discarding)
        append (s, bytes, chunk);
      if (newline == NULL)
        return TRUE;
      bytes += chunk + 1;
      len -= chunk + 1;
      if (s->discarding)
        {
          s->discarding = FALSE;
          continue;
        }
      gsize line_len = s->len;
      s->buf[line_len] = '\0';
      s->len = 0;
      if (!func (s->buf, line_len, FALSE, user_data))
        return FALSE;
    }
  return TRUE;
}
