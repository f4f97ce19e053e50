/* vmdir.h: the socket-directory backend: NAME.qmp (or NAME.sock) in a
 * watched directory is a VM's QMP socket, NAME.agent its agent socket. */
#pragma once

#include <gio/gio.h>

typedef struct _VmDir VmDir;

/* Called when a VM's QMP socket appears (present=TRUE) or goes (FALSE).
 * `agent_path` is the NAME.agent next to it if that exists, else NULL. */
typedef void (*VmDirFn) (const char *name, const char *qmp_path, const char *agent_path,
                         gboolean present, gpointer user_data);

/* Watches `dir` (created if missing) and reports the sockets already there
 * from an idle callback, so callers see adoption and hot-plug alike. */
VmDir *vmdir_new (const char *dir, VmDirFn fn, gpointer user_data, GError **error);

/* Re-scans the directory; reports differences only. */
void vmdir_rescan (VmDir *d);

void vmdir_free (VmDir *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VmDir, vmdir_free)
