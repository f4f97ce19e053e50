/* fuzz-agent.c: libFuzzer target for every parser of untrusted bytes in the
 * agent area: the host's agent line validator and splitter (guest bytes),
 * and the agent's own readers (host config line, lru_gen and /proc text). */
#include <assert.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "agent-json.h"
#include "agent-mglru.h"
#include "agent-proc.h"
#include "agent-proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
on_msg (const AgentMsg *msg, gpointer user_data)
{
  /* Touch what the daemon would use: the sanitizers check the struct. */
  uint64_t *sink = user_data;
  if (msg->type == AGENT_MSG_REPORT)
    for (guint i = 0; i < msg->report.n_bins; i++)
      *sink += msg->report.bins[i].anon_bytes + msg->report.bins[i].age_ms;
  else if (msg->type == AGENT_MSG_HELLO)
    *sink += strlen (msg->hello.kernel) + strlen (msg->hello.agent);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  static const AgentProtoLimits limits = { .ram_bytes = 1ULL << 30 };
  uint64_t sink = 0;

  /* Host side: one line, then the stream (split at an input-chosen point
   * so partial lines across reads are exercised). */
  AgentMsg msg;
  GError *error = NULL;
  if (!agent_proto_parse_line (text, size, &limits, &msg, &error))
    g_clear_error (&error);
  else
    on_msg (&msg, &sink);

  AgentLink *link = agent_link_new (1ULL << 30);
  size_t cut = size > 0 ? data[0] % (size + 1) : 0;
  agent_link_feed (link, text, cut, 1000000, on_msg, &sink);
  agent_link_feed (link, text + cut, size - cut, 1100000, on_msg, &sink);
  agent_link_free (link);

  /* Guest side: every host line the agent reads (config and reclaim). */
  AgentHostMsg host;
  if (agent_host_parse (text, size, &host) == 0 && host.type == AGENT_HOST_RECLAIM)
    assert (host.reclaim_bytes >= 1 && host.reclaim_bytes <= AGENT_WIRE_RECLAIM_MAX_REQUEST_BYTES);

  static AgentMglruSnapshot snap;
  if (agent_mglru_parse (text, size, &snap) == 0)
    {
      static AgentWsHistory hist;
      static const uint64_t edges[] = { 1000, 5000, 30000, 120000, 600000 };
      AgentBin bins[6];
      char cmd[96];
      memset (&hist, 0, sizeof hist);
      agent_ws_history_record (&hist, &snap, 1000);
      agent_ws_history_record (&hist, &snap, 40000);
      agent_ws_histogram (&snap, &hist, 40000, 4096, edges, 5, bins);
      for (unsigned i = 0; i < snap.n_lruvecs; i++)
        agent_mglru_format_aging (&snap.lruvecs[i], cmd, sizeof cmd);
    }

  AgentMeminfo mi;
  AgentVmstat vs;
  AgentPsi psi;
  agent_parse_meminfo (text, size, &mi);
  agent_parse_vmstat (text, size, &vs);
  agent_parse_psi (text, size, &psi);
  (void) sink;
  return 0;
}
