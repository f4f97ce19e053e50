/* agent-proto.c: validation of ballast-agent messages on the host (jansson).
 * Nothing a guest sends reaches the rest of ballastd unchecked. */
#define G_LOG_DOMAIN "ballast-agent-proto"

#include "agent-proto.h"

#include "qmp-lines.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK (ballast - agent - proto - error - quark, agent_proto_error)

/* Page sizes a guest may announce: 4 KiB .. 2 MiB, powers of two. */
#define AGENT_PROTO_MIN_PAGE_SIZE 4096u
#define AGENT_PROTO_MAX_PAGE_SIZE (2u << 20)

typedef struct
{
  uint64_t ram_bytes;
  GError **error;
} Ctx;

static gboolean fail (GError **error, AgentProtoError code, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, AgentProtoError code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, AGENT_PROTO_ERROR, code, msg);
  return FALSE;
}

/* ---- typed getters: one place for "present, right type, in range" ---- */

static gboolean
get_object (json_t *parent, const char *key, gboolean required, json_t **out, GError **error)
{
  json_t *v = json_object_get (parent, key);
  *out = NULL;
  if (!v || json_is_null (v))
    return required ? fail (error, AGENT_PROTO_ERROR_FIELD, "missing object \"%s\"", key) : TRUE;
  if (!json_is_object (v))
    return fail (error, AGENT_PROTO_ERROR_FIELD, "\"%s\" is not an object", key);
  *out = v;
  return TRUE;
}

/* A non-negative JSON integer at most @max. Absent: FALSE with an error if
 * @present is NULL (required), else *present = FALSE. */
static gboolean
get_uint (json_t *obj, const char *key, uint64_t max, uint64_t *out, gboolean *present,
          GError **error)
{
  json_t *v = json_object_get (obj, key);
  if (present)
    *present = v != NULL;
  if (!v)
    return present ? TRUE : fail (error, AGENT_PROTO_ERROR_FIELD, "missing \"%s\"", key);
  if (!json_is_integer (v))
    return fail (error, AGENT_PROTO_ERROR_FIELD, "\"%s\" is not an integer", key);
  json_int_t i = json_integer_value (v);
  if (i < 0 || (uint64_t) i > max)
    return fail (error, AGENT_PROTO_ERROR_RANGE, "\"%s\" = %" JSON_INTEGER_FORMAT " out of range",
                 key, i);
  *out = (uint64_t) i;
  return TRUE;
}

static gboolean
get_bytes (json_t *obj, const char *key, const Ctx *c, uint64_t *out)
{
  return get_uint (obj, key, c->ram_bytes, out, NULL, c->error);
}

static gboolean
get_pct (json_t *obj, const char *key, double *out, GError **error)
{
  json_t *v = json_object_get (obj, key);
  if (!v)
    return fail (error, AGENT_PROTO_ERROR_FIELD, "missing \"%s\"", key);
  if (!json_is_number (v))
    return fail (error, AGENT_PROTO_ERROR_FIELD, "\"%s\" is not a number", key);
  double d = json_number_value (v);
  if (!isfinite (d) || d < 0.0 || d > 100.0)
    return fail (error, AGENT_PROTO_ERROR_RANGE, "\"%s\" is not a percentage", key);
  *out = d;
  return TRUE;
}

static gboolean
get_bool (json_t *obj, const char *key, gboolean *out, GError **error)
{
  json_t *v = json_object_get (obj, key);
  if (!v)
    return fail (error, AGENT_PROTO_ERROR_FIELD, "missing \"%s\"", key);
  if (!json_is_boolean (v))
    return fail (error, AGENT_PROTO_ERROR_FIELD, "\"%s\" is not a boolean", key);
  *out = json_is_true (v);
  return TRUE;
}

/* A string that fits @cap (NUL included) and has no control characters
 * (it ends up in logs and on dashboards). */
