/* host.c: parsers and readers for /proc/meminfo and /proc/pressure/memory,
 * and the host memory that is not attributable to VMs. */
#define G_LOG_DOMAIN "ballast-probes"

#include "host.h"

#include <gio/gio.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define HOST_PSI_MAX_PCT 100.0

typedef struct
{
  const char *key;
  size_t offset; /* of a PolicyStat in HostMeminfo */
} HostMeminfoField;

static const HostMeminfoField host_meminfo_fields[] = {
  { "MemTotal", offsetof (HostMeminfo, mem_total_bytes) },
  { "MemFree", offsetof (HostMeminfo, mem_free_bytes) },
  { "MemAvailable", offsetof (HostMeminfo, mem_available_bytes) },
  { "Buffers", offsetof (HostMeminfo, buffers_bytes) },
  { "Cached", offsetof (HostMeminfo, cached_bytes) },
  { "SwapTotal", offsetof (HostMeminfo, swap_total_bytes) },
  { "SwapFree", offsetof (HostMeminfo, swap_free_bytes) },
  { "AnonPages", offsetof (HostMeminfo, anon_pages_bytes) },
  { "Shmem", offsetof (HostMeminfo, shmem_bytes) },
  { "Slab", offsetof (HostMeminfo, slab_bytes) },
  { "KernelStack", offsetof (HostMeminfo, kernel_stack_bytes) },
  { "PageTables", offsetof (HostMeminfo, page_tables_bytes) },
};

static void
host_meminfo_kv (const char *key, const char *value, gpointer user_data)
{
  for (gsize i = 0; i < G_N_ELEMENTS (host_meminfo_fields); i++)
    {
      if (strcmp (key, host_meminfo_fields[i].key) != 0)
        continue;
      PolicyStat *stat = (PolicyStat *) ((char *) user_data + host_meminfo_fields[i].offset);
      uint64_t bytes;
      if (host_parse_kib_bytes (value, &bytes))
        *stat = (PolicyStat){ .present = true, .value = bytes };
      return;
    }
}

gboolean
host_meminfo_parse (const char *text, gsize len, HostMeminfo *out, GError **error)
{
  memset (out, 0, sizeof *out);
  host_for_each_kv (text, len, host_meminfo_kv, out);
  if (!out->mem_total_bytes.present || out->mem_total_bytes.value == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "no valid MemTotal");
      return FALSE;
    }
  if (!out->mem_available_bytes.present && out->mem_free_bytes.present)
    {
      uint64_t estimate = out->mem_free_bytes.value;
      uint64_t extra[] = { out->buffers_bytes.present ? out->buffers_bytes.value : 0,
                           out->cached_bytes.present ? out->cached_bytes.value : 0 };
      for (gsize i = 0; i < G_N_ELEMENTS (extra); i++)
        estimate = extra[i] > G_MAXUINT64 - estimate ? G_MAXUINT64 : estimate + extra[i];
      out->mem_available_bytes = (PolicyStat){ .present = true, .value = estimate };
    }
  return TRUE;
}

