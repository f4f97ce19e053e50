/* ksm.c: KSM sysfs reader and writer (probe once which files exist, write
 * only changes, remember originals and restore them), and ksmd CPU time. */
#define G_LOG_DOMAIN "ballast-ksm"

#include "ksm.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

#define KSM_KSMD_COMM "ksmd"
/* advisor_mode's only modes so far (Linux 6.9+). */
#define KSM_ADVISOR_NAME_NONE "none"
#define KSM_ADVISOR_NAME_SCAN_TIME "scan-time"
/* The saved originals: {"ksm-dir": DIR, "knobs": {NAME: VALUE, ...}}. */
#define KSM_SAVED_KEY_DIR "ksm-dir"
#define KSM_SAVED_KEY_KNOBS "knobs"
/* Only root (the daemon) needs to read it back. */
#define KSM_SAVED_MODE 0600

typedef enum
{
  KSM_KIND_COUNTER, /* unsigned, read-only */
  KSM_KIND_SIGNED,  /* general_profit can go negative */
  KSM_KIND_KNOB,    /* unsigned, writable */
  KSM_KIND_ADVISOR, /* "[none] scan-time" */
} KsmKind;

/* The knobs this actuator writes come first, in the order they are written
 * and restored: the scan rate before `run`, so ksmd never runs (or keeps
 * running) at a rate nobody chose. */
typedef enum
{
  KSM_F_ADVISOR_TARGET_SCAN_TIME,
  KSM_F_ADVISOR_MAX_CPU,
  KSM_F_PAGES_TO_SCAN,
  KSM_F_SLEEP_MILLISECS,
  KSM_F_RUN,
  KSM_F_N_WRITABLE,
  KSM_F_ADVISOR_MODE = KSM_F_N_WRITABLE,
  KSM_F_PAGES_SHARED,
  KSM_F_PAGES_SHARING,
  KSM_F_PAGES_UNSHARED,
  KSM_F_PAGES_VOLATILE,
  KSM_F_PAGES_SCANNED,
  KSM_F_FULL_SCANS,
  KSM_F_GENERAL_PROFIT,
  KSM_F_KSM_ZERO_PAGES,
  /* The files above feed PolicyKsm and are read every tick; those below
   * only when asked for (ksm_get): 24 sysfs opens a tick were 5 % of
   * ballastd's CPU with 1,000 quiet VMs. */
  KSM_F_N_TICK,
  KSM_F_PAGES_SKIPPED = KSM_F_N_TICK,
  KSM_F_STABLE_NODE_CHAINS,
  KSM_F_STABLE_NODE_DUPS,
  KSM_F_MERGE_ACROSS_NODES,
  KSM_F_USE_ZERO_PAGES,
  KSM_F_SMART_SCAN,
  KSM_F_MAX_PAGE_SHARING,
  KSM_F_STABLE_NODE_CHAINS_PRUNE_MILLISECS,
  KSM_F_ADVISOR_MIN_PAGES_TO_SCAN,
  KSM_F_ADVISOR_MAX_PAGES_TO_SCAN,
  KSM_F_N,
} KsmFile;

typedef struct
{
  const char *name;
  KsmKind kind;
} KsmFileInfo;

