/* vm.c: per-VM links: QMP (connect, negotiate, find the balloon, sample,
 * actuate, events) and the agent socket, each reconnecting with backoff. */
#define G_LOG_DOMAIN "ballast-vm"

#include "vm.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "manager.h"

/* QEMU's guest-stats polling interval. 1 s matches the tick; the guest
 * driver's cost at this rate is negligible. */
#define VM_STATS_POLL_S 1
/* Reconnect: quick first retry (a QEMU restarting on the same path), then
 * back off to a few seconds so a dead VM costs nothing and logs nothing. */
#define VM_BACKOFF_INITIAL_MS 200
#define VM_BACKOFF_MAX_MS 5000
/* A hostile or broken agent can make many bad lines; log one per minute. */
#define VM_AGENT_ERROR_LOG_INTERVAL_US (60 * G_USEC_PER_SEC)
/* Histogram and stats older than this are not used by the policy. */
#define VM_QMP_TIMEOUT_MS 3000

static void vm_qmp_connect (Vm *vm);
static void vm_agent_connect (Vm *vm);
static const VmOps vm_qmp_ops;

const char *
vm_link_state_name (VmLinkState state)
{
  static const char *const names[] = { "connecting", "negotiating", "active", "lost" };
  return state < G_N_ELEMENTS (names) ? names[state] : "?";
}

const char *
vm_ws_source_name (const Vm *vm)
{
  if (vm->agent_report_seen && vm->agent_report.has_ws)
    return vm->agent_report.ws_source == AGENT_WS_SOURCE_MGLRU ? "agent" : "meminfo";
  if (vm->stats.last_update_s > 0)
    return "guest-stats";
  return "none";
}

Vm *
vm_new (Manager *mgr, uint64_t id, const char *name, const char *backend, const char *qmp_path,
        const char *agent_path)
{
  Vm *vm = g_new0 (Vm, 1);
  vm->mgr = mgr;
  vm->id = id;
  vm->name = g_strdup (name);
  vm->backend = backend;
  vm->qmp_path = g_strdup (qmp_path);
  vm->agent_path = g_strdup (agent_path);
  vm->ops = &vm_qmp_ops;
  vm->state = VM_CONNECTING;
  vm->added_real_ms = g_get_real_time () / 1000;
  qmp_backoff_init (&vm->backoff, VM_BACKOFF_INITIAL_MS, VM_BACKOFF_MAX_MS);
  qmp_backoff_init (&vm->agent_backoff, VM_BACKOFF_INITIAL_MS, VM_BACKOFF_MAX_MS);
  return vm;
}

/* Async agent I/O holds a token, not the Vm: a completion that was already
 * queued when the link stopped finds token->vm NULL and touches nothing. */
struct _VmAgentToken
{
  Vm *vm;
  guint refs;
  guint8 chunk[4096]; /* here, not in Vm, so a late read never lands in freed memory */
};

static VmAgentToken *
vm_token_ref (VmAgentToken *t)
{
  t->refs++;
  return t;
}

static void
vm_token_unref (VmAgentToken *t)
{
  if (--t->refs == 0)
    g_free (t);
}

static void
vm_agent_stop (Vm *vm)
{
  g_clear_handle_id (&vm->agent_retry_id, g_source_remove);
  if (vm->agent_token)
    {
      vm->agent_token->vm = NULL;
      g_clear_pointer (&vm->agent_token, vm_token_unref);
    }
  if (vm->agent_cancel)
    g_cancellable_cancel (vm->agent_cancel);
  g_clear_object (&vm->agent_cancel);
  if (vm->agent_conn)
    g_io_stream_close (G_IO_STREAM (vm->agent_conn), NULL, NULL);
  g_clear_object (&vm->agent_conn);
}

static void
vm_qmp_drop (Vm *vm)
{
  if (vm->qmp == NULL)
    return;
  QmpClient *c = g_steal_pointer (&vm->qmp);
  qmp_client_unref (c);
}

