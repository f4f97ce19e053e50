/* test-probes-real.c: the probes against this machine's real /proc and /sys,
 * read-only (the real KSM sysfs is never written here): sane values only. */
#include <gio/gio.h>
#include <unistd.h>

#include "host.h"
#include "ksm.h"
#include "proc.h"

static void
test_real_host (void)
{
  g_autoptr (HostRoots) roots = host_roots_new (NULL, NULL, NULL);
  PolicyHost host;
  g_autoptr (GError) error = NULL;
  g_assert_true (host_read (roots, &host, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (host.mem_total_bytes, >, 16ull * 1024 * 1024);
  g_assert_cmpuint (host.mem_available_bytes, <=, host.mem_total_bytes);
  g_assert_cmpuint (host.mem_free_bytes, <=, host.mem_total_bytes);
  g_assert_cmpuint (host.swap_free_bytes, <=, host.swap_total_bytes);
  g_assert_cmpfloat (host.psi_some_avg10_pct, >=, 0.0);
  g_assert_cmpfloat (host.psi_some_avg10_pct, <=, 100.0);
  host_set_non_vm_used (&host, 0);
  g_assert_true (host.non_vm_used_bytes.present);
  g_assert_cmpuint (host.non_vm_used_bytes.value, ==,
                    host.mem_total_bytes - host.mem_available_bytes);

  HostPsi psi;
  g_assert_true (host_psi_read (roots, &psi, &error));
  if (g_file_test ("/proc/pressure/memory", G_FILE_TEST_EXISTS))
    g_assert_true (psi.present);
}

static void
test_real_self (void)
{
  g_autoptr (HostRoots) roots = host_roots_new (NULL, NULL, NULL);
  g_autoptr (ProcCtx) ctx = proc_ctx_new (roots);
  ProcCost cost;
  g_autoptr (GError) error = NULL;
  if (!g_file_test ("/proc/self/smaps_rollup", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("no smaps_rollup (kernel < 4.14)");
      return;
    }
  g_assert_true (proc_cost_read (ctx, getpid (), &cost, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (cost.smaps.pss_bytes.value, >, 0);
  g_assert_cmpuint (cost.smaps.pss_bytes.value, <=, cost.smaps.rss_bytes.value);
  if (g_file_test ("/proc/self/ksm_stat", G_FILE_TEST_EXISTS))
    g_assert_true (cost.ksm.merging_pages.present);
  if (cost.in_cgroup && cost.cgroup.anon_bytes.present)
    g_assert_cmpuint (cost.cgroup.anon_bytes.value, >, 0);

  ProcStat st;
  g_assert_true (proc_stat_read (roots, getpid (), &st, &error));
  g_assert_false (st.flags & PROC_PF_KTHREAD);
}

static void
test_real_ksm (void)
{
  g_autoptr (HostRoots) roots = host_roots_new (NULL, NULL, NULL);
  g_autoptr (KsmCtx) ksm = ksm_ctx_new (roots);
  PolicyKsm k;
  g_autoptr (GError) error = NULL;
  /* Read-only: ksm_apply/ksm_restore are never called on the real tree. */
  g_assert_true (ksm_read (ksm, &k, &error));
  g_assert_no_error (error);
  if (!k.present)
    {
      g_test_skip ("no /sys/kernel/mm/ksm");
      return;
    }
  g_assert_cmpuint (k.page_size_bytes, ==, (uint64_t) sysconf (_SC_PAGESIZE));
  g_assert_cmpuint (k.run, <=, 2);
  g_assert_cmpuint (k.pages_to_scan, >, 0);
  g_assert_cmpuint (k.sleep_millisecs, >, 0);
  g_assert_true (ksm_has (ksm, "pages_sharing"));
  /* Every sharing page needs a shared one to share. */
  if (k.pages_sharing > 0)
    g_assert_cmpuint (k.pages_shared, >, 0);
  if (ksm_has (ksm, "advisor_mode"))
    g_assert_cmpint (k.advisor_mode, !=, POLICY_KSM_ADVISOR_ABSENT);
  /* ksmd exists wherever KSM does (it may be invisible in a PID namespace). */
  if (ksm_ksmd_pid (ksm) > 0)
    {
      g_test_message ("ksmd is pid %d, %" G_GUINT64_FORMAT " ns CPU", ksm_ksmd_pid (ksm),
                      (guint64) k.ksmd_cpu_ns.value);
      g_assert_true (k.ksmd_cpu_ns.present);
      PolicyKsm again;
      g_assert_true (ksm_read (ksm, &again, &error));
      g_assert_cmpuint (again.ksmd_cpu_ns.value, >=, k.ksmd_cpu_ns.value);
    }
  else
    g_test_message ("ksmd not visible in /proc");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/probes/real/host", test_real_host);
  g_test_add_func ("/probes/real/self", test_real_self);
  g_test_add_func ("/probes/real/ksm", test_real_ksm);
  return g_test_run ();
}