static const KsmFileInfo ksm_files[KSM_F_N] = {
  [KSM_F_ADVISOR_TARGET_SCAN_TIME] = { "advisor_target_scan_time", KSM_KIND_KNOB },
  [KSM_F_ADVISOR_MAX_CPU] = { "advisor_max_cpu", KSM_KIND_KNOB },
  [KSM_F_PAGES_TO_SCAN] = { "pages_to_scan", KSM_KIND_KNOB },
  [KSM_F_SLEEP_MILLISECS] = { "sleep_millisecs", KSM_KIND_KNOB },
  [KSM_F_RUN] = { "run", KSM_KIND_KNOB },
  [KSM_F_ADVISOR_MODE] = { "advisor_mode", KSM_KIND_ADVISOR },
  [KSM_F_PAGES_SHARED] = { "pages_shared", KSM_KIND_COUNTER },
  [KSM_F_PAGES_SHARING] = { "pages_sharing", KSM_KIND_COUNTER },
  [KSM_F_PAGES_UNSHARED] = { "pages_unshared", KSM_KIND_COUNTER },
  [KSM_F_PAGES_VOLATILE] = { "pages_volatile", KSM_KIND_COUNTER },
  [KSM_F_PAGES_SCANNED] = { "pages_scanned", KSM_KIND_COUNTER },
  [KSM_F_PAGES_SKIPPED] = { "pages_skipped", KSM_KIND_COUNTER },
  [KSM_F_FULL_SCANS] = { "full_scans", KSM_KIND_COUNTER },
  [KSM_F_GENERAL_PROFIT] = { "general_profit", KSM_KIND_SIGNED },
  [KSM_F_KSM_ZERO_PAGES] = { "ksm_zero_pages", KSM_KIND_COUNTER },
  [KSM_F_STABLE_NODE_CHAINS] = { "stable_node_chains", KSM_KIND_COUNTER },
  [KSM_F_STABLE_NODE_DUPS] = { "stable_node_dups", KSM_KIND_COUNTER },
  [KSM_F_MERGE_ACROSS_NODES] = { "merge_across_nodes", KSM_KIND_KNOB },
  [KSM_F_USE_ZERO_PAGES] = { "use_zero_pages", KSM_KIND_KNOB },
  [KSM_F_SMART_SCAN] = { "smart_scan", KSM_KIND_KNOB },
  [KSM_F_MAX_PAGE_SHARING] = { "max_page_sharing", KSM_KIND_KNOB },
  [KSM_F_STABLE_NODE_CHAINS_PRUNE_MILLISECS]
  = { "stable_node_chains_prune_millisecs", KSM_KIND_KNOB },
  [KSM_F_ADVISOR_MIN_PAGES_TO_SCAN] = { "advisor_min_pages_to_scan", KSM_KIND_KNOB },
  [KSM_F_ADVISOR_MAX_PAGES_TO_SCAN] = { "advisor_max_pages_to_scan", KSM_KIND_KNOB },
};

struct _KsmCtx
{
  HostRoots *roots;
  gboolean probed;
  gboolean present;
  gboolean exists[KSM_F_N];
  gboolean have_value[KSM_F_N];
  int64_t value[KSM_F_N]; /* last read or written; advisor_mode as PolicyKsmAdvisor */
  gboolean have_original[KSM_F_N_WRITABLE];
  int64_t original[KSM_F_N_WRITABLE];
  char *saved_path; /* the originals' file, NULL: memory only */
  /* In dry-run nothing changes, so the same "would write" comes every
   * tick: logged when it differs from the last one only. */
  gboolean have_dry_logged[KSM_F_N_WRITABLE];
  uint32_t dry_logged[KSM_F_N_WRITABLE];
  pid_t ksmd_pid;
  gboolean ksmd_scanned;
  guint reads_since_scan;
  long ticks_per_s;
  uint64_t page_size_bytes;
};

KsmCtx *
ksm_ctx_new (const HostRoots *roots)
{
  KsmCtx *ctx = g_new0 (KsmCtx, 1);
  ctx->roots = host_roots_copy (roots);
  ctx->ticks_per_s = sysconf (_SC_CLK_TCK);
  long page_size = sysconf (_SC_PAGESIZE);
  ctx->page_size_bytes = page_size > 0 ? (uint64_t) page_size : 4096;
  return ctx;
}

void
ksm_ctx_free (KsmCtx *ctx)
{
  if (ctx == NULL)
    return;
  host_roots_free (ctx->roots);
  g_free (ctx->saved_path);
  g_free (ctx);
}

