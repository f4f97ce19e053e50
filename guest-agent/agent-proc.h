/* agent-proc.h: parsers for the /proc files the agent reports from
 * (meminfo, vmstat, pressure/memory). They work on text buffers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct
{
  uint64_t total_bytes;
  uint64_t free_bytes;
  uint64_t available_bytes;
  uint64_t cached_bytes; /* Cached + Buffers: both are page cache */
  uint64_t anon_bytes;   /* AnonPages */
  uint64_t unevictable_bytes;
  uint64_t swap_free_bytes;
  uint64_t active_anon_bytes, inactive_anon_bytes;
  uint64_t active_file_bytes, inactive_file_bytes;
} AgentMeminfo;

typedef struct
{
  uint64_t workingset_refault_anon;
  uint64_t workingset_refault_file;
  uint64_t pswpin;
  uint64_t pswpout;
  uint64_t oom_kill;
} AgentVmstat;

typedef struct
{
  uint32_t some_avg10_centi; /* percent x 100 */
  uint32_t full_avg10_centi;
  uint64_t some_total_us;
  uint64_t full_total_us;
} AgentPsi;

/* Each returns 0, or -EINVAL when a required line is missing (MemTotal for
 * meminfo, the "some" line for PSI). Unknown lines are ignored. */
int agent_parse_meminfo (const char *text, size_t len, AgentMeminfo *out);
int agent_parse_vmstat (const char *text, size_t len, AgentVmstat *out);
int agent_parse_psi (const char *text, size_t len, AgentPsi *out);

/* Reads a whole (small) file into @buf, NUL-terminated. Returns the length
 * or -errno. A file larger than @cap - 1 is truncated. */
long agent_read_file (const char *path, char *buf, size_t cap);

/* A file read again and again: kept open and re-read from offset 0, which
 * saves the open/close system calls of every tick (costly in a guest with
 * page-table isolation). */
typedef struct
{
  const char *path;
  int fd; /* -1 until opened; closed again after an error */
} AgentFile;

#define AGENT_FILE_INIT(p)                                                                         \
  {                                                                                                \
    .path = (p), .fd = -1                                                                          \
  }

/* Like agent_read_file, on a kept-open descriptor. */
long agent_file_read (AgentFile *f, char *buf, size_t cap);
/* Closes the descriptor if open; the next read opens it again. */
void agent_file_close (AgentFile *f);
