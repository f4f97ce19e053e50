/* proc.c: parsers and readers for per-process /proc files and cgroup v2
 * memory files, the kernel-thread finder, and socket peer credentials. */
#define G_LOG_DOMAIN "ballast-probes"

#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* USER_HZ on every Linux architecture we run on, for when sysconf fails. */
#define PROC_TICKS_PER_S_FALLBACK 100
#define PROC_NS_PER_S 1000000000ull

/* Fields after the ") " that ends comm: state is index 0 (field 3 of
 * proc(5)), flags index 6 (field 9), utime 11 (field 14), stime 12 (15). */
enum
{
  PROC_STAT_IDX_STATE = 0,
  PROC_STAT_IDX_FLAGS = 6,
  PROC_STAT_IDX_UTIME = 11,
  PROC_STAT_IDX_STIME = 12,
  PROC_STAT_MIN_FIELDS = 13,
};

gboolean
proc_stat_parse (const char *text, gsize len, ProcStat *out, GError **error)
{
  g_autofree char *copy = g_strndup (text, len);
  char *open_paren = strchr (copy, '(');
  char *close_paren = strrchr (copy, ')');

  memset (out, 0, sizeof *out);
  if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "stat: no (comm)");
      return FALSE;
    }
  gsize comm_len = MIN ((gsize) (close_paren - open_paren - 1), sizeof out->comm - 1);
  memcpy (out->comm, open_paren + 1, comm_len);
  out->comm[comm_len] = '\0';

  g_auto (GStrv) fields = g_strsplit (g_strstrip (close_paren + 1), " ", -1);
  if (g_strv_length (fields) < PROC_STAT_MIN_FIELDS || strlen (fields[PROC_STAT_IDX_STATE]) != 1)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "stat: too few fields");
      return FALSE;
    }
  out->state = fields[PROC_STAT_IDX_STATE][0];
  if (!host_parse_u64 (fields[PROC_STAT_IDX_FLAGS], &out->flags)
      || !host_parse_u64 (fields[PROC_STAT_IDX_UTIME], &out->utime_ticks)
      || !host_parse_u64 (fields[PROC_STAT_IDX_STIME], &out->stime_ticks))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "stat: flags/utime/stime not numbers");
      return FALSE;
    }
  return TRUE;
}

