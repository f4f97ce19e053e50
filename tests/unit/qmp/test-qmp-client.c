/* test-qmp-client.c: the async client and the blocking API against a
 * scripted QMP peer: negotiation, replies, events, framing and error cases. */
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "qmp-balloon.h"
#include "qmp-client.h"
#include "qmp-backoff.h"
#include "qmp-sync.h"
#include "qmp-test-peer.h"

/* A test that waits longer than this has hung: fail it. */
#define HANG_DEADLINE_MS 5000
/* Short timeouts keep the timeout tests fast. */
#define SHORT_TIMEOUT_MS 150

typedef struct
{
  gboolean done;
  json_t *ret;
  GError *error;
  guint order;
} Reply;

typedef struct
{
  Peer *peer;
  QmpClient *client;
  gboolean ready;
  gboolean closed;
  GError *closed_error;
  guint ready_order;
  guint counter;     /* orders callbacks across replies, events, ready */
  GPtrArray *events; /* "NAME@order" */
  json_t *last_event_data;
  gint64 last_event_ts_us;
  guint expected;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  memset (f, 0, sizeof *f);
  f->events = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->client, qmp_client_unref);
  if (f->peer != NULL)
    f->expected = peer_finish (g_steal_pointer (&f->peer));
  g_clear_error (&f->closed_error);
  g_clear_pointer (&f->last_event_data, json_decref);
  g_ptr_array_unref (f->events);
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until *flag, failing the test on a hang. */
static void
run_until (gboolean *flag)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (HANG_DEADLINE_MS, on_deadline, &expired);

  while (!*flag && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_false (expired);
}

/* Iterates the default context until `cond` holds, failing on a hang. */
#define RUN_UNTIL(cond)                                                                            \
  G_STMT_START                                                                                     \
  {                                                                                                \
    gboolean expired_ = FALSE;                                                                     \
    guint id_ = g_timeout_add (HANG_DEADLINE_MS, on_deadline, &expired_);                          \
    while (!(cond) && !expired_)                                                                   \
      g_main_context_iteration (NULL, TRUE);                                                       \
    if (!expired_)                                                                                 \
      g_source_remove (id_);                                                                       \
    g_assert_false (expired_);                                                                     \
  }                                                                                                \
  G_STMT_END

static void
on_ready (QmpClient *client, gpointer data)
{
  Fixture *f = data;
  f->ready = TRUE;
  f->ready_order = ++f->counter;
}

static void
on_closed (QmpClient *client, const GError *error, gpointer data)
{
  Fixture *f = data;
  g_assert_false (f->closed);
  f->closed = TRUE;
  f->closed_error = error ? g_error_copy (error) : NULL;
}

static void
on_event (QmpClient *client, const char *event, json_t *data, gint64 timestamp_us,
          gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->events, g_strdup_printf ("%s@%u", event, ++f->counter));
  g_clear_pointer (&f->last_event_data, json_decref);
  f->last_event_data = data ? json_incref (data) : NULL;
  f->last_event_ts_us = timestamp_us;
}

static void
on_reply (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Reply *r = data;
  g_assert_false (r->done);
  g_assert_true ((ret == NULL) != (error == NULL));
  r->done = TRUE;
  r->ret = ret ? json_incref (ret) : NULL;
  r->error = error ? g_error_copy (error) : NULL;
}

static void
reply_clear (Reply *r)
{
  g_clear_pointer (&r->ret, json_decref);
  g_clear_error (&r->error);
}

static void
start_with (Fixture *f, const PeerStep *steps, const QmpClientOptions *options)
{
  QmpClientCallbacks callbacks = { .ready = on_ready, .closed = on_closed, .user_data = f };
  g_autoptr (GError) error = NULL;

  f->peer = peer_start (steps);
  f->client = qmp_client_new (options, &callbacks);
  qmp_client_subscribe (f->client, "*", on_event, f, NULL);
  g_assert_true (qmp_client_connect (f->client, peer_path (f->peer), &error));
  g_assert_no_error (error);
}

static void
start (Fixture *f, const PeerStep *steps)
{
  start_with (f, steps, NULL);
}

/* Runs until the connection closed and checks the error it closed with. */
static void
assert_closed_with (Fixture *f, gint code, const char *fragment)
{
  run_until (&f->closed);
  g_assert_error (f->closed_error, QMP_ERROR, code);
  if (fragment != NULL && strstr (f->closed_error->message, fragment) == NULL)
    g_error ("close error \"%s\" lacks \"%s\"", f->closed_error->message, fragment);
  g_assert_false (qmp_client_is_ready (f->client));
}

