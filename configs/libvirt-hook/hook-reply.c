/* hook-reply.c: the hook's reader of ballastd's replies, apart from the
 * socket so that the fuzz tests can feed it any bytes in any pieces. */
#include "hook-reply.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void
hook_reply_init (HookReply *r)
{
  r->have = 0;
  r->buf[0] = '\0';
}

char *
hook_reply_room (HookReply *r, size_t *room)
{
  /* One byte stays for the terminating NUL the line scan relies on. */
  *room = sizeof r->buf - 1 - r->have;
  return r->buf + r->have;
}

/* One complete line: ours (by id) or something to skip (greeting, the
 * capabilities reply, events, garbage). */
static HookReplyStatus
hook_reply_line (const char *line, const char *id, char *desc, size_t desc_size)
{
  json_t *msg = json_loads (line, 0, NULL);
  json_t *msg_id = json_object_get (msg, "id");
  HookReplyStatus status = HOOK_REPLY_MORE;
  if (json_is_string (msg_id) && strcmp (json_string_value (msg_id), id) == 0)
    {
      status = HOOK_REPLY_OK;
      if (json_object_get (msg, "return") == NULL)
        {
          json_t *d = json_object_get (json_object_get (msg, "error"), "desc");
          snprintf (desc, desc_size, "%s", json_is_string (d) ? json_string_value (d) : "error");
          status = HOOK_REPLY_ERROR;
        }
    }
  json_decref (msg);
  return status;
}

HookReplyStatus
hook_reply_take (HookReply *r, size_t n, const char *id, char *desc, size_t desc_size)
{
  size_t room;
  (void) hook_reply_room (r, &room);
  r->have += n < room ? n : room;
  r->buf[r->have] = '\0';
  char *line = r->buf, *nl;
  while ((nl = strchr (line, '\n')) != NULL)
    {
      *nl = '\0';
      HookReplyStatus status = hook_reply_line (line, id, desc, desc_size);
      if (status != HOOK_REPLY_MORE)
        return status;
      line = nl + 1;
    }
  /* Keep an unfinished line; a line that fills the buffer is an event we
   * do not need (our reply is short), so drop it. */
  r->have = strlen (line);
  memmove (r->buf, line, r->have + 1);
  if (r->have == sizeof r->buf - 1)
    hook_reply_init (r);
  return HOOK_REPLY_MORE;
}
