/* test-lifecycle.c: stopping, crashing and restarting ballastd lose nothing,
 * with a real guest under TCG and a fake KSM sysfs dir:
 *   SIGKILL while boosted, then `ballastd --release` (ExecStopPost=): the
 *   KSM knobs and the ballooned memory come back;
 *   a stop/start as systemd does it with the shipped unit (its runtime dir
 *   removed unless RuntimeDirectoryPreserve=yes): the guest is re-adopted;
 *   SIGKILL, then a plain start: the knobs are put back from the saved file
 *   and the new daemon keeps the host's values as originals;
 *   SIGTERM: the memory comes back before ballastd exits.
 * Hung "QEMUs" (sockets that accept and never greet), more than the bound
 * would allow one after another, sit next to the guest throughout: together
 * they cost a release one QMP timeout. */
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ballast-config.h"
#include "daemon.h"
#include "guest.h"

#define MiB (G_GINT64_CONSTANT (1) << 20)
#define GUEST_MIB 512
#define SQUEEZE_MIB 256
/* Six hung QEMUs one after another would cost 6 s; at once, 1 s. */
#define N_HUNG 6
#define HUNG_BOUND_MS 3000

/* Knob values of the fake KSM dir before any daemon ran. */
static const char *const ksm_knobs[][2] = {
  { "run", "0" },
  { "pages_to_scan", "100" },
  { "sleep_millisecs", "20" },
};

typedef struct
{
  TestDaemon *d;
  char *run_dir; /* stands for /run/ballast: qmp/, control.sock, ksm-saved.json */
  char *ksm_dir;
  char *saved_path;
  TestGuest *g;
  QmpSync *mon;         /* the guest's second monitor: its balloon as QEMU sees it */
  int hung_fds[N_HUNG]; /* listening, never accepting */
} Lab;

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *p = g_build_filename (path, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
        rm_rf (p);
      else
        g_unlink (p);
    }
  g_rmdir (path);
}

static char *
ksm_knob (Lab *lab, const char *name)
{
  g_autofree char *p = g_build_filename (lab->ksm_dir, name, NULL);
  char *text = NULL;
  g_assert_true (g_file_get_contents (p, &text, NULL, NULL));
  return g_strchomp (text);
}

static gboolean
ksm_at_originals (Lab *lab)
{
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_knobs); i++)
    {
      g_autofree char *v = ksm_knob (lab, ksm_knobs[i][0]);
      if (!g_str_equal (v, ksm_knobs[i][1]))
        {
          g_test_message ("KSM %s is %s, was %s", ksm_knobs[i][0], v, ksm_knobs[i][1]);
          return FALSE;
        }
    }
  return TRUE;
}

/* The daemon's files under run_dir (as the shipped config puts them under
 * /run/ballast) and a fake KSM dir; TestDaemon keeps its conf and log. */
static void
lab_init (Lab *lab)
{
  g_autoptr (GError) error = NULL;
  lab->d = test_daemon_new (NULL, &error);
  g_assert_no_error (error);
  TestDaemon *d = lab->d;
  lab->run_dir = g_build_filename (d->dir, "run", NULL);
  lab->ksm_dir = g_build_filename (d->dir, "ksm", NULL);
  lab->saved_path = g_build_filename (lab->run_dir, "ksm-saved.json", NULL);
  g_rmdir (d->qmp_dir);
  g_free (d->qmp_dir);
  g_free (d->sock_path);
  d->qmp_dir = g_build_filename (lab->run_dir, "qmp", NULL);
  d->sock_path = g_build_filename (lab->run_dir, "control.sock", NULL);
  g_assert_cmpint (g_mkdir_with_parents (d->qmp_dir, 0750), ==, 0);
  g_assert_cmpint (g_mkdir (lab->ksm_dir, 0755), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_knobs); i++)
    {
      g_autofree char *p = g_build_filename (lab->ksm_dir, ksm_knobs[i][0], NULL);
      g_autofree char *v = g_strconcat (ksm_knobs[i][1], "\n", NULL);
      g_assert_true (g_file_set_contents (p, v, -1, NULL));
    }
  g_autofree char *conf = g_strdup_printf (
      "[daemon]\ncontrol-socket=%s\nqmp-dir=%s\nhttp-listen=off\n[host]\nmode=balanced\n"
      "[ksm]\nmode=auto\nsysfs=%s\nsaved-knobs=%s\nrestore-on-exit=true\n",
      d->sock_path, d->qmp_dir, lab->ksm_dir, lab->saved_path);
  g_assert_true (g_file_set_contents (d->conf_path, conf, -1, NULL));
}