static void
test_negotiate_then_ready (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { SEND (GREETING),
          EXPECT ("qmp_capabilities"),
          PAUSE (50),
          SEND ("{\"return\": {}, \"id\": $ID0}\r\n"),
          EXPECT ("query-status"),
          SEND ("{\"return\": {\"status\": \"prelaunch\", \"running\": false}, \"id\": $ID1}\r\n"),
          { 0 } };
  Reply r = { 0 };

  start (f, steps);
  /* Issued before "ready": must wait for the negotiation (the peer checks). */
  qmp_client_execute (f->client, "query-status", NULL, on_reply, &r);
  g_assert_false (qmp_client_is_ready (f->client));
  run_until (&f->ready);
  g_assert_true (qmp_client_is_ready (f->client));
  g_assert_nonnull (json_object_get (qmp_client_get_greeting (f->client), "version"));
  /* The scripted peer is a thread of this process. */
  g_assert_cmpint (qmp_client_get_peer_pid (f->client), ==, getpid ());
  run_until (&r.done);
  g_assert_no_error (r.error);
  g_assert_cmpstr (json_string_value (json_object_get (r.ret, "status")), ==, "prelaunch");
  g_assert_false (f->closed);
  reply_clear (&r);
  g_clear_pointer (&f->client, qmp_client_unref);
  g_assert_cmpuint (peer_finish (g_steal_pointer (&f->peer)), ==, 2);
}

static void
test_partial_lines (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { SEND ("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\""),
          PAUSE (30),
          SEND (": 2, \"major\": 7}}, \"capa"),
          PAUSE (30),
          SEND ("bilities\": []}}"),
          PAUSE (30),
          SEND ("\r\n"),
          EXPECT ("qmp_capabilities"),
          SEND ("{\"return\": {}, \"id\""),
          PAUSE (30),
          SEND (": $ID0}\r"),
          PAUSE (30),
          SEND ("\n"),
          EXPECT ("query-name"),
          SEND ("{\"return\": {\"name\": \"vm"),
          PAUSE (30),
          SEND ("1\"}, \"id\": $ID1}\r\n"),
          { 0 } };
  Reply r = { 0 };

  start (f, steps);
  run_until (&f->ready);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  run_until (&r.done);
  g_assert_no_error (r.error);
  g_assert_cmpstr (json_string_value (json_object_get (r.ret, "name")), ==, "vm1");
  g_assert_false (f->closed);
  reply_clear (&r);
}

static void
test_several_messages_one_read (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { NEGOTIATE,
                                    EXPECT ("cmd-a"),
                                    EXPECT ("cmd-b"),
                                    SEND ("{\"event\": \"RESET\", \"data\": {\"guest\": true}}\r\n"
                                          "{\"return\": \"b\", \"id\": $ID2}\r\n"
                                          "{\"return\": \"a\", \"id\": $ID1}\r\n"
                                          "{\"event\": \"STOP\"}\r\n"),
                                    { 0 } };
  Reply a = { 0 }, b = { 0 };

  start (f, steps);
  run_until (&f->ready);
  qmp_client_execute (f->client, "cmd-a", NULL, on_reply, &a);
  qmp_client_execute (f->client, "cmd-b", NULL, on_reply, &b);
  run_until (&a.done);
  g_assert_true (b.done);
  g_assert_cmpstr (json_string_value (a.ret), ==, "a");
  g_assert_cmpstr (json_string_value (b.ret), ==, "b");
  while (f->events->len < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (g_ptr_array_index (f->events, 0), ==, "RESET@2");
  g_assert_cmpstr (g_ptr_array_index (f->events, 1), ==, "STOP@3");
  reply_clear (&a);
  reply_clear (&b);
}

static void
test_event_between_command_and_reply (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("stop"),
          SEND ("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 250}, "
                "\"event\": \"STOP\", \"data\": {\"reason\": \"x\"}}\r\n"),
          PAUSE (20),
          SEND ("{\"return\": {}, \"id\": $ID1}\r\n"),
          { 0 } };
  Reply r = { 0 };

  start (f, steps);
  run_until (&f->ready);
  qmp_client_execute (f->client, "stop", NULL, on_reply, &r);
  run_until (&r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (f->events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->events, 0), ==, "STOP@2");
  g_assert_cmpstr (json_string_value (json_object_get (f->last_event_data, "reason")), ==, "x");
  g_assert_cmpint (f->last_event_ts_us, ==, G_GINT64_CONSTANT (1700000000000250));
  reply_clear (&r);
}

static void
test_command_error_reply (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("foo"),
          SEND ("{\"id\": $ID1, \"error\": {\"class\": \"CommandNotFound\", "
                "\"desc\": \"The command foo has not been found\"}}\r\n"),
          EXPECT ("query-name"),
          SEND ("{\"return\": {}, \"id\": $ID2}\r\n"),
          { 0 } };
  Reply r = { 0 }, r2 = { 0 };

  start (f, steps);
  qmp_client_execute (f->client, "foo", NULL, on_reply, &r);
  run_until (&r.done);
  g_assert_error (r.error, QMP_ERROR, QMP_ERROR_COMMAND);
  g_assert_nonnull (strstr (r.error->message, "CommandNotFound"));
  /* An error reply is a normal answer: the connection stays up. */
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r2);
  run_until (&r2.done);
  g_assert_no_error (r2.error);
  g_assert_false (f->closed);
  reply_clear (&r);
  reply_clear (&r2);
}

static void
test_line_too_long_default (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { NEGOTIATE, FILL (QMP_DEFAULT_MAX_LINE_BYTES + 100), { 0 } };

  start (f, steps);
  run_until (&f->ready);
  assert_closed_with (f, QMP_ERROR_TOO_LONG, "1048576");
}

