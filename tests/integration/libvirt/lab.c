/* lab.c: see lab.h. */
#include "lab.h"

#include "ballast-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/virterror.h>

/* Boot deadlines are generous (TCG on 2 shared cores, other tests running);
 * start-up of libvirtd itself takes well under a second. */
#define LAB_LIBVIRTD_TIMEOUT_US (20 * G_USEC_PER_SEC)

/* ---- processes to kill if the test dies ---------------------------------- */

/* An assertion aborts without running cleanups: libvirtd, ballastd and the
 * QEMUs it started must still go. Async-signal-safe: just kill(). */
#define LAB_MAX_PIDS 16
static volatile sig_atomic_t lab_pids[LAB_MAX_PIDS];
static gboolean lab_handlers_installed;

/* The lab's dir, removed by the fatal-signal path too (fork + exec only). */
static char lab_dir_for_signal[256];

static void
lab_kill_all (void)
{
  for (int i = 0; i < LAB_MAX_PIDS; i++)
    if (lab_pids[i] > 0)
      kill ((pid_t) lab_pids[i], SIGKILL);
}

static void
lab_on_fatal (int sig)
{
  lab_kill_all ();
  if (lab_dir_for_signal[0] == '/')
    {
      pid_t pid = fork ();
      if (pid == 0)
        {
          char *const argv[] = { "rm", "-rf", lab_dir_for_signal, NULL };
          execv ("/bin/rm", argv);
          _exit (127);
        }
      if (pid > 0)
        waitpid (pid, NULL, 0);
    }
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
lab_quiet_error (void *data, virErrorPtr err)
{
  /* Failures are reported where they are checked (and connecting while
   * libvirtd starts fails on purpose). */
}

static void
lab_track (int pid, gboolean live)
{
  if (!lab_handlers_installed)
    {
      lab_handlers_installed = TRUE;
      virSetErrorFunc (NULL, lab_quiet_error);
      signal (SIGABRT, lab_on_fatal);
      signal (SIGSEGV, lab_on_fatal);
      signal (SIGTERM, lab_on_fatal);
      signal (SIGINT, lab_on_fatal);
      atexit (lab_kill_all);
    }
  for (int i = 0; i < LAB_MAX_PIDS; i++)
    if (live ? lab_pids[i] == 0 : lab_pids[i] == pid)
      {
        lab_pids[i] = live ? pid : 0;
        return;
      }
}

static void
lab_child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* ---- libvirtd ------------------------------------------------------------ */

static const char lab_libvirtd_conf[] = "unix_sock_group = \"root\"\n"
                                        "unix_sock_rw_perms = \"0700\"\n"
                                        "auth_unix_rw = \"none\"\n"
                                        "auth_unix_ro = \"none\"\n";

/* Root QEMUs without confinement, cgroups or namespaces of their own: the
 * tests run in containers where those are not available, and stdio goes to
 * files so no virtlogd is needed. */
static const char lab_qemu_conf[] = "user = \"root\"\n"
                                    "group = \"root\"\n"
                                    "dynamic_ownership = 0\n"
                                    "remember_owner = 0\n"
                                    "security_driver = \"none\"\n"
                                    "namespaces = []\n"
                                    "cgroup_controllers = []\n"
                                    "stdio_handler = \"file\"\n";

/* Runs in the new mount namespace: the lab's dirs over /etc/libvirt and
 * /var (state, logs, cache), a tmpfs over /run, and a passwd/group with the
 * libvirt-qemu user the QEMU driver insists on resolving at start-up. Only
 * existing mount points are used, so nothing is created on the host. */
static const char lab_start_script[]
    = "set -e\n"
      "d=$1\n"
      "mount --make-rprivate /\n"
      "mount --bind \"$d/etc\" /etc/libvirt\n"
      "mount --bind \"$d/var\" /var\n"
      "mount -t tmpfs -o mode=0755 tmpfs /run\n"
      "mkdir /run/libvirt /run/lock\n"
      "mount --bind \"$d/run\" /run/libvirt\n"
      "mount --bind \"$d/passwd\" /etc/passwd\n"
      "mount --bind \"$d/group\" /etc/group\n"
      "exec libvirtd -f /etc/libvirt/libvirtd.conf -p \"$d/libvirtd.pid\"\n";

static gboolean
lab_write (const char *dir, const char *name, const char *text, int mode, GError **error)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  if (!g_file_set_contents (p, text, -1, error))
    return FALSE;
  if (mode && g_chmod (p, mode) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "chmod %s", p);
      return FALSE;
    }
  return TRUE;
}

