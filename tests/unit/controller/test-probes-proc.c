/* test-probes-proc.c: per-process parsers (stat, smaps_rollup, ksm_stat,
 * cgroup, memory.stat), proc_cost_read() on fake roots, the kthread finder
 * and the peer-credential helper on real unix sockets. */
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-root.h"
#include "proc.h"

#define KiB 1024ull

static const char smaps_valid[] = "55caa3d7f000-7ffd226cd000 ---p 00000000 00:00 0      [rollup]\n"
                                  "Rss:                1592 kB\n"
                                  "Pss:                 290 kB\n"
                                  "Pss_Dirty:           112 kB\n"
                                  "Pss_Anon:            112 kB\n"
                                  "Pss_File:            178 kB\n"
                                  "Pss_Shmem:             0 kB\n"
                                  "Shared_Clean:       1440 kB\n"
                                  "Swap:                 8 kB\n"
                                  "SwapPss:              4 kB\n";

static const char ksm_stat_valid[] = "ksm_rmap_items 10\n"
                                     "ksm_zero_pages 2\n"
                                     "ksm_merging_pages 1234\n"
                                     "ksm_process_profit -4096\n"
                                     "ksm_merge_any: no\n"
                                     "ksm_mergeable: yes\n";

static const char memory_stat_new[] = "anon 1000\nfile 2000\nkernel 3000\nkernel_stack 10\n"
                                      "pagetables 20\nslab 40\nsock 0\n";
static const char memory_stat_old[]
    = "anon 1000\nfile 2000\nkernel_stack 10\npagetables 20\n"
      "percpu 5\nsock 1\nslab_reclaimable 30\nslab_unreclaimable 12\n";

