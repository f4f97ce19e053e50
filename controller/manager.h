/* manager.h: ballastd's core object: owns the main loop's timers, the VMs,
 * the policy carry, probes/actuators, the control socket and the decision log. */
#pragma once

#include <gio/gio.h>
#include <jansson.h>

#include "config.h"
#include "vm.h"

typedef struct _Manager Manager;

/* Creates the manager from a loaded config (taken over) and starts every
 * backend, the control socket and the tick timer. */
Manager *mgr_new (BallastConfig *cfg, GMainLoop *loop, GError **error);

/* Restores what the daemon changed (KSM knobs) and frees everything. */
void mgr_free (Manager *m);

/* Re-reads the config from its path; on error the old one stays. */
gboolean mgr_reload (Manager *m, GError **error);

/* Called by a VM: state changes, kicks, urgent pressure. Never re-enters
 * the tick synchronously. */
void mgr_vm_note (Manager *m, Vm *vm, VmNote note);

/* For backends that make their own VMs (vm_new + vm_set_ops): inserts `vm`
 * (taken over, id assigned), announces it with a CREATED kick and starts it.
 * Returns FALSE, leaving `vm` to the caller, when the name is taken. */
gboolean mgr_adopt_vm (Manager *m, Vm *vm);

/* Removes (and frees) VM `name` with a DESTROYED kick; no-op if unknown. */
void mgr_remove_vm (Manager *m, const char *name);

/* Runs one control-socket line as a client would (for tests and fuzzing):
 * see ctl_dispatch(). */
json_t *mgr_dispatch (Manager *m, gboolean *negotiated, const char *line, gsize len,
                      gboolean *hang_up);

/* One line for sd_notify STATUS=. */
char *mgr_status_line (Manager *m);
