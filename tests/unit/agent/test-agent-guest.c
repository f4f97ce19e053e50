/* test-agent-guest.c: unit tests of ballast-agent's parsers (lru_gen,
 * /proc files, the host's config and reclaim lines), aging commands,
 * histogram math and the reclaim decision and write. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "agent-json.h"
#include "agent-mglru.h"
#include "agent-proc.h"
#include "agent-reclaim.h"

#define PAGE 4096

/* Shaped like 6.1's lru_gen: "memcg %5hu %s", " node %5d", then
 * " %10lu %10u" + " %10lu%c" per type (mark ' ' in the short file). */
static const char lru_gen_short[] = "memcg     1 /\n"
                                    " node     0\n"
                                    "          4       6000        100          7 \n"
                                    "          5       4000         50          0 \n"
                                    "          6       2000         20          0 \n"
                                    "          7        500         30          3 \n"
                                    "memcg     2 /system.slice\n"
                                    " node     0\n"
                                    "          9      12000         10          1 \n"
                                    "         10       1000          5          2 \n";

/* The _full file: 'x' marks, tier lines (7 fields) and mm stat lines (6). */
static const char lru_gen_full[]
    = "memcg     1 /\n"
      " node     0\n"
      "          3       8000          0x         0 \n"
      "                     0          0          0          0          0          0          0 \n"
      "                     1          0          0          0          0          0          0 \n"
      "                                0          0          0          0          0          0 \n"
      "          4       6000        100          7 \n"
      "                     0         12R        34T         0          5r         6e         0p\n"
      "                               1L         2O         3Y         4N         5F         6A\n"
      "          5       4000         50          0 \n";

static void
test_mglru_parse_short (void)
{
  AgentMglruSnapshot s;
  g_assert_cmpint (agent_mglru_parse (lru_gen_short, strlen (lru_gen_short), &s), ==, 0);
  g_assert_cmpuint (s.n_lruvecs, ==, 2);
  g_assert_cmpuint (s.n_skipped_lines, ==, 0);
  g_assert_cmpuint (s.lruvecs[0].memcg_id, ==, 1);
  g_assert_cmpint (s.lruvecs[0].node_id, ==, 0);
  g_assert_cmpuint (s.lruvecs[0].n_gens, ==, 4);
  g_assert_cmpuint (s.lruvecs[0].gens[0].seq, ==, 4);
  g_assert_cmpuint (s.lruvecs[0].gens[0].age_ms, ==, 6000);
  g_assert_cmpuint (s.lruvecs[0].gens[0].anon_pages, ==, 100);
  g_assert_cmpuint (s.lruvecs[0].gens[0].file_pages, ==, 7);
  g_assert_cmpuint (s.lruvecs[0].gens[3].seq, ==, 7);
  g_assert_cmpuint (s.lruvecs[1].memcg_id, ==, 2);
  g_assert_cmpuint (s.lruvecs[1].n_gens, ==, 2);
  g_assert_cmpuint (s.lruvecs[1].gens[1].file_pages, ==, 2);
}

static void
test_mglru_parse_full (void)
{
  AgentMglruSnapshot s;
  g_assert_cmpint (agent_mglru_parse (lru_gen_full, strlen (lru_gen_full), &s), ==, 0);
  g_assert_cmpuint (s.n_lruvecs, ==, 1);
  g_assert_cmpuint (s.lruvecs[0].n_gens, ==, 3);
  /* 'x' marks a type for which the sequence is not valid: count 0. */
  g_assert_cmpuint (s.lruvecs[0].gens[0].seq, ==, 3);
  g_assert_cmpuint (s.lruvecs[0].gens[0].anon_pages, ==, 0);
  g_assert_cmpuint (s.lruvecs[0].gens[1].anon_pages, ==, 100);
  g_assert_cmpuint (s.lruvecs[0].gens[2].seq, ==, 5);
  g_assert_cmpuint (s.n_skipped_lines, ==, 5);
}

