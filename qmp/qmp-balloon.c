/* qmp-balloon.c: typed helpers for the virtio-balloon commands (query-balloon,
 * balloon, qom-list/qom-get/qom-set on the device): reply parsers and async wrappers. */
#define G_LOG_DOMAIN "ballast-qmp"

#include "qmp-balloon.h"

#include <string.h>

/* Where QEMU puts user-created devices: with an id, and without one. */
static const char *const balloon_dirs[] = { "/machine/peripheral", "/machine/peripheral-anon" };
#define BALLOON_TYPE_PREFIX "child<virtio-balloon"
/* QEMU prints 2^64-1 for "no value"; after the parser it arrives as a real
 * that rounds to 2^64, so anything at or above 2^63 cannot be a real figure. */
#define ABSENT_REAL_THRESHOLD 9223372036854775808.0

static gboolean
bad_reply (GError **error, const char *command, const char *what)
{
  g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL, "unexpected reply to %s: %s", command, what);
  return FALSE;
}

gboolean
qmp_parse_query_balloon (json_t *ret, guint64 *actual_bytes, GError **error)
{
  json_t *actual = json_object_get (ret, "actual");

  if (!json_is_integer (actual) || json_integer_value (actual) < 0)
    return bad_reply (error, "query-balloon", "\"actual\" is not a non-negative integer");
  if (actual_bytes != NULL)
    *actual_bytes = (guint64) json_integer_value (actual);
  return TRUE;
}

static const struct
{
  const char *name;
  gsize offset;
} stat_table[] = {
  { "stat-swap-in", G_STRUCT_OFFSET (QmpGuestStats, swap_in_bytes) },
  { "stat-swap-out", G_STRUCT_OFFSET (QmpGuestStats, swap_out_bytes) },
  { "stat-major-faults", G_STRUCT_OFFSET (QmpGuestStats, major_faults) },
  { "stat-minor-faults", G_STRUCT_OFFSET (QmpGuestStats, minor_faults) },
  { "stat-free-memory", G_STRUCT_OFFSET (QmpGuestStats, free_bytes) },
  { "stat-total-memory", G_STRUCT_OFFSET (QmpGuestStats, total_bytes) },
  { "stat-available-memory", G_STRUCT_OFFSET (QmpGuestStats, available_bytes) },
  { "stat-disk-caches", G_STRUCT_OFFSET (QmpGuestStats, disk_caches_bytes) },
  { "stat-htlb-pgalloc", G_STRUCT_OFFSET (QmpGuestStats, hugetlb_allocs) },
  { "stat-htlb-pgfail", G_STRUCT_OFFSET (QmpGuestStats, hugetlb_failures) },
};

/* Returns FALSE when `value` is not a number at all. */
static gboolean
parse_stat (json_t *value, QmpStatValue *out)
{
  out->present = FALSE;
  out->value = 0;
  if (value == NULL)
    return TRUE;
  if (json_is_integer (value))
    {
      /* Older QEMUs print -1 for "no value". */
      if (json_integer_value (value) >= 0)
        {
          out->present = TRUE;
          out->value = (guint64) json_integer_value (value);
        }
      return TRUE;
    }
  if (json_is_real (value))
    {
      double v = json_real_value (value);
      if (v >= 0 && v < ABSENT_REAL_THRESHOLD)
        {
          out->present = TRUE;
          out->value = (guint64) v;
        }
      return TRUE;
    }
  return FALSE;
}

