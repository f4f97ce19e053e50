/* sample.c: the daemon's glue over the probes library. Probe failures are
 * logged once per kind until they recover, so a broken file cannot flood the
 * journal at the tick rate. */
#define G_LOG_DOMAIN "ballast"

#include "sample.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "config.h"
#include "host.h"
#include "ksm.h"
#include "proc.h"
#include "roots.h"

struct _SampleCtx
{
  HostRoots *roots;
  KsmCtx *ksm;
  ProcCtx *proc;
  gboolean restore_on_exit;
  char *ksm_saved_path; /* originals on disk, set on the KsmCtx once we drive ksmd */
  gboolean host_failing;
  gboolean ksm_failing;
  gboolean ksm_apply_failing;
  /* KSM knobs are host-wide: one daemon drives them, others observe. */
  gboolean ksm_lock_needed;
  int ksm_lock_fd;
  gboolean ksm_lock_refused; /* last attempt found it taken */
  double ksmd_cpu_pct;
  uint64_t last_ksmd_cpu_ns;
  gint64 last_ksmd_mono_us;
};

/* Only for the real sysfs: a test's fake KSM dir is nobody else's. */
#define SAMPLE_KSM_LOCK_DIR BALLAST_RUN_DIR
#define SAMPLE_KSM_LOCK_PATH SAMPLE_KSM_LOCK_DIR "/ksm.lock"

/* A previous daemon killed while ksmd was boosted left its originals on
 * disk: put them back before anything reads the boosted values as the host's. */
static void
sample_ksm_recover (SampleCtx *ctx)
{
  g_autoptr (GError) error = NULL;
  guint n_restored = 0;

  if (ctx->ksm_saved_path == NULL || !g_file_test (ctx->ksm_saved_path, G_FILE_TEST_EXISTS))
    return;
  /* While another daemon drives ksmd, the file is its own. */
  if (!sample_ksm_claim (ctx))
    return;
  if (!ksm_recover_saved (ctx->ksm, &n_restored, &error))
    g_warning ("KSM: restoring the knobs a previous run saved: %s", error->message);
  else if (n_restored > 0)
    g_message ("KSM: %u knob(s) put back from %s (a previous run did not restore them)", n_restored,
               ctx->ksm_saved_path);
}

SampleCtx *
sample_new (const char *ksm_sysfs, gboolean restore_on_exit, const char *ksm_saved_path,
            gboolean dry_run)
{
  SampleCtx *ctx = g_new0 (SampleCtx, 1);

  ctx->roots
      = host_roots_new (g_getenv ("BALLAST_PROC_ROOT"), g_getenv ("BALLAST_SYS_ROOT"), ksm_sysfs);
  ctx->ksm = ksm_ctx_new (ctx->roots);
  ctx->proc = proc_ctx_new (ctx->roots);
  ctx->restore_on_exit = restore_on_exit;
  ctx->ksm_lock_needed
      = g_strcmp0 (ksm_sysfs, CFG_DEFAULT_KSM_SYSFS) == 0 && g_getenv ("BALLAST_SYS_ROOT") == NULL;
  ctx->ksm_lock_fd = -1;
  if (restore_on_exit && ksm_saved_path != NULL && *ksm_saved_path != '\0')
    ctx->ksm_saved_path = g_strdup (ksm_saved_path);
  if (!ctx->ksm_lock_needed)
    ksm_set_saved_path (ctx->ksm, ctx->ksm_saved_path);
  /* A dry run writes nothing, not even a leftover restore: the next live
   * daemon or the stop helper does that. */
  if (!dry_run)
    sample_ksm_recover (ctx);
  return ctx;
}

void
sample_free (SampleCtx *ctx)
{
  g_autoptr (GError) error = NULL;

  if (ctx == NULL)
    return;
  if (ctx->restore_on_exit)
    {
      guint n_saved = ksm_n_saved (ctx->ksm);

      if (!ksm_restore (ctx->ksm, &error))
        g_warning ("KSM restore: %s", error->message);
      else if (n_saved > 0)
        g_message ("KSM: restored %u knob(s) to their values before start", n_saved);
    }
  ksm_ctx_free (ctx->ksm);
  /* Released after the restore, so the next daemon starts from the
   * host's own values. */
  if (ctx->ksm_lock_fd >= 0)
    close (ctx->ksm_lock_fd);
  proc_ctx_free (ctx->proc);
  host_roots_free (ctx->roots);
  g_free (ctx->ksm_saved_path);
  g_free (ctx);
}

/* Logs the first failure of a run of failures and the recovery. */
static void
note_failure (gboolean *failing, const char *what, const GError *error)
{
  if (error != NULL && !*failing)
    g_warning ("%s: %s", what, error->message);
  else if (error == NULL && *failing)
    g_message ("%s: recovered", what);
  *failing = error != NULL;
}