gboolean
ksm_advisor_parse (const char *text, PolicyKsmAdvisor *out)
{
  g_autofree char *copy = g_strdup (text);
  g_auto (GStrv) words = g_strsplit_set (g_strstrip (copy), " \t\n", -1);
  const char *active = NULL;
  for (guint i = 0; words[i] != NULL; i++)
    {
      gsize len = strlen (words[i]);
      if (len < 2 || words[i][0] != '[' || words[i][len - 1] != ']')
        continue;
      if (active != NULL)
        return FALSE; /* two active modes: not a kernel's output */
      words[i][len - 1] = '\0';
      active = words[i] + 1;
    }
  if (active == NULL)
    return FALSE;
  if (strcmp (active, KSM_ADVISOR_NAME_NONE) == 0)
    *out = POLICY_KSM_ADVISOR_NONE;
  else if (strcmp (active, KSM_ADVISOR_NAME_SCAN_TIME) == 0)
    *out = POLICY_KSM_ADVISOR_SCAN_TIME;
  else
    return FALSE;
  return TRUE;
}

static void
ksm_probe (KsmCtx *ctx)
{
  if (ctx->probed)
    return;
  ctx->probed = TRUE;
  ctx->present = g_file_test (ctx->roots->ksm_dir, G_FILE_TEST_IS_DIR);
  if (!ctx->present)
    {
      g_info ("no KSM at %s: KSM is neither read nor driven", ctx->roots->ksm_dir);
      return;
    }
  for (int i = 0; i < KSM_F_N; i++)
    {
      g_autofree char *path = host_path (ctx->roots, HOST_ROOT_KSM, "%s", ksm_files[i].name);
      ctx->exists[i] = g_file_test (path, G_FILE_TEST_EXISTS);
      if (!ctx->exists[i])
        g_debug ("%s missing (older kernel?): tolerated", path);
    }
}

/* Reads one file into ctx->value. On failure, the previous value stays. */
static gboolean
ksm_refresh (KsmCtx *ctx, KsmFile f, GError **error)
{
  g_autofree char *path = host_path (ctx->roots, HOST_ROOT_KSM, "%s", ksm_files[f].name);
  g_autofree char *text = NULL;
  g_autoptr (GError) local_error = NULL;
  int64_t value = 0;
  gboolean ok;

  if (!host_read_text (path, &text, NULL, &local_error))
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          g_debug ("%s vanished: no longer read", path);
          ctx->exists[f] = FALSE;
          ctx->have_value[f] = FALSE;
        }
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  switch (ksm_files[f].kind)
    {
      case KSM_KIND_ADVISOR:
        {
          PolicyKsmAdvisor advisor = POLICY_KSM_ADVISOR_ABSENT;
          ok = ksm_advisor_parse (text, &advisor);
          value = advisor;
          break;
        }
      case KSM_KIND_SIGNED:
        ok = host_parse_i64 (text, &value);
        break;
      case KSM_KIND_COUNTER:
      case KSM_KIND_KNOB:
      default:
        {
          uint64_t u = 0;
          ok = host_parse_u64 (text, &u) && u <= G_MAXINT64;
          value = (int64_t) u;
          break;
        }
    }
  if (!ok)
    {
      g_autofree char *shown = g_strescape (g_strchomp (text), NULL);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: unexpected content \"%.64s\"",
                   path, shown);
      return FALSE;
    }
  ctx->value[f] = value;
  ctx->have_value[f] = TRUE;
  return TRUE;
}

static uint64_t
ksm_u64 (const KsmCtx *ctx, KsmFile f)
{
  return ctx->exists[f] && ctx->have_value[f] && ctx->value[f] > 0 ? (uint64_t) ctx->value[f] : 0;
}

static uint32_t
ksm_u32 (const KsmCtx *ctx, KsmFile f)
{
  return (uint32_t) MIN (ksm_u64 (ctx, f), G_MAXUINT32);
}

static PolicyKsmAdvisor
ksm_advisor (const KsmCtx *ctx)
{
  if (!ctx->exists[KSM_F_ADVISOR_MODE] || !ctx->have_value[KSM_F_ADVISOR_MODE])
    return POLICY_KSM_ADVISOR_ABSENT;
  return (PolicyKsmAdvisor) ctx->value[KSM_F_ADVISOR_MODE];
}