gboolean
proc_stat_read (const HostRoots *roots, pid_t pid, ProcStat *out, GError **error)
{
  g_autofree char *path = host_path (roots, HOST_ROOT_PROC, "%d/stat", (int) pid);
  g_autofree char *text = NULL;
  gsize len = 0;
  memset (out, 0, sizeof *out);
  if (!host_read_text (path, &text, &len, error))
    return FALSE;
  if (!proc_stat_parse (text, len, out, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

uint64_t
proc_ticks_to_ns (uint64_t ticks, long ticks_per_s)
{
  uint64_t hz = ticks_per_s > 0 ? (uint64_t) ticks_per_s : PROC_TICKS_PER_S_FALLBACK;
  uint64_t whole_s = ticks / hz;
  uint64_t rest_ticks = ticks % hz;
  if (whole_s > G_MAXUINT64 / PROC_NS_PER_S)
    return G_MAXUINT64;
  /* Split so that ticks * 1e9 cannot overflow before the division. */
  uint64_t ns = whole_s * PROC_NS_PER_S;
  uint64_t rest_ns = rest_ticks * PROC_NS_PER_S / hz;
  return rest_ns > G_MAXUINT64 - ns ? G_MAXUINT64 : ns + rest_ns;
}

pid_t
proc_find_kthread (const HostRoots *roots, const char *comm)
{
  g_autoptr (GDir) dir = g_dir_open (roots->proc_root, 0, NULL);
  const char *name;
  if (dir == NULL)
    return 0;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      uint64_t pid;
      if (!g_ascii_isdigit (name[0]) || !host_parse_u64 (name, &pid) || pid == 0
          || pid > G_MAXINT32)
        continue;
      g_autofree char *comm_path = host_path (roots, HOST_ROOT_PROC, "%s/comm", name);
      g_autofree char *text = NULL;
      if (!host_read_text (comm_path, &text, NULL, NULL))
        continue;
      if (strcmp (g_strchomp (text), comm) != 0)
        continue;
      ProcStat st;
      if (proc_stat_read (roots, (pid_t) pid, &st, NULL) && (st.flags & PROC_PF_KTHREAD) != 0)
        return (pid_t) pid;
    }
  return 0;
}

typedef struct
{
  const char *key;
  size_t offset; /* of a PolicyStat */
} ProcKibField;

static const ProcKibField proc_smaps_fields[] = {
  { "Rss", offsetof (ProcSmapsRollup, rss_bytes) },
  { "Pss", offsetof (ProcSmapsRollup, pss_bytes) },
  { "Pss_Anon", offsetof (ProcSmapsRollup, pss_anon_bytes) },
  { "Pss_File", offsetof (ProcSmapsRollup, pss_file_bytes) },
  { "Pss_Shmem", offsetof (ProcSmapsRollup, pss_shmem_bytes) },
  { "Swap", offsetof (ProcSmapsRollup, swap_bytes) },
  { "SwapPss", offsetof (ProcSmapsRollup, swap_pss_bytes) },
};

static void
proc_smaps_kv (const char *key, const char *value, gpointer user_data)
{
  for (gsize i = 0; i < G_N_ELEMENTS (proc_smaps_fields); i++)
    {
      if (strcmp (key, proc_smaps_fields[i].key) != 0)
        continue;
      PolicyStat *stat = (PolicyStat *) ((char *) user_data + proc_smaps_fields[i].offset);
      uint64_t bytes;
      *stat = host_parse_kib_bytes (value, &bytes) ? (PolicyStat){ .present = true, .value = bytes }
                                                   : (PolicyStat){ 0 };
      return;
    }
}

gboolean
proc_smaps_rollup_parse (const char *text, gsize len, ProcSmapsRollup *out, GError **error)
{
  memset (out, 0, sizeof *out);
  host_for_each_kv (text, len, proc_smaps_kv, out);
  if (!out->pss_bytes.present)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "smaps_rollup: no valid Pss");
      return FALSE;
    }
  return TRUE;
}

gboolean
proc_statm_rss_parse (const char *text, gsize len, uint64_t page_bytes, uint64_t *out_bytes,
                      GError **error)
{
  /* "size resident shared text lib data dt": the second field. */
  g_autofree char *line = g_strndup (text, MIN (len, (gsize) 256));
  g_auto (GStrv) fields = g_strsplit_set (g_strstrip (line), " ", 3);
  uint64_t pages;
  if (g_strv_length (fields) < 3 || !host_parse_u64 (fields[1], &pages) || page_bytes == 0
      || pages > UINT64_MAX / page_bytes)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "statm: no valid resident");
      return FALSE;
    }
  *out_bytes = pages * page_bytes;
  return TRUE;
}

static void
proc_ksm_stat_kv (const char *key, const char *value, gpointer user_data)
{
  ProcKsmStat *out = user_data;
  PolicyStat *stat = strcmp (key, "ksm_merging_pages") == 0 ? &out->merging_pages
                     : strcmp (key, "ksm_rmap_items") == 0  ? &out->rmap_items
                     : strcmp (key, "ksm_zero_pages") == 0  ? &out->zero_pages
                                                            : NULL;
  if (stat != NULL)
    {
      uint64_t v;
      *stat = host_parse_u64 (value, &v) ? (PolicyStat){ .present = true, .value = v }
                                         : (PolicyStat){ 0 };
    }
  else if (strcmp (key, "ksm_process_profit") == 0)
    out->process_profit_present = host_parse_i64 (value, &out->process_profit_bytes);
  else if (strcmp (key, "ksm_mergeable") == 0)
    {
      out->mergeable_present = strcmp (value, "yes") == 0 || strcmp (value, "no") == 0;
      out->mergeable = strcmp (value, "yes") == 0;
    }
}

