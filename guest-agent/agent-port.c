/* agent-port.c: finding, opening and reopening the agent's virtio-serial
 * port, following its host end, and line I/O on it that never blocks. */
#include "agent-port.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent-log.h"
#include "agent-proc.h"

#define VPORTS_DEV_DIR "/dev/virtio-ports"
#define VPORTS_SYSFS_DIR "/sys/class/virtio-ports"

/* How often to look for the port when it is missing (module not loaded yet,
 * device hot-unplugged): rare enough to cost nothing. */
#define AGENT_PORT_RETRY_MS 5000
/* How long to wait for room to finish a line already partly written. */
#define AGENT_PORT_FINISH_LINE_MS 100

void
agent_port_init (AgentPort *p)
{
  memset (p, 0, sizeof *p);
  p->fd = -1;
}

static bool
find_port (char *path, size_t cap)
{
  snprintf (path, cap, "%s/%s", VPORTS_DEV_DIR, AGENT_WIRE_PORT_NAME);
  if (access (path, F_OK) == 0)
    return true;

  DIR *d = opendir (VPORTS_SYSFS_DIR);
  if (!d)
    return false;
  struct dirent *e;
  bool found = false;
  while (!found && (e = readdir (d)))
    {
      if (e->d_name[0] == '.')
        continue;
      char name_path[512], name[128];
      snprintf (name_path, sizeof name_path, "%s/%s/name", VPORTS_SYSFS_DIR, e->d_name);
      long n = agent_read_file (name_path, name, sizeof name);
      if (n <= 0)
        continue;
      while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == ' '))
        name[--n] = '\0';
      if (strcmp (name, AGENT_WIRE_PORT_NAME) == 0)
        {
          snprintf (path, cap, "/dev/%s", e->d_name);
          found = true;
        }
    }
  closedir (d);
  return found;
}

void
agent_port_close (AgentPort *p)
{
  if (p->fd >= 0 && !p->use_stdout)
    close (p->fd);
  p->fd = -1;
  p->host_connected = false;
}

static void
port_open (AgentPort *p, uint64_t now_ms)
{
  char path[512];

  if (p->fd >= 0 || now_ms < p->next_probe_ms)
    return;
  p->next_probe_ms = now_ms + AGENT_PORT_RETRY_MS;
  if (p->path)
    snprintf (path, sizeof path, "%s", p->path);
  else if (!find_port (path, sizeof path))
    return;
  p->fd = open (path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (p->fd < 0)
    agent_log ("cannot open %s: %s (retrying)", path, strerror (errno));
  else
    agent_log ("using port %s", path);
}

void
agent_port_start_stdio (AgentPort *p)
{
  setvbuf (stdout, NULL, _IONBF, 0);
  p->fd = STDOUT_FILENO;
  p->host_connected = true;
  p->stdin_open = true;
  int fl = fcntl (STDIN_FILENO, F_GETFL);
  if (fl >= 0)
    fcntl (STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
}

/* Whether the host end of the port is open (QEMU reports a connected
 * chardev; an unconnected one makes the port poll POLLHUP). */
static bool
host_is_connected (const AgentPort *p)
{
  if (p->use_stdout)
    return true;
  if (p->fd < 0)
    return false;
  struct pollfd pfd = { .fd = p->fd, .events = POLLOUT };
  if (poll (&pfd, 1, 0) < 0)
    return p->host_connected;
  return !(pfd.revents & (POLLHUP | POLLERR | POLLNVAL));
}

bool
agent_port_track (AgentPort *p, uint64_t now_ms)
{
  port_open (p, now_ms);
  bool connected = host_is_connected (p);
  bool greet = connected && !p->host_connected;
  if (greet)
    {
      p->inlen = 0;
      p->in_discarding = false;
    }
  p->host_connected = connected;
  return greet;
}

bool
agent_port_send_line (AgentPort *p, AgentBuf *b)
{
  agent_buf_mem (b, "\n", 1);
  if (b->overflow || b->len > AGENT_WIRE_MAX_LINE_BYTES + 1)
    return false;
  if (p->fd < 0 || !p->host_connected)
    return false;
  size_t off = 0;
  while (off < b->len)
    {
      ssize_t n = write (p->fd, b->data + off, b->len - off);
      if (n > 0)
        {
          off += (size_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN && off > 0)
        {
          /* Finish a started line: wait briefly for room. */
          struct pollfd pfd = { .fd = p->fd, .events = POLLOUT };
          if (poll (&pfd, 1, AGENT_PORT_FINISH_LINE_MS) > 0 && !(pfd.revents & (POLLHUP | POLLERR)))
            continue;
        }
      if (n < 0 && errno == EAGAIN && off == 0)
        return false; /* host not reading: drop, never block */
      /* Port gone or broken: reopen at the next tick. */
      agent_port_close (p);
      p->next_probe_ms = 0;
      return false;
    }
  return true;
}

int
agent_port_input_fd (const AgentPort *p)
{
  if (p->use_stdout)
    return p->stdin_open ? STDIN_FILENO : -1;
  return p->host_connected ? p->fd : -1;
}

/* Reads what is available on @fd and hands complete lines to @fn; an
 * over-long line is discarded up to its newline. Returns false on EOF/error. */
static bool
read_lines (AgentPort *p, int fd, AgentLineFunc fn, void *user_data)
{
  for (;;)
    {
      char chunk[4096];
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return true;
      if (n <= 0)
        return false;
      for (ssize_t i = 0; i < n; i++)
        {
          char c = chunk[i];
          if (c == '\n')
            {
              if (!p->in_discarding)
                fn (p->inbuf, p->inlen, user_data);
              p->inlen = 0;
              p->in_discarding = false;
            }
          else if (p->in_discarding)
            continue;
          else if (p->inlen == AGENT_WIRE_MAX_LINE_BYTES)
            {
              p->in_discarding = true;
              p->lines_too_long++;
            }
          else
            p->inbuf[p->inlen++] = c;
        }
      if ((size_t) n < sizeof chunk)
        return true;
    }
}

void
agent_port_handle_input (AgentPort *p, int fd, short revents, AgentLineFunc fn, void *user_data)
{
  bool ok = true;
  if (revents & POLLIN)
    ok = read_lines (p, fd, fn, user_data);
  if (ok && !(revents & (POLLHUP | POLLERR | POLLNVAL)))
    return;
  /* Host end closed: stop polling it (it would report HUP in a loop) and
   * look again at the next tick. */
  if (p->use_stdout)
    p->stdin_open = false;
  else
    p->host_connected = false;
}
