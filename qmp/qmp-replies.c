/* qmp-replies.c: shape checks of query-memory-size-summary, query-status and
 * BALLOON_CHANGE; each wrong shape is one uniform protocol error. */
#include "qmp-replies.h"

#include "qmp-error.h"

static gboolean
bad_shape (GError **error, const char *what, const char *why)
{
  g_set_error (error, QMP_ERROR, QMP_ERROR_PROTOCOL, "unexpected %s: %s", what, why);
  return FALSE;
}

gboolean
qmp_parse_memory_size (json_t *ret, guint64 *ram_bytes, GError **error)
{
  json_t *base = json_object_get (ret, "base-memory");
  if (!json_is_integer (base) || json_integer_value (base) <= 0)
    return bad_shape (error, "reply to query-memory-size-summary",
                      "\"base-memory\" is not a positive integer");
  /* Optional: present only with memory hotplug. Both fit in int64, so the
   * sum fits in 64 bits. */
  guint64 plugged = 0;
  json_t *p = json_object_get (ret, "plugged-memory");
  if (p != NULL && (!json_is_integer (p) || json_integer_value (p) < 0))
    return bad_shape (error, "reply to query-memory-size-summary",
                      "\"plugged-memory\" is not a non-negative integer");
  if (p != NULL)
    plugged = (guint64) json_integer_value (p);
  guint64 base_bytes = (guint64) json_integer_value (base);
  *ram_bytes = base_bytes + plugged;
  return TRUE;
}

gboolean
qmp_parse_status (json_t *ret, gboolean *running, GError **error)
{
  json_t *r = json_object_get (ret, "running");
  if (!json_is_boolean (r))
    return bad_shape (error, "reply to query-status", "\"running\" is not a boolean");
  *running = json_is_true (r);
  return TRUE;
}

gboolean
qmp_parse_balloon_change (json_t *data, guint64 *actual_bytes, GError **error)
{
  json_t *a = json_object_get (data, "actual");
  if (!json_is_integer (a) || json_integer_value (a) < 0)
    return bad_shape (error, "BALLOON_CHANGE", "\"actual\" is not a non-negative integer");
  *actual_bytes = (guint64) json_integer_value (a);
  return TRUE;
}
