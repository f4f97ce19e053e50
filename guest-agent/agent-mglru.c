/* agent-mglru.c: MGLRU debugfs text parsing, aging commands and the
 * working-set histogram. Pure functions over buffers: the unit tests and the
 * fuzz target drive them directly. */
#include "agent-mglru.h"
#include "agent-wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A lruvec not seen in the lru_gen file for this long is forgotten (its
 * memcg was removed; the id may be reused by a new one). */
#define AGENT_WS_FORGET_MS 10000
/* Oldest-generation samples closer together than this are not stored: one a
 * second bounds memory while still resolving the 5 s bin. */
#define AGENT_WS_SAMPLE_MIN_MS 1000

#define MAX_TOKENS 8

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r';
}

/* Splits one line into at most MAX_TOKENS tokens; returns the token count,
 * or MAX_TOKENS + 1 when there are more. */
static unsigned
tokenize (const char *line, size_t len, const char **tok, size_t *tok_len)
{
  unsigned n = 0;
  size_t i = 0;

  while (i < len)
    {
      while (i < len && is_space (line[i]))
        i++;
      if (i >= len)
        break;
      size_t start = i;
      while (i < len && !is_space (line[i]))
        i++;
      if (n == MAX_TOKENS)
        return MAX_TOKENS + 1;
      tok[n] = line + start;
      tok_len[n] = i - start;
      n++;
    }
  return n;
}

/* Parses a decimal unsigned number filling the whole token, with an optional
 * single trailing @mark character (set *marked). Returns false on anything
 * else, including overflow. */
static bool
parse_u64 (const char *s, size_t len, char mark, uint64_t *out, bool *marked)
{
  if (marked)
    *marked = false;
  if (len > 0 && mark && s[len - 1] == mark)
    {
      len--;
      if (marked)
        *marked = true;
    }
  if (len == 0 || len > 20)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return false;
      unsigned d = (unsigned) (s[i] - '0');
      if (v > (UINT64_MAX - d) / 10)
        return false;
      v = v * 10 + d;
    }
  *out = v;
  return true;
}

static bool
tok_is (const char *tok, size_t len, const char *word)
{
  return len == strlen (word) && memcmp (tok, word, len) == 0;
}

int
agent_mglru_parse (const char *text, size_t len, AgentMglruSnapshot *out)
{
  unsigned memcg_id = 0;
  bool have_memcg = false;
  AgentLruvec *cur = NULL; /* NULL: no node yet, or node dropped */
  bool cur_dropped = false;
  size_t pos = 0;

  /* Only the counters: entries are filled as lines are read, and clearing
   * all 64 lruvecs (17 KiB) on every report was measurable under TCG. */
  out->n_lruvecs = 0;
  out->n_dropped_lruvecs = 0;
  out->n_skipped_lines = 0;

  while (pos < len)
    {
      const char *nl = memchr (text + pos, '\n', len - pos);
      if (!nl)
        break; /* truncated last line: ignore */
      const char *line = text + pos;
      size_t line_len = (size_t) (nl - line);
      pos += line_len + 1;

      const char *tok[MAX_TOKENS];
      size_t tok_len[MAX_TOKENS];
      unsigned n = tokenize (line, line_len, tok, tok_len);
      uint64_t v[4];
      bool marked;

      if (n == 0)
        continue;
      if ((n == 2 || n == 3) && tok_is (tok[0], tok_len[0], "memcg")
          && parse_u64 (tok[1], tok_len[1], 0, &v[0], NULL) && v[0] <= UINT32_MAX)
        {
          memcg_id = (unsigned) v[0];
          have_memcg = true;
          cur = NULL;
          cur_dropped = false;
          continue;
        }
      if (n == 2 && tok_is (tok[0], tok_len[0], "node")
          && parse_u64 (tok[1], tok_len[1], 0, &v[0], NULL) && v[0] <= INT32_MAX)
        {
          if (out->n_lruvecs == AGENT_MGLRU_MAX_LRUVECS)
            {
              out->n_dropped_lruvecs++;
              cur = NULL;
              cur_dropped = true;
              continue;
            }
          cur = &out->lruvecs[out->n_lruvecs++];
          cur->memcg_id = have_memcg ? memcg_id : 0;
          cur->node_id = (int) v[0];
          cur->n_gens = 0;
          cur_dropped = false;
          continue;
        }
      if (n == 4 && parse_u64 (tok[0], tok_len[0], 0, &v[0], NULL)
          && parse_u64 (tok[1], tok_len[1], 0, &v[1], NULL))
        {
          AgentGen g = { .seq = v[0], .age_ms = v[1] };
          if (!parse_u64 (tok[2], tok_len[2], 'x', &g.anon_pages, &marked))
            goto skip;
          if (marked)
            g.anon_pages = 0;
          if (!parse_u64 (tok[3], tok_len[3], 'x', &g.file_pages, &marked))
            goto skip;
          if (marked)
            g.file_pages = 0;
          if (cur_dropped)
            continue;
          if (!cur)
            return -EINVAL;
          if (cur->n_gens > 0 && g.seq <= cur->gens[cur->n_gens - 1].seq)
            return -EINVAL;
          if (cur->n_gens == AGENT_MGLRU_MAX_GENS)
            {
              /* Keep the youngest ones: shift the oldest out. */
              memmove (&cur->gens[0], &cur->gens[1],
                       sizeof cur->gens[0] * (AGENT_MGLRU_MAX_GENS - 1));
              cur->n_gens--;
            }
          cur->gens[cur->n_gens++] = g;
          continue;
        }
    skip:
      out->n_skipped_lines++;
    }
  return 0;
}

