/* libvirt.c: libvirt backend: domain discovery, lifecycle and balloon events,
 * reconnects, stats and balloon through the API, agent path from the XML.
 *
 * Threads: since libvirt 6.3 the default event implementation is made of
 * GSources on the GLib default main context, and virEventRunDefaultImpl()
 * is just one g_main_context_iteration() of it. So ballastd's own main loop
 * runs libvirt's events (keepalive, lifecycle, balloon, close): no event
 * thread, which would fight the main loop for the context. The callbacks
 * only queue what they got to an idle source, so libvirt is never re-entered
 * from inside one of its callbacks. Every call that talks to libvirtd is a
 * blocking RPC, so those run as GTasks in GLib's worker threads and report
 * back to the main context: a slow or hung libvirtd never stalls the tick.
 * Only the main context touches LvBackend, LvDom and Vm. */
#define G_LOG_DOMAIN "ballast-libvirt"

#include "libvirt.h"

#include "config.h"

#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "manager.h"
#include "qmp-backoff.h"

#define LV_AGENT_PORT "org.ballast.agent.0"
/* Guest stats period: the tick's interval; the driver's cost at 1 s is
 * negligible and older stats would lag the decisions. */
#define LV_STATS_PERIOD_S 1
/* libvirtd restarts take a second or two: retry quickly at first, then back
 * off so a host without libvirtd costs nothing. */
#define LV_BACKOFF_INITIAL_MS 250
#define LV_BACKOFF_MAX_MS 5000
/* A hung libvirtd is declared dead after 5 s * (3 + 1) without keepalive
 * answers; the close callback then starts a reconnect. */
#define LV_KEEPALIVE_INTERVAL_S 5
#define LV_KEEPALIVE_COUNT 3
/* Where the QEMU driver of qemu:///system keeps its PID files: the PID is
 * only for reading the QEMU's smaps/cgroup, so a miss just loses PSS. */
#define LV_PID_DIR "/run/libvirt/qemu"

/* ---- domain XML ---------------------------------------------------------- */

static char *
lv_xpath_string (xmlXPathContextPtr ctx, const char *expr)
{
  xmlXPathObjectPtr obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctx);
  if (obj == NULL)
    return NULL;
  char *ret = NULL;
  if (obj->type == XPATH_STRING && obj->stringval != NULL && obj->stringval[0] != '\0')
    ret = g_strdup ((const char *) obj->stringval);
  xmlXPathFreeObject (obj);
  return ret;
}