static void
test_mglru_parse_hostile (void)
{
  AgentMglruSnapshot s;
  const char *gen_before_node = "memcg 1 /\n 1 2 3 4\n";
  g_assert_cmpint (agent_mglru_parse (gen_before_node, strlen (gen_before_node), &s), ==, -EINVAL);
  const char *seq_backwards = "memcg 1 /\n node 0\n 5 1 1 1\n 4 1 1 1\n";
  g_assert_cmpint (agent_mglru_parse (seq_backwards, strlen (seq_backwards), &s), ==, -EINVAL);
  /* Overflowing, signed, fractional numbers: not a generation line. */
  const char *odd = " node 0\n 1 99999999999999999999999 1 1\n 2 -1 1 1\n 3 1.5 1 1\n 4 1 1y 1\n";
  g_assert_cmpint (agent_mglru_parse (odd, strlen (odd), &s), ==, 0);
  g_assert_cmpuint (s.lruvecs[0].n_gens, ==, 0);
  g_assert_cmpuint (s.n_skipped_lines, ==, 4);
  /* Truncated last line (no newline) is ignored. */
  const char *trunc = " node 0\n 1 100 1 1\n 2 50 1";
  g_assert_cmpint (agent_mglru_parse (trunc, strlen (trunc), &s), ==, 0);
  g_assert_cmpuint (s.lruvecs[0].n_gens, ==, 1);
  /* Binary junk and empty input. */
  const char junk[] = "\x01\x02\xff node\n\0\0\n";
  g_assert_cmpint (agent_mglru_parse (junk, sizeof junk - 1, &s), ==, 0);
  g_assert_cmpuint (s.n_lruvecs, ==, 0);
  g_assert_cmpint (agent_mglru_parse ("", 0, &s), ==, 0);
  /* More lruvecs than tracked: the rest is counted as dropped. */
  GString *many = g_string_new (NULL);
  for (int i = 0; i < AGENT_MGLRU_MAX_LRUVECS + 3; i++)
    g_string_append_printf (many, "memcg %d /m%d\n node 0\n 1 10 1 1\n", i + 1, i);
  g_assert_cmpint (agent_mglru_parse (many->str, many->len, &s), ==, 0);
  g_assert_cmpuint (s.n_lruvecs, ==, AGENT_MGLRU_MAX_LRUVECS);
  g_assert_cmpuint (s.n_dropped_lruvecs, ==, 3);
  g_string_free (many, TRUE);
  /* More generations than expected: the youngest are kept. */
  GString *gens = g_string_new (" node 0\n");
  for (int i = 1; i <= AGENT_MGLRU_MAX_GENS + 2; i++)
    g_string_append_printf (gens, " %d %d 1 1\n", i, 1000 * (20 - i));
  g_assert_cmpint (agent_mglru_parse (gens->str, gens->len, &s), ==, 0);
  g_assert_cmpuint (s.lruvecs[0].n_gens, ==, AGENT_MGLRU_MAX_GENS);
  g_assert_cmpuint (s.lruvecs[0].gens[AGENT_MGLRU_MAX_GENS - 1].seq, ==, AGENT_MGLRU_MAX_GENS + 2);
  g_string_free (gens, TRUE);
}

static void
test_mglru_aging_format (void)
{
  AgentMglruSnapshot s;
  char buf[64];
  g_assert_cmpint (agent_mglru_parse (lru_gen_short, strlen (lru_gen_short), &s), ==, 0);
  int n = agent_mglru_format_aging (&s.lruvecs[0], buf, sizeof buf);
  g_assert_cmpstr (buf, ==, "+ 1 0 7 1 1\n");
  g_assert_cmpint (n, ==, (int) strlen (buf));
  g_assert_cmpint (agent_mglru_format_aging (&s.lruvecs[1], buf, sizeof buf), >, 0);
  g_assert_cmpstr (buf, ==, "+ 2 0 10 1 1\n");
  g_assert_cmpint (agent_mglru_format_aging (&s.lruvecs[0], buf, 5), ==, -1);
  AgentLruvec empty = { 0 };
  g_assert_cmpint (agent_mglru_format_aging (&empty, buf, sizeof buf), ==, -1);
}

typedef struct
{
  int calls;
  GPtrArray *cmds;
  int results[4];
} FakeWriter;

static int
fake_write (const char *cmd, size_t len, void *user_data)
{
  FakeWriter *w = user_data;
  g_ptr_array_add (w->cmds, g_strndup (cmd, len));
  return w->results[w->calls++];
}

