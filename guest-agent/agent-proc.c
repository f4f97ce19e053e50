/* agent-proc.c: /proc text parsers (meminfo, vmstat, PSI) used by the agent
 * for every report; pure over buffers apart from agent_read_file. */
#include "agent-proc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Next line of @text from *pos, without its newline. */
static bool
next_line (const char *text, size_t len, size_t *pos, const char **line, size_t *line_len)
{
  if (*pos >= len)
    return false;
  const char *start = text + *pos;
  const char *nl = memchr (start, '\n', len - *pos);
  size_t n = nl ? (size_t) (nl - start) : len - *pos;
  *line = start;
  *line_len = n;
  *pos += n + (nl ? 1 : 0);
  return true;
}

/* Parses decimal digits at *p (leading spaces skipped); false if none. */
static bool
parse_dec (const char **p, const char *end, uint64_t *out)
{
  while (*p < end && **p == ' ')
    (*p)++;
  uint64_t v = 0;
  const char *s = *p;
  while (*p < end && **p >= '0' && **p <= '9')
    {
      unsigned d = (unsigned) (**p - '0');
      if (v > (UINT64_MAX - d) / 10)
        return false;
      v = v * 10 + d;
      (*p)++;
    }
  if (*p == s)
    return false;
  *out = v;
  return true;
}

/* Key lengths are kept with the keys: every line of meminfo (about 50) and
 * vmstat (about 170) is compared with every key, and under TCG strlen per
 * comparison was most of the parsing time (100 us per vmstat). */
typedef struct
{
  const char *key;
  size_t key_len;
  size_t offset;
} Field;

/* Whether @line (@klen bytes) is the key of @f. */
static bool
field_is (const Field *f, const char *line, size_t klen)
{
  return f->key_len == klen && f->key[0] == line[0] && memcmp (f->key, line, klen) == 0;
}

/* The field of a table whose name is line[0..klen), or NULL. */
static const Field *
field_lookup (const Field *fields, size_t n_fields, const char *line, size_t klen)
{
  for (size_t i = 0; i < n_fields; i++)
    if (field_is (&fields[i], line, klen))
      return &fields[i];
  return NULL;
}

#define MI(k, f)                                                                                   \
  {                                                                                                \
    k, sizeof k - 1, offsetof (AgentMeminfo, f)                                                    \
  }
static const Field meminfo_fields[] = {
  MI ("MemTotal", total_bytes),
  MI ("MemFree", free_bytes),
  MI ("MemAvailable", available_bytes),
  MI ("Cached", cached_bytes),
  MI ("Buffers", cached_bytes), /* added to Cached */
  MI ("AnonPages", anon_bytes),
  MI ("Unevictable", unevictable_bytes),
  MI ("SwapFree", swap_free_bytes),
  MI ("Active(anon)", active_anon_bytes),
  MI ("Inactive(anon)", inactive_anon_bytes),
  MI ("Active(file)", active_file_bytes),
  MI ("Inactive(file)", inactive_file_bytes),
};

int
agent_parse_meminfo (const char *text, size_t len, AgentMeminfo *out)
{
  size_t pos = 0;
  const char *line;
  size_t n;
  bool have_total = false;

  memset (out, 0, sizeof *out);
  while (next_line (text, len, &pos, &line, &n))
    {
      const char *colon = memchr (line, ':', n);
      if (!colon)
        continue;
      const Field *f
          = field_lookup (meminfo_fields, sizeof meminfo_fields / sizeof meminfo_fields[0], line,
                          (size_t) (colon - line));
      const char *p = colon + 1;
      uint64_t kib;
      if (f == NULL || !parse_dec (&p, line + n, &kib) || kib > UINT64_MAX / 1024)
        continue;
      *(uint64_t *) ((char *) out + f->offset) += kib * 1024;
      if (f->offset == offsetof (AgentMeminfo, total_bytes))
        have_total = true;
    }
  return have_total ? 0 : -EINVAL;
}

#define VS(k, f)                                                                                   \
  {                                                                                                \
    k, sizeof k - 1, offsetof (AgentVmstat, f)                                                     \
  }
