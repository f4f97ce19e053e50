/* test-control.c: ballastd's control socket with no guests: the QMP greeting
 * and negotiation, every command, clients sending garbage or 10 MiB of junk
 * (disconnected, while a second client is served), reload with a broken file
 * (error with file, line and key; the old config keeps running), and
 * ballastctl against the live daemon. KSM is off: nothing on the host is
 * touched. */
#include <errno.h>
#include <grp.h>
#include <sys/stat.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include "ballast-config.h"
#include "daemon.h"

#define KSM_OFF "[ksm]\nmode=off\n"

static int
raw_connect (const char *path)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_strlcpy (sa.sun_path, path, sizeof sa.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  return fd;
}

/* Waits until @fd is readable or @deadline_us (monotonic) passes. */
static gboolean
wait_readable (int fd, gint64 deadline_us)
{
  gint64 left_ms = (deadline_us - g_get_monotonic_time ()) / 1000;
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return left_ms > 0 && poll (&p, 1, (int) left_ms) > 0;
}

/* Reads one line (without the newline) within @timeout_ms, or NULL. */
static char *
raw_read_line (int fd, guint timeout_ms)
{
  GString *line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      if (!wait_readable (fd, deadline))
        break;
      char c;
      if (read (fd, &c, 1) != 1)
        break;
      if (c == '\n')
        return g_string_free (line, FALSE);
      g_string_append_c (line, c);
    }
  g_string_free (line, TRUE);
  return NULL;
}

/* TRUE when the peer closes within @timeout_ms (reads and drops the rest). */
static gboolean
raw_wait_eof (int fd, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  char buf[4096];
  for (;;)
    {
      if (!wait_readable (fd, deadline))
        return FALSE;
      ssize_t n = read (fd, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno == ECONNRESET))
        return TRUE;
    }
}

static void
raw_send (int fd, const char *text)
{
  g_assert_cmpint (write (fd, text, strlen (text)), ==, (gssize) strlen (text));
}

static TestDaemon *
start_daemon (const char *extra_conf)
{
  g_autoptr (GError) error = NULL;
  TestDaemon *d = test_daemon_new (extra_conf, &error);
  g_assert_no_error (error);
  g_assert_true (test_daemon_start (d, NULL, &error));
  g_assert_no_error (error);
  return d;
}

static void
test_greeting (void)
{
  /* "daemon" is a system group on every Debian install. */
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF "[daemon]\ncontrol-group=daemon\n");
  struct stat sock_st;
  g_assert_cmpint (stat (d->sock_path, &sock_st), ==, 0);
  g_assert_cmpint (sock_st.st_mode & 0777, ==, 0660);
  struct group *gr = getgrnam ("daemon");
  g_assert_nonnull (gr);
  g_assert_cmpint (sock_st.st_gid, ==, gr->gr_gid);
  int fd = raw_connect (d->sock_path);
  g_autofree char *greeting = raw_read_line (fd, 5000);
  g_assert_nonnull (greeting);
  json_t *g = json_loads (greeting, 0, NULL);
  g_assert_nonnull (g);
  json_t *qmp = json_object_get (g, "QMP");
  g_assert_true (json_is_object (qmp));
  g_assert_true (json_is_object (json_object_get (qmp, "version")));
  g_assert_true (json_is_array (json_object_get (qmp, "capabilities")));
  json_decref (g);

  /* Commands before negotiation are refused, as QEMU does. */
  raw_send (fd, "{\"execute\":\"query-status\",\"id\":1}\n");
  g_autofree char *refused = raw_read_line (fd, 5000);
  g_assert_nonnull (refused);
  g_assert_nonnull (strstr (refused, "\"error\""));
  g_assert_nonnull (strstr (refused, "CommandNotFound"));

  raw_send (fd, "{\"execute\":\"qmp_capabilities\",\"id\":\"n\"}\n");
  g_autofree char *ok = raw_read_line (fd, 5000);
  g_assert_nonnull (ok);
  g_assert_nonnull (strstr (ok, "\"return\""));
  g_assert_nonnull (strstr (ok, "\"n\""));
  raw_send (fd, "{\"execute\":\"query-status\",\"id\":2}\n");
  g_autofree char *st = raw_read_line (fd, 5000);
  g_assert_nonnull (st);
  g_assert_nonnull (strstr (st, "\"uptime_ms\""));
  close (fd);
}

static void
assert_keys (json_t *o, const char *const *keys)
{
  for (gsize i = 0; keys[i]; i++)
    if (json_object_get (o, keys[i]) == NULL)
      g_error ("no '%s' in %s", keys[i], json_dumps (o, JSON_COMPACT));
}

static void
assert_cmd_fails (TestDaemon *d, const char *command, json_t *args, const char *needle)
{
  g_autoptr (GError) error = NULL;
  json_t *ret = qmp_sync_execute (d->ctl, command, args, &error);
  g_assert_null (ret);
  g_assert_error (error, QMP_ERROR, QMP_ERROR_COMMAND);
  if (needle && !strstr (error->message, needle))
    g_error ("%s: error '%s' lacks '%s'", command, error->message, needle);
}