gboolean
lv_parse_domain_xml (const char *xml, LvDomainXml *out, GError **error)
{
  memset (out, 0, sizeof *out);
  xmlDocPtr doc = xmlReadMemory (xml, (int) strlen (xml), "domain.xml", NULL,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  xmlNodePtr root = doc ? xmlDocGetRootElement (doc) : NULL;
  if (root == NULL || !xmlStrEqual (root->name, (const xmlChar *) "domain"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a domain XML");
      xmlFreeDoc (doc);
      return FALSE;
    }
  xmlXPathContextPtr ctx = xmlXPathNewContext (doc);
  out->agent_path = lv_xpath_string (
      ctx, "string(/domain/devices/channel[@type='unix'][target/@type='virtio']"
           "[target/@name='" LV_AGENT_PORT "']/source[@mode='bind']/@path)");
  g_autofree char *model = lv_xpath_string (ctx, "string(/domain/devices/memballoon/@model)");
  if (model != NULL && g_str_has_prefix (model, "virtio"))
    {
      out->balloon_alias = lv_xpath_string (ctx, "string(/domain/devices/memballoon/alias/@name)");
      if (out->balloon_alias == NULL)
        out->balloon_alias = g_strdup ("memballoon");
    }
  g_autofree char *nsp = lv_xpath_string (
      ctx, "string(boolean(/domain/memoryBacking/nosharepages))");
  out->nosharepages = g_strcmp0 (nsp, "true") == 0;
  xmlXPathFreeContext (ctx);
  xmlFreeDoc (doc);
  return TRUE;
}

void
lv_domain_xml_clear (LvDomainXml *x)
{
  g_clear_pointer (&x->agent_path, g_free);
  g_clear_pointer (&x->balloon_alias, g_free);
}

/* ---- process-wide event loop ----------------------------------------------- */

static void
lv_ignore_error (void *data, virErrorPtr err)
{
  /* Every call's failure is reported where it is handled; libvirt's default
   * handler would print each one to stderr a second time. */
}

/* libvirt wants its event implementation registered once, before the first
 * connection. */
static void
lv_event_loop_ensure (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      xmlInitParser ();
      virSetErrorFunc (NULL, lv_ignore_error);
      if (virEventRegisterDefaultImpl () < 0)
        g_warning ("libvirt: cannot register the event loop: %s", virGetLastErrorMessage ());
      g_once_init_leave (&once, 1);
    }
}

/* ---- backend state ---------------------------------------------------------- */

/* Shared with event callbacks and worker jobs, which may outlive the
 * backend: they find lv NULL then. Only the main context reads `lv`; the
 * reference count is atomic because jobs end on worker threads. */
typedef struct
{
  LvBackend *lv;
} LvToken;

typedef struct
{
  LvBackend *lv;
  char *name;
  virDomainPtr dom; /* handle on the current connection; NULL while disconnected */
  Vm *vm;           /* NULL until running and added; cleared when the manager frees it */
  gboolean refreshing;
  gboolean dirty;   /* another refresh asked for while one was running */
  gboolean sampling;
  gboolean setting;
  gboolean has_pending_target;
  guint64 pending_target_bytes; /* newest target asked for while a set was running
                                 * or while disconnected */
  gboolean name_warned;
  uint32_t pending_kicks;       /* kicks seen before the VM existed */
} LvDom;

struct _LvBackend
{
  Manager *mgr;
  char *uri;
  LvToken *token;
  virConnectPtr conn;
  guint gen; /* bumped per connection attempt and on loss: older results are stale */
  gboolean connecting;
  guint retry_id;
  QmpBackoff backoff;
  char *last_error; /* of the last failed attempt, to log each new problem once */
  int lifecycle_cb;
  int balloon_cb;
  gint64 connected_mono_us;
  GHashTable *doms; /* name -> LvDom* */
};

#define LV_STABLE_CONN_US (30 * G_USEC_PER_SEC)

static void lv_connect (LvBackend *lv);
static void lv_refresh (LvBackend *lv, const char *name);
static void lv_set_issue (LvDom *d, guint64 target_bytes);

/* A domain without a VM is kept only while a job of it runs. */
static void
lv_dom_drop_if_idle (LvBackend *lv, LvDom *d)
{
  if (d->vm == NULL && !d->refreshing && !d->sampling && !d->setting)
    g_hash_table_remove (lv->doms, d->name);
}
static const VmOps lv_vm_ops;

static LvToken *
lv_token_ref (LvToken *t)
{
  return g_atomic_rc_box_acquire (t);
}

static void
lv_token_unref (gpointer t)
{
  g_atomic_rc_box_release (t);
}

static void
lv_dom_free (gpointer p)
{
  LvDom *d = p;
  if (d->vm)
    d->vm->backend_data = NULL;
  if (d->dom)
    virDomainFree (d->dom);
  g_free (d->name);
  g_free (d);
}

static LvDom *
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
static GPtrArray *
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

static void
lv_dom_set_handle (LvDom *d, virDomainPtr dom)
{
  if (d->dom)
    virDomainFree (d->dom);
  d->dom = dom;
}

/* A job for a worker thread: what it needs from the main context (a
 * connection or domain reference of its own), and its results. */
typedef struct
{
  LvToken *token;
  guint gen;
  char *name;
  char *uri;
  virConnectPtr conn;
  virDomainPtr dom;
  char *error;
  /* connect */
  GPtrArray *names;
  int lifecycle_cb;
  int balloon_cb;
  /* refresh */
  gboolean active;
  gboolean paused;
  guint64 max_bytes;
  int pid;
  LvDomainXml xml;
  /* sample */
  virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
  int n_stats;
  /* set */
  guint64 target_bytes;
} LvJob;

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

static LvJob *
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

static void
lv_job_run (LvJob *j, GTaskThreadFunc thread_fn, GAsyncReadyCallback done)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, done, NULL);
  g_task_set_task_data (task, j, lv_job_free);
  g_task_run_in_thread (task, thread_fn);
}

