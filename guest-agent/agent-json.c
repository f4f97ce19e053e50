/* agent-json.c: append-only writer for the agent's messages and a strict
 * recursive-descent reader for the host's lines, config and reclaim (the
 * static agent cannot link a JSON library). */
#include "agent-json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Bounds of the host-line reader: host messages are small and flat. */
#define CFG_MAX_DEPTH 8
#define CFG_MAX_TOKEN 256

void
agent_buf_init (AgentBuf *b, char *storage, size_t cap)
{
  b->data = storage;
  b->len = 0;
  b->cap = cap;
  b->overflow = false;
  if (cap > 0)
    storage[0] = '\0';
}

void
agent_buf_printf (AgentBuf *b, const char *fmt, ...)
{
  if (b->overflow)
    return;
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (b->data + b->len, b->cap - b->len, fmt, ap);
  va_end (ap);
  if (n < 0 || (size_t) n >= b->cap - b->len)
    {
      b->overflow = true;
      b->data[b->len] = '\0';
      return;
    }
  b->len += (size_t) n;
}

void
agent_buf_mem (AgentBuf *b, const char *s, size_t len)
{
  if (b->overflow)
    return;
  if (len >= b->cap - b->len)
    {
      b->overflow = true;
      return;
    }
  memcpy (b->data + b->len, s, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void
agent_buf_str (AgentBuf *b, const char *s)
{
  agent_buf_mem (b, s, strlen (s));
}

void
agent_buf_u64 (AgentBuf *b, uint64_t v)
{
  char digits[20];
  size_t n = sizeof digits;
  do
    {
      digits[--n] = (char) ('0' + v % 10);
      v /= 10;
    }
  while (v);
  agent_buf_mem (b, digits + n, sizeof digits - n);
}

void
agent_buf_json_string (AgentBuf *b, const char *s)
{
  agent_buf_printf (b, "\"");
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        agent_buf_printf (b, "\\%c", *p);
      else if (*p < 0x20 || *p >= 0x7f)
        agent_buf_printf (b, "\\u%04x", *p);
      else
        agent_buf_printf (b, "%c", *p);
    }
  agent_buf_printf (b, "\"");
}

void
agent_buf_pct (AgentBuf *b, uint32_t pct_centi)
{
  char frac[4] = { '.', (char) ('0' + pct_centi / 10 % 10), (char) ('0' + pct_centi % 10), 0 };
  agent_buf_u64 (b, pct_centi / 100);
  agent_buf_mem (b, frac, 3);
}

/* ---- host-line reader ---- */

typedef struct
{
  const char *s;
  size_t len;
  size_t pos;
} Cur;

static void
skip_ws (Cur *c)
{
  while (c->pos < c->len
         && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\r'
             || c->s[c->pos] == '\n'))
    c->pos++;
}

static bool
peek (Cur *c, char ch)
{
  skip_ws (c);
  return c->pos < c->len && c->s[c->pos] == ch;
}

static bool
eat (Cur *c, char ch)
{
  if (!peek (c, ch))
    return false;
  c->pos++;
  return true;
}

/* Reads a string without escapes other than \" \\ \/ (keys and the type
 * value are plain ASCII); copies it to @buf when given. */
static bool
read_string (Cur *c, char *buf, size_t cap)
{
  if (!eat (c, '"'))
    return false;
  size_t n = 0;
  while (c->pos < c->len)
    {
      unsigned char ch = (unsigned char) c->s[c->pos++];
      if (ch == '"')
        {
          if (buf)
            buf[n] = '\0';
          return true;
        }
      if (ch < 0x20 || n + 1 >= CFG_MAX_TOKEN)
        return false;
      if (ch == '\\')
        {
          if (c->pos >= c->len)
            return false;
          ch = (unsigned char) c->s[c->pos++];
          if (ch == 'u')
            {
              /* Accept and drop \uXXXX (only in values we skip). */
              for (int i = 0; i < 4; i++)
                {
                  if (c->pos >= c->len)
                    return false;
                  char h = c->s[c->pos++];
                  if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                    return false;
                }
              ch = '?';
            }
          else if (ch == 'n' || ch == 't' || ch == 'r' || ch == 'b' || ch == 'f')
            ch = ' ';
          else if (ch != '"' && ch != '\\' && ch != '/')
            return false;
        }
      if (buf)
        {
          if (n + 1 >= cap)
            return false;
          buf[n] = (char) ch;
        }
      n++;
    }
  return false;
}

