/* release.c: the I/O of giving memory back at stop: a blocking QMP link to
 * each VM (several at once, so hung QEMUs cost the bound once, not each),
 * the host's free memory, policy_release_plan, the balloon commands. */
#define G_LOG_DOMAIN "ballast"

#include "release.h"

#include <jansson.h>

#include "qmp-replies.h"
#include "qmp-sync.h"
#include "vmdir.h"

/* Below this much time left a QMP exchange is not worth starting. */
#define RELEASE_MIN_SLICE_MS 100
/* QEMUs talked to at once: enough that a few hung ones do not hold the
 * others back, few enough to stay a small burst of threads. */
#define RELEASE_MAX_PARALLEL 16

typedef struct
{
  char *name;
  char *qmp_path;
  PolicyVmConfig policy;
  gint64 deadline_mono_us;
  QmpSync *qmp;          /* set once reached */
  int pid;               /* its QEMU (the socket's peer), 0 if unknown */
  PolicyReleaseVm vm;    /* its balloon and max, once reached */
  uint64_t target_bytes; /* the plan */
  gboolean sent;         /* the balloon command was accepted */
  GError *error;         /* why it was not reached, or not released */
} ReleaseVm;

static void
release_vm_free (gpointer p)
{
  ReleaseVm *v = p;
  g_free (v->name);
  g_free (v->qmp_path);
  g_clear_pointer (&v->qmp, qmp_sync_free);
  g_clear_error (&v->error);
  g_free (v);
}

/* The time the next QMP exchange may take; 0 once past the deadline. */
static guint
release_slice_ms (const ReleaseVm *v)
{
  gint64 left_ms = (v->deadline_mono_us - g_get_monotonic_time ()) / 1000;
  return left_ms < RELEASE_MIN_SLICE_MS ? 0 : (guint) MIN (left_ms, RELEASE_VM_TIMEOUT_MS);
}

static gboolean
release_in_time (const ReleaseVm *v, GError **error)
{
  if (release_slice_ms (v) > 0)
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "out of time");
  return FALSE;
}

/* The balloon's size and the VM's max (from its RAM and its policy). */
static gboolean
release_query (ReleaseVm *v, GError **error)
{
  guint64 actual_bytes = 0, ram_bytes = 0;
  if (!qmp_sync_query_balloon (v->qmp, &actual_bytes, error))
    return FALSE;
  json_t *mem = qmp_sync_execute (v->qmp, "query-memory-size-summary", NULL, error);
  gboolean ok = mem != NULL && qmp_parse_memory_size (mem, &ram_bytes, error);
  json_decref (mem);
  if (!ok)
    return FALSE;
  PolicyVm pvm = { .cfg = v->policy, .ram_bytes = ram_bytes };
  uint64_t min_bytes;
  v->vm.actual_bytes = actual_bytes;
  policy_vm_limits (&pvm, &min_bytes, &v->vm.max_bytes);
  return TRUE;
}

/* Worker: connects and queries one VM. */
static void
release_reach (gpointer data, gpointer unused)
{
  ReleaseVm *v = data;
  if (!release_in_time (v, &v->error))
    return;
  v->qmp = qmp_sync_connect (v->qmp_path, release_slice_ms (v), &v->error);
  if (v->qmp != NULL && !release_query (v, &v->error))
    g_clear_pointer (&v->qmp, qmp_sync_free);
  if (v->qmp != NULL)
    v->pid = qmp_client_get_peer_pid (qmp_sync_get_client (v->qmp));
}

/* Worker: sends one VM its planned balloon. */
static void
release_send (gpointer data, gpointer unused)
{
  ReleaseVm *v = data;
  if (v->qmp == NULL || v->target_bytes <= v->vm.actual_bytes || !release_in_time (v, &v->error))
    return;
  v->sent = qmp_sync_set_balloon (v->qmp, v->target_bytes, &v->error);
}

/* Runs `fn` on every VM, RELEASE_MAX_PARALLEL at a time; returns when all
 * are done (each is bounded by its deadline and QMP timeouts). */
static void
release_each (GPtrArray *vms, GFunc fn)
{
  if (vms->len == 0)
    return;
  GThreadPool *pool
      = g_thread_pool_new (fn, NULL, MIN (vms->len, RELEASE_MAX_PARALLEL), FALSE, NULL);
  for (guint i = 0; i < vms->len; i++)
    g_thread_pool_push (pool, g_ptr_array_index (vms, i), NULL);
  g_thread_pool_free (pool, FALSE, TRUE);
}

typedef struct
{
  const BallastConfig *cfg;
  gint64 deadline_mono_us;
  GPtrArray *vms;    /* ReleaseVm* */
  GHashTable *names; /* every name seen: the first source keeps it, as in the daemon */
} Release;