static void
test_mglru_aging_errors (void)
{
  const char *three = "memcg 1 /\n node 0\n 1 10 1 1\nmemcg 2 /a\n node 0\n 3 10 1 1\n"
                      "memcg 3 /b\n node 0\n 8 10 1 1\nmemcg 4 /c\n node 0\n 9 10 1 1\n";
  AgentMglruSnapshot s;
  g_assert_cmpint (agent_mglru_parse (three, strlen (three), &s), ==, 0);
  /* -EINVAL (max_seq moved) and -ERANGE are transient; the others still run. */
  FakeWriter w = { .cmds = g_ptr_array_new_with_free_func (g_free),
                   .results = { -EINVAL, 0, -ERANGE, -EACCES } };
  AgentAgingResult r;
  agent_mglru_age_all (&s, fake_write, &w, &r);
  g_assert_cmpint (w.calls, ==, 4);
  g_assert_cmpuint (r.aged, ==, 1);
  g_assert_cmpuint (r.transient, ==, 2);
  g_assert_cmpuint (r.failed, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (w.cmds, 1), ==, "+ 2 0 3 1 1\n");
  g_ptr_array_unref (w.cmds);
  g_assert_true (agent_mglru_aging_error_is_transient (EINVAL));
  g_assert_true (agent_mglru_aging_error_is_transient (ERANGE));
  g_assert_false (agent_mglru_aging_error_is_transient (ENOENT));
}

static const uint64_t edges3[] = { 1000, 5000, 30000 };

static uint64_t
sum (const uint64_t *a, unsigned n)
{
  uint64_t t = 0;
  for (unsigned i = 0; i < n; i++)
    t += a[i];
  return t;
}

static void
test_ws_spread (void)
{
  uint64_t acc[4] = { 0 };
  agent_ws_spread (100, 0, 2000, edges3, 3, acc);
  g_assert_cmpuint (acc[0], ==, 50);
  g_assert_cmpuint (acc[1], ==, 50);
  /* Zero-width span: the whole count goes to the bin holding that age. */
  memset (acc, 0, sizeof acc);
  agent_ws_spread (7, 5000, 5000, edges3, 3, acc);
  g_assert_cmpuint (acc[1], ==, 7);
  agent_ws_spread (3, 0, 0, edges3, 3, acc);
  g_assert_cmpuint (acc[0], ==, 3);
  agent_ws_spread (2, 40000, 40000, edges3, 3, acc);
  g_assert_cmpuint (acc[3], ==, 2);
  /* Span across every bin: proportional, total exact despite rounding. */
  memset (acc, 0, sizeof acc);
  agent_ws_spread (1001, 500, 60500, edges3, 3, acc);
  g_assert_cmpuint (sum (acc, 4), ==, 1001);
  g_assert_cmpuint (acc[0], ==, 8); /* 500 of 60000 ms */
  g_assert_cmpuint (acc[1], ==, 75 - 8);
  g_assert_cmpuint (acc[2], ==, 492 - 75);
  g_assert_cmpuint (acc[3], ==, 1001 - 492);
  /* Huge counts do not overflow. */
  memset (acc, 0, sizeof acc);
  agent_ws_spread (UINT64_MAX / 2, 0, UINT64_MAX / 4, edges3, 3, acc);
  g_assert_cmpuint (sum (acc, 4), ==, UINT64_MAX / 2);
}

static void
test_ws_histogram_no_history (void)
{
  AgentMglruSnapshot s;
  AgentBin bins[4];
  const char *one = "memcg 1 /\n node 0\n"
                    " 4 6000 100 0\n 5 4000 50 0\n 6 2000 20 0\n 7 500 30 0\n";
  g_assert_cmpint (agent_mglru_parse (one, strlen (one), &s), ==, 0);
  agent_ws_histogram (&s, NULL, 100000, PAGE, edges3, 3, bins);
  /* youngest [0,500] -> 30 in bin 0; [500,2000] -> 6 + 14; [2000,4000] ->
   * bin 1; oldest: idle > 4000 ms, and without history nothing is claimed
   * beyond the 5000 ms edge. */
  g_assert_cmpuint (bins[0].anon_bytes, ==, (30 + 6) * PAGE);
  g_assert_cmpuint (bins[1].anon_bytes, ==, (14 + 50 + 100) * PAGE);
  g_assert_cmpuint (bins[2].anon_bytes, ==, 0);
  g_assert_cmpuint (bins[3].anon_bytes, ==, 0);
}

