/* vm.h: one monitored VM: its QMP link (state machine with backoff), its
 * agent link, and the latest samples the tick turns into a PolicyVm. */
#pragma once

#include <gio/gio.h>

#include "agent-proto.h"
#include "policy.h"
#include "qmp-backoff.h"
#include "qmp-balloon.h"
#include "qmp-client.h"

typedef struct _Manager Manager;

typedef enum
{
  VM_CONNECTING = 0, /* socket connect under way */
  VM_NEGOTIATING,    /* connected; greeting/capabilities/balloon discovery */
  VM_ACTIVE,         /* sampling and actuating */
  VM_LOST,           /* connection gone; retrying with backoff */
} VmLinkState;

typedef struct _Vm Vm;
typedef struct _VmAgentToken VmAgentToken;

/* How a backend drives its VMs. vm_new() installs the QMP one; a backend
 * that reaches QEMU another way (libvirt) sets its own with vm_set_ops()
 * before the manager starts the VM. */
typedef struct
{
  void (*start) (Vm *vm);                             /* (re)attach now */
  void (*sample) (Vm *vm);                            /* per-tick queries, if active */
  void (*set_balloon) (Vm *vm, guint64 target_bytes); /* records the target as in flight */
  void (*free) (Vm *vm);                              /* releases backend_data; may be NULL */
} VmOps;

/* Called by the VM when something the manager cares about happened. */
typedef enum
{
  VM_NOTE_ACTIVE,   /* became active */
  VM_NOTE_LOST,     /* lost its QMP link */
  VM_NOTE_URGENT,   /* agent pressure or a guest demand: re-run the tick now */
  VM_NOTE_KICK,     /* lifecycle event (kicks field updated) */
} VmNote;

struct _Vm
{
  Manager *mgr;
  uint64_t id;
  char *name;
  const char *backend; /* static string: "qmp-dir", "static", "libvirt" */
  const VmOps *ops;
  gpointer backend_data;
  char *qmp_path;
  char *agent_path;

  VmLinkState state;
  gint64 added_real_ms; /* wall clock when the daemon learnt of it */
  char *lost_reason;
  QmpClient *qmp;
  QmpBackoff backoff;
  guint retry_id;
  guint samples_pending; /* queries in flight; no new ones while QEMU is slow */
  char *balloon_path;
  gboolean paused;
  int pid; /* QEMU's PID from the socket peer, 0 if unknown */

  guint64 ram_bytes;         /* base memory; 0 until known */
  PolicyStat actual_bytes;
  PolicyStat last_target_bytes;
  QmpGuestStats stats;

  /* agent link */
  GSocketConnection *agent_conn;
  GCancellable *agent_cancel;
  VmAgentToken *agent_token;
  AgentLink *agent_link;
  guint agent_retry_id;
  QmpBackoff agent_backoff;
  gboolean agent_hello_seen;
  AgentHello agent_hello;
  gboolean agent_report_seen;
  AgentReport agent_report;
  gint64 agent_report_mono_us;
  gint64 agent_report_real_ms; /* wall clock, for query-vm */
  guint64 pressure_count;      /* agent pressure messages so far */
  gint64 pressure_real_ms;     /* wall clock of the latest one, 0 if none */
  guint64 agent_errors_logged;
  gint64 agent_error_logged_mono_us;
  gboolean urgent;

  /* policy inputs and outputs */
  gboolean has_override;
  PolicyVmConfig override; /* set-policy at run time */
  uint32_t kicks;
  PolicyVmDecision last; /* last decision for this VM */
  gboolean has_decision;
  char last_reason[48];
  gint64 proc_sampled_mono_us; /* last read of the QEMU's /proc figures */
  PolicyStat pss_bytes;
  PolicyStat ksm_merging_pages;
  PolicyStat cgroup_kernel_bytes;
  gboolean ksm_excluded; /* pages never merged (libvirt <nosharepages/>): yield not counted */
};

Vm *vm_new (Manager *mgr, uint64_t id, const char *name, const char *backend,
            const char *qmp_path, const char *agent_path);
void vm_free (Vm *vm);

/* Replaces the QMP ops; call before vm_start(). */
void vm_set_ops (Vm *vm, const VmOps *ops, gpointer backend_data);

/* (Re)connects the agent link to vm->agent_path; a NULL path stops it. For
 * backends whose ops->start does not use the QMP start. */
void vm_agent_start (Vm *vm);

/* Starts (or restarts at once) connecting to QMP and the agent. */
void vm_start (Vm *vm);

/* Issues the per-tick queries (balloon actual, guest stats) if active. */
void vm_sample (Vm *vm);

/* Issues `balloon` for target_bytes (records it as in flight). */
void vm_set_balloon (Vm *vm, guint64 target_bytes);

/* Fills a policy input record from the latest samples. `cfg` is the VM's
 * effective policy. */
void vm_to_policy (Vm *vm, const PolicyVmConfig *cfg, gint64 now_mono_us, gint64 now_real_us,
                   PolicyVm *out);

const char *vm_link_state_name (VmLinkState state);
const char *vm_ws_source_name (const Vm *vm);