gboolean
proc_ksm_stat_parse (const char *text, gsize len, ProcKsmStat *out, GError **error)
{
  memset (out, 0, sizeof *out);
  host_for_each_kv (text, len, proc_ksm_stat_kv, out);
  if (!out->merging_pages.present)
    {
      memset (out, 0, sizeof *out);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "ksm_stat: no valid ksm_merging_pages");
      return FALSE;
    }
  return TRUE;
}

char *
proc_cgroup_v2_path_parse (const char *text, gsize len, GError **error)
{
  g_autofree char *copy = g_strndup (text, len);
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (!g_str_has_prefix (lines[i], "0::"))
        continue;
      const char *path = lines[i] + strlen ("0::");
      g_auto (GStrv) parts = g_strsplit (path, "/", -1);
      gboolean bad = path[0] != '/';
      for (guint p = 0; !bad && parts[p] != NULL; p++)
        bad = strcmp (parts[p], ".") == 0 || strcmp (parts[p], "..") == 0;
      if (bad)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "cgroup: unusable v2 path \"%s\"", path);
          return NULL;
        }
      return g_strdup (path);
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "cgroup: no v2 (0::) line");
  return NULL;
}

/* The parts the `kernel` line sums on kernels that have it (6.x). */
static const char *const proc_kernel_parts[] = {
  "kernel_stack", "pagetables", "sec_pagetables", "percpu", "sock", "vmalloc",
};

typedef struct
{
  ProcCgroupMem *out;
  uint64_t parts_bytes;
  gboolean any_part;
  gboolean have_slab;
  uint64_t slab_bytes;
  uint64_t slab_split_bytes; /* slab_reclaimable + slab_unreclaimable */
  gboolean any_slab_split;
} ProcMemoryStat;

static uint64_t
proc_add_sat (uint64_t a, uint64_t b)
{
  return b > G_MAXUINT64 - a ? G_MAXUINT64 : a + b;
}

static void
proc_memory_stat_kv (const char *key, const char *value, gpointer user_data)
{
  ProcMemoryStat *p = user_data;
  uint64_t v;
  if (!host_parse_u64 (value, &v))
    return;
  if (strcmp (key, "anon") == 0)
    p->out->anon_bytes = (PolicyStat){ .present = true, .value = v };
  else if (strcmp (key, "file") == 0)
    p->out->file_bytes = (PolicyStat){ .present = true, .value = v };
  else if (strcmp (key, "kernel") == 0)
    p->out->kernel_bytes = (PolicyStat){ .present = true, .value = v };
  else if (strcmp (key, "slab") == 0)
    {
      p->have_slab = TRUE;
      p->slab_bytes = v;
    }
  else if (strcmp (key, "slab_reclaimable") == 0 || strcmp (key, "slab_unreclaimable") == 0)
    {
      p->any_slab_split = TRUE;
      p->slab_split_bytes = proc_add_sat (p->slab_split_bytes, v);
    }
  else
    for (gsize i = 0; i < G_N_ELEMENTS (proc_kernel_parts); i++)
      if (strcmp (key, proc_kernel_parts[i]) == 0)
        {
          p->any_part = TRUE;
          p->parts_bytes = proc_add_sat (p->parts_bytes, v);
        }
}

gboolean
proc_memory_stat_parse (const char *text, gsize len, ProcCgroupMem *out, GError **error)
{
  PolicyStat current = out->current_bytes;
  memset (out, 0, sizeof *out);
  out->current_bytes = current;
  ProcMemoryStat p = { .out = out };
  host_for_each_kv (text, len, proc_memory_stat_kv, &p);
  if (!out->anon_bytes.present)
    {
      memset (out, 0, sizeof *out);
      out->current_bytes = current;
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "memory.stat: no valid anon");
      return FALSE;
    }
  if (!out->kernel_bytes.present && (p.any_part || p.have_slab || p.any_slab_split))
    {
      uint64_t slab = p.have_slab ? p.slab_bytes : p.slab_split_bytes;
      out->kernel_bytes
          = (PolicyStat){ .present = true, .value = proc_add_sat (p.parts_bytes, slab) };
    }
  return TRUE;
}