/* /etc/passwd and /etc/group with libvirt-qemu added when missing. */
static gboolean
lab_write_account (const char *dir, const char *file, const char *entry, GError **error)
{
  g_autofree char *src = g_build_filename ("/etc", file, NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (src, &text, NULL, error))
    return FALSE;
  gboolean has = g_str_has_prefix (text, "libvirt-qemu:") || strstr (text, "\nlibvirt-qemu:");
  g_autofree char *out = has ? g_strdup (text) : g_strconcat (text, entry, "\n", NULL);
  return lab_write (dir, file, out, 0644, error);
}

gboolean
lab_set_hook (Lab *lab, gboolean real, GError **error)
{
  g_autofree char *hooks = g_build_filename (lab->dir, "etc", "hooks", NULL);
  g_mkdir_with_parents (hooks, 0755);
  g_autofree char *exe
      = g_build_filename (BALLAST_BUILD_ROOT, "configs", "libvirt-hook", "ballast-hook", NULL);
  g_autofree char *body
      = real ? g_strdup_printf ("#!/bin/sh\nexec %s --socket %s \"$@\"\n", exe, lab->ctl_path)
             : g_strdup ("#!/bin/sh\nexit 0\n");
  /* Replaced by rename so libvirt never runs a half-written file. */
  g_autofree char *tmp = g_build_filename (hooks, ".qemu.tmp", NULL);
  g_autofree char *dst = g_build_filename (hooks, "qemu", NULL);
  if (!lab_write (hooks, ".qemu.tmp", body, 0755, error))
    return FALSE;
  if (g_rename (tmp, dst) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "rename %s", dst);
      return FALSE;
    }
  return TRUE;
}

Lab *
lab_new (gboolean hook, GError **error)
{
  g_autoptr (Lab) lab = g_new0 (Lab, 1);
  lab->dir = g_dir_make_tmp ("ballast-lv-XXXXXX", error);
  if (lab->dir == NULL)
    return NULL;
  lab->uri = g_strdup_printf ("qemu:///system?socket=%s/sock/libvirt-sock", lab->dir);
  g_strlcpy (lab_dir_for_signal, lab->dir, sizeof lab_dir_for_signal);
  lab->prefix = g_strdup_printf ("ballast-it-%d", (int) getpid ());
  lab->ctl_path = g_build_filename (lab->dir, "control.sock", NULL);
  const char *subdirs[] = { "etc",
                            "run",
                            "sock",
                            "guest",
                            "var",
                            "var/lib",
                            "var/lib/libvirt",
                            "var/log",
                            "var/log/libvirt",
                            "var/cache",
                            "var/cache/libvirt",
                            "var/tmp" };
  for (gsize i = 0; i < G_N_ELEMENTS (subdirs); i++)
    {
      g_autofree char *p = g_build_filename (lab->dir, subdirs[i], NULL);
      if (g_mkdir (p, 0755) != 0)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "mkdir %s", p);
          return NULL;
        }
    }
  /* Debian's /var/run and /var/lock are links into /run. */
  g_autofree char *var_run = g_build_filename (lab->dir, "var", "run", NULL);
  g_autofree char *var_lock = g_build_filename (lab->dir, "var", "lock", NULL);
  if (symlink ("/run", var_run) != 0 || symlink ("/run/lock", var_lock) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "symlink in %s", lab->dir);
      return NULL;
    }
  g_autofree char *etc = g_build_filename (lab->dir, "etc", NULL);
  g_autofree char *lconf
      = g_strdup_printf ("unix_sock_dir = \"%s/sock\"\n%s", lab->dir, lab_libvirtd_conf);
  if (!lab_write (etc, "libvirtd.conf", lconf, 0, error)
      || !lab_write (etc, "qemu.conf", lab_qemu_conf, 0, error)
      || !lab_write (lab->dir, "start.sh", lab_start_script, 0755, error)
      || !lab_write_account (
          lab->dir, "passwd",
          "libvirt-qemu:x:64055:64055:libvirt qemu:/nonexistent:/usr/sbin/nologin", error)
      || !lab_write_account (lab->dir, "group", "libvirt-qemu:x:64055:", error))
    return NULL;
  /* libvirtd looks for hooks once, at start-up. */
  if (hook && !lab_set_hook (lab, TRUE, error))
    return NULL;
  if (!lab_libvirtd_start (lab, error))
    return NULL;
  return g_steal_pointer (&lab);
}

