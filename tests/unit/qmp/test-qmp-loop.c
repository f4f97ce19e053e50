/* Unit tests of qmp-loop: watches in one epoll set and timers in one queue
 * per main context. */
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp-loop.h"

#define N_PAIRS 100

typedef struct
{
  int fds[N_PAIRS][2];
  QmpWatch *watches[N_PAIRS];
  guint calls[N_PAIRS];
  int remove_on_call; /* index whose callback removes every other watch, or -1 */
} Fixture;

static void
drain (int fd)
{
  char buf[64];
  g_assert_cmpint (read (fd, buf, sizeof buf), >, 0);
}

static void
on_ready (int fd, GIOCondition condition, gpointer data)
{
  Fixture *fx = data;
  for (int i = 0; i < N_PAIRS; i++)
    {
      if (fx->fds[i][0] != fd)
        continue;
      g_assert_true (condition & G_IO_IN);
      fx->calls[i]++;
      drain (fd);
      if (i == fx->remove_on_call)
        for (int j = 0; j < N_PAIRS; j++)
          if (j != i)
            g_clear_pointer (&fx->watches[j], qmp_watch_remove);
      return;
    }
  g_assert_not_reached ();
}

static void
fixture_open (Fixture *fx, GMainContext *context)
{
  fx->remove_on_call = -1;
  for (int i = 0; i < N_PAIRS; i++)
    {
      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fx->fds[i]), ==, 0);
      g_autoptr (GError) error = NULL;
      fx->watches[i] = qmp_watch_add (context, fx->fds[i][0], G_IO_IN, on_ready, fx, &error);
      g_assert_no_error (error);
    }
}

static void
fixture_close (Fixture *fx)
{
  for (int i = 0; i < N_PAIRS; i++)
    {
      g_clear_pointer (&fx->watches[i], qmp_watch_remove);
      close (fx->fds[i][0]);
      close (fx->fds[i][1]);
    }
}

static void
iterate_until_idle (GMainContext *context)
{
  for (int i = 0; i < 10 && g_main_context_iteration (context, FALSE); i++)
    ;
}

/* More descriptors ready than one wake-up takes: every one is served, once
 * per write, and a quiet one never. */
static void
test_many_ready (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  Fixture fx = { 0 };
  fixture_open (&fx, context);
  for (int i = 0; i < N_PAIRS - 1; i++)
    g_assert_cmpint (write (fx.fds[i][1], "x", 1), ==, 1);
  iterate_until_idle (context);
  for (int i = 0; i < N_PAIRS - 1; i++)
    g_assert_cmpuint (fx.calls[i], ==, 1);
  g_assert_cmpuint (fx.calls[N_PAIRS - 1], ==, 0);
  fixture_close (&fx);
}

/* Messages that come while the loop has just read one wait for the
 * coalescing pause and are then read in one wake-up; the first message
 * after a quiet spell is read at once. */
static void
test_coalesce (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  Fixture fx = { 0 };
  fixture_open (&fx, context);
  g_assert_cmpint (write (fx.fds[0][1], "x", 1), ==, 1);
  gint64 before_first_us = g_get_monotonic_time ();
  g_assert_true (g_main_context_iteration (context, FALSE));
  g_assert_cmpuint (fx.calls[0], ==, 1);

  for (int i = 1; i <= 10; i++)
    g_assert_cmpint (write (fx.fds[i][1], "x", 1), ==, 1);
  int wakeups = 0;
  while (fx.calls[10] == 0)
    {
      g_main_context_iteration (context, TRUE);
      wakeups++;
    }
  g_assert_cmpint (g_get_monotonic_time () - before_first_us, >=, QMP_LOOP_COALESCE_US);
  for (int i = 1; i <= 10; i++)
    g_assert_cmpuint (fx.calls[i], ==, 1);
  g_assert_cmpint (wakeups, <=, 2);

  /* A pause that finds nothing ready ends: the set is polled again. */
  g_usleep (3 * QMP_LOOP_COALESCE_US);
  iterate_until_idle (context);
  g_assert_cmpint (write (fx.fds[11][1], "x", 1), ==, 1);
  g_assert_true (g_main_context_iteration (context, FALSE));
  g_assert_cmpuint (fx.calls[11], ==, 1);
  fixture_close (&fx);
}

/* A set smaller than QMP_LOOP_COALESCE_MIN_WATCHES is read at every
 * wake-up: a message right after another is read at once. */