static void
test_commands (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);

  json_t *st = test_daemon_cmd (d, "query-status", NULL);
  assert_keys (st, (const char *[]){ "version", "uptime_ms", "dry_run", "vm_count", "tick_ms",
                                     "host", NULL });
  assert_keys (json_object_get (st, "host"),
               (const char *[]){ "total_bytes", "available_bytes", "reserve_bytes", "budget_bytes",
                                 "psi_some_avg10", NULL });
  g_assert_cmpstr (json_string_value (json_object_get (st, "version")), ==, BALLAST_VERSION);
  g_assert_cmpstr (json_string_value (json_object_get (st, "policy")), ==, "ballast");
  g_assert_cmpint (test_json_int (st, "vm_count"), ==, 0);
  g_assert_cmpint (test_json_int (json_object_get (st, "host"), "total_bytes"), >, 0);
  json_decref (st);

  json_t *vms = test_daemon_cmd (d, "query-vms", NULL);
  g_assert_true (json_is_array (vms));
  g_assert_cmpint (json_array_size (vms), ==, 0);
  json_decref (vms);

  json_t *ksm = test_daemon_cmd (d, "query-ksm", NULL);
  assert_keys (ksm, (const char *[]){ "state", "mode", "run", "pages_to_scan", "sleep_millisecs",
                                      "pages_sharing", "pages_shared", "full_scans", "saved_bytes",
                                      "ksmd_cpu_pct", "last_reason", NULL });
  g_assert_cmpstr (json_string_value (json_object_get (ksm, "mode")), ==, "off");
  json_decref (ksm);

  json_decref (test_daemon_cmd (d, "kick", json_pack ("{s:s}", "event", "CREATED")));
  json_decref (test_daemon_cmd (d, "register-source", json_pack ("{s:s}", "name", "hook")));
  json_decref (
      test_daemon_cmd (d, "vm-event", json_pack ("{s:s,s:s}", "vm", "web1", "type", "DESTROYED")));
  json_t *dec = test_daemon_cmd (d, "query-decisions", json_pack ("{s:i}", "limit", 10));
  g_assert_cmpint (json_array_size (dec), >=, 2);
  json_t *last = json_array_get (dec, json_array_size (dec) - 1);
  assert_keys (last, (const char *[]){ "time_ms", "vm", "old_target_bytes", "new_target_bytes",
                                       "reason", NULL });
  g_assert_cmpstr (json_string_value (json_object_get (last, "reason")), ==, "kick:DESTROYED");
  g_assert_cmpstr (json_string_value (json_object_get (last, "vm")), ==, "web1");
  /* A kick sets no target: none is shown (not "0 bytes"). */
  g_assert_true (json_is_null (json_object_get (last, "new_target_bytes")));
  g_assert_true (json_is_null (json_object_get (last, "applied")));
  json_decref (dec);

  json_t *dr = test_daemon_cmd (d, "set-dry-run", json_pack ("{s:b}", "enabled", 1));
  json_decref (dr);
  st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_true (json_is_true (json_object_get (st, "dry_run")));
  json_decref (st);
  json_decref (test_daemon_cmd (d, "set-dry-run", json_pack ("{s:b}", "enabled", 0)));
  json_decref (test_daemon_cmd (d, "reload-config", NULL));

  /* Bad arguments: clear errors, and the daemon keeps answering. */
  assert_cmd_fails (d, "query-vm", json_pack ("{s:s}", "name", "nope"), "nope");
  assert_cmd_fails (d, "set-policy", json_pack ("{s:s,s:s}", "name", "nope", "min", "1G"), "nope");
  assert_cmd_fails (d, "kick", json_pack ("{s:s}", "event", "EXPLODED"), "EXPLODED");
  assert_cmd_fails (d, "kick", json_pack ("{s:s}", "name", "nosuch"), "no VM named 'nosuch'");
  assert_cmd_fails (d, "kick", json_pack ("{s:i}", "event", 3), NULL);
  assert_cmd_fails (d, "set-dry-run", json_pack ("{s:s}", "enabled", "yes"), "enabled");
  assert_cmd_fails (d, "query-decisions", json_pack ("{s:i}", "limit", -1), "limit");
  assert_cmd_fails (d, "vm-event", json_pack ("{s:s}", "vm", "x"), "type");
  assert_cmd_fails (d, "no-such-command", NULL, "no-such-command");
  json_decref (test_daemon_cmd (d, "query-status", NULL));
}

/* Garbage and a 10 MiB line without a newline: each such client is
 * disconnected, and a negotiated client keeps its answers meanwhile. */
static void
test_hostile_clients (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);

  int bad = raw_connect (d->sock_path);
  g_free (raw_read_line (bad, 5000));
  raw_send (bad, "this is not json\n");
  g_autofree char *err = raw_read_line (bad, 5000);
  g_assert_nonnull (err);
  g_assert_nonnull (strstr (err, "\"error\""));
  g_assert_true (raw_wait_eof (bad, 5000));
  close (bad);
  json_decref (test_daemon_cmd (d, "query-status", NULL));

  int junk = raw_connect (d->sock_path);
  g_free (raw_read_line (junk, 5000));
  gsize chunk_bytes = 64 * 1024, total_bytes = 10 * 1024 * 1024, sent_bytes = 0;
  g_autofree char *chunk = g_malloc (chunk_bytes);
  memset (chunk, 'x', chunk_bytes);
  gint64 t0 = g_get_monotonic_time ();
  while (sent_bytes < total_bytes)
    {
      ssize_t n = send (junk, chunk, chunk_bytes, MSG_NOSIGNAL);
      if (n < 0)
        break; /* disconnected mid-way: what we want */
      sent_bytes += (gsize) n;
      /* The other client is served while the junk arrives. */
      if (sent_bytes % (1024 * 1024) == 0)
        json_decref (test_daemon_cmd (d, "query-vms", NULL));
    }
  g_test_message ("junk client: %" G_GSIZE_FORMAT
                  " bytes accepted before the cut, %" G_GINT64_FORMAT " ms",
                  sent_bytes, (g_get_monotonic_time () - t0) / 1000);
  g_assert_true (raw_wait_eof (junk, 5000));
  close (junk);
  json_t *st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_cmpint (test_json_int (st, "uptime_ms"), >, 0);
  json_decref (st);
}