gboolean
host_meminfo_read (const HostRoots *roots, HostMeminfo *out, GError **error)
{
  g_autofree char *path = host_path (roots, HOST_ROOT_PROC, "meminfo");
  g_autofree char *text = NULL;
  gsize len = 0;
  memset (out, 0, sizeof *out);
  if (!host_read_text (path, &text, &len, error))
    return FALSE;
  if (!host_meminfo_parse (text, len, out, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
host_psi_parse_pct (const char *text, double *out)
{
  char *end = NULL;
  double value = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || !isfinite (value) || value < 0.0 || value > HOST_PSI_MAX_PCT)
    return FALSE;
  *out = value;
  return TRUE;
}

/* "avg10=0.00 avg60=0.00 avg300=0.00 total=0", every field required;
 * unknown fields (a future kernel's) are skipped. */
static gboolean
host_psi_parse_fields (const char *fields, HostPsiLine *out)
{
  static const char *const names[] = { "avg10", "avg60", "avg300", "total" };
  HostPsiLine line = { .present = TRUE };
  double *pcts[] = { &line.avg10_pct, &line.avg60_pct, &line.avg300_pct };
  gboolean seen[G_N_ELEMENTS (names)] = { FALSE };
  g_auto (GStrv) tokens = g_strsplit (fields, " ", -1);

  for (guint i = 0; tokens[i] != NULL; i++)
    {
      const char *tok = tokens[i];
      const char *eq = strchr (tok, '=');
      if (tok[0] == '\0')
        continue;
      if (eq == NULL)
        return FALSE;
      for (gsize f = 0; f < G_N_ELEMENTS (names); f++)
        {
          if (strlen (names[f]) != (gsize) (eq - tok)
              || strncmp (tok, names[f], strlen (names[f])) != 0)
            continue;
          gboolean ok = f < G_N_ELEMENTS (pcts) ? host_psi_parse_pct (eq + 1, pcts[f])
                                                : host_parse_u64 (eq + 1, &line.total_us);
          if (!ok || seen[f])
            return FALSE;
          seen[f] = TRUE;
        }
    }
  for (gsize f = 0; f < G_N_ELEMENTS (names); f++)
    if (!seen[f])
      return FALSE;
  *out = line;
  return TRUE;
}

typedef struct
{
  HostPsi *psi;
  gboolean bad;
} HostPsiParse;

static void
host_psi_kv (const char *key, const char *value, gpointer user_data)
{
  HostPsiParse *p = user_data;
  HostPsiLine *line = strcmp (key, "some") == 0   ? &p->psi->some
                      : strcmp (key, "full") == 0 ? &p->psi->full
                                                  : NULL;
  if (line != NULL && !host_psi_parse_fields (value, line))
    p->bad = TRUE;
}

gboolean
host_psi_parse (const char *text, gsize len, HostPsi *out, GError **error)
{
  memset (out, 0, sizeof *out);
  HostPsiParse p = { .psi = out };
  host_for_each_kv (text, len, host_psi_kv, &p);
  if (p.bad || !out->some.present)
    {
      memset (out, 0, sizeof *out);
      g_set_error_literal (
          error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "malformed pressure data (expected \"some avg10=.. avg60=.. avg300=.. total=..\")");
      return FALSE;
    }
  out->present = TRUE;
  return TRUE;
}

gboolean
host_psi_read (const HostRoots *roots, HostPsi *out, GError **error)
{
  g_autofree char *path = host_path (roots, HOST_ROOT_PROC, "pressure/memory");
  g_autofree char *text = NULL;
  g_autoptr (GError) local_error = NULL;
  gsize len = 0;
  memset (out, 0, sizeof *out);
  if (!host_read_text (path, &text, &len, &local_error))
    {
      /* Kernels without CONFIG_PSI, or booted with psi=0 (EOPNOTSUPP on read). */
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)
          || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (!host_psi_parse (text, len, out, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

gboolean
host_read (const HostRoots *roots, PolicyHost *out, GError **error)
{
  HostMeminfo mi;
  HostPsi psi;
  g_autoptr (GError) psi_error = NULL;

  memset (out, 0, sizeof *out);
  if (!host_meminfo_read (roots, &mi, error))
    return FALSE;
  out->mem_total_bytes = mi.mem_total_bytes.value;
  out->mem_available_bytes = MIN (mi.mem_available_bytes.value, mi.mem_total_bytes.value);
  out->mem_free_bytes = MIN (mi.mem_free_bytes.value, mi.mem_total_bytes.value);
  out->swap_total_bytes = mi.swap_total_bytes.value;
  out->swap_free_bytes = MIN (mi.swap_free_bytes.value, mi.swap_total_bytes.value);

  if (!host_psi_read (roots, &psi, &psi_error))
    g_debug ("%s", psi_error->message);
  else if (psi.present)
    {
      out->psi_some_avg10_pct = psi.some.avg10_pct;
      out->psi_full_avg10_pct = psi.full.avg10_pct;
      out->psi_some_total_us = psi.some.total_us;
    }
  return TRUE;
}

uint64_t
host_non_vm_used_bytes (uint64_t mem_total_bytes, uint64_t mem_available_bytes,
                        uint64_t vm_pss_bytes)
{
  if (mem_available_bytes >= mem_total_bytes)
    return 0;
  uint64_t used = mem_total_bytes - mem_available_bytes;
  /* PSS and MemAvailable are sampled at different instants (and KSM-merged
   * pages count in PSS shares), so the VMs can seem to use more than all. */
  return vm_pss_bytes >= used ? 0 : used - vm_pss_bytes;
}

void
host_set_non_vm_used (PolicyHost *host, uint64_t vm_pss_bytes)
{
  if (host->mem_total_bytes == 0)
    {
      host->non_vm_used_bytes = (PolicyStat){ 0 };
      return;
    }
  host->non_vm_used_bytes = (PolicyStat){
    .present = true,
    .value
    = host_non_vm_used_bytes (host->mem_total_bytes, host->mem_available_bytes, vm_pss_bytes),
  };
}