static void
test_ws_histogram_long_horizon (void)
{
  AgentMglruSnapshot s, past;
  AgentWsHistory *h = g_new0 (AgentWsHistory, 1);
  AgentBin bins[4];
  const char *now_text = "memcg 1 /\n node 0\n"
                         " 4 6000 100 10\n 5 4000 50 0\n 6 2000 20 0\n 7 500 30 0\n";
  const char *dip_text = "memcg 1 /\n node 0\n 1 6000 40 10\n 2 10 0 0\n";
  g_assert_cmpint (agent_mglru_parse (now_text, strlen (now_text), &s), ==, 0);
  g_assert_cmpint (agent_mglru_parse (dip_text, strlen (dip_text), &past), ==, 0);

  /* 100 s of history, one sample a second; at now-10 s the oldest held
   * only 40 anon pages. Samples closer than 1 s are not stored. */
  for (uint64_t t = 0; t <= 100000; t += 500)
    agent_ws_history_record (h, t == 90000 ? &past : &s, t);
  g_assert_cmpuint (h->n, ==, 1);
  g_assert_cmpuint (h->h[0].count, ==, 101);

  agent_ws_histogram (&s, h, 100000, PAGE, edges3, 3, bins);
  g_assert_cmpuint (bins[0].anon_bytes, ==, (30 + 6) * PAGE);
  g_assert_cmpuint (bins[1].anon_bytes, ==, (14 + 50) * PAGE);
  /* > 5 s: window 1 s, all 100; > 30 s: window 26 s sees the dip to 40. */
  g_assert_cmpuint (bins[2].anon_bytes, ==, 60 * PAGE);
  g_assert_cmpuint (bins[3].anon_bytes, ==, 40 * PAGE);
  g_assert_cmpuint (bins[3].file_bytes, ==, 10 * PAGE);
  uint64_t total = 0;
  for (int i = 0; i < 4; i++)
    total += bins[i].anon_bytes + bins[i].file_bytes;
  g_assert_cmpuint (total, ==, 210 * PAGE);

  /* An lruvec that vanished is forgotten after a while. */
  AgentMglruSnapshot empty = { 0 };
  agent_ws_history_record (h, &empty, 200000);
  g_assert_cmpuint (h->n, ==, 0);
  g_free (h);
}

static void
test_ws_histogram_steady_hot_set (void)
{
  /* What a guest touching 200 MiB every 250 ms looks like with 2 s aging:
   * everything in the youngest generation. */
  AgentMglruSnapshot s;
  AgentBin bins[6];
  static const uint64_t edges[] = { 1000, 5000, 30000, 120000, 600000 };
  const char *hot = " node 0\n 10 5900 10 0\n 11 3900 0 0\n 12 1900 0 0\n 13 1900 51200 0\n";
  g_assert_cmpint (agent_mglru_parse (hot, strlen (hot), &s), ==, 0);
  agent_ws_histogram (&s, NULL, 50000, PAGE, edges, 5, bins);
  /* The 10 oldest pages: idle > 3.9 s, nothing claimed beyond 5 s without history. */
  g_assert_cmpuint (bins[0].anon_bytes + bins[1].anon_bytes, ==, (51200ULL + 10) * PAGE);
  g_assert_cmpuint (bins[0].anon_bytes, ==, 51200ULL * 1000 / 1900 * PAGE);
}