/* A client that sends thousands of commands and reads nothing for a while,
 * then reads: every line it gets is whole JSON (replies are never written
 * from a buffer that moved), or it is cut off at the queue limit. */
static void
test_unread_replies (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);
  int fd = raw_connect (d->sock_path);
  g_free (raw_read_line (fd, 5000));
  raw_send (fd, "{\"execute\":\"qmp_capabilities\"}\n");
  g_free (raw_read_line (fd, 5000));
  GString *burst = g_string_new (NULL);
  for (int i = 0; i < 4000; i++)
    g_string_append_printf (burst, "{\"execute\":\"query-ksm\",\"id\":%d}\n", i);
  gsize off = 0;
  while (off < burst->len)
    {
      ssize_t n = send (fd, burst->str + off, burst->len - off, MSG_NOSIGNAL);
      if (n <= 0)
        break;
      off += (gsize) n;
    }
  g_string_free (burst, TRUE);
  g_usleep (500 * 1000);
  json_decref (test_daemon_cmd (d, "query-status", NULL)); /* others still served */
  guint n_lines = 0;
  char *line;
  while ((line = raw_read_line (fd, 2000)) != NULL)
    {
      json_error_t jerr;
      json_t *o = json_loads (line, 0, &jerr);
      if (o == NULL)
        g_error ("reply %u is not JSON (%s): %.80s", n_lines, jerr.text, line);
      json_decref (o);
      g_free (line);
      n_lines++;
    }
  g_test_message ("%u whole replies read back", n_lines);
  g_assert_cmpuint (n_lines, >, 0);
  close (fd);
  json_decref (test_daemon_cmd (d, "query-status", NULL));
}

/* Past 64 clients new connections are closed at once (one warning), and
 * the existing ones keep working. */
static void
test_client_limit (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);
  int fds[80];
  guint refused = 0;
  for (int i = 0; i < 80; i++)
    {
      fds[i] = raw_connect (d->sock_path);
      g_autofree char *greeting = raw_read_line (fds[i], 2000);
      if (greeting == NULL)
        refused++;
    }
  g_test_message ("%u of 80 extra connections refused", refused);
  g_assert_cmpuint (refused, >=, 80 - 64 + 1);
  json_decref (test_daemon_cmd (d, "query-status", NULL));
  g_assert_cmpuint (test_daemon_log_count (d, "refusing more"), ==, 1);
  for (int i = 0; i < 80; i++)
    close (fds[i]);
  g_usleep (200 * 1000);
  int again = raw_connect (d->sock_path);
  g_autofree char *greeting = raw_read_line (again, 2000);
  g_assert_nonnull (greeting);
  close (again);
}

/* --dry-run outlives reloads; so does set-dry-run on. */
static void
test_dry_run_reload (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TestDaemon) d = test_daemon_new (KSM_OFF, &error);
  g_assert_no_error (error);
  g_assert_true (test_daemon_start (d, (const char *[]){ "--dry-run", NULL }, &error));
  g_assert_no_error (error);
  json_decref (test_daemon_cmd (d, "reload-config", NULL));
  json_t *st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_true (json_is_true (json_object_get (st, "dry_run")));
  json_decref (st);
  kill (d->pid, SIGHUP);
  g_usleep (300 * 1000);
  st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_true (json_is_true (json_object_get (st, "dry_run")));
  json_decref (st);
}

static gboolean
ksm_driving (TestDaemon *d)
{
  json_t *k = test_daemon_cmd (d, "query-ksm", NULL);
  gboolean driving = json_is_true (json_object_get (k, "driving"));
  json_decref (k);
  return driving;
}

/* KSM knobs are host-wide: of two daemons in auto mode one drives ksmd and
 * the other observes (warned once) until the first one exits. */
static void
test_ksm_single_driver (void)
{
  g_autoptr (GHashTable) ksm0 = test_ksm_snapshot ();
  g_autoptr (TestDaemon) a = start_daemon ("[ksm]\nmode=auto\n");
  g_usleep (1500 * 1000);
  g_autoptr (TestDaemon) b = start_daemon ("[ksm]\nmode=auto\n");
  g_usleep (2500 * 1000);
  g_assert_true (ksm_driving (a));
  g_assert_false (ksm_driving (b));
  g_assert_cmpuint (test_daemon_log_count (b, "another ballastd drives ksmd"), ==, 1);
  int status = test_daemon_stop (a);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  gint64 t0 = g_get_monotonic_time ();
  while (!ksm_driving (b))
    {
      g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_USEC_PER_SEC);
      g_usleep (100 * 1000);
    }
  g_assert_cmpuint (test_daemon_log_count (b, "driving ksmd"), >=, 1);
  status = test_daemon_stop (b);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autoptr (GHashTable) ksm1 = test_ksm_snapshot ();
  g_autofree char *diff = test_ksm_diff (ksm0, ksm1);
  g_assert_cmpstr (diff, ==, "");
}

