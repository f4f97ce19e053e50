/* vm-agent.h: a VM's link to its ballast-agent: connects to the agent socket,
 * reads and validates the guest's lines, keeps the latest of each message. */
#pragma once

#include <glib.h>

#include "agent-proto.h"

typedef struct _VmAgent VmAgent;

/* What the guest last said; times are the host's. */
typedef struct
{
  gboolean hello_seen;
  AgentHello hello;
  gboolean report_seen;
  AgentReport report;
  gint64 report_mono_us;
  gint64 report_real_ms;   /* wall clock, for query-vm */
  guint64 pressure_count;  /* pressure messages so far */
  gint64 pressure_real_ms; /* wall clock of the latest one, 0 if none */
  guint64 reclaim_requests; /* `reclaim` lines sent */
  guint64 reclaim_bytes;    /* what they asked for */
} VmAgentData;

/* Called for a pressure message (`pressure` TRUE) or a report whose demand
 * jumped: the owner should decide again now. */
typedef void (*VmAgentUrgentFunc) (gboolean pressure, gpointer user_data);

/* Whether one more log line about the guest fits its budget. */
typedef gboolean (*VmAgentMayLogFunc) (gpointer user_data);

/* `vm_name` is for log lines and must outlive the agent; `may_log` may be
 * NULL (no budget). */
VmAgent *vm_agent_new (const char *vm_name, guint64 ram_bytes, VmAgentUrgentFunc urgent,
                       VmAgentMayLogFunc may_log, gpointer user_data);
void vm_agent_free (VmAgent *a);

/* The PID the agent socket's peer must have (the QEMU behind the VM's QMP
 * socket); 0 while it is not known yet (wait), -1 when it cannot be known
 * (take any peer). */
typedef int (*VmAgentPeerFunc) (gpointer user_data);
/* From now on a connection is kept only when its peer (SO_PEERCRED) is the
 * process `expected_pid` names: a socket planted next to the VM's, or one of
 * another QEMU, cannot speak for this VM. Without it, any peer is taken. */
void vm_agent_set_expected_peer (VmAgent *a, VmAgentPeerFunc expected_pid, gpointer user_data);

/* (Re)connects to `path` at once with a fresh backoff; NULL stops the link. */
void vm_agent_connect_to (VmAgent *a, const char *path);
/* Bounds the sizes the guest may report. */
void vm_agent_set_ram (VmAgent *a, guint64 ram_bytes);
const VmAgentData *vm_agent_get_data (const VmAgent *a);
/* Asks the guest's agent to reclaim `bytes` of page cache (a `reclaim` line),
 * if the link is up and the agent said it takes requests. Never blocks: a
 * request the socket cannot take at once is dropped (the policy asks again
 * after its period). Returns whether the line went out. */
gboolean vm_agent_send_reclaim (VmAgent *a, guint64 bytes);
