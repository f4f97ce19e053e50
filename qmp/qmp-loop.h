/* qmp-loop.h: descriptors and one-shot timers that scale with the number of
 * VMs, on one GLib source per main context.
 *
 * GLib's loop polls every source's descriptor and walks every source on each
 * wake-up: with a socket, a reconnect timer and a command timeout per VM, a
 * wake-up costs O(VMs). A QmpWatch puts a descriptor in the context's epoll
 * set and a QmpTimer goes in its queue sorted by due time; the context sees
 * one source, so a wake-up costs what is ready or due.
 *
 * Watches and timers are used from the thread that runs their context only
 * (the context's poll timeout is computed there, at each iteration). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _QmpWatch QmpWatch;

/* After a wake-up that found descriptors ready, a set of at least
 * QMP_LOOP_COALESCE_MIN_WATCHES is read again only QMP_LOOP_COALESCE_US
 * later: the replies to a tick's commands come one by one, as each QEMU
 * answers, and a wake-up per reply (a context switch) costs more than the
 * reply. The first message after a quiet spell is read at once; a small set
 * (a few VMs, qmp-sync's one socket) is never paused. */
#define QMP_LOOP_COALESCE_US 2000
#define QMP_LOOP_COALESCE_MIN_WATCHES 32

/* Called from `context` while `fd` has `condition` (G_IO_HUP and G_IO_ERR
 * are always watched). Level-triggered, like a GLib fd source. */
typedef void (*QmpWatchFunc) (int fd, GIOCondition condition, gpointer user_data);

/* Watches `fd` on `context` (NULL: the global default; it must outlive the
 * watch); NULL with `error` set when the kernel refuses (no epoll, a
 * descriptor it cannot watch). */
QmpWatch *qmp_watch_add (GMainContext *context, int fd, GIOCondition condition, QmpWatchFunc func,
                         gpointer user_data, GError **error);
/* Stops the watch; `func` is not called again, even for an event already
 * taken from the kernel in the same wake-up. Call it before closing `fd`. */
void qmp_watch_remove (QmpWatch *watch);

typedef void (*QmpTimerFunc) (gpointer user_data);

/* A one-shot timer, embedded in its owner. Due timers fire soonest first,
 * one at a time, so a callback may cancel or free another due timer. */
typedef struct
{
  gpointer loop;         /* private */
  GSequenceIter *queued; /* private: its place in the queue while armed */
  gint64 due_mono_us;
  QmpTimerFunc func;
  gpointer user_data;
} QmpTimer;

/* `context` as for qmp_watch_add. */
void qmp_timer_init (QmpTimer *timer, GMainContext *context, QmpTimerFunc func, gpointer user_data);
/* Arms the timer for `due_mono_us` (g_get_monotonic_time's clock),
 * replacing a pending arming. A timer armed from a callback for a time
 * already past fires on the next wake-up, not in the same one. */
void qmp_timer_arm (QmpTimer *timer, gint64 due_mono_us);
/* Arms it `delay_ms` from now. */
void qmp_timer_arm_in (QmpTimer *timer, guint delay_ms);
/* Disarms a pending timer; safe when none is (and before teardown). */
void qmp_timer_cancel (QmpTimer *timer);
gboolean qmp_timer_armed (const QmpTimer *timer);

G_END_DECLS