void
vm_free (Vm *vm)
{
  if (vm == NULL)
    return;
  if (vm->ops->free)
    vm->ops->free (vm);
  g_clear_handle_id (&vm->retry_id, g_source_remove);
  vm_qmp_drop (vm);
  vm_agent_stop (vm);
  g_clear_pointer (&vm->agent_link, agent_link_free);
  g_free (vm->name);
  g_free (vm->qmp_path);
  g_free (vm->agent_path);
  g_free (vm->balloon_path);
  g_free (vm->lost_reason);
  g_free (vm);
}

/* ---- QMP link ---------------------------------------------------------- */

static gboolean
vm_retry_cb (gpointer data)
{
  Vm *vm = data;
  vm->retry_id = 0;
  vm_qmp_connect (vm);
  return G_SOURCE_REMOVE;
}

/* Forgets what the previous QMP connection said: a new one (same socket
 * path, maybe another QEMU) starts from nothing. */
static void
vm_reset_link (Vm *vm)
{
  vm->samples_pending = 0;
  vm->pid = 0;
  vm->proc_sampled_mono_us = 0;
  vm->paused = FALSE;
  vm->actual_bytes.present = FALSE;
  vm->last_target_bytes.present = FALSE;
  memset (&vm->stats, 0, sizeof vm->stats);
  g_clear_pointer (&vm->balloon_path, g_free);
}

static void
vm_set_lost (Vm *vm, const char *why)
{
  gboolean was_up = vm->state == VM_ACTIVE || vm->state == VM_NEGOTIATING;
  if (was_up || vm->lost_reason == NULL)
    g_message ("%s: QMP link lost: %s", vm->name, why);
  else
    g_debug ("%s: reconnect failed: %s", vm->name, why);
  g_free (vm->lost_reason);
  vm->lost_reason = g_strdup (why);
  vm->state = VM_LOST;
  vm_qmp_drop (vm);
  vm_reset_link (vm);
  if (vm->retry_id == 0)
    vm->retry_id = g_timeout_add (qmp_backoff_next_ms (&vm->backoff), vm_retry_cb, vm);
  if (was_up)
    mgr_vm_note (vm->mgr, vm, VM_NOTE_LOST);
}

/* Every async reply carries the client it was issued on; a reply for a
 * client we already dropped belongs to a dead connection and is ignored. */
static gboolean
vm_current (Vm *vm, QmpClient *client)
{
  return vm->qmp == client && client != NULL;
}

static void
vm_on_closed (QmpClient *client, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  vm_set_lost (vm, error ? error->message : "closed");
}

