/* qmp-loop.c: one GLib source per main context holding an epoll set (the
 * watches) and a queue of timers sorted by due time. The context owns the
 * source: when the context goes, so do the set, the queue and the table
 * entry. */
#include "qmp-loop.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/epoll.h>
#include <unistd.h>

/* More ready descriptors than this wait for the next wake-up: the set stays
 * readable, so none is lost, and one wake-up stays bounded. */
#define LOOP_EVENTS_PER_WAKE 64

typedef struct
{
  GSource base;
  GMainContext *context; /* the key in loops; not a reference */
  int epoll_fd;          /* -1 until the first watch */
  gpointer epoll_tag;
  guint n_watches;
  gint64 io_resume_mono_us; /* 0: the set is polled; else when it is read next */
  guint dispatching;  /* nesting depth of dispatch */
  GPtrArray *removed; /* watches a running dispatch may still hold */
  GSequence *timers;  /* QmpTimer*, soonest first */
  GSequence *firing;  /* due timers taken out of `timers` by a dispatch */
} Loop;

struct _QmpWatch
{
  Loop *loop;
  int fd;
  QmpWatchFunc func;
  gpointer user_data;
  gboolean removed;
};

G_LOCK_DEFINE_STATIC (loops);
static GHashTable *loops; /* GMainContext* -> Loop* */

static GIOCondition
condition_from_epoll (guint32 events)
{
  return (events & EPOLLIN ? G_IO_IN : 0) | (events & EPOLLOUT ? G_IO_OUT : 0)
         | (events & EPOLLPRI ? G_IO_PRI : 0) | (events & EPOLLHUP ? G_IO_HUP : 0)
         | (events & EPOLLERR ? G_IO_ERR : 0);
}

static guint32
epoll_from_condition (GIOCondition condition)
{
  return (condition & G_IO_IN ? EPOLLIN : 0) | (condition & G_IO_OUT ? EPOLLOUT : 0)
         | (condition & G_IO_PRI ? EPOLLPRI : 0);
}

/* The soonest armed timer's due time, or -1 with none armed. */
static gint64
loop_next_due (Loop *loop)
{
  GSequenceIter *first = g_sequence_get_begin_iter (loop->timers);
  return g_sequence_iter_is_end (first) ? -1 : ((QmpTimer *) g_sequence_get (first))->due_mono_us;
}

/* When the loop must wake next without an event: a timer or a paused set. */
static gint64
loop_next_wake (Loop *loop)
{
  gint64 due_mono_us = loop_next_due (loop);
  gint64 io_mono_us = loop->io_resume_mono_us;
  if (io_mono_us != 0 && (due_mono_us < 0 || io_mono_us < due_mono_us))
    return io_mono_us;
  return due_mono_us;
}

/* Stops polling the set until `resume_mono_us` (0: polls it again). */
static void
loop_pause_io (Loop *loop, gint64 resume_mono_us)
{
  if ((loop->io_resume_mono_us != 0) != (resume_mono_us != 0))
    g_source_modify_unix_fd (&loop->base, loop->epoll_tag, resume_mono_us != 0 ? 0 : G_IO_IN);
  loop->io_resume_mono_us = resume_mono_us;
}

/* Takes the due timers out of the queue first, so one a callback arms again
 * waits for the next wake-up; then fires them one by one, so a callback
 * may cancel another (qmp_timer_cancel finds it in `firing`). */
static void
loop_fire_timers (Loop *loop, gint64 now_mono_us)
{
  GSequenceIter *begin = g_sequence_get_begin_iter (loop->timers);
  GSequenceIter *end = begin;
  while (!g_sequence_iter_is_end (end)
         && ((QmpTimer *) g_sequence_get (end))->due_mono_us <= now_mono_us)
    end = g_sequence_iter_next (end);
  g_sequence_move_range (g_sequence_get_end_iter (loop->firing), begin, end);
  for (;;)
    {
      GSequenceIter *first = g_sequence_get_begin_iter (loop->firing);
      if (g_sequence_iter_is_end (first))
        break;
      QmpTimer *timer = g_sequence_get (first);
      g_sequence_remove (first);
      timer->queued = NULL;
      timer->func (timer->user_data);
    }
}

