/* release.c: the I/O of giving memory back at stop: a blocking link to each
 * VM, QMP or libvirt (several at once, so hung QEMUs cost the bound once,
 * not each; a hung libvirtd is left behind at the deadline), the host's free
 * memory, policy_release_plan, the balloon commands. */
#define G_LOG_DOMAIN "ballast"

#include "release.h"

#include <jansson.h>

#include "qmp-replies.h"
#include "qmp-sync.h"
#include "vmdir.h"
#if HAVE_LIBVIRT
#include "libvirt-sync.h"
#endif

/* Below this much time left a QMP exchange is not worth starting. */
#define RELEASE_MIN_SLICE_MS 100
/* QEMUs talked to at once: enough that a few hung ones do not hold the
 * others back, few enough to stay a small burst of threads. */
#define RELEASE_MAX_PARALLEL 16

typedef struct
{
  char *name;
  char *qmp_path; /* NULL for a libvirt domain */
#if HAVE_LIBVIRT
  LvSync *lv; /* a libvirt domain's connection */
#endif
  PolicyVmConfig policy;
  gint64 deadline_mono_us;
  QmpSync *qmp;          /* a QEMU's monitor, once reached */
  gboolean reached;      /* its balloon and max are known */
  gboolean abandoned;    /* its worker did not end in time: set and read by the caller only */
  int pid;               /* its QEMU (the socket's peer), 0 if unknown */
  PolicyReleaseVm vm;    /* its balloon and max, once reached */
  uint64_t target_bytes; /* the plan */
  gboolean sent;         /* the balloon command was accepted */
  GError *error;         /* why it was not reached, or not released */
} ReleaseVm;

/* Counted: an array of a stage (or a worker left behind) keeps its VMs. */
static void
release_vm_clear (gpointer p)
{
  ReleaseVm *v = p;
  g_free (v->name);
  g_free (v->qmp_path);
  g_clear_pointer (&v->qmp, qmp_sync_free);
#if HAVE_LIBVIRT
  g_clear_pointer (&v->lv, lv_sync_unref);
#endif
  g_clear_error (&v->error);
}

static void
release_vm_unref (gpointer p)
{
  g_atomic_rc_box_release_full (p, release_vm_clear);
}

