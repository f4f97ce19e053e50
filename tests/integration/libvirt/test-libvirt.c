/* test-libvirt.c: ballastd's libvirt backend and hook against a real private
 * libvirtd with tiny type='qemu' guests: discovery and lifecycle bounds,
 * balloon down and up seen by virsh, the agent channel, libvirtd restarts,
 * and the hook as libvirt runs it. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest.h"
#include "lab.h"

#define MIB (1024 * 1024)
/* A tiny guest boots in ~5 s under TCG alone; other tests may share the two
 * cores, so boots get a long deadline. The measured bounds stay tight. */
#define BOOT_TIMEOUT_US (180 * G_USEC_PER_SEC)
#define BALLOON_TIMEOUT_US (90 * G_USEC_PER_SEC)

static gint64
ms_since (gint64 t0_us)
{
  return (g_get_monotonic_time () - t0_us) / 1000;
}

static gboolean
listed (Lab *lab, const char *name)
{
  json_t *vm = lab_vm (lab, name);
  json_decref (vm);
  return vm != NULL;
}

/* Polls query-vm until @name's presence equals @present; returns the time
 * it took in ms, or -1 after @timeout_ms. */
static gint64
wait_listed (Lab *lab, const char *name, gboolean present, gint64 t0_us, guint timeout_ms)
{
  while (ms_since (t0_us) <= timeout_ms)
    {
      if (listed (lab, name) == present)
        return ms_since (t0_us);
      g_usleep (20 * 1000);
    }
  return -1;
}

static gboolean
ready (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("needs root (a private libvirtd in its own mount namespace)");
      return FALSE;
    }
  return test_guest_image_ready ();
}

static Lab *
lab_or_fail (gboolean hook)
{
  g_autoptr (GError) error = NULL;
  Lab *lab = lab_new (hook, &error);
  g_assert_no_error (error);
  return lab;
}

static char *
start_domain (Lab *lab, const char *suffix, const char *extra_xml)
{
  g_autoptr (GError) error = NULL;
  char *name = lab_domain_start (lab, suffix, 512, extra_xml, &error);
  g_assert_no_error (error);
  return name;
}

static void
destroy_domain (Lab *lab, const char *name)
{
  g_autoptr (GError) error = NULL;
  lab_domain_destroy (lab, name, &error);
  g_assert_no_error (error);
}

static void
start_ballastd (Lab *lab)
{
  g_autoptr (GError) error = NULL;
  lab_ballastd_start (lab, &error);
  g_assert_no_error (error);
}

static guint
log_count (Lab *lab, const char *needle)
{
  g_autofree char *path = g_build_filename (lab->dir, "ballastd.log", NULL);
  g_autofree char *log = NULL;
  if (!g_file_get_contents (path, &log, NULL, NULL))
    return 0;
  guint n = 0;
  for (const char *p = log; (p = strstr (p, needle)) != NULL; p++)
    n++;
  return n;
}

/* Waits for the agent's first report to reach ballastd through the domain's
 * <channel>: query-vm then has an "agent" object. */
static void
wait_agent (Lab *lab, const char *name)
{
  gint64 t0 = g_get_monotonic_time ();
  for (;;)
    {
      json_t *vm = lab_vm (lab, name);
      g_assert_nonnull (vm);
      json_t *agent = json_object_get (vm, "agent");
      if (json_is_object (agent) && json_integer_value (json_object_get (agent, "seq")) > 0)
        {
          g_test_message ("%s: first agent report via the libvirt channel after %" G_GINT64_FORMAT
                          " ms (ws_source %s)",
                          name, ms_since (t0),
                          json_string_value (json_object_get (vm, "ws_source")));
          g_assert_cmpstr (json_string_value (json_object_get (vm, "ws_source")), ==, "agent");
          /* The domain's <memballoon autodeflate='on' freePageReporting='on'>,
           * read from its XML. */
          g_assert_true (json_is_true (json_object_get (vm, "balloon_deflate_on_oom")));
          g_assert_true (json_is_true (json_object_get (vm, "balloon_free_page_reporting")));
          json_decref (vm);
          return;
        }
      json_decref (vm);
      g_assert_cmpint (g_get_monotonic_time () - t0, <, BOOT_TIMEOUT_US);
      g_usleep (200 * 1000);
    }
}

