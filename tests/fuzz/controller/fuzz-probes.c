/* fuzz-probes.c: libFuzzer target for the host probes' text parsers: every
 * /proc and sysfs format the probes read is fed the same input. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "host.h"
#include "ksm.h"
#include "proc.h"
#include "roots.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Keeps the parsed values observable so nothing is optimised away. */
static volatile uint64_t fuzz_sink;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  GError *error = NULL;
  uint64_t sink = 0;

  HostMeminfo mi;
  if (host_meminfo_parse (text, size, &mi, &error))
    sink += mi.mem_total_bytes.value + mi.mem_available_bytes.value;
  g_clear_error (&error);

  HostPsi psi;
  if (host_psi_parse (text, size, &psi, &error))
    sink += psi.some.total_us + (uint64_t) psi.some.avg10_pct;
  g_clear_error (&error);

  ProcStat st;
  if (proc_stat_parse (text, size, &st, &error))
    sink += strlen (st.comm) + st.utime_ticks + proc_ticks_to_ns (st.stime_ticks, 100);
  g_clear_error (&error);

  ProcSmapsRollup smaps;
  if (proc_smaps_rollup_parse (text, size, &smaps, &error))
    sink += smaps.pss_bytes.value;
  g_clear_error (&error);

  uint64_t rss;
  if (proc_statm_rss_parse (text, size, 4096, &rss, &error))
    sink += rss;
  g_clear_error (&error);

  ProcKsmStat ks;
  if (proc_ksm_stat_parse (text, size, &ks, &error))
    sink += ks.merging_pages.value + (uint64_t) ks.process_profit_bytes;
  g_clear_error (&error);

  char *cgroup = proc_cgroup_v2_path_parse (text, size, &error);
  if (cgroup != NULL)
    {
      /* The path is joined under a root: it must not climb out of it. */
      if (cgroup[0] != '/' || strstr (cgroup, "/../") != NULL || g_str_has_suffix (cgroup, "/.."))
        __builtin_trap ();
      sink += strlen (cgroup);
    }
  g_free (cgroup);
  g_clear_error (&error);

  ProcCgroupMem mem = { 0 };
  if (proc_memory_stat_parse (text, size, &mem, &error))
    sink += mem.anon_bytes.value + mem.kernel_bytes.value;
  g_clear_error (&error);

  /* Single-value sysfs files are read as NUL-terminated strings. */
  char *str = g_strndup (text, size);
  PolicyKsmAdvisor advisor;
  uint64_t u;
  int64_t i;
  if (ksm_advisor_parse (str, &advisor))
    sink += (uint64_t) advisor;
  if (host_parse_u64 (str, &u))
    sink += u;
  if (host_parse_i64 (str, &i))
    sink += (uint64_t) i;
  if (host_parse_kib_bytes (str, &u))
    sink += u;
  g_free (str);

  fuzz_sink = sink;
  return 0;
}
