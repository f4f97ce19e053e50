/* host.h: host-wide memory probes: /proc/meminfo and /proc/pressure/memory
 * into PolicyHost, and the host memory that no VM accounts for. */
#pragma once

#include <glib.h>

#include "policy.h"
#include "roots.h"

/* Fields of /proc/meminfo, in bytes; `present` is FALSE when the line is
 * missing or unparsable. */
typedef struct
{
  PolicyStat mem_total_bytes;
  PolicyStat mem_free_bytes;
  PolicyStat mem_available_bytes;
  PolicyStat buffers_bytes;
  PolicyStat cached_bytes;
  PolicyStat swap_total_bytes;
  PolicyStat swap_free_bytes;
  PolicyStat anon_pages_bytes;
  PolicyStat shmem_bytes;
  PolicyStat slab_bytes;
  PolicyStat kernel_stack_bytes;
  PolicyStat page_tables_bytes;
} HostMeminfo;

/* One line of /proc/pressure/memory. */
typedef struct
{
  gboolean present;
  double avg10_pct;
  double avg60_pct;
  double avg300_pct;
  uint64_t total_us; /* cumulative stall time */
} HostPsiLine;

typedef struct
{
  gboolean present; /* FALSE: kernel without PSI (or psi=0): all zero */
  HostPsiLine some;
  HostPsiLine full;
} HostPsi;

/* Parses meminfo text. Returns TRUE when MemTotal is present and non-zero;
 * other lines are optional. Without MemAvailable (kernels before 3.14) it
 * is estimated as MemFree + Buffers + Cached. */
gboolean host_meminfo_parse (const char *text, gsize len, HostMeminfo *out, GError **error);
gboolean host_meminfo_read (const HostRoots *roots, HostMeminfo *out, GError **error);

/* Parses PSI text ("some avg10=.. avg60=.. avg300=.. total=.."); TRUE when
 * the `some` line is valid (`full` is optional: older kernels lack it for
 * some resources). Averages outside [0, 100] are junk. */
gboolean host_psi_parse (const char *text, gsize len, HostPsi *out, GError **error);
/* A missing file is not an error: TRUE with out->present = FALSE. */
gboolean host_psi_read (const HostRoots *roots, HostPsi *out, GError **error);

/* Fills every PolicyHost field but non_vm_used_bytes (left absent until
 * host_set_non_vm_used()). Returns FALSE when meminfo is unusable; a PSI
 * problem is logged and reads as zero pressure. */
gboolean host_read (const HostRoots *roots, PolicyHost *out, GError **error);

/* MemTotal - MemAvailable - vm_pss_bytes, clamped to [0, MemTotal]. */
uint64_t host_non_vm_used_bytes (uint64_t mem_total_bytes, uint64_t mem_available_bytes,
                                 uint64_t vm_pss_bytes);
/* Sets host->non_vm_used_bytes from the VMs' summed PSS (present only when
 * MemTotal is known). */
void host_set_non_vm_used (PolicyHost *host, uint64_t vm_pss_bytes);
