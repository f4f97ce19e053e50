/* guest.c: integration-test side of the tiny guest: runs tests/vm/ballast-vm,
 * connects to the agent's socket and parses what it says with agent-proto. */
#include "guest.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ballast-config.h"

/* QEMUs of this process, killed if the test dies: a failed g_assert
 * aborts without running the g_autoptr cleanups. */
#define MAX_LIVE_GUESTS 8
static volatile sig_atomic_t live_pids[MAX_LIVE_GUESTS];
static gboolean abort_handler_installed;

static void
kill_live_guests (void)
{
  for (int i = 0; i < MAX_LIVE_GUESTS; i++)
    if (live_pids[i] > 0)
      kill ((pid_t) live_pids[i], SIGKILL);
}

static void
on_fatal_signal (int sig)
{
  kill_live_guests ();
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
track_pid (int pid, gboolean live)
{
  if (!abort_handler_installed)
    {
      abort_handler_installed = TRUE;
      signal (SIGABRT, on_fatal_signal);
      signal (SIGSEGV, on_fatal_signal);
      signal (SIGTERM, on_fatal_signal);
      signal (SIGINT, on_fatal_signal);
      atexit (kill_live_guests);
    }
  for (int i = 0; i < MAX_LIVE_GUESTS; i++)
    if (live ? live_pids[i] == 0 : live_pids[i] == pid)
      {
        live_pids[i] = live ? pid : 0;
        return;
      }
}

static char *
image_dir (void)
{
  const char *env = g_getenv ("BALLAST_VM_IMAGE");
  return env ? g_strdup (env) : g_build_filename (BALLAST_BUILD_ROOT, "vm", NULL);
}

gboolean
test_guest_image_ready (void)
{
  g_autofree char *dir = image_dir ();
  g_autofree char *kernel = g_build_filename (dir, "vmlinuz", NULL);
  g_autofree char *initrd = g_build_filename (dir, "initrd.img", NULL);
  if (g_file_test (kernel, G_FILE_TEST_EXISTS) && g_file_test (initrd, G_FILE_TEST_EXISTS))
    return TRUE;
  g_autofree char *msg = g_strdup_printf (
      "guest image missing in %s: run tests/vm/build-image.sh %s", dir, BALLAST_BUILD_ROOT);
  if (geteuid () == 0)
    {
      g_test_message ("%s", msg);
      g_test_fail ();
    }
  else
    g_test_skip (msg);
  return FALSE;
}

TestGuest *
test_guest_start (const char *name, guint mem_mib, const char *workload, guint disk_mib,
                  const char *accel, GError **error)
{
  return test_guest_start_in (NULL, name, mem_mib, workload, disk_mib, accel, error);
}

TestGuest *
test_guest_start_in (const char *dir, const char *name, guint mem_mib, const char *workload,
                     guint disk_mib, const char *accel, GError **error)
{
  g_autoptr (TestGuest) g = g_new0 (TestGuest, 1);
  g_autofree char *script
      = g_build_filename (BALLAST_SOURCE_ROOT, "tests", "vm", "ballast-vm", NULL);
  g_autofree char *mem = g_strdup_printf ("%u", mem_mib);
  g_autofree char *disk = g_strdup_printf ("%u", disk_mib);
  g_autofree char *image = image_dir ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  g->agent_fd = -1;
  g->msgs = g_queue_new ();
  g->raw_pending = g_string_new (NULL);
  g->name = g_strdup (name);
  g->ram_bytes = (guint64) mem_mib << 20;
  g->own_dir = dir == NULL;
  g->dir = dir ? g_strdup (dir) : g_dir_make_tmp ("ballast-it-XXXXXX", error);
  if (!g->dir)
    return NULL;
  g->qmp_path = g_strdup_printf ("%s/%s.qmp", g->dir, name);
  g->agent_path = g_strdup_printf ("%s/%s.agent", g->dir, name);
  g->mon_path = g_strdup_printf ("%s/%s.mon", g->dir, name);
  g->log_path = g_strdup_printf ("%s/%s.log", g->dir, name);
  g->link = agent_link_new (g->ram_bytes);

  const char *argv[]
      = { script, "start", name, g->dir, mem, workload, disk_mib ? disk : NULL, NULL };
  g_auto (GStrv) envp = g_get_environ ();
  envp = g_environ_setenv (envp, "BALLAST_VM_IMAGE", image, FALSE);
  if (accel)
    envp = g_environ_setenv (envp, "BALLAST_VM_ACCEL", accel, TRUE);

  gint64 t0 = g_get_monotonic_time ();
  if (!g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                     error))
    return NULL;
  g->boot_us = g_get_monotonic_time () - t0;
  if (err && *err)
    g_test_message ("%s", g_strchomp (err));
  if (!g_spawn_check_wait_status (status, error))
    {
      g_prefix_error (error, "ballast-vm start %s: ", name);
      return NULL;
    }
  g->pid = (int) g_ascii_strtoll (out, NULL, 10);
  if (g->pid <= 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "ballast-vm printed no PID: %s", out);
      return NULL;
    }
  track_pid (g->pid, TRUE);
  return g_steal_pointer (&g);
}

