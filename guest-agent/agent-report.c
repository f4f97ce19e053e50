/* agent-report.c: formats the agent's messages field by field in the fixed
 * order of docs/guest-agent.md. Libc only, like the rest of the agent. */
#include "agent-report.h"

#include "agent-wire.h"

void
agent_format_hello (AgentBuf *b, const AgentHello *h)
{
  agent_buf_printf (b, "{\"type\":\"hello\",\"v\":%d,\"agent\":", AGENT_WIRE_VERSION);
  agent_buf_json_string (b, h->agent);
  agent_buf_printf (b, ",\"kernel\":");
  agent_buf_json_string (b, h->kernel);
  agent_buf_printf (
      b,
      ",\"page_size\":%ld,\"mglru\":%s,\"psi\":%s,\"reclaim\":%s,\"interval_ms\":%u,\"bins_ms\":[",
      h->page_size, h->mglru ? "true" : "false", h->psi ? "true" : "false",
      h->reclaim ? "true" : "false", h->interval_ms);
  for (unsigned i = 0; i < h->n_edges; i++)
    agent_buf_printf (b, "%s%llu", i ? "," : "", (unsigned long long) h->edges_ms[i]);
  agent_buf_printf (b, "]");
  if (h->mglru)
    agent_buf_printf (b,
                      ",\"aging_ms\":%llu,\"ws_short\":\"generation-spread\","
                      "\"ws_long\":\"oldest-generation-min\",\"ws_long_bound\":\"idle-upper\"",
                      (unsigned long long) h->aging_ms);
  agent_buf_printf (b, "}");
}

/* The report goes out every interval, so it is built with the printf-free
 * appenders. Appends @key (JSON punctuation included) and @v. */
static void
put_u64 (AgentBuf *b, const char *key, uint64_t v)
{
  agent_buf_str (b, key);
  agent_buf_u64 (b, v);
}

static void
put_mem (AgentBuf *b, const AgentMeminfo *mi)
{
  put_u64 (b, ",\"mem\":{\"total\":", mi->total_bytes);
  put_u64 (b, ",\"free\":", mi->free_bytes);
  put_u64 (b, ",\"available\":", mi->available_bytes);
  put_u64 (b, ",\"cached\":", mi->cached_bytes);
  put_u64 (b, ",\"anon\":", mi->anon_bytes);
  put_u64 (b, ",\"unevictable\":", mi->unevictable_bytes);
  put_u64 (b, ",\"swap_free\":", mi->swap_free_bytes);
  agent_buf_str (b, "}");
}

static void
put_psi (AgentBuf *b, const AgentPsi *psi)
{
  if (!psi)
    {
      agent_buf_str (b, ",\"psi\":null");
      return;
    }
  agent_buf_str (b, ",\"psi\":{\"some_avg10\":");
  agent_buf_pct (b, psi->some_avg10_centi);
  agent_buf_str (b, ",\"full_avg10\":");
  agent_buf_pct (b, psi->full_avg10_centi);
  put_u64 (b, ",\"some_total_us\":", psi->some_total_us);
  agent_buf_str (b, "}");
}

static void
put_vmstat (AgentBuf *b, const AgentVmstat *vs)
{
  put_u64 (b, ",\"vmstat\":{\"workingset_refault_anon\":", vs->workingset_refault_anon);
  put_u64 (b, ",\"workingset_refault_file\":", vs->workingset_refault_file);
  put_u64 (b, ",\"pswpin\":", vs->pswpin);
  put_u64 (b, ",\"pswpout\":", vs->pswpout);
  put_u64 (b, ",\"oom_kill\":", vs->oom_kill);
  agent_buf_str (b, "}");
}

static void
put_ws (AgentBuf *b, const AgentReport *r)
{
  agent_buf_str (b, ",\"ws\":{\"source\":\"");
  agent_buf_str (b, r->ws_source);
  agent_buf_str (b, "\",\"bins\":[");
  for (unsigned i = 0; i <= r->n_edges; i++)
    {
      agent_buf_str (b, i ? ",{\"age_ms\":" : "{\"age_ms\":");
      if (i < r->n_edges)
        agent_buf_u64 (b, r->edges_ms[i]);
      else
        agent_buf_str (b, "null");
      put_u64 (b, ",\"anon\":", r->bins[i].anon_bytes);
      put_u64 (b, ",\"file\":", r->bins[i].file_bytes);
      agent_buf_str (b, "}");
    }
  agent_buf_str (b, "]}");
}

void
agent_format_report (AgentBuf *b, const AgentReport *r)
{
  put_u64 (b, "{\"type\":\"report\",\"v\":", AGENT_WIRE_VERSION);
  put_u64 (b, ",\"seq\":", r->seq);
  put_u64 (b, ",\"uptime_ms\":", r->uptime_ms);
  put_mem (b, r->mem);
  put_psi (b, r->psi);
  put_vmstat (b, r->vmstat);
  put_ws (b, r);
  put_u64 (b, ",\"agent\":{\"cpu_us\":", r->cpu_us);
  put_u64 (b, ",\"dropped\":", r->dropped);
  put_u64 (b, ",\"aging_errors\":", r->aging_errors);
  if (r->reclaim)
    {
      put_u64 (b, ",\"reclaims\":", r->reclaim->done);
      put_u64 (b, ",\"reclaim_bytes\":", r->reclaim->asked_bytes);
      put_u64 (b, ",\"reclaim_refused\":", r->reclaim->refused);
      put_u64 (b, ",\"reclaim_dropped\":", r->reclaim->dropped);
      put_u64 (b, ",\"reclaim_errors\":", r->reclaim->errors);
    }
  agent_buf_str (b, "}}");
}

void
agent_format_pressure (AgentBuf *b, const AgentPressure *p)
{
  agent_buf_printf (b,
                    "{\"type\":\"pressure\",\"v\":%d,\"seq\":%llu,\"uptime_ms\":%llu,"
                    "\"some_avg10\":",
                    AGENT_WIRE_VERSION, (unsigned long long) p->seq,
                    (unsigned long long) p->uptime_ms);
  agent_buf_pct (b, p->psi->some_avg10_centi);
  agent_buf_printf (b, ",\"some_total_us\":%llu,\"available\":%llu}",
                    (unsigned long long) p->psi->some_total_us,
                    (unsigned long long) p->available_bytes);
}