/* Returns how many descriptors were ready. */
static int
loop_dispatch_watches (Loop *loop)
{
  struct epoll_event events[LOOP_EVENTS_PER_WAKE];
  int n = epoll_wait (loop->epoll_fd, events, G_N_ELEMENTS (events), 0);
  for (int i = 0; i < n; i++)
    {
      QmpWatch *w = events[i].data.ptr;
      if (!w->removed)
        w->func (w->fd, condition_from_epoll (events[i].events), w->user_data);
    }
  return n;
}

static gboolean
loop_has_events (Loop *loop)
{
  return loop->epoll_tag != NULL && g_source_query_unix_fd (&loop->base, loop->epoll_tag) != 0;
}

/* The poll timeout comes from the queue at each iteration rather than from
 * g_source_set_ready_time, which wakes the loop on every change of the
 * soonest timer (a reply cancels it): one empty pass per reply batch. */
static gboolean
loop_prepare (GSource *source, gint *timeout_ms)
{
  gint64 due_mono_us = loop_next_wake ((Loop *) source);
  gint64 now_mono_us = g_source_get_time (source);
  if (due_mono_us < 0)
    *timeout_ms = -1;
  else if (due_mono_us <= now_mono_us)
    *timeout_ms = 0;
  else
    *timeout_ms = (gint) MIN ((due_mono_us - now_mono_us + 999) / 1000, G_MAXINT);
  return *timeout_ms == 0;
}

static gboolean
loop_check (GSource *source)
{
  Loop *loop = (Loop *) source;
  gint64 due_mono_us = loop_next_wake (loop);
  return loop_has_events (loop) || (due_mono_us >= 0 && due_mono_us <= g_source_get_time (source));
}

static gboolean
loop_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  Loop *loop = (Loop *) source;

  (void) callback;
  (void) user_data;
  loop->dispatching++;
  gint64 now_mono_us = g_source_get_time (source);
  loop_fire_timers (loop, now_mono_us);
  gboolean paused = loop->io_resume_mono_us != 0;
  if (paused ? now_mono_us >= loop->io_resume_mono_us : loop_has_events (loop))
    {
      int n = loop_dispatch_watches (loop);
      /* A full batch leaves more ready: the next iteration reads on. */
      gboolean pause
          = n > 0 && n < LOOP_EVENTS_PER_WAKE && loop->n_watches >= QMP_LOOP_COALESCE_MIN_WATCHES;
      loop_pause_io (loop, pause ? now_mono_us + QMP_LOOP_COALESCE_US : 0);
    }
  if (--loop->dispatching == 0)
    g_ptr_array_set_size (loop->removed, 0);
  return G_SOURCE_CONTINUE;
}

static void
loop_finalize (GSource *source)
{
  Loop *loop = (Loop *) source;

  G_LOCK (loops);
  if (g_hash_table_lookup (loops, loop->context) == loop)
    g_hash_table_remove (loops, loop->context);
  G_UNLOCK (loops);
  g_ptr_array_unref (loop->removed);
  g_sequence_free (loop->timers);
  g_sequence_free (loop->firing);
  if (loop->epoll_fd >= 0)
    close (loop->epoll_fd);
}

static GSourceFuncs loop_funcs = {
  .prepare = loop_prepare,
  .check = loop_check,
  .dispatch = loop_dispatch,
  .finalize = loop_finalize,
};