static void
test_reload (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF "[daemon]\ntick-ms=700\n");
  json_t *st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_cmpint (test_json_int (st, "tick_ms"), ==, 700);
  json_decref (st);

  /* A drop-in with a bad value: the error names file, line and key. */
  g_autofree char *dropdir = g_strconcat (d->conf_path, ".d", NULL);
  g_assert_cmpint (g_mkdir (dropdir, 0700), ==, 0);
  g_autofree char *drop = g_build_filename (dropdir, "50-bad.conf", NULL);
  g_assert_true (g_file_set_contents (drop, "# comment\n[daemon]\ntick-ms=fast\n", -1, NULL));
  json_t *ret = qmp_sync_execute (d->ctl, "reload-config", NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, QMP_ERROR, QMP_ERROR_COMMAND);
  g_test_message ("reload error: %s", error->message);
  g_assert_nonnull (strstr (error->message, "50-bad.conf"));
  g_assert_nonnull (strstr (error->message, ":3"));
  g_assert_nonnull (strstr (error->message, "tick-ms"));
  g_clear_error (&error);
  st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_cmpint (test_json_int (st, "tick_ms"), ==, 700);
  json_decref (st);

  /* The same through SIGHUP: logged, old config kept, daemon alive. */
  kill (d->pid, SIGHUP);
  g_usleep (300 * 1000);
  g_assert_cmpuint (test_daemon_log_count (d, "50-bad.conf"), >=, 1);
  st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_cmpint (test_json_int (st, "tick_ms"), ==, 700);
  json_decref (st);

  /* A good file is taken. */
  g_assert_true (g_file_set_contents (drop, "[daemon]\ntick-ms=400\n", -1, NULL));
  json_decref (test_daemon_cmd (d, "reload-config", NULL));
  st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_cmpint (test_json_int (st, "tick_ms"), ==, 400);
  json_decref (st);
  g_unlink (drop);
  g_rmdir (dropdir);
}

/* Tries a reload with `qmp_dir` in a drop-in (and tick-ms=400): it must be
 * refused naming qmp-dir and `why`, the old config (tick-ms=700) running on. */
static void
assert_qmp_dir_reload_refused (TestDaemon *d, const char *qmp_dir, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dropdir = g_strconcat (d->conf_path, ".d", NULL);
  g_mkdir (dropdir, 0700);
  g_autofree char *drop = g_build_filename (dropdir, "60-qmp.conf", NULL);
  g_autofree char *text = g_strdup_printf ("[daemon]\nqmp-dir=%s\ntick-ms=400\n", qmp_dir);
  g_assert_true (g_file_set_contents (drop, text, -1, NULL));
  json_t *ret = qmp_sync_execute (d->ctl, "reload-config", NULL, &error);
  g_assert_null (ret);
  g_assert_error (error, QMP_ERROR, QMP_ERROR_COMMAND);
  g_test_message ("reload error: %s", error->message);
  g_assert_nonnull (strstr (error->message, "qmp-dir"));
  g_assert_nonnull (strstr (error->message, why));
  json_t *st = test_daemon_cmd (d, "query-status", NULL);
  g_assert_cmpint (test_json_int (st, "tick_ms"), ==, 700);
  json_decref (st);
  g_unlink (drop);
  g_rmdir (dropdir);
}

/* A reload that points qmp-dir somewhere unusable is a bad config like any
 * other: refused whole, nothing of it applied. */
static void
test_reload_bad_qmp_dir (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF "[daemon]\ntick-ms=700\n");
  /* Anyone may create sockets there: fake VMs. */
  g_autofree char *open_dir = g_build_filename (d->dir, "open-qmp", NULL);
  g_assert_cmpint (g_mkdir (open_dir, 0700), ==, 0);
  g_assert_cmpint (chmod (open_dir, 0777), ==, 0);
  assert_qmp_dir_reload_refused (d, open_dir, "writable by its group or by others");
  /* It cannot even be created (its parent is a file). */
  g_autofree char *under_file = g_build_filename (d->conf_path, "qmp", NULL);
  assert_qmp_dir_reload_refused (d, under_file, "Not a directory");
}

/* Runs ballastd --check-config on the daemon's config; returns whether it
 * accepted it, with its stderr in *err_out. */
static gboolean
check_config (TestDaemon *d, char **err_out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastd", NULL);
  const char *argv[] = { exe, "--check-config", "--config", d->conf_path, NULL };
  g_autofree char *out = NULL;
  int status;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                               err_out, &status, &error));
  g_test_message ("--check-config: %s%s", out, *err_out);
  return g_spawn_check_wait_status (status, NULL);
}

/* Runs `argv` with `input` on its stdin (NULL: none); its stdout, or NULL
 * (and why in the test log) when it fails. */