/* Monitor sockets whose QEMU is hung: connections queue in their backlog. */
static void
lab_add_hung_qemus (Lab *lab)
{
  for (int i = 0; i < N_HUNG; i++)
    {
      struct sockaddr_un sa = { .sun_family = AF_UNIX };
      g_autofree char *base = g_strdup_printf ("hung%d.qmp", i);
      g_autofree char *path = g_build_filename (lab->d->qmp_dir, base, NULL);
      g_assert_cmpuint (strlen (path), <, sizeof sa.sun_path);
      strcpy (sa.sun_path, path);
      lab->hung_fds[i] = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      g_assert_cmpint (lab->hung_fds[i], >=, 0);
      g_assert_cmpint (bind (lab->hung_fds[i], (struct sockaddr *) &sa, sizeof sa), ==, 0);
      g_assert_cmpint (listen (lab->hung_fds[i], 16), ==, 0);
    }
}

static void
lab_clear (Lab *lab)
{
  for (int i = 0; i < N_HUNG; i++)
    if (lab->hung_fds[i] > 0)
      close (lab->hung_fds[i]);
  g_clear_pointer (&lab->mon, qmp_sync_free);
  g_clear_pointer (&lab->g, test_guest_free);
  if (lab->d != NULL)
    test_daemon_stop (lab->d);
  rm_rf (lab->run_dir);
  rm_rf (lab->ksm_dir);
  g_clear_pointer (&lab->d, test_daemon_free);
  g_free (lab->run_dir);
  g_free (lab->ksm_dir);
  g_free (lab->saved_path);
}

static void
lab_start (Lab *lab)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (test_daemon_start (lab->d, NULL, &error));
  g_assert_no_error (error);
}

static gboolean
vm_active (Lab *lab, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + timeout_s * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      json_t *vm = test_daemon_vm (lab->d, "g");
      const char *state = vm ? json_string_value (json_object_get (vm, "state")) : NULL;
      gboolean up = g_strcmp0 (state, "active") == 0;
      json_decref (vm);
      if (up)
        return TRUE;
      g_usleep (100 * 1000);
    }
  return FALSE;
}

static gboolean
ksm_boosted (Lab *lab, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + timeout_s * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *run = ksm_knob (lab, "run");
      if (g_str_equal (run, "1"))
        return TRUE;
      g_usleep (100 * 1000);
    }
  return FALSE;
}

static gint64
balloon_mib (Lab *lab)
{
  g_autoptr (GError) error = NULL;
  guint64 actual_bytes = 0;
  g_assert_true (qmp_sync_query_balloon (lab->mon, &actual_bytes, &error));
  return (gint64) (actual_bytes / MiB);
}

/* Waits until QEMU's balloon is within 8 MiB of @mib; returns that. */
static gboolean
balloon_reaches (Lab *lab, gint64 mib, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + timeout_s * G_USEC_PER_SEC;
  gint64 now_mib = 0;
  while (g_get_monotonic_time () < deadline)
    {
      now_mib = balloon_mib (lab);
      if (ABS (now_mib - mib) <= 8)
        return TRUE;
      g_usleep (100 * 1000);
    }
  g_autofree char *log = NULL;
  g_file_get_contents (lab->d->log_path, &log, NULL, NULL);
  g_test_message ("balloon at %" G_GINT64_FORMAT " MiB, wanted %" G_GINT64_FORMAT
                  "; ballastd log:\n%s",
                  now_mib, mib, log ? log : "");
  return FALSE;
}

/* Lowers the guest's max to SQUEEZE_MIB at run time (a ceiling applies at
 * once) and waits until the balloon is there. The files still say 512 MiB:
 * that is what a release gives back. */
static void
squeeze (Lab *lab)
{
  json_decref (test_daemon_cmd (lab->d, "set-policy",
                                json_pack ("{s:s,s:s,s:s}", "name", "g", "min",
                                           G_STRINGIFY (SQUEEZE_MIB) "M", "max",
                                           G_STRINGIFY (SQUEEZE_MIB) "M")));
  g_assert_true (balloon_reaches (lab, SQUEEZE_MIB, 60));
}

static void
kill9 (Lab *lab)
{
  g_clear_pointer (&lab->d->ctl, qmp_sync_free);
  kill (lab->d->pid, SIGKILL);
  waitpid (lab->d->pid, NULL, 0);
  lab->d->pid = 0;
}

/* The unit's value of @key (the last one), or NULL. */
static char *
unit_value (const char *unit, const char *key)
{
  g_auto (GStrv) lines = g_strsplit (unit, "\n", -1);
  g_autofree char *prefix = g_strconcat (key, "=", NULL);
  char *value = NULL;
  for (gsize i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], prefix))
      {
        g_free (value);
        value = g_strstrip (g_strdup (lines[i] + strlen (prefix)));
      }
  return value;
}

