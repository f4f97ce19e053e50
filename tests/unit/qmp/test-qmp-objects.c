/* test-qmp-objects.c: the JSON object splitter of the control socket:
 * objects back to back without newlines (as qemu.qmp sends them), cut
 * anywhere between feeds, garbage and over-long messages refused. */
#include <string.h>

#include "qmp-objects.h"

typedef struct
{
  GPtrArray *values; /* compact JSON text of each value */
  char *error;
} Sink;

static gboolean
collect (json_t *value, const char *error, gpointer data)
{
  Sink *sink = data;
  if (value == NULL)
    {
      g_assert_null (sink->error);
      sink->error = g_strdup (error);
      return FALSE;
    }
  g_ptr_array_add (sink->values, json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY));
  return TRUE;
}

static void
sink_init (Sink *sink)
{
  sink->values = g_ptr_array_new_with_free_func (free);
  sink->error = NULL;
}

static void
sink_clear (Sink *sink)
{
  g_ptr_array_unref (sink->values);
  g_free (sink->error);
}

static void
test_back_to_back (void)
{
  const char *text = "{\"execute\":\"a\"}{\"execute\":\"b\",\"id\":[1]} \r\n\t{\"x\":{}}";
  Sink sink;
  sink_init (&sink);
  g_autoptr (QmpObjectSplitter) s = qmp_object_splitter_new (1024);
  g_assert_true (qmp_object_splitter_feed (s, text, strlen (text), collect, &sink));
  g_assert_cmpuint (sink.values->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (sink.values, 1), ==, "{\"execute\":\"b\",\"id\":[1]}");
  sink_clear (&sink);
}

/* Every cut point of a stream gives the same values. */
static void
test_cut_anywhere (void)
{
  const char *text = "{\"a\":true,\"b\":\"x\\\"}\",\"n\":-12.5e3,\"z\":null}{\"c\":false}\n";
  gsize len = strlen (text);
  for (gsize cut = 0; cut <= len; cut++)
    {
      Sink sink;
      sink_init (&sink);
      g_autoptr (QmpObjectSplitter) s = qmp_object_splitter_new (1024);
      g_assert_true (qmp_object_splitter_feed (s, text, cut, collect, &sink));
      g_assert_true (qmp_object_splitter_feed (s, text + cut, len - cut, collect, &sink));
      g_assert_null (sink.error);
      g_assert_cmpuint (sink.values->len, ==, 2);
      sink_clear (&sink);
    }
}

static void
test_garbage_and_bounds (void)
{
  Sink sink;
  sink_init (&sink);
  g_autoptr (QmpObjectSplitter) s = qmp_object_splitter_new (32);
  g_assert_false (qmp_object_splitter_feed (s, "this is not json\n", 17, collect, &sink));
  g_assert_nonnull (strstr (sink.error, "JSON parse error"));
  sink_clear (&sink);

  sink_init (&sink);
  g_autoptr (QmpObjectSplitter) big = qmp_object_splitter_new (32);
  g_autofree char *open = g_strnfill (20, 'x');
  g_autofree char *text = g_strdup_printf ("{\"a\":\"%s", open);
  g_assert_true (qmp_object_splitter_feed (big, text, strlen (text), collect, &sink));
  g_assert_false (qmp_object_splitter_feed (big, open, strlen (open), collect, &sink));
  g_assert_nonnull (strstr (sink.error, "too long"));
  sink_clear (&sink);

  /* Whitespace between messages does not count against the limit. */
  sink_init (&sink);
  g_autoptr (QmpObjectSplitter) ws = qmp_object_splitter_new (32);
  g_autofree char *spaces = g_strnfill (100, '\n');
  g_assert_true (qmp_object_splitter_feed (ws, spaces, 100, collect, &sink));
  g_assert_true (qmp_object_splitter_feed (ws, "{}", 2, collect, &sink));
  g_assert_cmpuint (sink.values->len, ==, 1);
  sink_clear (&sink);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/qmp-objects/back-to-back", test_back_to_back);
  g_test_add_func ("/qmp-objects/cut-anywhere", test_cut_anywhere);
  g_test_add_func ("/qmp-objects/garbage-and-bounds", test_garbage_and_bounds);
  return g_test_run ();
}
