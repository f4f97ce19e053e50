/* libvirt-sync.h: blocking calls to one libvirtd's running domains, for a
 * release at stop (no main loop, no backend): list, read a balloon, set it.
 * Each call may block as long as libvirtd takes to answer; callers bound it
 * by running them on worker threads they can stop waiting for. A handle is
 * shared by those threads (libvirt connections are thread-safe) and counted. */
#pragma once

#include <glib.h>

typedef struct _LvSync LvSync;

LvSync *lv_sync_open (const char *uri, GError **error);
LvSync *lv_sync_ref (LvSync *s);
void lv_sync_unref (LvSync *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LvSync, lv_sync_unref)

/* The names of the running domains. */
GPtrArray *lv_sync_list_active (LvSync *s, GError **error);

/* A domain's balloon as libvirt last saw it, its max (the RAM ballast
 * manages it with) and its QEMU's PID (0 if unknown). */
gboolean lv_sync_query (LvSync *s, const char *name, guint64 *actual_bytes, guint64 *max_bytes,
                        int *pid, GError **error);

gboolean lv_sync_set_balloon (LvSync *s, const char *name, guint64 bytes, GError **error);
