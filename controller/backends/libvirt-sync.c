/* libvirt-sync.c: blocking calls for a release at stop (libvirt-sync.h). */
#define G_LOG_DOMAIN "ballast"

#include "libvirt-sync.h"

#include "libvirt-private.h"

struct _LvSync
{
  gatomicrefcount ref;
  virConnectPtr conn;
};

static gboolean
lv_sync_fail (GError **error, const char *what)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, virGetLastErrorMessage ());
  return FALSE;
}

LvSync *
lv_sync_open (const char *uri, GError **error)
{
  lv_init_once ();
  virConnectPtr conn = virConnectOpen (uri);
  if (conn == NULL)
    {
      lv_sync_fail (error, uri);
      return NULL;
    }
  LvSync *s = g_new0 (LvSync, 1);
  g_atomic_ref_count_init (&s->ref);
  s->conn = conn;
  return s;
}

LvSync *
lv_sync_ref (LvSync *s)
{
  g_atomic_ref_count_inc (&s->ref);
  return s;
}

void
lv_sync_unref (LvSync *s)
{
  if (s == NULL || !g_atomic_ref_count_dec (&s->ref))
    return;
  virConnectClose (s->conn);
  g_free (s);
}

GPtrArray *
lv_sync_list_active (LvSync *s, GError **error)
{
  GPtrArray *names = lv_list_active (s->conn);
  if (names == NULL)
    lv_sync_fail (error, "listing the running domains");
  return names;
}

static virDomainPtr
lv_sync_lookup (LvSync *s, const char *name, GError **error)
{
  virDomainPtr dom = virDomainLookupByName (s->conn, name);
  if (dom == NULL)
    lv_sync_fail (error, "lookup");
  return dom;
}

gboolean
lv_sync_query (LvSync *s, const char *name, guint64 *actual_bytes, guint64 *max_bytes, int *pid,
               GError **error)
{
  virDomainPtr dom = lv_sync_lookup (s, name, error);
  if (dom == NULL)
    return FALSE;
  /* libvirt keeps the balloon's size from QEMU's BALLOON_CHANGE events: no
   * guest round trip, so a guest that stopped answering costs nothing; QEMU
   * sends at most one a second, so the size may trail by that much. */
  virDomainInfo info;
  gboolean ok = virDomainGetInfo (dom, &info) == 0;
  virDomainFree (dom);
  if (!ok)
    return lv_sync_fail (error, "domain info");
  if (info.state != VIR_DOMAIN_RUNNING && info.state != VIR_DOMAIN_PAUSED
      && info.state != VIR_DOMAIN_PMSUSPENDED)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "not running");
      return FALSE;
    }
  *actual_bytes = (guint64) info.memory * 1024;
  *max_bytes = (guint64) info.maxMem * 1024;
  *pid = lv_domain_pid (name);
  return TRUE;
}

gboolean
lv_sync_set_balloon (LvSync *s, const char *name, guint64 bytes, GError **error)
{
  virDomainPtr dom = lv_sync_lookup (s, name, error);
  if (dom == NULL)
    return FALSE;
  gboolean ok
      = virDomainSetMemoryFlags (dom, (unsigned long) (bytes / 1024), VIR_DOMAIN_AFFECT_LIVE) == 0;
  virDomainFree (dom);
  return ok || lv_sync_fail (error, "setting the balloon");
}