#define N40 "0123456789012345678901234567890123456789"

static void
test_line_too_long_configured (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("query-name"),
          SEND ("{\"return\": {\"name\": \"" N40 N40 N40 N40 N40 N40 "\"}, \"id\": $ID1}\n"),
          { 0 } };
  QmpClientOptions options = { .max_line_bytes = 200 };
  Reply r = { 0 };

  start_with (f, steps, &options);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  assert_closed_with (f, QMP_ERROR_TOO_LONG, "200");
  g_assert_true (r.done);
  g_assert_error (r.error, QMP_ERROR, QMP_ERROR_CLOSED);
  reply_clear (&r);
}

typedef struct
{
  const char *name;
  const char *line;
  gint code;
  const char *fragment;
  gsize raw_len; /* for lines with a NUL byte; 0: up to the NUL */
} BadLine;

static const BadLine bad_lines[] = {
  { "invalid-json", "{\"return\": {}, \"id\": $ID1\r\n", QMP_ERROR_PROTOCOL, "invalid JSON", 0 },
  { "garbage", "\x01\x02 hello\n", QMP_ERROR_PROTOCOL, "invalid JSON", 0 },
  { "nul-byte", "{\"return\": \"a\0b\"}\n", QMP_ERROR_PROTOCOL, "invalid JSON", 18 },
  { "array", "[1, 2, 3]\r\n", QMP_ERROR_PROTOCOL, "not a JSON object", 0 },
  { "string", "\"hello\"\r\n", QMP_ERROR_PROTOCOL, "not a JSON object", 0 },
  { "number", "42\r\n", QMP_ERROR_PROTOCOL, "not a JSON object", 0 },
  { "error-not-object", "{\"error\": \"boom\", \"id\": $ID1}\r\n", QMP_ERROR_PROTOCOL, "\"error\"",
    0 },
  { "error-class-not-string", "{\"error\": {\"class\": 1, \"desc\": \"d\"}, \"id\": $ID1}\r\n",
    QMP_ERROR_PROTOCOL, "error.class", 0 },
  { "error-without-desc", "{\"error\": {\"class\": \"GenericError\"}, \"id\": $ID1}\r\n",
    QMP_ERROR_PROTOCOL, "error.desc", 0 },
  { "event-not-string", "{\"event\": 42}\r\n", QMP_ERROR_PROTOCOL, "\"event\"", 0 },
  { "event-data-not-object", "{\"event\": \"STOP\", \"data\": [1]}\r\n", QMP_ERROR_PROTOCOL,
    "\"data\"", 0 },
  { "second-greeting", GREETING, QMP_ERROR_PROTOCOL, "greeting", 0 },
  { "eof-mid-message", "{\"return\": {\"status\": \"runn", QMP_ERROR_PROTOCOL, "middle", 0 },
  { "clean-eof", "", QMP_ERROR_CLOSED, "closed the connection", 0 },
};

/* Each bad input arrives while a command waits: the connection must close
 * with a clear error and the command must fail, not hang. */
static void
test_bad_line (Fixture *f, gconstpointer data)
{
  const BadLine *bad = data;
  PeerStep steps[]
      = { NEGOTIATE, EXPECT ("query-name"), { PEER_SEND, bad->line, bad->raw_len }, CLOSE, { 0 } };
  Reply r = { 0 };

  start (f, steps);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  assert_closed_with (f, bad->code, bad->fragment);
  g_assert_true (r.done);
  g_assert_error (r.error, QMP_ERROR, QMP_ERROR_CLOSED);
  reply_clear (&r);
}

static void
test_bad_greeting (Fixture *f, gconstpointer data)
{
  const BadLine *bad = data;
  PeerStep steps[] = { SEND (bad->line), { 0 } };

  start (f, steps);
  assert_closed_with (f, bad->code, bad->fragment);
  g_assert_false (f->ready);
}

static const BadLine bad_greetings[] = {
  { "reply-first", "{\"return\": {}}\r\n", QMP_ERROR_PROTOCOL, "not a greeting", 0 },
  { "event-first", "{\"event\": \"STOP\"}\r\n", QMP_ERROR_PROTOCOL, "not a greeting", 0 },
  { "qmp-not-object", "{\"QMP\": 1}\r\n", QMP_ERROR_PROTOCOL, "\"QMP\"", 0 },
  { "capabilities-not-array", "{\"QMP\": {\"capabilities\": 1}}\r\n", QMP_ERROR_PROTOCOL,
    "capabilities", 0 },
  { "invalid-json", "{\"QMP\": \n", QMP_ERROR_PROTOCOL, "invalid JSON", 0 },
};

static void
test_eof_before_greeting (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { CLOSE, { 0 } };

  start (f, steps);
  assert_closed_with (f, QMP_ERROR_CLOSED, "before its greeting");
}

static void
test_no_greeting (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { { 0 } };
  QmpClientOptions options = { .greeting_timeout_ms = SHORT_TIMEOUT_MS };
  Reply r = { 0 };

  start_with (f, steps, &options);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  assert_closed_with (f, QMP_ERROR_TIMEOUT, "no QMP greeting");
  g_assert_true (r.done);
  g_assert_nonnull (r.error);
  g_assert_false (f->ready);
  reply_clear (&r);
}