static gboolean
get_string (json_t *obj, const char *key, char *out, gsize cap, GError **error)
{
  json_t *v = json_object_get (obj, key);
  if (!v)
    return fail (error, AGENT_PROTO_ERROR_FIELD, "missing \"%s\"", key);
  if (!json_is_string (v))
    return fail (error, AGENT_PROTO_ERROR_FIELD, "\"%s\" is not a string", key);
  gsize len = json_string_length (v);
  const char *s = json_string_value (v);
  if (len >= cap)
    return fail (error, AGENT_PROTO_ERROR_RANGE, "\"%s\" longer than %zu bytes", key, cap - 1);
  for (gsize i = 0; i < len; i++)
    if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
      return fail (error, AGENT_PROTO_ERROR_RANGE, "\"%s\" has control characters", key);
  memcpy (out, s, len + 1);
  return TRUE;
}

/* ---- messages ---- */

static gboolean
parse_hello (json_t *root, const Ctx *c, AgentHello *h)
{
  uint64_t page_size, interval_ms = 0, aging_ms = 0;
  gboolean present;

  memset (h, 0, sizeof *h);
  if (!get_string (root, "agent", h->agent, sizeof h->agent, c->error)
      || !get_string (root, "kernel", h->kernel, sizeof h->kernel, c->error)
      || !get_uint (root, "page_size", AGENT_PROTO_MAX_PAGE_SIZE, &page_size, NULL, c->error)
      || !get_bool (root, "mglru", &h->mglru, c->error)
      || !get_bool (root, "psi", &h->psi, c->error))
    return FALSE;
  if (page_size < AGENT_PROTO_MIN_PAGE_SIZE || (page_size & (page_size - 1)) != 0)
    return fail (c->error, AGENT_PROTO_ERROR_RANGE,
                 "page_size %" G_GUINT64_FORMAT " is not a page size", page_size);
  h->page_size = (uint32_t) page_size;
  if (!get_uint (root, "interval_ms", AGENT_WIRE_MAX_INTERVAL_MS, &interval_ms, &present, c->error))
    return FALSE;
  if (present && interval_ms < AGENT_WIRE_MIN_INTERVAL_MS)
    return fail (c->error, AGENT_PROTO_ERROR_RANGE, "interval_ms too small");
  h->interval_ms = (uint32_t) interval_ms;
  if (!get_uint (root, "aging_ms", AGENT_WIRE_MAX_BIN_MS, &aging_ms, &present, c->error))
    return FALSE;
  h->aging_ms = aging_ms;
  json_t *bound = json_object_get (root, "ws_long_bound");
  h->ws_long_is_upper_bound
      = json_is_string (bound) && g_strcmp0 (json_string_value (bound), "idle-upper") == 0;
  h->reclaim = json_is_true (json_object_get (root, "reclaim"));
  return TRUE;
}

