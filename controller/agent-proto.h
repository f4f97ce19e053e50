/* agent-proto.h: host-side parser and validator of ballast-agent lines.
 * Every byte from a guest is hostile: bounded lines, bounded rate, checked
 * types and numeric sanity; the result is plain structs. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "agent-wire.h"
#include "rate-limit.h"

G_BEGIN_DECLS

#define AGENT_PROTO_ERROR (agent_proto_error_quark ())
GQuark agent_proto_error_quark (void);

typedef enum
{
  AGENT_PROTO_ERROR_TOO_LONG,     /* line above AGENT_WIRE_MAX_LINE_BYTES */
  AGENT_PROTO_ERROR_RATE,         /* more messages than the rate limit */
  AGENT_PROTO_ERROR_SYNTAX,       /* not a JSON object (or duplicate keys) */
  AGENT_PROTO_ERROR_VERSION,      /* "v" missing, not an integer, or not ours */
  AGENT_PROTO_ERROR_UNKNOWN_TYPE, /* well-formed, but a type we do not know */
  AGENT_PROTO_ERROR_FIELD,        /* required field missing or of the wrong type */
  AGENT_PROTO_ERROR_RANGE,        /* a number outside what the VM can have */
} AgentProtoError;

typedef enum
{
  AGENT_MSG_HELLO = 1,
  AGENT_MSG_REPORT,
  AGENT_MSG_PRESSURE,
} AgentMsgType;

typedef enum
{
  AGENT_WS_SOURCE_MGLRU = 1,
  AGENT_WS_SOURCE_MEMINFO,
} AgentWsSource;

typedef struct
{
  uint64_t age_ms; /* upper edge; 0 = the open-ended last bin */
  uint64_t anon_bytes;
  uint64_t file_bytes;
} AgentWsBin;

#define AGENT_PROTO_MAX_NAME 64
#define AGENT_PROTO_MAX_KERNEL 128

typedef struct
{
  char agent[AGENT_PROTO_MAX_NAME];
  char kernel[AGENT_PROTO_MAX_KERNEL];
  uint32_t page_size;
  gboolean mglru;
  gboolean psi;
  uint32_t interval_ms;            /* 0 when not announced */
  uint64_t aging_ms;               /* 0 when not announced */
  gboolean ws_long_is_upper_bound; /* "ws_long_bound":"idle-upper" */
  gboolean reclaim;                /* extension: takes host `reclaim` requests */
} AgentHello;

typedef struct
{
  uint64_t total_bytes;
  uint64_t free_bytes;
  uint64_t available_bytes;
  uint64_t cached_bytes;
  uint64_t anon_bytes;
  uint64_t unevictable_bytes;
  uint64_t swap_free_bytes;
} AgentMem;

typedef struct
{
  uint64_t seq;
  uint64_t uptime_ms;
  AgentMem mem;
  gboolean has_psi;
  double some_avg10_pct;
  double full_avg10_pct;
  uint64_t some_total_us;
  gboolean has_vmstat;
  uint64_t workingset_refault_anon;
  uint64_t workingset_refault_file;
  uint64_t pswpin;
  uint64_t pswpout;
  uint64_t oom_kill;
  gboolean has_ws;
  AgentWsSource ws_source;
  guint n_bins;
  AgentWsBin bins[AGENT_WIRE_MAX_BINS];
  gboolean has_agent_cpu; /* extension: the agent's own CPU time */
  uint64_t agent_cpu_us;
} AgentReport;

typedef struct
{
  uint64_t seq;
  double some_avg10_pct;
  uint64_t available_bytes;
  gboolean has_uptime; /* extension: when the trigger fired */
  uint64_t uptime_ms;
  gboolean has_some_total;
  uint64_t some_total_us;
} AgentPressure;

typedef struct
{
  AgentMsgType type;
  union
  {
    AgentHello hello;
    AgentReport report;
    AgentPressure pressure;
  };
} AgentMsg;

/* Hard ceiling for byte values when the VM's RAM is not known: 16 TiB. */
#define AGENT_PROTO_MAX_RAM_BYTES (16ULL << 40)

typedef struct
{
  /* The VM's maximum RAM: no memory figure may exceed it. 0 = unknown
   * (AGENT_PROTO_MAX_RAM_BYTES applies). */
  uint64_t ram_bytes;
} AgentProtoLimits;

/* Parses and validates one line (without its newline) of @len bytes.
 * Returns TRUE and fills @out for a valid hello/report/pressure; FALSE with
 * @error in AGENT_PROTO_ERROR otherwise (@out is then undefined). Unknown
 * fields are ignored; a message of an unknown type fails with
 * AGENT_PROTO_ERROR_UNKNOWN_TYPE, which callers may treat as benign. */
gboolean agent_proto_parse_line (const char *line, gsize len, const AgentProtoLimits *limits,
                                 AgentMsg *out, GError **error);

/* Default message rate a link accepts: reports at the fastest interval the
 * agent accepts (100 ms) plus pressure messages fit with room to spare. */
#define AGENT_LINK_RATE_PER_S 20
#define AGENT_LINK_RATE_BURST 40

/* One agent connection: line splitter (qmp-lines.h) + rate limit + validation,
 * with counters. An over-long line is rejected and the next one read. */
typedef struct _AgentLink AgentLink;

/* Called per valid message. */
typedef void (*AgentMsgFunc) (const AgentMsg *msg, gpointer user_data);

/* Returns a new link for a VM of @ram_bytes (0 = unknown); never NULL. */
AgentLink *agent_link_new (uint64_t ram_bytes);
void agent_link_free (AgentLink *link);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AgentLink, agent_link_free)
void agent_link_set_ram (AgentLink *link, uint64_t ram_bytes);
/* Feeds bytes received at @now_us; calls @func for each valid message.
 * Invalid lines are counted (see agent_link_get_counters) and the first
 * error of this call, if any, is kept as the link's last error. */
void agent_link_feed (AgentLink *link, const char *data, gsize len, int64_t now_us,
                      AgentMsgFunc func, gpointer user_data);
void agent_link_reset (AgentLink *link);

typedef struct
{
  uint64_t accepted;
  uint64_t rejected; /* all invalid lines, rate-limited ones included */
  uint64_t too_long;
  uint64_t rate_limited;
  uint64_t unknown_type;
} AgentLinkCounters;

void agent_link_get_counters (const AgentLink *link, AgentLinkCounters *out);
/* The message of the most recent rejection, or NULL; owned by @link. */
const char *agent_link_get_last_error (const AgentLink *link);

G_END_DECLS
