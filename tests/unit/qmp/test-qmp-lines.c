/* test-qmp-lines.c: the bounded line splitter that QMP, the control socket
 * and the agent link share: framing, limits, odd bytes, stop and reset. */
#include <string.h>

#include "qmp-lines.h"

/* What the splitter handed out, one entry per call: the line, or "<long>". */
typedef struct
{
  GPtrArray *calls;
  guint stop_after; /* return FALSE on this call (1-based); 0 never */
} Sink;

static gboolean
collect (const char *line, gsize len, gboolean too_long, gpointer data)
{
  Sink *sink = data;

  if (too_long)
    {
      g_assert_null (line);
      g_ptr_array_add (sink->calls, g_strdup ("<long>"));
    }
  else
    {
      g_assert_nonnull (line);
      g_assert_cmpint (line[len], ==, '\0');
      /* NUL bytes inside show as '0' so the test can see them. */
      char *copy = g_memdup2 (line, len + 1);
      for (gsize i = 0; i < len; i++)
        if (copy[i] == '\0')
          copy[i] = '0';
      g_ptr_array_add (sink->calls, copy);
    }
  return sink->calls->len != sink->stop_after;
}

static Sink *
sink_new (void)
{
  Sink *sink = g_new0 (Sink, 1);
  sink->calls = g_ptr_array_new_with_free_func (g_free);
  return sink;
}

static void
sink_free (Sink *sink)
{
  g_ptr_array_unref (sink->calls);
  g_free (sink);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sink, sink_free)

/* The calls so far joined by '|', e.g. "abc|<long>|ok". */
static char *
calls_str (Sink *sink)
{
  g_ptr_array_add (sink->calls, NULL);
  char *joined = g_strjoinv ("|", (char **) sink->calls->pdata);
  g_ptr_array_remove_index (sink->calls, sink->calls->len - 1);
  return joined;
}

static void
feed (QmpLineSplitter *s, const char *text, Sink *sink)
{
  g_assert_true (qmp_line_splitter_feed (s, text, strlen (text), collect, sink));
}

static void
assert_calls (Sink *sink, const char *expected)
{
  g_autofree char *got = calls_str (sink);
  g_assert_cmpstr (got, ==, expected);
}

static void
test_split_across_reads (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (8);
  g_autoptr (Sink) sink = sink_new ();

  feed (s, "ab", sink);
  assert_calls (sink, "");
  feed (s, "c\nde\n\nf", sink);
  assert_calls (sink, "abc|de|");
  feed (s, "1234567\n", sink);
  assert_calls (sink, "abc|de||f1234567");
}

static void
test_several_lines_per_read (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (64);
  g_autoptr (Sink) sink = sink_new ();

  feed (s, "one\ntwo\nthree\nfour\npart", sink);
  assert_calls (sink, "one|two|three|four");
  gsize len;
  const char *partial = qmp_line_splitter_pending (s, &len);
  g_assert_cmpmem (partial, len, "part", 4);
}

static void
test_over_long_then_good (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (8);
  g_autoptr (Sink) sink = sink_new ();

  /* Reported as soon as it passes the limit, once, however many pieces the
   * rest comes in; the line after its newline is intact. */
  feed (s, "123456789", sink);
  assert_calls (sink, "<long>");
  gsize len;
  qmp_line_splitter_pending (s, &len);
  g_assert_cmpuint (len, ==, 0);
  feed (s, "xxxxxxxxxxxxxxxxxxxxxxx", sink);
  feed (s, "yy\nok\n", sink);
  assert_calls (sink, "<long>|ok");
  /* Two over-long lines in one read, each reported. */
  feed (s, "aaaaaaaaaaaa\nbbbbbbbbbbbb\nfine\n", sink);
  assert_calls (sink, "<long>|ok|<long>|<long>|fine");
}

static void
test_limit_boundary (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (8);
  g_autoptr (Sink) sink = sink_new ();

  /* Exactly the limit passes, in one piece or split around the limit... */
  feed (s, "12345678\n", sink);
  feed (s, "1234567", sink);
  feed (s, "8", sink);
  feed (s, "\n", sink);
  assert_calls (sink, "12345678|12345678");
  /* ...one byte more does not, even split the same way. */
  feed (s, "12345678", sink);
  assert_calls (sink, "12345678|12345678");
  feed (s, "9", sink);
  assert_calls (sink, "12345678|12345678|<long>");
  feed (s, "\n", sink);
  assert_calls (sink, "12345678|12345678|<long>");

  /* A limit of 0 lets only empty lines through. */
  g_autoptr (QmpLineSplitter) zero = qmp_line_splitter_new (0);
  g_autoptr (Sink) zero_sink = sink_new ();
  feed (zero, "\n\nx\n\n", zero_sink);
  assert_calls (zero_sink, "||<long>|");
}

