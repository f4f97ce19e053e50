/* vm-qmp.c: a VM over its QMP socket: connect, negotiate (run state, RAM
 * size, balloon device, stats polling), sample, balloon, lifecycle events. */
#define G_LOG_DOMAIN "ballast-vm"

#include "vm-qmp.h"

#include "qmp-backoff.h"
#include "qmp-balloon.h"
#include "qmp-client.h"
#include "qmp-replies.h"

/* QEMU's guest-stats polling interval. 1 s matches the tick; the guest
 * driver's cost at this rate is negligible. */
#define VM_STATS_POLL_S 1
/* Reconnect: quick first retry (a QEMU restarting on the same path), then
 * back off to a few seconds so a dead VM costs nothing and logs nothing. */
#define VM_BACKOFF_INITIAL_MS 200
#define VM_BACKOFF_MAX_MS 5000
/* A QEMU that does not answer within this is treated as hung: a command
 * times out and the link is dropped by the client after repeated timeouts. */
#define VM_QMP_TIMEOUT_MS 3000
/* A RAM size that did not come is asked again, slower each time: without it
 * the VM is held, never ballooned. */
#define VM_RAM_RETRY_INITIAL_MS 1000
#define VM_RAM_RETRY_MAX_MS 30000
/* The balloon's size comes with every change as BALLOON_CHANGE (QEMU
 * throttles it to one a second and always sends the last): query-balloon
 * is asked on the first sample of a link and then every 16th (a quiet VM's
 * every minute), a check, not the source. */
#define VM_BALLOON_QUERY_EVERY 16

typedef struct
{
  Vm *vm;
  QmpClient *qmp;
  QmpRetry retry;
  QmpRetry ram_retry;
  guint samples_pending; /* queries in flight; no new ones while QEMU is slow */
  guint samples_taken;   /* on this link */
} VmQmp;

static VmQmp *
vq_of (Vm *vm)
{
  return vm_get_backend_data (vm);
}

static void
vq_drop (VmQmp *q)
{
  qmp_retry_cancel (&q->ram_retry);
  g_clear_pointer (&q->qmp, qmp_client_unref);
  q->samples_pending = 0;
  q->samples_taken = 0;
}

static void
vq_lost (VmQmp *q, const char *why)
{
  vq_drop (q);
  vm_link_lost (q->vm, why);
  qmp_retry_schedule (&q->retry);
}

/* Every async reply carries the client it was issued on; a reply for a
 * client we already dropped belongs to a dead connection and is ignored. */
static gboolean
vq_current (VmQmp *q, QmpClient *client)
{
  return q->qmp == client && client != NULL;
}

static void
vq_on_closed (QmpClient *client, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (vq_current (q, client))
    vq_lost (q, error ? error->message : "closed");
}

/* Lifecycle events that are kicks, with what they mean. */
static const struct
{
  const char *event;
  uint32_t kick;
  int paused; /* -1 unchanged, 0 running, 1 paused */
} vq_event_table[] = {
  { "GUEST_PANICKED", POLICY_KICK_DESTROYING, -1 },
  { "MEMORY_DEVICE_SIZE_CHANGE", POLICY_KICK_MEM_HOTPLUG, -1 },
  { "MIGRATION", POLICY_KICK_MIGRATED, -1 },
  { "POWERDOWN", POLICY_KICK_DESTROYING, -1 },
  { "RESET", POLICY_KICK_STARTED, -1 },
  { "RESUME", POLICY_KICK_RESUMED, 0 },
  { "SHUTDOWN", POLICY_KICK_DESTROYING, -1 },
  { "STOP", 0, 1 },
  { "SUSPEND", 0, 1 },
  { "WAKEUP", POLICY_KICK_RESUMED, 0 },
};

static void
vq_on_event (QmpClient *client, const char *event, json_t *edata, gint64 ts_us, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  if (g_str_equal (event, "BALLOON_CHANGE"))
    {
      guint64 actual_bytes;
      if (qmp_parse_balloon_change (edata, &actual_bytes, NULL))
        vm_update_actual (q->vm, actual_bytes);
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (vq_event_table); i++)
    if (g_str_equal (event, vq_event_table[i].event))
      {
        if (vq_event_table[i].paused >= 0)
          vm_update_paused (q->vm, vq_event_table[i].paused);
        if (vq_event_table[i].kick)
          vm_kick (q->vm, vq_event_table[i].kick);
        g_info ("%s: event %s", vm_get_name (q->vm), event);
        return;
      }
}