static gboolean
ksm_ksmd_valid (KsmCtx *ctx, pid_t pid, ProcStat *st)
{
  return proc_stat_read (ctx->roots, pid, st, NULL) && strcmp (st->comm, KSM_KSMD_COMM) == 0
         && (st->flags & PROC_PF_KTHREAD) != 0;
}

static void
ksm_keep_first_error (GError **error, GError **local_error)
{
  if (error != NULL && *error == NULL)
    g_propagate_error (error, g_steal_pointer (local_error));
  else
    g_clear_error (local_error);
}

static PolicyStat
ksm_read_ksmd_cpu (KsmCtx *ctx)
{
  ProcStat st = { 0 };
  if (ctx->ksmd_pid > 0 && !ksm_ksmd_valid (ctx, ctx->ksmd_pid, &st))
    {
      g_debug ("ksmd (pid %d) is gone; looking for it again", (int) ctx->ksmd_pid);
      ctx->ksmd_pid = 0;
      ctx->ksmd_scanned = FALSE;
    }
  if (ctx->ksmd_pid == 0)
    {
      if (ctx->ksmd_scanned && ++ctx->reads_since_scan < KSM_KSMD_RESCAN_READS)
        return (PolicyStat){ 0 };
      ctx->ksmd_scanned = TRUE;
      ctx->reads_since_scan = 0;
      ctx->ksmd_pid = proc_find_kthread (ctx->roots, KSM_KSMD_COMM);
      if (ctx->ksmd_pid == 0 || !ksm_ksmd_valid (ctx, ctx->ksmd_pid, &st))
        {
          ctx->ksmd_pid = 0;
          return (PolicyStat){ 0 };
        }
    }
  uint64_t ticks = st.utime_ticks > G_MAXUINT64 - st.stime_ticks ? G_MAXUINT64
                                                                 : st.utime_ticks + st.stime_ticks;
  return (PolicyStat){ .present = true, .value = proc_ticks_to_ns (ticks, ctx->ticks_per_s) };
}

gboolean
ksm_read (KsmCtx *ctx, PolicyKsm *out, GError **error)
{
  memset (out, 0, sizeof *out);
  ksm_probe (ctx);
  if (!ctx->present)
    return TRUE;

  GError *first_error = NULL;
  for (int i = 0; i < KSM_F_N_TICK; i++)
    {
      GError *local_error = NULL;
      if (ctx->exists[i] && !ksm_refresh (ctx, (KsmFile) i, &local_error))
        ksm_keep_first_error (&first_error, &local_error);
    }

  out->present = true;
  out->page_size_bytes = ctx->page_size_bytes;
  out->pages_shared = ksm_u64 (ctx, KSM_F_PAGES_SHARED);
  out->pages_sharing = ksm_u64 (ctx, KSM_F_PAGES_SHARING);
  out->pages_unshared = ksm_u64 (ctx, KSM_F_PAGES_UNSHARED);
  out->pages_volatile = ksm_u64 (ctx, KSM_F_PAGES_VOLATILE);
  out->pages_scanned = ksm_u64 (ctx, KSM_F_PAGES_SCANNED);
  out->full_scans = ksm_u64 (ctx, KSM_F_FULL_SCANS);
  out->ksm_zero_pages = ksm_u64 (ctx, KSM_F_KSM_ZERO_PAGES);
  out->general_profit_bytes
      = ctx->exists[KSM_F_GENERAL_PROFIT] && ctx->have_value[KSM_F_GENERAL_PROFIT]
            ? ctx->value[KSM_F_GENERAL_PROFIT]
            : 0;
  out->run = ksm_u32 (ctx, KSM_F_RUN);
  out->pages_to_scan = ksm_u32 (ctx, KSM_F_PAGES_TO_SCAN);
  out->sleep_millisecs = ksm_u32 (ctx, KSM_F_SLEEP_MILLISECS);
  out->advisor_mode = ksm_advisor (ctx);
  out->advisor_target_scan_time_s = ksm_u32 (ctx, KSM_F_ADVISOR_TARGET_SCAN_TIME);
  out->advisor_max_cpu_pct = ksm_u32 (ctx, KSM_F_ADVISOR_MAX_CPU);
  out->ksmd_cpu_ns = ksm_read_ksmd_cpu (ctx);
  if (first_error != NULL)
    {
      g_propagate_error (error, first_error);
      return FALSE;
    }
  return TRUE;
}

