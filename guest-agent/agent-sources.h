/* agent-sources.h: what the agent reads from the kernel (meminfo, vmstat, PSI,
 * lru_gen, kept open) and writes to it (MGLRU aging, the PSI trigger). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent-mglru.h"
#include "agent-proc.h"

/* lru_gen grows with the number of memcgs: 64 lruvecs x 4 gens fit. */
#define AGENT_LRU_GEN_BUF_BYTES (256 * 1024)

typedef struct
{
  /* what the kernel offers, found by agent_sources_detect */
  char kernel[128];
  long page_size;
  bool mglru;
  bool psi;
  int psi_trigger_fd; /* -1: no pressure messages */

  AgentFile psi_file;
  AgentFile meminfo_file;
  AgentFile vmstat_file;
  AgentFile lru_gen_file;
  int lru_gen_write_fd;
  char meminfo_text[8192];
  char vmstat_text[16384];
  char lru_gen_text[AGENT_LRU_GEN_BUF_BYTES];
  AgentMglruSnapshot snapshot; /* of the last lru_gen read */
  AgentWsHistory history;
} AgentSources;

void agent_sources_init (AgentSources *s);
void agent_sources_close (AgentSources *s);

/* Reads the kernel release and page size, finds out whether MGLRU and PSI
 * work, arms the PSI trigger, and logs what it found. */
void agent_sources_detect (AgentSources *s);
/* After the trigger's descriptor reported an error: no more pressure messages. */
void agent_sources_drop_psi_trigger (AgentSources *s);

/* Each returns false when the file cannot be read or parsed. */
bool agent_sources_read_meminfo (AgentSources *s, AgentMeminfo *mi);
bool agent_sources_read_psi (AgentSources *s, AgentPsi *psi);
/* Leaves @vs as it was when vmstat cannot be read. */
void agent_sources_read_vmstat (AgentSources *s, AgentVmstat *vs);

/* With MGLRU, reads lru_gen, adds it to the history and fills @bins
 * (@n_edges + 1) with the working-set histogram. Returns false without MGLRU
 * or when lru_gen cannot be read. */
bool agent_sources_ws_histogram (AgentSources *s, uint64_t now_ms, const uint64_t *edges_ms,
                                 unsigned n_edges, AgentBin *bins);

/* Ages every lruvec of the latest snapshot. Returns the number of failures
 * (transient refusals, retried next round, are not failures). */
unsigned agent_sources_age (AgentSources *s);