static void
vq_become_active (VmQmp *q)
{
  qmp_retry_reset (&q->retry);
  const char *balloon = vm_get_balloon_device (q->vm);
  g_autofree char *detail
      = g_strdup_printf ("balloon %s, RAM %" G_GUINT64_FORMAT " MiB", balloon ? balloon : "none",
                         vm_get_ram_bytes (q->vm) >> 20);
  vm_link_up (q->vm, detail);
}

static void
vq_on_polling_set (QmpClient *client, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  if (error)
    g_message ("%s: cannot enable guest stats polling: %s", vm_get_name (q->vm), error->message);
  vq_become_active (q);
}

static void
vq_on_free_page_reporting (QmpClient *client, gboolean reporting, const GError *error,
                           gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  /* Unknown (QEMU before 5.1) reads as without: the balloon is then the only
   * way memory the guest freed goes back. */
  if (error)
    g_message ("%s: balloon free-page-reporting unknown: %s", vm_get_name (q->vm),
               error->message);
  vm_update_balloon_free_page_reporting (q->vm, reporting);
  qmp_client_set_stats_polling (client, vm_get_balloon_device (q->vm), VM_STATS_POLL_S,
                                vq_on_polling_set, q);
}

static void
vq_on_deflate_on_oom (QmpClient *client, gboolean deflate_on_oom, const GError *error,
                      gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  /* Unknown (an older QEMU, say) reads as without: the stats' total is then
   * taken as the guest's size, as it is for most balloons. */
  if (error)
    g_message ("%s: balloon deflate-on-oom unknown: %s", vm_get_name (q->vm), error->message);
  vm_update_balloon_deflate_on_oom (q->vm, deflate_on_oom);
  qmp_client_balloon_flag (client, vm_get_balloon_device (q->vm), QMP_BALLOON_FREE_PAGE_REPORTING,
                           vq_on_free_page_reporting, q);
}

static void
vq_on_balloon_path (QmpClient *client, const char *path, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  if (error)
    {
      /* A VM without a balloon can still be watched (and counted), just not
       * resized. */
      g_message ("%s: no virtio-balloon device: %s", vm_get_name (q->vm), error->message);
      vq_become_active (q);
      return;
    }
  vm_update_balloon_device (q->vm, path);
  qmp_client_balloon_flag (client, path, QMP_BALLOON_DEFLATE_ON_OOM, vq_on_deflate_on_oom, q);
}

static gboolean
vq_take_memory_size (VmQmp *q, json_t *ret, const GError *error)
{
  g_autoptr (GError) local = NULL;
  guint64 ram_bytes;
  if (error == NULL && qmp_parse_memory_size (ret, &ram_bytes, &local))
    {
      vm_update_ram (q->vm, ram_bytes);
      qmp_retry_reset (&q->ram_retry);
      return TRUE;
    }
  g_message ("%s: query-memory-size-summary: %s (asking again)", vm_get_name (q->vm),
             error ? error->message : local->message);
  qmp_retry_schedule (&q->ram_retry);
  return FALSE;
}

static void
vq_on_memory_size (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  vq_take_memory_size (q, ret, error);
  qmp_client_find_balloon_path (client, vq_on_balloon_path, q);
}

static void
vq_on_memory_size_retry (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (vq_current (q, client))
    vq_take_memory_size (q, ret, error);
}

static void
vq_ask_memory_size (gpointer data)
{
  VmQmp *q = data;
  if (q->qmp != NULL)
    qmp_client_execute (q->qmp, "query-memory-size-summary", NULL, vq_on_memory_size_retry, q);
}

static void
vq_on_status (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  VmQmp *q = data;
  gboolean running;
  if (vq_current (q, client) && error == NULL && qmp_parse_status (ret, &running, NULL))
    vm_update_paused (q->vm, !running);
}

static void
vq_on_ready (QmpClient *client, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  vm_link_negotiating (q->vm);
  vm_update_pid (q->vm, qmp_client_get_peer_pid (client));
  /* Paused before we connected, or resumed while we were away: events
   * alone would miss it. */
  qmp_client_execute (client, "query-status", NULL, vq_on_status, q);
  qmp_client_execute (client, "query-memory-size-summary", NULL, vq_on_memory_size, q);
}