static int
ksm_lookup (const char *name)
{
  for (int i = 0; i < KSM_F_N; i++)
    if (strcmp (ksm_files[i].name, name) == 0)
      return i;
  return -1;
}

gboolean
ksm_get (KsmCtx *ctx, const char *name, int64_t *out)
{
  int f = ksm_lookup (name);
  ksm_probe (ctx);
  if (f < 0 || !ctx->exists[f])
    return FALSE;
  if (f >= KSM_F_N_TICK && !ksm_refresh (ctx, (KsmFile) f, NULL))
    return FALSE;
  if (!ctx->have_value[f])
    return FALSE;
  *out = ctx->value[f];
  return TRUE;
}

gboolean
ksm_has (KsmCtx *ctx, const char *name)
{
  int f = ksm_lookup (name);
  ksm_probe (ctx);
  return f >= 0 && ctx->exists[f];
}

int
ksm_ksmd_pid (KsmCtx *ctx)
{
  return ctx->ksmd_pid;
}

static gboolean
ksm_write (KsmCtx *ctx, KsmFile f, int64_t value, GError **error)
{
  g_autofree char *path = host_path (ctx->roots, HOST_ROOT_KSM, "%s", ksm_files[f].name);
  g_autofree char *text = g_strdup_printf ("%" PRId64 "\n", value);
  if (!host_write_text (path, text, error))
    {
      g_prefix_error (error, "KSM: setting %s to %" PRId64 ": ", ksm_files[f].name, value);
      return FALSE;
    }
  ctx->value[f] = value;
  ctx->have_value[f] = TRUE;
  return TRUE;
}

void
ksm_set_saved_path (KsmCtx *ctx, const char *path)
{
  g_free (ctx->saved_path);
  ctx->saved_path = g_strdup (path);
}

/* Writes every original to the saved file (atomically: a crash mid-write
 * leaves the previous file). */
static gboolean
ksm_save_originals (KsmCtx *ctx, GError **error)
{
  if (ctx->saved_path == NULL)
    return TRUE;
  json_t *knobs = json_object ();
  for (int f = 0; f < KSM_F_N_WRITABLE; f++)
    if (ctx->have_original[f])
      json_object_set_new (knobs, ksm_files[f].name, json_integer (ctx->original[f]));
  json_t *root
      = json_pack ("{s:s,s:o}", KSM_SAVED_KEY_DIR, ctx->roots->ksm_dir, KSM_SAVED_KEY_KNOBS, knobs);
  char *text = json_dumps (root, JSON_SORT_KEYS);
  json_decref (root);
  g_autofree char *dir = g_path_get_dirname (ctx->saved_path);
  g_mkdir_with_parents (dir, 0755);
  gboolean ok = text != NULL
                && g_file_set_contents_full (ctx->saved_path, text, -1,
                                             G_FILE_SET_CONTENTS_CONSISTENT, KSM_SAVED_MODE, error);
  free (text);
  if (!ok && error != NULL && *error == NULL)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot encode the originals");
  return ok;
}

/* Remembers knob f's value as its original, on disk before the write: a
 * knob whose original could not be saved is not written. */
static gboolean
ksm_keep_original (KsmCtx *ctx, KsmFile f, GError **error)
{
  ctx->original[f] = ctx->value[f];
  ctx->have_original[f] = TRUE;
  if (ksm_save_originals (ctx, error))
    return TRUE;
  ctx->have_original[f] = FALSE;
  g_prefix_error (error, "KSM: %s not set: saving its original to %s: ", ksm_files[f].name,
                  ctx->saved_path);
  return FALSE;
}

