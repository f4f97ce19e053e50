/* qmp-watch.h: descriptors watched through one epoll set per main context.
 *
 * GLib's loop polls every source's descriptor and walks every source on each
 * wake-up: with a socket per VM, one reply costs O(VMs). A QmpWatch puts the
 * descriptor in an epoll set instead, which the context sees as one source,
 * so a wake-up costs what is ready. Level-triggered, like a GLib fd source. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _QmpWatch QmpWatch;

/* Called from `context` while `fd` has `condition` (G_IO_HUP and G_IO_ERR
 * are always watched). */
typedef void (*QmpWatchFunc) (int fd, GIOCondition condition, gpointer user_data);

/* Watches `fd` on `context` (which must outlive the watch); NULL with
 * `error` set when the kernel refuses (no epoll, a descriptor it cannot
 * watch). */
QmpWatch *qmp_watch_add (GMainContext *context, int fd, GIOCondition condition, QmpWatchFunc func,
                         gpointer user_data, GError **error);
/* Stops the watch; `func` is not called again, even for an event already
 * taken from the kernel in the same wake-up. Call it before closing `fd`. */
void qmp_watch_remove (QmpWatch *watch);

G_END_DECLS
