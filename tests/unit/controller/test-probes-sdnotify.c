/* test-probes-sdnotify.c: sd_notify datagrams received on a real AF_UNIX
 * datagram socket (path and abstract), and the watchdog interval rules. */
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake-root.h"
#include "sdnotify.h"

/* Binds a datagram socket at `address` (path or "@abstract"). */
static int
bind_dgram (const char *address)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  gsize len = strlen (address);
  g_assert_cmpuint (len, <, sizeof sa.sun_path);
  memcpy (sa.sun_path, address, len);
  if (address[0] == '@')
    sa.sun_path[0] = '\0';
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa,
                         (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len)),
                   ==, 0);
  return fd;
}

/* Receives one datagram, failing the test if none is queued (the sender
 * is synchronous, so it is there already). */
static char *
recv_one (int fd)
{
  char buf[4096];
  ssize_t n = recv (fd, buf, sizeof buf - 1, MSG_DONTWAIT);
  g_assert_cmpint (n, >=, 0);
  buf[n] = '\0';
  return g_strdup (buf);
}

static void
assert_nothing_queued (int fd)
{
  char buf[16];
  g_assert_cmpint (recv (fd, buf, sizeof buf, MSG_DONTWAIT), ==, -1);
}

static void
test_path_socket (void)
{
  char *root = fake_root_new ();
  g_autofree char *path = g_build_filename (root, "notify", NULL);
  int fd = bind_dgram (path);

  g_setenv ("NOTIFY_SOCKET", path, TRUE);
  g_assert_true (sd_notify_ready ());
  g_autofree char *m1 = recv_one (fd);
  g_assert_cmpstr (m1, ==, "READY=1");

  g_assert_true (sd_notify_status ("3 VMs\nbudget 12 GiB"));
  g_autofree char *m2 = recv_one (fd);
  g_assert_cmpstr (m2, ==, "STATUS=3 VMs budget 12 GiB");

  g_assert_true (sd_notify_watchdog ());
  g_autofree char *m3 = recv_one (fd);
  g_assert_cmpstr (m3, ==, "WATCHDOG=1");

  g_assert_true (sd_notify_send ("READY=1\nSTATUS=started"));
  g_autofree char *m4 = recv_one (fd);
  g_assert_cmpstr (m4, ==, "READY=1\nSTATUS=started");

  g_assert_true (sd_notify_stopping ());
  g_autofree char *m5 = recv_one (fd);
  g_assert_cmpstr (m5, ==, "STOPPING=1");
  assert_nothing_queued (fd);

  close (fd);
  /* Nobody listening any more: FALSE, quietly. */
  g_assert_false (sd_notify_ready ());
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_notify_send_to (path, "READY=1", &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, path));
  g_unsetenv ("NOTIFY_SOCKET");
  fake_root_free (root);
}

static void
test_abstract_socket (void)
{
  g_autofree char *name = g_strdup_printf ("@ballast-test-notify-%d", (int) getpid ());
  int fd = bind_dgram (name);
  g_setenv ("NOTIFY_SOCKET", name, TRUE);
  g_assert_true (sd_notify_printf ("STATUS=tick %d", 7));
  g_autofree char *m = recv_one (fd);
  g_assert_cmpstr (m, ==, "STATUS=tick 7");
  close (fd);
  g_unsetenv ("NOTIFY_SOCKET");
}

static void
test_no_socket (void)
{
  g_autoptr (GError) error = NULL;
  g_unsetenv ("NOTIFY_SOCKET");
  g_assert_false (sd_notify_ready ());
  g_setenv ("NOTIFY_SOCKET", "", TRUE);
  g_assert_false (sd_notify_ready ());
  g_setenv ("NOTIFY_SOCKET", "relative/path", TRUE);
  g_assert_false (sd_notify_ready ());
  g_unsetenv ("NOTIFY_SOCKET");

  static const char *const bad[] = { "", "@", "vsock:2:1234", "relative" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (sd_notify_send_to (bad[i], "READY=1", &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
  g_autofree char *too_long = g_strnfill (200, 'x');
  too_long[0] = '/';
  g_assert_false (sd_notify_send_to (too_long, "READY=1", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_watchdog_usec (void)
{
  g_autofree char *self = g_strdup_printf ("%d", (int) getpid ());
  g_autofree char *other = g_strdup_printf ("%d", (int) getpid () + 1);

  g_unsetenv ("WATCHDOG_USEC");
  g_unsetenv ("WATCHDOG_PID");
  g_assert_cmpuint (sd_notify_watchdog_usec (), ==, 0);

  g_setenv ("WATCHDOG_USEC", "30000000", TRUE);
  g_assert_cmpuint (sd_notify_watchdog_usec (), ==, 30000000);
  g_setenv ("WATCHDOG_PID", self, TRUE);
  g_assert_cmpuint (sd_notify_watchdog_usec (), ==, 30000000);
  g_setenv ("WATCHDOG_PID", other, TRUE);
  g_assert_cmpuint (sd_notify_watchdog_usec (), ==, 0);
  g_setenv ("WATCHDOG_PID", "junk", TRUE);
  g_assert_cmpuint (sd_notify_watchdog_usec (), ==, 0);

  g_setenv ("WATCHDOG_PID", self, TRUE);
  static const char *const bad[] = { "0", "", "-5", "12s", "99999999999999999999999" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_setenv ("WATCHDOG_USEC", bad[i], TRUE);
      g_assert_cmpuint (sd_notify_watchdog_usec (), ==, 0);
    }
  g_unsetenv ("WATCHDOG_USEC");
  g_unsetenv ("WATCHDOG_PID");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/probes/sdnotify/path-socket", test_path_socket);
  g_test_add_func ("/probes/sdnotify/abstract-socket", test_abstract_socket);
  g_test_add_func ("/probes/sdnotify/no-socket", test_no_socket);
  g_test_add_func ("/probes/sdnotify/watchdog-usec", test_watchdog_usec);
  return g_test_run ();
}