static char *
run_tool (const char *const *argv, const char *input)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p
      = g_subprocess_newv (argv,
                           G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                               | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                           &error);
  g_assert_no_error (error);
  char *out = NULL;
  g_autofree char *err = NULL;
  g_assert_true (g_subprocess_communicate_utf8 (p, input, NULL, &out, &err, &error));
  g_test_message ("%s: %s%s", argv[0], out, err);
  if (!g_subprocess_get_successful (p))
    g_clear_pointer (&out, g_free);
  return out;
}

/* QMP tools drive the control socket: a client written like qemu.qmp (no
 * newline after a command, greeting.QMP.version.qemu, ids of any type,
 * query-commands/query-version, QMP-shaped errors) and plain socat. */
static void
test_qmp_clients (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);
  g_autofree char *script = g_build_filename (BALLAST_SOURCE_ROOT, "tests", "integration",
                                              "controller", "qmp-client.py", NULL);
  g_autofree char *py = run_tool ((const char *[]){ "python3", script, d->sock_path, NULL }, NULL);
  g_assert_nonnull (py);
  g_assert_nonnull (strstr (py, "qmp-client: ok"));

  g_autofree char *socat = g_find_program_in_path ("socat");
  if (socat == NULL)
    {
      g_test_skip ("socat is not installed (scripts/packages.txt)");
      return;
    }
  g_autofree char *addr = g_strdup_printf ("UNIX-CONNECT:%s", d->sock_path);
  g_autofree char *out = run_tool ((const char *[]){ "socat", "-t", "2", "-", addr, NULL },
                                   "{\"execute\":\"qmp_capabilities\"}"
                                   "{\"execute\":\"query-status\",\"id\":{\"n\":1}}");
  g_assert_nonnull (out);
  g_assert_nonnull (strstr (out, "\"qemu\""));
  g_assert_nonnull (strstr (out, "\"uptime_ms\""));
  g_assert_nonnull (strstr (out, "\"id\":{\"n\":1}"));
}

/* --verbose turns on debug messages of every domain; without it (and
 * without G_MESSAGES_DEBUG) they stay out of the log. */
static void
test_verbose (void)
{
  g_unsetenv ("G_MESSAGES_DEBUG");
  g_autoptr (GError) error = NULL;
  g_autoptr (TestDaemon) quiet = start_daemon (KSM_OFF);
  json_decref (test_daemon_cmd (quiet, "query-status", NULL));
  g_assert_cmpuint (test_daemon_log_count (quiet, "connected"), ==, 0);

  g_autoptr (TestDaemon) d = test_daemon_new (KSM_OFF, &error);
  g_assert_no_error (error);
  g_assert_true (test_daemon_start (d, (const char *[]){ "--verbose", NULL }, &error));
  g_assert_no_error (error);
  json_decref (test_daemon_cmd (d, "query-status", NULL));
  g_assert_cmpuint (test_daemon_log_count (d, "connected"), >, 0);
}

/* A control socket placed inside the qmp-dir ("control.sock" looks like a
 * VM's) is never adopted as a VM. */
static void
test_own_socket_in_qmp_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TestDaemon) d = test_daemon_new (KSM_OFF, &error);
  g_assert_no_error (error);
  g_free (d->sock_path);
  d->sock_path = g_build_filename (d->qmp_dir, "control.sock", NULL);
  g_autofree char *conf = g_strdup_printf ("[daemon]\ncontrol-socket=%s\nqmp-dir=%s\n" KSM_OFF,
                                           d->sock_path, d->qmp_dir);
  g_assert_true (g_file_set_contents (d->conf_path, conf, -1, NULL));
  g_assert_true (test_daemon_start (d, NULL, &error));
  g_assert_no_error (error);
  json_decref (test_daemon_cmd (d, "reload-config", NULL)); /* a rescan of the directory */
  g_usleep (1500 * 1000);                                   /* a tick or more */
  json_t *vms = test_daemon_cmd (d, "query-vms", NULL);
  g_assert_cmpint (json_array_size (vms), ==, 0);
  json_decref (vms);
}

/* --check-config exits 0 on a good file and 1 with file:line on a bad one. */
static void
test_check_config (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TestDaemon) d = test_daemon_new (KSM_OFF "[host]\nmode=sideways\n", &error);
  g_assert_no_error (error);
  g_autofree char *err = NULL;
  g_assert_false (check_config (d, &err));
  g_assert_nonnull (strstr (err, "ballast.conf"));
  g_assert_nonnull (strstr (err, "mode"));

  /* The balloon policy is selectable for comparisons, from a fixed list. */
  g_assert_true (g_file_set_contents (d->conf_path, "[daemon]\npolicy=random\n", -1, NULL));
  g_clear_pointer (&err, g_free);
  g_assert_false (check_config (d, &err));
  g_assert_nonnull (strstr (err, "expected ballast, mom or proxmox"));
  g_assert_true (g_file_set_contents (d->conf_path, "[daemon]\npolicy=mom\n", -1, NULL));
  g_clear_pointer (&err, g_free);
  g_assert_true (check_config (d, &err));

  /* Without --config and no file at the default path: not "OK" as if one
   * was read. */
  if (g_file_test ("/etc/ballast/ballast.conf", G_FILE_TEST_EXISTS))
    return;
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastd", NULL);
  const char *argv[] = { exe, "--check-config", NULL };
  g_autofree char *out = NULL;
  int status;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &status, &error));
  g_test_message ("--check-config without a file: %s", out);
  g_assert_null (strstr (out, "OK"));
  g_assert_nonnull (strstr (out, "not found"));
}