static void
vq_connect (gpointer data)
{
  VmQmp *q = data;
  g_autoptr (GError) error = NULL;
  vq_drop (q);
  vm_link_connecting (q->vm);
  QmpClientOptions opts = { .command_timeout_ms = VM_QMP_TIMEOUT_MS };
  QmpClientCallbacks cbs = { .ready = vq_on_ready, .closed = vq_on_closed, .user_data = q };
  q->qmp = qmp_client_new (&opts, &cbs);
  qmp_client_subscribe (q->qmp, "*", vq_on_event, q, NULL);
  if (!qmp_client_connect (q->qmp, vm_get_qmp_path (q->vm), &error))
    vq_lost (q, error->message);
}

/* ---- VmOps ---------------------------------------------------------------- */

static void
vq_start (Vm *vm)
{
  VmQmp *q = vq_of (vm);
  qmp_retry_cancel (&q->retry);
  qmp_retry_reset (&q->retry);
  vq_connect (q);
  vm_agent_restart (vm);
}

static void
vq_on_query_balloon (QmpClient *client, guint64 actual, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  q->samples_pending--;
  if (error == NULL)
    vm_update_actual (q->vm, actual);
}

static void
vq_stat (PolicyStat *out, const QmpStatValue *in)
{
  out->present = in->present;
  out->value = in->present ? in->value : 0;
}

static void
vq_on_guest_stats (QmpClient *client, const QmpGuestStats *st, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (!vq_current (q, client))
    return;
  q->samples_pending--;
  if (error != NULL)
    return;
  VmGuestStats out = { .last_update_s = st->last_update_s };
  vq_stat (&out.figures.total_bytes, &st->total_bytes);
  vq_stat (&out.figures.free_bytes, &st->free_bytes);
  vq_stat (&out.figures.available_bytes, &st->available_bytes);
  vq_stat (&out.figures.disk_caches_bytes, &st->disk_caches_bytes);
  vq_stat (&out.figures.major_faults, &st->major_faults);
  vq_stat (&out.figures.minor_faults, &st->minor_faults);
  vq_stat (&out.figures.swap_in_bytes, &st->swap_in_bytes);
  vq_stat (&out.figures.swap_out_bytes, &st->swap_out_bytes);
  vm_update_guest_stats (q->vm, &out);
}

static void
vq_sample (Vm *vm)
{
  VmQmp *q = vq_of (vm);
  const char *balloon = vm_get_balloon_device (vm);
  if (vm_get_state (vm) != VM_ACTIVE || q->qmp == NULL || q->samples_pending > 0 || balloon == NULL)
    return;
  q->samples_pending = 1;
  if (q->samples_taken++ % VM_BALLOON_QUERY_EVERY == 0)
    {
      q->samples_pending++;
      qmp_client_query_balloon (q->qmp, vq_on_query_balloon, q);
    }
  qmp_client_guest_stats (q->qmp, balloon, vq_on_guest_stats, q);
}

static void
vq_on_balloon_set (QmpClient *client, const GError *error, gpointer data)
{
  VmQmp *q = data;
  if (vq_current (q, client) && error != NULL)
    vm_target_failed (q->vm, error->message);
}

static void
vq_set_balloon (Vm *vm, guint64 target_bytes)
{
  VmQmp *q = vq_of (vm);
  if (vm_get_state (vm) != VM_ACTIVE || q->qmp == NULL || vm_get_balloon_device (vm) == NULL)
    return;
  vm_target_issued (vm, target_bytes);
  qmp_client_set_balloon (q->qmp, target_bytes, vq_on_balloon_set, q);
}

static void
vq_free (Vm *vm)
{
  VmQmp *q = vq_of (vm);
  qmp_retry_cancel (&q->retry);
  vq_drop (q);
  g_free (q);
  vm_set_backend_data (vm, NULL);
}

static const VmOps vq_ops = {
  .start = vq_start,
  .sample = vq_sample,
  .set_balloon = vq_set_balloon,
  .free = vq_free,
};

Vm *
vm_qmp_new (const VmOwner *owner, const char *name, const char *backend, const char *qmp_path,
            const char *agent_path)
{
  VmQmp *q = g_new0 (VmQmp, 1);
  q->vm = vm_new (owner, name, backend, qmp_path, agent_path, &vq_ops, q);
  qmp_retry_init (&q->retry, VM_BACKOFF_INITIAL_MS, VM_BACKOFF_MAX_MS, vq_connect, q);
  qmp_retry_init (&q->ram_retry, VM_RAM_RETRY_INITIAL_MS, VM_RAM_RETRY_MAX_MS, vq_ask_memory_size,
                  q);
  return q->vm;
}