static void
free_msg (gpointer p)
{
  g_free (p);
}

void
test_guest_free (TestGuest *g)
{
  if (!g)
    return;
  test_guest_disconnect_agent (g);
  if (g->pid > 0)
    {
      g_autofree char *script
          = g_build_filename (BALLAST_SOURCE_ROOT, "tests", "vm", "ballast-vm", NULL);
      g_autofree char *pid = g_strdup_printf ("%d", g->pid);
      const char *argv[] = { script, "stop", pid, NULL };
      if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL,
                         NULL))
        kill (g->pid, SIGKILL);
      track_pid (g->pid, FALSE);
    }
  if (g->dir)
    {
      const char *suffixes[] = { ".qmp", ".mon", ".agent", ".log", ".pid", ".disk", ".qemu-err" };
      /* Keep the console of a failed test for the log. */
      if (g_test_failed ())
        {
          g_autofree char *log = test_guest_console (g);
          g_test_message ("console of %s:\n%s", g->name, log ? log : "");
        }
      for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
        {
          g_autofree char *p = g_strdup_printf ("%s/%s%s", g->dir, g->name, suffixes[i]);
          g_unlink (p);
        }
      if (g->own_dir)
        g_rmdir (g->dir);
    }
  agent_link_free (g->link);
  if (g->msgs)
    g_queue_free_full (g->msgs, free_msg);
  if (g->raw_pending)
    g_string_free (g->raw_pending, TRUE);
  g_free (g->last_hello_line);
  g_free (g->last_report_line);
  g_free (g->name);
  g_free (g->dir);
  g_free (g->qmp_path);
  g_free (g->agent_path);
  g_free (g->mon_path);
  g_free (g->log_path);
  g_free (g);
}

gboolean
test_guest_connect_agent (TestGuest *g, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (g->agent_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "socket path too long");
      return FALSE;
    }
  strcpy (addr.sun_path, g->agent_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "connect %s: %s",
                   g->agent_path, g_strerror (e));
      return FALSE;
    }
  g->agent_fd = fd;
  agent_link_reset (g->link);
  g_string_truncate (g->raw_pending, 0);
  return TRUE;
}

void
test_guest_disconnect_agent (TestGuest *g)
{
  if (g->agent_fd >= 0)
    close (g->agent_fd);
  g->agent_fd = -1;
}

gboolean
test_guest_send_agent (TestGuest *g, const char *line, GError **error)
{
  g_autofree char *buf = g_strdup_printf ("%s\n", line);
  size_t len = strlen (buf);
  if (g->agent_fd < 0 || write (g->agent_fd, buf, len) != (ssize_t) len)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "write to agent socket failed");
      return FALSE;
    }
  return TRUE;
}

static void
on_msg (const AgentMsg *msg, gpointer user_data)
{
  TestGuest *g = user_data;
  g_queue_push_tail (g->msgs, g_memdup2 (msg, sizeof *msg));
}