static void
test_no_capabilities_answer (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { SEND (GREETING), EXPECT ("qmp_capabilities"), { 0 } };
  QmpClientOptions options = { .greeting_timeout_ms = SHORT_TIMEOUT_MS };

  start_with (f, steps, &options);
  assert_closed_with (f, QMP_ERROR_TIMEOUT, "qmp_capabilities");
  g_assert_false (f->ready);
}

static void
test_capabilities_refused (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { SEND (GREETING),
          EXPECT ("qmp_capabilities"),
          SEND ("{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": $ID0}\r\n"),
          { 0 } };

  start (f, steps);
  assert_closed_with (f, QMP_ERROR_PROTOCOL, "GenericError");
  g_assert_false (f->ready);
}

static void
test_unknown_id (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("query-name"),
          SEND ("{\"return\": {}, \"id\": 9999}\r\n{\"return\": {}, \"id\": \"str\"}\r\n"
                "{\"return\": {}}\r\n{\"return\": {\"name\": \"ok\"}, \"id\": $ID1}\r\n"),
          { 0 } };
  Reply r = { 0 };

  g_test_expect_message ("ballast-qmp", G_LOG_LEVEL_WARNING, "*unknown id 9999*");
  g_test_expect_message ("ballast-qmp", G_LOG_LEVEL_WARNING, "*unknown id \"str\"*");
  g_test_expect_message ("ballast-qmp", G_LOG_LEVEL_WARNING, "*unknown id (none)*");
  start (f, steps);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  run_until (&r.done);
  g_test_assert_expected_messages ();
  /* Stray replies must neither be matched nor close the connection. */
  g_assert_no_error (r.error);
  g_assert_cmpstr (json_string_value (json_object_get (r.ret, "name")), ==, "ok");
  g_assert_false (f->closed);
  reply_clear (&r);
}

static void
test_unknown_message_kind (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { NEGOTIATE,
                                    EXPECT ("query-name"),
                                    SEND ("{\"future\": 1}\r\n{\"return\": {}, \"id\": $ID1}\r\n"),
                                    { 0 } };
  Reply r = { 0 };

  g_test_expect_message ("ballast-qmp", G_LOG_LEVEL_WARNING, "*unknown kind*");
  start (f, steps);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  run_until (&r.done);
  g_test_assert_expected_messages ();
  g_assert_no_error (r.error);
  g_assert_false (f->closed);
  reply_clear (&r);
}

/* The late reply comes half a timeout after the client gave up, so the
 * next command (sent then) is answered half a timeout before its own
 * deadline: a margin of 150 ms either way on a loaded machine. */
#define CMD_TIMEOUT_MS 300
#define LATE_REPLY_MS (CMD_TIMEOUT_MS * 3 / 2)