static void
test_stat_parse (void)
{
  ProcStat st;
  g_autoptr (GError) error = NULL;
  static const char ksmd[] = "37 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 150 250 0 0 25 5 1 0 9 0 0\n";
  g_assert_true (proc_stat_parse (ksmd, strlen (ksmd), &st, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (st.comm, ==, "ksmd");
  g_assert_cmpint (st.state, ==, 'S');
  g_assert_cmpuint (st.flags, ==, 2129984);
  g_assert_true (st.flags & PROC_PF_KTHREAD);
  g_assert_cmpuint (st.utime_ticks, ==, 150);
  g_assert_cmpuint (st.stime_ticks, ==, 250);

  /* A comm with blanks and parentheses: fields count from the last ')'. */
  static const char odd[] = "99 (a) b (c) d) R 1 2 3 4 5 4194304 1 2 3 4 7 8 0 0\n";
  g_assert_true (proc_stat_parse (odd, strlen (odd), &st, &error));
  g_assert_cmpstr (st.comm, ==, "a) b (c) d");
  g_assert_cmpuint (st.utime_ticks, ==, 7);
  g_assert_cmpuint (st.stime_ticks, ==, 8);

  /* A long comm is truncated, not overflowed. */
  g_autofree char *long_comm = g_strdup_printf ("1 (%0200d) S 1 2 3 4 5 6 7 8 9 10 11 12\n", 0);
  g_assert_true (proc_stat_parse (long_comm, strlen (long_comm), &st, &error));
  g_assert_cmpuint (strlen (st.comm), ==, PROC_COMM_MAX - 1);
  g_assert_cmpuint (st.stime_ticks, ==, 12);

  static const char *const bad[] = {
    "",
    "37 ksmd S 2",
    "37 (ksmd S 2 0 0 0 -1 1 0 0 0 0 1 2\n",
    "37 (ksmd) S 2 0 0 0 -1 1 0 0 0 0 1\n",   /* too few */
    "37 (ksmd) S 2 0 0 0 -1 1 0 0 0 0 x 2\n", /* utime junk */
    "37 (ksmd) S 2 0 0 0 -1 1 0 0 0 0 1 99999999999999999999\n",
    "37 (ksmd) SS 2 0 0 0 -1 1 0 0 0 0 1 2\n",
    "37 )ksmd( S 2 0 0 0 -1 1 0 0 0 0 1 2\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_false (proc_stat_parse (bad[i], strlen (bad[i]), &st, &e));
      g_assert_error (e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

static void
test_ticks_to_ns (void)
{
  g_assert_cmpuint (proc_ticks_to_ns (0, 100), ==, 0);
  g_assert_cmpuint (proc_ticks_to_ns (1, 100), ==, 10000000);
  g_assert_cmpuint (proc_ticks_to_ns (250, 100), ==, 2500000000ull);
  g_assert_cmpuint (proc_ticks_to_ns (3, 300), ==, 10000000);
  g_assert_cmpuint (proc_ticks_to_ns (7, 0), ==, 70000000);
  /* ticks * 1e7 ns would overflow: saturate; just below the limit is exact. */
  g_assert_cmpuint (proc_ticks_to_ns (G_MAXUINT64, 100), ==, G_MAXUINT64);
  g_assert_cmpuint (proc_ticks_to_ns (18446744073ull * 100 + 50, 100), ==,
                    18446744073ull * 1000000000 + 500000000);
}

/* statm: the second field in pages; junk, missing fields and overflow are errors. */
static void
test_statm (void)
{
  static const char valid[] = "1148921 265340 2218 1783 0 296457 0\n";
  guint64 rss = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (proc_statm_rss_parse (valid, strlen (valid), 4096, &rss, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (rss, ==, 265340ull * 4096);
  static const char *const bad[] = { "", "1148921", "1148921 x 2218 0 0 0 0",
                                     "1 -5 2 0 0 0 0", "1 18446744073709551615 2 0 0 0 0" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_false (proc_statm_rss_parse (bad[i], strlen (bad[i]), 4096, &rss, &e));
      g_assert_error (e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
  /* The real file of this process. */
  HostRoots *roots = host_roots_new (NULL, NULL, NULL);
  g_autoptr (ProcCtx) ctx = proc_ctx_new (roots);
  host_roots_free (roots);
  ProcRssFile file = PROC_RSS_FILE_INIT;
  g_assert_true (proc_rss_read (ctx, &file, getpid (), &rss, &error));
  g_assert_cmpuint (rss, >, 0);
  proc_rss_file_close (&file);
}

/* The kept statm descriptor reads the current size each time, follows a
 * new PID and lets go of a process that is gone. */
static void
test_statm_kept (void)
{
  HostRoots *roots = host_roots_new (NULL, NULL, NULL);
  g_autoptr (ProcCtx) ctx = proc_ctx_new (roots);
  host_roots_free (roots);
  ProcRssFile file = PROC_RSS_FILE_INIT;
  guint64 before = 0, after = 0, child_rss = 0;

  g_assert_true (proc_rss_read (ctx, &file, getpid (), &before, NULL));
  int fd = file.fd;
  gsize grow = 64u << 20;
  g_autofree char *block = g_malloc (grow);
  memset (block, 1, grow);
  g_assert_true (proc_rss_read (ctx, &file, getpid (), &after, NULL));
  g_assert_cmpint (file.fd, ==, fd);
  g_assert_cmpuint (after, >=, before + grow / 2);

  int pipe_fds[2];
  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  pid_t child = fork ();
  g_assert_cmpint (child, >=, 0);
  if (child == 0)
    {
      char c;
      close (pipe_fds[1]);
      (void) !read (pipe_fds[0], &c, 1);
      _exit (0);
    }
  close (pipe_fds[0]);
  g_assert_true (proc_rss_read (ctx, &file, child, &child_rss, NULL));
  g_assert_cmpint (file.pid, ==, child);
  g_assert_cmpuint (child_rss, >, 0);
  close (pipe_fds[1]);
  g_assert_cmpint (waitpid (child, NULL, 0), ==, child);
  g_autoptr (GError) error = NULL;
  g_assert_false (proc_rss_read (ctx, &file, child, &child_rss, &error));
  g_assert_nonnull (error);
  g_assert_cmpint (file.fd, ==, -1);
  proc_rss_file_close (&file);
}

static void
test_smaps_rollup (void)
{
  ProcSmapsRollup s;
  g_autoptr (GError) error = NULL;
  g_assert_true (proc_smaps_rollup_parse (smaps_valid, strlen (smaps_valid), &s, &error));
  g_assert_cmpuint (s.pss_bytes.value, ==, 290 * KiB);
  g_assert_cmpuint (s.rss_bytes.value, ==, 1592 * KiB);
  g_assert_cmpuint (s.pss_anon_bytes.value, ==, 112 * KiB);
  g_assert_cmpuint (s.pss_file_bytes.value, ==, 178 * KiB);
  g_assert_true (s.pss_shmem_bytes.present);
  g_assert_cmpuint (s.pss_shmem_bytes.value, ==, 0);
  g_assert_cmpuint (s.swap_pss_bytes.value, ==, 4 * KiB);

  /* Older kernels lack Pss_Anon etc.: absent, not zero. */
  static const char old[] = "Rss: 10 kB\nPss: 5 kB\n";
  g_assert_true (proc_smaps_rollup_parse (old, strlen (old), &s, &error));
  g_assert_false (s.pss_anon_bytes.present);

  static const char *const bad[] = { "",
                                     "garbage",
                                     "Rss: 10 kB\n",
                                     "Pss: 10 kB trailing\n",
                                     "Pss: 99999999999999999999 kB\n",
                                     "Pss: 10\n" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_false (proc_smaps_rollup_parse (bad[i], strlen (bad[i]), &s, &e));
      g_assert_error (e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

static void
test_ksm_stat (void)
{
  ProcKsmStat k;
  g_autoptr (GError) error = NULL;
  g_assert_true (proc_ksm_stat_parse (ksm_stat_valid, strlen (ksm_stat_valid), &k, &error));
  g_assert_cmpuint (k.merging_pages.value, ==, 1234);
  g_assert_cmpuint (k.rmap_items.value, ==, 10);
  g_assert_cmpuint (k.zero_pages.value, ==, 2);
  g_assert_true (k.process_profit_present);
  g_assert_cmpint (k.process_profit_bytes, ==, -4096);
  g_assert_true (k.mergeable_present);
  g_assert_true (k.mergeable);

  /* 6.1-era file: only the merging pages. */
  static const char old[] = "ksm_rmap_items 0\nksm_merging_pages 0\n";
  g_assert_true (proc_ksm_stat_parse (old, strlen (old), &k, &error));
  g_assert_true (k.merging_pages.present);
  g_assert_false (k.process_profit_present);
  g_assert_false (k.mergeable_present);

  static const char *const bad[]
      = { "", "ksm_merging_pages\n", "ksm_merging_pages -1\n", "ksm_merging_pages 1x\n",
          "ksm_merging_pages 18446744073709551616\n" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_false (proc_ksm_stat_parse (bad[i], strlen (bad[i]), &k, &e));
      g_assert_false (k.merging_pages.present);
    }
}

static void
test_cgroup_path (void)
{
  g_autoptr (GError) error = NULL;
  static const char hybrid[] = "4:memory:/x\n1:cpu:/\n0::/machine.slice/machine-qemu\\x2d1.scope\n";
  g_autofree char *p = proc_cgroup_v2_path_parse (hybrid, strlen (hybrid), &error);
  g_assert_cmpstr (p, ==, "/machine.slice/machine-qemu\\x2d1.scope");
  g_autofree char *root = proc_cgroup_v2_path_parse ("0::/\n", 5, &error);
  g_assert_cmpstr (root, ==, "/");

  static const char *const bad[]
      = { "", "1:cpu:/\n", "0::relative\n", "0::/a/../../etc\n", "0::/./x\n", "0::\n" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autofree char *none = proc_cgroup_v2_path_parse (bad[i], strlen (bad[i]), &e);
      g_assert_null (none);
      g_assert_nonnull (e);
    }
}

static void
test_memory_stat (void)
{
  ProcCgroupMem m = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (proc_memory_stat_parse (memory_stat_new, strlen (memory_stat_new), &m, &error));
  g_assert_cmpuint (m.anon_bytes.value, ==, 1000);
  g_assert_cmpuint (m.file_bytes.value, ==, 2000);
  g_assert_cmpuint (m.kernel_bytes.value, ==, 3000); /* `kernel` wins over its parts */

  /* Without `kernel`: its parts, slab from the reclaimable/unreclaimable split. */
  g_assert_true (proc_memory_stat_parse (memory_stat_old, strlen (memory_stat_old), &m, &error));
  g_assert_true (m.kernel_bytes.present);
  g_assert_cmpuint (m.kernel_bytes.value, ==, 10 + 20 + 5 + 1 + 30 + 12);

  /* Parts with junk are skipped; huge values saturate. */
  static const char huge[] = "anon 1\nkernel_stack 18446744073709551615\npagetables 5\nslab x\n";
  g_assert_true (proc_memory_stat_parse (huge, strlen (huge), &m, &error));
  g_assert_cmpuint (m.kernel_bytes.value, ==, G_MAXUINT64);

  static const char no_kernel[] = "anon 1\nfile 2\n";
  g_assert_true (proc_memory_stat_parse (no_kernel, strlen (no_kernel), &m, &error));
  g_assert_false (m.kernel_bytes.present);

  g_assert_false (proc_memory_stat_parse ("file 2\n", 7, &m, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

typedef struct
{
  char *root;
  HostRoots *roots;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->root = fake_root_new ();
  g_autofree char *proc = g_build_filename (f->root, "proc", NULL);
  g_autofree char *sys = g_build_filename (f->root, "sys", NULL);
  f->roots = host_roots_new (proc, sys, NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  host_roots_free (f->roots);
  fake_root_free (f->root);
}

static void
test_cost_full (Fixture *f, gconstpointer data)
{
  fake_write (f->root, "proc/100/smaps_rollup", smaps_valid);
  fake_write (f->root, "proc/100/ksm_stat", ksm_stat_valid);
  fake_write (f->root, "proc/100/cgroup", "0::/machine.slice/vm1.scope\n");
  fake_write (f->root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  fake_write (f->root, "sys/fs/cgroup/machine.slice/vm1.scope/memory.stat", memory_stat_old);
  fake_write (f->root, "sys/fs/cgroup/machine.slice/vm1.scope/memory.current", "123456\n");

  g_autoptr (ProcCtx) ctx = proc_ctx_new (f->roots);
  ProcCost cost;
  g_autoptr (GError) error = NULL;
  g_assert_true (proc_cost_read (ctx, 100, &cost, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (cost.smaps.pss_bytes.value, ==, 290 * KiB);
  g_assert_cmpuint (cost.ksm.merging_pages.value, ==, 1234);
  g_assert_true (cost.in_cgroup);
  g_assert_cmpuint (cost.cgroup.current_bytes.value, ==, 123456);
  g_assert_cmpuint (cost.cgroup.anon_bytes.value, ==, 1000);
  g_assert_cmpuint (cost.cgroup.kernel_bytes.value, ==, 78);
  g_assert_true (cost.smaps.pss_bytes.present);
}

static void
test_cost_minimal (Fixture *f, gconstpointer data)
{
  g_autoptr (ProcCtx) ctx = proc_ctx_new (f->roots);
  ProcCost cost;
  g_autoptr (GError) error = NULL;

  /* The process is gone. */
  g_assert_false (proc_cost_read (ctx, 200, &cost, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "200/smaps_rollup"));
  g_clear_error (&error);
  g_assert_false (proc_cost_read (ctx, 0, &cost, &error));
  g_clear_error (&error);

  /* Old kernel: no ksm_stat, no cgroup v2; garbage smaps is an error. */
  fake_write (f->root, "proc/200/smaps_rollup", "Pss: lots\n");
  g_assert_false (proc_cost_read (ctx, 200, &cost, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  fake_write (f->root, "proc/200/smaps_rollup", smaps_valid);
  fake_write (f->root, "proc/200/cgroup", "0::/machine.slice/vm2.scope\n");
  g_assert_true (proc_cost_read (ctx, 200, &cost, &error));
  g_assert_false (cost.ksm.merging_pages.present);
  g_assert_false (cost.in_cgroup);

  /* ksm_stat missing while the process exists is remembered: a file that
   * shows up later is not read by the same context. */
  fake_write (f->root, "proc/200/ksm_stat", ksm_stat_valid);
  g_assert_true (proc_cost_read (ctx, 200, &cost, &error));
  g_assert_false (cost.ksm.merging_pages.present);
  g_autoptr (ProcCtx) fresh = proc_ctx_new (f->roots);
  g_assert_true (proc_cost_read (fresh, 200, &cost, &error));
  g_assert_true (cost.ksm.merging_pages.present);
  g_assert_false (cost.in_cgroup);
}

static void
test_cost_cgroup_variants (Fixture *f, gconstpointer data)
{
  ProcCost cost;
  g_autoptr (GError) error = NULL;
  fake_write (f->root, "proc/300/smaps_rollup", smaps_valid);
  /* Hybrid host: v2 at fs/cgroup/unified. */
  fake_write (f->root, "sys/fs/cgroup/unified/cgroup.controllers", "\n");
  fake_write (f->root, "sys/fs/cgroup/unified/vms/a/memory.stat", memory_stat_new);
  fake_write (f->root, "proc/300/cgroup", "4:memory:/x\n0::/vms/a\n");
  g_autoptr (ProcCtx) ctx = proc_ctx_new (f->roots);
  g_assert_true (proc_cost_read (ctx, 300, &cost, &error));
  g_assert_true (cost.in_cgroup);
  g_assert_cmpuint (cost.cgroup.kernel_bytes.value, ==, 3000);
  g_assert_false (cost.cgroup.current_bytes.present);

  /* In the root cgroup: the root's counters are the host's, not the VM's. */
  fake_write (f->root, "proc/300/cgroup", "0::/\n");
  fake_write (f->root, "sys/fs/cgroup/unified/memory.stat", memory_stat_new);
  g_assert_true (proc_cost_read (ctx, 300, &cost, &error));
  g_assert_false (cost.in_cgroup);

  /* Traversal in the cgroup path is refused. */
  fake_write (f->root, "proc/300/cgroup", "0::/../../../etc\n");
  g_assert_true (proc_cost_read (ctx, 300, &cost, &error));
  g_assert_false (cost.in_cgroup);

  /* memory.stat with junk: current only. */
  fake_write (f->root, "proc/300/cgroup", "0::/vms/b\n");
  fake_write (f->root, "sys/fs/cgroup/unified/vms/b/memory.stat", "\x01\x02junk");
  fake_write (f->root, "sys/fs/cgroup/unified/vms/b/memory.current", "77\n");
  g_assert_true (proc_cost_read (ctx, 300, &cost, &error));
  g_assert_true (cost.in_cgroup);
  g_assert_cmpuint (cost.cgroup.current_bytes.value, ==, 77);
  g_assert_false (cost.cgroup.kernel_bytes.present);
  g_assert_no_error (error);
}

static void
test_find_kthread (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (proc_find_kthread (f->roots, "ksmd"), ==, 0);
  /* A user process called ksmd is not the kernel thread. */
  fake_write (f->root, "proc/12/comm", "ksmd\n");
  fake_write (f->root, "proc/12/stat", "12 (ksmd) S 1 0 0 0 -1 4194560 0 0 0 0 1 1 0 0\n");
  fake_write (f->root, "proc/self/comm", "ksmd\n");
  fake_write (f->root, "proc/meminfo", "x\n");
  fake_write (f->root, "proc/5/comm", "kthreadd\n");
  g_assert_cmpint (proc_find_kthread (f->roots, "ksmd"), ==, 0);
  fake_write (f->root, "proc/37/comm", "ksmd\n");
  fake_write (f->root, "proc/37/stat", "37 (ksmd) S 2 0 0 0 -1 2129984 0 0 0 0 1 1 0 0\n");
  g_assert_cmpint (proc_find_kthread (f->roots, "ksmd"), ==, 37);
}

static void
test_peer_pid (void)
{
  int fds[2];
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  g_assert_cmpint (proc_peer_pid_fd (fds[0], &error), ==, getpid ());
  g_assert_no_error (error);

  g_autoptr (GSocket) sock = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  g_assert_cmpint (proc_peer_pid (sock, &error), ==, getpid ());
  g_assert_no_error (error);
  close (fds[0]);

  /* Not a socket, and an unconnected socket: errors. */
  g_assert_cmpint (proc_peer_pid_fd (-1, &error), ==, -1);
  g_assert_nonnull (error);
  g_clear_error (&error);
  int lone = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (proc_peer_pid_fd (lone, &error), ==, -1);
  g_assert_nonnull (error);
  close (lone);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/probes/proc/stat", test_stat_parse);
  g_test_add_func ("/probes/proc/ticks-to-ns", test_ticks_to_ns);
  g_test_add_func ("/probes/proc/smaps-rollup", test_smaps_rollup);
  g_test_add_func ("/probes/proc/statm", test_statm);
  g_test_add_func ("/probes/proc/statm-kept", test_statm_kept);
  g_test_add_func ("/probes/proc/ksm-stat", test_ksm_stat);
  g_test_add_func ("/probes/proc/cgroup-path", test_cgroup_path);
  g_test_add_func ("/probes/proc/memory-stat", test_memory_stat);
  g_test_add ("/probes/proc/cost/full", Fixture, NULL, fixture_setup, test_cost_full,
              fixture_teardown);
  g_test_add ("/probes/proc/cost/minimal", Fixture, NULL, fixture_setup, test_cost_minimal,
              fixture_teardown);
  g_test_add ("/probes/proc/cost/cgroup-variants", Fixture, NULL, fixture_setup,
              test_cost_cgroup_variants, fixture_teardown);
  g_test_add ("/probes/proc/find-kthread", Fixture, NULL, fixture_setup, test_find_kthread,
              fixture_teardown);
  g_test_add_func ("/probes/proc/peer-pid", test_peer_pid);
  return g_test_run ();
}