gboolean
qmp_parse_guest_stats (json_t *ret, QmpGuestStats *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  json_t *stats = json_object_get (ret, "stats");
  json_t *last_update = json_object_get (ret, "last-update");
  if (!json_is_object (stats))
    return bad_reply (error, "qom-get guest-stats", "\"stats\" is not an object");
  if (!json_is_integer (last_update))
    return bad_reply (error, "qom-get guest-stats", "\"last-update\" is not an integer");

  QmpGuestStats parsed = { .last_update_s = json_integer_value (last_update) };
  for (gsize i = 0; i < G_N_ELEMENTS (stat_table); i++)
    {
      QmpStatValue *slot = G_STRUCT_MEMBER_P (&parsed, stat_table[i].offset);
      if (!parse_stat (json_object_get (stats, stat_table[i].name), slot))
        {
          g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                       "unexpected reply to qom-get guest-stats: \"%s\" is not a number",
                       stat_table[i].name);
          return FALSE;
        }
    }
  /* Until the guest reported once, QEMU's figures are placeholders. */
  if (parsed.last_update_s <= 0)
    parsed = (QmpGuestStats){ .last_update_s = 0 };
  *out = parsed;
  return TRUE;
}

char *
qmp_parse_balloon_child (json_t *ret, const char *dir, GError **error)
{
  if (!json_is_array (ret))
    {
      bad_reply (error, "qom-list", "not an array");
      return NULL;
    }
  gsize i;
  json_t *entry;
  json_array_foreach (ret, i, entry)
  {
    json_t *name = json_object_get (entry, "name");
    json_t *type = json_object_get (entry, "type");
    if (!json_is_string (name) || !json_is_string (type))
      {
        bad_reply (error, "qom-list", "an entry lacks a string \"name\" or \"type\"");
        return NULL;
      }
    if (g_str_has_prefix (json_string_value (type), BALLOON_TYPE_PREFIX))
      return g_strdup_printf ("%s/%s", dir, json_string_value (name));
  }
  return NULL;
}

gboolean
qmp_parse_flag (json_t *ret, const char *property, gboolean *out, GError **error)
{
  if (!json_is_boolean (ret))
    {
      g_autofree char *command = g_strdup_printf ("qom-get %s", property);
      return bad_reply (error, command, "not a boolean");
    }
  *out = json_is_true (ret);
  return TRUE;
}

/* GLib's GCallback lives in GObject, which this library does not need. */
typedef void (*AnyFunc) (void);
#define ANY_FUNC(f) ((AnyFunc) (f))

typedef struct
{
  AnyFunc func;
  gpointer user_data;
  guint dir_index; /* find_balloon_path: the directory being searched */
  char *property;  /* balloon_flag: the property asked for */
} Closure;

static Closure *
closure_new (AnyFunc func, gpointer user_data)
{
  Closure *c = g_new0 (Closure, 1);
  c->func = func;
  c->user_data = user_data;
  return c;
}

static void
closure_free (Closure *c)
{
  g_free (c->property);
  g_free (c);
}

static void
on_query_balloon (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Closure *c = data;
  QmpBalloonFunc func = (QmpBalloonFunc) c->func;
  g_autoptr (GError) parse_error = NULL;
  guint64 actual_bytes = 0;

  if (error == NULL && !qmp_parse_query_balloon (ret, &actual_bytes, &parse_error))
    error = parse_error;
  func (client, actual_bytes, error, c->user_data);
  closure_free (c);
}

void
qmp_client_query_balloon (QmpClient *client, QmpBalloonFunc func, gpointer user_data)
{
  g_return_if_fail (func != NULL);
  qmp_client_execute (client, "query-balloon", NULL, on_query_balloon,
                      closure_new (ANY_FUNC (func), user_data));
}

static void
on_done (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Closure *c = data;
  QmpDoneFunc func = (QmpDoneFunc) c->func;

  func (client, error, c->user_data);
  closure_free (c);
}

void
qmp_client_set_balloon (QmpClient *client, guint64 target_bytes, QmpDoneFunc func,
                        gpointer user_data)
{
  g_return_if_fail (func != NULL);
  json_t *args = json_pack ("{sI}", "value", (json_int_t) MIN (target_bytes, (guint64) G_MAXINT64));
  qmp_client_execute (client, "balloon", args, on_done, closure_new (ANY_FUNC (func), user_data));
}

static void find_in_dir (QmpClient *client, Closure *c);