static void
test_command_timeout (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("slow"),
          EXPECT ("fast"),
          SEND ("{\"return\": 1, \"id\": $ID2}\r\n"),
          EXPECT ("slow"),
          PAUSE (LATE_REPLY_MS),
          /* The late reply to a timed-out command is dropped without a warning. */
          SEND ("{\"return\": 0, \"id\": $ID3}\r\n"),
          EXPECT ("fast"),
          SEND ("{\"return\": 2, \"id\": $ID4}\r\n"),
          { 0 } };
  QmpClientOptions options = { .command_timeout_ms = CMD_TIMEOUT_MS, .max_timeouts = 2 };
  Reply slow = { 0 }, fast = { 0 }, slow2 = { 0 }, fast2 = { 0 };

  start_with (f, steps, &options);
  run_until (&f->ready);
  gint64 start_us = g_get_monotonic_time ();
  qmp_client_execute (f->client, "slow", NULL, on_reply, &slow);
  run_until (&slow.done);
  gint64 waited_ms = (g_get_monotonic_time () - start_us) / 1000;
  g_assert_error (slow.error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_assert_cmpint (waited_ms, >=, CMD_TIMEOUT_MS - 10);
  g_assert_true (qmp_client_is_ready (f->client));
  /* A reply in between resets the count of consecutive timeouts. */
  qmp_client_execute (f->client, "fast", NULL, on_reply, &fast);
  run_until (&fast.done);
  g_assert_no_error (fast.error);
  qmp_client_execute (f->client, "slow", NULL, on_reply, &slow2);
  run_until (&slow2.done);
  g_assert_error (slow2.error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_assert_false (f->closed);
  qmp_client_execute (f->client, "fast", NULL, on_reply, &fast2);
  run_until (&fast2.done);
  g_assert_no_error (fast2.error);
  g_assert_cmpint (json_integer_value (fast2.ret), ==, 2);
  g_assert_false (f->closed);
  reply_clear (&slow);
  reply_clear (&fast);
  reply_clear (&slow2);
  reply_clear (&fast2);
}

static void
test_consecutive_timeouts_close (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { NEGOTIATE, EXPECT ("a"), EXPECT ("b"), { 0 } };
  QmpClientOptions options = { .command_timeout_ms = SHORT_TIMEOUT_MS, .max_timeouts = 2 };
  Reply a = { 0 }, b = { 0 };

  start_with (f, steps, &options);
  run_until (&f->ready);
  qmp_client_execute (f->client, "a", NULL, on_reply, &a);
  run_until (&a.done);
  g_assert_error (a.error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_assert_false (f->closed);
  qmp_client_execute (f->client, "b", NULL, on_reply, &b);
  assert_closed_with (f, QMP_ERROR_TIMEOUT, "2 consecutive");
  g_assert_error (b.error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  reply_clear (&a);
  reply_clear (&b);
}

static void
test_connect_refused (void)
{
  g_autoptr (QmpClient) client = qmp_client_new (NULL, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (qmp_client_connect (client, "/nonexistent/ballast/qmp.sock", &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_CONNECT);
}

static void
test_execute_when_closed (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = { NEGOTIATE, { 0 } };
  Reply r = { 0 };

  start (f, steps);
  run_until (&f->ready);
  qmp_client_close (f->client);
  g_assert_true (f->closed);
  g_assert_null (f->closed_error);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &r);
  /* Never from inside the call: the caller may not be ready for it. */
  g_assert_false (r.done);
  run_until (&r.done);
  g_assert_error (r.error, QMP_ERROR, QMP_ERROR_CLOSED);
  reply_clear (&r);
}

/* Commands that cannot be sent fail from the loop, and the connection stays. */
static void
test_execute_invalid (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE, EXPECT ("query-name"), SEND ("{\"return\": {}, \"id\": $ID1}\r\n"), { 0 } };
  Reply bad_args = { 0 }, bad_name = { 0 }, good = { 0 };

  start (f, steps);
  run_until (&f->ready);
  qmp_client_execute (f->client, "query-name", json_integer (3), on_reply, &bad_args);
  qmp_client_execute (f->client, "query-\xff", NULL, on_reply, &bad_name);
  qmp_client_execute (f->client, "query-name", NULL, on_reply, &good);
  g_assert_false (bad_args.done || bad_name.done);
  RUN_UNTIL (good.done && bad_args.done && bad_name.done);
  g_assert_error (bad_args.error, QMP_ERROR, QMP_ERROR_PROTOCOL);
  g_assert_error (bad_name.error, QMP_ERROR, QMP_ERROR_PROTOCOL);
  g_assert_no_error (good.error);
  g_assert_false (f->closed);
  reply_clear (&bad_args);
  reply_clear (&bad_name);
  reply_clear (&good);
}

static void
on_reply_unref (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Fixture *f = data;
  g_clear_pointer (&f->client, qmp_client_unref);
  f->ready = FALSE;
  f->counter = 42;
}

static void
on_reply_cancelled (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Reply *r = data;
  g_assert_error (error, QMP_ERROR, QMP_ERROR_CANCELLED);
  r->done = TRUE;
}

/* Dropping the last reference from inside a callback, with the next reply
 * already in the same read, must not touch freed memory (ASan checks). */
static void
test_unref_in_callback (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[] = {
    NEGOTIATE,
    EXPECT ("a"),
    EXPECT ("b"),
    SEND (
        "{\"return\": 1, \"id\": $ID1}\r\n{\"return\": 2, \"id\": $ID2}\r\n{\"event\": \"X\"}\r\n"),
    { 0 }
  };
  Reply b = { 0 };

  start (f, steps);
  run_until (&f->ready);
  qmp_client_execute (f->client, "a", NULL, on_reply_unref, f);
  qmp_client_execute (f->client, "b", NULL, on_reply_cancelled, &b);
  while (f->counter != 42)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (f->client);
  g_assert_true (b.done);
  g_assert_cmpuint (f->events->len, ==, 0);
}

static void
on_event_count (QmpClient *client, const char *event, json_t *data, gint64 ts, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
test_subscriptions (Fixture *f, gconstpointer data)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("a"),
          SEND ("{\"event\": \"STOP\"}\r\n{\"event\": \"RESUME\"}\r\n{\"event\": \"STOP\"}\r\n"
                "{\"return\": {}, \"id\": $ID1}\r\n"),
          EXPECT ("b"),
          SEND ("{\"event\": \"STOP\"}\r\n{\"return\": {}, \"id\": $ID2}\r\n"),
          { 0 } };
  guint stops = 0, resumes = 0;
  Reply a = { 0 }, b = { 0 };

  start (f, steps);
  guint stop_id = qmp_client_subscribe (f->client, "STOP", on_event_count, &stops, NULL);
  qmp_client_subscribe (f->client, "RESUME", on_event_count, &resumes, NULL);
  qmp_client_execute (f->client, "a", NULL, on_reply, &a);
  run_until (&a.done);
  g_assert_cmpuint (stops, ==, 2);
  g_assert_cmpuint (resumes, ==, 1);
  g_assert_cmpuint (f->events->len, ==, 3); /* the "*" subscription */
  qmp_client_unsubscribe (f->client, stop_id);
  qmp_client_execute (f->client, "b", NULL, on_reply, &b);
  run_until (&b.done);
  g_assert_cmpuint (stops, ==, 2);
  g_assert_cmpuint (f->events->len, ==, 4);
  reply_clear (&a);
  reply_clear (&b);
}

/* --- blocking API and typed helpers --- */

#define QOM_LIST_PERIPHERAL                                                                        \
  "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}], \"id\": $ID1}\r\n"
#define QOM_LIST_ANON                                                                              \
  "{\"return\": [{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"device[0]\", "           \
  "\"type\": \"child<virtio-balloon-pci>\"}], \"id\": $ID2}\r\n"
/* Verbatim from QEMU 7.2 with a paused guest. */
#define GUEST_STATS_NEVER                                                                          \
  "{\"return\": {\"stats\": {\"stat-htlb-pgalloc\": 18446744073709551615, \"stat-swap-out\": "     \
  "18446744073709551615, \"stat-available-memory\": 18446744073709551615, "                        \
  "\"stat-htlb-pgfail\": 18446744073709551615, \"stat-free-memory\": 18446744073709551615, "       \
  "\"stat-minor-faults\": 18446744073709551615, \"stat-major-faults\": 18446744073709551615, "     \
  "\"stat-total-memory\": 18446744073709551615, \"stat-swap-in\": 18446744073709551615, "          \
  "\"stat-disk-caches\": 18446744073709551615}, \"last-update\": 0}, \"id\": $ID4}\r\n"
#define GUEST_STATS_SOME                                                                           \
  "{\"return\": {\"stats\": {\"stat-free-memory\": 1048576, \"stat-total-memory\": 536870912, "    \
  "\"stat-available-memory\": 18446744073709551615, \"stat-major-faults\": -1, "                   \
  "\"stat-minor-faults\": 77, \"stat-swap-in\": 0}, \"last-update\": 1700000000}, \"id\": "        \
  "$ID5}\r\n"

static void
test_sync_balloon_helpers (void)
{
  static const PeerStep steps[] = {
    NEGOTIATE,
    EXPECT ("qom-list"),
    SEND (QOM_LIST_PERIPHERAL),
    EXPECT ("qom-list"),
    SEND (QOM_LIST_ANON),
    EXPECT ("query-balloon"),
    SEND ("{\"return\": {\"actual\": 67108864}, \"id\": $ID3}\r\n"),
    EXPECT ("qom-get"),
    SEND (GUEST_STATS_NEVER),
    EXPECT ("qom-get"),
    SEND (GUEST_STATS_SOME),
    EXPECT ("balloon"),
    SEND ("{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has been "
          "activated\"}, \"id\": $ID6}\r\n"),
    EXPECT ("qom-set"),
    SEND ("{\"return\": {}, \"id\": $ID7}\r\n"),
    { 0 }
  };
  Peer *peer = peer_start (steps);
  g_autoptr (GError) error = NULL;
  g_autoptr (QmpSync) s = qmp_sync_connect (peer_path (peer), 2000, &error);
  g_assert_no_error (error);

  g_autofree char *path = qmp_sync_find_balloon_path (s, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, "/machine/peripheral-anon/device[0]");

  guint64 actual_bytes = 0;
  g_assert_true (qmp_sync_query_balloon (s, &actual_bytes, &error));
  g_assert_cmpuint (actual_bytes, ==, 64 * 1024 * 1024);

  QmpGuestStats stats;
  g_assert_true (qmp_sync_guest_stats (s, path, &stats, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stats.last_update_s, ==, 0);
  g_assert_false (stats.free_bytes.present);
  g_assert_false (stats.total_bytes.present);
  g_assert_false (stats.available_bytes.present);
  g_assert_false (stats.swap_in_bytes.present);
  g_assert_false (stats.hugetlb_failures.present);

  g_assert_true (qmp_sync_guest_stats (s, path, &stats, &error));
  g_assert_cmpint (stats.last_update_s, ==, 1700000000);
  g_assert_true (stats.free_bytes.present);
  g_assert_cmpuint (stats.free_bytes.value, ==, 1048576);
  g_assert_true (stats.total_bytes.present);
  g_assert_cmpuint (stats.total_bytes.value, ==, 536870912);
  g_assert_false (stats.available_bytes.present); /* 2^64-1 */
  g_assert_false (stats.major_faults.present);    /* -1 */
  g_assert_true (stats.minor_faults.present);
  g_assert_cmpuint (stats.minor_faults.value, ==, 77);
  g_assert_true (stats.swap_in_bytes.present);
  g_assert_cmpuint (stats.swap_in_bytes.value, ==, 0);
  g_assert_false (stats.disk_caches_bytes.present); /* missing */

  g_assert_false (qmp_sync_set_balloon (s, 32 * 1024 * 1024, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_COMMAND);
  g_assert_nonnull (strstr (error->message, "DeviceNotActive"));
  g_clear_error (&error);

  g_assert_true (qmp_sync_set_stats_polling (s, path, 2, &error));
  g_assert_no_error (error);
  g_clear_pointer (&s, qmp_sync_free);
  g_assert_cmpuint (peer_finish (peer), ==, 8);
}

static void
test_sync_no_balloon (void)
{
  static const PeerStep steps[]
      = { NEGOTIATE,
          EXPECT ("qom-list"),
          SEND (QOM_LIST_PERIPHERAL),
          EXPECT ("qom-list"),
          SEND ("{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no\"}, \"id\": $ID2}\r\n"),
          EXPECT ("query-name"),
          SEND ("{\"return\": {\"name\": \"vm\"}, \"id\": $ID3}\r\n"),
          { 0 } };
  Peer *peer = peer_start (steps);
  g_autoptr (GError) error = NULL;
  g_autoptr (QmpSync) s = qmp_sync_connect (peer_path (peer), 2000, &error);
  g_assert_no_error (error);

  g_autofree char *path = qmp_sync_find_balloon_path (s, &error);
  g_assert_null (path);
  g_assert_error (error, QMP_ERROR, QMP_ERROR_NOT_FOUND);
  g_clear_error (&error);

  json_t *ret = qmp_sync_execute (s, "query-name", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_string_value (json_object_get (ret, "name")), ==, "vm");
  json_decref (ret);
  g_clear_pointer (&s, qmp_sync_free);
  g_assert_cmpuint (peer_finish (peer), ==, 4);
}

static void
test_sync_timeout (void)
{
  static const PeerStep steps[] = { NEGOTIATE, EXPECT ("query-name"), { 0 } };
  Peer *peer = peer_start (steps);
  g_autoptr (GError) error = NULL;
  g_autoptr (QmpSync) s = qmp_sync_connect (peer_path (peer), SHORT_TIMEOUT_MS, &error);
  g_assert_no_error (error);

  json_t *ret = qmp_sync_execute (s, "query-name", json_pack ("{si}", "x", 1), &error);
  g_assert_null (ret);
  g_assert_error (error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  g_clear_pointer (&s, qmp_sync_free);
  peer_finish (peer);
}

/* A close after the connection phase must end the waiting call with an
 * error, and later calls must fail at once. */
static void
test_sync_peer_closes (void)
{
  static const PeerStep steps[] = { NEGOTIATE, EXPECT ("query-name"), CLOSE, { 0 } };
  Peer *peer = peer_start (steps);
  g_autoptr (GError) error = NULL;
  g_autoptr (QmpSync) s = qmp_sync_connect (peer_path (peer), 2000, &error);
  g_assert_no_error (error);

  g_assert_null (qmp_sync_execute (s, "query-name", NULL, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_CLOSED);
  g_clear_error (&error);
  guint64 actual_bytes;
  g_assert_false (qmp_sync_query_balloon (s, &actual_bytes, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_CLOSED);
  g_clear_pointer (&s, qmp_sync_free);
  peer_finish (peer);
}

static void
test_sync_connect_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (qmp_sync_connect ("/nonexistent/ballast/qmp.sock", 100, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_CONNECT);
  g_clear_error (&error);

  static const PeerStep steps[] = { { 0 } };
  Peer *peer = peer_start (steps);
  g_assert_null (qmp_sync_connect (peer_path (peer), SHORT_TIMEOUT_MS, &error));
  g_assert_error (error, QMP_ERROR, QMP_ERROR_TIMEOUT);
  peer_finish (peer);
}

typedef struct
{
  QmpRetry retry;
  GArray *fired_mono_us;
  guint rearm; /* how many more times the callback schedules itself */
} Retries;

static void
on_retry (gpointer data)
{
  Retries *st = data;
  gint64 now_us = g_get_monotonic_time ();
  g_array_append_val (st->fired_mono_us, now_us);
  g_assert_false (qmp_retry_pending (&st->retry));
  if (st->rearm > 0)
    {
      st->rearm--;
      g_assert_cmpuint (qmp_retry_schedule (&st->retry), >, 0);
    }
}

/* The delays double up to the cap, a second schedule while armed is a no-op,
 * reset starts over and cancel disarms. */
static void
test_retry_timer (void)
{
  Retries st = { .fired_mono_us = g_array_new (FALSE, FALSE, sizeof (gint64)), .rearm = 3 };
  static const guint expected_ms[] = { 10, 20, 40, 40 };

  qmp_retry_init (&st.retry, 10, 40, on_retry, &st);
  g_assert_false (qmp_retry_pending (&st.retry));
  gint64 start_us = g_get_monotonic_time ();
  g_assert_cmpuint (qmp_retry_schedule (&st.retry), ==, expected_ms[0]);
  g_assert_cmpuint (qmp_retry_schedule (&st.retry), ==, 0);
  RUN_UNTIL (st.fired_mono_us->len == G_N_ELEMENTS (expected_ms));
  gint64 waited_us = g_array_index (st.fired_mono_us, gint64, 3) - start_us;
  g_assert_cmpint (waited_us, >=, (10 + 20 + 40 + 40) * 1000);
  g_assert_false (qmp_retry_pending (&st.retry));

  qmp_retry_reset (&st.retry);
  g_assert_cmpuint (qmp_retry_schedule (&st.retry), ==, 10);
  g_assert_true (qmp_retry_pending (&st.retry));
  qmp_retry_cancel (&st.retry);
  g_assert_false (qmp_retry_pending (&st.retry));
  qmp_retry_cancel (&st.retry);
  g_usleep (30 * 1000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (st.fired_mono_us->len, ==, G_N_ELEMENTS (expected_ms));
  g_array_unref (st.fired_mono_us);
}

#define N_SHARED_RETRIES 1000

typedef struct
{
  QmpRetry retries[N_SHARED_RETRIES];
  guint fired[N_SHARED_RETRIES];
  guint n_fired;
  int last_fired; /* index of the latest callback */
  gboolean in_order;
} SharedRetries;

typedef struct
{
  SharedRetries *all;
  int index;
} SharedRetry;

static SharedRetry shared_slots[N_SHARED_RETRIES];

static void
on_shared_retry (gpointer data)
{
  SharedRetry *slot = data;
  SharedRetries *all = slot->all;
  all->fired[slot->index]++;
  all->n_fired++;
  if (slot->index < all->last_fired)
    all->in_order = FALSE;
  all->last_fired = slot->index;
  /* The first one disarms its neighbour, due in the same batch. */
  if (slot->index == 0)
    qmp_retry_cancel (&all->retries[1]);
}

/* A thousand armed retries add one source to the loop, fire soonest first,
 * once each, and a callback may cancel another one due in the same batch. */
static void
test_retry_shared (void)
{
  g_autofree SharedRetries *all = g_new0 (SharedRetries, 1);
  all->in_order = TRUE;
  all->last_fired = -1;
  guint sources_before = 0, sources_armed = 0;
  for (int i = 0; i < N_SHARED_RETRIES; i++)
    {
      shared_slots[i] = (SharedRetry){ .all = all, .index = i };
      qmp_retry_init (&all->retries[i], 20, 20, on_shared_retry, &shared_slots[i]);
    }
  /* Prime the queue's source with one retry, then count what 999 more add. */
  qmp_retry_schedule_in (&all->retries[0], 10);
  for (guint id = 1; id < 100000; id++)
    if (g_main_context_find_source_by_id (NULL, id) != NULL)
      sources_before++;
  for (int i = 1; i < N_SHARED_RETRIES; i++)
    qmp_retry_schedule_in (&all->retries[i], 10 + (guint) i / 100);
  for (guint id = 1; id < 100000; id++)
    if (g_main_context_find_source_by_id (NULL, id) != NULL)
      sources_armed++;
  g_assert_cmpuint (sources_armed, ==, sources_before);
  RUN_UNTIL (all->n_fired == N_SHARED_RETRIES - 1);
  g_usleep (30 * 1000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (all->n_fired, ==, N_SHARED_RETRIES - 1);
  g_assert_cmpuint (all->fired[1], ==, 0);
  for (int i = 2; i < N_SHARED_RETRIES; i++)
    g_assert_cmpuint (all->fired[i], ==, 1);
  g_assert_true (all->in_order);
}

#define ADD(name, fn)                                                                              \
  g_test_add ("/qmp/client/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  ADD ("negotiate-then-ready", test_negotiate_then_ready);
  ADD ("partial-lines", test_partial_lines);
  ADD ("several-messages-one-read", test_several_messages_one_read);
  ADD ("event-between-command-and-reply", test_event_between_command_and_reply);
  ADD ("command-error-reply", test_command_error_reply);
  ADD ("line-too-long-default", test_line_too_long_default);
  ADD ("line-too-long-configured", test_line_too_long_configured);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_lines); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qmp/client/bad-line/%s", bad_lines[i].name);
      g_test_add (path, Fixture, &bad_lines[i], fixture_setup, test_bad_line, fixture_teardown);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad_greetings); i++)
    {
      g_autofree char *path
          = g_strdup_printf ("/qmp/client/bad-greeting/%s", bad_greetings[i].name);
      g_test_add (path, Fixture, &bad_greetings[i], fixture_setup, test_bad_greeting,
                  fixture_teardown);
    }
  ADD ("eof-before-greeting", test_eof_before_greeting);
  ADD ("no-greeting", test_no_greeting);
  ADD ("no-capabilities-answer", test_no_capabilities_answer);
  ADD ("capabilities-refused", test_capabilities_refused);
  ADD ("unknown-id", test_unknown_id);
  ADD ("unknown-message-kind", test_unknown_message_kind);
  ADD ("command-timeout", test_command_timeout);
  ADD ("consecutive-timeouts-close", test_consecutive_timeouts_close);
  ADD ("execute-when-closed", test_execute_when_closed);
  ADD ("execute-invalid", test_execute_invalid);
  ADD ("unref-in-callback", test_unref_in_callback);
  ADD ("subscriptions", test_subscriptions);
  g_test_add_func ("/qmp/client/connect-refused", test_connect_refused);
  g_test_add_func ("/qmp/retry/timer", test_retry_timer);
  g_test_add_func ("/qmp/retry/shared", test_retry_shared);
  g_test_add_func ("/qmp/sync/balloon-helpers", test_sync_balloon_helpers);
  g_test_add_func ("/qmp/sync/no-balloon", test_sync_no_balloon);
  g_test_add_func ("/qmp/sync/timeout", test_sync_timeout);
  g_test_add_func ("/qmp/sync/peer-closes", test_sync_peer_closes);
  g_test_add_func ("/qmp/sync/connect-errors", test_sync_connect_errors);
  return g_test_run ();
}
