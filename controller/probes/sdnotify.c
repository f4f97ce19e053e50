/* sdnotify.c: a self-contained sd_notify: AF_UNIX datagrams to a path or an
 * abstract socket, and the $WATCHDOG_USEC/$WATCHDOG_PID interval check. */
#define G_LOG_DOMAIN "ballast"

#include "sdnotify.h"

#include <errno.h>
#include <gio/gio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "roots.h"

gboolean
sd_notify_send_to (const char *address, const char *state, GError **error)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  gsize addr_len = address != NULL ? strlen (address) : 0;

  /* Only unix sockets: systemd's vsock: addresses are for VMs' own init. */
  if (addr_len < 2 || (address[0] != '/' && address[0] != '@'))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NOTIFY_SOCKET \"%s\": not an absolute path or @abstract name",
                   address != NULL ? address : "");
      return FALSE;
    }
  if (addr_len >= sizeof sa.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "NOTIFY_SOCKET \"%s\": too long",
                   address);
      return FALSE;
    }
  memcpy (sa.sun_path, address, addr_len);
  socklen_t sa_len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + addr_len);
  if (address[0] == '@')
    sa.sun_path[0] = '\0'; /* abstract: the name's length is the address length */
  else
    sa_len += 1; /* count the path's NUL like systemd does */

  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "socket: %s",
                   g_strerror (saved_errno));
      return FALSE;
    }
  gsize len = strlen (state);
  ssize_t n;
  do
    n = sendto (fd, state, len, MSG_NOSIGNAL, (struct sockaddr *) &sa, sa_len);
  while (n < 0 && errno == EINTR);
  int saved_errno = errno;
  close (fd);
  if (n < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "sending to %s: %s",
                   address, g_strerror (saved_errno));
      return FALSE;
    }
  if ((gsize) n != len)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sending to %s: short datagram", address);
      return FALSE;
    }
  return TRUE;
}

gboolean
sd_notify_send (const char *state)
{
  const char *address = g_getenv ("NOTIFY_SOCKET");
  g_autoptr (GError) error = NULL;
  if (address == NULL || address[0] == '\0')
    return FALSE;
  if (!sd_notify_send_to (address, state, &error))
    {
      g_debug ("sd_notify: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
sd_notify_printf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *state = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return sd_notify_send (state);
}

gboolean
sd_notify_ready (void)
{
  return sd_notify_send ("READY=1");
}

gboolean
sd_notify_stopping (void)
{
  return sd_notify_send ("STOPPING=1");
}

gboolean
sd_notify_watchdog (void)
{
  return sd_notify_send ("WATCHDOG=1");
}

gboolean
sd_notify_status (const char *status)
{
  /* One line: a newline would start a new KEY=value assignment. */
  g_autofree char *line = g_strdelimit (g_strdup (status), "\n", ' ');
  return sd_notify_printf ("STATUS=%s", line);
}

guint64
sd_notify_watchdog_usec (void)
{
  const char *usec = g_getenv ("WATCHDOG_USEC");
  const char *pid = g_getenv ("WATCHDOG_PID");
  uint64_t value = 0;
  uint64_t watchdog_pid = 0;

  if (usec == NULL || !host_parse_u64 (usec, &value) || value == 0)
    return 0;
  /* Set by systemd for the main process only; a child inheriting it must not ping. */
  if (pid != NULL && (!host_parse_u64 (pid, &watchdog_pid) || watchdog_pid != (uint64_t) getpid ()))
    return 0;
  return value;
}