static void
test_config_parse (void)
{
  AgentConfig c;
  const char *ok
      = "{\"type\":\"config\",\"v\":1,\"interval_ms\":500,\"bins_ms\":[1000,5000,30000]}";
  g_assert_cmpint (agent_config_parse (ok, strlen (ok), &c), ==, 0);
  g_assert_true (c.has_interval);
  g_assert_cmpuint (c.interval_ms, ==, 500);
  g_assert_cmpuint (c.n_bins_ms, ==, 3);
  g_assert_cmpuint (c.bins_ms[2], ==, 30000);

  const char *unknown = " { \"v\" : 1 , \"x\":{\"a\":[1,2.5e3,-3,true,null,\"s\\\"\\u00e9\"]}, "
                        "\"type\":\"config\" } ";
  g_assert_cmpint (agent_config_parse (unknown, strlen (unknown), &c), ==, 0);
  g_assert_false (c.has_interval);
  g_assert_false (c.has_bins);

  const char *other = "{\"type\":\"ping\",\"v\":1}";
  g_assert_cmpint (agent_config_parse (other, strlen (other), &c), ==, -ENOMSG);
  const char *v2 = "{\"type\":\"config\",\"v\":2}";
  g_assert_cmpint (agent_config_parse (v2, strlen (v2), &c), ==, -EPROTONOSUPPORT);

  static const char *bad[] = {
    "",
    "[]",
    "{\"type\":\"config\"}",                            /* no v */
    "{\"type\":\"config\",\"v\":1} x",                  /* trailing */
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":50}", /* too fast */
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":60001}",
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":1000.0}", /* not an integer */
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":-1000}",
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":01000}",
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":\"1000\"}",
    "{\"type\":\"config\",\"v\":1,\"interval_ms\":1000,\"interval_ms\":2000}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[5000,1000]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[1000,1000]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[0]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[86400001]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[1000,]}",
    "{\"type\":\"config\",\"v\":1,\"bins_ms\":[99999999999999999999999]}",
    "{\"type\":\"config\",\"v\":1,\"x\":[[[[[[[[[[1]]]]]]]]]]}", /* too deep */
    "{\"type\":\"config\",\"v\":1,\"x\":tru}",
    "{\"type\":\"config\",\"v\":1,\"x\":\"\\q\"}",
    "{\"type\":\"config\",\"v\":1,\"x\":\"\x01\"}",
    "{\"type\":\"config\",\"v\":1",
    "{\"type\":\"config\",\"v\":1,}",
    "{\"type\":\"config\",\"v\":1 \"x\":1}",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      int r = agent_config_parse (bad[i], strlen (bad[i]), &c);
      if (r != -EINVAL)
        g_error ("config case %zu (%s) gave %d", i, bad[i], r);
    }

  /* Over-long strings and lines. */
  GString *s = g_string_new ("{\"type\":\"config\",\"v\":1,\"x\":\"");
  for (int i = 0; i < 300; i++)
    g_string_append_c (s, 'a');
  g_string_append (s, "\"}");
  g_assert_cmpint (agent_config_parse (s->str, s->len, &c), ==, -EINVAL);
  g_string_free (s, TRUE);
  char *huge = g_malloc0 (AGENT_WIRE_MAX_LINE_BYTES + 10);
  memset (huge, ' ', AGENT_WIRE_MAX_LINE_BYTES + 9);
  memcpy (huge, ok, strlen (ok));
  g_assert_cmpint (agent_config_parse (huge, AGENT_WIRE_MAX_LINE_BYTES + 9, &c), ==, -EINVAL);
  g_free (huge);
}

static int
host_parse (const char *line, AgentHostMsg *m)
{
  return agent_host_parse (line, strlen (line), m);
}

static void
test_reclaim_parse (void)
{
  AgentHostMsg m;

  g_assert_cmpint (host_parse ("{\"type\":\"reclaim\",\"v\":1,\"bytes\":268435456}", &m), ==, 0);
  g_assert_cmpint (m.type, ==, AGENT_HOST_RECLAIM);
  g_assert_cmpuint (m.reclaim_bytes, ==, 268435456);
  /* Key order is free, unknown keys are skipped, the bounds are inclusive. */
  g_assert_cmpint (host_parse (" {\"bytes\":1, \"x\":[1,{\"y\":null}], \"v\":1,"
                               "\"type\":\"reclaim\",\"interval_ms\":1} ",
                               &m),
                   ==, 0);
  g_assert_cmpuint (m.reclaim_bytes, ==, 1);
  g_assert_cmpint (host_parse ("{\"type\":\"reclaim\",\"v\":1,\"bytes\":1099511627776}", &m), ==,
                   0);
  g_assert_cmpuint (m.reclaim_bytes, ==, AGENT_WIRE_RECLAIM_MAX_REQUEST_BYTES);
  /* The config-only view ignores a reclaim; a config is still a config. */
  AgentConfig c;
  const char *ok = "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096}";
  g_assert_cmpint (agent_config_parse (ok, strlen (ok), &c), ==, -ENOMSG);
  g_assert_cmpint (host_parse ("{\"type\":\"config\",\"v\":1,\"bytes\":\"x\"}", &m), ==, 0);
  g_assert_cmpint (m.type, ==, AGENT_HOST_CONFIG);
  g_assert_cmpint (host_parse ("{\"type\":\"reclaim\",\"v\":2,\"bytes\":4096}", &m), ==,
                   -EPROTONOSUPPORT);
  g_assert_cmpint (m.type, ==, AGENT_HOST_RECLAIM);

  static const char *bad[] = {
    "{\"type\":\"reclaim\",\"v\":1}",                                /* no bytes */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":0}",                    /* zero */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":-4096}",                /* negative */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":1099511627777}",        /* over 1 TiB */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":99999999999999999999}", /* over uint64 */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096.0}",               /* not an integer */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4e3}",
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":04096}",
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":\"4096\"}", /* a string */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":null}",
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":[4096]}",
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096,\"bytes\":4096}", /* duplicate key */
    "{\"type\":\"reclaim\",\"type\":\"reclaim\",\"v\":1,\"bytes\":4096}",
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096} x", /* trailing garbage */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096}}",
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096", /* unterminated */
    "{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096,}",
    "{\"type\":\"reclaim\",\"bytes\":4096}", /* no v */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      int r = host_parse (bad[i], &m);
      if (r != -EINVAL || m.type != AGENT_HOST_RECLAIM)
        g_error ("reclaim case %zu (%s) gave %d, type %d", i, bad[i], r, m.type);
    }

  /* A line over the limit is refused whatever it holds. */
  GString *s = g_string_new ("{\"type\":\"reclaim\",\"v\":1,\"bytes\":4096}");
  while (s->len <= AGENT_WIRE_MAX_LINE_BYTES)
    g_string_append_c (s, ' ');
  g_assert_cmpint (agent_host_parse (s->str, s->len, &m), ==, -EINVAL);
  g_string_free (s, TRUE);
}

