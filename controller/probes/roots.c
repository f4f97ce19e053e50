/* roots.c: root-prefixed paths, bounded file reads and writes, and the strict
 * number and key/value parsers that every probe shares. */
#define G_LOG_DOMAIN "ballast-probes"

#include "roots.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#define HOST_KIB 1024u

static char *
host_strdup_or (const char *value, const char *fallback)
{
  return g_strdup (value != NULL && value[0] != '\0' ? value : fallback);
}

HostRoots *
host_roots_new (const char *proc_root, const char *sys_root, const char *ksm_dir)
{
  HostRoots *roots = g_new0 (HostRoots, 1);
  roots->proc_root = host_strdup_or (proc_root, HOST_PROC_ROOT_DEFAULT);
  roots->sys_root = host_strdup_or (sys_root, HOST_SYS_ROOT_DEFAULT);
  if (ksm_dir != NULL && ksm_dir[0] != '\0')
    roots->ksm_dir = g_strdup (ksm_dir);
  else
    roots->ksm_dir = g_build_filename (roots->sys_root, HOST_KSM_SUBDIR, NULL);
  return roots;
}

HostRoots *
host_roots_copy (const HostRoots *roots)
{
  return host_roots_new (roots->proc_root, roots->sys_root, roots->ksm_dir);
}

void
host_roots_free (HostRoots *roots)
{
  if (roots == NULL)
    return;
  g_free (roots->proc_root);
  g_free (roots->sys_root);
  g_free (roots->ksm_dir);
  g_free (roots);
}

char *
host_path (const HostRoots *roots, HostRootKind kind, const char *fmt, ...)
{
  const char *root = kind == HOST_ROOT_PROC  ? roots->proc_root
                     : kind == HOST_ROOT_SYS ? roots->sys_root
                                             : roots->ksm_dir;
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *relative = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return g_build_filename (root, relative, NULL);
}

gboolean
host_set_errno_error (GError **error, int saved_errno, const char *what, const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s %s: %s", what, path,
               g_strerror (saved_errno));
  return FALSE;
}

gboolean
host_read_text (const char *path, char **out_text, gsize *out_len, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return host_set_errno_error (error, errno, "opening", path);

  /* procfs reports size 0 and sysfs 4096 whatever the content: read until
   * EOF, with one spare byte to notice an oversized file. */
  gsize cap = HOST_TEXT_MAX_BYTES + 1;
  g_autofree char *buf = g_malloc (cap + 1);
  gsize len = 0;
  while (len < cap)
    {
      ssize_t n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;
          close (fd);
          return host_set_errno_error (error, saved_errno, "reading", path);
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }
  close (fd);
  if (len > HOST_TEXT_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "reading %s: larger than %u bytes",
                   path, (unsigned) HOST_TEXT_MAX_BYTES);
      return FALSE;
    }
  buf[len] = '\0';
  *out_text = g_steal_pointer (&buf);
  if (out_len != NULL)
    *out_len = len;
  return TRUE;
}

gboolean
host_write_text (const char *path, const char *text, GError **error)
{
  /* O_TRUNC matters only for the fake roots of the tests (sysfs ignores it),
   * where it keeps the file holding exactly the value written. */
  int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return host_set_errno_error (error, errno, "opening", path);
  size_t len = strlen (text);
  ssize_t n;
  do
    n = write (fd, text, len);
  while (n < 0 && errno == EINTR);
  int saved_errno = errno;
  if (close (fd) < 0 && n >= 0)
    return host_set_errno_error (error, errno, "writing", path);
  if (n < 0)
    return host_set_errno_error (error, saved_errno, "writing", path);
  if ((size_t) n != len)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "writing %s: short write (%zd of %zu bytes)", path, n, len);
      return FALSE;
    }
  return TRUE;
}

/* Copies `text` without surrounding blanks; NULL when nothing is left. */
static char *
host_trimmed (const char *text)
{
  char *copy = g_strstrip (g_strdup (text));
  if (copy[0] == '\0')
    {
      g_free (copy);
      return NULL;
    }
  return copy;
}

gboolean
host_parse_u64 (const char *text, uint64_t *out)
{
  g_autofree char *s = host_trimmed (text);
  guint64 value;
  if (s == NULL || !g_ascii_isdigit (s[0]))
    return FALSE;
  if (!g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT64, &value, NULL))
    return FALSE;
  *out = value;
  return TRUE;
}

gboolean
host_parse_i64 (const char *text, int64_t *out)
{
  g_autofree char *s = host_trimmed (text);
  gint64 value;
  if (s == NULL || !(g_ascii_isdigit (s[0]) || (s[0] == '-' && g_ascii_isdigit (s[1]))))
    return FALSE;
  if (!g_ascii_string_to_signed (s, 10, G_MININT64, G_MAXINT64, &value, NULL))
    return FALSE;
  *out = value;
  return TRUE;
}

gboolean
host_parse_kib_bytes (const char *text, uint64_t *out_bytes)
{
  g_autofree char *s = host_trimmed (text);
  if (s == NULL || !g_str_has_suffix (s, " kB"))
    return FALSE;
  s[strlen (s) - strlen (" kB")] = '\0';
  uint64_t kib;
  if (!host_parse_u64 (s, &kib) || kib > G_MAXUINT64 / HOST_KIB)
    return FALSE;
  *out_bytes = kib * HOST_KIB;
  return TRUE;
}

void
host_for_each_kv (const char *text, gsize len, HostKvFn fn, gpointer user_data)
{
  g_autofree char *copy = g_strndup (text, len);
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
      size_t key_len = strcspn (line, ": \t");
      if (key_len == 0 || line[key_len] == '\0')
        continue;
      char *value = line + key_len;
      *value++ = '\0';
      value = g_strstrip (value);
      if (value[0] == ':')
        value = g_strchug (value + 1);
      if (value[0] == '\0')
        continue;
      fn (line, value, user_data);
    }
}
