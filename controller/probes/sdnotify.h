/* sdnotify.h: systemd's readiness/status/watchdog protocol without libsystemd:
 * one datagram of "KEY=value" lines to the socket named by $NOTIFY_SOCKET. */
#pragma once

#include <glib.h>

/* Sends `state` (e.g. "READY=1\nSTATUS=started") to $NOTIFY_SOCKET.
 * Returns TRUE when sent, FALSE when not running under systemd (no
 * $NOTIFY_SOCKET) or on failure (logged at debug level: notification is
 * best-effort for a daemon). */
gboolean sd_notify_send (const char *state);

/* Sends `state` to the socket `address`: a path, or "@name" for the
 * abstract namespace. FALSE with a G_IO_ERROR on failure. */
gboolean sd_notify_send_to (const char *address, const char *state, GError **error);

/* printf-style convenience over sd_notify_send(). */
gboolean sd_notify_printf (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

gboolean sd_notify_ready (void);                /* READY=1 */
gboolean sd_notify_stopping (void);             /* STOPPING=1 */
gboolean sd_notify_watchdog (void);             /* WATCHDOG=1 */
gboolean sd_notify_status (const char *status); /* STATUS=<status> */

/* The watchdog interval systemd expects pings within, in µs, from
 * $WATCHDOG_USEC; 0 when there is no watchdog, the value is junk, or
 * $WATCHDOG_PID names another process. Ping at half this interval. */
guint64 sd_notify_watchdog_usec (void);
