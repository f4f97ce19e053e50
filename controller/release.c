/* release.c: the I/O of giving memory back at stop: a blocking QMP link to
 * each VM, the host's free memory, policy_release_plan, the balloon commands. */
#define G_LOG_DOMAIN "ballast"

#include "release.h"

#include <jansson.h>

#include "qmp-replies.h"
#include "qmp-sync.h"
#include "vmdir.h"

/* Below this much time left a connection attempt is not worth starting. */
#define RELEASE_MIN_SLICE_MS 100

typedef struct
{
  char *name;
  QmpSync *qmp;
  PolicyReleaseVm vm;
} ReleaseVm;

typedef struct
{
  const BallastConfig *cfg;
  gint64 deadline_mono_us;
  GPtrArray *vms;    /* ReleaseVm*: the VMs reached */
  GHashTable *names; /* every name seen: the first source keeps it, as in the daemon */
  guint n_unreached;
} Release;

static void
release_vm_free (gpointer p)
{
  ReleaseVm *v = p;
  g_free (v->name);
  g_clear_pointer (&v->qmp, qmp_sync_free);
  g_free (v);
}

/* The time the next QMP exchange may take; 0 once past the deadline. */
static guint
release_slice_ms (const Release *r)
{
  gint64 left_ms = (r->deadline_mono_us - g_get_monotonic_time ()) / 1000;
  return left_ms < RELEASE_MIN_SLICE_MS ? 0 : (guint) MIN (left_ms, RELEASE_VM_TIMEOUT_MS);
}

/* The balloon's size and the VM's max (from its RAM and its policy). */
static gboolean
release_query (QmpSync *qmp, const PolicyVmConfig *pc, PolicyReleaseVm *out, GError **error)
{
  guint64 actual_bytes = 0, ram_bytes = 0;
  if (!qmp_sync_query_balloon (qmp, &actual_bytes, error))
    return FALSE;
  json_t *mem = qmp_sync_execute (qmp, "query-memory-size-summary", NULL, error);
  gboolean ok = mem != NULL && qmp_parse_memory_size (mem, &ram_bytes, error);
  json_decref (mem);
  if (!ok)
    return FALSE;
  PolicyVm pvm = { .cfg = *pc, .ram_bytes = ram_bytes };
  uint64_t min_bytes;
  out->actual_bytes = actual_bytes;
  policy_vm_limits (&pvm, &min_bytes, &out->max_bytes);
  return TRUE;
}

static void
release_reach (Release *r, const char *name, const char *qmp_path)
{
  if (g_hash_table_contains (r->names, name))
    return;
  g_hash_table_add (r->names, g_strdup (name));
  PolicyVmConfig pc;
  cfg_vm_policy (r->cfg, name, &pc);
  /* ballast never ballooned these: nothing of theirs to give back. */
  if (pc.mode == POLICY_VM_MODE_OBSERVE || pc.mode == POLICY_VM_MODE_OFF)
    return;
  g_autoptr (GError) error = NULL;
  guint slice_ms = release_slice_ms (r);
  if (slice_ms == 0)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "out of time");
  g_autoptr (QmpSync) qmp = slice_ms ? qmp_sync_connect (qmp_path, slice_ms, &error) : NULL;
  PolicyReleaseVm vm = { 0 };
  if (qmp == NULL || !release_query (qmp, &pc, &vm, &error))
    {
      g_warning ("%s: not released (%s): %s", name, qmp_path, error->message);
      r->n_unreached++;
      return;
    }
  ReleaseVm *v = g_new0 (ReleaseVm, 1);
  v->name = g_strdup (name);
  v->qmp = g_steal_pointer (&qmp);
  v->vm = vm;
  g_ptr_array_add (r->vms, v);
}

static void
release_on_dir (const char *name, const char *qmp_path, const char *agent_path, gboolean present,
                gpointer data)
{
  release_reach (data, name, qmp_path);
}

/* Sends the planned balloons; returns how many VMs stay short of their max. */
static guint
release_apply (Release *r, const uint64_t *targets_bytes)
{
  guint n_short = 0;
  for (guint i = 0; i < r->vms->len; i++)
    {
      ReleaseVm *v = g_ptr_array_index (r->vms, i);
      g_autoptr (GError) error = NULL;
      if (targets_bytes[i] < v->vm.max_bytes)
        n_short++;
      if (targets_bytes[i] <= v->vm.actual_bytes)
        continue;
      if (release_slice_ms (r) == 0)
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "out of time");
      else
        qmp_sync_set_balloon (v->qmp, targets_bytes[i], &error);
      if (error != NULL)
        {
          g_warning ("%s: not released: %s", v->name, error->message);
          n_short += targets_bytes[i] >= v->vm.max_bytes;
          continue;
        }
      g_message ("%s: released: balloon %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
                 " MiB (max %" G_GUINT64_FORMAT " MiB)",
                 v->name, v->vm.actual_bytes >> 20, targets_bytes[i] >> 20, v->vm.max_bytes >> 20);
    }
  return n_short;
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
      release_reach (&r, k, ((CfgVm *) v)->qmp_path);
  g_autoptr (GError) error = NULL;
  /* Its paths go through the checked directory: kept open until the end. */
  g_autoptr (VmDir) dir = cfg->qmp_dir ? vmdir_snapshot (cfg->qmp_dir, release_on_dir, &r, &error)
                                       : NULL;
  if (error != NULL)
    g_warning ("release: qmp-dir: %s", error->message);
  if (cfg->libvirt_uri != NULL)
    g_message ("release: libvirt domains keep their balloon (docs/safety.md)");

  PolicyHost host;
  sample_host (sample, &host);
  uint64_t room_bytes = policy_release_room (&host, &cfg->policy);
  g_autofree PolicyReleaseVm *vms = g_new0 (PolicyReleaseVm, MAX (r.vms->len, 1));
  g_autofree uint64_t *targets_bytes = g_new0 (uint64_t, MAX (r.vms->len, 1));
  for (guint i = 0; i < r.vms->len; i++)
    vms[i] = ((ReleaseVm *) g_ptr_array_index (r.vms, i))->vm;
  uint64_t given_bytes = policy_release_plan (vms, r.vms->len, room_bytes, targets_bytes);
  guint n_short = release_apply (&r, targets_bytes);
  g_message ("release: %" G_GUINT64_FORMAT " MiB given back to %u VM(s) (%" G_GUINT64_FORMAT
             " MiB free above the reserve); %u short of their max, %u not reached",
             given_bytes >> 20, r.vms->len, room_bytes >> 20, n_short, r.n_unreached);
  gboolean ok = n_short == 0 && r.n_unreached == 0;
  g_ptr_array_unref (r.vms);
  g_hash_table_unref (r.names);
  return ok;
}

gboolean
release_after_stop (const BallastConfig *cfg)
{
  /* sample_new() puts back the KSM knobs a killed daemon left. */
  SampleCtx *sample = sample_new (cfg->ksm_sysfs, cfg->ksm_restore_on_exit, cfg->ksm_saved_path);
  gboolean ok = TRUE;
  if (cfg->release_on_exit && !cfg->dry_run)
    ok = release_run (cfg, sample, RELEASE_DEADLINE_MS);
  sample_free (sample);
  return ok;
}