typedef enum
{
  PROC_FEATURE_UNKNOWN = 0,
  PROC_FEATURE_PRESENT,
  PROC_FEATURE_ABSENT,
} ProcFeature;

struct _ProcCtx
{
  HostRoots *roots;
  ProcFeature ksm_stat;
  ProcFeature cgroup2;
  const char *cgroup2_subdir; /* under the sys root, when cgroup2 is present */
};

/* Unified hierarchy first; a hybrid (v1 + v2) host mounts v2 at unified/. */
static const char *const proc_cgroup2_subdirs[] = { "fs/cgroup", "fs/cgroup/unified" };

ProcCtx *
proc_ctx_new (const HostRoots *roots)
{
  ProcCtx *ctx = g_new0 (ProcCtx, 1);
  ctx->roots = host_roots_copy (roots);
  return ctx;
}

void
proc_ctx_free (ProcCtx *ctx)
{
  if (ctx == NULL)
    return;
  host_roots_free (ctx->roots);
  g_free (ctx);
}

static void
proc_probe_cgroup2 (ProcCtx *ctx)
{
  if (ctx->cgroup2 != PROC_FEATURE_UNKNOWN)
    return;
  ctx->cgroup2 = PROC_FEATURE_ABSENT;
  for (gsize i = 0; i < G_N_ELEMENTS (proc_cgroup2_subdirs); i++)
    {
      g_autofree char *marker
          = host_path (ctx->roots, HOST_ROOT_SYS, "%s/cgroup.controllers", proc_cgroup2_subdirs[i]);
      if (g_file_test (marker, G_FILE_TEST_EXISTS))
        {
          ctx->cgroup2 = PROC_FEATURE_PRESENT;
          ctx->cgroup2_subdir = proc_cgroup2_subdirs[i];
          return;
        }
    }
  g_debug ("no cgroup v2 hierarchy under %s/fs/cgroup: no per-VM cgroup memory",
           ctx->roots->sys_root);
}