static char *
run_ctl (TestDaemon *d, const char *const *args)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastctl", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, exe);
  g_ptr_array_add (argv, (gpointer) "--socket");
  g_ptr_array_add (argv, d->sock_path);
  for (gsize i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  char *out = NULL;
  g_autofree char *err = NULL;
  int status;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                               &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("ballastctl %s failed: %s", args[0], err);
  return out;
}

static void
test_ballastctl (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);
  g_autofree char *status = run_ctl (d, (const char *[]){ "status", NULL });
  g_test_message ("%s", status);
  g_assert_nonnull (strstr (status, BALLAST_VERSION));
  g_assert_nonnull (strstr (status, "GiB"));
  g_autofree char *ksm = run_ctl (d, (const char *[]){ "ksm", NULL });
  g_assert_nonnull (strstr (ksm, "off"));
  g_autofree char *js = run_ctl (d, (const char *[]){ "--json", "status", NULL });
  json_t *o = json_loads (js, 0, NULL);
  g_assert_nonnull (o);
  g_assert_nonnull (json_object_get (o, "uptime_ms"));
  json_decref (o);
  g_free (run_ctl (d, (const char *[]){ "kick", NULL }));
  g_free (run_ctl (d, (const char *[]){ "dry-run", "on", NULL }));
  g_free (run_ctl (d, (const char *[]){ "reload", NULL }));
  g_autofree char *dec = run_ctl (d, (const char *[]){ "decisions", NULL });
  g_assert_nonnull (strstr (dec, "kick:operator"));
}

/* Runs ballastctl with `args`; its exit status, stdout and stderr. */
static int
ctl_full (const char *sock, const char *const *args, char **out, char **err)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastctl", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, exe);
  g_ptr_array_add (argv, (gpointer) "--socket");
  g_ptr_array_add (argv, (gpointer) sock);
  for (gsize i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  int status;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                               err, &status, &error));
  g_test_message ("ballastctl %s -> %d: %s%s", args[0], status, *out, *err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* ctl_full into `out` and `err`, freeing what they held. */
static int
ctl_again (const char *sock, const char *const *args, char **out, char **err)
{
  g_clear_pointer (out, g_free);
  g_clear_pointer (err, g_free);
  return ctl_full (sock, args, out, err);
}

/* An error is one line that names the command once. */
static void
assert_one_line_error (const char *err, const char *command, const char *needle)
{
  g_assert_nonnull (strstr (err, needle));
  g_assert_nonnull (strchr (err, '\n'));
  g_assert_cmpstr (strchr (err, '\n') + 1, ==, "");
  if (command != NULL)
    {
      g_autofree char *prefix = g_strdup_printf ("ballastctl: %s: ", command);
      g_assert_true (g_str_has_prefix (err, prefix));
      g_assert_null (strstr (err + strlen (prefix), command));
    }
}

/* What an operator meets first: --help, typos, errors, no daemon, tables. */
static void
test_ballastctl_errors (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (ctl_full (d->sock_path, (const char *[]){ "--help", NULL }, &out, &err), ==, 0);
  static const char *const all[] = { "status", "vms",    "vm",      "ksm",    "decisions", "kick",
                                     "set",    "reload", "dry-run", "events", "top" };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    {
      g_autofree char *line = g_strdup_printf ("\n  %s ", all[i]);
      g_assert_nonnull (strstr (out, line));
    }
#define AGAIN(sock, ...) ctl_again (sock, __VA_ARGS__, &out, &err)
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "bogus", NULL }), ==, 2);
  assert_one_line_error (err, NULL, "unknown command 'bogus'");
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "kick", "nosuch", NULL }), ==, 1);
  assert_one_line_error (err, "kick", "no VM named 'nosuch'");
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "vm", "nosuch", NULL }), ==, 1);
  assert_one_line_error (err, "vm", "no VM named 'nosuch'");
  g_assert_null (strstr (err, "DeviceNotFound"));
  g_assert_null (strstr (err, "query-vm"));
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "decisions", "abc", NULL }), ==, 2);
  assert_one_line_error (err, "decisions", "'abc'");
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "set", "x", "shares=abc", NULL }), ==, 1);
  assert_one_line_error (err, "set", "no VM named 'x'");
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "-o", "NAME,BOGUS", "vms", NULL }), ==,
                   2);
  assert_one_line_error (err, "vms", "unknown column 'BOGUS'");
  g_assert_cmpint (AGAIN ("/nonexistent/control.sock", (const char *[]){ "status", NULL }), ==, 1);
  assert_one_line_error (err, "status", "is ballastd running?");

  /* Tables: -J is JSON keyed like lsblk's, -n drops the header, -o picks. */
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "kick", NULL }), ==, 0);
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "-J", "decisions", NULL }), ==, 0);
  json_t *j = json_loads (out, 0, NULL);
  g_assert_nonnull (j);
  json_t *row = json_array_get (json_object_get (j, "decisions"), 0);
  g_assert_cmpstr (json_string_value (json_object_get (row, "reason")), ==, "kick:operator");
  g_assert_true (json_is_null (json_object_get (row, "new")));
  json_decref (j);
  g_assert_cmpint (
      AGAIN (d->sock_path, (const char *[]){ "-n", "-o", "REASON,NEW", "decisions", NULL }), ==, 0);
  g_assert_true (g_str_has_prefix (out, "kick:operator"));
  g_assert_null (strstr (out, "0 bytes"));
  g_assert_cmpint (AGAIN (d->sock_path, (const char *[]){ "decisions", NULL }), ==, 0);
  g_assert_nonnull (strstr (out, "APPLIED"));