static void
test_odd_bytes (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (16);
  g_autoptr (Sink) sink = sink_new ();

  /* CR stays (each user's JSON reader takes it as blank), empty lines are
   * handed out (the agent counts them), NUL bytes keep the length. */
  feed (s, "{}\r\n\r\n\n", sink);
  g_assert_cmpstr (g_ptr_array_index (sink->calls, 0), ==, "{}\r");
  g_assert_cmpstr (g_ptr_array_index (sink->calls, 1), ==, "\r");
  g_assert_cmpstr (g_ptr_array_index (sink->calls, 2), ==, "");
  g_assert_true (qmp_line_splitter_feed (s, "a\0b\n", 4, collect, sink));
  g_assert_cmpstr (g_ptr_array_index (sink->calls, 3), ==, "a0b");
}

static void
test_stop (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (8);
  g_autoptr (Sink) sink = sink_new ();

  /* A stop drops the rest of that read, partial line included. */
  sink->stop_after = 2;
  const char *text = "one\ntwo\nthree\nfou";
  g_assert_false (qmp_line_splitter_feed (s, text, strlen (text), collect, sink));
  assert_calls (sink, "one|two");
  gsize len;
  qmp_line_splitter_pending (s, &len);
  g_assert_cmpuint (len, ==, 0);

  /* Stopping at the too-long report works the same way. */
  sink->stop_after = 3;
  text = "123456789\nnext\n";
  g_assert_false (qmp_line_splitter_feed (s, text, strlen (text), collect, sink));
  assert_calls (sink, "one|two|<long>");
}

static void
test_reset (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (8);
  g_autoptr (Sink) sink = sink_new ();

  feed (s, "part", sink);
  qmp_line_splitter_reset (s);
  feed (s, "new\n", sink);
  /* Reset also ends the dropping of an over-long line. */
  feed (s, "0123456789", sink);
  qmp_line_splitter_reset (s);
  feed (s, "tail\n", sink);
  assert_calls (sink, "new|<long>|tail");
}

/* Whatever the read sizes, the lines are the same. */
static void
test_chunking_invariant (void)
{
  static const char text[] = "{\"a\":1}\r\n\n0123456789abcdef-over\nok\n16-bytes-exactly\nend";
  g_autoptr (Sink) whole = sink_new ();
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (16);
  feed (s, text, whole);
  g_autofree char *expected = calls_str (whole);
  g_assert_cmpstr (expected, ==, "{\"a\":1}\r||<long>|ok|16-bytes-exactly");

  for (gsize piece = 1; piece < sizeof text; piece++)
    {
      g_autoptr (Sink) pieces = sink_new ();
      g_autoptr (QmpLineSplitter) p = qmp_line_splitter_new (16);
      for (gsize pos = 0; pos < sizeof text - 1; pos += piece)
        g_assert_true (qmp_line_splitter_feed (p, text + pos, MIN (piece, sizeof text - 1 - pos),
                                               collect, pieces));
      assert_calls (pieces, expected);
      gsize len;
      const char *partial = qmp_line_splitter_pending (p, &len);
      g_assert_cmpmem (partial, len, "end", 3);
    }
}

/* A long stream without newlines never makes it buffer past the limit. */
static void
test_bounded_memory (void)
{
  g_autoptr (QmpLineSplitter) s = qmp_line_splitter_new (1000);
  g_autoptr (Sink) sink = sink_new ();
  char chunk[333];
  memset (chunk, 'z', sizeof chunk);

  for (int i = 0; i < 100; i++)
    {
      g_assert_true (qmp_line_splitter_feed (s, chunk, sizeof chunk, collect, sink));
      gsize len;
      qmp_line_splitter_pending (s, &len);
      g_assert_cmpuint (len, <=, 1000);
    }
  assert_calls (sink, "<long>");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/qmp-lines/split-across-reads", test_split_across_reads);
  g_test_add_func ("/qmp-lines/several-per-read", test_several_lines_per_read);
  g_test_add_func ("/qmp-lines/over-long-then-good", test_over_long_then_good);
  g_test_add_func ("/qmp-lines/limit-boundary", test_limit_boundary);
  g_test_add_func ("/qmp-lines/odd-bytes", test_odd_bytes);
  g_test_add_func ("/qmp-lines/stop", test_stop);
  g_test_add_func ("/qmp-lines/reset", test_reset);
  g_test_add_func ("/qmp-lines/chunking-invariant", test_chunking_invariant);
  g_test_add_func ("/qmp-lines/bounded-memory", test_bounded_memory);
  return g_test_run ();
}