static void
proc_read_ksm_stat (ProcCtx *ctx, pid_t pid, ProcKsmStat *out)
{
  g_autofree char *path = host_path (ctx->roots, HOST_ROOT_PROC, "%d/ksm_stat", (int) pid);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  gsize len = 0;

  if (ctx->ksm_stat == PROC_FEATURE_ABSENT)
    return;
  if (!host_read_text (path, &text, &len, &error))
    {
      g_autofree char *pid_dir = host_path (ctx->roots, HOST_ROOT_PROC, "%d", (int) pid);
      /* Missing while the process is there: a kernel before 6.1. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
          && g_file_test (pid_dir, G_FILE_TEST_IS_DIR))
        {
          g_debug ("%s missing: no per-process KSM counters on this kernel", path);
          ctx->ksm_stat = PROC_FEATURE_ABSENT;
        }
      return;
    }
  ctx->ksm_stat = PROC_FEATURE_PRESENT;
  if (!proc_ksm_stat_parse (text, len, out, &error))
    g_debug ("%s: %s", path, error->message);
}

static gboolean
proc_read_cgroup (ProcCtx *ctx, pid_t pid, ProcCgroupMem *out)
{
  g_autofree char *cg_path = host_path (ctx->roots, HOST_ROOT_PROC, "%d/cgroup", (int) pid);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  gsize len = 0;

  proc_probe_cgroup2 (ctx);
  if (ctx->cgroup2 != PROC_FEATURE_PRESENT || !host_read_text (cg_path, &text, &len, NULL))
    return FALSE;
  g_autofree char *cgroup = proc_cgroup_v2_path_parse (text, len, &error);
  if (cgroup == NULL || strcmp (cgroup, "/") == 0)
    return FALSE;

  g_autofree char *stat_path
      = host_path (ctx->roots, HOST_ROOT_SYS, "%s%s/memory.stat", ctx->cgroup2_subdir, cgroup);
  g_autofree char *current_path
      = host_path (ctx->roots, HOST_ROOT_SYS, "%s%s/memory.current", ctx->cgroup2_subdir, cgroup);
  g_autofree char *stat_text = NULL;
  g_autofree char *current_text = NULL;
  uint64_t current;

  memset (out, 0, sizeof *out);
  if (host_read_text (current_path, &current_text, NULL, NULL)
      && host_parse_u64 (current_text, &current))
    out->current_bytes = (PolicyStat){ .present = true, .value = current };
  /* No memory.stat: the memory controller is not enabled for this cgroup. */
  if (!host_read_text (stat_path, &stat_text, &len, NULL))
    return out->current_bytes.present;
  if (!proc_memory_stat_parse (stat_text, len, out, &error))
    g_debug ("%s: %s", stat_path, error->message);
  return TRUE;
}

gboolean
proc_cost_read (ProcCtx *ctx, pid_t pid, ProcCost *out, GError **error)
{
  g_autofree char *path = host_path (ctx->roots, HOST_ROOT_PROC, "%d/smaps_rollup", (int) pid);
  g_autofree char *text = NULL;
  gsize len = 0;

  memset (out, 0, sizeof *out);
  if (pid <= 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid pid %d", (int) pid);
      return FALSE;
    }
  if (!host_read_text (path, &text, &len, error))
    return FALSE;
  if (!proc_smaps_rollup_parse (text, len, &out->smaps, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  proc_read_ksm_stat (ctx, pid, &out->ksm);
  out->in_cgroup = proc_read_cgroup (ctx, pid, &out->cgroup);
  return TRUE;
}

void
proc_rss_file_close (ProcRssFile *file)
{
  if (file->fd >= 0)
    close (file->fd);
  *file = (ProcRssFile) PROC_RSS_FILE_INIT;
}

/* statm is seven numbers on one line: a read that fills this is not statm. */
#define PROC_STATM_MAX_BYTES 256

static char *
proc_statm_path (ProcCtx *ctx, pid_t pid)
{
  return host_path (ctx->roots, HOST_ROOT_PROC, "%d/statm", (int) pid);
}

gboolean
proc_rss_read (ProcCtx *ctx, ProcRssFile *file, pid_t pid, uint64_t *out_bytes, GError **error)
{
  char text[PROC_STATM_MAX_BYTES + 1];
  long page = sysconf (_SC_PAGESIZE);

  if (file->fd >= 0 && file->pid != pid)
    proc_rss_file_close (file);
  if (file->fd < 0)
    {
      g_autofree char *path = proc_statm_path (ctx, pid);
      file->fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      if (file->fd < 0)
        return host_set_errno_error (error, errno, "opening", path);
      file->pid = pid;
    }
  /* The kernel makes the whole line again for each read from offset 0. */
  ssize_t n;
  do
    n = pread (file->fd, text, sizeof text, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0 || n > PROC_STATM_MAX_BYTES)
    {
      int saved_errno = n < 0 ? errno : EINVAL;
      g_autofree char *path = proc_statm_path (ctx, pid);
      /* A process gone reads ESRCH (or nothing) for good; its PID may come
       * back as another process, opened afresh. */
      proc_rss_file_close (file);
      return host_set_errno_error (error, saved_errno, "reading", path);
    }
  if (!proc_statm_rss_parse (text, (gsize) n, page > 0 ? (uint64_t) page : 4096u, out_bytes,
                             error))
    {
      g_autofree char *path = proc_statm_path (ctx, pid);
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

pid_t
proc_peer_pid_fd (int fd, GError **error)
{
  struct ucred cred = { 0 };
  socklen_t cred_len = sizeof cred;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0)
    {
      int saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "SO_PEERCRED: %s",
                   g_strerror (saved_errno));
      return -1;
    }
  /* An unconnected socket or a peer in another PID namespace reads as 0. */
  if (cred_len != sizeof cred || cred.pid <= 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "SO_PEERCRED: no peer process");
      return -1;
    }
  return cred.pid;
}

pid_t
proc_peer_pid (GSocket *socket, GError **error)
{
  g_autoptr (GCredentials) creds = g_socket_get_credentials (socket, error);
  if (creds == NULL)
    return -1;
  pid_t pid = g_credentials_get_unix_pid (creds, error);
  if (pid <= 0)
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                             "peer credentials: no process");
      return -1;
    }
  return pid;
}