static void
test_reclaim_admit (void)
{
  AgentReclaim r = { 0 };

  /* The first request runs at any time; the cap is 1 GiB. */
  g_assert_cmpuint (AGENT_WIRE_RECLAIM_MAX_BYTES, ==, 1ULL << 30);
  g_assert_cmpuint (agent_reclaim_admit (&r, 4ULL << 30, 0), ==, AGENT_WIRE_RECLAIM_MAX_BYTES);
  agent_reclaim_finish (&r, AGENT_WIRE_RECLAIM_MAX_BYTES, 1, 300); /* partial: not an error */
  /* Less than 1000 ms after the end of that run: dropped. */
  g_assert_cmpuint (agent_reclaim_admit (&r, 4096, 300), ==, 0);
  g_assert_cmpuint (agent_reclaim_admit (&r, 4096, 1299), ==, 0);
  g_assert_cmpuint (r.dropped, ==, 2);
  /* At 1000 ms it runs; a dropped request does not move the gap. */
  g_assert_cmpuint (agent_reclaim_admit (&r, 268435456, 1300), ==, 268435456);
  agent_reclaim_finish (&r, 268435456, 0, 1400);
  g_assert_cmpuint (agent_reclaim_admit (&r, 1ULL << 30, 2399), ==, 0);
  g_assert_cmpuint (agent_reclaim_admit (&r, (1ULL << 30) + 1, 2400), ==, 1ULL << 30);
  /* A failed write counts as an error and spaces the next one too. */
  agent_reclaim_finish (&r, 1ULL << 30, -ENOENT, 2400);
  g_assert_cmpuint (agent_reclaim_admit (&r, 1, 3399), ==, 0);
  g_assert_cmpuint (agent_reclaim_admit (&r, 1, 3400), ==, 1);
  g_assert_cmpuint (r.done, ==, 2);
  g_assert_cmpuint (r.asked_bytes, ==, AGENT_WIRE_RECLAIM_MAX_BYTES + 268435456);
  g_assert_cmpuint (r.errors, ==, 1);
  g_assert_cmpuint (r.dropped, ==, 4);
}