/* The backend a finished job belongs to, or NULL when it is gone. */
static LvJob *
lv_job_of (GAsyncResult *res, LvBackend **lv_out)
{
  LvJob *j = g_task_get_task_data (G_TASK (res));
  *lv_out = j->token->lv;
  return j;
}

static void
lv_job_fail (LvJob *j)
{
  j->error = g_strdup (virGetLastErrorMessage ());
}

/* ---- events (libvirt's callbacks) ------------------------------------------ */

typedef enum
{
  LV_EV_LIFECYCLE,
  LV_EV_BALLOON,
  LV_EV_CLOSED,
} LvEventKind;

typedef struct
{
  LvToken *token;
  guint gen;
} LvEventCtx;

typedef struct
{
  LvToken *token;
  guint gen;
  LvEventKind kind;
  char *name;
  int event;
  int detail;
  guint64 actual_bytes;
} LvEvent;

static LvEventCtx *
lv_event_ctx_new (LvToken *token, guint gen)
{
  LvEventCtx *c = g_new0 (LvEventCtx, 1);
  c->token = lv_token_ref (token);
  c->gen = gen;
  return c;
}

static void
lv_event_ctx_free (void *p)
{
  LvEventCtx *c = p;
  lv_token_unref (c->token);
  g_free (c);
}

static void
lv_event_free (gpointer p)
{
  LvEvent *e = p;
  lv_token_unref (e->token);
  g_free (e->name);
  g_free (e);
}

static gboolean lv_event_main (gpointer data);

static void
lv_event_post (LvEventCtx *c, LvEventKind kind, virDomainPtr dom, int event, int detail,
               guint64 actual_bytes)
{
  LvEvent *e = g_new0 (LvEvent, 1);
  e->token = lv_token_ref (c->token);
  e->gen = c->gen;
  e->kind = kind;
  e->name = dom ? g_strdup (virDomainGetName (dom)) : NULL;
  e->event = event;
  e->detail = detail;
  e->actual_bytes = actual_bytes;
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT);
  g_source_set_callback (src, lv_event_main, e, lv_event_free);
  g_source_attach (src, NULL);
  g_source_unref (src);
}

static int
lv_on_lifecycle (virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  lv_event_post (opaque, LV_EV_LIFECYCLE, dom, event, detail, 0);
  return 0;
}

static void
lv_on_balloon (virConnectPtr conn, virDomainPtr dom, unsigned long long actual_kib, void *opaque)
{
  lv_event_post (opaque, LV_EV_BALLOON, dom, 0, 0, (guint64) actual_kib * 1024);
}

static void
lv_on_close (virConnectPtr conn, int reason, void *opaque)
{
  lv_event_post (opaque, LV_EV_CLOSED, NULL, reason, 0, 0);
}

/* ---- connection ---------------------------------------------------------- */

static gboolean
lv_retry_cb (gpointer data)
{
  LvBackend *lv = data;
  lv->retry_id = 0;
  lv_connect (lv);
  return G_SOURCE_REMOVE;
}

static void
lv_schedule_connect (LvBackend *lv)
{
  if (lv->retry_id == 0 && !lv->connecting)
    lv->retry_id = g_timeout_add (qmp_backoff_next_ms (&lv->backoff), lv_retry_cb, lv);
}

static void
lv_disconnect (LvBackend *lv, const char *why)
{
  if (lv->conn == NULL)
    return;
  g_message ("libvirt: lost %s (%s); domains keep running, reconnecting", lv->uri, why);
  lv->gen++;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, lv->doms);
  while (g_hash_table_iter_next (&it, &k, &v))
    lv_dom_set_handle (v, NULL);
  /* A dead connection cannot deregister its callbacks over RPC; closing it
   * drops them with it. */
  virConnectUnregisterCloseCallback (lv->conn, lv_on_close);
  virConnectClose (lv->conn);
  lv->conn = NULL;
  /* A libvirtd that crashes right after every start must not be hammered:
   * the backoff starts over only after a connection that lasted. */
  if (g_get_monotonic_time () - lv->connected_mono_us >= LV_STABLE_CONN_US)
    qmp_backoff_reset (&lv->backoff);
  lv_schedule_connect (lv);
}

