/* test-qmp-parser.c: the pure pieces of the QMP library: line framing and
 * envelope checks, reply parsers (balloon helpers, RAM size, run state,
 * BALLOON_CHANGE) on recorded QEMU output, backoff arithmetic. */
#include <jansson.h>
#include <string.h>

#include "qmp-backoff.h"
#include "qmp-balloon.h"
#include "qmp-parser.h"
#include "qmp-replies.h"

typedef struct
{
  GPtrArray *messages; /* compact JSON of each message */
  guint stop_after;    /* 0: never stop */
} Sink;

static gboolean
collect (json_t *message, gpointer data)
{
  Sink *sink = data;
  g_ptr_array_add (sink->messages, json_dumps (message, JSON_COMPACT | JSON_SORT_KEYS));
  return sink->stop_after == 0 || sink->messages->len < sink->stop_after;
}

static Sink *
sink_new (void)
{
  Sink *sink = g_new0 (Sink, 1);
  sink->messages = g_ptr_array_new_with_free_func (free);
  return sink;
}

static void
sink_free (Sink *sink)
{
  g_ptr_array_unref (sink->messages);
  g_free (sink);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sink, sink_free)

static const char two_messages[] = "{\"QMP\": {\"capabilities\": []}}\r\n"
                                   "{\"return\": {\"a\": [1, 2]}, \"id\": 7}\n";

static void
assert_two_messages (Sink *sink)
{
  g_assert_cmpuint (sink->messages->len, ==, 2);
  g_assert_cmpstr (sink->messages->pdata[0], ==, "{\"QMP\":{\"capabilities\":[]}}");
  g_assert_cmpstr (sink->messages->pdata[1], ==, "{\"id\":7,\"return\":{\"a\":[1,2]}}");
}

static void
test_one_feed (void)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (
      qmp_parser_feed (parser, two_messages, strlen (two_messages), collect, sink, &error));
  g_assert_no_error (error);
  assert_two_messages (sink);
  g_assert_true (qmp_parser_finish (parser, &error));
}

/* Every split point of the input must give the same messages. */
static void
test_every_split (void)
{
  gsize len = strlen (two_messages);
  for (gsize cut = 0; cut <= len; cut++)
    {
      g_autoptr (QmpParser) parser = qmp_parser_new (0);
      g_autoptr (Sink) sink = sink_new ();
      g_autoptr (GError) error = NULL;
      g_assert_true (qmp_parser_feed (parser, two_messages, cut, collect, sink, &error));
      g_assert_true (
          qmp_parser_feed (parser, two_messages + cut, len - cut, collect, sink, &error));
      g_assert_no_error (error);
      assert_two_messages (sink);
    }
}

static void
test_byte_by_byte (void)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;

  for (gsize i = 0; two_messages[i]; i++)
    g_assert_true (qmp_parser_feed (parser, two_messages + i, 1, collect, sink, &error));
  g_assert_no_error (error);
  assert_two_messages (sink);
}

static void
test_blank_lines (void)
{
  static const char input[] = "\n\r\n   \n{\"event\": \"STOP\"}\n \t\r\n";
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (qmp_parser_feed (parser, input, strlen (input), collect, sink, &error));
  g_assert_cmpuint (sink->messages->len, ==, 1);
  g_assert_true (qmp_parser_finish (parser, &error));
}

