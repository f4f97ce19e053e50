/* proc.h: per-process probes: /proc/PID/stat CPU time, smaps_rollup, ksm_stat,
 * the cgroup v2 memory of a process, and the PID behind a unix socket. */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "policy.h"
#include "roots.h"

/* The kernel's TASK_COMM_LEN is 16; room for longer (kthread) names. */
#define PROC_COMM_MAX 64
/* include/linux/sched.h: set in /proc/PID/stat `flags` for kernel threads. */
#define PROC_PF_KTHREAD 0x00200000u

typedef struct
{
  char comm[PROC_COMM_MAX]; /* truncated if longer */
  char state;
  uint64_t flags;
  uint64_t utime_ticks;
  uint64_t stime_ticks;
} ProcStat;

typedef struct
{
  PolicyStat rss_bytes;
  PolicyStat pss_bytes;
  PolicyStat pss_anon_bytes;
  PolicyStat pss_file_bytes;
  PolicyStat pss_shmem_bytes;
  PolicyStat swap_bytes;
  PolicyStat swap_pss_bytes;
} ProcSmapsRollup;

typedef struct
{
  PolicyStat merging_pages;
  PolicyStat rmap_items;
  PolicyStat zero_pages;
  gboolean process_profit_present;
  int64_t process_profit_bytes; /* negative while rmap items cost more than merging saves */
  gboolean mergeable_present;
  gboolean mergeable; /* ksm_mergeable: yes/no */
} ProcKsmStat;

typedef struct
{
  PolicyStat current_bytes; /* memory.current */
  PolicyStat anon_bytes;
  PolicyStat file_bytes;
  PolicyStat kernel_bytes; /* `kernel`, or the sum of its parts on older kernels */
} ProcCgroupMem;

/* Parses /proc/PID/stat; the comm field may hold blanks and parentheses, so
 * fields are counted from the last ')'. FALSE with an error on junk. */
gboolean proc_stat_parse (const char *text, gsize len, ProcStat *out, GError **error);
gboolean proc_stat_read (const HostRoots *roots, pid_t pid, ProcStat *out, GError **error);
/* Clock ticks to ns, saturating; `ticks_per_s` <= 0 reads as USER_HZ 100. */
uint64_t proc_ticks_to_ns (uint64_t ticks, long ticks_per_s);

/* Scans <proc>/<pid>/comm for a kernel thread named `comm` (a user process
 * of the same name is ignored). Returns its PID, or 0 when there is none. */
pid_t proc_find_kthread (const HostRoots *roots, const char *comm);

/* smaps_rollup: TRUE when a Pss line is present and valid. */
gboolean proc_smaps_rollup_parse (const char *text, gsize len, ProcSmapsRollup *out,
                                  GError **error);
/* /proc/PID/statm: the resident size (its second field, in pages of
 * `page_bytes`) in bytes; FALSE with an error on junk or overflow. */
gboolean proc_statm_rss_parse (const char *text, gsize len, uint64_t page_bytes,
                               uint64_t *out_bytes, GError **error);
/* ksm_stat: TRUE when ksm_merging_pages is present and valid. */
gboolean proc_ksm_stat_parse (const char *text, gsize len, ProcKsmStat *out, GError **error);
/* /proc/PID/cgroup: returns the cgroup v2 path ("0::/path" line), newly
 * allocated and starting with '/', or NULL with an error (no v2 line, or a
 * path with "." or ".." components). */
char *proc_cgroup_v2_path_parse (const char *text, gsize len, GError **error);
/* memory.stat of a cgroup v2: TRUE when `anon` is present. */
gboolean proc_memory_stat_parse (const char *text, gsize len, ProcCgroupMem *out, GError **error);

/* Remembers, across calls, what this kernel offers (ksm_stat, where cgroup
 * v2 is mounted) so a missing feature is probed once. */
typedef struct _ProcCtx ProcCtx;

ProcCtx *proc_ctx_new (const HostRoots *roots); /* copies roots */
void proc_ctx_free (ProcCtx *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ProcCtx, proc_ctx_free)

typedef struct
{
  ProcSmapsRollup smaps;
  ProcKsmStat ksm;    /* all absent without /proc/PID/ksm_stat */
  gboolean in_cgroup; /* in a non-root cgroup v2 with memory accounting */
  ProcCgroupMem cgroup;
} ProcCost;

/* The host cost of one process. Returns FALSE with an error only when
 * smaps_rollup cannot be read or parsed (the process is gone: error
 * G_IO_ERROR_NOT_FOUND); ksm_stat and cgroup data are optional and absent
 * when missing. A process in the root cgroup has no cgroup data: the root's
 * counters are the whole host's. */
gboolean proc_cost_read (ProcCtx *ctx, pid_t pid, ProcCost *out, GError **error);
/* A process's /proc/PID/statm, kept open between reads: a quiet VM's
 * resident size is read every few ticks, and opening a /proc file (a path
 * walk and a PID lookup) costs more than reading it again. Starts as
 * PROC_RSS_FILE_INIT; proc_rss_file_close when done. */
typedef struct
{
  int fd;
  pid_t pid;
} ProcRssFile;
#define PROC_RSS_FILE_INIT { .fd = -1, .pid = 0 }
void proc_rss_file_close (ProcRssFile *file);
/* A process's resident size from /proc/PID/statm: O(1), where smaps_rollup
 * walks every page table. Opens `file` for `pid` when it is closed or open
 * for another process; a process gone closes it. FALSE with an error when
 * it cannot be read. */
gboolean proc_rss_read (ProcCtx *ctx, ProcRssFile *file, pid_t pid, uint64_t *out_bytes,
                        GError **error);

/* The PID of the process at the other end of a connected AF_UNIX socket
 * (SO_PEERCRED: for a socket we connected, the process that called
 * listen(), e.g. the QEMU serving a QMP socket). Returns > 0, or -1 with
 * an error. */
pid_t proc_peer_pid (GSocket *socket, GError **error);
pid_t proc_peer_pid_fd (int fd, GError **error);