#undef AGAIN
}

/* A fake QEMU (tests/integration/controller/fake-qemu.py) at qmp-dir/NAME.qmp. */
static GSubprocess *
fake_qemu_start (TestDaemon *d, const char *name, const char *ram_mib)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *script = g_build_filename (BALLAST_SOURCE_ROOT, "tests", "integration",
                                              "controller", "fake-qemu.py", NULL);
  g_autofree char *base = g_strconcat (name, ".qmp", NULL);
  g_autofree char *path = g_build_filename (d->qmp_dir, base, NULL);
  GSubprocess *p
      = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "python3", script, path, ram_mib, NULL);
  g_assert_no_error (error);
  return p;
}

static void
fake_qemu_stop (GSubprocess *p)
{
  g_subprocess_force_exit (p);
  g_subprocess_wait (p, NULL, NULL);
  g_object_unref (p);
}

/* ballastctl events --json prints a decision within 2 s of the daemon
 * making it; mode=fixed drives the balloon to its target and says so. */
static void
test_ballastctl_events (void)
{
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF "[vm web1]\nmode=fixed\ntarget=1G\n");
  g_autoptr (GError) error = NULL;
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastctl", NULL);
  g_autoptr (GSubprocess) ev
      = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                          &error, exe, "--socket", d->sock_path, "events", "--json", NULL);
  g_assert_no_error (error);
  int fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (ev)));
  g_usleep (500 * 1000); /* connected and negotiated */
  GSubprocess *qemu = fake_qemu_start (d, "web1", "2048");

  gboolean seen = FALSE;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!seen && g_get_monotonic_time () < deadline)
    {
      g_autofree char *line = raw_read_line (fd, 10000);
      g_assert_nonnull (line);
      gint64 now_us = g_get_real_time ();
      json_t *e = json_loads (line, 0, NULL);
      g_assert_nonnull (e);
      json_t *data = json_object_get (e, "data");
      if (g_str_equal (json_string_value (json_object_get (e, "event")), "BALLAST_DECISION"))
        {
          json_t *ts = json_object_get (e, "timestamp");
          gint64 at_us
              = test_json_int (ts, "seconds") * G_USEC_PER_SEC + test_json_int (ts, "microseconds");
          g_test_message ("decision shown %" G_GINT64_FORMAT " ms after it was made: %s",
                          (now_us - at_us) / 1000, line);
          g_assert_cmpint (now_us - at_us, <, 2 * G_USEC_PER_SEC);
          g_assert_cmpstr (json_string_value (json_object_get (data, "vm")), ==, "web1");
          g_assert_cmpstr (json_string_value (json_object_get (data, "reason")), ==, "mode:fixed");
          g_assert_cmpint (test_json_int (data, "new_target_bytes"), ==, 1024 * 1024 * 1024);
          g_assert_true (json_is_true (json_object_get (data, "applied")));
          seen = TRUE;
        }
      json_decref (e);
    }
  g_assert_true (seen);
  /* The balloon gets there (the fake QEMU moves at once). */
  gint64 actual = 0;
  for (int i = 0; i < 50 && actual != 1024 * 1024 * 1024; i++, g_usleep (100 * 1000))
    {
      json_t *vm = test_daemon_vm (d, "web1");
      actual = test_json_int (vm, "actual_bytes");
      json_decref (vm);
    }
  g_assert_cmpint (actual, ==, 1024 * 1024 * 1024);
  g_subprocess_force_exit (ev);
  fake_qemu_stop (qemu);
}

/* Runs tmux on its own server (`-L`), returns its stdout (NULL on failure). */
static char *
tmux (const char *server, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) "tmux");
  g_ptr_array_add (argv, (gpointer) "-L");
  g_ptr_array_add (argv, (gpointer) server);
  for (gsize i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  char *out = NULL;
  int status;
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                     &status, NULL)
      || !g_spawn_check_wait_status (status, NULL))
    g_clear_pointer (&out, g_free);
  return out;
}

/* The pane's text once it holds `needle` (within 5 s), or NULL. */
static char *
tmux_wait_for (const char *server, const char *needle)
{
  for (int i = 0; i < 50; i++, g_usleep (100 * 1000))
    {
      char *screen = tmux (server, (const char *[]){ "capture-pane", "-p", "-t", "top", NULL });
      if (screen != NULL && strstr (screen, needle) != NULL)
        return screen;
      if (i == 49)
        g_test_message ("pane without '%s':\n%s", needle, screen ? screen : "(none)");
      g_free (screen);
    }
  return NULL;
}

/* ballastctl top in a real terminal (tmux): host, VM, KSM and decision
 * lines; s changes the sort column, p pauses, q quits. */
