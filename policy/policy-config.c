/* policy-config.c: the policy's config keys, value by value, in plain C (no
 * GLib) so that the daemon, the simulator and the fuzzer share one parser. */
#include "policy-config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "defaults.h"

/* Longest value quoted back in an error message. */
#define CONF_QUOTE_MAX 64
/* Durations above this are refused: nothing in the policy is slower than a day. */
#define CONF_DURATION_MAX_MS (7ull * 24 * 3600 * 1000)
/* A tick outside [10 ms, 1 h] is a typo, not a tuning. */
#define CONF_TICK_MIN_MS 10u
#define CONF_TICK_MAX_MS 3600000u
/* A unitless size below 1 MiB is a forgotten unit, not a byte count. */
#define CONF_BARE_BYTES_MIN (1024u * 1024u)

static void conf_error (char **error, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
conf_error (char **error, const char *fmt, ...)
{
  if (error == NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  char *s = NULL;
  if (vasprintf (&s, fmt, ap) < 0)
    s = NULL;
  va_end (ap);
  free (*error);
  *error = s;
}

/* The value, made printable and shortened for messages, in the caller's buffer. */
static const char *
conf_quote (const char *text, char buf[CONF_QUOTE_MAX + 4])
{
  size_t n = strnlen (text, CONF_QUOTE_MAX + 1);
  size_t i;
  for (i = 0; i < n && i < CONF_QUOTE_MAX; i++)
    buf[i] = isprint ((unsigned char) text[i]) ? text[i] : '?';
  if (n > CONF_QUOTE_MAX)
    {
      buf[i++] = '.';
      buf[i++] = '.';
      buf[i++] = '.';
    }
  buf[i] = '\0';
  return buf;
}

static const char *
conf_skip_space (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Parses a non-negative decimal number ("12", "1.5") without locale or
 * exponent; returns the end pointer or NULL. */
static const char *
conf_number (const char *p, double *out)
{
  double v = 0.0;
  bool digits = false;
  while (isdigit ((unsigned char) *p))
    {
      v = v * 10.0 + (*p - '0');
      digits = true;
      p++;
    }
  if (*p == '.')
    {
      p++;
      double scale = 0.1;
      while (isdigit ((unsigned char) *p))
        {
          v += (*p - '0') * scale;
          scale /= 10.0;
          digits = true;
          p++;
        }
    }
  if (!digits || !isfinite (v))
    return NULL;
  *out = v;
  return p;
}

/* Exact integer parse for plain byte counts (doubles lose precision above 2^53). */
static bool
conf_u64 (const char *p, uint64_t *out, const char **end)
{
  uint64_t v = 0;
  if (!isdigit ((unsigned char) *p))
    return false;
  while (isdigit ((unsigned char) *p))
    {
      unsigned d = (unsigned) (*p - '0');
      if (v > (UINT64_MAX - d) / 10)
        return false;
      v = v * 10 + d;
      p++;
    }
  *out = v;
  *end = p;
  return true;
}

/* The number a value starts with, after leading blanks: returns what
 * follows it (blanks skipped), or NULL with "invalid KIND 'TEXT' (expected
 * EXAMPLE)" (also for a NULL text or output). */
static const char *
conf_lead_number (const char *text, bool have_out, double *v, const char *kind, const char *example,
                  char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  if (text == NULL || !have_out)
    {
      conf_error (error, "missing value");
      return NULL;
    }
  const char *e = conf_number (conf_skip_space (text), v);
  if (e == NULL)
    {
      conf_error (error, "invalid %s '%s' (expected e.g. %s)", kind, conf_quote (text, q), example);
      return NULL;
    }
  return conf_skip_space (e);
}

bool
policy_parse_pct (const char *text, double *out_pct, char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  double v;
  const char *e = conf_lead_number (text, out_pct != NULL, &v, "percentage", "25% or 0.1%", error);
  if (e == NULL)
    return false;
  if (*e == '%')
    e = conf_skip_space (e + 1);
  if (*e != '\0')
    {
      conf_error (error, "invalid percentage '%s' (trailing characters)", conf_quote (text, q));
      return false;
    }
  if (v > 100.0)
    {
      conf_error (error, "percentage '%s' is above 100%%", conf_quote (text, q));
      return false;
    }
  *out_pct = v;
  return true;
}

bool
policy_parse_size (const char *text, PolicySize *out, char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  if (text == NULL || out == NULL)
    {
      conf_error (error, "missing value");
      return false;
    }
  const char *p = conf_skip_space (text);
  if (*p == '-')
    {
      conf_error (error, "size '%s' is negative", conf_quote (text, q));
      return false;
    }
  if (strchr (p, '%') != NULL)
    {
      double pct;
      if (!policy_parse_pct (text, &pct, error))
        return false;
      *out = (PolicySize){ .set = true, .is_pct = true, .pct = pct };
      return true;
    }
  /* Plain integers are parsed exactly; anything with a fraction goes through
   * a double and must stay below 2^64 after scaling. */
  uint64_t whole;
  const char *e;
  double v;
  bool exact = conf_u64 (p, &whole, &e) && *e != '.';
  if (!exact)
    {
      e = conf_number (p, &v);
      if (e == NULL)
        {
          conf_error (error,
                      "invalid size '%s' (expected bytes, a K/M/G/T/P suffix or a percentage)",
                      conf_quote (text, q));
          return false;
        }
    }
  e = conf_skip_space (e);
  unsigned shift = 0;
  switch (toupper ((unsigned char) *e))
    {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      case 'P':
        shift = 50;
        break;
      default:
        break;
    }
  if (shift != 0)
    {
      e++;
      if (*e == 'i' || *e == 'I')
        e++;
      if (*e == 'B' || *e == 'b')
        e++;
    }
  else if (*e == 'B' || *e == 'b')
    e++;
  bool has_unit = shift != 0 || e[-1] == 'B' || e[-1] == 'b';
  e = conf_skip_space (e);
  if (*e != '\0')
    {
      conf_error (error, "invalid size '%s' (unknown unit; use K, M, G, T, P or %%)",
                  conf_quote (text, q));
      return false;
    }
  /* "min=512" meant MiB, never 512 bytes: a small count without a unit is
   * refused rather than read as something nobody means. */
  if (exact && shift == 0 && !has_unit && whole > 0 && whole < CONF_BARE_BYTES_MIN)
    {
      conf_error (
          error, "size '%s' has no unit and would be %s bytes; write %sM or %sK (or %sB for bytes)",
          conf_quote (text, q), conf_quote (text, q), conf_quote (text, q), conf_quote (text, q),
          conf_quote (text, q));
      return false;
    }
  uint64_t bytes;
  if (exact)
    {
      if (shift != 0 && whole > (UINT64_MAX >> shift))
        {
          conf_error (error, "size '%s' is too large", conf_quote (text, q));
          return false;
        }
      bytes = whole << shift;
    }
  else
    {
      double b = ldexp (v, (int) shift);
      if (!(b < 18446744073709551616.0))
        {
          conf_error (error, "size '%s' is too large", conf_quote (text, q));
          return false;
        }
      bytes = (uint64_t) b;
    }
  *out = (PolicySize){ .set = true, .is_pct = false, .bytes = bytes };
  return true;
}

bool
policy_parse_duration_ms (const char *text, uint64_t bare_unit_ms, uint64_t *out_ms, char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  double v;
  const char *e = conf_lead_number (text, out_ms != NULL, &v, "duration", "500ms, 120s, 2m", error);
  if (e == NULL)
    return false;
  static const struct
  {
    const char *suffix;
    uint64_t ms;
  } units[] = {
    { "ms", 1 }, { "s", 1000 }, { "sec", 1000 }, { "m", 60000 }, { "min", 60000 }, { "h", 3600000 },
  };
  double unit = (double) bare_unit_ms;
  if (*e != '\0')
    {
      size_t n = strlen (e);
      while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t'))
        n--;
      bool found = false;
      for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen (units[i].suffix) == n && strncasecmp (e, units[i].suffix, n) == 0)
          {
            unit = (double) units[i].ms;
            found = true;
            break;
          }
      if (!found)
        {
          conf_error (error, "invalid duration '%s' (unknown unit; use ms, s, m or h)",
                      conf_quote (text, q));
          return false;
        }
    }
  double ms = v * unit;
  if (!(ms <= (double) CONF_DURATION_MAX_MS))
    {
      conf_error (error, "duration '%s' is too long (at most 7 days)", conf_quote (text, q));
      return false;
    }
  *out_ms = (uint64_t) llround (ms);
  return true;
}

bool
policy_parse_bool (const char *text, bool *out, char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  static const struct
  {
    const char *word;
    bool value;
  } words[] = {
    { "true", true },   { "yes", true }, { "on", true },   { "1", true },
    { "false", false }, { "no", false }, { "off", false }, { "0", false },
  };
  if (text != NULL && out != NULL)
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
      if (strcasecmp (text, words[i].word) == 0)
        {
          *out = words[i].value;
          return true;
        }
  conf_error (error, "invalid boolean '%s' (expected true or false)",
              text ? conf_quote (text, q) : "");
  return false;
}

/* An enum value by name from a table; -1 if not found. */
static int
conf_enum (const char *text, const char *const *names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (names[i] != NULL && strcasecmp (text, names[i]) == 0)
      return (int) i;
  return -1;
}

static const char *const vm_mode_names[] = { "auto", "fixed", "observe", "off" };
static const char *const host_mode_names[] = { "balanced", "density" };
static const char *const ksm_mode_names[] = { "auto", "observe", "off" };

/* Wraps a value-level error with the key's name. */
static PolicyKeyResult
conf_invalid (char **error, const char *key)
{
  if (error != NULL)
    {
      char *inner = *error;
      *error = NULL;
      conf_error (error, "%s: %s", key, inner ? inner : "invalid value");
      free (inner);
    }
  return POLICY_KEY_INVALID;
}

static PolicyKeyResult
conf_set_enum (int *field, const char *key, const char *value, const char *const *names, size_t n,
               const char *expected, char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  int m = conf_enum (value, names, n);
  if (m < 0)
    {
      conf_error (error, "%s: invalid value '%s' (expected %s)", key, conf_quote (value, q),
                  expected);
      return POLICY_KEY_INVALID;
    }
  *field = m;
  return POLICY_KEY_OK;
}

PolicyKeyResult
policy_vm_config_set (PolicyVmConfig *v, const char *key, const char *value, char **error)
{
  char q[CONF_QUOTE_MAX + 4];
  if (v == NULL || key == NULL || value == NULL)
    {
      conf_error (error, "%s: missing value", key ? key : "(null)");
      return POLICY_KEY_INVALID;
    }
  PolicySize *size = NULL;
  if (strcmp (key, "mode") == 0)
    {
      int m;
      PolicyKeyResult r
          = conf_set_enum (&m, key, value, vm_mode_names, 4, "auto, fixed, observe or off", error);
      if (r == POLICY_KEY_OK)
        v->mode = (PolicyVmMode) m;
      return r;
    }
  else if (strcmp (key, "min") == 0)
    size = &v->min;
  else if (strcmp (key, "max") == 0)
    size = &v->max;
  else if (strcmp (key, "target") == 0)
    size = &v->target;
  else if (strcmp (key, "headroom") == 0)
    size = &v->headroom;
  else if (strcmp (key, "shares") == 0)
    {
      uint64_t n;
      const char *e;
      const char *p = conf_skip_space (value);
      if (!conf_u64 (p, &n, &e) || *conf_skip_space (e) != '\0' || n > 1000000)
        {
          conf_error (error, "shares: invalid value '%s' (expected an integer 0..1000000)",
                      conf_quote (value, q));
          return POLICY_KEY_INVALID;
        }
      v->shares = (uint32_t) n;
      return POLICY_KEY_OK;
    }
  else if (strcmp (key, "cold-age") == 0)
    {
      uint64_t ms;
      if (!policy_parse_duration_ms (value, 1000, &ms, error))
        return conf_invalid (error, key);
      if (ms == 0)
        {
          conf_error (error, "cold-age: must be above zero");
          return POLICY_KEY_INVALID;
        }
      v->cold_age_ms = ms;
      return POLICY_KEY_OK;
    }
  else if (strcmp (key, "refill") == 0)
    {
      uint64_t ms;
      if (!policy_parse_duration_ms (value, 1000, &ms, error))
        return conf_invalid (error, key);
      v->refill_ms = ms;
      return POLICY_KEY_OK;
    }
  else if (strcmp (key, "burst-hold") == 0)
    {
      uint64_t ms;
      if (!policy_parse_duration_ms (value, 1000, &ms, error))
        return conf_invalid (error, key);
      v->burst_hold_ms = ms;
      return POLICY_KEY_OK;
    }
  else if (strcmp (key, "boot-grace") == 0)
    {
      uint64_t ms;
      if (!policy_parse_duration_ms (value, 1000, &ms, error))
        return conf_invalid (error, key);
      v->boot_grace_ms = ms;
      return POLICY_KEY_OK;
    }
  else if (strcmp (key, "ksm") == 0)
    {
      bool b;
      if (!policy_parse_bool (value, &b, error))
        return conf_invalid (error, key);
      v->ksm = b;
      return POLICY_KEY_OK;
    }
  else if (strcmp (key, "pressure-target") == 0)
    {
      double pct;
      if (!policy_parse_pct (value, &pct, error))
        return conf_invalid (error, key);
      v->pressure_target_pct = pct;
      return POLICY_KEY_OK;
    }
  else
    return POLICY_KEY_UNKNOWN;

  PolicySize s;
  if (!policy_parse_size (value, &s, error))
    return conf_invalid (error, key);
  *size = s;
  return POLICY_KEY_OK;
}

static PolicyKeyResult
conf_set_size (PolicySize *field, const char *key, const char *value, char **error)
{
  PolicySize s;
  if (!policy_parse_size (value, &s, error))
    return conf_invalid (error, key);
  *field = s;
  return POLICY_KEY_OK;
}

static PolicyKeyResult
conf_set_cpu_pct (double *field, const char *key, const char *value, char **error)
{
  double pct;
  if (!policy_parse_pct (value, &pct, error))
    return conf_invalid (error, key);
  if (pct <= 0.0)
    {
      conf_error (error, "%s: must be above 0%%", key);
      return POLICY_KEY_INVALID;
    }
  *field = pct;
  return POLICY_KEY_OK;
}

PolicyKeyResult
policy_config_set (PolicyConfig *c, const char *section, const char *key, const char *value,
                   char **error)
{
  if (c == NULL || section == NULL || key == NULL || value == NULL)
    {
      conf_error (error, "%s: missing value", key ? key : "(null)");
      return POLICY_KEY_INVALID;
    }
  if (strcmp (section, "defaults") == 0)
    return policy_vm_config_set (&c->vm_defaults, key, value, error);
  if (strcmp (section, "host") == 0)
    {
      if (strcmp (key, "reserve") == 0)
        return conf_set_size (&c->host_reserve, key, value, error);
      if (strcmp (key, "inflate-step") == 0)
        return conf_set_size (&c->inflate_step, key, value, error);
      if (strcmp (key, "deadband") == 0)
        return conf_set_size (&c->deadband, key, value, error);
      if (strcmp (key, "mode") == 0)
        {
          int m;
          PolicyKeyResult r
              = conf_set_enum (&m, key, value, host_mode_names, 2, "balanced or density", error);
          if (r == POLICY_KEY_OK)
            c->host_mode = (PolicyHostMode) m;
          return r;
        }
      return POLICY_KEY_UNKNOWN;
    }
  if (strcmp (section, "ksm") == 0)
    {
      if (strcmp (key, "mode") == 0)
        {
          int m;
          PolicyKeyResult r
              = conf_set_enum (&m, key, value, ksm_mode_names, 3, "auto, observe or off", error);
          if (r == POLICY_KEY_OK)
            c->ksm_mode = (PolicyKsmMode) m;
          return r;
        }
      if (strcmp (key, "cpu-steady") == 0)
        return conf_set_cpu_pct (&c->ksm_cpu_steady_pct, key, value, error);
      if (strcmp (key, "cpu-boost") == 0)
        return conf_set_cpu_pct (&c->ksm_cpu_boost_pct, key, value, error);
      if (strcmp (key, "boost-scan-time") == 0)
        {
          uint64_t ms;
          if (!policy_parse_duration_ms (value, 1000, &ms, error))
            return conf_invalid (error, key);
          if (ms < 1000)
            {
              conf_error (error, "%s: must be at least 1s", key);
              return POLICY_KEY_INVALID;
            }
          c->ksm_boost_scan_time_ms = ms;
          return POLICY_KEY_OK;
        }
      return POLICY_KEY_UNKNOWN;
    }
  if (strcmp (section, "daemon") == 0)
    {
      if (strcmp (key, "tick-ms") == 0)
        {
          uint64_t ms;
          if (!policy_parse_duration_ms (value, 1, &ms, error))
            return conf_invalid (error, key);
          if (ms < CONF_TICK_MIN_MS || ms > CONF_TICK_MAX_MS)
            {
              conf_error (error, "%s: must be between 10ms and 1h", key);
              return POLICY_KEY_INVALID;
            }
          c->tick_ms = ms;
          return POLICY_KEY_OK;
        }
      return POLICY_KEY_UNKNOWN;
    }
  return POLICY_KEY_UNKNOWN;
}