static void
count_call (int fd, GIOCondition condition, gpointer data)
{
  (void) condition;
  drain (fd);
  (*(guint *) data)++;
}

/* A socket pair whose first end `context` watches for input. */
static QmpWatch *
watch_pair (GMainContext *context, int fds[2], QmpWatchFunc func, gpointer data)
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), ==, 0);
  QmpWatch *w = qmp_watch_add (context, fds[0], G_IO_IN, func, data, NULL);
  g_assert_nonnull (w);
  return w;
}

static void
test_small_set_not_paused (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  int fds[2];
  guint calls = 0;
  QmpWatch *w = watch_pair (context, fds, count_call, &calls);
  for (guint i = 1; i <= 3; i++)
    {
      g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
      g_assert_true (g_main_context_iteration (context, FALSE));
      g_assert_cmpuint (calls, ==, i);
    }
  qmp_watch_remove (w);
  close (fds[0]);
  close (fds[1]);
}

/* A callback that removes other watches whose events the same wake-up
 * already took: none of them is called (ASan sees any use after free). */
static void
test_remove_in_dispatch (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  Fixture fx = { 0 };
  fixture_open (&fx, context);
  for (int i = 0; i < N_PAIRS; i++)
    g_assert_cmpint (write (fx.fds[i][1], "x", 1), ==, 1);
  /* epoll reports in readiness order: the first written is taken first. */
  fx.remove_on_call = 0;
  g_assert_true (g_main_context_iteration (context, FALSE));
  iterate_until_idle (context);
  g_assert_cmpuint (fx.calls[0], ==, 1);
  for (int i = 1; i < N_PAIRS; i++)
    g_assert_cmpuint (fx.calls[i], ==, 0);
  fixture_close (&fx);
}

/* A watched peer that hangs up is reported (G_IO_HUP is always watched). */
static void
hup_seen (int fd, GIOCondition condition, gpointer data)
{
  (void) fd;
  *(GIOCondition *) data |= condition;
}

static void
test_hangup (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  int fds[2];
  GIOCondition seen = 0;
  QmpWatch *w = watch_pair (context, fds, hup_seen, &seen);
  close (fds[1]);
  g_assert_true (g_main_context_iteration (context, FALSE));
  g_assert_true (seen & G_IO_HUP);
  qmp_watch_remove (w);
  close (fds[0]);
}