static void
test_ballastctl_top (void)
{
  g_autofree char *tmux_path = g_find_program_in_path ("tmux");
  if (tmux_path == NULL)
    {
      g_test_skip ("tmux is not installed (scripts/packages.txt)");
      return;
    }
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF "[vm web1]\nmode=fixed\ntarget=1G\n");
  GSubprocess *qemu = fake_qemu_start (d, "web1", "2048");
  g_autofree char *exe = g_build_filename (BALLAST_BUILD_ROOT, "controller", "ballastctl", NULL);
  g_autofree char *cmd = g_strdup_printf ("%s --socket %s top --delay 0.3", exe, d->sock_path);
  g_autofree char *server = g_strdup_printf ("ballast-test-%d", (int) getpid ());
  g_setenv ("TERM", "xterm", FALSE);
  g_free (tmux (server, (const char *[]){ "new-session", "-d", "-s", "top", "-x", "160", "-y", "40",
                                          cmd, NULL }));
  g_autofree char *screen = tmux_wait_for (server, "mode:fixed");
  g_assert_nonnull (screen);
  g_test_message ("top:\n%s", screen);
  for (const char *const *n = (const char *[]){ "ballastd", "Host", "budget", "KSM", "web1",
                                                "Last decisions", "sort: NAME", NULL };
       *n; n++)
    g_assert_nonnull (strstr (screen, *n));
  g_free (tmux (server, (const char *[]){ "send-keys", "-t", "top", "s", NULL }));
  g_autofree char *sorted = tmux_wait_for (server, "sort: STATE");
  g_assert_nonnull (sorted);
  g_free (tmux (server, (const char *[]){ "send-keys", "-t", "top", "p", NULL }));
  g_autofree char *paused = tmux_wait_for (server, "[paused]");
  g_assert_nonnull (paused);
  g_free (tmux (server, (const char *[]){ "send-keys", "-t", "top", "q", NULL }));
  gboolean gone = FALSE;
  for (int i = 0; i < 50 && !gone; i++, g_usleep (100 * 1000))
    {
      g_autofree char *has = tmux (server, (const char *[]){ "has-session", "-t", "top", NULL });
      gone = has == NULL;
    }
  g_assert_true (gone);
  g_free (tmux (server, (const char *[]){ "kill-server", NULL }));
  fake_qemu_stop (qemu);
}

/* Waits for a datagram containing @needle on @fd; returns it or NULL. */
static char *
notify_wait (int fd, const char *needle, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  char buf[4096];
  for (;;)
    {
      if (!wait_readable (fd, deadline))
        return NULL;
      ssize_t n = recv (fd, buf, sizeof buf - 1, 0);
      if (n <= 0)
        continue;
      buf[n] = '\0';
      if (strstr (buf, needle))
        return g_strdup (buf);
    }
}

/* Type=notify: READY once the socket listens, WATCHDOG with STATUS at half
 * the watchdog period, RELOADING/READY around SIGHUP, STOPPING on SIGTERM. */
static void
test_sd_notify (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ballast-notify-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "notify", NULL);
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_strlcpy (sa.sun_path, path, sizeof sa.sun_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_setenv ("NOTIFY_SOCKET", path, TRUE);
  g_setenv ("WATCHDOG_USEC", "400000", TRUE);
  g_autoptr (TestDaemon) d = start_daemon (KSM_OFF);
  g_unsetenv ("NOTIFY_SOCKET");
  g_unsetenv ("WATCHDOG_USEC");

  g_autofree char *ready = notify_wait (fd, "READY=1", 5000);
  g_assert_nonnull (ready);
  g_autofree char *wd = notify_wait (fd, "WATCHDOG=1", 2000);
  g_assert_nonnull (wd);
  g_test_message ("watchdog datagram: %s", wd);
  g_assert_nonnull (strstr (wd, "STATUS="));
  kill (d->pid, SIGHUP);
  g_autofree char *reloading = notify_wait (fd, "RELOADING=1", 5000);
  g_assert_nonnull (reloading);
  g_autofree char *ready2 = notify_wait (fd, "READY=1", 5000);
  g_assert_nonnull (ready2);
  int status = test_daemon_stop (d);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autofree char *stopping = notify_wait (fd, "STOPPING=1", 5000);
  g_assert_nonnull (stopping);
  close (fd);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/control/greeting", test_greeting);
  g_test_add_func ("/control/qmp-clients", test_qmp_clients);
  g_test_add_func ("/control/verbose", test_verbose);
  g_test_add_func ("/control/commands", test_commands);
  g_test_add_func ("/control/hostile-clients", test_hostile_clients);
  g_test_add_func ("/control/reload", test_reload);
  g_test_add_func ("/control/reload-bad-qmp-dir", test_reload_bad_qmp_dir);
  g_test_add_func ("/control/unread-replies", test_unread_replies);
  g_test_add_func ("/control/client-limit", test_client_limit);
  g_test_add_func ("/control/dry-run-reload", test_dry_run_reload);
  g_test_add_func ("/control/ksm-single-driver", test_ksm_single_driver);
  g_test_add_func ("/control/check-config", test_check_config);
  g_test_add_func ("/control/own-socket-in-qmp-dir", test_own_socket_in_qmp_dir);
  g_test_add_func ("/control/ballastctl", test_ballastctl);
  g_test_add_func ("/control/ballastctl-errors", test_ballastctl_errors);
  g_test_add_func ("/control/ballastctl-events", test_ballastctl_events);
  g_test_add_func ("/control/ballastctl-top", test_ballastctl_top);
  g_test_add_func ("/control/sd-notify", test_sd_notify);
  return g_test_run ();
}