gboolean
lab_libvirtd_start (Lab *lab, GError **error)
{
  g_autofree char *script = g_build_filename (lab->dir, "start.sh", NULL);
  g_autofree char *log_path = g_build_filename (lab->dir, "libvirtd.log", NULL);
  const char *argv[] = { "unshare", "-m", "--", "/bin/sh", script, lab->dir, NULL };
  int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s", log_path);
      return FALSE;
    }
  /* unshare and sh exec in place: the PID is libvirtd's. */
  gboolean ok = g_spawn_async_with_fds (
      NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, lab_child_setup,
      NULL, &lab->libvirtd_pid, -1, log_fd, log_fd, error);
  close (log_fd);
  if (!ok)
    return FALSE;
  lab_track (lab->libvirtd_pid, TRUE);
  gint64 deadline = g_get_monotonic_time () + LAB_LIBVIRTD_TIMEOUT_US;
  while (g_get_monotonic_time () < deadline)
    {
      if (waitpid (lab->libvirtd_pid, NULL, WNOHANG) == lab->libvirtd_pid)
        {
          lab_track (lab->libvirtd_pid, FALSE);
          lab->libvirtd_pid = 0;
          g_autofree char *log = NULL;
          g_file_get_contents (log_path, &log, NULL, NULL);
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "libvirtd exited:\n%s",
                       log ? log : "");
          return FALSE;
        }
      g_clear_pointer (&lab->conn, virConnectClose);
      lab->conn = virConnectOpen (lab->uri);
      if (lab->conn != NULL)
        return TRUE;
      g_usleep (50 * 1000);
    }
  g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "libvirtd not up within %d s: %s",
               (int) (LAB_LIBVIRTD_TIMEOUT_US / G_USEC_PER_SEC), virGetLastErrorMessage ());
  return FALSE;
}

static void
lab_wait_pid (GPid pid, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (waitpid (pid, NULL, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          g_test_message ("%s did not stop within 10 s: SIGKILL", what);
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
          break;
        }
      g_usleep (20 * 1000);
    }
}

void
lab_libvirtd_stop (Lab *lab)
{
  g_clear_pointer (&lab->conn, virConnectClose);
  if (lab->libvirtd_pid <= 0)
    return;
  kill (lab->libvirtd_pid, SIGTERM);
  lab_wait_pid (lab->libvirtd_pid, "libvirtd");
  lab_track (lab->libvirtd_pid, FALSE);
  lab->libvirtd_pid = 0;
}

/* ---- domains --------------------------------------------------------------- */

/* The QEMU's PID from libvirt's PID file (the lab's run dir), or 0. */
static int
lab_domain_pid (Lab *lab, const char *name)
{
  g_autofree char *pid_name = g_strdup_printf ("%s.pid", name);
  g_autofree char *pid_path = g_build_filename (lab->dir, "run", "qemu", pid_name, NULL);
  g_autofree char *pid_text = NULL;
  if (!g_file_get_contents (pid_path, &pid_text, NULL, NULL))
    return 0;
  return (int) g_ascii_strtoll (pid_text, NULL, 10);
}

char *
lab_domain_start (Lab *lab, const char *suffix, guint mem_mib, const char *extra_xml,
                  GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s-%s", lab->prefix, suffix);
  g_autofree char *image = g_build_filename (BALLAST_BUILD_ROOT, "vm", NULL);
  g_autofree char *xml = g_strdup_printf (
      "<domain type='qemu'>\n"
      "  <name>%s</name>\n"
      "  <memory unit='MiB'>%u</memory>\n"
      "  <currentMemory unit='MiB'>%u</currentMemory>\n"
      "  <vcpu>1</vcpu>\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='pc'>hvm</type>\n"
      "    <kernel>%s/vmlinuz</kernel>\n"
      "    <initrd>%s/initrd.img</initrd>\n"
      "    <cmdline>console=ttyS0 quiet ballast.workload=idle</cmdline>\n"
      "  </os>\n"
      "  <on_poweroff>destroy</on_poweroff>\n"
      "  <on_reboot>destroy</on_reboot>\n"
      "  <on_crash>destroy</on_crash>\n"
      "%s"
      "  <devices>\n"
      "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
      "    <serial type='file'><source path='%s/guest/%s.log'/><target port='0'/></serial>\n"
      "    <channel type='unix'>\n"
      "      <source mode='bind' path='%s/guest/%s.agent'/>\n"
      "      <target type='virtio' name='org.ballast.agent.0'/>\n"
      "    </channel>\n"
      "    <memballoon model='virtio' autodeflate='on' freePageReporting='on'>\n"
      "      <stats period='2'/>\n"
      "    </memballoon>\n"
      "  </devices>\n"
      "</domain>\n",
      name, mem_mib, mem_mib, image, image, extra_xml ? extra_xml : "", lab->dir, suffix, lab->dir,
      suffix);
  virDomainPtr dom = virDomainCreateXML (lab->conn, xml, 0);
  if (dom == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "create %s: %s", name,
                   virGetLastErrorMessage ());
      return NULL;
    }
  virDomainFree (dom);
  int pid = lab_domain_pid (lab, name);
  if (pid > 0)
    lab_track (pid, TRUE);
  return g_steal_pointer (&name);
}