static void
vm_on_event (QmpClient *client, const char *event, json_t *edata, gint64 ts_us, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  if (g_str_equal (event, "BALLOON_CHANGE"))
    {
      json_t *a = json_object_get (edata, "actual");
      if (json_is_integer (a) && json_integer_value (a) >= 0)
        {
          vm->actual_bytes.present = TRUE;
          vm->actual_bytes.value = (guint64) json_integer_value (a);
        }
      return;
    }
  /* Table of lifecycle events that are kicks, with what they mean. */
  static const struct
  {
    const char *event;
    uint32_t kick;
    int paused; /* -1 unchanged, 0 running, 1 paused */
  } kicks[] = {
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
  for (gsize i = 0; i < G_N_ELEMENTS (kicks); i++)
    if (g_str_equal (event, kicks[i].event))
      {
        if (kicks[i].paused >= 0)
          vm->paused = kicks[i].paused;
        if (kicks[i].kick)
          {
            vm->kicks |= kicks[i].kick;
            mgr_vm_note (vm->mgr, vm, VM_NOTE_KICK);
          }
        g_info ("%s: event %s", vm->name, event);
        return;
      }
}

static void
vm_become_active (Vm *vm)
{
  vm->state = VM_ACTIVE;
  qmp_backoff_reset (&vm->backoff);
  g_clear_pointer (&vm->lost_reason, g_free);
  g_message ("%s: active (balloon %s, RAM %" G_GUINT64_FORMAT " MiB)", vm->name,
             vm->balloon_path ? vm->balloon_path : "none", vm->ram_bytes >> 20);
  mgr_vm_note (vm->mgr, vm, VM_NOTE_ACTIVE);
  vm_sample (vm);
}

static void
vm_on_polling_set (QmpClient *client, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  if (error)
    g_message ("%s: cannot enable guest stats polling: %s", vm->name, error->message);
  vm_become_active (vm);
}

static void
vm_on_balloon_path (QmpClient *client, const char *path, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  if (error)
    {
      /* A VM without a balloon can still be watched (and counted), just not
       * resized. */
      g_message ("%s: no virtio-balloon device: %s", vm->name, error->message);
      vm_become_active (vm);
      return;
    }
  g_free (vm->balloon_path);
  vm->balloon_path = g_strdup (path);
  qmp_client_set_stats_polling (client, path, VM_STATS_POLL_S, vm_on_polling_set, vm);
}

static void
vm_on_memory_size (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  json_t *base = ret ? json_object_get (ret, "base-memory") : NULL;
  if (json_is_integer (base) && json_integer_value (base) > 0)
    {
      guint64 plugged = 0;
      json_t *p = json_object_get (ret, "plugged-memory");
      if (json_is_integer (p) && json_integer_value (p) > 0)
        plugged = (guint64) json_integer_value (p);
      vm->ram_bytes = (guint64) json_integer_value (base) + plugged;
      if (vm->agent_link)
        agent_link_set_ram (vm->agent_link, vm->ram_bytes);
    }
  else
    g_message ("%s: query-memory-size-summary: %s", vm->name,
               error ? error->message : "no base-memory");
  qmp_client_find_balloon_path (client, vm_on_balloon_path, vm);
}

static void
vm_on_status (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  json_t *running = ret ? json_object_get (ret, "running") : NULL;
  if (json_is_boolean (running))
    vm->paused = !json_is_true (running);
}

static void
vm_on_ready (QmpClient *client, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  vm->state = VM_NEGOTIATING;
  vm->pid = qmp_client_get_peer_pid (client);
  /* Paused before we connected, or resumed while we were away: events
   * alone would miss it. */
  qmp_client_execute (client, "query-status", NULL, vm_on_status, vm);
  qmp_client_execute (client, "query-memory-size-summary", NULL, vm_on_memory_size, vm);
}

static void
vm_qmp_connect (Vm *vm)
{
  g_autoptr (GError) error = NULL;
  vm_qmp_drop (vm);
  vm_reset_link (vm);
  QmpClientOptions opts = { .command_timeout_ms = VM_QMP_TIMEOUT_MS };
  QmpClientCallbacks cbs = { .ready = vm_on_ready, .closed = vm_on_closed, .user_data = vm };
  vm->qmp = qmp_client_new (&opts, &cbs);
  qmp_client_subscribe (vm->qmp, "*", vm_on_event, vm, NULL);
  vm->state = VM_CONNECTING;
  if (!qmp_client_connect (vm->qmp, vm->qmp_path, &error))
    vm_set_lost (vm, error->message);
}

/* ---- sampling and actuation -------------------------------------------- */

static void
vm_on_query_balloon (QmpClient *client, guint64 actual, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  vm->samples_pending--;
  if (error)
    return;
  vm->actual_bytes.present = TRUE;
  vm->actual_bytes.value = actual;
}

static void
vm_on_guest_stats (QmpClient *client, const QmpGuestStats *stats, const GError *error,
                   gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client))
    return;
  vm->samples_pending--;
  if (error == NULL)
    vm->stats = *stats;
}

static void
vm_qmp_sample (Vm *vm)
{
  if (vm->state != VM_ACTIVE || vm->qmp == NULL || vm->samples_pending > 0
      || vm->balloon_path == NULL)
    return;
  vm->samples_pending = 2;
  qmp_client_query_balloon (vm->qmp, vm_on_query_balloon, vm);
  qmp_client_guest_stats (vm->qmp, vm->balloon_path, vm_on_guest_stats, vm);
}