/* What systemd does to the runtime dir between a stop and a start of the
 * unit as built (configs/ballastd.service.in, configured): unless
 * RuntimeDirectoryPreserve=yes, RuntimeDirectory= is removed, and with it the
 * default qmp-dir when it lies inside. */
static void
systemd_stop_start_gap (Lab *lab)
{
  g_autofree char *unit = NULL;
  g_autofree char *p = g_build_filename (BALLAST_BUILD_ROOT, "configs", "ballastd.service", NULL);
  g_assert_true (g_file_get_contents (p, &unit, NULL, NULL));
  g_autofree char *rt = unit_value (unit, "RuntimeDirectory");
  g_autofree char *preserve = unit_value (unit, "RuntimeDirectoryPreserve");
  g_autofree char *rt_dir = rt ? g_strconcat ("/run/", rt, "/", NULL) : NULL;
  gboolean inside = rt_dir && g_str_has_prefix (BALLAST_QMP_DIR, rt_dir);
  g_test_message ("unit: RuntimeDirectory=%s RuntimeDirectoryPreserve=%s; qmp-dir %s",
                  rt ? rt : "-", preserve ? preserve : "-", BALLAST_QMP_DIR);
  if (inside && g_strcmp0 (preserve, "yes") != 0)
    {
      g_test_message ("the runtime dir goes, and the QMP sockets in it");
      rm_rf (lab->run_dir);
    }
}

static gint64
stop_ms (Lab *lab, int *status)
{
  gint64 t0 = g_get_monotonic_time ();
  *status = test_daemon_stop (lab->d);
  return (g_get_monotonic_time () - t0) / 1000;
}

static void
test_lifecycle (void)
{
  g_autoptr (GError) error = NULL;
  if (!test_guest_image_ready ())
    return;
  Lab lab = { 0 };
  lab_init (&lab);
  lab_add_hung_qemus (&lab);
  lab_start (&lab);
  lab.g = test_guest_start_in (lab.d->qmp_dir, "g", GUEST_MIB, "idle", 0, "tcg", &error);
  g_assert_no_error (error);
  lab.mon = qmp_sync_connect (lab.g->mon_path, 5000, &error);
  g_assert_no_error (error);
  g_assert_true (vm_active (&lab, 120));
  g_assert_true (ksm_boosted (&lab, 30));
  squeeze (&lab);

  /* 1. A crash while boosted and ballooned; the unit's ExecStopPost= runs. */
  kill9 (&lab);
  g_assert_false (ksm_at_originals (&lab));
  g_assert_true (g_file_test (lab.saved_path, G_FILE_TEST_EXISTS));
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastd", NULL);
  const char *argv[] = { exe, "--config", lab.d->conf_path, "--release", NULL };
  int status = -1;
  g_autofree char *out = NULL, *err = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error));
  g_test_message ("ballastd --release (%" G_GINT64_FORMAT " ms):\n%s%s",
                  (g_get_monotonic_time () - t0) / 1000, out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpint ((g_get_monotonic_time () - t0) / 1000, <, HUNG_BOUND_MS);
  g_assert_true (ksm_at_originals (&lab));
  g_assert_false (g_file_test (lab.saved_path, G_FILE_TEST_EXISTS));
  g_assert_true (balloon_reaches (&lab, GUEST_MIB, 30));

  /* 2. systemd restarts the unit: the guest's sockets must still be there. */
  systemd_stop_start_gap (&lab);
  lab_start (&lab);
  g_assert_true (g_file_test (lab.g->qmp_path, G_FILE_TEST_EXISTS));
  g_assert_true (vm_active (&lab, 30));

  /* 3. Another crash, and a plain start: the boosted values are not taken
   * as the host's (the final stop puts the first originals back). */
  g_assert_true (ksm_boosted (&lab, 30));
  kill9 (&lab);
  systemd_stop_start_gap (&lab);
  lab_start (&lab);
  g_assert_true (vm_active (&lab, 30));
  squeeze (&lab);

  /* 4. A clean stop gives the memory back before ballastd exits. */
  gint64 took_ms = stop_ms (&lab, &status);
  g_test_message ("SIGTERM to exit: %" G_GINT64_FORMAT " ms", took_ms);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_cmpint (took_ms, <, HUNG_BOUND_MS);
  g_assert_true (balloon_reaches (&lab, GUEST_MIB, 30));
  g_assert_true (ksm_at_originals (&lab));
  g_assert_false (g_file_test (lab.saved_path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (test_daemon_log_count (lab.d, "a previous run did not restore them"), ==, 1);
  g_assert_cmpuint (test_daemon_log_count (lab.d, "g: released: balloon"), ==, 1);
  g_assert_cmpuint (test_daemon_log_count (lab.d, "not released"), ==, N_HUNG);
  lab_clear (&lab);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lifecycle/crash-restart-stop", test_lifecycle);
  return g_test_run ();
}