gboolean
lab_domain_destroy (Lab *lab, const char *name, GError **error)
{
  int pid = lab_domain_pid (lab, name);
  virDomainPtr dom = virDomainLookupByName (lab->conn, name);
  if (dom == NULL || virDomainDestroy (dom) < 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "destroy %s: %s", name,
                   virGetLastErrorMessage ());
      if (dom)
        virDomainFree (dom);
      return FALSE;
    }
  virDomainFree (dom);
  if (pid > 0)
    lab_track (pid, FALSE);
  return TRUE;
}

gint64
lab_virsh_actual_kib (Lab *lab, const char *name)
{
  const char *argv[] = { "virsh", "-c", lab->uri, "dommemstat", name, NULL };
  g_autofree char *out = NULL;
  int status;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, &status, NULL)
      || !g_spawn_check_wait_status (status, NULL))
    return -1;
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (gsize i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], "actual "))
      return g_ascii_strtoll (lines[i] + strlen ("actual "), NULL, 10);
  return -1;
}

/* ---- ballastd -------------------------------------------------------------- */

gboolean
lab_ballastd_start (Lab *lab, GError **error)
{
  g_autofree char *conf_path = g_build_filename (lab->dir, "ballast.conf", NULL);
  g_autofree char *log_path = g_build_filename (lab->dir, "ballastd.log", NULL);
  /* KSM observed only: other tests may drive the host's ksmd meanwhile. */
  g_autofree char *conf
      = g_strdup_printf ("[daemon]\ncontrol-socket=%s\nhttp-listen=\n[ksm]\nmode=observe\n"
                         "[libvirt]\nuri=%s\n",
                         lab->ctl_path, lab->uri);
  if (!g_file_set_contents (conf_path, conf, -1, error))
    return FALSE;
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastd", NULL);
  const char *argv[] = { exe, "--config", conf_path, NULL };
  int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s", log_path);
      return FALSE;
    }
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "G_MESSAGES_DEBUG", "all", TRUE);
  gboolean ok = g_spawn_async_with_fds (NULL, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD,
                                        lab_child_setup, NULL, &lab->ballastd_pid, -1, log_fd,
                                        log_fd, error);
  close (log_fd);
  if (!ok)
    return FALSE;
  lab_track (lab->ballastd_pid, TRUE);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr (GError) local = NULL;
      if (g_file_test (lab->ctl_path, G_FILE_TEST_EXISTS))
        {
          lab->ctl = qmp_sync_connect (lab->ctl_path, 5000, &local);
          if (lab->ctl != NULL)
            return TRUE;
        }
      if (g_get_monotonic_time () > deadline || waitpid (lab->ballastd_pid, NULL, WNOHANG) != 0)
        {
          g_autofree char *log = lab_ballastd_log (lab);
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                       "ballastd not up within 10 s:\n%s", log);
          return FALSE;
        }
      g_usleep (20 * 1000);
    }
}

int
lab_ballastd_stop (Lab *lab)
{
  g_clear_pointer (&lab->ctl, qmp_sync_free);
  if (lab->ballastd_pid <= 0)
    return -1;
  kill (lab->ballastd_pid, SIGCONT); /* a test may have stopped it */
  kill (lab->ballastd_pid, SIGTERM);
  int status = -1;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (waitpid (lab->ballastd_pid, &status, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          g_test_message ("ballastd did not stop within 10 s: SIGKILL");
          kill (lab->ballastd_pid, SIGKILL);
          waitpid (lab->ballastd_pid, &status, 0);
          break;
        }
      g_usleep (20 * 1000);
    }
  lab_track (lab->ballastd_pid, FALSE);
  lab->ballastd_pid = 0;
  return status;
}