static void
test_reclaim_write (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("agent-reclaim-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "memory.reclaim", NULL);
  g_autofree char *text = NULL;

  /* Missing: not available, the write fails with the errno. */
  g_assert_false (agent_reclaim_available (path));
  g_assert_cmpint (agent_reclaim_write (path, 4096), ==, -ENOENT);

  g_assert_true (g_file_set_contents (path, "", 0, &error));
  g_assert_true (agent_reclaim_available (path));
  g_assert_cmpint (agent_reclaim_write (path, 268435456), ==, 0);
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_cmpstr (text, ==, "268435456");

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_json_writer (void)
{
  char store[64];
  AgentBuf b;
  agent_buf_init (&b, store, sizeof store);
  agent_buf_json_string (&b, "a\"b\\c\n\x7f\xc3\xa9");
  g_assert_cmpstr (store, ==, "\"a\\\"b\\\\c\\u000a\\u007f\\u00c3\\u00a9\"");
  g_assert_false (b.overflow);
  agent_buf_init (&b, store, sizeof store);
  agent_buf_pct (&b, 1234);
  agent_buf_printf (&b, ",");
  agent_buf_pct (&b, 5);
  g_assert_cmpstr (store, ==, "12.34,0.05");
  agent_buf_init (&b, store, 8);
  agent_buf_printf (&b, "%s", "0123456789");
  g_assert_true (b.overflow);
  g_assert_cmpuint (b.len, ==, 0);

  /* The printf-free appenders write what "%llu" and "%u.%02u" wrote. */
  agent_buf_init (&b, store, sizeof store);
  agent_buf_u64 (&b, 0);
  agent_buf_str (&b, ",");
  agent_buf_u64 (&b, 1234567890);
  agent_buf_mem (&b, ",xyz", 1);
  agent_buf_u64 (&b, UINT64_MAX);
  agent_buf_str (&b, ",");
  agent_buf_pct (&b, 10000);
  agent_buf_str (&b, ",");
  agent_buf_pct (&b, 0);
  g_assert_cmpstr (store, ==, "0,1234567890,18446744073709551615,100.00,0.00");
  g_assert_false (b.overflow);
  /* All or nothing, NUL kept, nothing appended after an overflow. */
  agent_buf_init (&b, store, 6);
  agent_buf_str (&b, "ab");
  agent_buf_u64 (&b, 123);
  g_assert_cmpstr (store, ==, "ab123");
  agent_buf_u64 (&b, 4);
  g_assert_true (b.overflow);
  g_assert_cmpstr (store, ==, "ab123");
  agent_buf_init (&b, store, 6);
  agent_buf_str (&b, "abc");
  agent_buf_u64 (&b, 100);
  g_assert_true (b.overflow);
  g_assert_cmpstr (store, ==, "abc");
  agent_buf_str (&b, "d");
  g_assert_cmpuint (b.len, ==, 3);
}

static void
test_proc_parsers (void)
{
  const char *meminfo = "MemTotal:         481296 kB\nMemFree:          243620 kB\n"
                        "MemAvailable:     208300 kB\nBuffers:             100 kB\n"
                        "Cached:            20000 kB\nActive(anon):     200000 kB\n"
                        "Inactive(anon):     1000 kB\nActive(file):        50 kB\n"
                        "Inactive(file):       60 kB\nUnevictable:       19000 kB\n"
                        "SwapFree:              0 kB\nAnonPages:        201000 kB\nJunk line\n";
  AgentMeminfo mi;
  g_assert_cmpint (agent_parse_meminfo (meminfo, strlen (meminfo), &mi), ==, 0);
  g_assert_cmpuint (mi.total_bytes, ==, 481296ULL * 1024);
  g_assert_cmpuint (mi.cached_bytes, ==, 20100ULL * 1024);
  g_assert_cmpuint (mi.anon_bytes, ==, 201000ULL * 1024);
  g_assert_cmpuint (mi.inactive_file_bytes, ==, 60ULL * 1024);
  g_assert_cmpint (agent_parse_meminfo ("MemFree: 1 kB\n", 14, &mi), ==, -EINVAL);
  /* Keys match whole: prefixes, extensions and same-length keys do not. */
  const char *near = "MemTotal: 4 kB\nSwapCached: 8 kB\nCached_: 16 kB\nCache: 32 kB\n"
                     "MemTota: 64 kB\nMemTotalX: 128 kB\nActive(anon): 1 kB\nActive(file): 2 kB\n"
                     ": 3 kB\n";
  g_assert_cmpint (agent_parse_meminfo (near, strlen (near), &mi), ==, 0);
  g_assert_cmpuint (mi.total_bytes, ==, 4096);
  g_assert_cmpuint (mi.cached_bytes, ==, 0);
  g_assert_cmpuint (mi.active_anon_bytes, ==, 1024);
  g_assert_cmpuint (mi.active_file_bytes, ==, 2048);

  const char *vmstat = "nr_free_pages 1\nworkingset_refault_anon 5\nworkingset_refault_file 6\n"
                       "pswpin 7\npswpout 8\noom_kill 9\noom_kill_x 100\n";
  AgentVmstat vs;
  g_assert_cmpint (agent_parse_vmstat (vmstat, strlen (vmstat), &vs), ==, 0);
  g_assert_cmpuint (vs.workingset_refault_anon, ==, 5);
  g_assert_cmpuint (vs.oom_kill, ==, 9);
  const char *vs_near = "pswpin 1\npswpinx 2\npswpi 3\npswpout 4\n pswpout 5\noom_kill\n 6\n";
  g_assert_cmpint (agent_parse_vmstat (vs_near, strlen (vs_near), &vs), ==, 0);
  g_assert_cmpuint (vs.pswpin, ==, 1);
  g_assert_cmpuint (vs.pswpout, ==, 4);
  g_assert_cmpuint (vs.oom_kill, ==, 0);

  const char *psi = "some avg10=12.34 avg60=1.00 avg300=0.00 total=123456\n"
                    "full avg10=0.5 avg60=0.00 avg300=0.00 total=99\n";
  AgentPsi p;
  g_assert_cmpint (agent_parse_psi (psi, strlen (psi), &p), ==, 0);
  g_assert_cmpuint (p.some_avg10_centi, ==, 1234);
  g_assert_cmpuint (p.full_avg10_centi, ==, 50);
  g_assert_cmpuint (p.some_total_us, ==, 123456);
  g_assert_cmpuint (p.full_total_us, ==, 99);
  g_assert_cmpint (agent_parse_psi ("full avg10=1.00 total=1\n", 24, &p), ==, -EINVAL);
  const char *psi_bad = "some avg10=101.00 total=1\n";
  g_assert_cmpint (agent_parse_psi (psi_bad, strlen (psi_bad), &p), ==, -EINVAL);
}

/* A kept-open file reads again from offset 0; once closed, the next read
 * opens the path anew (here a replaced file, so a new inode). */
static void
test_file_reopen (void)
{
  g_autofree char *dir = g_dir_make_tmp ("agent-file-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  AgentFile f = AGENT_FILE_INIT (path);
  char buf[16];

  g_assert_true (g_file_set_contents (path, "abc", -1, NULL));
  g_assert_cmpint (agent_file_read (&f, buf, sizeof buf), ==, 3);
  g_assert_cmpint (agent_file_read (&f, buf, sizeof buf), ==, 3);
  g_assert_cmpstr (buf, ==, "abc");
  g_assert_cmpint (f.fd, >=, 0);
  g_assert_true (g_file_set_contents (path, "xy", -1, NULL));
  agent_file_close (&f);
  g_assert_cmpint (f.fd, ==, -1);
  agent_file_close (&f);
  g_assert_cmpint (agent_file_read (&f, buf, sizeof buf), ==, 2);
  g_assert_cmpstr (buf, ==, "xy");
  agent_file_close (&f);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (agent_file_read (&f, buf, sizeof buf), <, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/agent/mglru/parse-short", test_mglru_parse_short);
  g_test_add_func ("/agent/mglru/parse-full", test_mglru_parse_full);
  g_test_add_func ("/agent/mglru/parse-hostile", test_mglru_parse_hostile);
  g_test_add_func ("/agent/mglru/aging-format", test_mglru_aging_format);
  g_test_add_func ("/agent/mglru/aging-errors", test_mglru_aging_errors);
  g_test_add_func ("/agent/ws/spread", test_ws_spread);
  g_test_add_func ("/agent/ws/histogram-no-history", test_ws_histogram_no_history);
  g_test_add_func ("/agent/ws/histogram-long-horizon", test_ws_histogram_long_horizon);
  g_test_add_func ("/agent/ws/histogram-steady", test_ws_histogram_steady_hot_set);
  g_test_add_func ("/agent/config/parse", test_config_parse);
  g_test_add_func ("/agent/reclaim/parse", test_reclaim_parse);
  g_test_add_func ("/agent/reclaim/admit", test_reclaim_admit);
  g_test_add_func ("/agent/reclaim/write", test_reclaim_write);
  g_test_add_func ("/agent/json/writer", test_json_writer);
  g_test_add_func ("/agent/proc/parsers", test_proc_parsers);
  g_test_add_func ("/agent/proc/file-reopen", test_file_reopen);
  return g_test_run ();
}
