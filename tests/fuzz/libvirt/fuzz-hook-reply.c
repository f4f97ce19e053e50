/* fuzz-hook-reply.c: libFuzzer target for the libvirt hook's reader of
 * ballastd's replies: the input is the stream, cut into reads of sizes
 * also taken from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-bytes.h"
#include "hook-reply.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_HOOK_ID "ballast-hook"
/* The hook's own description buffer is larger; smaller ones test the cut. */
#define FUZZ_MAX_DESC_BYTES 256

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzBytes b = { data, size };
  size_t desc_size = fuzz_range (&b, 1, FUZZ_MAX_DESC_BYTES);
  /* Exactly as large as said, so a write past it is caught by ASan. */
  char *desc = malloc (desc_size);
  HookReply *r = malloc (sizeof *r);
  if (desc == NULL || r == NULL)
    abort ();
  hook_reply_init (r);
  HookReplyStatus status = HOOK_REPLY_MORE;
  while (b.size > 0 && status == HOOK_REPLY_MORE)
    {
      size_t room, got;
      char *at = hook_reply_room (r, &room);
      /* The read's size from the end, its bytes from the front. */
      size_t want = fuzz_range (&b, 1, room);
      const uint8_t *chunk = fuzz_front (&b, want, &got);
      if (room == 0 || at < r->buf || at + room >= r->buf + sizeof r->buf)
        abort ();
      memcpy (at, chunk, got);
      status = hook_reply_take (r, got, FUZZ_HOOK_ID, desc, desc_size);
      if (status == HOOK_REPLY_MORE && r->have >= sizeof r->buf - 1)
        abort ();
    }
  if (status == HOOK_REPLY_ERROR && strnlen (desc, desc_size) >= desc_size)
    abort ();
  free (r);
  free (desc);
  return 0;
}