static void
lv_connect_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  LvJob *j = data;
  j->conn = virConnectOpen (j->uri);
  if (j->conn == NULL)
    {
      lv_job_fail (j);
      return;
    }
  /* Without keepalive a hung (not dead) libvirtd would never be noticed. */
  if (virConnectSetKeepAlive (j->conn, LV_KEEPALIVE_INTERVAL_S, LV_KEEPALIVE_COUNT) < 0)
    g_debug ("libvirt: no keepalive: %s", virGetLastErrorMessage ());
  if (virConnectRegisterCloseCallback (j->conn, lv_on_close, lv_event_ctx_new (j->token, j->gen),
                                       lv_event_ctx_free)
      < 0)
    {
      lv_job_fail (j);
      return;
    }
  j->lifecycle_cb = virConnectDomainEventRegisterAny (
      j->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK (lv_on_lifecycle),
      lv_event_ctx_new (j->token, j->gen), lv_event_ctx_free);
  j->balloon_cb = virConnectDomainEventRegisterAny (
      j->conn, NULL, VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, VIR_DOMAIN_EVENT_CALLBACK (lv_on_balloon),
      lv_event_ctx_new (j->token, j->gen), lv_event_ctx_free);
  if (j->lifecycle_cb < 0 || j->balloon_cb < 0)
    {
      lv_job_fail (j);
      return;
    }
  /* Listed after the callbacks are in place, so a domain starting meanwhile
   * is seen by one or the other (or both: refreshes are idempotent). */
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains (j->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0)
    {
      lv_job_fail (j);
      return;
    }
  j->names = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++)
    {
      g_ptr_array_add (j->names, g_strdup (virDomainGetName (doms[i])));
      virDomainFree (doms[i]);
    }
  free (doms);
}

static void
lv_connect_done (GObject *src, GAsyncResult *res, gpointer data)
{
  LvBackend *lv;
  LvJob *j = lv_job_of (res, &lv);
  if (lv == NULL || j->gen != lv->gen)
    return; /* lv_job_free closes the connection */
  lv->connecting = FALSE;
  if (j->error != NULL)
    {
      if (g_strcmp0 (lv->last_error, j->error) != 0)
        g_warning ("libvirt: cannot connect to %s: %s (retrying)", lv->uri, j->error);
      else
        g_debug ("libvirt: cannot connect to %s: %s", lv->uri, j->error);
      g_free (lv->last_error);
      lv->last_error = g_steal_pointer (&j->error);
      lv_schedule_connect (lv);
      return;
    }
  /* Closed between registering the close callback and now: that event found
   * no connection to drop, so none would come again. */
  if (virConnectIsAlive (j->conn) != 1)
    {
      g_debug ("libvirt: %s closed while connecting", lv->uri);
      lv_schedule_connect (lv);
      return;
    }
  g_clear_pointer (&lv->last_error, g_free);
  lv->conn = g_steal_pointer (&j->conn);
  lv->connected_mono_us = g_get_monotonic_time ();
  lv->lifecycle_cb = j->lifecycle_cb;
  lv->balloon_cb = j->balloon_cb;
  g_message ("libvirt: connected to %s, %u running domains", lv->uri, j->names->len);
  /* Known domains not in the list stopped while libvirtd was away: a
   * refresh finds them gone. */
  g_autoptr (GPtrArray) names = lv_dom_names (lv);
  for (guint i = 0; i < names->len; i++)
    lv_refresh (lv, g_ptr_array_index (names, i));
  for (guint i = 0; i < j->names->len; i++)
    lv_refresh (lv, g_ptr_array_index (j->names, i));
}

static void
lv_connect (LvBackend *lv)
{
  if (lv->conn != NULL || lv->connecting)
    return;
  lv->gen++;
  lv->connecting = TRUE;
  LvJob *j = lv_job_new (lv, NULL, NULL);
  j->uri = g_strdup (lv->uri);
  lv_job_run (j, lv_connect_thread, lv_connect_done);
}

/* ---- discovery: one domain's current truth ---------------------------------- */