static Loop *
loop_get (GMainContext *context)
{
  if (context == NULL)
    context = g_main_context_default ();
  G_LOCK (loops);
  if (loops == NULL)
    loops = g_hash_table_new (NULL, NULL);
  Loop *loop = g_hash_table_lookup (loops, context);
  if (loop == NULL)
    {
      loop = (Loop *) g_source_new (&loop_funcs, sizeof *loop);
      loop->context = context;
      loop->epoll_fd = -1;
      loop->removed = g_ptr_array_new_with_free_func (g_free);
      loop->timers = g_sequence_new (NULL);
      loop->firing = g_sequence_new (NULL);
      /* A callback may iterate the context; the loop must still answer. */
      g_source_set_can_recurse (&loop->base, TRUE);
      g_source_set_static_name (&loop->base, "qmp-loop");
      g_source_attach (&loop->base, context);
      g_source_unref (&loop->base);
      g_hash_table_insert (loops, context, loop);
    }
  G_UNLOCK (loops);
  return loop;
}

/* The epoll set is made with the first watch, so timers never depend on a
 * free descriptor. */
static gboolean
loop_ensure_epoll (Loop *loop, GError **error)
{
  if (loop->epoll_fd >= 0)
    return TRUE;
  loop->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (loop->epoll_fd < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot create an epoll set: %s",
                   g_strerror (e));
      return FALSE;
    }
  loop->epoll_tag = g_source_add_unix_fd (&loop->base, loop->epoll_fd, G_IO_IN);
  return TRUE;
}

/* ---- watches ------------------------------------------------------------- */

QmpWatch *
qmp_watch_add (GMainContext *context, int fd, GIOCondition condition, QmpWatchFunc func,
               gpointer user_data, GError **error)
{
  g_return_val_if_fail (fd >= 0 && func != NULL, NULL);
  Loop *loop = loop_get (context);
  if (!loop_ensure_epoll (loop, error))
    return NULL;

  QmpWatch *w = g_new0 (QmpWatch, 1);
  w->loop = loop;
  w->fd = fd;
  w->func = func;
  w->user_data = user_data;
  struct epoll_event ev = { .events = epoll_from_condition (condition), .data.ptr = w };
  if (epoll_ctl (loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot watch descriptor %d: %s",
                   fd, g_strerror (e));
      g_free (w);
      return NULL;
    }
  loop->n_watches++;
  return w;
}

void
qmp_watch_remove (QmpWatch *watch)
{
  if (watch == NULL)
    return;
  Loop *loop = watch->loop;
  /* The descriptor is still open: a closed one would already be gone from
   * the set, and its number may be another's by now. */
  epoll_ctl (loop->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
  watch->removed = TRUE;
  loop->n_watches--;
  if (loop->dispatching > 0)
    g_ptr_array_add (loop->removed, watch);
  else
    g_free (watch);
}

/* ---- timers -------------------------------------------------------------- */

static gint
timer_compare (gconstpointer a, gconstpointer b, gpointer data)
{
  const QmpTimer *ta = a, *tb = b;
  (void) data;
  return ta->due_mono_us < tb->due_mono_us ? -1 : ta->due_mono_us > tb->due_mono_us;
}

void
qmp_timer_init (QmpTimer *timer, GMainContext *context, QmpTimerFunc func, gpointer user_data)
{
  *timer = (QmpTimer){ .loop = loop_get (context), .func = func, .user_data = user_data };
}

void
qmp_timer_arm (QmpTimer *timer, gint64 due_mono_us)
{
  Loop *loop = timer->loop;
  if (timer->queued != NULL)
    g_sequence_remove (timer->queued);
  timer->due_mono_us = MAX (due_mono_us, 0);
  timer->queued = g_sequence_insert_sorted (loop->timers, timer, timer_compare, NULL);
}

void
qmp_timer_arm_in (QmpTimer *timer, guint delay_ms)
{
  qmp_timer_arm (timer, g_get_monotonic_time () + (gint64) delay_ms * 1000);
}

void
qmp_timer_cancel (QmpTimer *timer)
{
  if (timer->queued == NULL)
    return;
  g_sequence_remove (timer->queued);
  timer->queued = NULL;
}

gboolean
qmp_timer_armed (const QmpTimer *timer)
{
  return timer->queued != NULL;
}
