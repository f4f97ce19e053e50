/* libvirt-dom.c: one libvirt domain and its VM: the refresh that adds,
 * updates or removes the VM, and its VmOps, each call a job on a worker thread. */
#define G_LOG_DOMAIN "ballast-libvirt"

#include "libvirt-private.h"

#include "config.h"

/* Guest stats period: the tick's interval; the driver's cost at 1 s is
 * negligible and older stats would lag the decisions. */
#define LV_STATS_PERIOD_S 1
/* Where the QEMU driver of qemu:///system keeps its PID files: the PID is
 * only for reading the QEMU's smaps/cgroup, so a miss just loses PSS. */
#define LV_PID_DIR "/run/libvirt/qemu"

static const VmOps lv_vm_ops;

/* A domain without a VM is kept only while a job of it runs. */
void
lv_dom_drop_if_idle (LvBackend *lv, LvDom *d)
{
  if (d->vm == NULL && !d->refreshing && !d->sampling && !d->setting)
    g_hash_table_remove (lv->doms, d->name);
}

LvToken *
lv_token_ref (LvToken *t)
{
  return g_atomic_rc_box_acquire (t);
}

void
lv_token_unref (gpointer t)
{
  g_atomic_rc_box_release (t);
}

void
lv_dom_free (gpointer p)
{
  LvDom *d = p;
  if (d->vm)
    vm_set_backend_data (d->vm, NULL);
  if (d->dom)
    virDomainFree (d->dom);
  g_free (d->name);
  g_free (d);
}

LvDom *
lv_dom_get (LvBackend *lv, const char *name)
{
  LvDom *d = g_hash_table_lookup (lv->doms, name);
  if (d == NULL)
    {
      d = g_new0 (LvDom, 1);
      d->lv = lv;
      d->name = g_strdup (name);
      g_hash_table_insert (lv->doms, d->name, d);
    }
  return d;
}

/* A copy of the known names, for loops that may change the table. */
GPtrArray *
lv_dom_names (LvBackend *lv)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, lv->doms);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_ptr_array_add (names, g_strdup (k));
  return names;
}

void
lv_dom_set_handle (LvDom *d, virDomainPtr dom)
{
  if (d->dom)
    virDomainFree (d->dom);
  d->dom = dom;
}

static void
lv_job_free (gpointer p)
{
  LvJob *j = p;
  if (j->dom)
    virDomainFree (j->dom);
  if (j->conn)
    virConnectClose (j->conn);
  g_clear_pointer (&j->names, g_ptr_array_unref);
  lv_domain_xml_clear (&j->xml);
  g_clear_pointer (&j->token, lv_token_unref);
  g_free (j->name);
  g_free (j->uri);
  g_free (j->error);
  g_free (j);
}

LvJob *
lv_job_new (LvBackend *lv, const char *name, virDomainPtr dom)
{
  LvJob *j = g_new0 (LvJob, 1);
  j->token = lv_token_ref (lv->token);
  j->gen = lv->gen;
  j->name = g_strdup (name);
  if (dom)
    {
      virDomainRef (dom);
      j->dom = dom;
    }
  return j;
}

void
lv_job_run (LvJob *j, GTaskThreadFunc thread_fn, GAsyncReadyCallback done)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, done, NULL);
  g_task_set_task_data (task, j, lv_job_free);
  g_task_run_in_thread (task, thread_fn);
}

/* The backend a finished job belongs to, or NULL when it is gone. */
LvJob *
lv_job_of (GAsyncResult *res, LvBackend **lv_out)
{
  LvJob *j = g_task_get_task_data (G_TASK (res));
  *lv_out = j->token->lv;
  return j;
}

void
lv_job_fail (LvJob *j)
{
  j->error = g_strdup (virGetLastErrorMessage ());
}

/* ---- discovery: one domain's current truth ---------------------------------- */

