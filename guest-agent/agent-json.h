/* agent-json.h: the agent's tiny JSON side: an append-only writer for its
 * fixed-shape messages and a strict, bounded reader for the host's lines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-wire.h"

typedef struct
{
  char *data;
  size_t len;
  size_t cap;
  bool overflow; /* set once anything did not fit; the message is dropped */
} AgentBuf;

void agent_buf_init (AgentBuf *b, char *storage, size_t cap);
void agent_buf_printf (AgentBuf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Appenders without vsnprintf, for the message sent every interval (under
 * TCG vsnprintf made up most of the cost of formatting a report). Same
 * overflow rule as agent_buf_printf. */
void agent_buf_mem (AgentBuf *b, const char *s, size_t len);
void agent_buf_str (AgentBuf *b, const char *s);
void agent_buf_u64 (AgentBuf *b, uint64_t v);
/* Appends @s as a JSON string (quotes included); bytes outside printable
 * ASCII are escaped as \u00XX so the output is always valid UTF-8. */
void agent_buf_json_string (AgentBuf *b, const char *s);
/* Appends a percentage with two decimals (PSI's own precision). */
void agent_buf_pct (AgentBuf *b, uint32_t pct_centi);

typedef struct
{
  bool has_interval;
  uint32_t interval_ms;
  bool has_bins;
  unsigned n_bins_ms;
  uint64_t bins_ms[AGENT_WIRE_MAX_BINS - 1];
} AgentConfig;

typedef enum
{
  AGENT_HOST_OTHER = 0, /* a type the agent does not act on */
  AGENT_HOST_CONFIG,
  AGENT_HOST_RECLAIM,
} AgentHostType;

typedef struct
{
  AgentHostType type;
  AgentConfig config;     /* AGENT_HOST_CONFIG */
  uint64_t reclaim_bytes; /* AGENT_HOST_RECLAIM: 1..AGENT_WIRE_RECLAIM_MAX_REQUEST_BYTES */
} AgentHostMsg;

/* Parses one line from the host. Accepts only a JSON object; nesting deeper
 * than a few levels, strings or numbers longer than a few hundred bytes,
 * duplicate known keys and trailing bytes are rejected.
 * Returns 0 with @out filled for a valid {"type":"config","v":1,...} or
 * {"type":"reclaim","v":1,"bytes":N}; -ENOMSG for a well-formed object of
 * another type (to be ignored); -EPROTONOSUPPORT for another version; -EINVAL
 * for anything malformed or out of bounds (config: interval outside
 * [MIN, MAX]_INTERVAL_MS, bins not strictly increasing, zero, above
 * MAX_BIN_MS or too many; reclaim: bytes missing, not an integer, 0 or above
 * AGENT_WIRE_RECLAIM_MAX_REQUEST_BYTES). @out->type names the type read even
 * when the line is refused (AGENT_HOST_OTHER if none was). */
int agent_host_parse (const char *line, size_t len, AgentHostMsg *out);
/* agent_host_parse() for config alone: a valid reclaim gives -ENOMSG. */
int agent_config_parse (const char *line, size_t len, AgentConfig *out);