gboolean
ksm_apply (KsmCtx *ctx, const PolicyKsmDecision *d, gboolean dry_run, guint *out_n_changed,
           GError **error)
{
  GError *first_error = NULL;
  guint n_changed = 0;

  if (out_n_changed != NULL)
    *out_n_changed = 0;
  ksm_probe (ctx);
  if (!ctx->present)
    return TRUE;
  if (ctx->exists[KSM_F_ADVISOR_MODE] && !ctx->have_value[KSM_F_ADVISOR_MODE])
    (void) ksm_refresh (ctx, KSM_F_ADVISOR_MODE, NULL);
  gboolean advisor_on = ksm_advisor (ctx) == POLICY_KSM_ADVISOR_SCAN_TIME;

  struct
  {
    gboolean set;
    uint32_t value;
  } want[KSM_F_N_WRITABLE] = {
    [KSM_F_ADVISOR_TARGET_SCAN_TIME]
    = { d->set_advisor && advisor_on, d->advisor_target_scan_time_s },
    [KSM_F_ADVISOR_MAX_CPU] = { d->set_advisor && advisor_on, d->advisor_max_cpu_pct },
    [KSM_F_PAGES_TO_SCAN] = { d->set_pages_to_scan && !advisor_on, d->pages_to_scan },
    [KSM_F_SLEEP_MILLISECS] = { d->set_sleep_millisecs, d->sleep_millisecs },
    [KSM_F_RUN] = { d->set_run, d->run },
  };
  g_autofree char *why = d->reason != NULL && d->reason[0] != '\0'
                             ? g_strdup_printf (" (%s)", d->reason)
                             : g_strdup ("");

  for (int f = 0; f < KSM_F_N_WRITABLE; f++)
    {
      GError *local_error = NULL;
      const char *name = ksm_files[f].name;
      if (!want[f].set)
        continue;
      if (!ctx->exists[f])
        {
          g_debug ("KSM: %s does not exist on this kernel; not set", name);
          continue;
        }
      if (!ctx->have_value[f] && !ksm_refresh (ctx, (KsmFile) f, &local_error))
        {
          ksm_keep_first_error (&first_error, &local_error);
          continue;
        }
      if (ctx->value[f] == (int64_t) want[f].value)
        continue;
      n_changed++;
      if (dry_run)
        {
          if (!ctx->have_dry_logged[f] || ctx->dry_logged[f] != want[f].value)
            g_message ("KSM (dry-run): %s %" PRId64 " -> %u not written%s", name, ctx->value[f],
                       want[f].value, why);
          ctx->have_dry_logged[f] = TRUE;
          ctx->dry_logged[f] = want[f].value;
          continue;
        }
      if (!ctx->have_original[f] && !ksm_keep_original (ctx, (KsmFile) f, &local_error))
        {
          n_changed--;
          ksm_keep_first_error (&first_error, &local_error);
          continue;
        }
      int64_t old = ctx->value[f];
      if (!ksm_write (ctx, (KsmFile) f, want[f].value, &local_error))
        {
          n_changed--;
          ksm_keep_first_error (&first_error, &local_error);
          continue;
        }
      g_message ("KSM: %s %" PRId64 " -> %u%s", name, old, want[f].value, why);
    }
  if (out_n_changed != NULL)
    *out_n_changed = n_changed;
  if (first_error != NULL)
    {
      g_propagate_error (error, first_error);
      return FALSE;
    }
  return TRUE;
}