int
lv_domain_pid (const char *name)
{
  g_autofree char *base = g_strconcat (name, ".pid", NULL);
  g_autofree char *path = g_build_filename (LV_PID_DIR, base, NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  gint64 pid = g_ascii_strtoll (text, NULL, 10);
  return pid > 0 && pid <= G_MAXINT ? (int) pid : 0;
}

GPtrArray *
lv_list_active (virConnectPtr conn)
{
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains (conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0)
    return NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++)
    {
      g_ptr_array_add (names, g_strdup (virDomainGetName (doms[i])));
      virDomainFree (doms[i]);
    }
  free (doms);
  return names;
}

/* The domain a finished job is about, or NULL when it or its backend is gone. */
static LvDom *
lv_job_dom (GAsyncResult *res, LvBackend **lv, LvJob **j)
{
  *j = lv_job_of (res, lv);
  return *lv ? g_hash_table_lookup ((*lv)->doms, (*j)->name) : NULL;
}

static void
lv_refresh_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  LvJob *j = data;
  j->dom = virDomainLookupByName (j->conn, j->name);
  if (j->dom == NULL)
    {
      if (virGetLastErrorCode () == VIR_ERR_NO_DOMAIN)
        j->active = FALSE;
      else
        lv_job_fail (j);
      return;
    }
  int active = virDomainIsActive (j->dom);
  if (active < 0)
    {
      /* Stopped and undefined between the two calls. */
      if (virGetLastErrorCode () != VIR_ERR_NO_DOMAIN)
        lv_job_fail (j);
      return;
    }
  j->active = active == 1;
  if (!j->active)
    return;
  unsigned long max_kib = virDomainGetMaxMemory (j->dom);
  if (max_kib == 0)
    {
      lv_job_fail (j);
      return;
    }
  j->max_bytes = (guint64) max_kib * 1024;
  int state = 0, reason = 0;
  if (virDomainGetState (j->dom, &state, &reason, 0) == 0)
    j->paused = state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_PMSUSPENDED;
  char *xml = virDomainGetXMLDesc (j->dom, 0);
  if (xml == NULL)
    {
      lv_job_fail (j);
      return;
    }
  g_autoptr (GError) error = NULL;
  if (!lv_parse_domain_xml (xml, &j->xml, &error))
    j->error = g_strdup (error->message);
  free (xml);
  if (j->xml.balloon_alias != NULL
      && virDomainSetMemoryStatsPeriod (j->dom, LV_STATS_PERIOD_S, VIR_DOMAIN_AFFECT_LIVE) < 0)
    g_message ("%s: cannot set the balloon stats period: %s", j->name, virGetLastErrorMessage ());
  j->pid = lv_domain_pid (j->name);
}

static void
lv_vm_update (LvDom *d, LvJob *j)
{
  Vm *vm = d->vm;
  d->nosharepages = j->xml.nosharepages;
  vm_update_ram (vm, j->max_bytes);
  vm_update_paused (vm, j->paused);
  vm_update_pid (vm, j->pid);
  vm_update_ksm_excluded (vm, j->xml.nosharepages);
  vm_update_balloon_device (vm, j->xml.balloon_alias);
  vm_update_balloon_deflate_on_oom (vm, j->xml.deflate_on_oom);
  vm_update_balloon_free_page_reporting (vm, j->xml.free_page_reporting);
  vm_update_agent_path (vm, j->xml.agent_path);
}

