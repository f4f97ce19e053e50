/* qmp-watch.c: one epoll set per main context, attached to it as one source
 * whose descriptor is the set's. The context owns the source: when the
 * context goes, so do the set and its table entry. */
#include "qmp-watch.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/epoll.h>
#include <unistd.h>

/* More ready descriptors than this wait for the next wake-up: the set stays
 * readable, so none is lost, and one wake-up stays bounded. */
#define WATCH_EVENTS_PER_WAKE 64

typedef struct
{
  GSource base;
  GMainContext *context; /* the key in watch_sets; not a reference */
  int epoll_fd;
  gpointer epoll_tag;
  guint dispatching;  /* nesting depth of dispatch */
  GPtrArray *removed; /* watches a running dispatch may still hold */
} WatchSet;

struct _QmpWatch
{
  WatchSet *set;
  int fd;
  QmpWatchFunc func;
  gpointer user_data;
  gboolean removed;
};

G_LOCK_DEFINE_STATIC (watch_sets);
static GHashTable *watch_sets; /* GMainContext* -> WatchSet* */

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

static gboolean
watch_set_check (GSource *source)
{
  WatchSet *set = (WatchSet *) source;
  return g_source_query_unix_fd (source, set->epoll_tag) != 0;
}

static gboolean
watch_set_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  WatchSet *set = (WatchSet *) source;
  struct epoll_event events[WATCH_EVENTS_PER_WAKE];
  int n = epoll_wait (set->epoll_fd, events, G_N_ELEMENTS (events), 0);

  (void) callback;
  (void) user_data;
  set->dispatching++;
  for (int i = 0; i < n; i++)
    {
      QmpWatch *w = events[i].data.ptr;
      if (!w->removed)
        w->func (w->fd, condition_from_epoll (events[i].events), w->user_data);
    }
  if (--set->dispatching == 0)
    g_ptr_array_set_size (set->removed, 0);
  return G_SOURCE_CONTINUE;
}

static void
watch_set_finalize (GSource *source)
{
  WatchSet *set = (WatchSet *) source;

  G_LOCK (watch_sets);
  if (g_hash_table_lookup (watch_sets, set->context) == set)
    g_hash_table_remove (watch_sets, set->context);
  G_UNLOCK (watch_sets);
  g_ptr_array_unref (set->removed);
  close (set->epoll_fd);
}

static GSourceFuncs watch_set_funcs = {
  .check = watch_set_check,
  .dispatch = watch_set_dispatch,
  .finalize = watch_set_finalize,
};

static WatchSet *
watch_set_get (GMainContext *context, GError **error)
{
  WatchSet *set = NULL;

  G_LOCK (watch_sets);
  if (watch_sets == NULL)
    watch_sets = g_hash_table_new (NULL, NULL);
  set = g_hash_table_lookup (watch_sets, context);
  if (set == NULL)
    {
      int epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
      if (epoll_fd < 0)
        {
          int e = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                       "cannot create an epoll set: %s", g_strerror (e));
        }
      else
        {
          set = (WatchSet *) g_source_new (&watch_set_funcs, sizeof *set);
          set->context = context;
          set->epoll_fd = epoll_fd;
          set->removed = g_ptr_array_new_with_free_func (g_free);
          set->epoll_tag = g_source_add_unix_fd (&set->base, epoll_fd, G_IO_IN);
          /* A callback may iterate the context; the set must still answer. */
          g_source_set_can_recurse (&set->base, TRUE);
          g_source_set_static_name (&set->base, "qmp-watch");
          g_source_attach (&set->base, context);
          g_source_unref (&set->base);
          g_hash_table_insert (watch_sets, context, set);
        }
    }
  G_UNLOCK (watch_sets);
  return set;
}

QmpWatch *
qmp_watch_add (GMainContext *context, int fd, GIOCondition condition, QmpWatchFunc func,
               gpointer user_data, GError **error)
{
  g_return_val_if_fail (fd >= 0 && func != NULL, NULL);
  if (context == NULL)
    context = g_main_context_default ();
  WatchSet *set = watch_set_get (context, error);
  if (set == NULL)
    return NULL;

  QmpWatch *w = g_new0 (QmpWatch, 1);
  w->set = set;
  w->fd = fd;
  w->func = func;
  w->user_data = user_data;
  struct epoll_event ev = { .events = epoll_from_condition (condition), .data.ptr = w };
  if (epoll_ctl (set->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot watch descriptor %d: %s",
                   fd, g_strerror (e));
      g_free (w);
      return NULL;
    }
  return w;
}

void
qmp_watch_remove (QmpWatch *watch)
{
  if (watch == NULL)
    return;
  WatchSet *set = watch->set;
  /* The descriptor is still open: a closed one would already be gone from
   * the set, and its number may be another's by now. */
  epoll_ctl (set->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
  watch->removed = TRUE;
  if (set->dispatching > 0)
    g_ptr_array_add (set->removed, watch);
  else
    g_free (watch);
}
