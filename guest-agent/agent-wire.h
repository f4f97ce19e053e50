/* agent-wire.h: wire-format facts shared by ballast-agent (guest) and the
 * host-side parser in controller/agent-proto.c. Plain C, no dependencies. */
#pragma once

/* Protocol version carried in every message as "v". */
#define AGENT_WIRE_VERSION 1

/* Name of the virtio-serial port the agent talks on. */
#define AGENT_WIRE_PORT_NAME "org.ballast.agent.0"

/* Longest line (JSON object, without its newline) either side may send. */
#define AGENT_WIRE_MAX_LINE_BYTES (16 * 1024)

/* Most histogram bins in a report, the open-ended last bin included. */
#define AGENT_WIRE_MAX_BINS 16

/* Default report interval and bin upper edges (the open-ended bin is implied). */
#define AGENT_WIRE_DEFAULT_INTERVAL_MS 1000
#define AGENT_WIRE_DEFAULT_BINS_MS                                                                 \
  {                                                                                                \
    1000, 5000, 30000, 120000, 600000                                                              \
  }
#define AGENT_WIRE_DEFAULT_NR_BINS_MS 5

/* Bounds of a host "reclaim" (below): the agent refuses a request whose
 * "bytes" is outside 1..MAX_REQUEST_BYTES (a larger valid one is cut to
 * AGENT_WIRE_RECLAIM_MAX_BYTES) and drops one that comes less than
 * MIN_GAP_MS after the end of the last it ran. */
#define AGENT_WIRE_RECLAIM_MAX_REQUEST_BYTES (1ULL << 40)
#define AGENT_WIRE_RECLAIM_MIN_GAP_MS 1000

/* Bounds the agent accepts for a host "config" (and the host enforces). */
#define AGENT_WIRE_MIN_INTERVAL_MS 100
#define AGENT_WIRE_MAX_INTERVAL_MS 60000
/* Longest bin edge: one day. */
#define AGENT_WIRE_MAX_BIN_MS (24ULL * 3600 * 1000)

/* Host -> agent: drop this much cold page cache ("bytes"); one request asks
 * for at most AGENT_WIRE_RECLAIM_MAX_BYTES. */
#define AGENT_WIRE_MSG_RECLAIM "reclaim"
#define AGENT_WIRE_RECLAIM_MAX_BYTES (1024ULL * 1024 * 1024)
