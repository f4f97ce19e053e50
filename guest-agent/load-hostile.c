/* load-hostile.c: ballast-load's hostile workloads. From inside a real guest,
 * attack ballastd over the agent port, and/or reset the guest in a loop. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "agent-wire.h"
#include "ballast-load.h"

#define HOSTILE_PORT "/dev/virtio-ports/" AGENT_WIRE_PORT_NAME
/* Each attack runs this long, then the next; the cycle repeats. One at a
 * time: the host's line budget is shared, so garbage sent alongside would
 * hide what the valid messages alone do. */
#define HOSTILE_PHASE_MS 1000
/* Messages (pressure, reports, hellos) go this often. */
#define HOSTILE_MSG_PERIOD_MS 10
/* Flood writes: large enough that the port is the limit, not the syscalls. */
#define HOSTILE_BLOCK_BYTES 65536
/* An over-long line exceeds the host's limit by this much. */
#define HOSTILE_LONG_EXTRA_BYTES 64
/* The port not there yet (modules still loading): look again this often. */
#define HOSTILE_REOPEN_MS 1000
/* Progress lines at most this often, so the console does not slow the guest. */
#define HOSTILE_PROGRESS_MS 1000
/* A JSON message of ours is well under this. */
#define HOSTILE_MSG_BYTES 2048

typedef enum
{
  PHASE_FLOOD,      /* random bytes, newlines where they fall (1 in 256) */
  PHASE_NEWLINES,   /* nothing but '\n' */
  PHASE_LONG_LINES, /* JSON-looking lines just over the limit */
  PHASE_ABSURD,     /* reports: extreme but valid, alternating, and absurd */
  PHASE_HELLOS,     /* hellos with alternating agent, kernel and mglru */
  PHASE_PRESSURE,   /* pressure messages */
  PHASE_N,
} Phase;

static const char *const phase_names[PHASE_N]
    = { "flood", "newlines", "long-lines", "absurd-reports", "hellos", "pressure" };

typedef struct
{
  int fd;
  uint64_t ram_bytes; /* the guest's MemTotal: "valid" figures stay within it */
  uint64_t seq;       /* every message, as the real agent counts */
  uint64_t n_reports; /* which absurd report comes next */
  uint64_t n_hellos;  /* which hello comes next */
  uint64_t sent_bytes;
  uint64_t dropped_bytes; /* the port was full or the host end away */
  uint64_t msgs;
  bool mid_line; /* the last write ended inside a line */
  uint32_t rng;
  char flood[HOSTILE_BLOCK_BYTES];
  char newlines[HOSTILE_BLOCK_BYTES];
  char long_line[AGENT_WIRE_MAX_LINE_BYTES + HOSTILE_LONG_EXTRA_BYTES];
} Hostile;

static void
reset_guest (const char *mode)
{
  progress ("mode=%s event=reset", mode);
  sync ();
  reboot (RB_AUTOBOOT);
  /* Not allowed to reboot (no CAP_SYS_BOOT?): the magic SysRq key. */
  int fd = open ("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      if (write (fd, "b", 1) < 0)
        progress ("mode=%s event=error what=sysrq errno=%d", mode, errno);
      close (fd);
    }
  progress ("mode=%s event=error what=reboot errno=%d", mode, errno);
}

int
run_reset_loop (uint64_t reset_ms)
{
  progress ("mode=reset-loop event=start reset_ms=%" PRIu64, reset_ms);
  sleep_ms (reset_ms);
  reset_guest ("reset-loop");
  return 1;
}