int
agent_mglru_format_aging (const AgentLruvec *lv, char *buf, size_t size)
{
  if (lv->n_gens == 0)
    return -1;
  int n = snprintf (buf, size, "+ %u %d %llu 1 1\n", lv->memcg_id, lv->node_id,
                    (unsigned long long) lv->gens[lv->n_gens - 1].seq);
  if (n < 0 || (size_t) n >= size)
    return -1;
  return n;
}

bool
agent_mglru_aging_error_is_transient (int err)
{
  /* -EINVAL: max_seq moved since we read it; -ERANGE: nothing to age. */
  return err == EINVAL || err == ERANGE;
}

void
agent_mglru_age_all (const AgentMglruSnapshot *snap, AgentAgingWriteFunc write_cmd, void *user_data,
                     AgentAgingResult *result)
{
  memset (result, 0, sizeof *result);
  for (unsigned i = 0; i < snap->n_lruvecs; i++)
    {
      char cmd[96];
      int len = agent_mglru_format_aging (&snap->lruvecs[i], cmd, sizeof cmd);
      if (len < 0)
        continue;
      int r = write_cmd (cmd, (size_t) len, user_data);
      if (r == 0)
        result->aged++;
      else if (agent_mglru_aging_error_is_transient (-r))
        result->transient++;
      else
        result->failed++;
    }
}

static AgentLruvecHistory *
history_find (AgentWsHistory *hist, unsigned memcg_id, int node_id)
{
  for (unsigned i = 0; i < hist->n; i++)
    if (hist->h[i].memcg_id == memcg_id && hist->h[i].node_id == node_id)
      return &hist->h[i];
  return NULL;
}

static const AgentLruvecHistory *
history_find_const (const AgentWsHistory *hist, unsigned memcg_id, int node_id)
{
  return history_find ((AgentWsHistory *) hist, memcg_id, node_id);
}

void
agent_ws_history_record (AgentWsHistory *hist, const AgentMglruSnapshot *snap, uint64_t now_ms)
{
  for (unsigned i = 0; i < snap->n_lruvecs; i++)
    {
      const AgentLruvec *lv = &snap->lruvecs[i];
      if (lv->n_gens == 0)
        continue;
      AgentLruvecHistory *h = history_find (hist, lv->memcg_id, lv->node_id);
      if (!h)
        {
          if (hist->n == AGENT_MGLRU_MAX_LRUVECS)
            continue;
          h = &hist->h[hist->n++];
          memset (h, 0, sizeof *h);
          h->memcg_id = lv->memcg_id;
          h->node_id = lv->node_id;
        }
      h->last_seen_ms = now_ms;
      if (h->count > 0)
        {
          const AgentOldestSample *last
              = &h->ring[(h->head + AGENT_WS_HISTORY_LEN - 1) % AGENT_WS_HISTORY_LEN];
          if (now_ms < last->t_ms + AGENT_WS_SAMPLE_MIN_MS)
            continue;
        }
      h->ring[h->head] = (AgentOldestSample){
        .t_ms = now_ms,
        .anon_pages = lv->gens[0].anon_pages,
        .file_pages = lv->gens[0].file_pages,
      };
      h->head = (h->head + 1) % AGENT_WS_HISTORY_LEN;
      if (h->count < AGENT_WS_HISTORY_LEN)
        h->count++;
    }

  /* Forget lruvecs that disappeared (swap-remove keeps the array dense). */
  for (unsigned i = 0; i < hist->n;)
    {
      if (hist->h[i].last_seen_ms + AGENT_WS_FORGET_MS < now_ms)
        {
          if (i != hist->n - 1)
            hist->h[i] = hist->h[hist->n - 1];
          hist->n--;
        }
      else
        i++;
    }
}

/* Index of the bin holding idle time @t_ms: the first edge >= t, else the
 * open-ended bin. */
static unsigned
bin_of (uint64_t t_ms, const uint64_t *edges_ms, unsigned n_edges)
{
  unsigned j = 0;
  while (j < n_edges && t_ms > edges_ms[j])
    j++;
  return j;
}

