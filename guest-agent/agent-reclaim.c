/* agent-reclaim.c: the reclaim decision (cap, spacing) and the one write to
 * memory.reclaim. Libc only, like the rest of the agent. */
#include "agent-reclaim.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "agent-json.h"
#include "agent-wire.h"

uint64_t
agent_reclaim_admit (AgentReclaim *r, uint64_t bytes, uint64_t now_ms)
{
  /* Counted from the end of the last run: a host that repeats itself
   * faster than the kernel answers would keep the guest in reclaim. */
  if (r->has_run && now_ms < r->last_run_ms + AGENT_WIRE_RECLAIM_MIN_GAP_MS)
    {
      r->dropped++;
      return 0;
    }
  return bytes < AGENT_WIRE_RECLAIM_MAX_BYTES ? bytes : AGENT_WIRE_RECLAIM_MAX_BYTES;
}

void
agent_reclaim_finish (AgentReclaim *r, uint64_t asked_bytes, int result, uint64_t now_ms)
{
  r->has_run = true;
  r->last_run_ms = now_ms;
  if (result < 0)
    {
      r->errors++;
      return;
    }
  r->done++;
  r->asked_bytes += asked_bytes;
}

int
agent_reclaim_write (const char *path, uint64_t bytes)
{
  char storage[24];
  AgentBuf b;
  agent_buf_init (&b, storage, sizeof storage);
  agent_buf_u64 (&b, bytes);

  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = write (fd, b.data, b.len);
  int err = n < 0 ? errno : 0;
  close (fd);
  if (err == EAGAIN)
    return 1;
  if (err)
    return -err;
  return n == (ssize_t) b.len ? 0 : -EIO;
}

bool
agent_reclaim_available (const char *path)
{
  return access (path, W_OK) == 0;
}
