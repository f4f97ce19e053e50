/* manager-private.h: the Manager record, shared by manager.c (VMs, tick,
 * life cycle) and manager-commands.c (the control socket's commands). */
#pragma once

#include "ballast-config.h"

#include "control.h"
#include "decision-log.h"
#include "http.h"
#include "manager.h"
#include "metrics.h"
#include "sample.h"
#if HAVE_LIBVIRT
#include "libvirt.h"
#endif
#include "vmdir.h"

struct _Manager
{
  GMainLoop *loop;
  BallastConfig *cfg;
  VmOwner owner; /* how VMs and backends reach back */
  gboolean dry_run;
  gboolean dry_run_runtime; /* set-dry-run on: kept across reloads */
  GHashTable *vms;          /* name -> Vm* */
  uint64_t next_vm_id;
  guint tick_id;
  guint urgent_id;
  gint64 last_tick_mono_us;
  gint64 start_mono_us;
  guint64 n_ticks;
  PolicyCarry *carry;
  PolicyHost host;
  PolicyKsm ksm;
  PolicyKsmDecision ksm_decision;
  gboolean have_ksm_decision;
  uint64_t budget_bytes;
  uint64_t reserve_bytes;
  gboolean overloaded;
  uint32_t host_kicks;
  DecisionLog *log;
  CtlServer *ctl;
  VmDir *vmdir;
#if HAVE_LIBVIRT
  LvBackend *libvirt;
#endif
  SampleCtx *sample;
  GPtrArray *sources;         /* registered event sources (names) */
  gint64 ksm_state_since_ms;  /* wall clock of the last KSM state change */
  gboolean vm_cap_logged;     /* [daemon] max-vms reached; said once */
  GHashTable *booting_since;  /* name -> since when it is STARTING (manager.c) */
  HttpServer *http;           /* NULL: off, or built without libsoup */
  MetricsHistogram tick_hist; /* tick durations, for /metrics */
  guint64 n_extra_ticks;
};

/* The control socket's commands (manager-commands.c), sorted by name. */
extern const CtlCommand mgr_commands[];
extern const gsize mgr_n_commands;

/* A VM's policy: its run-time override, else the config's. */
void mgr_effective_policy (Manager *m, const Vm *vm, PolicyVmConfig *out);
/* Something happened: decide again soon (never synchronously). `vm` may be NULL. */
void mgr_note (Manager *m, Vm *vm, VmNote note);
/* The owner side of VmOwner (manager.c): adopt takes `vm` (FALSE: the name
 * is taken or the cap reached, `vm` stays the caller's); remove frees it. */
gboolean mgr_owner_adopt (Vm *vm, gpointer data);
void mgr_owner_remove (const char *name, gpointer data);
/* manager-backends.c: the socket directory, static VMs and libvirt as the
 * config says (on start and reload). */
void mgr_remove_backend_vms (Manager *m, const char *backend);
void mgr_sync_static_vms (Manager *m);
void mgr_sync_libvirt (Manager *m);
gboolean mgr_sync_vmdir (Manager *m, GError **error);
/* manager-limits.c: [daemon] max-vms (says so once per run of refusals). */
gboolean mgr_under_vm_cap (Manager *m, const char *name);
/* Caps the RAM a booting VM holds in reserve and drops it from the snapshot
 * past booting-time; returns the new count of VMs in `vms`/`pvms`. */
guint mgr_limit_booting (Manager *m, Vm **vms, PolicyVm *pvms, guint n, gint64 now_mono_us);
/* Dry-run plans were recorded as targets in flight; once live, they must be
 * issued rather than waited for. */
void mgr_forget_dry_run_plans (Manager *m);

/* The HTTP server (manager-http.c): started, moved or stopped to match the
 * config; on reload a failure keeps the old address and is logged. */
gboolean mgr_http_sync (Manager *m, GError **error);
void mgr_http_reload (Manager *m);
void mgr_http_stop (Manager *m);
/* A tick that began at `start_mono_us` is over: its duration for /metrics. */
void mgr_metrics_tick (Manager *m, gboolean regular, gint64 start_mono_us);