static int
lv_read_pid (const char *name)
{
  g_autofree char *base = g_strconcat (name, ".pid", NULL);
  g_autofree char *path = g_build_filename (LV_PID_DIR, base, NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  gint64 pid = g_ascii_strtoll (text, NULL, 10);
  return pid > 0 && pid <= G_MAXINT ? (int) pid : 0;
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
  j->pid = lv_read_pid (j->name);
}

static void
lv_vm_update (Vm *vm, LvJob *j)
{
  vm->ram_bytes = j->max_bytes;
  vm->paused = j->paused;
  vm->pid = j->pid;
  vm->ksm_excluded = j->xml.nosharepages;
  g_free (vm->balloon_path);
  vm->balloon_path = g_strdup (j->xml.balloon_alias);
  if (g_strcmp0 (vm->agent_path, j->xml.agent_path) != 0)
    {
      g_free (vm->agent_path);
      vm->agent_path = g_strdup (j->xml.agent_path);
      vm_agent_start (vm);
    }
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
          mgr_remove_vm (lv->mgr, d->name);
          mgr_vm_note (lv->mgr, NULL, VM_NOTE_KICK);
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
        lv_vm_update (d->vm, j);
      else
        {
          Vm *vm = vm_new (lv->mgr, 0, d->name, "libvirt", NULL, NULL);
          vm_set_ops (vm, &lv_vm_ops, d);
          d->vm = vm;
          vm->ram_bytes = j->max_bytes;
          vm->agent_path = g_strdup (j->xml.agent_path);
          lv_vm_update (vm, j);
          vm->kicks |= d->pending_kicks;
          d->pending_kicks = 0;
          if (!mgr_adopt_vm (lv->mgr, vm))
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

/* Looks domain `name` up again and adds, updates or removes its VM. One
 * refresh per domain at a time; asking again meanwhile re-runs it after. */
static void
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

/* ---- events on the main context -------------------------------------------- */

/* Lifecycle events: which need the domain looked up again, and what they
 * mean for the policy. Starts and stops add and remove VMs through the
 * refresh; the manager gives those their CREATED/DESTROYED kicks. */
static const struct
{
  int event;
  int detail; /* -1: any */
  gboolean refresh;
  uint32_t kick;
  int paused; /* -1 unchanged, 0 running, 1 paused */
} lv_lifecycle_table[] = {
  { VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_MIGRATED, TRUE, POLICY_KICK_MIGRATED, 0 },
  { VIR_DOMAIN_EVENT_STARTED, -1, TRUE, 0, 0 },
  { VIR_DOMAIN_EVENT_SUSPENDED, -1, FALSE, 0, 1 },
  { VIR_DOMAIN_EVENT_RESUMED, -1, FALSE, POLICY_KICK_RESUMED, 0 },
  { VIR_DOMAIN_EVENT_STOPPED, -1, TRUE, POLICY_KICK_DESTROYING, -1 },
  { VIR_DOMAIN_EVENT_SHUTDOWN, -1, FALSE, POLICY_KICK_DESTROYING, -1 },
  { VIR_DOMAIN_EVENT_PMSUSPENDED, -1, FALSE, 0, 1 },
  { VIR_DOMAIN_EVENT_CRASHED, -1, TRUE, POLICY_KICK_DESTROYING, -1 },
};

static void
lv_on_lifecycle_main (LvBackend *lv, const LvEvent *e)
{
  for (gsize i = 0; i < G_N_ELEMENTS (lv_lifecycle_table); i++)
    {
      const typeof (lv_lifecycle_table[0]) *row = &lv_lifecycle_table[i];
      if (row->event != e->event || (row->detail >= 0 && row->detail != e->detail))
        continue;
      g_info ("%s: libvirt event %d/%d", e->name, e->event, e->detail);
      LvDom *d = g_hash_table_lookup (lv->doms, e->name);
      Vm *vm = d ? d->vm : NULL;
      if (vm != NULL && row->paused >= 0)
        vm->paused = row->paused;
      if (row->kick)
        {
          if (vm != NULL)
            vm->kicks |= row->kick;
          else if (row->refresh)
            lv_dom_get (lv, e->name)->pending_kicks |= row->kick;
          mgr_vm_note (lv->mgr, vm, VM_NOTE_KICK);
        }
      if (row->refresh)
        lv_refresh (lv, e->name);
      return;
    }
}

static gboolean
lv_event_main (gpointer data)
{
  LvEvent *e = data;
  LvBackend *lv = e->token->lv;
  if (lv == NULL || e->gen != lv->gen)
    return G_SOURCE_REMOVE;
  switch (e->kind)
    {
    case LV_EV_CLOSED:
      {
        static const char *const reasons[] = { "error", "end of file", "keepalive timeout",
                                               "client closed" };
        lv_disconnect (lv, (gsize) e->event < G_N_ELEMENTS (reasons) ? reasons[e->event] : "?");
        break;
      }
    case LV_EV_BALLOON:
      {
        LvDom *d = g_hash_table_lookup (lv->doms, e->name);
        if (d != NULL && d->vm != NULL)
          {
            d->vm->actual_bytes.present = TRUE;
            d->vm->actual_bytes.value = e->actual_bytes;
          }
        break;
      }
    case LV_EV_LIFECYCLE:
      lv_on_lifecycle_main (lv, e);
      break;
    }
  return G_SOURCE_REMOVE;
}

/* ---- VmOps: sampling and actuation ---------------------------------------- */

static void
lv_vm_start (Vm *vm)
{
  /* libvirt already vouches that the domain runs: nothing to negotiate. */
  vm->state = VM_ACTIVE;
  g_clear_pointer (&vm->lost_reason, g_free);
  g_message ("%s: active (libvirt, balloon %s, RAM %" G_GUINT64_FORMAT " MiB%s)", vm->name,
             vm->balloon_path ? vm->balloon_path : "none", vm->ram_bytes >> 20,
             vm->ksm_excluded ? ", nosharepages" : "");
  mgr_vm_note (vm->mgr, vm, VM_NOTE_ACTIVE);
  vm_agent_start (vm);
  vm_sample (vm);
}

/* libvirt's stat tags, their place in QmpGuestStats and the unit libvirt
 * reports them in (KiB for sizes, counts for faults). */
static const struct
{
  int tag;
  gsize offset;
  guint64 scale;
} lv_stat_map[] = {
  { VIR_DOMAIN_MEMORY_STAT_SWAP_IN, G_STRUCT_OFFSET (QmpGuestStats, swap_in_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_SWAP_OUT, G_STRUCT_OFFSET (QmpGuestStats, swap_out_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT, G_STRUCT_OFFSET (QmpGuestStats, major_faults), 1 },
  { VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT, G_STRUCT_OFFSET (QmpGuestStats, minor_faults), 1 },
  { VIR_DOMAIN_MEMORY_STAT_UNUSED, G_STRUCT_OFFSET (QmpGuestStats, free_bytes), 1024 },
  /* libvirt's "available" is the guest's total, "usable" its MemAvailable. */
  { VIR_DOMAIN_MEMORY_STAT_AVAILABLE, G_STRUCT_OFFSET (QmpGuestStats, total_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_USABLE, G_STRUCT_OFFSET (QmpGuestStats, available_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_DISK_CACHES, G_STRUCT_OFFSET (QmpGuestStats, disk_caches_bytes), 1024 },
  { VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC, G_STRUCT_OFFSET (QmpGuestStats, hugetlb_allocs), 1 },
  { VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL, G_STRUCT_OFFSET (QmpGuestStats, hugetlb_failures), 1 },
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
  LvJob *j = lv_job_of (res, &lv);
  LvDom *d = lv ? g_hash_table_lookup (lv->doms, j->name) : NULL;
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
      g_debug ("%s: memory stats: %s", vm->name, j->error);
      return;
    }
  QmpGuestStats st = { 0 };
  for (int i = 0; i < j->n_stats; i++)
    {
      const virDomainMemoryStatStruct *s = &j->stats[i];
      if (s->tag == VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON)
        {
          vm->actual_bytes.present = TRUE;
          vm->actual_bytes.value = (guint64) s->val * 1024;
        }
      else if (s->tag == VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE)
        st.last_update_s = (gint64) s->val;
      for (gsize k = 0; k < G_N_ELEMENTS (lv_stat_map); k++)
        if (lv_stat_map[k].tag == s->tag)
          {
            QmpStatValue *out = G_STRUCT_MEMBER_P (&st, lv_stat_map[k].offset);
            out->present = TRUE;
            out->value = (guint64) s->val * lv_stat_map[k].scale;
          }
    }
  vm->stats = st;
}

static void
lv_vm_sample (Vm *vm)
{
  LvDom *d = vm->backend_data;
  if (d == NULL || d->dom == NULL || d->sampling || vm->state != VM_ACTIVE)
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
  LvJob *j = lv_job_of (res, &lv);
  LvDom *d = lv ? g_hash_table_lookup (lv->doms, j->name) : NULL;
  if (d == NULL)
    return;
  d->setting = FALSE;
  if (d->vm != NULL && j->error != NULL)
    {
      g_message ("%s: balloon: %s", d->name, j->error);
      /* Forget the in-flight target so the policy may re-issue it. */
      d->vm->last_target_bytes.present = FALSE;
    }
  if (d->has_pending_target && d->dom != NULL)
    {
      d->has_pending_target = FALSE;
      lv_set_issue (d, d->pending_target_bytes);
    }
  else
    lv_dom_drop_if_idle (lv, d);
}

static void
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
  LvDom *d = vm->backend_data;
  if (d == NULL || vm->balloon_path == NULL || vm->state != VM_ACTIVE)
    return;
  vm->last_target_bytes.present = TRUE;
  vm->last_target_bytes.value = target_bytes;
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
  LvDom *d = vm->backend_data;
  if (d != NULL)
    d->vm = NULL;
  vm->backend_data = NULL;
}

static const VmOps lv_vm_ops = {
  .start = lv_vm_start,
  .sample = lv_vm_sample,
  .set_balloon = lv_vm_set_balloon,
  .free = lv_vm_free,
};

/* ---- life cycle ------------------------------------------------------------- */

LvBackend *
lv_backend_new (Manager *mgr, const char *uri)
{
  lv_event_loop_ensure ();
  LvBackend *lv = g_new0 (LvBackend, 1);
  lv->mgr = mgr;
  lv->uri = g_strdup (uri);
  lv->token = g_atomic_rc_box_new0 (LvToken);
  lv->token->lv = lv;
  lv->lifecycle_cb = lv->balloon_cb = -1;
  lv->doms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, lv_dom_free);
  qmp_backoff_init (&lv->backoff, LV_BACKOFF_INITIAL_MS, LV_BACKOFF_MAX_MS);
  lv_connect (lv);
  return lv;
}

const char *
lv_backend_get_uri (LvBackend *lv)
{
  return lv->uri;
}

/* Deregistering and closing talk to libvirtd: off the main thread, which
 * must keep running (it also runs libvirt's keepalive, which is what ends a
 * call to a hung libvirtd). */
static void
lv_teardown_thread (GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
  LvJob *j = data;
  if (j->lifecycle_cb >= 0)
    virConnectDomainEventDeregisterAny (j->conn, j->lifecycle_cb);
  if (j->balloon_cb >= 0)
    virConnectDomainEventDeregisterAny (j->conn, j->balloon_cb);
  virConnectClose (j->conn);
  j->conn = NULL;
}

static void
lv_teardown_done (GObject *src, GAsyncResult *res, gpointer data)
{
}

void
lv_backend_free (LvBackend *lv)
{
  if (lv == NULL)
    return;
  lv->token->lv = NULL;
  g_clear_handle_id (&lv->retry_id, g_source_remove);
  g_autoptr (GPtrArray) names = lv_dom_names (lv);
  for (guint i = 0; i < names->len; i++)
    {
      LvDom *d = g_hash_table_lookup (lv->doms, g_ptr_array_index (names, i));
      if (d->vm != NULL)
        mgr_remove_vm (lv->mgr, d->name);
    }
  g_hash_table_unref (lv->doms);
  if (lv->conn != NULL)
    {
      virConnectUnregisterCloseCallback (lv->conn, lv_on_close);
      LvJob *j = lv_job_new (lv, NULL, NULL);
      j->conn = g_steal_pointer (&lv->conn);
      j->lifecycle_cb = lv->lifecycle_cb;
      j->balloon_cb = lv->balloon_cb;
      lv_job_run (j, lv_teardown_thread, lv_teardown_done);
    }
  lv_token_unref (lv->token);
  g_free (lv->last_error);
  g_free (lv->uri);
  g_free (lv);
}
