/* hook-reply.h: the hook's reader of ballastd's replies: newline-framed JSON
 * in a fixed buffer, of which only the line carrying the hook's id matters. */
#pragma once

#include <stddef.h>

/* ballastd's reply to one kick is a short line; longer lines are events or
 * greetings the hook skips, so a small fixed buffer is enough. */
#define HOOK_REPLY_BUF_BYTES 8192

typedef struct
{
  char buf[HOOK_REPLY_BUF_BYTES];
  size_t have; /* bytes of an unfinished line at the start of buf */
} HookReply;

typedef enum
{
  HOOK_REPLY_MORE = 0, /* no line with our id yet */
  HOOK_REPLY_OK,       /* our reply, a success */
  HOOK_REPLY_ERROR,    /* our reply, an error (its description in `desc`) */
} HookReplyStatus;

void hook_reply_init (HookReply *r);

/* Where the next read goes and how many bytes it may write (never 0). */
char *hook_reply_room (HookReply *r, size_t *room);

/* Takes `n` bytes just written at hook_reply_room() and reads every
 * complete line. On HOOK_REPLY_ERROR, `desc` (of `desc_size` > 0 bytes)
 * holds ballastd's description of the error, truncated to fit. */
HookReplyStatus hook_reply_take (HookReply *r, size_t n, const char *id, char *desc,
                                 size_t desc_size);