static void
release_add (Release *r, const char *name, const char *qmp_path)
{
  if (g_hash_table_contains (r->names, name))
    return;
  g_hash_table_add (r->names, g_strdup (name));
  ReleaseVm *v = g_new0 (ReleaseVm, 1);
  cfg_vm_policy (r->cfg, name, &v->policy);
  /* ballast never ballooned these: nothing of theirs to give back. */
  if (v->policy.mode == POLICY_VM_MODE_OBSERVE || v->policy.mode == POLICY_VM_MODE_OFF)
    {
      g_free (v);
      return;
    }
  v->name = g_strdup (name);
  v->qmp_path = g_strdup (qmp_path);
  v->deadline_mono_us = r->deadline_mono_us;
  g_ptr_array_add (r->vms, v);
}

static void
release_on_dir (const char *name, const char *qmp_path, const char *agent_path, gboolean present,
                gpointer data)
{
  release_add (data, name, qmp_path);
}

/* Plans over the VMs reached, each counted at what its QEMU holds. */
static void
release_plan (GPtrArray *vms, SampleCtx *sample, uint64_t room_bytes)
{
  g_autoptr (GPtrArray) reached = g_ptr_array_new ();
  for (guint i = 0; i < vms->len; i++)
    if (((ReleaseVm *) g_ptr_array_index (vms, i))->qmp != NULL)
      g_ptr_array_add (reached, g_ptr_array_index (vms, i));
  g_autofree PolicyReleaseVm *in = g_new0 (PolicyReleaseVm, MAX (reached->len, 1));
  g_autofree uint64_t *targets_bytes = g_new0 (uint64_t, MAX (reached->len, 1));
  for (guint i = 0; i < reached->len; i++)
    {
      ReleaseVm *v = g_ptr_array_index (reached, i);
      SampleVmCost cost;
      sample_vm_process (sample, v->pid, &cost);
      v->vm.pss_bytes = cost.pss_bytes;
      in[i] = v->vm;
    }
  policy_release_plan (in, reached->len, room_bytes, targets_bytes);
  for (guint i = 0; i < reached->len; i++)
    ((ReleaseVm *) g_ptr_array_index (reached, i))->target_bytes = targets_bytes[i];
}

/* One line per VM; returns TRUE when every VM is at its max. */
static gboolean
release_report (GPtrArray *vms, uint64_t room_bytes)
{
  guint n_reached = 0, n_short = 0;
  uint64_t given_bytes = 0;
  for (guint i = 0; i < vms->len; i++)
    {
      ReleaseVm *v = g_ptr_array_index (vms, i);
      gboolean reached = v->qmp != NULL;
      n_reached += reached;
      if (reached && (v->target_bytes < v->vm.max_bytes || v->error != NULL))
        n_short++;
      if (v->error != NULL)
        g_warning ("%s: not released: %s", v->name, v->error->message);
      if (!v->sent)
        continue;
      given_bytes += v->target_bytes - v->vm.actual_bytes;
      g_message ("%s: released: balloon %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
                 " MiB (max %" G_GUINT64_FORMAT " MiB)",
                 v->name, v->vm.actual_bytes >> 20, v->target_bytes >> 20, v->vm.max_bytes >> 20);
    }
  g_message ("release: %" G_GUINT64_FORMAT " MiB given back to %u VM(s) (%" G_GUINT64_FORMAT
             " MiB free above the reserve); %u short of their max, %u not reached",
             given_bytes >> 20, n_reached, room_bytes >> 20, n_short, vms->len - n_reached);
  return n_short == 0 && n_reached == vms->len;
}

gboolean
release_run (const BallastConfig *cfg, SampleCtx *sample, guint deadline_ms)
{
  Release r = {
    .cfg = cfg,
    .deadline_mono_us = g_get_monotonic_time () + (gint64) deadline_ms * 1000,
    .vms = g_ptr_array_new_with_free_func (release_vm_free),
    .names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
  };
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, cfg->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (((CfgVm *) v)->qmp_path != NULL)
      release_add (&r, k, ((CfgVm *) v)->qmp_path);
  g_autoptr (GError) error = NULL;
  /* Its paths go through the checked directory: kept open until the end. */
  VmDir *dir = cfg->qmp_dir ? vmdir_snapshot (cfg->qmp_dir, release_on_dir, &r, &error) : NULL;
  if (error != NULL)
    g_warning ("release: qmp-dir: %s", error->message);
  if (cfg->libvirt_uri != NULL)
    g_message ("release: libvirt domains keep their balloon (docs/safety.md)");

  release_each (r.vms, release_reach);
  PolicyHost host;
  sample_host (sample, &host);
  uint64_t room_bytes = policy_release_room (&host, &cfg->policy);
  release_plan (r.vms, sample, room_bytes);
  release_each (r.vms, release_send);
  vmdir_free (dir);
  gboolean ok = release_report (r.vms, room_bytes);
  g_ptr_array_unref (r.vms);
  g_hash_table_unref (r.names);
  return ok;
}

gboolean
release_after_stop (const BallastConfig *cfg)
{
  /* sample_new() puts back the KSM knobs a killed daemon left. */
  SampleCtx *sample
      = sample_new (cfg->ksm_sysfs, cfg->ksm_restore_on_exit, cfg->ksm_saved_path, FALSE);
  gboolean ok = TRUE;
  if (cfg->release_on_exit && !cfg->dry_run)
    ok = release_run (cfg, sample, RELEASE_DEADLINE_MS);
  sample_free (sample);
  return ok;
}