/* A descriptor epoll cannot watch: a clear error, no watch. */
static void
test_bad_fd (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  int fds[2];
  g_assert_cmpint (pipe (fds), ==, 0);
  close (fds[0]);
  close (fds[1]);
  g_assert_null (qmp_watch_add (context, fds[0], G_IO_IN, hup_seen, NULL, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_nonnull (strstr (error->message, "cannot watch descriptor"));
}

/* The set goes with its context: the epoll descriptor is closed, and a new
 * context gets a set of its own. */
static void
test_context_owns_set (void)
{
  int before = dup (0);
  close (before);
  for (int round = 0; round < 3; round++)
    {
      GMainContext *context = g_main_context_new ();
      Fixture fx = { 0 };
      fixture_open (&fx, context);
      g_assert_cmpint (write (fx.fds[3][1], "x", 1), ==, 1);
      iterate_until_idle (context);
      g_assert_cmpuint (fx.calls[3], ==, 1);
      fixture_close (&fx);
      g_main_context_unref (context);
    }
  int after = dup (0);
  close (after);
  g_assert_cmpint (after, ==, before);
}

#define N_TIMERS 200

typedef struct
{
  QmpTimer timers[N_TIMERS];
  int order[N_TIMERS];
  guint n_fired;
  guint rearmed; /* times timer 0 armed itself again for the past */
} Timers;

typedef struct
{
  Timers *all;
  int index;
} TimerSlot;

static TimerSlot timer_slots[N_TIMERS];

static void
on_timer (gpointer data)
{
  TimerSlot *slot = data;
  Timers *all = slot->all;
  all->order[all->n_fired++] = slot->index;
  if (slot->index == 0 && all->rearmed == 0)
    {
      /* Due in the same wake-up as this one: disarmed, never called. */
      qmp_timer_cancel (&all->timers[1]);
      /* Armed again for the past: fires on a later wake-up, not in this
       * dispatch (which would spin a callback that always re-arms). */
      all->rearmed++;
      qmp_timer_arm (&all->timers[0], 0);
      g_assert_true (qmp_timer_armed (&all->timers[0]));
    }
}

/* Timers fire soonest first (armed in reverse order), once each; a callback
 * may cancel another due timer; one armed again for the past waits for the
 * next wake-up. */
static void
test_timers (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autofree Timers *all = g_new0 (Timers, 1);
  gint64 now_us = g_get_monotonic_time ();
  for (int i = N_TIMERS - 1; i >= 0; i--)
    {
      timer_slots[i] = (TimerSlot){ .all = all, .index = i };
      qmp_timer_init (&all->timers[i], context, on_timer, &timer_slots[i]);
      qmp_timer_arm (&all->timers[i], now_us + 1000 + i * 10);
    }
  g_assert_false (qmp_timer_armed (&(QmpTimer){ 0 }));
  g_usleep (5 * 1000);
  g_assert_true (g_main_context_iteration (context, FALSE));
  /* One dispatch: every due timer but the cancelled one, in order; timer 0
   * once, armed again. */
  g_assert_cmpuint (all->n_fired, ==, N_TIMERS - 1);
  g_assert_cmpint (all->order[0], ==, 0);
  for (int i = 1; i < N_TIMERS - 1; i++)
    g_assert_cmpint (all->order[i], ==, i + 1);
  g_assert_true (qmp_timer_armed (&all->timers[0]));
  g_assert_false (qmp_timer_armed (&all->timers[1]));
  g_assert_true (g_main_context_iteration (context, FALSE));
  g_assert_cmpuint (all->n_fired, ==, N_TIMERS);
  g_assert_cmpint (all->order[N_TIMERS - 1], ==, 0);
  /* A cancelled timer stays quiet. */
  qmp_timer_arm_in (&all->timers[5], 1);
  qmp_timer_cancel (&all->timers[5]);
  g_usleep (3 * 1000);
  iterate_until_idle (context);
  g_assert_cmpuint (all->n_fired, ==, N_TIMERS);
}

typedef struct
{
  GMainContext *context;
  QmpTimer timer;
  gboolean fired;
  gboolean guard_fired;
  gboolean fired_first; /* the timer came before the guard */
} Nested;

static void
nested_timer_fired (gpointer data)
{
  Nested *n = data;
  n->fired = TRUE;
  n->fired_first = !n->guard_fired;
}

static gboolean
nested_guard (gpointer data)
{
  ((Nested *) data)->guard_fired = TRUE;
  return G_SOURCE_REMOVE;
}

/* A watch's callback arms a timer sooner than any other and iterates the
 * context until it fires (as a blocking call inside a callback does): the
 * nested iteration must wake for it, not sleep until the next event. */
static void
nested_ready (int fd, GIOCondition condition, gpointer data)
{
  Nested *n = data;
  drain (fd);
  qmp_timer_arm_in (&n->timer, 5);
  GSource *guard = g_timeout_source_new (1000);
  g_source_set_callback (guard, nested_guard, n, NULL);
  g_source_attach (guard, n->context);
  while (!n->fired && !n->guard_fired)
    g_main_context_iteration (n->context, TRUE);
  g_source_destroy (guard);
  g_source_unref (guard);
}

static void
test_timer_in_nested_iteration (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  Nested n = { .context = context };
  int fds[2];
  qmp_timer_init (&n.timer, context, nested_timer_fired, &n);
  QmpWatch *w = watch_pair (context, fds, nested_ready, &n);
  g_assert_cmpint (write (fds[1], "x", 1), ==, 1);
  g_assert_true (g_main_context_iteration (context, FALSE));
  g_assert_true (n.fired);
  g_assert_true (n.fired_first);
  qmp_watch_remove (w);
  close (fds[0]);
  close (fds[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/qmp/loop/watch-many-ready", test_many_ready);
  g_test_add_func ("/qmp/loop/watch-remove-in-dispatch", test_remove_in_dispatch);
  g_test_add_func ("/qmp/loop/watch-coalesce", test_coalesce);
  g_test_add_func ("/qmp/loop/watch-small-set-not-paused", test_small_set_not_paused);
  g_test_add_func ("/qmp/loop/watch-hangup", test_hangup);
  g_test_add_func ("/qmp/loop/watch-bad-fd", test_bad_fd);
  g_test_add_func ("/qmp/loop/watch-context-owns-set", test_context_owns_set);
  g_test_add_func ("/qmp/loop/timers", test_timers);
  g_test_add_func ("/qmp/loop/timer-in-nested-iteration", test_timer_in_nested_iteration);
  return g_test_run ();
}