static void
vm_on_balloon_set (QmpClient *client, const GError *error, gpointer data)
{
  Vm *vm = data;
  if (!vm_current (vm, client) || error == NULL)
    return;
  g_message ("%s: balloon: %s", vm->name, error->message);
  /* Forget the in-flight target so the policy may re-issue it. */
  vm->last_target_bytes.present = FALSE;
}

static void
vm_qmp_set_balloon (Vm *vm, guint64 target_bytes)
{
  if (vm->state != VM_ACTIVE || vm->qmp == NULL || vm->balloon_path == NULL)
    return;
  vm->last_target_bytes.present = TRUE;
  vm->last_target_bytes.value = target_bytes;
  qmp_client_set_balloon (vm->qmp, target_bytes, vm_on_balloon_set, vm);
}

/* ---- agent link -------------------------------------------------------- */

static gboolean
vm_agent_retry_cb (gpointer data)
{
  Vm *vm = data;
  vm->agent_retry_id = 0;
  vm_agent_connect (vm);
  return G_SOURCE_REMOVE;
}

static void
vm_agent_retry_later (Vm *vm)
{
  vm_agent_stop (vm);
  if (vm->agent_path && vm->agent_retry_id == 0)
    vm->agent_retry_id
        = g_timeout_add (qmp_backoff_next_ms (&vm->agent_backoff), vm_agent_retry_cb, vm);
}

/* A drop in the guest's available memory this large between two reports
 * is a demand spike worth an immediate decision. */
#define VM_DEMAND_JUMP_BYTES (32 * 1024 * 1024)

static gboolean
vm_demand_jumped (const Vm *vm, const AgentReport *r)
{
  guint64 before = vm->agent_report.mem.available_bytes;
  return before > r->mem.available_bytes
         && before - r->mem.available_bytes >= VM_DEMAND_JUMP_BYTES;
}

static void
vm_agent_on_msg (const AgentMsg *msg, gpointer data)
{
  Vm *vm = data;
  switch (msg->type)
    {
    case AGENT_MSG_HELLO:
      {
        /* A guest may repeat hello at the agent's rate limit: log changes only. */
        const AgentHello *h = &msg->hello;
        gboolean changed = !vm->agent_hello_seen || strcmp (vm->agent_hello.agent, h->agent) != 0
                           || strcmp (vm->agent_hello.kernel, h->kernel) != 0
                           || vm->agent_hello.mglru != h->mglru;
        vm->agent_hello_seen = TRUE;
        vm->agent_hello = *h;
        if (changed)
          g_message ("%s: agent %s, kernel %s, mglru %s", vm->name, h->agent, h->kernel,
                     h->mglru ? "yes" : "no");
        break;
      }
    case AGENT_MSG_REPORT:
      {
        gboolean demand_jump = vm->agent_report_seen && vm_demand_jumped (vm, &msg->report);
        vm->agent_report_seen = TRUE;
        vm->agent_report = msg->report;
        vm->agent_report_mono_us = g_get_monotonic_time ();
        vm->agent_report_real_ms = g_get_real_time () / 1000;
        /* New demand is acted on when it is seen, not at the next tick. */
        if (demand_jump)
          mgr_vm_note (vm->mgr, vm, VM_NOTE_URGENT);
        break;
      }
    case AGENT_MSG_PRESSURE:
      vm->pressure_count++;
      vm->pressure_real_ms = g_get_real_time () / 1000;
      vm->urgent = TRUE;
      mgr_vm_note (vm->mgr, vm, VM_NOTE_URGENT);
      break;
    }
}

static void vm_agent_read (Vm *vm);

