/* qmp-balloon.h: typed QMP helpers for the virtio-balloon device: reply
 * parsers (pure) and async wrappers over QmpClient. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "qmp-client.h"

G_BEGIN_DECLS

/* One guest statistic; `present` is FALSE when the guest did not report it
 * (QEMU reads 2^64-1 or -1) or has not reported at all yet. */
typedef struct
{
  gboolean present;
  guint64 value;
} QmpStatValue;

/* virtio-balloon statistics as QEMU's `guest-stats` exposes them. The Linux
 * driver reports swap in/out in bytes (pages_to_bytes), faults as counts. */
typedef struct
{
  QmpStatValue swap_in_bytes;     /* stat-swap-in */
  QmpStatValue swap_out_bytes;    /* stat-swap-out */
  QmpStatValue major_faults;      /* stat-major-faults */
  QmpStatValue minor_faults;      /* stat-minor-faults */
  QmpStatValue free_bytes;        /* stat-free-memory */
  QmpStatValue total_bytes;       /* stat-total-memory */
  QmpStatValue available_bytes;   /* stat-available-memory */
  QmpStatValue disk_caches_bytes; /* stat-disk-caches */
  QmpStatValue hugetlb_allocs;    /* stat-htlb-pgalloc */
  QmpStatValue hugetlb_failures;  /* stat-htlb-pgfail */
  gint64 last_update_s;           /* host wall clock of the guest's last report; 0 = never */
} QmpGuestStats;

/* Pure parsers of command replies (`ret` is the "return" value). They return
 * FALSE with QMP_ERROR_PROTOCOL when the reply has the wrong shape. */
gboolean qmp_parse_query_balloon (json_t *ret, guint64 *actual_bytes, GError **error);
gboolean qmp_parse_guest_stats (json_t *ret, QmpGuestStats *out, GError **error);
/* Given the reply of `qom-list` on `dir`, returns "dir/child" of the first
 * child whose type is virtio-balloon-*, or NULL (no error) when there is none;
 * NULL with an error when the reply has the wrong shape. */
char *qmp_parse_balloon_child (json_t *ret, const char *dir, GError **error);
/* The reply of `qom-get` of a boolean property. */
gboolean qmp_parse_flag (json_t *ret, const char *property, gboolean *out, GError **error);

typedef void (*QmpBalloonFunc) (QmpClient *client, guint64 actual_bytes, const GError *error,
                                gpointer user_data);
typedef void (*QmpPathFunc) (QmpClient *client, const char *path, const GError *error,
                             gpointer user_data);
typedef void (*QmpGuestStatsFunc) (QmpClient *client, const QmpGuestStats *stats,
                                   const GError *error, gpointer user_data);
typedef void (*QmpFlagFunc) (QmpClient *client, gboolean value, const GError *error,
                             gpointer user_data);
/* Called with error NULL on success. */
typedef void (*QmpDoneFunc) (QmpClient *client, const GError *error, gpointer user_data);

/* Async helpers: exactly one call of `func`, from the client's main context,
 * never from inside the helper itself. */
void qmp_client_query_balloon (QmpClient *client, QmpBalloonFunc func, gpointer user_data);
/* `target_bytes` is the guest's target size, not the balloon's size. */
void qmp_client_set_balloon (QmpClient *client, guint64 target_bytes, QmpDoneFunc func,
                             gpointer user_data);
/* Searches /machine/peripheral and /machine/peripheral-anon for a device of
 * type virtio-balloon-*; QMP_ERROR_NOT_FOUND when the VM has none. */
void qmp_client_find_balloon_path (QmpClient *client, QmpPathFunc func, gpointer user_data);
/* `interval_s` 0 stops the guest's reports. */
void qmp_client_set_stats_polling (QmpClient *client, const char *balloon_path, guint interval_s,
                                   QmpDoneFunc func, gpointer user_data);
void qmp_client_guest_stats (QmpClient *client, const char *balloon_path, QmpGuestStatsFunc func,
                             gpointer user_data);
/* Balloon device flags (boolean properties, read with `qom-get`). */
/* The guest takes pages back from the balloon when out of memory, and its
 * MemTotal keeps the balloon's pages (as used memory) instead of shrinking
 * with it. */
#define QMP_BALLOON_DEFLATE_ON_OOM "deflate-on-oom"
/* The device offers free page reporting: a guest whose driver takes it
 * hands the host its free memory in 2 MiB or larger blocks by itself. */
#define QMP_BALLOON_FREE_PAGE_REPORTING "free-page-reporting"
/* Whether the balloon was made with `property` on. */
void qmp_client_balloon_flag (QmpClient *client, const char *balloon_path, const char *property,
                              QmpFlagFunc func, gpointer user_data);

G_END_DECLS