static void
lv_refresh_done (GObject *src, GAsyncResult *res, gpointer data)
{
  LvBackend *lv;
  LvJob *j = lv_job_of (res, &lv);
  if (lv == NULL)
    return;
  LvDom *d = g_hash_table_lookup (lv->doms, j->name);
  if (d == NULL)
    return;
  d->refreshing = FALSE;
  if (j->gen != lv->gen)
    ; /* from a lost connection; the reconnect refreshes every domain */
  else if (j->error != NULL)
    g_message ("%s: libvirt: %s", j->name, j->error);
  else if (!j->active)
    {
      lv_dom_set_handle (d, NULL);
      if (d->vm != NULL)
        {
          lv->owner.remove (d->name, lv->owner.user_data);
          lv->owner.note (NULL, VM_NOTE_KICK, lv->owner.user_data);
        }
    }
  else if (d->vm == NULL && !cfg_valid_vm_name (d->name))
    {
      /* Names end up in JSON, logs and vms.d file names. */
      if (!d->name_warned)
        g_warning ("libvirt: domain name not usable as a VM name (%s); not managed; "
                   "VM names are [A-Za-z0-9._-], at most %d bytes",
                   g_utf8_validate (d->name, -1, NULL) ? "invalid characters" : "not UTF-8",
                   CFG_MAX_VM_NAME);
      d->name_warned = TRUE;
    }
  else
    {
      lv_dom_set_handle (d, g_steal_pointer (&j->dom));
      if (d->has_pending_target && !d->setting && d->dom != NULL)
        lv_set_issue (d, d->pending_target_bytes);
      if (d->vm != NULL)
        lv_vm_update (d, j);
      else
        {
          Vm *vm = vm_new (&lv->owner, d->name, "libvirt", NULL, j->xml.agent_path, &lv_vm_ops, d);
          d->vm = vm;
          lv_vm_update (d, j);
          vm_add_kicks (vm, d->pending_kicks);
          d->pending_kicks = 0;
          if (!lv->owner.adopt (vm, lv->owner.user_data))
            {
              g_warning ("%s: another backend already has a VM of this name; "
                         "the libvirt domain is not managed",
                         d->name);
              vm_free (vm);
            }
        }
    }
  if (d->dirty)
    lv_refresh (lv, d->name);
  else
    lv_dom_drop_if_idle (lv, d);
}

void
lv_refresh (LvBackend *lv, const char *name)
{
  LvDom *d = lv_dom_get (lv, name);
  if (lv->conn == NULL)
    return; /* the reconnect refreshes every known domain */
  if (d->refreshing)
    {
      d->dirty = TRUE;
      return;
    }
  d->refreshing = TRUE;
  d->dirty = FALSE;
  LvJob *j = lv_job_new (lv, name, NULL);
  j->conn = lv->conn;
  virConnectRef (j->conn);
  lv_job_run (j, lv_refresh_thread, lv_refresh_done);
}

/* ---- VmOps: sampling and actuation ---------------------------------------- */

static void
lv_vm_start (Vm *vm)
{
  /* libvirt already vouches that the domain runs: nothing to negotiate. */
  LvDom *d = vm_get_backend_data (vm);
  const char *balloon = vm_get_balloon_device (vm);
  g_autofree char *detail = g_strdup_printf (
      "libvirt, balloon %s, RAM %" G_GUINT64_FORMAT " MiB%s", balloon ? balloon : "none",
      vm_get_ram_bytes (vm) >> 20, d != NULL && d->nosharepages ? ", nosharepages" : "");
  vm_agent_restart (vm);
  vm_link_up (vm, detail);
}

/* libvirt's stat tags, their place in VmGuestStats and the unit libvirt
 * reports them in (KiB for sizes, counts for faults). */