static void
set_max (Lab *lab, const char *name, const char *max)
{
  json_decref (lab_cmd (lab, "set-policy", json_pack ("{s:s,s:s}", "name", name, "max", max)));
}

/* Waits until `virsh dommemstat` shows @kib as actual. */
static void
wait_virsh_actual (Lab *lab, const char *name, gint64 kib)
{
  gint64 t0 = g_get_monotonic_time ();
  gint64 seen;
  while ((seen = lab_virsh_actual_kib (lab, name)) != kib)
    {
      if (g_get_monotonic_time () - t0 > BALLOON_TIMEOUT_US)
        g_error ("%s: virsh dommemstat actual %" G_GINT64_FORMAT " KiB, expected %" G_GINT64_FORMAT,
                 name, seen, kib);
      g_usleep (200 * 1000);
    }
  g_test_message ("%s: virsh dommemstat actual %" G_GINT64_FORMAT " KiB after %" G_GINT64_FORMAT
                  " ms",
                  name, kib, ms_since (t0));
}

/* Waits until `virsh dommemstat` shows @kib as actual, and ballastd agrees. */
static void
wait_actual (Lab *lab, const char *name, gint64 kib)
{
  gint64 t0 = g_get_monotonic_time ();
  wait_virsh_actual (lab, name, kib);
  /* ballastd's own view follows through the BALLOON_CHANGE event or the
   * next stats sample. */
  for (;;)
    {
      json_t *vm = lab_vm (lab, name);
      gint64 actual = json_integer_value (json_object_get (vm, "actual_bytes"));
      json_decref (vm);
      if (actual == kib * 1024)
        break;
      g_assert_cmpint (g_get_monotonic_time () - t0, <, BALLOON_TIMEOUT_US);
      g_usleep (100 * 1000);
    }
}

/* ---- discovery and lifecycle -------------------------------------------- */

static void
test_discovery (void)
{
  if (!ready ())
    return;
  g_autoptr (Lab) lab = lab_or_fail (FALSE);
  g_autofree char *a = start_domain (lab, "a", NULL);
  g_autofree char *b = start_domain (lab, "b", NULL);

  gint64 t0 = g_get_monotonic_time ();
  start_ballastd (lab);
  gint64 ms_a = wait_listed (lab, a, TRUE, t0, 5000);
  gint64 ms_b = wait_listed (lab, b, TRUE, t0, 5000);
  g_test_message ("two running domains listed %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
                  " ms after ballastd was started",
                  ms_a, ms_b);
  g_assert_cmpint (ms_a, >=, 0);
  g_assert_cmpint (ms_b, >=, 0);
  json_t *vms = lab_cmd (lab, "query-vms", NULL);
  gsize i;
  json_t *vm;
  guint n = 0;
  json_array_foreach (vms, i, vm)
  {
    g_assert_cmpstr (json_string_value (json_object_get (vm, "backend")), ==, "libvirt");
    json_t *full = lab_vm (lab, json_string_value (json_object_get (vm, "name")));
    g_assert_cmpint (json_integer_value (json_object_get (full, "ram_bytes")), ==, 512 * MIB);
    json_decref (full);
    n++;
  }
  g_assert_cmpuint (n, ==, 2);
  json_decref (vms);

  /* Started later: found through the lifecycle event (ballastd never polls
   * the domain list; the log names the event). */
  g_autofree char *c = start_domain (lab, "c", NULL);
  gint64 t1 = g_get_monotonic_time ();
  gint64 ms_c = wait_listed (lab, c, TRUE, t1, 2000);
  g_test_message ("domain started later listed %" G_GINT64_FORMAT " ms after its start returned",
                  ms_c);
  g_assert_cmpint (ms_c, >=, 0);
  g_autofree char *event = g_strdup_printf ("%s: libvirt event %d/", c, VIR_DOMAIN_EVENT_STARTED);
  g_assert_cmpuint (log_count (lab, event), >=, 1);

  destroy_domain (lab, c);
  gint64 t2 = g_get_monotonic_time ();
  gint64 ms_gone = wait_listed (lab, c, FALSE, t2, 2000);
  g_test_message ("destroyed domain unlisted %" G_GINT64_FORMAT " ms after destroy returned",
                  ms_gone);
  g_assert_cmpint (ms_gone, >=, 0);
  g_assert_true (listed (lab, a) && listed (lab, b));
}

