/* test-probes-host.c: /proc/meminfo and PSI parsers against valid, garbage,
 * trailing-junk and huge input; host_read() on a fake root; non-VM usage. */
#include <gio/gio.h>
#include <string.h>

#include "fake-root.h"
#include "host.h"
#include "roots.h"

#define KiB 1024ull

static const char meminfo_valid[] = "MemTotal:       24683620 kB\n"
                                    "MemFree:        24055336 kB\n"
                                    "MemAvailable:   24122160 kB\n"
                                    "Buffers:            2052 kB\n"
                                    "Cached:           244512 kB\n"
                                    "SwapCached:            0 kB\n"
                                    "SwapTotal:       8388604 kB\n"
                                    "SwapFree:        8000000 kB\n"
                                    "AnonPages:        232528 kB\n"
                                    "Shmem:              8884 kB\n"
                                    "Slab:              94492 kB\n"
                                    "KernelStack:        1620 kB\n"
                                    "PageTables:         3428 kB\n"
                                    "HugePages_Total:       0\n"
                                    "Hugepagesize:       2048 kB\n";

static gboolean
parse_meminfo (const char *text, HostMeminfo *mi, GError **error)
{
  return host_meminfo_parse (text, strlen (text), mi, error);
}

static void
test_meminfo_valid (void)
{
  HostMeminfo mi;
  g_autoptr (GError) error = NULL;
  g_assert_true (parse_meminfo (meminfo_valid, &mi, &error));
  g_assert_no_error (error);
  g_assert_true (mi.mem_total_bytes.present);
  g_assert_cmpuint (mi.mem_total_bytes.value, ==, 24683620 * KiB);
  g_assert_cmpuint (mi.mem_free_bytes.value, ==, 24055336 * KiB);
  g_assert_cmpuint (mi.mem_available_bytes.value, ==, 24122160 * KiB);
  g_assert_cmpuint (mi.swap_total_bytes.value, ==, 8388604 * KiB);
  g_assert_cmpuint (mi.swap_free_bytes.value, ==, 8000000 * KiB);
  g_assert_cmpuint (mi.kernel_stack_bytes.value, ==, 1620 * KiB);
  g_assert_cmpuint (mi.page_tables_bytes.value, ==, 3428 * KiB);
}