void
lab_ballastd_kill (Lab *lab)
{
  g_clear_pointer (&lab->ctl, qmp_sync_free);
  if (lab->ballastd_pid <= 0)
    return;
  kill (lab->ballastd_pid, SIGKILL);
  waitpid (lab->ballastd_pid, NULL, 0);
  lab_track (lab->ballastd_pid, FALSE);
  lab->ballastd_pid = 0;
}

int
lab_ballastd_release (Lab *lab, char **output, gint64 *took_ms, GError **error)
{
  g_autofree char *conf_path = g_build_filename (lab->dir, "ballast.conf", NULL);
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastd", NULL);
  const char *argv[] = { exe, "--config", conf_path, "--release", NULL };
  int status = -1;
  g_autofree char *out = NULL, *err = NULL;
  gint64 t0 = g_get_monotonic_time ();
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, lab_child_setup, NULL, &out, &err,
                     &status, error))
    return -1;
  *took_ms = (g_get_monotonic_time () - t0) / 1000;
  *output = g_strconcat (out, err, NULL);
  return status;
}

json_t *
lab_cmd (Lab *lab, const char *command, json_t *args)
{
  g_autoptr (GError) error = NULL;
  json_t *ret = qmp_sync_execute (lab->ctl, command, args, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ret);
  return ret;
}

json_t *
lab_vm (Lab *lab, const char *name)
{
  g_autoptr (GError) error = NULL;
  json_t *ret = qmp_sync_execute (lab->ctl, "query-vm", json_pack ("{s:s}", "name", name), &error);
  if (ret == NULL)
    g_assert_true (g_error_matches (error, QMP_ERROR, QMP_ERROR_COMMAND));
  return ret;
}

char *
lab_ballastd_log (Lab *lab)
{
  g_autofree char *path = g_build_filename (lab->dir, "ballastd.log", NULL);
  g_autofree char *log = NULL;
  if (!g_file_get_contents (path, &log, NULL, NULL))
    return g_strdup ("");
  gsize len = strlen (log);
  return g_strdup (len > 6000 ? log + len - 6000 : log);
}

/* ---- teardown -------------------------------------------------------------- */

static void
lab_rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
      const char *n;
      while (d && (n = g_dir_read_name (d)))
        {
          g_autofree char *p = g_build_filename (path, n, NULL);
          lab_rm_rf (p);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

void
lab_free (Lab *lab)
{
  if (lab == NULL)
    return;
  if (g_test_failed () && lab->dir)
    {
      g_autofree char *log = lab_ballastd_log (lab);
      g_test_message ("ballastd log (tail):\n%s", log);
    }
  lab_ballastd_stop (lab);
  /* The domains go first, through libvirt, while it still runs. */
  if (lab->conn == NULL && lab->libvirtd_pid > 0)
    lab->conn = virConnectOpen (lab->uri);
  if (lab->conn != NULL)
    {
      virDomainPtr *doms = NULL;
      int n = virConnectListAllDomains (lab->conn, &doms, 0);
      for (int i = 0; i < n; i++)
        {
          if (g_str_has_prefix (virDomainGetName (doms[i]), lab->prefix)
              && virDomainIsActive (doms[i]) == 1 && virDomainDestroy (doms[i]) < 0)
            g_test_message ("destroy %s: %s", virDomainGetName (doms[i]),
                            virGetLastErrorMessage ());
          virDomainFree (doms[i]);
        }
      free (doms);
    }
  lab_libvirtd_stop (lab);
  /* Whatever QEMU is left (libvirt could not destroy it). */
  for (int i = 0; i < LAB_MAX_PIDS; i++)
    if (lab_pids[i] > 0)
      {
        g_autofree char *comm_path = g_strdup_printf ("/proc/%d/comm", (int) lab_pids[i]);
        g_autofree char *comm = NULL;
        if (g_file_get_contents (comm_path, &comm, NULL, NULL) && g_str_has_prefix (comm, "qemu"))
          {
            g_test_message ("killing leftover QEMU %d", (int) lab_pids[i]);
            kill ((pid_t) lab_pids[i], SIGKILL);
          }
        lab_pids[i] = 0;
      }
  if (lab->dir)
    lab_rm_rf (lab->dir);
  lab_dir_for_signal[0] = '\0';
  g_free (lab->dir);
  g_free (lab->uri);
  g_free (lab->prefix);
  g_free (lab->ctl_path);
  g_free (lab);
}