static void
on_qom_list (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Closure *c = data;
  QmpPathFunc func = (QmpPathFunc) c->func;
  g_autoptr (GError) local = NULL;
  g_autofree char *path = NULL;

  if (error == NULL)
    {
      path = qmp_parse_balloon_child (ret, balloon_dirs[c->dir_index], &local);
      error = local;
    }
  /* A missing directory just means no such devices; other errors stop. */
  if (error != NULL && !g_error_matches (error, QMP_ERROR, QMP_ERROR_COMMAND))
    {
      func (client, NULL, error, c->user_data);
      closure_free (c);
      return;
    }
  if (path != NULL)
    {
      func (client, path, NULL, c->user_data);
      closure_free (c);
      return;
    }
  if (++c->dir_index < G_N_ELEMENTS (balloon_dirs))
    {
      find_in_dir (client, c);
      return;
    }
  g_autoptr (GError) not_found
      = g_error_new (QMP_ERROR, QMP_ERROR_NOT_FOUND, "no virtio-balloon device under %s or %s",
                     balloon_dirs[0], balloon_dirs[1]);
  func (client, NULL, not_found, c->user_data);
  closure_free (c);
}

static void
find_in_dir (QmpClient *client, Closure *c)
{
  qmp_client_execute (client, "qom-list", json_pack ("{ss}", "path", balloon_dirs[c->dir_index]),
                      on_qom_list, c);
}

void
qmp_client_find_balloon_path (QmpClient *client, QmpPathFunc func, gpointer user_data)
{
  g_return_if_fail (func != NULL);
  find_in_dir (client, closure_new (ANY_FUNC (func), user_data));
}

void
qmp_client_set_stats_polling (QmpClient *client, const char *balloon_path, guint interval_s,
                              QmpDoneFunc func, gpointer user_data)
{
  g_return_if_fail (balloon_path != NULL && func != NULL);
  json_t *args = json_pack ("{sssssI}", "path", balloon_path, "property",
                            "guest-stats-polling-interval", "value", (json_int_t) interval_s);
  qmp_client_execute (client, "qom-set", args, on_done, closure_new (ANY_FUNC (func), user_data));
}

/* `qom-get` of one property of the balloon device. */
static void
balloon_qom_get (QmpClient *client, const char *balloon_path, const char *property,
                 QmpReplyFunc on_reply, Closure *c)
{
  json_t *args = json_pack ("{ssss}", "path", balloon_path, "property", property);
  qmp_client_execute (client, "qom-get", args, on_reply, c);
}

static void
on_guest_stats (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Closure *c = data;
  QmpGuestStatsFunc func = (QmpGuestStatsFunc) c->func;
  g_autoptr (GError) parse_error = NULL;
  QmpGuestStats stats = { 0 };

  if (error == NULL && !qmp_parse_guest_stats (ret, &stats, &parse_error))
    error = parse_error;
  func (client, error ? NULL : &stats, error, c->user_data);
  closure_free (c);
}

void
qmp_client_guest_stats (QmpClient *client, const char *balloon_path, QmpGuestStatsFunc func,
                        gpointer user_data)
{
  g_return_if_fail (balloon_path != NULL && func != NULL);
  balloon_qom_get (client, balloon_path, "guest-stats", on_guest_stats,
                   closure_new (ANY_FUNC (func), user_data));
}

static void
on_flag (QmpClient *client, json_t *ret, const GError *error, gpointer data)
{
  Closure *c = data;
  QmpFlagFunc func = (QmpFlagFunc) c->func;
  g_autoptr (GError) parse_error = NULL;
  gboolean value = FALSE;

  if (error == NULL && !qmp_parse_flag (ret, c->property, &value, &parse_error))
    error = parse_error;
  func (client, error ? FALSE : value, error, c->user_data);
  closure_free (c);
}

void
qmp_client_balloon_flag (QmpClient *client, const char *balloon_path, const char *property,
                         QmpFlagFunc func, gpointer user_data)
{
  g_return_if_fail (balloon_path != NULL && property != NULL && func != NULL);
  Closure *c = closure_new (ANY_FUNC (func), user_data);
  c->property = g_strdup (property);
  balloon_qom_get (client, balloon_path, property, on_flag, c);
}