static uint32_t
xorshift (uint32_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static void
hostile_init (Hostile *h)
{
  struct sysinfo si;
  memset (h, 0, sizeof *h);
  h->fd = -1;
  h->rng = 0x9e3779b9u;
  h->ram_bytes = sysinfo (&si) == 0 ? (uint64_t) si.totalram * si.mem_unit : 256u << 20;
  for (size_t i = 0; i < sizeof h->flood; i++)
    h->flood[i] = (char) (xorshift (&h->rng) & 0xff);
  memset (h->newlines, '\n', sizeof h->newlines);
  size_t n = sizeof h->long_line;
  memset (h->long_line, 'x', n);
  const char *head = "{\"type\":\"report\",\"v\":1,\"pad\":\"";
  memcpy (h->long_line, head, strlen (head));
  memcpy (h->long_line + n - 3, "\"}\n", 3);
}

/* Opens the port once it exists; false while it does not. */
static bool
hostile_open (Hostile *h)
{
  if (h->fd >= 0)
    return true;
  h->fd = open (HOSTILE_PORT, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (h->fd < 0)
    return false;
  progress ("mode=hostile event=port-open path=%s", HOSTILE_PORT);
  return true;
}

/* Writes as much of @buf as the port takes before @deadline_ms (guest
 * clock); what does not fit is counted as dropped. */
static void
port_write (Hostile *h, const char *buf, size_t len, uint64_t deadline_ms)
{
  size_t done = 0;
  while (done < len)
    {
      ssize_t n = write (h->fd, buf + done, len - done);
      if (n > 0)
        {
          done += (size_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      uint64_t now = now_ms ();
      if (now >= deadline_ms)
        break;
      struct pollfd p = { .fd = h->fd, .events = POLLOUT };
      int r = poll (&p, 1, (int) (deadline_ms - now));
      /* Host end away (POLLHUP): nothing to do until the deadline. */
      if (r > 0 && (p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLOUT))
        {
          sleep_ms (deadline_ms > now_ms () ? deadline_ms - now_ms () : 0);
          break;
        }
    }
  h->sent_bytes += done;
  h->dropped_bytes += len - done;
  if (done > 0)
    h->mid_line = buf[done - 1] != '\n';
}

/* A whole message; a line the previous write left open is ended first. */
static void
send_msg (Hostile *h, const char *msg, uint64_t deadline_ms)
{
  char line[HOSTILE_MSG_BYTES + 2];
  int n = snprintf (line, sizeof line, "%s%s\n", h->mid_line ? "\n" : "", msg);
  if (n <= 0 || (size_t) n >= sizeof line)
    return;
  h->msgs++;
  port_write (h, line, (size_t) n, deadline_ms);
}

static void
send_pressure (Hostile *h, uint64_t deadline_ms)
{
  char m[HOSTILE_MSG_BYTES];
  snprintf (m, sizeof m,
            "{\"type\":\"pressure\",\"v\":%d,\"seq\":%" PRIu64 ",\"uptime_ms\":%" PRIu64
            ",\"some_avg10\":100.0,\"some_total_us\":%" PRIu64 ",\"available\":0}",
            AGENT_WIRE_VERSION, h->seq++, now_ms (), now_ms () * 1000);
  send_msg (h, m, deadline_ms);
}

/* Four kinds in turn: everything in use and stalling, nothing in use (the
 * two alternate, so available swings by the whole RAM), then two the host
 * must reject: figures above any RAM, and negative / out-of-range ones. */
static void
send_absurd_report (Hostile *h, uint64_t deadline_ms)
{
  char m[HOSTILE_MSG_BYTES];
  uint64_t ram = h->ram_bytes, seq = h->seq++;
  switch (h->n_reports++ % 4)
    {
      case 0:
        snprintf (m, sizeof m,
                  "{\"type\":\"report\",\"v\":1,\"seq\":%" PRIu64 ",\"uptime_ms\":%" PRIu64
                  ",\"mem\":{\"total\":%" PRIu64 ",\"free\":0,\"available\":0,\"cached\":0,"
                  "\"anon\":%" PRIu64 ",\"unevictable\":%" PRIu64 ",\"swap_free\":0},"
                  "\"psi\":{\"some_avg10\":100.0,\"full_avg10\":100.0,\"some_total_us\":%" PRIu64
                  "},"
                  "\"vmstat\":{\"workingset_refault_anon\":%" PRIu64
                  ",\"workingset_refault_file\":%" PRIu64
                  ",\"pswpin\":0,\"pswpout\":0,\"oom_kill\":%" PRIu64 "},"
                  "\"ws\":{\"source\":\"mglru\",\"bins\":[{\"age_ms\":1000,\"anon\":%" PRIu64
                  ",\"file\":0},{\"age_ms\":null,\"anon\":0,\"file\":0}]}}",
                  seq, now_ms (), ram, ram, ram, now_ms () * 1000, seq << 20, seq << 20, seq, ram);
        break;
      case 1:
        snprintf (m, sizeof m,
                  "{\"type\":\"report\",\"v\":1,\"seq\":%" PRIu64 ",\"uptime_ms\":%" PRIu64
                  ",\"mem\":{\"total\":%" PRIu64 ",\"free\":%" PRIu64 ",\"available\":%" PRIu64
                  ",\"cached\":0,\"anon\":0,\"unevictable\":0,\"swap_free\":0},"
                  "\"psi\":{\"some_avg10\":0.0,\"full_avg10\":0.0,\"some_total_us\":0},"
                  "\"ws\":{\"source\":\"mglru\",\"bins\":[{\"age_ms\":1000,\"anon\":0,\"file\":0},"
                  "{\"age_ms\":null,\"anon\":0,\"file\":0}]}}",
                  seq, now_ms (), ram, ram, ram);
        break;
      case 2:
        snprintf (m, sizeof m,
                  "{\"type\":\"report\",\"v\":1,\"seq\":18446744073709551615,\"uptime_ms\":0,"
                  "\"mem\":{\"total\":17592186044417,\"free\":17592186044417,"
                  "\"available\":17592186044417,\"cached\":0,\"anon\":0,\"unevictable\":0,"
                  "\"swap_free\":9223372036854775807}}");
        break;
      default:
        snprintf (m, sizeof m,
                  "{\"type\":\"report\",\"v\":1,\"seq\":-1,\"uptime_ms\":-1,"
                  "\"mem\":{\"total\":%" PRIu64 ",\"free\":-4096,\"available\":%" PRIu64
                  ",\"cached\":0,\"anon\":0,\"unevictable\":0,\"swap_free\":0},"
                  "\"psi\":{\"some_avg10\":1e308,\"full_avg10\":-5,\"some_total_us\":0}}",
                  ram, ram * 2);
        break;
    }
  send_msg (h, m, deadline_ms);
}

static void
send_hello (Hostile *h, uint64_t deadline_ms)
{
  char m[HOSTILE_MSG_BYTES];
  bool odd = h->n_hellos++ & 1;
  h->seq++;
  snprintf (m, sizeof m,
            "{\"type\":\"hello\",\"v\":%d,\"agent\":\"%s\",\"kernel\":\"%s\",\"page_size\":4096,"
            "\"mglru\":%s,\"psi\":true,\"interval_ms\":%d}",
            AGENT_WIRE_VERSION, odd ? "ballast-agent 9.9.9-hostile" : "ballast-agent 0.1.0",
            odd ? "6.6.6-hostile" : "6.1.0-cloud-amd64", odd ? "false" : "true",
            AGENT_WIRE_MIN_INTERVAL_MS);
  send_msg (h, m, deadline_ms);
}

/* The phase's attack until @deadline_ms. */
static void
attack_step (Hostile *h, Phase phase, uint64_t deadline_ms)
{
  switch (phase)
    {
      case PHASE_FLOOD:
        while (now_ms () < deadline_ms)
          port_write (h, h->flood, sizeof h->flood, deadline_ms);
        break;
      case PHASE_NEWLINES:
        while (now_ms () < deadline_ms)
          port_write (h, h->newlines, sizeof h->newlines, deadline_ms);
        break;
      case PHASE_LONG_LINES:
        while (now_ms () < deadline_ms)
          port_write (h, h->long_line, sizeof h->long_line, deadline_ms);
        break;
      case PHASE_ABSURD:
        send_absurd_report (h, deadline_ms);
        break;
      case PHASE_HELLOS:
        send_hello (h, deadline_ms);
        break;
      case PHASE_PRESSURE:
        send_pressure (h, deadline_ms);
        break;
      case PHASE_N:
        break;
    }
}

int
run_hostile (uint64_t reset_ms)
{
  static Hostile h; /* large buffers: not on the stack */
  hostile_init (&h);
  uint64_t start = now_ms (), last_print = start;
  progress ("mode=hostile event=start reset_ms=%" PRIu64 " ram=%" PRIu64, reset_ms, h.ram_bytes);
  for (;;)
    {
      uint64_t now = now_ms ();
      if (reset_ms && now - start >= reset_ms)
        {
          reset_guest ("hostile");
          return 1;
        }
      if (!hostile_open (&h))
        {
          sleep_ms (HOSTILE_REOPEN_MS);
          continue;
        }
      Phase phase = (Phase) ((now - start) / HOSTILE_PHASE_MS % PHASE_N);
      uint64_t next = now + HOSTILE_MSG_PERIOD_MS;
      attack_step (&h, phase, next);
      now = now_ms ();
      if (now < next)
        sleep_ms (next - now);
      if (now - last_print >= HOSTILE_PROGRESS_MS)
        {
          progress ("mode=hostile event=attack phase=%s sent_bytes=%" PRIu64
                    " dropped_bytes=%" PRIu64 " msgs=%" PRIu64,
                    phase_names[phase], h.sent_bytes, h.dropped_bytes, h.msgs);
          last_print = now;
        }
    }
}