void
sample_host (SampleCtx *ctx, PolicyHost *out)
{
  g_autoptr (GError) error = NULL;

  memset (out, 0, sizeof *out);
  if (!host_read (ctx->roots, out, &error) && error == NULL)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "meminfo unusable");
  note_failure (&ctx->host_failing, "host memory probe", error);
}

void
sample_host_non_vm (PolicyHost *host, uint64_t vm_bytes)
{
  host_set_non_vm_used (host, vm_bytes);
}

static void
sample_ksmd_cpu (SampleCtx *ctx, const PolicyKsm *ksm, gint64 now_mono_us)
{
  if (!ksm->ksmd_cpu_ns.present)
    return;
  uint64_t cpu_ns = ksm->ksmd_cpu_ns.value;
  if (ctx->last_ksmd_mono_us > 0 && now_mono_us > ctx->last_ksmd_mono_us
      && cpu_ns >= ctx->last_ksmd_cpu_ns)
    ctx->ksmd_cpu_pct = 100.0 * (double) (cpu_ns - ctx->last_ksmd_cpu_ns)
                        / ((double) (now_mono_us - ctx->last_ksmd_mono_us) * 1000.0);
  ctx->last_ksmd_cpu_ns = cpu_ns;
  ctx->last_ksmd_mono_us = now_mono_us;
}

void
sample_ksm (SampleCtx *ctx, PolicyKsm *out, gint64 now_mono_us)
{
  g_autoptr (GError) error = NULL;

  memset (out, 0, sizeof *out);
  ksm_read (ctx->ksm, out, &error);
  note_failure (&ctx->ksm_failing, "KSM probe", error);
  sample_ksmd_cpu (ctx, out, now_mono_us);
}

double
sample_ksmd_cpu_pct (const SampleCtx *ctx)
{
  return ctx->ksmd_cpu_pct;
}

gboolean
sample_ksm_claim (SampleCtx *ctx)
{
  if (!ctx->ksm_lock_needed || ctx->ksm_lock_fd >= 0)
    return TRUE;
  g_mkdir_with_parents (SAMPLE_KSM_LOCK_DIR, 0755);
  int fd = open (SAMPLE_KSM_LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      /* Without a lock file we cannot coordinate, but one daemon is the
       * normal case: drive KSM anyway. */
      g_warning ("KSM: %s: %s; not coordinating with other daemons", SAMPLE_KSM_LOCK_PATH,
                 g_strerror (errno));
      ctx->ksm_lock_needed = FALSE;
      return TRUE;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      close (fd);
      if (!ctx->ksm_lock_refused)
        g_warning ("KSM: another ballastd drives ksmd (%s is locked); observing only",
                   SAMPLE_KSM_LOCK_PATH);
      ctx->ksm_lock_refused = TRUE;
      return FALSE;
    }
  if (ctx->ksm_lock_refused)
    g_message ("KSM: the other ballastd is gone; driving ksmd");
  ctx->ksm_lock_refused = FALSE;
  ctx->ksm_lock_fd = fd;
  /* Only the driver keeps (and removes) the originals' file. */
  ksm_set_saved_path (ctx->ksm, ctx->ksm_saved_path);
  return TRUE;
}

gboolean
sample_ksm_driving (SampleCtx *ctx)
{
  return !ctx->ksm_lock_needed || ctx->ksm_lock_fd >= 0;
}

gboolean
sample_ksm_apply (SampleCtx *ctx, const PolicyKsmDecision *d, gboolean dry_run, GError **error)
{
  if (!dry_run && !sample_ksm_claim (ctx))
    return TRUE;
  g_autoptr (GError) local = NULL;
  gboolean ok = ksm_apply (ctx->ksm, d, dry_run, NULL, &local);

  note_failure (&ctx->ksm_apply_failing, "KSM write", local);
  if (!ok)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

gboolean
sample_vm_rss (SampleCtx *ctx, ProcRssFile *file, int pid, guint64 *out_bytes)
{
  uint64_t rss = 0;
  if (pid <= 0 || !proc_rss_read (ctx->proc, file, pid, &rss, NULL))
    return FALSE;
  *out_bytes = rss;
  return TRUE;
}

void
sample_vm_process (SampleCtx *ctx, int pid, SampleVmCost *out)
{
  ProcCost cost;

  memset (out, 0, sizeof *out);
  if (pid <= 0)
    return;
  memset (&cost, 0, sizeof cost);
  /* A process that just exited is normal (the VM goes lost on its socket). */
  if (!proc_cost_read (ctx->proc, pid, &cost, NULL))
    return;
  out->pss_bytes = cost.smaps.pss_bytes;
  out->ksm_merging_pages = cost.ksm.merging_pages;
  /* In the root cgroup the counters are the whole host's, not the VM's. */
  if (cost.in_cgroup)
    out->cgroup_kernel_bytes = cost.cgroup.kernel_bytes;
}
