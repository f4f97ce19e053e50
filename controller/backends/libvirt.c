/* libvirt.c: the libvirt backend's connection: connect and reconnect with
 * backoff, libvirt's events queued to the main loop, lifecycle and balloon events.
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

#include "libvirt-private.h"

#include <libxml/parser.h>
#include <string.h>

/* libvirtd restarts take a second or two: retry quickly at first, then back
 * off so a host without libvirtd costs nothing. */
#define LV_BACKOFF_INITIAL_MS 250
#define LV_BACKOFF_MAX_MS 5000
/* A hung libvirtd is declared dead after 5 s * (3 + 1) without keepalive
 * answers; the close callback then starts a reconnect. */
#define LV_KEEPALIVE_INTERVAL_S 5
#define LV_KEEPALIVE_COUNT 3
/* The backoff starts over only after a connection that lasted this long. */
#define LV_STABLE_CONN_US (30 * G_USEC_PER_SEC)

static void lv_connect (LvBackend *lv);

/* ---- process-wide event loop ----------------------------------------------- */

static void
lv_ignore_error (void *data, virErrorPtr err)
{
  /* Every call's failure is reported where it is handled; libvirt's default
   * handler would print each one to stderr a second time. */
}

/* libvirt wants its event implementation registered once, before the first
 * connection. */
void
lv_init_once (void)
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

static void
lv_retry_cb (gpointer data)
{
  lv_connect (data);
}

static void
lv_schedule_connect (LvBackend *lv)
{
  if (!lv->connecting)
    qmp_retry_schedule (&lv->retry);
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
    qmp_retry_reset (&lv->retry);
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
  j->names = lv_list_active (j->conn);
  if (j->names == NULL)
    lv_job_fail (j);
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
        vm_update_paused (vm, row->paused);
      if (row->kick && vm != NULL)
        vm_kick (vm, row->kick);
      else if (row->kick)
        {
          if (row->refresh)
            lv_dom_get (lv, e->name)->pending_kicks |= row->kick;
          lv->owner.note (NULL, VM_NOTE_KICK, lv->owner.user_data);
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
          static const char *const reasons[]
              = { "error", "end of file", "keepalive timeout", "client closed" };
          lv_disconnect (lv, (gsize) e->event < G_N_ELEMENTS (reasons) ? reasons[e->event] : "?");
          break;
        }
      case LV_EV_BALLOON:
        {
          LvDom *d = g_hash_table_lookup (lv->doms, e->name);
          if (d != NULL && d->vm != NULL)
            vm_update_actual (d->vm, e->actual_bytes);
          break;
        }
      case LV_EV_LIFECYCLE:
        lv_on_lifecycle_main (lv, e);
        break;
    }
  return G_SOURCE_REMOVE;
}

/* ---- life cycle ------------------------------------------------------------- */

LvBackend *
lv_backend_new (const VmOwner *owner, const char *uri)
{
  lv_init_once ();
  LvBackend *lv = g_new0 (LvBackend, 1);
  lv->owner = *owner;
  lv->uri = g_strdup (uri);
  lv->token = g_atomic_rc_box_new0 (LvToken);
  lv->token->lv = lv;
  lv->lifecycle_cb = lv->balloon_cb = -1;
  lv->doms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, lv_dom_free);
  qmp_retry_init (&lv->retry, LV_BACKOFF_INITIAL_MS, LV_BACKOFF_MAX_MS, lv_retry_cb, lv);
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
  qmp_retry_cancel (&lv->retry);
  g_autoptr (GPtrArray) names = lv_dom_names (lv);
  for (guint i = 0; i < names->len; i++)
    {
      LvDom *d = g_hash_table_lookup (lv->doms, g_ptr_array_index (names, i));
      if (d->vm != NULL)
        lv->owner.remove (d->name, lv->owner.user_data);
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
