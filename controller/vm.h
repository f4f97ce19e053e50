/* vm.h: one monitored VM: who it is, the latest sample its backend delivered,
 * its agent link, and what the policy last decided for it. */
#pragma once

#include <gio/gio.h>
#include <jansson.h>

#include "policy.h"
#include "sample.h"

typedef enum
{
  VM_CONNECTING = 0, /* backend attaching */
  VM_NEGOTIATING,    /* attached; learning RAM size, balloon device, run state */
  VM_ACTIVE,         /* sampling and actuating */
  VM_LOST,           /* link gone; the backend retries with backoff */
} VmLinkState;

typedef struct _Vm Vm;

/* How a backend drives its VMs (the QMP backend in vm-qmp.c, libvirt in
 * libvirt-vm.c). `free` releases backend_data and may be NULL. */
typedef struct
{
  void (*start) (Vm *vm);                             /* (re)attach now */
  void (*sample) (Vm *vm);                            /* per-tick queries, if active */
  void (*set_balloon) (Vm *vm, guint64 target_bytes); /* calls vm_target_issued() */
  void (*free) (Vm *vm);
} VmOps;

/* What a VM tells its owner. */
typedef enum
{
  VM_NOTE_ACTIVE, /* became active */
  VM_NOTE_LOST,   /* lost its link */
  VM_NOTE_URGENT, /* agent pressure or a demand jump: decide again now */
  VM_NOTE_KICK,   /* lifecycle event (its kicks changed) */
} VmNote;

/* The owner of the VMs (the manager), as backends and VMs see it: layers
 * below call up only through these. A `vm` argument of `note` may be NULL (a
 * host-wide kick). */
typedef struct
{
  /* Takes `vm` and starts it; FALSE (vm left to the caller) when its name is taken. */
  gboolean (*adopt) (Vm *vm, gpointer user_data);
  /* Removes and frees VM `name`, if the owner has it. */
  void (*remove) (const char *name, gpointer user_data);
  /* Never re-enters the VM synchronously. */
  void (*note) (Vm *vm, VmNote note, gpointer user_data);
  gpointer user_data;
} VmOwner;

/* Guest statistics as any backend reports them (QMP guest-stats, libvirt
 * memory stats); a figure the guest did not report is absent. */
typedef struct
{
  PolicyGuestStats figures; /* age_ms unused: the VM computes it from last_update_s */
  gint64 last_update_s;     /* host wall clock of the guest's last report; 0 = never */
} VmGuestStats;

/* `backend` is a static string ("qmp-dir", "static", "libvirt"). The VM
 * belongs to nobody until owner->adopt takes it. */
Vm *vm_new (const VmOwner *owner, const char *name, const char *backend, const char *qmp_path,
            const char *agent_path, const VmOps *ops, gpointer backend_data);
void vm_free (Vm *vm);

/* ---- for the owner ---- */
void vm_start (Vm *vm);
void vm_sample (Vm *vm);
/* The regular tick's sample of an active VM: every tick while it changes,
 * less often while it is quiet (vm.c); the stats' age tells the policy. */
void vm_sample_tick (Vm *vm, gint64 now_mono_us, gint64 tick_us);
void vm_set_balloon (Vm *vm, guint64 target_bytes);
/* Asks the VM's agent to reclaim `bytes` of cold page cache (if it can). */
void vm_request_reclaim (Vm *vm, guint64 bytes);

const char *vm_get_name (const Vm *vm);
const char *vm_get_backend (const Vm *vm);
const char *vm_get_qmp_path (const Vm *vm);
VmLinkState vm_get_state (const Vm *vm);
int vm_get_pid (const Vm *vm);
/* What its QEMU holds on the host: its PSS when readable (libvirt without a
 * PID file, a QEMU of another user: not), else the guest's balloon size,
 * else its RAM. */
uint64_t vm_host_usage_bytes (const Vm *vm);

void vm_set_id (Vm *vm, uint64_t id);
/* New socket paths (a QEMU restarted under the same name); NULL agent keeps the old. */
void vm_set_paths (Vm *vm, const char *qmp_path, const char *agent_path);
/* Adds kicks without telling the owner (it is the one asking). */
void vm_add_kicks (Vm *vm, uint32_t kicks);