/* ---- balloon and agent ----------------------------------------------------- */

static void
test_balloon_agent (void)
{
  if (!ready ())
    return;
  g_autoptr (Lab) lab = lab_or_fail (FALSE);
  g_autofree char *a = start_domain (lab, "a", NULL);
  start_ballastd (lab);
  g_assert_cmpint (wait_listed (lab, a, TRUE, g_get_monotonic_time (), 5000), >=, 0);
  wait_agent (lab, a);

  json_t *vm = lab_vm (lab, a);
  g_assert_cmpstr (json_string_value (json_object_get (vm, "state")), ==, "active");
  g_assert_cmpint (json_integer_value (json_object_get (vm, "ram_bytes")), ==, 512 * MIB);
  json_decref (vm);

  /* Down: the ceiling is applied at once through virDomainSetMemoryFlags. */
  set_max (lab, a, "300M");
  wait_actual (lab, a, 300 * 1024);
  /* Up again: spare host memory goes back to the guest, up to its max. */
  set_max (lab, a, "448M");
  wait_actual (lab, a, 448 * 1024);

  json_t *decisions = lab_cmd (lab, "query-decisions", json_pack ("{s:i}", "limit", 512));
  gsize i;
  json_t *d;
  gboolean down = FALSE, up = FALSE;
  json_array_foreach (decisions, i, d)
  {
    if (g_strcmp0 (json_string_value (json_object_get (d, "vm")), a) != 0
        || !json_is_true (json_object_get (d, "applied")))
      continue;
    gint64 t = json_integer_value (json_object_get (d, "new_target_bytes"));
    down |= t == 300 * MIB;
    up |= t == 448 * MIB;
  }
  json_decref (decisions);
  g_assert_true (down && up);
}

/* ---- libvirtd restarted under ballastd ------------------------------------ */

static void
test_libvirtd_restart (void)
{
  if (!ready ())
    return;
  g_autoptr (Lab) lab = lab_or_fail (FALSE);
  g_autofree char *a = start_domain (lab, "a", NULL);
  start_ballastd (lab);
  GPid ballastd = lab->ballastd_pid;
  g_assert_cmpint (wait_listed (lab, a, TRUE, g_get_monotonic_time (), 5000), >=, 0);
  wait_agent (lab, a);

  lab_libvirtd_stop (lab);
  /* Lost, not forgotten: the domain keeps running and stays listed. */
  gint64 t0 = g_get_monotonic_time ();
  while (log_count (lab, "libvirt: lost") < 1)
    {
      g_assert_cmpint (ms_since (t0), <, 5000);
      g_usleep (50 * 1000);
    }
  g_assert_true (listed (lab, a));

  g_autoptr (GError) error = NULL;
  lab_libvirtd_start (lab, &error);
  g_assert_no_error (error);
  t0 = g_get_monotonic_time ();
  while (log_count (lab, "libvirt: connected") < 2)
    {
      g_assert_cmpint (ms_since (t0), <, 15000);
      g_usleep (50 * 1000);
    }
  g_test_message ("ballastd reconnected %" G_GINT64_FORMAT " ms after libvirtd was back",
                  ms_since (t0));

  /* Still managing: a new ceiling lands in the guest. */
  set_max (lab, a, "320M");
  wait_actual (lab, a, 320 * 1024);
  g_assert_true (listed (lab, a));
  g_assert_cmpint (lab->ballastd_pid, ==, ballastd);
  g_assert_cmpint (waitpid (ballastd, NULL, WNOHANG), ==, 0);
}