/* Reads a non-negative integer; rejects signs, fractions, exponents,
 * leading zeros and overflow of uint64_t. */
static bool
read_uint (Cur *c, uint64_t *out)
{
  skip_ws (c);
  size_t start = c->pos;
  uint64_t v = 0;
  while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9')
    {
      unsigned d = (unsigned) (c->s[c->pos] - '0');
      if (v > (UINT64_MAX - d) / 10)
        return false;
      v = v * 10 + d;
      c->pos++;
    }
  size_t n = c->pos - start;
  if (n == 0 || (n > 1 && c->s[start] == '0'))
    return false;
  if (c->pos < c->len && (c->s[c->pos] == '.' || c->s[c->pos] == 'e' || c->s[c->pos] == 'E'))
    return false;
  *out = v;
  return true;
}

static bool
match_word (Cur *c, const char *w)
{
  size_t n = strlen (w);
  skip_ws (c);
  if (c->len - c->pos < n || memcmp (c->s + c->pos, w, n) != 0)
    return false;
  c->pos += n;
  return true;
}

/* Skips any JSON value, bounded in depth and token length. */
static bool
skip_value (Cur *c, int depth)
{
  if (depth > CFG_MAX_DEPTH)
    return false;
  skip_ws (c);
  if (c->pos >= c->len)
    return false;
  char ch = c->s[c->pos];
  if (ch == '"')
    return read_string (c, NULL, 0);
  if (ch == '{' || ch == '[')
    {
      char close = ch == '{' ? '}' : ']';
      c->pos++;
      if (eat (c, close))
        return true;
      for (;;)
        {
          if (close == '}')
            {
              if (!read_string (c, NULL, 0) || !eat (c, ':'))
                return false;
            }
          if (!skip_value (c, depth + 1))
            return false;
          if (eat (c, ','))
            continue;
          return eat (c, close);
        }
    }
  if (match_word (c, "true") || match_word (c, "false") || match_word (c, "null"))
    return true;
  /* number: -?digits[.digits][e[+-]digits], bounded */
  size_t start = c->pos;
  if (c->s[c->pos] == '-')
    c->pos++;
  size_t digits = 0;
  while (c->pos < c->len && c->pos - start < CFG_MAX_TOKEN
         && ((c->s[c->pos] >= '0' && c->s[c->pos] <= '9') || c->s[c->pos] == '.'
             || c->s[c->pos] == 'e' || c->s[c->pos] == 'E' || c->s[c->pos] == '+'
             || c->s[c->pos] == '-'))
    {
      if (c->s[c->pos] >= '0' && c->s[c->pos] <= '9')
        digits++;
      c->pos++;
    }
  return digits > 0 && c->pos - start < CFG_MAX_TOKEN;
}

/* Called for each key of the top-level object with the cursor on its value;
 * consumes the value, or returns false to refuse the whole line. */
typedef bool (*KeyFn) (Cur *c, const char *key, void *ctx);

/* Walks the one object the line must be, key by key, and requires nothing
 * but whitespace after it. */
static bool
walk_object (const char *line, size_t len, KeyFn fn, void *ctx)
{
  Cur c = { .s = line, .len = len, .pos = 0 };
  char key[CFG_MAX_TOKEN];

  if (!eat (&c, '{'))
    return false;
  if (!eat (&c, '}'))
    for (;;)
      {
        if (!read_string (&c, key, sizeof key) || !eat (&c, ':') || !fn (&c, key, ctx))
          return false;
        if (eat (&c, ','))
          continue;
        if (!eat (&c, '}'))
          return false;
        break;
      }
  skip_ws (&c);
  return c.pos == c.len;
}

typedef struct
{
  char type[CFG_MAX_TOKEN];
  bool have_type;
  bool have_v;
  uint64_t v;
} Header;