static void
vm_agent_on_read (Vm *vm, gssize n)
{
  if (n <= 0)
    {
      g_debug ("%s: agent link closed", vm->name);
      vm_agent_retry_later (vm);
      return;
    }
  gint64 now_us = g_get_monotonic_time ();
  AgentLinkCounters before, after;
  agent_link_get_counters (vm->agent_link, &before);
  agent_link_feed (vm->agent_link, (const char *) vm->agent_token->chunk, n, now_us, vm_agent_on_msg, vm);
  agent_link_get_counters (vm->agent_link, &after);
  if (after.rejected > before.rejected
      && now_us - vm->agent_error_logged_mono_us > VM_AGENT_ERROR_LOG_INTERVAL_US)
    {
      g_message ("%s: agent sent invalid input (%" G_GUINT64_FORMAT " rejected so far): %s",
                 vm->name, after.rejected, agent_link_get_last_error (vm->agent_link));
      vm->agent_error_logged_mono_us = now_us;
    }
  if (vm->agent_conn != NULL)
    vm_agent_read (vm);
}

static void
vm_agent_read_done (GObject *src, GAsyncResult *res, gpointer data)
{
  VmAgentToken *t = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (src), res, &error);
  if (t->vm != NULL)
    vm_agent_on_read (t->vm, n);
  vm_token_unref (t);
}

static void
vm_agent_read (Vm *vm)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (vm->agent_conn));
  g_input_stream_read_async (in, vm->agent_token->chunk, sizeof vm->agent_token->chunk,
                             G_PRIORITY_DEFAULT,
                             vm->agent_cancel, vm_agent_read_done, vm_token_ref (vm->agent_token));
}

static void
vm_agent_connected (GObject *src, GAsyncResult *res, gpointer data)
{
  VmAgentToken *t = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (src), res, &error);
  Vm *vm = t->vm;
  vm_token_unref (t);
  if (vm == NULL)
    {
      g_clear_object (&conn);
      return;
    }
  if (conn == NULL)
    {
      g_debug ("%s: agent socket: %s", vm->name, error->message);
      vm_agent_retry_later (vm);
      return;
    }
  vm->agent_conn = conn;
  qmp_backoff_reset (&vm->agent_backoff);
  agent_link_reset (vm->agent_link);
  vm_agent_read (vm);
}

static void
vm_agent_connect (Vm *vm)
{
  vm_agent_stop (vm);
  if (vm->agent_path == NULL)
    return;
  if (vm->agent_link == NULL)
    vm->agent_link = agent_link_new (vm->ram_bytes);
  vm->agent_cancel = g_cancellable_new ();
  vm->agent_token = g_new0 (VmAgentToken, 1);
  vm->agent_token->vm = vm;
  vm->agent_token->refs = 1;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (vm->agent_path);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (addr), vm->agent_cancel,
                                 vm_agent_connected, vm_token_ref (vm->agent_token));
}

void
vm_agent_start (Vm *vm)
{
  qmp_backoff_reset (&vm->agent_backoff);
  vm_agent_connect (vm);
}

static void
vm_qmp_start (Vm *vm)
{
  g_clear_handle_id (&vm->retry_id, g_source_remove);
  qmp_backoff_reset (&vm->backoff);
  vm_qmp_connect (vm);
  vm_agent_connect (vm);
}

static const VmOps vm_qmp_ops = {
  .start = vm_qmp_start,
  .sample = vm_qmp_sample,
  .set_balloon = vm_qmp_set_balloon,
};

void
vm_set_ops (Vm *vm, const VmOps *ops, gpointer backend_data)
{
  vm->ops = ops;
  vm->backend_data = backend_data;
}

void
vm_start (Vm *vm)
{
  vm->ops->start (vm);
}

void
vm_sample (Vm *vm)
{
  vm->ops->sample (vm);
}

void
vm_set_balloon (Vm *vm, guint64 target_bytes)
{
  vm->ops->set_balloon (vm, target_bytes);
}

/* ---- policy input ------------------------------------------------------ */