static gboolean
parse_bins (json_t *ws, const Ctx *c, AgentReport *r)
{
  json_t *src = json_object_get (ws, "source");
  if (!json_is_string (src))
    return fail (c->error, AGENT_PROTO_ERROR_FIELD, "ws.source is not a string");
  if (g_strcmp0 (json_string_value (src), "mglru") == 0)
    r->ws_source = AGENT_WS_SOURCE_MGLRU;
  else if (g_strcmp0 (json_string_value (src), "meminfo") == 0)
    r->ws_source = AGENT_WS_SOURCE_MEMINFO;
  else
    return fail (c->error, AGENT_PROTO_ERROR_FIELD, "unknown ws.source");

  json_t *bins = json_object_get (ws, "bins");
  if (!json_is_array (bins))
    return fail (c->error, AGENT_PROTO_ERROR_FIELD, "ws.bins is not an array");
  gsize n = json_array_size (bins);
  if (n == 0 || n > AGENT_WIRE_MAX_BINS)
    return fail (c->error, AGENT_PROTO_ERROR_RANGE, "ws.bins has %zu entries (1..%d)", n,
                 AGENT_WIRE_MAX_BINS);

  uint64_t sum = 0, prev_age = 0;
  for (gsize i = 0; i < n; i++)
    {
      json_t *b = json_array_get (bins, i);
      AgentWsBin *out = &r->bins[i];
      if (!json_is_object (b))
        return fail (c->error, AGENT_PROTO_ERROR_FIELD, "ws.bins[%zu] is not an object", i);
      json_t *age = json_object_get (b, "age_ms");
      if (!age)
        return fail (c->error, AGENT_PROTO_ERROR_FIELD, "ws.bins[%zu] has no age_ms", i);
      if (json_is_null (age))
        {
          if (i != n - 1)
            return fail (c->error, AGENT_PROTO_ERROR_RANGE, "open-ended bin before the last");
          out->age_ms = 0;
        }
      else
        {
          if (i == n - 1)
            return fail (c->error, AGENT_PROTO_ERROR_RANGE, "last bin is not open-ended");
          if (!get_uint (b, "age_ms", AGENT_WIRE_MAX_BIN_MS, &out->age_ms, NULL, c->error))
            return FALSE;
          if (out->age_ms == 0 || out->age_ms <= prev_age)
            return fail (c->error, AGENT_PROTO_ERROR_RANGE, "bin ages do not increase");
          prev_age = out->age_ms;
        }
      if (!get_bytes (b, "anon", c, &out->anon_bytes)
          || !get_bytes (b, "file", c, &out->file_bytes))
        return FALSE;
      sum += out->anon_bytes + out->file_bytes; /* each <= 16 TiB: no overflow */
      if (sum > c->ram_bytes)
        return fail (c->error, AGENT_PROTO_ERROR_RANGE, "histogram holds more than the VM's RAM");
    }
  r->n_bins = (guint) n;
  r->has_ws = TRUE;
  return TRUE;
}

static gboolean
parse_report (json_t *root, const Ctx *c, AgentReport *r)
{
  json_t *mem, *psi, *vmstat, *ws, *agent;

  memset (r, 0, sizeof *r);
  if (!get_uint (root, "seq", UINT64_MAX, &r->seq, NULL, c->error)
      || !get_uint (root, "uptime_ms", UINT64_MAX, &r->uptime_ms, NULL, c->error)
      || !get_object (root, "mem", TRUE, &mem, c->error))
    return FALSE;

  AgentMem *m = &r->mem;
  if (!get_bytes (mem, "total", c, &m->total_bytes) || !get_bytes (mem, "free", c, &m->free_bytes)
      || !get_bytes (mem, "available", c, &m->available_bytes)
      || !get_bytes (mem, "cached", c, &m->cached_bytes)
      || !get_bytes (mem, "anon", c, &m->anon_bytes)
      || !get_bytes (mem, "unevictable", c, &m->unevictable_bytes)
      /* Swap is not RAM: only the hard ceiling applies. */
      || !get_uint (mem, "swap_free", AGENT_PROTO_MAX_RAM_BYTES, &m->swap_free_bytes, NULL,
                    c->error))
    return FALSE;
  if (m->free_bytes > m->total_bytes || m->available_bytes > m->total_bytes
      || m->cached_bytes > m->total_bytes || m->anon_bytes > m->total_bytes
      || m->unevictable_bytes > m->total_bytes)
    return fail (c->error, AGENT_PROTO_ERROR_RANGE, "a mem figure exceeds mem.total");

  if (!get_object (root, "psi", FALSE, &psi, c->error))
    return FALSE;
  if (psi)
    {
      if (!get_pct (psi, "some_avg10", &r->some_avg10_pct, c->error)
          || !get_pct (psi, "full_avg10", &r->full_avg10_pct, c->error)
          || !get_uint (psi, "some_total_us", UINT64_MAX, &r->some_total_us, NULL, c->error))
        return FALSE;
      r->has_psi = TRUE;
    }

  if (!get_object (root, "vmstat", FALSE, &vmstat, c->error))
    return FALSE;
  if (vmstat)
    {
      if (!get_uint (vmstat, "workingset_refault_anon", UINT64_MAX, &r->workingset_refault_anon,
                     NULL, c->error)
          || !get_uint (vmstat, "workingset_refault_file", UINT64_MAX, &r->workingset_refault_file,
                        NULL, c->error)
          || !get_uint (vmstat, "pswpin", UINT64_MAX, &r->pswpin, NULL, c->error)
          || !get_uint (vmstat, "pswpout", UINT64_MAX, &r->pswpout, NULL, c->error)
          || !get_uint (vmstat, "oom_kill", UINT64_MAX, &r->oom_kill, NULL, c->error))
        return FALSE;
      r->has_vmstat = TRUE;
    }

  if (!get_object (root, "ws", FALSE, &ws, c->error))
    return FALSE;
  if (ws && !parse_bins (ws, c, r))
    return FALSE;

  /* Extension fields: used when well-formed, ignored otherwise. */
  agent = json_object_get (root, "agent");
  if (json_is_object (agent))
    {
      json_t *cpu = json_object_get (agent, "cpu_us");
      if (json_is_integer (cpu) && json_integer_value (cpu) >= 0)
        {
          r->has_agent_cpu = TRUE;
          r->agent_cpu_us = (uint64_t) json_integer_value (cpu);
        }
    }
  return TRUE;
}

