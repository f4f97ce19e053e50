/* fake-qmp.c: B4's load generator: one process serving N QMP sockets in a
 * directory with the replies a running QEMU with a virtio-balloon gives. */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The greeting of tests/unit/qmp's scripted peer (QEMU 7.2's shape). */
#define GREETING                                                                                   \
  "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "               \
  "\"package\": \"test\"}, \"capabilities\": [\"oob\"]}}\r\n"
/* Longest request line accepted; QEMU's own limit is far higher, but
 * ballastd's requests are short. */
#define MAX_LINE_BYTES 65536
/* Guest figures of an idle 1 GiB tiny test guest (bytes), as QEMU 7.2
 * reported them through qom-get guest-stats (recorded 2026-12-02). */
#define GUEST_TOTAL_BYTES 1020542976
#define GUEST_FREE_BYTES 977285120
#define GUEST_AVAILABLE_BYTES 908853248
#define GUEST_CACHE_BYTES 4026368

typedef struct
{
  guint64 ram_bytes;
  guint64 actual_bytes;
  guint64 polling_s;
  guint64 requests;
} FakeVm;

typedef struct
{
  FakeVm *vm;
  GSocketConnection *conn;
  GDataInputStream *in;
  GOutputStream *out;
} FakeConn;

static guint64 total_requests;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (json_t, json_decref)

static void
conn_free (FakeConn *c)
{
  g_io_stream_close (G_IO_STREAM (c->conn), NULL, NULL);
  g_object_unref (c->in);
  g_object_unref (c->conn);
  g_free (c);
}

static void
send_json (FakeConn *c, json_t *msg)
{
  g_autofree char *text = json_dumps (msg, JSON_COMPACT);
  g_autofree char *line = g_strconcat (text, "\r\n", NULL);
  g_output_stream_write_all (c->out, line, strlen (line), NULL, NULL, NULL);
}

static json_t *
guest_stats (const FakeVm *vm)
{
  json_t *stats = json_pack (
      "{sIsIsIsIsIsIsIsIsIsI}", "stat-swap-in", (json_int_t) 0, "stat-swap-out", (json_int_t) 0,
      "stat-major-faults", (json_int_t) 0, "stat-minor-faults", (json_int_t) (1664 + vm->requests),
      "stat-free-memory", (json_int_t) GUEST_FREE_BYTES, "stat-total-memory",
      (json_int_t) GUEST_TOTAL_BYTES, "stat-available-memory", (json_int_t) GUEST_AVAILABLE_BYTES,
      "stat-disk-caches", (json_int_t) GUEST_CACHE_BYTES, "stat-htlb-pgalloc", (json_int_t) 0,
      "stat-htlb-pgfail", (json_int_t) 0);
  json_int_t updated = vm->polling_s ? (json_int_t) (g_get_real_time () / G_USEC_PER_SEC) : 0;
  return json_pack ("{sosI}", "stats", stats, "last-update", updated);
}

static json_t *
qom_list (const char *path)
{
  json_t *list = json_pack ("[{ssss}]", "name", "type", "type", "string");
  if (g_strcmp0 (path, "/machine/peripheral") == 0)
    json_array_append_new (
        list, json_pack ("{ssss}", "name", "balloon0", "type", "child<virtio-balloon-pci>"));
  return list;
}

/* The reply's "return" value, or NULL for an unknown command. */
static json_t *
reply_for (FakeConn *c, const char *cmd, json_t *args)
{
  FakeVm *vm = c->vm;
  if (g_str_equal (cmd, "qmp_capabilities") || g_str_equal (cmd, "qom-set"))
    {
      json_t *v = json_object_get (args, "value");
      if (g_str_equal (cmd, "qom-set") && json_is_integer (v))
        vm->polling_s = (guint64) json_integer_value (v);
      return json_object ();
    }
  if (g_str_equal (cmd, "query-status"))
    return json_pack ("{sssbsb}", "status", "running", "singlestep", 0, "running", 1);
  if (g_str_equal (cmd, "query-memory-size-summary"))
    return json_pack ("{sIsI}", "base-memory", (json_int_t) vm->ram_bytes, "plugged-memory",
                      (json_int_t) 0);
  if (g_str_equal (cmd, "query-balloon"))
    return json_pack ("{sI}", "actual", (json_int_t) vm->actual_bytes);
  if (g_str_equal (cmd, "qom-list"))
    return qom_list (json_string_value (json_object_get (args, "path")));
  if (g_str_equal (cmd, "qom-get"))
    return g_strcmp0 (json_string_value (json_object_get (args, "property")), "guest-stats") == 0
               ? guest_stats (vm)
               : json_false ();
  if (g_str_equal (cmd, "balloon"))
    {
      json_t *v = json_object_get (args, "value");
      if (json_is_integer (v) && json_integer_value (v) > 0)
        vm->actual_bytes = MIN ((guint64) json_integer_value (v), vm->ram_bytes);
      return json_object ();
    }
  return NULL;
}