static void
test_stop (void)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;

  sink->stop_after = 1;
  g_assert_true (
      qmp_parser_feed (parser, two_messages, strlen (two_messages), collect, sink, &error));
  g_assert_cmpuint (sink->messages->len, ==, 1);
  g_assert_false (qmp_parser_feed (parser, "{}\n", 3, collect, sink, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
}

static void
test_line_limit (void)
{
  const gsize limit = 64;
  g_autofree char *exact = g_strdup_printf ("{\"return\": \"%0*d\"}\r\n", (int) (limit - 15), 0);
  g_assert_cmpuint (strlen (exact), ==, limit + 1); /* the limit counts bytes before '\n' */

  g_autoptr (QmpParser) parser = qmp_parser_new (limit);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (qmp_parser_feed (parser, exact, strlen (exact), collect, sink, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sink->messages->len, ==, 1);

  /* One byte more fails, even before the newline arrives. */
  g_autofree char *over = g_strdup_printf ("{\"return\": \"%0*d\"}\r", (int) (limit - 14), 0);
  g_assert_false (qmp_parser_feed (parser, over, strlen (over), collect, sink, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_TOO_LONG);
  g_clear_error (&error);
  /* And the stream stays failed. */
  g_assert_false (qmp_parser_feed (parser, "{}\n", 3, collect, sink, &error));
  g_assert_cmpuint (sink->messages->len, ==, 1);
}

/* A peer streaming a line without end must be cut at the limit, not
 * buffered forever. */
static void
test_line_limit_across_feeds (void)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *chunk = g_malloc (64 * 1024);
  memset (chunk, ' ', 64 * 1024);
  chunk[0] = '{';
  gsize fed = 0;

  while (qmp_parser_feed (parser, chunk, 64 * 1024, collect, sink, &error))
    {
      fed += 64 * 1024;
      g_assert_cmpuint (fed, <=, QMP_PARSER_DEFAULT_MAX_LINE_BYTES);
    }
  g_assert_error (error, QMP_ERROR, QMP_ERROR_TOO_LONG);
  g_assert_cmpuint (sink->messages->len, ==, 0);
}

typedef struct
{
  const char *name;
  const char *input;
  gsize len;
} Invalid;

static const Invalid invalid_inputs[] = {
  { "truncated", "{\"return\": {}\n", 0 },
  { "trailing-garbage", "{\"return\": {}} x\n", 0 },
  { "two-objects", "{} {}\n", 0 },
  { "array", "[{\"return\": {}}]\n", 0 },
  { "string", "\"QMP\"\n", 0 },
  { "null", "null\n", 0 },
  { "nul-byte", "{\"a\": \"\0\"}\n", 11 },
  { "bad-utf8", "{\"a\": \"\xff\xfe\"}\n", 0 },
  { "real-overflow", "{\"a\": 1e999}\n", 0 },
  { "deep-nesting", NULL, 0 },
};

static void
test_invalid (gconstpointer data)
{
  const Invalid *inv = data;
  g_autofree char *deep = NULL;
  const char *input = inv->input;
  gsize len = inv->len ? inv->len : (input ? strlen (input) : 0);

  if (input == NULL)
    {
      /* Far deeper than jansson's depth limit: must fail, not overflow the stack. */
      GString *s = g_string_new (NULL);
      for (int i = 0; i < 100000; i++)
        g_string_append_c (s, '[');
      g_string_append_c (s, '\n');
      len = s->len;
      input = deep = g_string_free (s, FALSE);
    }
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;
  g_assert_false (qmp_parser_feed (parser, input, len, collect, sink, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
  g_assert_cmpuint (sink->messages->len, ==, 0);
}

static void
test_finish_mid_message (void)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (qmp_parser_feed (parser, "{\"return\"", 9, collect, sink, &error));
  g_assert_false (qmp_parser_finish (parser, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
}

static void
test_big_integers (void)
{
  static const char input[]
      = "{\"a\": 18446744073709551615, \"b\": -1, \"c\": \"18446744073709551615\","
        " \"d\": [9223372036854775807, 1.5e3, 12345678901234567890123]}\n";
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (qmp_parser_feed (parser, input, strlen (input), collect, sink, &error));
  g_assert_no_error (error);
  json_t *v = json_loads (sink->messages->pdata[0], 0, NULL);
  g_assert_true (json_is_real (json_object_get (v, "a")));
  g_assert_cmpfloat (json_real_value (json_object_get (v, "a")), >=, 1.8e19);
  g_assert_cmpint (json_integer_value (json_object_get (v, "b")), ==, -1);
  /* Strings are never rewritten. */
  g_assert_cmpstr (json_string_value (json_object_get (v, "c")), ==, "18446744073709551615");
  json_t *d = json_object_get (v, "d");
  g_assert_true (json_is_integer (json_array_get (d, 0)));
  g_assert_cmpint (json_integer_value (json_array_get (d, 0)), ==, G_MAXINT64);
  g_assert_cmpfloat (json_real_value (json_array_get (d, 1)), ==, 1500.0);
  g_assert_true (json_is_real (json_array_get (d, 2)));
  json_decref (v);
}

static void
classify (const char *text, QmpMessage *msg, GError **error, gboolean *ok)
{
  json_t *v = json_loads (text, 0, NULL);
  g_assert_nonnull (v);
  *ok = qmp_message_classify (v, msg, error);
  /* QmpMessage only borrows: keep the value alive for the caller's checks
   * by leaking it into a test-lifetime list. */
  static GPtrArray *keep;
  if (keep == NULL)
    keep = g_ptr_array_new ();
  g_ptr_array_add (keep, v);
}

static void
test_classify (void)
{
  QmpMessage msg;
  g_autoptr (GError) error = NULL;
  gboolean ok;

  classify ("{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}", &msg, &error, &ok);
  g_assert_true (ok);
  g_assert_cmpint (msg.kind, ==, QMP_MESSAGE_GREETING);

  classify ("{\"return\": [], \"id\": 3}", &msg, &error, &ok);
  g_assert_true (ok);
  g_assert_cmpint (msg.kind, ==, QMP_MESSAGE_RETURN);
  g_assert_cmpint (json_integer_value (msg.id), ==, 3);
  g_assert_true (json_is_array (msg.value));

  classify ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"d\"}}", &msg, &error, &ok);
  g_assert_true (ok);
  g_assert_cmpint (msg.kind, ==, QMP_MESSAGE_ERROR);
  g_assert_null (msg.id);
  g_assert_cmpstr (msg.error_class, ==, "GenericError");
  g_assert_cmpstr (msg.error_desc, ==, "d");

  classify ("{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 2, \"microseconds\": 3}}", &msg,
            &error, &ok);
  g_assert_true (ok);
  g_assert_cmpint (msg.kind, ==, QMP_MESSAGE_EVENT);
  g_assert_cmpstr (msg.event, ==, "RESUME");
  g_assert_null (msg.value);
  g_assert_cmpint (msg.timestamp_us, ==, 2000003);

  classify ("{\"event\": \"X\", \"timestamp\": {\"seconds\": -1, \"microseconds\": \"a\"}}", &msg,
            &error, &ok);
  g_assert_true (ok);
  g_assert_cmpint (msg.timestamp_us, ==, 0);

  classify ("{\"whatever\": 1}", &msg, &error, &ok);
  g_assert_true (ok);
  g_assert_cmpint (msg.kind, ==, QMP_MESSAGE_UNKNOWN);

  static const char *const wrong[] = {
    "{\"QMP\": []}",
    "{\"QMP\": {\"capabilities\": {}}}",
    "{\"event\": null}",
    "{\"event\": \"X\", \"data\": 1}",
    "{\"error\": []}",
    "{\"error\": {\"desc\": \"d\"}}",
    "{\"error\": {\"class\": \"C\", \"desc\": 5}}",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      classify (wrong[i], &msg, &error, &ok);
      if (ok)
        g_error ("accepted %s", wrong[i]);
      g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
      g_clear_error (&error);
    }
}

/* One message line through the parser, as the client would get it. */
static json_t *
parse_message (const char *line)
{
  g_autoptr (QmpParser) parser = qmp_parser_new (0);
  g_autoptr (Sink) sink = sink_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (qmp_parser_feed (parser, line, strlen (line), collect, sink, &error));
  g_assert_cmpuint (sink->messages->len, ==, 1);
  return json_loads (sink->messages->pdata[0], 0, NULL);
}

static json_t *
parse_reply (const char *line)
{
  json_t *v = parse_message (line);
  json_t *ret = json_incref (json_object_get (v, "return"));
  json_decref (v);
  return ret;
}

/* The "data" of an event line (NULL when it has none). */
static json_t *
parse_event (const char *line, const char *name)
{
  json_t *v = parse_message (line);
  QmpMessage msg;
  g_autoptr (GError) error = NULL;
  g_assert_true (qmp_message_classify (v, &msg, &error));
  g_assert_cmpint (msg.kind, ==, QMP_MESSAGE_EVENT);
  g_assert_cmpstr (msg.event, ==, name);
  json_t *data = msg.value ? json_incref (msg.value) : NULL;
  json_decref (v);
  return data;
}

static void
test_guest_stats (void)
{
  QmpGuestStats stats;
  g_autoptr (GError) error = NULL;

  /* Reported values, but last-update 0: nothing counts yet. */
  json_t *ret
      = parse_reply ("{\"return\": {\"stats\": {\"stat-free-memory\": 5}, \"last-update\": 0}}\n");
  g_assert_true (qmp_parse_guest_stats (ret, &stats, &error));
  g_assert_false (stats.free_bytes.present);
  json_decref (ret);

  ret = parse_reply ("{\"return\": {\"stats\": {\"stat-free-memory\": 5, \"stat-disk-caches\": "
                     "18446744073709551615, \"stat-swap-out\": -1, \"stat-htlb-pgalloc\": 3}, "
                     "\"last-update\": 99}}\n");
  g_assert_true (qmp_parse_guest_stats (ret, &stats, &error));
  g_assert_cmpint (stats.last_update_s, ==, 99);
  g_assert_true (stats.free_bytes.present);
  g_assert_cmpuint (stats.free_bytes.value, ==, 5);
  g_assert_false (stats.disk_caches_bytes.present);
  g_assert_false (stats.swap_out_bytes.present);
  g_assert_true (stats.hugetlb_allocs.present);
  g_assert_cmpuint (stats.hugetlb_allocs.value, ==, 3);
  g_assert_false (stats.total_bytes.present);
  json_decref (ret);

  static const char *const wrong[] = {
    "{\"return\": {\"stats\": [], \"last-update\": 1}}\n",
    "{\"return\": {\"stats\": {}}}\n",
    "{\"return\": {\"stats\": {\"stat-free-memory\": \"5\"}, \"last-update\": 1}}\n",
    "{\"return\": []}\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      ret = parse_reply (wrong[i]);
      if (qmp_parse_guest_stats (ret, &stats, &error))
        g_error ("accepted %s", wrong[i]);
      g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
      g_clear_error (&error);
      json_decref (ret);
    }
}

static void
test_query_balloon_and_qom_list (void)
{
  g_autoptr (GError) error = NULL;
  guint64 actual_bytes = 0;

  json_t *ret = parse_reply ("{\"return\": {\"actual\": 1073741824}}\n");
  g_assert_true (qmp_parse_query_balloon (ret, &actual_bytes, &error));
  g_assert_cmpuint (actual_bytes, ==, G_GUINT64_CONSTANT (1073741824));
  json_decref (ret);
  ret = parse_reply ("{\"return\": {\"actual\": \"1\"}}\n");
  g_assert_false (qmp_parse_query_balloon (ret, &actual_bytes, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
  g_clear_error (&error);
  json_decref (ret);

  ret = parse_reply (
      "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"bal\", "
      "\"type\": \"child<virtio-balloon-ccw>\"}]}\n");
  g_autofree char *path = qmp_parse_balloon_child (ret, "/machine/peripheral", &error);
  g_assert_cmpstr (path, ==, "/machine/peripheral/bal");
  json_decref (ret);

  ret = parse_reply ("{\"return\": [{\"name\": \"net0\", \"type\": \"child<virtio-net-pci>\"}]}\n");
  g_assert_null (qmp_parse_balloon_child (ret, "/machine/peripheral", &error));
  g_assert_no_error (error);
  json_decref (ret);

  ret = parse_reply ("{\"return\": [{\"name\": 1}]}\n");
  g_assert_null (qmp_parse_balloon_child (ret, "/machine/peripheral", &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
  g_clear_error (&error);
  json_decref (ret);

  /* qom-get of deflate-on-oom: a boolean, nothing else. */
  gboolean flag = FALSE;
  ret = parse_reply ("{\"return\": true}\n");
  g_assert_true (qmp_parse_flag (ret, "deflate-on-oom", &flag, &error));
  g_assert_true (flag);
  json_decref (ret);
  ret = parse_reply ("{\"return\": {\"stats\": {}}}\n");
  g_assert_false (qmp_parse_flag (ret, "deflate-on-oom", &flag, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (error->message, "deflate-on-oom"));
  json_decref (ret);
}

/* Replies and events below are verbatim from QEMU 7.2.22 (Debian
 * 1:7.2+dfsg-7+deb12u18+b3), "\r\n" included, recorded on its QMP socket:
 * `qemu-system-x86_64 -S -m 64 -display none -nodefaults -device
 * virtio-balloon-pci` (paused: "prelaunch"; after "cont": "running"), and
 * the BALLOON_CHANGE events from a booted guest of 256 MiB (the test image's
 * 6.1 kernel with virtio_balloon) asked to balloon to 192 MiB. The paused
 * QEMU emits no BALLOON_CHANGE: without a guest driver the size never moves. */
static const char qemu_memory_size_64m[]
    = "{\"return\": {\"base-memory\": 67108864, \"plugged-memory\": 0}}\r\n";
static const char qemu_memory_size_256m[]
    = "{\"return\": {\"base-memory\": 268435456, \"plugged-memory\": 0}}\r\n";
static const char qemu_status_prelaunch[]
    = "{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}}\r\n";
static const char qemu_status_running[]
    = "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n";
static const char qemu_balloon_change_first[]
    = "{\"timestamp\": {\"seconds\": 1796198306, \"microseconds\": 513745}, "
      "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 267386880}}\r\n";
static const char qemu_balloon_change_done[]
    = "{\"timestamp\": {\"seconds\": 1796198306, \"microseconds\": 654740}, "
      "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 201326592}}\r\n";

/* Each parser on shapes it must refuse: one protocol error, no crash. */
typedef gboolean (*ReplyParser) (json_t *value, GError **error);

static void
assert_refused (ReplyParser parse, const char *const *lines, gsize n, gboolean events)
{
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      json_t *value = events ? parse_event (lines[i], "BALLOON_CHANGE") : parse_reply (lines[i]);
      if (parse (value, &error))
        g_error ("accepted %s", lines[i]);
      g_assert_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL);
      json_decref (value);
    }
}

static gboolean
memory_size (json_t *value, GError **error)
{
  guint64 ram_bytes;
  return qmp_parse_memory_size (value, &ram_bytes, error);
}

static void
test_memory_size (void)
{
  g_autoptr (GError) error = NULL;
  guint64 ram_bytes = 0;

  json_t *ret = parse_reply (qemu_memory_size_64m);
  g_assert_true (qmp_parse_memory_size (ret, &ram_bytes, &error));
  g_assert_cmpuint (ram_bytes, ==, 64 << 20);
  json_decref (ret);
  ret = parse_reply (qemu_memory_size_256m);
  g_assert_true (qmp_parse_memory_size (ret, &ram_bytes, &error));
  g_assert_cmpuint (ram_bytes, ==, 256 << 20);
  json_decref (ret);

  /* Hot-plugged DIMMs add up; plugged-memory absent is 0. */
  static const struct
  {
    const char *line;
    guint64 ram_bytes;
  } sums[] = {
    { "{\"return\": {\"base-memory\": 1073741824, \"plugged-memory\": 536870912}}\n",
      G_GUINT64_CONSTANT (1610612736) },
    { "{\"return\": {\"base-memory\": 1073741824}}\n", G_GUINT64_CONSTANT (1073741824) },
    /* Both at the int64 maximum: the sum still fits in 64 bits, exactly. */
    { "{\"return\": {\"base-memory\": 9223372036854775807, "
      "\"plugged-memory\": 9223372036854775807}}\n",
      G_MAXUINT64 - 1 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (sums); i++)
    {
      ret = parse_reply (sums[i].line);
      g_assert_true (qmp_parse_memory_size (ret, &ram_bytes, &error));
      g_assert_cmpuint (ram_bytes, ==, sums[i].ram_bytes);
      json_decref (ret);
    }

  static const char *const wrong[] = {
    "{\"return\": {\"plugged-memory\": 0}}\n",
    "{\"return\": {\"base-memory\": \"67108864\", \"plugged-memory\": 0}}\n",
    "{\"return\": {\"base-memory\": 67108864.0, \"plugged-memory\": 0}}\n",
    "{\"return\": {\"base-memory\": null}}\n",
    "{\"return\": {\"base-memory\": 0, \"plugged-memory\": 0}}\n",
    "{\"return\": {\"base-memory\": -67108864, \"plugged-memory\": 0}}\n",
    /* Past int64 the parser hands over a real: no exact size to trust. */
    "{\"return\": {\"base-memory\": 18446744073709551615, \"plugged-memory\": 0}}\n",
    "{\"return\": [67108864]}\n",
    "{\"return\": {}}\n",
    /* A plugged size that is not one would understate the RAM. */
    "{\"return\": {\"base-memory\": 1073741824, \"plugged-memory\": -5}}\n",
    "{\"return\": {\"base-memory\": 1073741824, \"plugged-memory\": \"1\"}}\n",
    "{\"return\": {\"base-memory\": 1073741824, \"plugged-memory\": 18446744073709551615}}\n",
  };
  assert_refused (memory_size, wrong, G_N_ELEMENTS (wrong), FALSE);
}

static gboolean
status (json_t *value, GError **error)
{
  gboolean running;
  return qmp_parse_status (value, &running, error);
}

static void
test_status (void)
{
  g_autoptr (GError) error = NULL;
  gboolean running = TRUE;

  json_t *ret = parse_reply (qemu_status_prelaunch);
  g_assert_true (qmp_parse_status (ret, &running, &error));
  g_assert_false (running);
  json_decref (ret);
  ret = parse_reply (qemu_status_running);
  g_assert_true (qmp_parse_status (ret, &running, &error));
  g_assert_true (running);
  json_decref (ret);

  static const char *const wrong[] = {
    "{\"return\": {\"status\": \"running\", \"singlestep\": false}}\n",
    "{\"return\": {\"status\": \"running\", \"running\": \"true\"}}\n",
    "{\"return\": {\"status\": \"running\", \"running\": 1}}\n",
    "{\"return\": {\"running\": null}}\n",
    "{\"return\": [true]}\n",
  };
  assert_refused (status, wrong, G_N_ELEMENTS (wrong), FALSE);
}

static gboolean
balloon_change (json_t *value, GError **error)
{
  guint64 actual_bytes;
  return qmp_parse_balloon_change (value, &actual_bytes, error);
}

static void
test_balloon_change (void)
{
  g_autoptr (GError) error = NULL;
  guint64 actual_bytes = 0;

  /* The guest gives up its pages in steps: one event per step. */
  json_t *data = parse_event (qemu_balloon_change_first, "BALLOON_CHANGE");
  g_assert_true (qmp_parse_balloon_change (data, &actual_bytes, &error));
  g_assert_cmpuint (actual_bytes, ==, G_GUINT64_CONSTANT (267386880));
  json_decref (data);
  data = parse_event (qemu_balloon_change_done, "BALLOON_CHANGE");
  g_assert_true (qmp_parse_balloon_change (data, &actual_bytes, &error));
  g_assert_cmpuint (actual_bytes, ==, 192 << 20);
  json_decref (data);
  data = parse_event ("{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 0}}\n",
                      "BALLOON_CHANGE");
  g_assert_true (qmp_parse_balloon_change (data, &actual_bytes, &error));
  g_assert_cmpuint (actual_bytes, ==, 0);
  json_decref (data);

  static const char *const wrong[] = {
    "{\"event\": \"BALLOON_CHANGE\"}\n",
    "{\"event\": \"BALLOON_CHANGE\", \"data\": {}}\n",
    "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": \"201326592\"}}\n",
    "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 201326592.5}}\n",
    "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": -1}}\n",
    "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 18446744073709551615}}\n",
  };
  assert_refused (balloon_change, wrong, G_N_ELEMENTS (wrong), TRUE);
}

static void
test_backoff (void)
{
  QmpBackoff b;

  qmp_backoff_init (&b, 100, 1000);
  static const guint expected_ms[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
  for (gsize i = 0; i < G_N_ELEMENTS (expected_ms); i++)
    g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, expected_ms[i]);
  qmp_backoff_reset (&b);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, 100);

  /* No overflow near the top of the range. */
  qmp_backoff_init (&b, G_MAXUINT / 2 + 7, G_MAXUINT);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, G_MAXUINT / 2 + 7);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, G_MAXUINT);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, G_MAXUINT);

  /* Degenerate settings are made sane. */
  qmp_backoff_init (&b, 0, 0);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, 1);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, 1);
  qmp_backoff_init (&b, 500, 100);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, 500);
  g_assert_cmpuint (qmp_backoff_next_ms (&b), ==, 500);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/qmp/parser/one-feed", test_one_feed);
  g_test_add_func ("/qmp/parser/every-split", test_every_split);
  g_test_add_func ("/qmp/parser/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/qmp/parser/blank-lines", test_blank_lines);
  g_test_add_func ("/qmp/parser/stop", test_stop);
  g_test_add_func ("/qmp/parser/line-limit", test_line_limit);
  g_test_add_func ("/qmp/parser/line-limit-across-feeds", test_line_limit_across_feeds);
  for (gsize i = 0; i < G_N_ELEMENTS (invalid_inputs); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qmp/parser/invalid/%s", invalid_inputs[i].name);
      g_test_add_data_func (path, &invalid_inputs[i], test_invalid);
    }
  g_test_add_func ("/qmp/parser/finish-mid-message", test_finish_mid_message);
  g_test_add_func ("/qmp/parser/big-integers", test_big_integers);
  g_test_add_func ("/qmp/parser/classify", test_classify);
  g_test_add_func ("/qmp/balloon/guest-stats", test_guest_stats);
  g_test_add_func ("/qmp/balloon/query-balloon-and-qom-list", test_query_balloon_and_qom_list);
  g_test_add_func ("/qmp/replies/memory-size", test_memory_size);
  g_test_add_func ("/qmp/replies/status", test_status);
  g_test_add_func ("/qmp/replies/balloon-change", test_balloon_change);
  g_test_add_func ("/qmp/backoff", test_backoff);
  return g_test_run ();
}
