/* libvirt-private.h: the libvirt backend's shared state, for libvirt.c
 * (connection, events) and libvirt-dom.c (domains, their VMs, worker jobs). */
#pragma once

#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "libvirt.h"
#include "qmp-backoff.h"

/* Shared with event callbacks and worker jobs, which may outlive the
 * backend: they find lv NULL then. Only the main context reads `lv`; the
 * reference count is atomic because jobs end on worker threads. */
typedef struct
{
  LvBackend *lv;
} LvToken;

typedef struct
{
  LvBackend *lv;
  char *name;
  virDomainPtr dom; /* handle on the current connection; NULL while disconnected */
  Vm *vm;           /* NULL until running and added; cleared when its owner frees it */
  gboolean refreshing;
  gboolean dirty; /* another refresh asked for while one was running */
  gboolean sampling;
  gboolean setting;
  gboolean has_pending_target;
  guint64 pending_target_bytes; /* newest target asked for while a set was running
                                 * or while disconnected */
  gboolean name_warned;
  gboolean nosharepages;
  uint32_t pending_kicks; /* kicks seen before the VM existed */
} LvDom;

struct _LvBackend
{
  VmOwner owner;
  char *uri;
  LvToken *token;
  virConnectPtr conn;
  guint gen; /* bumped per connection attempt and on loss: older results are stale */
  gboolean connecting;
  QmpRetry retry;
  char *last_error; /* of the last failed attempt, to log each new problem once */
  int lifecycle_cb;
  int balloon_cb;
  gint64 connected_mono_us;
  GHashTable *doms; /* name -> LvDom* */
};

/* A job for a worker thread: what it needs from the main context (a
 * connection or domain reference of its own), and its results. */
typedef struct
{
  LvToken *token;
  guint gen;
  char *name;
  char *uri;
  virConnectPtr conn;
  virDomainPtr dom;
  char *error;
  /* connect */
  GPtrArray *names;
  int lifecycle_cb;
  int balloon_cb;
  /* refresh */
  gboolean active;
  gboolean paused;
  guint64 max_bytes;
  int pid;
  LvDomainXml xml;
  /* sample */
  virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
  int n_stats;
  /* set */
  guint64 target_bytes;
} LvJob;

/* libvirt-dom.c */
LvToken *lv_token_ref (LvToken *t);
void lv_token_unref (gpointer t);
LvDom *lv_dom_get (LvBackend *lv, const char *name);
void lv_dom_free (gpointer p);
/* A domain without a VM is kept only while a job of it runs. */
void lv_dom_drop_if_idle (LvBackend *lv, LvDom *d);
/* A copy of the known names, for loops that may change the table. */
GPtrArray *lv_dom_names (LvBackend *lv);
void lv_dom_set_handle (LvDom *d, virDomainPtr dom);
LvJob *lv_job_new (LvBackend *lv, const char *name, virDomainPtr dom);
void lv_job_run (LvJob *j, GTaskThreadFunc thread_fn, GAsyncReadyCallback done);
/* The backend a finished job belongs to (NULL when it is gone). */
LvJob *lv_job_of (GAsyncResult *res, LvBackend **lv_out);
void lv_job_fail (LvJob *j);
/* Looks domain `name` up again and adds, updates or removes its VM. One
 * refresh per domain at a time; asking again meanwhile re-runs it after. */
void lv_refresh (LvBackend *lv, const char *name);
/* Issues a target that waited for a running set or for the connection. */
void lv_set_issue (LvDom *d, guint64 target_bytes);

/* Quiets libvirt's stderr error printer and registers its event loop: once,
 * before the first connection. */
void lv_init_once (void);
/* The names of the running domains of `conn`; NULL on a libvirt error. */
GPtrArray *lv_list_active (virConnectPtr conn);
/* A running domain's QEMU PID from libvirtd's pid file, 0 if unknown. */
int lv_domain_pid (const char *name);