/* ---- giving memory back when ballastd stops -------------------------------- */

#define GUEST_KIB (512 * 1024)
#define SQUEEZE_KIB (256 * 1024)
/* A release gets 5 s, a call started before then 1 s more; the rest is
 * ballastd's start-up. */
#define RELEASE_BOUND_MS 8000

/* A ballastd managing @name with its balloon at SQUEEZE_KIB (a ceiling set
 * at run time: the files still say the guest's full size). */
static void
start_squeezed (Lab *lab, const char *name)
{
  start_ballastd (lab);
  g_assert_cmpint (wait_listed (lab, name, TRUE, g_get_monotonic_time (), 5000), >=, 0);
  set_max (lab, name, "256M");
  wait_actual (lab, name, SQUEEZE_KIB);
}

static char *
run_release (Lab *lab, int *status, gint64 *took_ms)
{
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  *status = lab_ballastd_release (lab, &out, took_ms, &error);
  g_assert_no_error (error);
  g_test_message ("ballastd --release: %" G_GINT64_FORMAT " ms, status %d:\n%s", *took_ms, *status,
                  out);
  return out;
}

static void
test_release (void)
{
  if (!ready ())
    return;
  g_autoptr (Lab) lab = lab_or_fail (FALSE);
  g_autofree char *a = start_domain (lab, "a", NULL);
  /* The size it starts from is libvirt's, from QEMU's BALLOON_CHANGE events
   * (at most one a second): it may trail the 256 MiB virsh already shows. */
  g_autofree char *released = g_strdup_printf ("%s: released: balloon ", a);

  /* 1. A crash leaves the balloon where it was; the unit's ExecStopPost=
   * (`ballastd --release`) gives it back through libvirt. */
  start_squeezed (lab, a);
  lab_ballastd_kill (lab);
  g_usleep (G_USEC_PER_SEC);
  g_assert_cmpint (lab_virsh_actual_kib (lab, a), ==, SQUEEZE_KIB);
  int status;
  gint64 took_ms;
  g_autofree char *out = run_release (lab, &status, &took_ms);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, released));
  wait_virsh_actual (lab, a, GUEST_KIB);

  /* 2. A clean stop gives it back before ballastd exits. */
  start_squeezed (lab, a);
  status = lab_ballastd_stop (lab);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_cmpuint (log_count (lab, released), ==, 1);
  wait_virsh_actual (lab, a, GUEST_KIB);

  /* 3. A hung libvirtd costs the release its deadline, not a hang; the
   * balloon stays until a release that libvirtd answers. */
  start_squeezed (lab, a);
  lab_ballastd_kill (lab);
  kill (lab->libvirtd_pid, SIGSTOP);
  g_autofree char *hung = run_release (lab, &status, &took_ms);
  kill (lab->libvirtd_pid, SIGCONT);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpint (took_ms, <, RELEASE_BOUND_MS);
  g_assert_nonnull (strstr (hung, "no answer in time"));
  g_assert_cmpint (lab_virsh_actual_kib (lab, a), ==, SQUEEZE_KIB);
  g_autofree char *again = run_release (lab, &status, &took_ms);
  g_assert_nonnull (strstr (again, released));
  wait_virsh_actual (lab, a, GUEST_KIB);
}

/* ---- the hook, run by libvirt ---------------------------------------------- */