gboolean
ksm_restore (KsmCtx *ctx, GError **error)
{
  GError *first_error = NULL;

  if (!ctx->present)
    return TRUE;
  if (ctx->exists[KSM_F_ADVISOR_MODE])
    (void) ksm_refresh (ctx, KSM_F_ADVISOR_MODE, NULL);
  for (int f = 0; f < KSM_F_N_WRITABLE; f++)
    {
      GError *local_error = NULL;
      const char *name = ksm_files[f].name;
      if (!ctx->have_original[f])
        continue;
      /* Someone switched the advisor on meanwhile: it owns pages_to_scan now
       * and the kernel would refuse the write. */
      if (f == KSM_F_PAGES_TO_SCAN && ksm_advisor (ctx) == POLICY_KSM_ADVISOR_SCAN_TIME)
        {
          g_message ("KSM: advisor active, pages_to_scan left to it (was %" PRId64 ")",
                     ctx->original[f]);
          ctx->have_original[f] = FALSE;
          continue;
        }
      /* Fresh read: restore compares with what is there now, not a cache. */
      if (ctx->exists[f] && ksm_refresh (ctx, (KsmFile) f, NULL)
          && ctx->value[f] == ctx->original[f])
        {
          ctx->have_original[f] = FALSE;
          continue;
        }
      int64_t old = ctx->value[f];
      if (!ksm_write (ctx, (KsmFile) f, ctx->original[f], &local_error))
        {
          ksm_keep_first_error (&first_error, &local_error);
          continue;
        }
      g_message ("KSM: restored %s %" PRId64 " -> %" PRId64, name, old, ctx->original[f]);
      ctx->have_original[f] = FALSE;
    }
  if (first_error != NULL)
    {
      g_propagate_error (error, first_error);
      return FALSE;
    }
  /* Everything is back: nothing is left for a later run to repair. */
  if (ctx->saved_path != NULL && g_unlink (ctx->saved_path) != 0 && errno != ENOENT)
    g_warning ("KSM: removing %s: %s", ctx->saved_path, g_strerror (errno));
  return TRUE;
}

guint
ksm_n_saved (KsmCtx *ctx)
{
  guint n = 0;
  for (int f = 0; f < KSM_F_N_WRITABLE; f++)
    n += ctx->have_original[f] ? 1 : 0;
  return n;
}

/* Takes the originals of a saved file's text (those not already known). */
static gboolean
ksm_load_saved (KsmCtx *ctx, const char *text, gboolean *malformed, GError **error)
{
  json_error_t jerr;
  json_t *root = json_loads (text, 0, &jerr);
  const char *dir = json_string_value (json_object_get (root, KSM_SAVED_KEY_DIR));
  json_t *knobs = json_object_get (root, KSM_SAVED_KEY_KNOBS);
  const char *name;
  json_t *value;
  *malformed = TRUE;
  if (dir == NULL || !json_is_object (knobs))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a saved-knobs file",
                   ctx->saved_path);
      json_decref (root);
      return FALSE;
    }
  json_object_foreach (knobs, name, value)
  {
    int f = ksm_lookup (name);
    if (f < 0 || f >= KSM_F_N_WRITABLE || !json_is_integer (value)
        || json_integer_value (value) < 0)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: bad knob \"%.64s\"",
                     ctx->saved_path, name);
        json_decref (root);
        return FALSE;
      }
  }
  *malformed = FALSE;
  if (g_strcmp0 (dir, ctx->roots->ksm_dir) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s holds the knobs of %.256s, not of %s: left alone", ctx->saved_path, dir,
                   ctx->roots->ksm_dir);
      json_decref (root);
      return FALSE;
    }
  json_object_foreach (knobs, name, value)
  {
    int f = ksm_lookup (name);
    if (!ctx->have_original[f])
      {
        ctx->original[f] = json_integer_value (value);
        ctx->have_original[f] = TRUE;
      }
  }
  json_decref (root);
  return TRUE;
}

gboolean
ksm_recover_saved (KsmCtx *ctx, guint *out_n_restored, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  gboolean malformed = FALSE;

  *out_n_restored = 0;
  if (ctx->saved_path == NULL)
    return TRUE;
  if (!g_file_get_contents (ctx->saved_path, &text, NULL, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "KSM: saved knobs: ");
      return FALSE;
    }
  if (!ksm_load_saved (ctx, text, &malformed, error))
    {
      if (malformed)
        g_unlink (ctx->saved_path);
      return FALSE;
    }
  ksm_probe (ctx);
  guint n = ksm_n_saved (ctx);
  if (!ksm_restore (ctx, error))
    return FALSE;
  *out_n_restored = n;
  return TRUE;
}
