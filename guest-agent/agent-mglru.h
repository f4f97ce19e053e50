/* agent-mglru.h: reading the kernel's MGLRU debugfs file (lru_gen), building
 * aging commands, and turning generations into a working-set histogram. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel keeps at most 4 generations (MAX_NR_GENS); accept a few more
 * so that a future kernel does not make every line look malformed. */
#define AGENT_MGLRU_MAX_GENS 8
/* Lruvecs (memcg x node) tracked; further ones are counted as dropped. */
#define AGENT_MGLRU_MAX_LRUVECS 64
/* Oldest-generation samples kept per lruvec: at one sample per second this
 * covers 1024 s, more than the longest default bin (600 s). */
#define AGENT_WS_HISTORY_LEN 1024

typedef struct
{
  uint64_t seq;
  uint64_t age_ms; /* time since the generation was born */
  uint64_t anon_pages;
  uint64_t file_pages;
} AgentGen;

typedef struct
{
  unsigned memcg_id;
  int node_id;
  unsigned n_gens;
  AgentGen gens[AGENT_MGLRU_MAX_GENS]; /* ascending seq: oldest first */
} AgentLruvec;

typedef struct
{
  unsigned n_lruvecs;
  unsigned n_dropped_lruvecs; /* beyond AGENT_MGLRU_MAX_LRUVECS */
  unsigned n_skipped_lines;   /* tier lines, mm-stat lines, unknown shapes */
  AgentLruvec lruvecs[AGENT_MGLRU_MAX_LRUVECS];
} AgentMglruSnapshot;

/* Parses the text of /sys/kernel/debug/lru_gen (or lru_gen_full).
 * Lines of any shape other than "memcg ID [PATH]", "node N" and a generation
 * line of exactly four numbers (SEQ AGE_MS ANON FILE, counts optionally
 * marked with a trailing 'x' meaning "not a valid generation for this type",
 * read as 0) are skipped and counted. A truncated last line is ignored.
 * Returns 0, or -EINVAL when a generation line appears before any node
 * line or sequence numbers of a node do not increase. */
int agent_mglru_parse (const char *text, size_t len, AgentMglruSnapshot *out);

/* Writes the aging command "+ MEMCG NODE MAX_SEQ 1 1" for @lv into @buf.
 * can_swap=1 makes the walk age anon pages even without swap; force_scan=1
 * makes it create a generation even when the kernel thinks it need not.
 * Returns the length written (without NUL), or -1 if @buf is too small or
 * @lv has no generation. */
int agent_mglru_format_aging (const AgentLruvec *lv, char *buf, size_t size);

/* Whether an errno from writing an aging command means "retry next round"
 * (the sequence number moved under us or aging is not possible right now). */
bool agent_mglru_aging_error_is_transient (int err);

/* Writes one aging command; returns 0 or -errno. */
typedef int (*AgentAgingWriteFunc) (const char *cmd, size_t len, void *user_data);

typedef struct
{
  unsigned aged;      /* commands the kernel accepted */
  unsigned transient; /* -EINVAL/-ERANGE: retried at the next round */
  unsigned failed;    /* anything else */
} AgentAgingResult;

/* Sends one aging command per lruvec of @snap through @write_cmd, one call
 * each, so that a refused command does not keep the others from running. */
void agent_mglru_age_all (const AgentMglruSnapshot *snap, AgentAgingWriteFunc write_cmd,
                          void *user_data, AgentAgingResult *result);

typedef struct
{
  uint64_t t_ms;
  uint64_t anon_pages;
  uint64_t file_pages;
} AgentOldestSample;

typedef struct
{
  unsigned memcg_id;
  int node_id;
  unsigned head; /* next slot to write */
  unsigned count;
  uint64_t last_seen_ms;
  AgentOldestSample ring[AGENT_WS_HISTORY_LEN];
} AgentLruvecHistory;

/* History of the oldest generation's size per lruvec: the input of the
 * long-horizon estimate. */
typedef struct
{
  unsigned n;
  AgentLruvecHistory h[AGENT_MGLRU_MAX_LRUVECS];
} AgentWsHistory;

/* Appends the oldest generation of every lruvec in @snap, sampled at @now_ms.
 * Lruvecs not seen for a long time are forgotten. */
void agent_ws_history_record (AgentWsHistory *hist, const AgentMglruSnapshot *snap,
                              uint64_t now_ms);

typedef struct
{
  uint64_t anon_bytes;
  uint64_t file_bytes;
} AgentBin;

/* Builds the working-set histogram from @snap (and @hist, may be NULL).
 * @edges_ms: @n_edges strictly increasing bin upper edges; @bins receives
 * @n_edges + 1 entries, the last one open-ended. Bin i holds bytes idle for
 * more than edge i-1 and at most edge i.
 * Every generation but the oldest is spread evenly over the span from its
 * birth to the next younger generation's birth (or now). The oldest one
 * (where the kernel folds everything older) is treated with the history:
 * bytes idle for more than h are estimated by the minimum size the oldest
 * generation had at every sample over the last (h - A) ms, A being the age
 * of the second-oldest generation, which is an upper bound on the bytes
 * really idle that long (a touched page leaves the oldest generation at the
 * next aging). The histogram's totals equal the snapshot's totals. */
void agent_ws_histogram (const AgentMglruSnapshot *snap, const AgentWsHistory *hist,
                         uint64_t now_ms, uint64_t page_size, const uint64_t *edges_ms,
                         unsigned n_edges, AgentBin *bins);

/* Spreads @pages evenly over the idle-time span [@lo_ms, @hi_ms] into the
 * page counts @acc (n_edges + 1 entries). A zero-width span goes whole into
 * the bin that holds @hi_ms. Exported for the unit tests. */
void agent_ws_spread (uint64_t pages, uint64_t lo_ms, uint64_t hi_ms, const uint64_t *edges_ms,
                      unsigned n_edges, uint64_t *acc);