static void
vm_stat (PolicyStat *out, const QmpStatValue *in)
{
  out->present = in->present;
  out->value = in->present ? in->value : 0;
}

void
vm_to_policy (Vm *vm, const PolicyVmConfig *cfg, gint64 now_mono_us, gint64 now_real_us,
              PolicyVm *out)
{
  memset (out, 0, sizeof *out);
  out->id = vm->id;
  out->name = vm->name;
  out->cfg = *cfg;
  if (vm->ksm_excluded)
    out->cfg.ksm = FALSE;
  out->state = vm->paused ? POLICY_VM_STATE_PAUSED
               : (vm->state == VM_ACTIVE && vm->balloon_path) ? POLICY_VM_STATE_RUNNING
                                                              : POLICY_VM_STATE_STARTING;
  out->ram_bytes = vm->ram_bytes;
  out->actual_bytes = vm->actual_bytes;
  out->last_target_bytes = vm->last_target_bytes;

  const QmpGuestStats *st = &vm->stats;
  if (st->last_update_s > 0)
    {
      vm_stat (&out->stats.total_bytes, &st->total_bytes);
      vm_stat (&out->stats.free_bytes, &st->free_bytes);
      vm_stat (&out->stats.available_bytes, &st->available_bytes);
      vm_stat (&out->stats.disk_caches_bytes, &st->disk_caches_bytes);
      vm_stat (&out->stats.major_faults, &st->major_faults);
      vm_stat (&out->stats.minor_faults, &st->minor_faults);
      vm_stat (&out->stats.swap_in_bytes, &st->swap_in_bytes);
      vm_stat (&out->stats.swap_out_bytes, &st->swap_out_bytes);
      gint64 age_ms = now_real_us / 1000 - st->last_update_s * 1000;
      out->stats.age_ms = age_ms > 0 ? (uint64_t) age_ms : 0;
    }

  if (vm->agent_report_seen)
    {
      const AgentReport *r = &vm->agent_report;
      gint64 age_us = now_mono_us - vm->agent_report_mono_us;
      uint64_t age_ms = age_us > 0 ? (uint64_t) age_us / 1000 : 0;
      if (r->has_ws && r->n_bins > 0)
        {
          out->ws.source = r->ws_source == AGENT_WS_SOURCE_MGLRU ? POLICY_WS_AGENT
                                                                 : POLICY_WS_MEMINFO;
          out->ws.age_ms = age_ms;
          /* More bins than the policy holds: fold the oldest into the last. */
          size_t n = MIN (r->n_bins, (guint) POLICY_WS_MAX_BINS);
          for (size_t i = 0; i < r->n_bins; i++)
            {
              size_t j = MIN (i, n - 1);
              out->ws.bins[j].age_ms = (i < n - 1) ? r->bins[i].age_ms : 0;
              out->ws.bins[j].anon_bytes += r->bins[i].anon_bytes;
              out->ws.bins[j].file_bytes += r->bins[i].file_bytes;
            }
          out->ws.n_bins = n;
        }
      out->agent.present = TRUE;
      out->agent.age_ms = age_ms;
      out->agent.psi_some_avg10_pct = r->has_psi ? r->some_avg10_pct : 0;
      out->agent.psi_full_avg10_pct = r->has_psi ? r->full_avg10_pct : 0;
      out->agent.psi_some_total_us = r->has_psi ? r->some_total_us : 0;
      out->agent.refault_total_pages
          = r->has_vmstat ? r->workingset_refault_anon + r->workingset_refault_file : 0;
      out->agent.unevictable_bytes = r->mem.unevictable_bytes;
      out->agent.oom_kills = r->has_vmstat ? r->oom_kill : 0;
    }
  out->agent.urgent = vm->urgent;
  out->pss_bytes = vm->pss_bytes;
  out->ksm_merging_pages = vm->ksm_merging_pages;
  out->cgroup_kernel_bytes = vm->cgroup_kernel_bytes;
  out->kicks = vm->kicks;
}
