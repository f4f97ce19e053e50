/* manager.h: ballastd's core object: owns the VMs and their backends, the
 * tick timer, the policy carry, probes and actuators, and the control socket. */
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

/* At a clean stop, before mgr_free(): unless release-on-exit is off or in
 * dry-run, closes every VM link and gives ballooned memory back
 * (release_run(); blocks up to RELEASE_DEADLINE_MS + one QMP timeout). */
void mgr_release (Manager *m);

/* Re-reads the config from its path; on error the old one stays. */
gboolean mgr_reload (Manager *m, GError **error);

/* The manager as an owner of VMs, for a backend made outside it (tests'
 * fake backends): adopt, remove and note. Valid as long as the manager. */
const VmOwner *mgr_owner (Manager *m);

/* Runs one tick now (sample → decide → actuate), as the timer does. */
void mgr_tick_now (Manager *m);

/* Runs one control-socket line as a client would (for tests and fuzzing):
 * see ctl_dispatch(). */
json_t *mgr_dispatch (Manager *m, gboolean *negotiated, const char *line, gsize len,
                      gboolean *hang_up);

/* One line for sd_notify STATUS=. */
char *mgr_status_line (Manager *m);