/* A new array of VMs, each counted. */
static GPtrArray *
release_vms_new (void)
{
  return g_ptr_array_new_with_free_func (release_vm_unref);
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

/* The balloon's size and the RAM over QMP (the monitor is connected). */
static gboolean
release_query_qmp (ReleaseVm *v, guint64 *actual_bytes, guint64 *ram_bytes, GError **error)
{
  if (!qmp_sync_query_balloon (v->qmp, actual_bytes, error))
    return FALSE;
  json_t *mem = qmp_sync_execute (v->qmp, "query-memory-size-summary", NULL, error);
  gboolean ok = mem != NULL && qmp_parse_memory_size (mem, ram_bytes, error);
  json_decref (mem);
  return ok;
}

/* Reads the balloon's size, the RAM and the QEMU's PID. */
static gboolean
release_query (ReleaseVm *v, guint64 *actual_bytes, guint64 *ram_bytes, GError **error)
{
#if HAVE_LIBVIRT
  if (v->lv != NULL)
    return lv_sync_query (v->lv, v->name, actual_bytes, ram_bytes, &v->pid, error);
#endif
  v->qmp = qmp_sync_connect (v->qmp_path, release_slice_ms (v), error);
  if (v->qmp == NULL)
    return FALSE;
  v->pid = qmp_client_get_peer_pid (qmp_sync_get_client (v->qmp));
  return release_query_qmp (v, actual_bytes, ram_bytes, error);
}

/* Worker: reaches one VM; its max comes from its RAM and its policy. */
static void
release_reach (gpointer data, gpointer unused)
{
  ReleaseVm *v = data;
  guint64 actual_bytes = 0, ram_bytes = 0;
  if (!release_in_time (v, &v->error) || !release_query (v, &actual_bytes, &ram_bytes, &v->error))
    return;
  PolicyVm pvm = { .cfg = v->policy, .ram_bytes = ram_bytes };
  uint64_t min_bytes;
  v->vm.actual_bytes = actual_bytes;
  policy_vm_limits (&pvm, &min_bytes, &v->vm.max_bytes);
  v->reached = TRUE;
}

/* Worker: sends one VM its planned balloon. */
static void
release_send (gpointer data, gpointer unused)
{
  ReleaseVm *v = data;
  if (!v->reached || v->target_bytes <= v->vm.actual_bytes || !release_in_time (v, &v->error))
    return;
#if HAVE_LIBVIRT
  if (v->lv != NULL)
    {
      v->sent = lv_sync_set_balloon (v->lv, v->name, v->target_bytes, &v->error);
      return;
    }
#endif
  v->sent = qmp_sync_set_balloon (v->qmp, v->target_bytes, &v->error);
}

/* Workers' shared state. It holds the items, so that workers the caller
 * stopped waiting for (a hung libvirtd has no timeout of its own) still
 * find them; the last one out frees it. */
typedef struct
{
  gatomicrefcount ref;
  GMutex lock;
  GCond cond;
  guint pending;
  GFunc fn;
  GPtrArray *items;
  GHashTable *done; /* items whose fn returned */
} ReleaseBatch;

static void
release_batch_unref (ReleaseBatch *b)
{
  if (!g_atomic_ref_count_dec (&b->ref))
    return;
  g_ptr_array_unref (b->items);
  g_hash_table_unref (b->done);
  g_mutex_clear (&b->lock);
  g_cond_clear (&b->cond);
  g_free (b);
}

static void
release_batch_run (gpointer item, gpointer data)
{
  ReleaseBatch *b = data;
  b->fn (item, NULL);
  g_mutex_lock (&b->lock);
  g_hash_table_add (b->done, item);
  b->pending--;
  g_cond_signal (&b->cond);
  g_mutex_unlock (&b->lock);
  release_batch_unref (b);
}

/* Runs `fn` on every item, RELEASE_MAX_PARALLEL at a time, and waits until
 * all are done or `until_mono_us` is past; returns the items whose `fn` did
 * not end by then: the caller must not touch them (the workers still may). */
static GHashTable *
release_each (GPtrArray *items, GFunc fn, gint64 until_mono_us)
{
  GHashTable *late = g_hash_table_new (NULL, NULL);
  if (items->len == 0)
    return late;
  ReleaseBatch *b = g_new0 (ReleaseBatch, 1);
  g_atomic_ref_count_init (&b->ref);
  g_mutex_init (&b->lock);
  g_cond_init (&b->cond);
  b->fn = fn;
  b->items = g_ptr_array_ref (items);
  b->done = g_hash_table_new (NULL, NULL);
  b->pending = items->len;
  GThreadPool *pool = g_thread_pool_new (release_batch_run, b,
                                         MIN (items->len, RELEASE_MAX_PARALLEL), FALSE, NULL);
  for (guint i = 0; i < items->len; i++)
    {
      g_atomic_ref_count_inc (&b->ref);
      g_thread_pool_push (pool, g_ptr_array_index (items, i), NULL);
    }
  g_mutex_lock (&b->lock);
  while (b->pending > 0 && g_cond_wait_until (&b->cond, &b->lock, until_mono_us))
    ;
  for (guint i = 0; i < items->len; i++)
    if (!g_hash_table_contains (b->done, g_ptr_array_index (items, i)))
      g_hash_table_add (late, g_ptr_array_index (items, i));
  g_mutex_unlock (&b->lock);
  /* Queued work not started by now never starts; running workers finish on
   * their own and the pool goes with the last of them. */
  g_thread_pool_free (pool, g_hash_table_size (late) > 0, g_hash_table_size (late) == 0);
  release_batch_unref (b);
  return late;
}

/* The last moment a worker is waited for: each QMP exchange started before
 * the deadline may take one VM timeout more. */
static gint64
release_wait_until (gint64 deadline_mono_us)
{
  return deadline_mono_us + (gint64) RELEASE_VM_TIMEOUT_MS * 1000;
}

/* release_each for VMs: those not done in time are marked abandoned. */
static void
release_each_vm (GPtrArray *vms, GFunc fn, gint64 deadline_mono_us)
{
  GHashTable *late = release_each (vms, fn, release_wait_until (deadline_mono_us));
  for (guint i = 0; i < vms->len; i++)
    {
      ReleaseVm *v = g_ptr_array_index (vms, i);
      v->abandoned |= g_hash_table_contains (late, v);
    }
  g_hash_table_unref (late);
}

typedef struct
{
  const BallastConfig *cfg;
  gint64 deadline_mono_us;
  GPtrArray *vms;    /* ReleaseVm*, counted */
  GHashTable *names; /* every name seen: the first source keeps it, as in the daemon */
  gboolean missed;   /* a source of VMs could not be listed */
} Release;

static void
release_add (Release *r, const char *name, const char *qmp_path, gpointer lv)
{
  if (g_hash_table_contains (r->names, name))
    return;
  g_hash_table_add (r->names, g_strdup (name));
  PolicyVmConfig policy;
  cfg_vm_policy (r->cfg, name, &policy);
  /* ballast never ballooned these: nothing of theirs to give back. */
  if (policy.mode == POLICY_VM_MODE_OBSERVE || policy.mode == POLICY_VM_MODE_OFF)
    return;
  ReleaseVm *v = g_atomic_rc_box_new0 (ReleaseVm);
  v->policy = policy;
  v->name = g_strdup (name);
  v->qmp_path = g_strdup (qmp_path);
#if HAVE_LIBVIRT
  v->lv = lv ? lv_sync_ref (lv) : NULL;
#endif
  v->deadline_mono_us = r->deadline_mono_us;
  g_ptr_array_add (r->vms, v);
}

static void
release_on_dir (const char *name, const char *qmp_path, const char *agent_path, gboolean present,
                gpointer data)
{
  release_add (data, name, qmp_path, NULL);
}

#if HAVE_LIBVIRT
/* The running domains of one libvirtd, read on a worker. */
typedef struct
{
  char *uri;
  LvSync *lv;
  GPtrArray *names;
  GError *error;
} ReleaseLibvirt;

static void
release_libvirt_free (gpointer p)
{
  ReleaseLibvirt *l = p;
  g_free (l->uri);
  g_clear_pointer (&l->lv, lv_sync_unref);
  g_clear_pointer (&l->names, g_ptr_array_unref);
  g_clear_error (&l->error);
  g_free (l);
}

static void
release_libvirt_list (gpointer data, gpointer unused)
{
  ReleaseLibvirt *l = data;
  l->lv = lv_sync_open (l->uri, &l->error);
  if (l->lv != NULL)
    l->names = lv_sync_list_active (l->lv, &l->error);
}

/* Adds the running domains of `uri` that the daemon would have managed. */
static void
release_add_libvirt (Release *r, const char *uri)
{
  g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func (release_libvirt_free);
  ReleaseLibvirt *l = g_new0 (ReleaseLibvirt, 1);
  l->uri = g_strdup (uri);
  g_ptr_array_add (one, l);
  GHashTable *late = release_each (one, release_libvirt_list, r->deadline_mono_us);
  gboolean in_time = g_hash_table_size (late) == 0;
  g_hash_table_unref (late);
  r->missed |= !in_time || l->error != NULL;
  if (!in_time)
    g_warning ("release: libvirt %s: no answer in time; its domains keep their balloon", uri);
  else if (l->error != NULL)
    g_warning ("release: libvirt: %s; its domains keep their balloon", l->error->message);
  else
    for (guint i = 0; i < l->names->len; i++)
      if (cfg_valid_vm_name (g_ptr_array_index (l->names, i)))
        release_add (r, g_ptr_array_index (l->names, i), NULL, l->lv);
}
#endif

/* Plans over the VMs reached, each counted at what its QEMU holds; returns
 * those to send a balloon to. */
static GPtrArray *
release_plan (GPtrArray *vms, SampleCtx *sample, uint64_t room_bytes)
{
  g_autoptr (GPtrArray) reached = g_ptr_array_new ();
  for (guint i = 0; i < vms->len; i++)
    {
      ReleaseVm *v = g_ptr_array_index (vms, i);
      if (v->reached && !v->abandoned)
        g_ptr_array_add (reached, v);
    }
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
  GPtrArray *to_send = release_vms_new ();
  for (guint i = 0; i < reached->len; i++)
    {
      ReleaseVm *v = g_ptr_array_index (reached, i);
      v->target_bytes = targets_bytes[i];
      if (v->target_bytes > v->vm.actual_bytes)
        g_ptr_array_add (to_send, g_atomic_rc_box_acquire (v));
    }
  return to_send;
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
      if (v->abandoned)
        {
          g_warning ("%s: not released: no answer in time", v->name);
          continue;
        }
      n_reached += v->reached;
      if (v->reached && (v->target_bytes < v->vm.max_bytes || v->error != NULL))
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
    .vms = release_vms_new (),
    .names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
  };
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, cfg->vms);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (((CfgVm *) v)->qmp_path != NULL)
      release_add (&r, k, ((CfgVm *) v)->qmp_path, NULL);
  g_autoptr (GError) error = NULL;
  /* Its paths go through the checked directory: kept open until the end. */
  VmDir *dir = cfg->qmp_dir ? vmdir_snapshot (cfg->qmp_dir, release_on_dir, &r, &error) : NULL;
  if (error != NULL)
    g_warning ("release: qmp-dir: %s", error->message);
  r.missed = error != NULL;
#if HAVE_LIBVIRT
  if (cfg->libvirt_uri != NULL)
    release_add_libvirt (&r, cfg->libvirt_uri);
#endif

  release_each_vm (r.vms, release_reach, r.deadline_mono_us);
  PolicyHost host;
  sample_host (sample, &host);
  uint64_t room_bytes = policy_release_room (&host, &cfg->policy);
  g_autoptr (GPtrArray) to_send = release_plan (r.vms, sample, room_bytes);
  release_each_vm (to_send, release_send, r.deadline_mono_us);
  vmdir_free (dir);
  gboolean ok = release_report (r.vms, room_bytes) && !r.missed;
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