/* The process figures are re-read at most once a tick (`tick_us`): extra
 * ticks reuse them, so a guest cannot make the daemon walk other QEMUs at
 * 20 Hz. While the VM is quiet (no change in its balloon, guest stats, PSS,
 * no kick or target) the gap doubles up to 8 ticks, and a QEMU whose
 * resident size held still gets its PSS walked again only once the host's
 * KSM sharing (`ksm_sharing_bytes`) moved, or after minutes; query-vm shows
 * the reading's age (host.pss_age_ms). */
void vm_refresh_process_cost (Vm *vm, SampleCtx *sample, const PolicyStat *ksm_sharing_bytes,
                              gint64 now_mono_us, gint64 tick_us);

/* The policy's input record from the latest sample; `cfg` is the VM's
 * effective policy. */
void vm_to_policy (const Vm *vm, const PolicyVmConfig *cfg, gint64 now_mono_us, PolicyVm *out);
/* Remembers the decision; returns the previous target (in flight or
 * issued) in *old_target_bytes when there was one. */
gboolean vm_record_decision (Vm *vm, const PolicyVmDecision *d, guint64 *old_target_bytes);
/* Dry-run: the plan counts as in flight, so the policy does not repeat it. */
void vm_plan_target (Vm *vm, guint64 target_bytes);
/* Forgets a target in flight (dry-run plans once live). */
void vm_forget_target (Vm *vm);
/* Kicks and the urgent flag are consumed by the decision that saw them. */
void vm_consume_signals (Vm *vm);

/* set-policy at run time; cleared by a reload. */
gboolean vm_get_override (const Vm *vm, PolicyVmConfig *out);
void vm_set_override (Vm *vm, const PolicyVmConfig *cfg);
void vm_clear_override (Vm *vm);

/* JSON for the control socket (vm-json.c). `cfg` is the effective policy. */
json_t *vm_to_json (const Vm *vm, const PolicyVmConfig *cfg);
json_t *vm_detail_to_json (const Vm *vm, const PolicyVmConfig *cfg);
json_t *vm_event_json (const Vm *vm);

const char *vm_link_state_name (VmLinkState state);
/* Whether one more log line about this VM fits its budget; the lines that
 * did not are counted (query-vm: log_lines_suppressed). */
gboolean vm_log_allowed (Vm *vm);

/* ---- for backends: the narrow interface through which a sample arrives ---- */
gpointer vm_get_backend_data (const Vm *vm);
void vm_set_backend_data (Vm *vm, gpointer backend_data);
const char *vm_get_agent_path (const Vm *vm);
const char *vm_get_balloon_device (const Vm *vm);
guint64 vm_get_ram_bytes (const Vm *vm);

/* A new attach starts from nothing: what the previous link said is dropped. */
void vm_link_connecting (Vm *vm);
void vm_link_negotiating (Vm *vm);
/* Active: `detail` is logged ("balloon X, RAM Y"). */
void vm_link_up (Vm *vm, const char *detail);
/* Link gone: logged once per run of failures; the owner hears of it if the
 * VM was up. */
void vm_link_lost (Vm *vm, const char *why);

void vm_update_ram (Vm *vm, guint64 ram_bytes);
void vm_update_paused (Vm *vm, gboolean paused);
void vm_update_pid (Vm *vm, int pid);
/* QMP path or libvirt alias of the balloon; NULL: none (watched, not resized). */
void vm_update_balloon_device (Vm *vm, const char *device);
/* The balloon has deflate-on-oom (its pages stay in the guest's MemTotal). */
void vm_update_balloon_deflate_on_oom (Vm *vm, gboolean deflate_on_oom);
/* The balloon offers free page reporting (the guest returns free memory by
 * itself). */
void vm_update_balloon_free_page_reporting (Vm *vm, gboolean reporting);
void vm_update_actual (Vm *vm, guint64 actual_bytes);
void vm_update_guest_stats (Vm *vm, const VmGuestStats *stats);
/* Pages never merged (libvirt <nosharepages/>): its KSM yield is not counted. */
void vm_update_ksm_excluded (Vm *vm, gboolean excluded);
/* (Re)connects the agent link when the path changed; NULL stops it. */
void vm_update_agent_path (Vm *vm, const char *agent_path);
/* (Re)connects the agent link now, with a fresh backoff. */
void vm_agent_restart (Vm *vm);
/* A lifecycle event: the kicks are added and the owner told. */
void vm_kick (Vm *vm, uint32_t kicks);
void vm_target_issued (Vm *vm, guint64 target_bytes);
/* The backend could not set the target: forgotten, so the policy may re-issue it. */
void vm_target_failed (Vm *vm, const char *why);
