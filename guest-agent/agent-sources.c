/* agent-sources.c: the agent's kernel files, kept open and re-read from
 * offset 0 every tick, MGLRU aging through lru_gen, and the PSI trigger. */
#include "agent-sources.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent-log.h"

#define LRU_GEN_PATH "/sys/kernel/debug/lru_gen"
#define LRU_GEN_ENABLED_PATH "/sys/kernel/mm/lru_gen/enabled"
#define PSI_MEMORY_PATH "/proc/pressure/memory"

/* PSI trigger: 150 ms of "some" stall within a 1 s window (docs/guest-agent.md,
 * "pressure"). */
#define AGENT_PSI_TRIGGER "some 150000 1000000"

void
agent_sources_init (AgentSources *s)
{
  s->psi_trigger_fd = -1;
  s->psi_file = (AgentFile) AGENT_FILE_INIT (PSI_MEMORY_PATH);
  s->meminfo_file = (AgentFile) AGENT_FILE_INIT ("/proc/meminfo");
  s->vmstat_file = (AgentFile) AGENT_FILE_INIT ("/proc/vmstat");
  s->lru_gen_file = (AgentFile) AGENT_FILE_INIT (LRU_GEN_PATH);
  s->lru_gen_write_fd = -1;
}

void
agent_sources_close (AgentSources *s)
{
  agent_sources_drop_psi_trigger (s);
  if (s->lru_gen_write_fd >= 0)
    close (s->lru_gen_write_fd);
  s->lru_gen_write_fd = -1;
  agent_file_close (&s->psi_file);
  agent_file_close (&s->meminfo_file);
  agent_file_close (&s->vmstat_file);
  agent_file_close (&s->lru_gen_file);
}

bool
agent_sources_read_psi (AgentSources *s, AgentPsi *psi)
{
  char text[512];
  long n = agent_file_read (&s->psi_file, text, sizeof text);
  return n > 0 && agent_parse_psi (text, (size_t) n, psi) == 0;
}

bool
agent_sources_read_meminfo (AgentSources *s, AgentMeminfo *mi)
{
  long n = agent_file_read (&s->meminfo_file, s->meminfo_text, sizeof s->meminfo_text);
  return n > 0 && agent_parse_meminfo (s->meminfo_text, (size_t) n, mi) == 0;
}

void
agent_sources_read_vmstat (AgentSources *s, AgentVmstat *vs)
{
  long n = agent_file_read (&s->vmstat_file, s->vmstat_text, sizeof s->vmstat_text);
  if (n > 0)
    agent_parse_vmstat (s->vmstat_text, (size_t) n, vs);
}

/* Replaces the snapshot with the current lru_gen. */
static bool
read_lru_gen (AgentSources *s)
{
  long n = agent_file_read (&s->lru_gen_file, s->lru_gen_text, sizeof s->lru_gen_text);
  return n > 0 && agent_mglru_parse (s->lru_gen_text, (size_t) n, &s->snapshot) == 0;
}

/* Registers the PSI trigger; its descriptor then polls POLLPRI when the
 * guest stalls on memory. */
static void
arm_psi_trigger (AgentSources *s)
{
  int fd = open (PSI_MEMORY_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && write (fd, AGENT_PSI_TRIGGER, sizeof AGENT_PSI_TRIGGER) < 0)
    {
      agent_log ("PSI trigger not available: %s", strerror (errno));
      close (fd);
      fd = -1;
    }
  s->psi_trigger_fd = fd;
}

void
agent_sources_detect (AgentSources *s)
{
  struct utsname u;
  if (uname (&u) == 0)
    snprintf (s->kernel, sizeof s->kernel, "%s", u.release);
  s->page_size = sysconf (_SC_PAGESIZE);
  if (s->page_size <= 0)
    s->page_size = 4096;

  char text[64];
  long n = agent_read_file (LRU_GEN_ENABLED_PATH, text, sizeof text);
  unsigned long caps = n > 0 ? strtoul (text, NULL, 0) : 0;
  s->mglru = (caps & 1) && read_lru_gen (s) && s->snapshot.n_lruvecs > 0;

  AgentPsi psi;
  s->psi = agent_sources_read_psi (s, &psi);
  if (s->psi)
    arm_psi_trigger (s);
  agent_log ("kernel %s, mglru %s, psi %s%s", s->kernel, s->mglru ? "yes" : "no (meminfo fallback)",
             s->psi ? "yes" : "no", s->psi_trigger_fd >= 0 ? " (trigger armed)" : "");
}

void
agent_sources_drop_psi_trigger (AgentSources *s)
{
  if (s->psi_trigger_fd >= 0)
    close (s->psi_trigger_fd);
  s->psi_trigger_fd = -1;
}

bool
agent_sources_ws_histogram (AgentSources *s, uint64_t now_ms, const uint64_t *edges_ms,
                            unsigned n_edges, AgentBin *bins)
{
  if (!s->mglru || !read_lru_gen (s))
    return false;
  agent_ws_history_record (&s->history, &s->snapshot, now_ms);
  agent_ws_histogram (&s->snapshot, &s->history, now_ms, (uint64_t) s->page_size, edges_ms, n_edges,
                      bins);
  return true;
}

static int
write_aging_cmd (const char *cmd, size_t len, void *user_data)
{
  int fd = *(int *) user_data;
  return write (fd, cmd, len) < 0 ? -errno : 0;
}

/* The snapshot was read by the last report, at most one interval ago; a
 * max_seq that moved since is refused with -EINVAL and retried next round. */
unsigned
agent_sources_age (AgentSources *s)
{
  if (s->snapshot.n_lruvecs == 0 && !read_lru_gen (s))
    return 1;
  if (s->lru_gen_write_fd < 0)
    s->lru_gen_write_fd = open (LRU_GEN_PATH, O_WRONLY | O_CLOEXEC);
  if (s->lru_gen_write_fd < 0)
    return 1;
  AgentAgingResult res;
  agent_mglru_age_all (&s->snapshot, write_aging_cmd, &s->lru_gen_write_fd, &res);
  if (res.failed)
    {
      close (s->lru_gen_write_fd);
      s->lru_gen_write_fd = -1;
    }
  return res.failed;
}