static void
test_meminfo_garbage (void)
{
  static const char *const bad[] = {
    "",
    "garbage\n\x01\x02\xff",
    "MemTotal: lots kB\n",
    "MemTotal: 123 MB\n",      /* wrong unit */
    "MemTotal: 123 kB junk\n", /* trailing junk */
    "MemTotal: -5 kB\n",
    "MemTotal: 0 kB\n",
    "MemTotal: 99999999999999999999999 kB\n",  /* overflows u64 */
    "MemTotal: 18014398509481984 kB\n",        /* 2^54 KiB: bytes overflow */
    "MemFree: 100 kB\nMemAvailable: 100 kB\n", /* no MemTotal */
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      HostMeminfo mi;
      g_autoptr (GError) error = NULL;
      g_assert_false (parse_meminfo (bad[i], &mi, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

static void
test_meminfo_partial (void)
{
  HostMeminfo mi;
  g_autoptr (GError) error = NULL;

  /* A bad optional line is absent, the rest survives; the largest value
   * that fits in bytes is accepted. */
  g_assert_true (parse_meminfo ("MemTotal: 18014398509481983 kB\nMemFree: x kB\nSwapTotal: 1 kB\n"
                                "Cached: 10 kB trailing\n",
                                &mi, &error));
  g_assert_cmpuint (mi.mem_total_bytes.value, ==, 18014398509481983ull * KiB);
  g_assert_false (mi.mem_free_bytes.present);
  g_assert_false (mi.cached_bytes.present);
  g_assert_false (mi.mem_available_bytes.present);
  g_assert_cmpuint (mi.swap_total_bytes.value, ==, KiB);

  /* Pre-3.14 kernels: MemAvailable estimated from MemFree + Buffers + Cached. */
  g_assert_true (parse_meminfo (
      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n", &mi, &error));
  g_assert_true (mi.mem_available_bytes.present);
  g_assert_cmpuint (mi.mem_available_bytes.value, ==, 420 * KiB);

  /* Embedded NUL: the parser stops there. */
  static const char with_nul[] = "MemTotal: 1000 kB\n\0MemFree: 5 kB\n";
  g_assert_true (host_meminfo_parse (with_nul, sizeof with_nul - 1, &mi, &error));
  g_assert_false (mi.mem_free_bytes.present);
}

static void
test_psi (void)
{
  HostPsi psi;
  g_autoptr (GError) error = NULL;
  static const char valid[] = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n"
                              "full avg10=0.75 avg60=0.00 avg300=0.00 total=789\n";
  g_assert_true (host_psi_parse (valid, strlen (valid), &psi, &error));
  g_assert_no_error (error);
  g_assert_true (psi.present);
  g_assert_cmpfloat (psi.some.avg10_pct, ==, 1.5);
  g_assert_cmpfloat (psi.some.avg60_pct, ==, 0.25);
  g_assert_cmpuint (psi.some.total_us, ==, 123456);
  g_assert_true (psi.full.present);
  g_assert_cmpfloat (psi.full.avg10_pct, ==, 0.75);
  g_assert_cmpuint (psi.full.total_us, ==, 789);

  /* `full` is optional; unknown fields are tolerated. */
  static const char some_only[]
      = "some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615 new=1\n";
  g_assert_true (host_psi_parse (some_only, strlen (some_only), &psi, &error));
  g_assert_false (psi.full.present);
  g_assert_cmpuint (psi.some.total_us, ==, G_MAXUINT64);

  static const char *const bad[] = {
    "",
    "junk\n",
    "some avg10=abc avg60=0.00 avg300=0.00 total=1\n",
    "some avg10=1.00x avg60=0.00 avg300=0.00 total=1\n",
    "some avg10=101.00 avg60=0.00 avg300=0.00 total=1\n",
    "some avg10=nan avg60=0.00 avg300=0.00 total=1\n",
    "some avg10=-1 avg60=0.00 avg300=0.00 total=1\n",
    "some avg10=1.00 avg60=0.00 avg300=0.00\n",
    "some avg10=1.00 avg60=0.00 avg300=0.00 total=18446744073709551616\n",
    "some avg10=1.00 avg10=2.00 avg60=0.00 avg300=0.00 total=1\n",
    "some avg10=1.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=junk\n",
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_false (host_psi_parse (bad[i], strlen (bad[i]), &psi, &e));
      g_assert_error (e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_false (psi.present);
    }
}

static void
test_host_read_fake_root (void)
{
  char *root = fake_root_new ();
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_autoptr (HostRoots) roots = host_roots_new (proc, NULL, NULL);
  PolicyHost host;
  g_autoptr (GError) error = NULL;

  /* No meminfo: an error naming the file. */
  g_assert_false (host_read (roots, &host, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "meminfo"));
  g_clear_error (&error);

  /* meminfo without PSI: zero pressure, no error. */
  fake_write (root, "proc/meminfo", meminfo_valid);
  g_assert_true (host_read (roots, &host, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (host.mem_total_bytes, ==, 24683620 * KiB);
  g_assert_cmpuint (host.mem_available_bytes, ==, 24122160 * KiB);
  g_assert_cmpuint (host.swap_free_bytes, ==, 8000000 * KiB);
  g_assert_cmpfloat (host.psi_some_avg10_pct, ==, 0.0);
  g_assert_false (host.non_vm_used_bytes.present);

  fake_write (root, "proc/pressure/memory",
              "some avg10=12.34 avg60=1.00 avg300=0.10 total=4242\n"
              "full avg10=5.00 avg60=1.00 avg300=0.10 total=100\n");
  g_assert_true (host_read (roots, &host, &error));
  g_assert_cmpfloat (host.psi_some_avg10_pct, ==, 12.34);
  g_assert_cmpfloat (host.psi_full_avg10_pct, ==, 5.0);
  g_assert_cmpuint (host.psi_some_total_us, ==, 4242);

  /* Garbage PSI is tolerated by host_read (zero), reported by host_psi_read. */
  fake_write (root, "proc/pressure/memory", "some total=oops\n");
  g_assert_true (host_read (roots, &host, &error));
  g_assert_cmpfloat (host.psi_some_avg10_pct, ==, 0.0);
  HostPsi psi;
  g_assert_false (host_psi_read (roots, &psi, &error));
  g_assert_nonnull (strstr (error->message, "pressure/memory"));
  g_clear_error (&error);

  /* MemAvailable larger than MemTotal (junk) is clamped. */
  fake_write (root, "proc/meminfo", "MemTotal: 100 kB\nMemAvailable: 200 kB\nMemFree: 300 kB\n");
  g_assert_true (host_read (roots, &host, &error));
  g_assert_cmpuint (host.mem_available_bytes, ==, 100 * KiB);
  g_assert_cmpuint (host.mem_free_bytes, ==, 100 * KiB);

  fake_write (root, "proc/meminfo", "MemTotal: junk\n");
  g_assert_false (host_read (roots, &host, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "meminfo"));
  fake_root_free (root);
}

static void
test_non_vm_used (void)
{
  g_assert_cmpuint (host_non_vm_used_bytes (1000, 400, 100), ==, 500);
  g_assert_cmpuint (host_non_vm_used_bytes (1000, 400, 600), ==, 0);
  g_assert_cmpuint (host_non_vm_used_bytes (1000, 400, 700), ==, 0);
  g_assert_cmpuint (host_non_vm_used_bytes (1000, 1200, 0), ==, 0);
  g_assert_cmpuint (host_non_vm_used_bytes (G_MAXUINT64, 0, 1), ==, G_MAXUINT64 - 1);

  PolicyHost host = { .mem_total_bytes = 16 * KiB, .mem_available_bytes = 4 * KiB };
  host_set_non_vm_used (&host, 5 * KiB);
  g_assert_true (host.non_vm_used_bytes.present);
  g_assert_cmpuint (host.non_vm_used_bytes.value, ==, 7 * KiB);
  PolicyHost empty = { 0 };
  host_set_non_vm_used (&empty, 5);
  g_assert_false (empty.non_vm_used_bytes.present);
}

static void
test_roots_and_numbers (void)
{
  g_autoptr (HostRoots) def = host_roots_new (NULL, NULL, NULL);
  g_assert_cmpstr (def->proc_root, ==, "/proc");
  g_assert_cmpstr (def->ksm_dir, ==, "/sys/kernel/mm/ksm");
  g_autoptr (HostRoots) r = host_roots_new ("/p", "/s", "");
  g_assert_cmpstr (r->ksm_dir, ==, "/s/kernel/mm/ksm");
  g_autoptr (HostRoots) k = host_roots_new (NULL, NULL, "/x/ksm");
  g_autofree char *p1 = host_path (k, HOST_ROOT_KSM, "%s", "run");
  g_autofree char *p2 = host_path (r, HOST_ROOT_PROC, "%d/stat", 42);
  g_autofree char *p3 = host_path (r, HOST_ROOT_SYS, "fs/cgroup%s/memory.stat", "/machine/vm1");
  g_assert_cmpstr (p1, ==, "/x/ksm/run");
  g_assert_cmpstr (p2, ==, "/p/42/stat");
  g_assert_cmpstr (p3, ==, "/s/fs/cgroup/machine/vm1/memory.stat");

  uint64_t u = 7;
  int64_t s = 7;
  g_assert_true (host_parse_u64 (" 18446744073709551615\n", &u));
  g_assert_cmpuint (u, ==, G_MAXUINT64);
  g_assert_false (host_parse_u64 ("18446744073709551616", &u));
  g_assert_false (host_parse_u64 ("-1", &u));
  g_assert_false (host_parse_u64 ("+1", &u));
  g_assert_false (host_parse_u64 ("12x", &u));
  g_assert_false (host_parse_u64 ("1 2", &u));
  g_assert_false (host_parse_u64 ("", &u));
  g_assert_false (host_parse_u64 ("0x10", &u));
  g_assert_cmpuint (u, ==, G_MAXUINT64);
  g_assert_true (host_parse_i64 ("-42\n", &s));
  g_assert_cmpint (s, ==, -42);
  g_assert_false (host_parse_i64 ("--42", &s));
  g_assert_false (host_parse_i64 ("9223372036854775808", &s));
}

static void
test_read_text_limits (void)
{
  char *root = fake_root_new ();
  g_autofree char *big = g_malloc (HOST_TEXT_MAX_BYTES + 2);
  memset (big, 'x', HOST_TEXT_MAX_BYTES + 1);
  big[HOST_TEXT_MAX_BYTES + 1] = '\0';
  fake_write (root, "big", big);
  big[HOST_TEXT_MAX_BYTES] = '\0';
  fake_write (root, "fits", big);

  g_autofree char *big_path = g_build_filename (root, "big", NULL);
  g_autofree char *fits_path = g_build_filename (root, "fits", NULL);
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_assert_false (host_read_text (big_path, &text, &len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_true (host_read_text (fits_path, &text, &len, NULL));
  g_assert_cmpuint (len, ==, HOST_TEXT_MAX_BYTES);
  fake_root_free (root);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/probes/host/meminfo/valid", test_meminfo_valid);
  g_test_add_func ("/probes/host/meminfo/garbage", test_meminfo_garbage);
  g_test_add_func ("/probes/host/meminfo/partial", test_meminfo_partial);
  g_test_add_func ("/probes/host/psi", test_psi);
  g_test_add_func ("/probes/host/read-fake-root", test_host_read_fake_root);
  g_test_add_func ("/probes/host/non-vm-used", test_non_vm_used);
  g_test_add_func ("/probes/host/roots-and-numbers", test_roots_and_numbers);
  g_test_add_func ("/probes/host/read-text-limits", test_read_text_limits);
  return g_test_run ();
}