/* Keeps the newest raw hello and report lines out of @n bytes read. */
static void
keep_raw_lines (TestGuest *g, const char *buf, gsize n)
{
  g_string_append_len (g->raw_pending, buf, (gssize) n);
  char *nl;
  while ((nl = memchr (g->raw_pending->str, '\n', g->raw_pending->len)))
    {
      gsize len = (gsize) (nl - g->raw_pending->str);
      char **slot = NULL;
      if (g_str_has_prefix (g->raw_pending->str, "{\"type\":\"hello\""))
        slot = &g->last_hello_line;
      else if (g_str_has_prefix (g->raw_pending->str, "{\"type\":\"report\""))
        slot = &g->last_report_line;
      if (slot)
        {
          g_free (*slot);
          *slot = g_strndup (g->raw_pending->str, len);
        }
      g_string_erase (g->raw_pending, 0, (gssize) len + 1);
    }
  /* An over-long line is of no use here: drop it. */
  if (g->raw_pending->len > AGENT_WIRE_MAX_LINE_BYTES)
    g_string_truncate (g->raw_pending, 0);
}

const char *
test_guest_raw_hello (TestGuest *g)
{
  return g->last_hello_line;
}

const char *
test_guest_raw_report (TestGuest *g)
{
  return g->last_report_line;
}

AgentMsg *
test_guest_next_msg (TestGuest *g, AgentMsgType type, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      while (!g_queue_is_empty (g->msgs))
        {
          AgentMsg *m = g_queue_pop_head (g->msgs);
          if (type == 0 || m->type == type)
            return m;
          g_free (m);
        }
      gint64 now = g_get_monotonic_time ();
      if (now >= deadline || g->agent_fd < 0)
        return NULL;
      struct pollfd p = { .fd = g->agent_fd, .events = POLLIN };
      int r = poll (&p, 1, (int) ((deadline - now + 999) / 1000));
      if (r <= 0)
        continue;
      char buf[8192];
      ssize_t n = read (g->agent_fd, buf, sizeof buf);
      if (n <= 0)
        {
          test_guest_disconnect_agent (g);
          return NULL;
        }
      keep_raw_lines (g, buf, (gsize) n);
      agent_link_feed (g->link, buf, (gsize) n, g_get_monotonic_time (), on_msg, g);
      const char *e = agent_link_get_last_error (g->link);
      if (e)
        g_test_message ("agent line rejected: %s", e);
    }
}

char *
test_guest_console (TestGuest *g)
{
  char *text = NULL;
  if (!g_file_get_contents (g->log_path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

char *
test_guest_wait_console (TestGuest *g, const char *needle, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      g_autofree char *text = test_guest_console (g);
      const char *hit = strstr (text, needle);
      if (hit)
        {
          const char *start = hit;
          while (start > text && start[-1] != '\n')
            start--;
          const char *end = strchr (hit, '\n');
          return end ? g_strndup (start, (gsize) (end - start)) : g_strdup (start);
        }
      if (g_get_monotonic_time () >= deadline)
        return NULL;
      g_usleep (100 * 1000);
    }
}

gint64
test_bload_field (const char *line, const char *key)
{
  g_autofree char *pat = g_strdup_printf (" %s=", key);
  const char *p = strstr (line, pat); /* every key follows a space */
  if (!p)
    return -1;
  return g_ascii_strtoll (p + strlen (pat), NULL, 10);
}

guint64
test_ws_anon_upto (const AgentReport *r, guint64 max_age_ms)
{
  guint64 sum = 0;
  for (guint i = 0; i < r->n_bins; i++)
    if (r->bins[i].age_ms != 0 && r->bins[i].age_ms <= max_age_ms)
      sum += r->bins[i].anon_bytes;
  return sum;
}

guint64
test_ws_anon_above (const AgentReport *r, guint64 max_age_ms)
{
  guint64 sum = 0;
  for (guint i = 0; i < r->n_bins; i++)
    if (r->bins[i].age_ms == 0 || r->bins[i].age_ms > max_age_ms)
      sum += r->bins[i].anon_bytes;
  return sum;
}