/* First pass: the type and version, wherever they are in the object. */
static bool
header_key (Cur *c, const char *key, void *ctx)
{
  Header *h = ctx;
  if (strcmp (key, "type") == 0)
    {
      if (h->have_type || !read_string (c, h->type, sizeof h->type))
        return false;
      h->have_type = true;
      return true;
    }
  if (strcmp (key, "v") == 0)
    {
      if (h->have_v || !read_uint (c, &h->v))
        return false;
      h->have_v = true;
      return true;
    }
  return skip_value (c, 1);
}

static bool
read_bins (Cur *c, AgentConfig *cfg)
{
  if (cfg->has_bins || !eat (c, '['))
    return false;
  cfg->has_bins = true;
  if (eat (c, ']'))
    return false; /* an empty list */
  for (;;)
    {
      uint64_t ms;
      if (!read_uint (c, &ms))
        return false;
      if (cfg->n_bins_ms == AGENT_WIRE_MAX_BINS - 1 || ms == 0 || ms > AGENT_WIRE_MAX_BIN_MS
          || (cfg->n_bins_ms > 0 && ms <= cfg->bins_ms[cfg->n_bins_ms - 1]))
        return false;
      cfg->bins_ms[cfg->n_bins_ms++] = ms;
      if (eat (c, ','))
        continue;
      return eat (c, ']');
    }
}

static bool
config_key (Cur *c, const char *key, void *ctx)
{
  AgentConfig *cfg = ctx;
  if (strcmp (key, "interval_ms") == 0)
    {
      uint64_t ms;
      if (cfg->has_interval || !read_uint (c, &ms) || ms < AGENT_WIRE_MIN_INTERVAL_MS
          || ms > AGENT_WIRE_MAX_INTERVAL_MS)
        return false;
      cfg->has_interval = true;
      cfg->interval_ms = (uint32_t) ms;
      return true;
    }
  if (strcmp (key, "bins_ms") == 0)
    return read_bins (c, cfg);
  return skip_value (c, 1);
}

typedef struct
{
  bool have_bytes;
  uint64_t bytes;
} ReclaimFields;

static bool
reclaim_key (Cur *c, const char *key, void *ctx)
{
  ReclaimFields *f = ctx;
  if (strcmp (key, "bytes") == 0)
    {
      if (f->have_bytes || !read_uint (c, &f->bytes) || f->bytes == 0
          || f->bytes > AGENT_WIRE_RECLAIM_MAX_REQUEST_BYTES)
        return false;
      f->have_bytes = true;
      return true;
    }
  return skip_value (c, 1);
}

int
agent_host_parse (const char *line, size_t len, AgentHostMsg *out)
{
  Header h = { .type = "" };

  *out = (AgentHostMsg){ .type = AGENT_HOST_OTHER };
  if (len > AGENT_WIRE_MAX_LINE_BYTES)
    return -EINVAL;
  bool ok = walk_object (line, len, header_key, &h);
  /* Known even when the line is refused, so refusals can be told apart. */
  if (h.have_type && strcmp (h.type, "config") == 0)
    out->type = AGENT_HOST_CONFIG;
  else if (h.have_type && strcmp (h.type, AGENT_WIRE_MSG_RECLAIM) == 0)
    out->type = AGENT_HOST_RECLAIM;
  if (!ok || !h.have_type || !h.have_v)
    return -EINVAL;
  if (out->type == AGENT_HOST_OTHER)
    return -ENOMSG;
  if (h.v != AGENT_WIRE_VERSION)
    return -EPROTONOSUPPORT;
  if (out->type == AGENT_HOST_CONFIG)
    return walk_object (line, len, config_key, &out->config) ? 0 : -EINVAL;

  ReclaimFields f = { 0 };
  if (!walk_object (line, len, reclaim_key, &f) || !f.have_bytes)
    return -EINVAL;
  out->reclaim_bytes = f.bytes;
  return 0;
}

int
agent_config_parse (const char *line, size_t len, AgentConfig *out)
{
  AgentHostMsg m;
  int r = agent_host_parse (line, len, &m);
  if (r == 0 && m.type != AGENT_HOST_CONFIG)
    return -ENOMSG;
  if (r == 0)
    *out = m.config;
  return r;
}