static const Field vmstat_fields[] = {
  VS ("workingset_refault_anon", workingset_refault_anon),
  VS ("workingset_refault_file", workingset_refault_file),
  VS ("pswpin", pswpin),
  VS ("pswpout", pswpout),
  VS ("oom_kill", oom_kill),
};

int
agent_parse_vmstat (const char *text, size_t len, AgentVmstat *out)
{
  size_t pos = 0;
  const char *line;
  size_t n;

  memset (out, 0, sizeof *out);
  while (next_line (text, len, &pos, &line, &n))
    {
      const char *sp = memchr (line, ' ', n);
      if (!sp)
        continue;
      const Field *f = field_lookup (vmstat_fields, sizeof vmstat_fields / sizeof vmstat_fields[0],
                                     line, (size_t) (sp - line));
      const char *p = sp;
      uint64_t v;
      if (f != NULL && parse_dec (&p, line + n, &v))
        *(uint64_t *) ((char *) out + f->offset) = v;
    }
  return 0;
}

/* Parses "avg10=12.34" style percentages into hundredths. */
static bool
parse_pct_centi (const char *s, const char *end, uint32_t *out)
{
  uint64_t whole, frac = 0;
  if (!parse_dec (&s, end, &whole) || whole > 100)
    return false;
  if (s < end && *s == '.')
    {
      s++;
      unsigned digits = 0;
      while (s < end && *s >= '0' && *s <= '9')
        {
          if (digits < 2)
            frac = frac * 10 + (uint64_t) (*s - '0');
          digits++;
          s++;
        }
      if (digits == 0)
        return false;
      if (digits == 1)
        frac *= 10;
    }
  *out = (uint32_t) (whole * 100 + frac);
  return true;
}

static bool
find_field (const char *line, size_t n, const char *key, const char **val)
{
  size_t klen = strlen (key);
  for (size_t i = 0; i + klen <= n; i++)
    if ((i == 0 || line[i - 1] == ' ') && memcmp (line + i, key, klen) == 0)
      {
        *val = line + i + klen;
        return true;
      }
  return false;
}

int
agent_parse_psi (const char *text, size_t len, AgentPsi *out)
{
  size_t pos = 0;
  const char *line;
  size_t n;
  bool have_some = false;

  memset (out, 0, sizeof *out);
  while (next_line (text, len, &pos, &line, &n))
    {
      bool some = n > 5 && memcmp (line, "some ", 5) == 0;
      bool full = n > 5 && memcmp (line, "full ", 5) == 0;
      if (!some && !full)
        continue;
      const char *v;
      uint32_t avg10 = 0;
      uint64_t total = 0;
      if (!find_field (line, n, "avg10=", &v) || !parse_pct_centi (v, line + n, &avg10))
        continue;
      if (!find_field (line, n, "total=", &v) || !parse_dec (&v, line + n, &total))
        continue;
      if (some)
        {
          out->some_avg10_centi = avg10;
          out->some_total_us = total;
          have_some = true;
        }
      else
        {
          out->full_avg10_centi = avg10;
          out->full_total_us = total;
        }
    }
  return have_some ? 0 : -EINVAL;
}

long
agent_read_file (const char *path, char *buf, size_t cap)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t len = 0;
  while (len + 1 < cap)
    {
      ssize_t n = read (fd, buf + len, cap - 1 - len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          int err = errno;
          close (fd);
          return -err;
        }
      if (n == 0)
        break;
      len += (size_t) n;
    }
  close (fd);
  buf[len] = '\0';
  return (long) len;
}

long
agent_file_read (AgentFile *f, char *buf, size_t cap)
{
  if (f->fd < 0)
    {
      f->fd = open (f->path, O_RDONLY | O_CLOEXEC);
      if (f->fd < 0)
        return -errno;
    }
  size_t len = 0;
  while (len + 1 < cap)
    {
      ssize_t n = pread (f->fd, buf + len, cap - 1 - len, (off_t) len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          int err = errno;
          close (f->fd);
          f->fd = -1;
          return -err;
        }
      if (n == 0)
        break;
      len += (size_t) n;
    }
  buf[len] = '\0';
  return (long) len;
}

void
agent_file_close (AgentFile *f)
{
  if (f->fd >= 0)
    close (f->fd);
  f->fd = -1;
}