void
agent_ws_spread (uint64_t pages, uint64_t lo_ms, uint64_t hi_ms, const uint64_t *edges_ms,
                 unsigned n_edges, uint64_t *acc)
{
  if (pages == 0)
    return;
  if (hi_ms <= lo_ms)
    {
      acc[bin_of (hi_ms, edges_ms, n_edges)] += pages;
      return;
    }
  uint64_t span = hi_ms - lo_ms;
  uint64_t given = 0;
  for (unsigned j = 0; j <= n_edges; j++)
    {
      uint64_t upper = j < n_edges ? edges_ms[j] : UINT64_MAX;
      uint64_t covered; /* part of [lo, hi] at or below this bin's edge */
      if (upper <= lo_ms)
        covered = 0;
      else if (upper >= hi_ms)
        covered = span;
      else
        covered = upper - lo_ms;
      /* Cumulative rounding keeps the total exact. */
      uint64_t cum = (uint64_t) (((unsigned __int128) pages * covered) / span);
      acc[j] += cum - given;
      given = cum;
      if (covered == span)
        break;
    }
}

/* Minimum oldest-generation size over the samples taken in the last
 * @window_ms, the current size included. Sets *covered to false when the
 * history does not reach back that far. */
static void
history_window_min (const AgentLruvecHistory *h, uint64_t now_ms, uint64_t window_ms,
                    uint64_t *anon, uint64_t *file, bool *covered)
{
  *covered = window_ms == 0; /* the current reading covers an empty window */
  if (!h || h->count == 0)
    return;
  uint64_t from = now_ms > window_ms ? now_ms - window_ms : 0;
  for (unsigned k = 0; k < h->count; k++)
    {
      const AgentOldestSample *s
          = &h->ring[(h->head + AGENT_WS_HISTORY_LEN - 1 - k) % AGENT_WS_HISTORY_LEN];
      if (s->t_ms > now_ms)
        continue; /* clock went backwards: ignore */
      if (s->t_ms < from)
        {
          *covered = true;
          break;
        }
      if (s->anon_pages < *anon)
        *anon = s->anon_pages;
      if (s->file_pages < *file)
        *file = s->file_pages;
    }
  /* A sample at exactly the window start also covers it. */
  if (!*covered && h->count > 0)
    {
      const AgentOldestSample *oldest
          = &h->ring[(h->head + AGENT_WS_HISTORY_LEN - h->count) % AGENT_WS_HISTORY_LEN];
      *covered = oldest->t_ms <= from;
    }
}

void
agent_ws_histogram (const AgentMglruSnapshot *snap, const AgentWsHistory *hist, uint64_t now_ms,
                    uint64_t page_size, const uint64_t *edges_ms, unsigned n_edges, AgentBin *bins)
{
  uint64_t anon[AGENT_WIRE_MAX_BINS];
  uint64_t file[AGENT_WIRE_MAX_BINS];

  if (n_edges > AGENT_WIRE_MAX_BINS - 1)
    n_edges = AGENT_WIRE_MAX_BINS - 1;
  unsigned nb = n_edges + 1;
  memset (anon, 0, sizeof anon);
  memset (file, 0, sizeof file);

  for (unsigned i = 0; i < snap->n_lruvecs; i++)
    {
      const AgentLruvec *lv = &snap->lruvecs[i];
      unsigned n = lv->n_gens;
      if (n == 0)
        continue;

      /* gens[] is oldest first; walk from the youngest. */
      uint64_t lo = 0;
      unsigned spread_until = n >= 2 ? 1 : 0; /* gens[0] handled below if n >= 2 */
      for (unsigned k = n; k-- > spread_until;)
        {
          uint64_t hi = lv->gens[k].age_ms < lo ? lo : lv->gens[k].age_ms;
          agent_ws_spread (lv->gens[k].anon_pages, lo, hi, edges_ms, n_edges, anon);
          agent_ws_spread (lv->gens[k].file_pages, lo, hi, edges_ms, n_edges, file);
          lo = hi;
        }
      if (n < 2)
        continue;

      /* The oldest generation: everything in it has been idle at least as
       * long as the second-oldest generation exists (A = lo). Bytes idle
       * beyond an edge e > A are bounded by its minimum size over the last
       * e - A ms; where the history does not reach back that far, nothing
       * is claimed beyond that edge. */
      const AgentLruvecHistory *h
          = hist ? history_find_const (hist, lv->memcg_id, lv->node_id) : NULL;
      uint64_t a_ms = lo;
      uint64_t prev_anon = lv->gens[0].anon_pages, prev_file = lv->gens[0].file_pages;
      unsigned j = 0;
      for (; j < n_edges; j++)
        {
          uint64_t g_anon, g_file; /* pages idle for more than edges_ms[j] */
          if (edges_ms[j] < a_ms)
            {
              g_anon = prev_anon;
              g_file = prev_file;
            }
          else
            {
              bool covered;
              g_anon = prev_anon;
              g_file = prev_file;
              history_window_min (h, now_ms, edges_ms[j] - a_ms, &g_anon, &g_file, &covered);
              if (!covered)
                g_anon = g_file = 0;
            }
          anon[j] += prev_anon - g_anon;
          file[j] += prev_file - g_file;
          prev_anon = g_anon;
          prev_file = g_file;
        }
      anon[n_edges] += prev_anon;
      file[n_edges] += prev_file;
    }

  for (unsigned j = 0; j < nb; j++)
    {
      bins[j].anon_bytes = anon[j] * page_size;
      bins[j].file_bytes = file[j] * page_size;
    }
}
