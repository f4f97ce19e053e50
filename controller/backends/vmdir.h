/* vmdir.h: the socket-directory backend: NAME.qmp (or NAME.sock) in a
 * watched directory is a VM's QMP socket, NAME.agent its agent socket. */
#pragma once

#include <gio/gio.h>

typedef struct _VmDir VmDir;

/* Called when a VM's QMP socket appears (present=TRUE) or goes (FALSE).
 * Paths are /proc/self/fd/N/NAME.qmp with N the directory opened once:
 * `agent_path` is NAME.agent there (which may appear later). Symlinks in
 * the directory are not VMs. */
typedef void (*VmDirFn) (const char *name, const char *qmp_path, const char *agent_path,
                         gboolean present, gpointer user_data);

/* Watches `dir` (created 0750 if missing) and reports the sockets already
 * there from an idle callback, so callers see adoption and hot-plug alike.
 * Fails unless `dir` is owned by root or ballastd's user and not writable
 * by group or others. VMs it reported must go before it is freed. */
VmDir *vmdir_new (const char *dir, VmDirFn fn, gpointer user_data, GError **error);

/* What vmdir_new checks (creating `dir` if missing), without watching:
 * a reload refuses a qmp-dir that would fail. */
gboolean vmdir_check (const char *dir, GError **error);

/* Re-scans the directory; reports differences only. */
void vmdir_rescan (VmDir *d);

/* The same checks, and every QMP socket in `dir` reported now, before it
 * returns, without watching (the release at stop). The paths stay valid
 * until vmdir_free(). */
VmDir *vmdir_snapshot (const char *dir, VmDirFn fn, gpointer user_data, GError **error);

void vmdir_free (VmDir *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmDir, vmdir_free)
