/* Unit tests of QmpWatch: descriptors in one epoll set per main context. */
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp-watch.h"

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
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), ==, 0);
  GIOCondition seen = 0;
  QmpWatch *w = qmp_watch_add (context, fds[0], G_IO_IN, hup_seen, &seen, NULL);
  g_assert_nonnull (w);
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/qmp/watch/many-ready", test_many_ready);
  g_test_add_func ("/qmp/watch/remove-in-dispatch", test_remove_in_dispatch);
  g_test_add_func ("/qmp/watch/hangup", test_hangup);
  g_test_add_func ("/qmp/watch/bad-fd", test_bad_fd);
  g_test_add_func ("/qmp/watch/context-owns-set", test_context_owns_set);
  return g_test_run ();
}