static gboolean
parse_pressure (json_t *root, const Ctx *c, AgentPressure *p)
{
  memset (p, 0, sizeof *p);
  if (!get_uint (root, "seq", UINT64_MAX, &p->seq, NULL, c->error)
      || !get_pct (root, "some_avg10", &p->some_avg10_pct, c->error)
      || !get_bytes (root, "available", c, &p->available_bytes)
      || !get_uint (root, "uptime_ms", UINT64_MAX, &p->uptime_ms, &p->has_uptime, c->error)
      || !get_uint (root, "some_total_us", UINT64_MAX, &p->some_total_us, &p->has_some_total,
                    c->error))
    return FALSE;
  return TRUE;
}

static gboolean parse_root (json_t *root, const Ctx *ctx, AgentMsg *out);

gboolean
agent_proto_parse_line (const char *line, gsize len, const AgentProtoLimits *limits, AgentMsg *out,
                        GError **error)
{
  Ctx c = {
    .ram_bytes = limits && limits->ram_bytes ? MIN (limits->ram_bytes, AGENT_PROTO_MAX_RAM_BYTES)
                                             : AGENT_PROTO_MAX_RAM_BYTES,
    .error = error,
  };
  json_error_t jerr;

  if (len > AGENT_WIRE_MAX_LINE_BYTES)
    return fail (error, AGENT_PROTO_ERROR_TOO_LONG, "line of %zu bytes (max %d)", len,
                 AGENT_WIRE_MAX_LINE_BYTES);

  json_t *root = json_loadb (line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return fail (error, AGENT_PROTO_ERROR_SYNTAX, "not JSON: %s", jerr.text);
  gboolean ok = parse_root (root, &c, out);
  json_decref (root);
  return ok;
}

static gboolean
parse_root (json_t *root, const Ctx *ctx, AgentMsg *out)
{
  const Ctx c = *ctx;
  GError **error = c.error;

  if (!json_is_object (root))
    return fail (error, AGENT_PROTO_ERROR_SYNTAX, "not a JSON object");

  json_t *v = json_object_get (root, "v");
  if (!json_is_integer (v))
    return fail (error, AGENT_PROTO_ERROR_VERSION, "no integer \"v\"");
  if (json_integer_value (v) != AGENT_WIRE_VERSION)
    return fail (error, AGENT_PROTO_ERROR_VERSION, "version %" JSON_INTEGER_FORMAT " (want %d)",
                 json_integer_value (v), AGENT_WIRE_VERSION);

  json_t *type = json_object_get (root, "type");
  if (!json_is_string (type))
    return fail (error, AGENT_PROTO_ERROR_FIELD, "no string \"type\"");
  const char *t = json_string_value (type);
  if (g_strcmp0 (t, "report") == 0)
    {
      out->type = AGENT_MSG_REPORT;
      return parse_report (root, &c, &out->report);
    }
  if (g_strcmp0 (t, "pressure") == 0)
    {
      out->type = AGENT_MSG_PRESSURE;
      return parse_pressure (root, &c, &out->pressure);
    }
  if (g_strcmp0 (t, "hello") == 0)
    {
      out->type = AGENT_MSG_HELLO;
      return parse_hello (root, &c, &out->hello);
    }
  return fail (error, AGENT_PROTO_ERROR_UNKNOWN_TYPE, "unknown message type");
}

/* ---- link ---- */

struct _AgentLink
{
  QmpLineSplitter *splitter;
  RateLimit rate;
  AgentProtoLimits limits;
  AgentLinkCounters counters;
  /* A buffer, not a copy per line: a flood of bad lines must not allocate. */
  char last_error[160];
  /* per-feed call */
  int64_t now_us;
  AgentMsgFunc func;
  gpointer user_data;
};

AgentLink *
agent_link_new (uint64_t ram_bytes)
{
  AgentLink *link = g_new0 (AgentLink, 1);
  link->splitter = qmp_line_splitter_new (AGENT_WIRE_MAX_LINE_BYTES);
  rate_limit_init (&link->rate, AGENT_LINK_RATE_PER_S * 60, AGENT_LINK_RATE_BURST);
  link->limits.ram_bytes = ram_bytes;
  return link;
}

void
agent_link_free (AgentLink *link)
{
  if (!link)
    return;
  qmp_line_splitter_free (link->splitter);
  g_free (link);
}

void
agent_link_set_ram (AgentLink *link, uint64_t ram_bytes)
{
  link->limits.ram_bytes = ram_bytes;
}

void
agent_link_reset (AgentLink *link)
{
  qmp_line_splitter_reset (link->splitter);
}

static void
link_reject (AgentLink *link, const char *msg)
{
  link->counters.rejected++;
  g_strlcpy (link->last_error, msg, sizeof link->last_error);
}

/* Unlike QMP, a bad line (over-long ones included) costs the guest only that
 * line: the link goes on with the next. */
static gboolean
link_on_line (const char *line, gsize len, gboolean too_long, gpointer user_data)
{
  AgentLink *link = user_data;
  g_autoptr (GError) error = NULL;
  AgentMsg msg;

  /* Every line, valid or not, spends a token: garbage cannot be cheaper. */
  if (!rate_limit_allow (&link->rate, link->now_us))
    {
      link->counters.rate_limited++;
      link_reject (link, "message rate above the limit");
      return TRUE;
    }
  if (too_long)
    {
      link->counters.too_long++;
      link_reject (link, "line longer than the limit");
      return TRUE;
    }
  if (!agent_proto_parse_line (line, len, &link->limits, &msg, &error))
    {
      if (g_error_matches (error, AGENT_PROTO_ERROR, AGENT_PROTO_ERROR_UNKNOWN_TYPE))
        link->counters.unknown_type++;
      link_reject (link, error->message);
      return TRUE;
    }
  link->counters.accepted++;
  if (link->func)
    link->func (&msg, link->user_data);
  return TRUE;
}

void
agent_link_feed (AgentLink *link, const char *data, gsize len, int64_t now_us, AgentMsgFunc func,
                 gpointer user_data)
{
  link->now_us = now_us;
  link->func = func;
  link->user_data = user_data;
  qmp_line_splitter_feed (link->splitter, data, len, link_on_line, link);
  link->func = NULL;
  link->user_data = NULL;
}

void
agent_link_get_counters (const AgentLink *link, AgentLinkCounters *out)
{
  *out = link->counters;
}

const char *
agent_link_get_last_error (const AgentLink *link)
{
  return link->last_error[0] ? link->last_error : NULL;
}