static void
handle_line (FakeConn *c, const char *line)
{
  json_error_t jerr;
  g_autoptr (json_t) req = json_loads (line, 0, &jerr);
  const char *cmd = json_string_value (json_object_get (req, "execute"));
  if (cmd == NULL)
    return;
  c->vm->requests++;
  total_requests++;
  json_t *ret = reply_for (c, cmd, json_object_get (req, "arguments"));
  g_autoptr (json_t) reply = NULL;
  if (ret != NULL)
    reply = json_pack ("{so}", "return", ret);
  else
    reply = json_pack ("{s{ssss}}", "error", "class", "CommandNotFound", "desc",
                       "The command has not been found");
  json_t *id = json_object_get (req, "id");
  if (id != NULL)
    json_object_set (reply, "id", id);
  send_json (c, reply);
  if (g_str_equal (cmd, "balloon"))
    {
      g_autoptr (json_t) ev = json_pack ("{sss{sI}}", "event", "BALLOON_CHANGE", "data", "actual",
                                         (json_int_t) c->vm->actual_bytes);
      send_json (c, ev);
    }
}

static void on_line (GObject *src, GAsyncResult *res, gpointer data);

static void
read_next (FakeConn *c)
{
  g_data_input_stream_read_line_async (c->in, G_PRIORITY_DEFAULT, NULL, on_line, c);
}

static void
on_line (GObject *src, GAsyncResult *res, gpointer data)
{
  FakeConn *c = data;
  gsize len = 0;
  g_autofree char *line
      = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (src), res, &len, NULL);
  if (line == NULL || len > MAX_LINE_BYTES)
    {
      conn_free (c);
      return;
    }
  handle_line (c, line);
  read_next (c);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  FakeConn *c = g_new0 (FakeConn, 1);
  c->vm = data;
  c->conn = g_object_ref (conn);
  c->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  g_data_input_stream_set_newline_type (c->in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  c->out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  g_output_stream_write_all (c->out, GREETING, strlen (GREETING), NULL, NULL, NULL);
  read_next (c);
  return TRUE;
}

static gboolean
on_quit (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* Lets one process hold a socket per VM plus its connections. */
static void
raise_fd_limit (void)
{
  struct rlimit r;
  if (getrlimit (RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max)
    {
      r.rlim_cur = r.rlim_max;
      setrlimit (RLIMIT_NOFILE, &r);
    }
}

int
main (int argc, char **argv)
{
  if (argc != 4)
    {
      fprintf (stderr, "usage: bench-fake-qmp DIR COUNT RAM_MIB\n"
                       "Serves DIR/fakeNNNN.qmp (COUNT sockets) until SIGTERM.\n");
      return 2;
    }
  guint64 n = g_ascii_strtoull (argv[2], NULL, 10);
  guint64 ram_mib = g_ascii_strtoull (argv[3], NULL, 10);
  if (n == 0 || n > 100000 || ram_mib == 0 || ram_mib > (1u << 24))
    {
      fprintf (stderr, "bench-fake-qmp: COUNT must be 1..100000 and RAM_MIB 1..%u\n", 1u << 24);
      return 2;
    }
  raise_fd_limit ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  /* One service per socket: a GSocketListener re-arms a source on every one
   * of its sockets after each accept, O(N) per connection. */
  g_autoptr (GPtrArray) services = g_ptr_array_new_with_free_func (g_object_unref);
  FakeVm *vms = g_new0 (FakeVm, n);
  for (guint64 i = 0; i < n; i++)
    {
      vms[i].ram_bytes = vms[i].actual_bytes = ram_mib << 20;
      g_autofree char *path = g_strdup_printf ("%s/fake%04" G_GUINT64_FORMAT ".qmp", argv[1], i);
      g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                               G_SOCKET_PROTOCOL_DEFAULT, &error);
      GSocketService *service = g_socket_service_new ();
      g_ptr_array_add (services, service);
      if (sock == NULL || !g_socket_bind (sock, addr, TRUE, &error)
          || !g_socket_listen (sock, &error)
          || !g_socket_listener_add_socket (G_SOCKET_LISTENER (service), sock, NULL, &error))
        {
          fprintf (stderr, "bench-fake-qmp: %s: %s\n", path, error->message);
          return 1;
        }
      g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), &vms[i]);
    }
  g_unix_signal_add (SIGTERM, on_quit, loop);
  g_unix_signal_add (SIGINT, on_quit, loop);
  printf ("serving %" G_GUINT64_FORMAT " sockets\n", n);
  fflush (stdout);
  g_main_loop_run (loop);
  printf ("requests %" G_GUINT64_FORMAT "\n", total_requests);
  g_free (vms);
  return 0;
}
