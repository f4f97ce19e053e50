/* test-vm-agent.c: the host end of the agent link against a hostile guest
 * played by the test: a flood over the message rate is throttled by not
 * reading, and bytes without a valid message end in a long disconnect. */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vm-agent.h"

#define DEADLINE_US (5 * G_USEC_PER_SEC)

typedef struct
{
  char *dir;
  char *path;
  GSocket *listener;
  GSocket *guest; /* the accepted connection: the guest's end */
  guint urgent;
} Fixture;

static void
on_urgent (gboolean pressure, gpointer data)
{
  Fixture *f = data;
  f->urgent++;
}

static void
fixture_setup (Fixture *f, gconstpointer unused)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("vm-agent-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "vm.agent", NULL);
  f->listener = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                              &error);
  g_assert_no_error (error);
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (f->path);
  g_assert_true (g_socket_bind (f->listener, addr, FALSE, &error));
  g_assert_true (g_socket_listen (f->listener, &error));
  g_socket_set_blocking (f->listener, FALSE);
}

static void
fixture_teardown (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->guest);
  g_socket_close (f->listener, NULL);
  g_clear_object (&f->listener);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

/* Runs the host's loop until the agent link connected; the test holds the
 * guest's end, non-blocking. */
static void
accept_guest (Fixture *f)
{
  gint64 end = g_get_monotonic_time () + DEADLINE_US;
  while (f->guest == NULL && g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      f->guest = g_socket_accept (f->listener, NULL, NULL);
      if (f->guest == NULL)
        g_usleep (1000);
    }
  g_assert_nonnull (f->guest);
  g_socket_set_blocking (f->guest, FALSE);
}

/* Writes `chunk` over and over for `duration_us` while the host's loop runs;
 * returns the bytes the kernel took, or stops early when the host hung up. */
static guint64
write_for (Fixture *f, const char *chunk, gint64 duration_us, gboolean *hung_up)
{
  guint64 written = 0;
  gsize len = strlen (chunk);
  *hung_up = FALSE;
  gint64 end = g_get_monotonic_time () + duration_us;
  while (g_get_monotonic_time () < end)
    {
      g_autoptr (GError) error = NULL;
      gssize n = g_socket_send (f->guest, chunk, len, NULL, &error);
      if (n > 0)
        written += (guint64) n;
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          *hung_up = TRUE;
          break;
        }
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  return written;
}

/* Valid messages far over the rate: the host stops reading, so the kernel
 * buffer fills and the guest's writes block instead of costing host CPU. */
static void
test_throttle (Fixture *f, gconstpointer unused)
{
  VmAgent *a = vm_agent_new ("vm1", 1ull << 30, on_urgent, NULL, f);
  vm_agent_connect_to (a, f->path);
  accept_guest (f);
  GString *burst = g_string_new (NULL);
  for (int i = 0; i < 64; i++)
    g_string_append (burst,
                     "{\"type\":\"pressure\",\"v\":1,\"seq\":43,\"uptime_ms\":22748,"
                     "\"some_avg10\":0.00,\"some_total_us\":153467,\"available\":5242880}\n");
  gboolean hung_up;
  guint64 written = write_for (f, burst->str, G_USEC_PER_SEC, &hung_up);
  g_test_message ("guest wrote %" G_GUINT64_FORMAT " KiB in 1 s; %u urgent notes", written >> 10,
                  f->urgent);
  g_assert_false (hung_up);
  /* Read at full speed this would be tens of MiB; throttled it is the
   * socket buffers plus a few KiB per pause. */
  g_assert_cmpuint (written, <, 2 * 1024 * 1024);
  g_assert_cmpuint (f->urgent, >, 0);
  g_assert_cmpuint (f->urgent, <=, 100);
  g_string_free (burst, TRUE);
  vm_agent_free (a);
}

/* Bytes that never make a valid message: after the bound the host hangs up
 * and does not reconnect within the long backoff. */
static void
test_flood_disconnects (Fixture *f, gconstpointer unused)
{
  VmAgent *a = vm_agent_new ("vm1", 1ull << 30, on_urgent, NULL, f);
  vm_agent_connect_to (a, f->path);
  accept_guest (f);
  char junk[4096];
  memset (junk, 'x', sizeof junk - 1);
  junk[sizeof junk - 1] = '\0';
  gboolean hung_up;
  guint64 written = write_for (f, junk, 3 * G_USEC_PER_SEC, &hung_up);
  g_test_message ("guest wrote %" G_GUINT64_FORMAT " KiB before the host hung up", written >> 10);
  g_assert_true (hung_up);
  g_assert_cmpuint (written, >, 1024 * 1024);
  g_clear_object (&f->guest);
  /* No reconnect within a few seconds (the quick backoff would be 200 ms). */
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  GSocket *again = NULL;
  while (again == NULL && g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      again = g_socket_accept (f->listener, NULL, NULL);
      g_usleep (2000);
    }
  g_assert_null (again);
  vm_agent_free (a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/vm-agent/throttle", Fixture, NULL, fixture_setup, test_throttle, fixture_teardown);
  g_test_add ("/vm-agent/flood-disconnects", Fixture, NULL, fixture_setup, test_flood_disconnects,
              fixture_teardown);
  return g_test_run ();
}