static gboolean
has_kick (Lab *lab, const char *name, const char *reason)
{
  json_t *decisions = lab_cmd (lab, "query-decisions", json_pack ("{s:i}", "limit", 512));
  gsize i;
  json_t *d;
  gboolean found = FALSE;
  json_array_foreach (decisions, i, d) found
      |= g_strcmp0 (json_string_value (json_object_get (d, "vm")), name) == 0
         && g_strcmp0 (json_string_value (json_object_get (d, "reason")), reason) == 0;
  json_decref (decisions);
  return found;
}

static void
wait_kicks (Lab *lab, const char *name, const char *const *reasons)
{
  gint64 t0 = g_get_monotonic_time ();
  for (gsize k = 0; reasons[k]; k++)
    {
      while (!has_kick (lab, name, reasons[k]))
        {
          if (ms_since (t0) > 5000)
            g_error ("%s: no %s in query-decisions", name, reasons[k]);
          g_usleep (50 * 1000);
        }
    }
}

/* Fastest of @n domain starts (ms), each destroyed again. */
static gint64
start_time_ms (Lab *lab, const char *suffix, guint n)
{
  gint64 best = G_MAXINT64;
  for (guint i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autofree char *name = start_domain (lab, suffix, NULL);
      best = MIN (best, ms_since (t0));
      destroy_domain (lab, name);
    }
  return best;
}

static void
test_hook (void)
{
  if (!ready ())
    return;
  g_autoptr (Lab) lab = lab_or_fail (TRUE);
  start_ballastd (lab);

  g_autofree char *a = start_domain (lab, "a", NULL);
  const char *const on_start[] = { "kick:CREATING", "kick:CREATED", NULL };
  wait_kicks (lab, a, on_start);
  destroy_domain (lab, a);
  const char *const on_stop[] = { "kick:DESTROYING", "kick:DESTROYED", NULL };
  wait_kicks (lab, a, on_stop);
  g_test_message ("hook kicks for %s: CREATING, CREATED, DESTROYING, DESTROYED", a);

  /* ballastd down: the hook must not hold up a start. Baseline: the same
   * hook file doing nothing (same fork and exec). */
  g_assert_cmpint (lab_ballastd_stop (lab), ==, 0);
  g_autoptr (GError) error = NULL;
  lab_set_hook (lab, FALSE, &error);
  g_assert_no_error (error);
  gint64 base_ms = start_time_ms (lab, "base", 3);
  lab_set_hook (lab, TRUE, &error);
  g_assert_no_error (error);
  gint64 down_ms = start_time_ms (lab, "down", 3);
  g_test_message ("domain start: %" G_GINT64_FORMAT " ms with a no-op hook, %" G_GINT64_FORMAT
                  " ms with ballast-hook and ballastd stopped",
                  base_ms, down_ms);
  g_assert_cmpint (down_ms - base_ms, <, 1000);

  /* Wedged (accepts, never answers): bounded by the hook's own timeout,
   * 3 calls x 250 ms per start; the rest of the bound is slack for a machine
   * busy with other work (seen: 1.96 s under ASan with both cores loaded),
   * still short of what 3 calls at 1 s each, or a hang, would cost. */
  start_ballastd (lab);
  kill (lab->ballastd_pid, SIGSTOP);
  gint64 wedged_ms = start_time_ms (lab, "wedged", 2);
  kill (lab->ballastd_pid, SIGCONT);
  g_test_message ("domain start: %" G_GINT64_FORMAT " ms with ballastd stopped by SIGSTOP",
                  wedged_ms);
  g_assert_cmpint (wedged_ms - base_ms, <, 2500);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/libvirt/discovery", test_discovery);
  g_test_add_func ("/libvirt/balloon-agent", test_balloon_agent);
  g_test_add_func ("/libvirt/libvirtd-restart", test_libvirtd_restart);
  g_test_add_func ("/libvirt/release", test_release);
  g_test_add_func ("/libvirt/hook", test_hook);
  return g_test_run ();
}