static const struct
{
  int tag;
  gsize offset;
  guint64 scale;
} lv_stat_map[] = {
  { VIR_DOMAIN_MEMORY_STAT_SWAP_IN, G_STRUCT_OFFSET (VmGuestStats, figures.swap_in_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_SWAP_OUT, G_STRUCT_OFFSET (VmGuestStats, figures.swap_out_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT, G_STRUCT_OFFSET (VmGuestStats, figures.major_faults), 1 },
  { VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT, G_STRUCT_OFFSET (VmGuestStats, figures.minor_faults), 1 },
  { VIR_DOMAIN_MEMORY_STAT_UNUSED, G_STRUCT_OFFSET (VmGuestStats, figures.free_bytes), 1024 },
  /* libvirt's "available" is the guest's total, "usable" its MemAvailable. */
  { VIR_DOMAIN_MEMORY_STAT_AVAILABLE, G_STRUCT_OFFSET (VmGuestStats, figures.total_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_USABLE, G_STRUCT_OFFSET (VmGuestStats, figures.available_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_DISK_CACHES, G_STRUCT_OFFSET (VmGuestStats, figures.disk_caches_bytes),
    1024 },
};

static void
lv_sample_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  LvJob *j = data;
  j->n_stats = virDomainMemoryStats (j->dom, j->stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
  if (j->n_stats < 0)
    lv_job_fail (j);
}

static void
lv_sample_done (GObject *src, GAsyncResult *res, gpointer data)
{
  LvBackend *lv;
  LvJob *j;
  LvDom *d = lv_job_dom (res, &lv, &j);
  if (d == NULL)
    return;
  d->sampling = FALSE;
  Vm *vm = d->vm;
  if (vm == NULL)
    {
      lv_dom_drop_if_idle (lv, d);
      return;
    }
  if (j->gen != lv->gen)
    return;
  if (j->error != NULL)
    {
      g_debug ("%s: memory stats: %s", d->name, j->error);
      return;
    }
  VmGuestStats st = { 0 };
  for (int i = 0; i < j->n_stats; i++)
    {
      const virDomainMemoryStatStruct *s = &j->stats[i];
      if (s->tag == VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON)
        vm_update_actual (vm, (guint64) s->val * 1024);
      else if (s->tag == VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE)
        st.last_update_s = (gint64) s->val;
      for (gsize k = 0; k < G_N_ELEMENTS (lv_stat_map); k++)
        if (lv_stat_map[k].tag == s->tag)
          {
            PolicyStat *out = G_STRUCT_MEMBER_P (&st, lv_stat_map[k].offset);
            out->present = TRUE;
            out->value = (guint64) s->val * lv_stat_map[k].scale;
          }
    }
  vm_update_guest_stats (vm, &st);
}

static void
lv_vm_sample (Vm *vm)
{
  LvDom *d = vm_get_backend_data (vm);
  if (d == NULL || d->dom == NULL || d->sampling || vm_get_state (vm) != VM_ACTIVE)
    return;
  d->sampling = TRUE;
  lv_job_run (lv_job_new (d->lv, d->name, d->dom), lv_sample_thread, lv_sample_done);
}

static void
lv_set_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  LvJob *j = data;
  if (virDomainSetMemoryFlags (j->dom, (unsigned long) (j->target_bytes / 1024),
                               VIR_DOMAIN_AFFECT_LIVE)
      < 0)
    lv_job_fail (j);
}

static void
lv_set_done (GObject *src, GAsyncResult *res, gpointer data)
{
  LvBackend *lv;
  LvJob *j;
  LvDom *d = lv_job_dom (res, &lv, &j);
  if (d == NULL)
    return;
  d->setting = FALSE;
  if (d->vm != NULL && j->error != NULL)
    vm_target_failed (d->vm, j->error);
  if (d->has_pending_target && d->dom != NULL)
    {
      d->has_pending_target = FALSE;
      lv_set_issue (d, d->pending_target_bytes);
    }
  else
    lv_dom_drop_if_idle (lv, d);
}

void
lv_set_issue (LvDom *d, guint64 target_bytes)
{
  /* One set per domain at a time, so worker threads cannot reorder targets. */
  if (d->setting)
    {
      d->has_pending_target = TRUE;
      d->pending_target_bytes = target_bytes;
      return;
    }
  d->setting = TRUE;
  d->has_pending_target = FALSE;
  LvJob *j = lv_job_new (d->lv, d->name, d->dom);
  j->target_bytes = target_bytes;
  lv_job_run (j, lv_set_thread, lv_set_done);
}

static void
lv_vm_set_balloon (Vm *vm, guint64 target_bytes)
{
  LvDom *d = vm_get_backend_data (vm);
  if (d == NULL || vm_get_balloon_device (vm) == NULL || vm_get_state (vm) != VM_ACTIVE)
    return;
  vm_target_issued (vm, target_bytes);
  if (d->dom == NULL)
    {
      /* libvirtd is away: the target waits for the reconnect, and counts as
       * in flight meanwhile (no command, log line and event every tick). */
      d->has_pending_target = TRUE;
      d->pending_target_bytes = target_bytes;
      return;
    }
  lv_set_issue (d, target_bytes);
}

static void
lv_vm_free (Vm *vm)
{
  LvDom *d = vm_get_backend_data (vm);
  if (d != NULL)
    d->vm = NULL;
  vm_set_backend_data (vm, NULL);
}

static const VmOps lv_vm_ops = {
  .start = lv_vm_start,
  .sample = lv_vm_sample,
  .set_balloon = lv_vm_set_balloon,
  .free = lv_vm_free,
};
