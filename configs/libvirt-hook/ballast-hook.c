/* ballast-hook.c: libvirt's qemu hook (/etc/libvirt/hooks/qemu): turns a
 * domain's (name, operation, sub-operation) into one kick on ballastd's
 * control socket. It never calls libvirt, gives up after 200 ms in total,
 * and exits 0 whatever happened (a non-zero exit would make libvirt refuse
 * to start the domain), except on a usage error. */
#include "ballast-config.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hook-reply.h"

#define HOOK_DEFAULT_SOCKET BALLAST_CONTROL_SOCKET
/* A domain's start waits for the hook, which libvirt runs three times
 * (prepare, start, started): a wedged ballastd that accepts but never
 * answers costs a start at most 3 x 200 ms. A stopped one costs nothing
 * (connect is refused at once). ballastd answers in well under 10 ms. */
#define HOOK_TIMEOUT_MS 200
#define HOOK_ID "ballast-hook"
/* ballastd's error descriptions are one short sentence; longer ones are cut. */
#define HOOK_DESC_BYTES 256

/* libvirt's (operation, sub-operation) pairs worth a kick, and the event
 * name `vm-event` takes for each. Anything else is ignored. */
static const struct
{
  const char *op;
  const char *sub;
  const char *event;
} hook_map[] = {
  { "prepare", "begin", "CREATING" },  /* resources are about to be taken */
  { "start", "begin", "CREATING" },    /* QEMU is about to be launched */
  { "started", "begin", "CREATED" },   /* QEMU runs */
  { "stopped", "end", "DESTROYING" },  /* QEMU has exited */
  { "release", "end", "DESTROYED" },   /* its resources are given back */
  { "migrate", "begin", "MIGRATED" },  /* an incoming migration begins */
  { "restore", "begin", "CREATING" },  /* restored from a saved state */
  { "reconnect", "begin", "STARTED" }, /* libvirtd restarted and found it running */
};

static long long
hook_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline. Returns 1 ready, 0 timeout, -1 error. */
static int
hook_wait (int fd, short events, long long deadline_ms)
{
  for (;;)
    {
      long long left = deadline_ms - hook_now_ms ();
      if (left <= 0)
        return 0;
      struct pollfd p = { .fd = fd, .events = events };
      int r = poll (&p, 1, (int) left);
      if (r > 0)
        return 1;
      if (r == 0)
        return 0;
      if (errno != EINTR)
        return -1;
    }
}

/* Sends the command and waits for its reply. Returns NULL on success, else
 * what went wrong (a static string). */
static const char *
hook_send (const char *socket_path, const char *request, long long deadline_ms)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof addr.sun_path)
    return "socket path too long";
  strcpy (addr.sun_path, socket_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return "socket() failed";
  const char *what = NULL;
  /* A unix connect never goes "in progress": EAGAIN is a full backlog (a
   * busy daemon), so try again until the deadline. */
  while (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN || hook_now_ms () >= deadline_ms)
        {
          close (fd);
          return errno == EAGAIN ? "connect timed out (ballastd busy)"
                                 : "cannot connect (is ballastd running?)";
        }
      struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
      nanosleep (&pause, NULL);
    }
  /* QMP: capabilities first; the server handles pipelined lines in order. */
  size_t off = 0, len = strlen (request);
  while (off < len && what == NULL)
    {
      ssize_t n = send (fd, request + off, len - off, MSG_NOSIGNAL);
      if (n > 0)
        off += (size_t) n;
      else if (n < 0 && errno == EAGAIN)
        {
          if (hook_wait (fd, POLLOUT, deadline_ms) <= 0)
            what = "write timed out";
        }
      else if (n < 0 && errno != EINTR)
        what = "write failed";
    }
  /* The reply carries our id; the greeting, the capabilities reply and any
   * events before it are skipped. */
  HookReply reply;
  hook_reply_init (&reply);
  while (what == NULL)
    {
      int w = hook_wait (fd, POLLIN, deadline_ms);
      if (w <= 0)
        {
          what = w == 0 ? "no reply within the timeout" : "poll failed";
          break;
        }
      size_t room;
      char *at = hook_reply_room (&reply, &room);
      ssize_t n = recv (fd, at, room, 0);
      if (n == 0)
        what = "connection closed before the reply";
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        what = "read failed";
      if (n <= 0)
        continue;
      char desc[HOOK_DESC_BYTES];
      HookReplyStatus status = hook_reply_take (&reply, (size_t) n, HOOK_ID, desc, sizeof desc);
      if (status == HOOK_REPLY_ERROR)
        fprintf (stderr, "ballast-hook: ballastd: %s\n", desc);
      if (status != HOOK_REPLY_MORE)
        break;
    }
  close (fd);
  return what;
}

static int
hook_usage (void)
{
  fprintf (stderr, "usage: ballast-hook [--socket PATH] DOMAIN OPERATION SUB-OPERATION [EXTRA]\n"
                   "libvirt runs it as /etc/libvirt/hooks/qemu; see docs/libvirt.md.\n");
  return 2;
}

int
main (int argc, char **argv)
{
  long long deadline_ms = hook_now_ms () + HOOK_TIMEOUT_MS;
  const char *socket_path = getenv ("BALLAST_CONTROL_SOCKET");
  int i = 1;
  /* libvirt passes 4 arguments (domain, op, sub-op, extra), so a domain
   * named "--socket" is a domain unless there are two more. */
  if (argc >= 6 && strcmp (argv[i], "--socket") == 0)
    {
      socket_path = argv[i + 1];
      i += 2;
    }
  if (argc - i < 3)
    return hook_usage ();
  if (socket_path == NULL || *socket_path == '\0')
    socket_path = HOOK_DEFAULT_SOCKET;
  const char *name = argv[i], *op = argv[i + 1], *sub = argv[i + 2];

  const char *event = NULL;
  for (size_t k = 0; k < sizeof hook_map / sizeof hook_map[0]; k++)
    if (strcmp (op, hook_map[k].op) == 0 && strcmp (sub, hook_map[k].sub) == 0)
      event = hook_map[k].event;
  if (event == NULL)
    return 0;

  json_t *cmd = json_pack ("{s:s,s:{s:s,s:s},s:s}", "execute", "vm-event", "arguments", "vm", name,
                           "type", event, "id", HOOK_ID);
  char *line = cmd ? json_dumps (cmd, JSON_COMPACT) : NULL;
  json_decref (cmd);
  if (line == NULL)
    return 0; /* a name jansson cannot encode (not UTF-8): nothing to send */
  size_t n = strlen (line) + 64;
  char *request = malloc (n);
  if (request == NULL)
    {
      free (line);
      return 0;
    }
  snprintf (request, n, "{\"execute\":\"qmp_capabilities\"}\n%s\n", line);
  free (line);
  const char *what = hook_send (socket_path, request, deadline_ms);
  free (request);
  if (what != NULL)
    fprintf (stderr, "ballast-hook: %s %s %s: %s: %s\n", name, op, sub, socket_path, what);
  return 0;
}
