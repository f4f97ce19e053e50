/* test-sockets.c: what ballastd trusts on its sockets, in process: the
 * control socket's timeouts, root's reserved slots, the read-only socket and
 * group access (as real non-root users); the qmp-dir's ownership rule, its
 * sockets reached through the opened directory; the agent's peer check. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "vm-agent.h"
#include "vmdir.h"

/* Users and group the group-access test creates (and removes). */
#define T_GROUP "bltest-ctl"
#define T_USER_IN "bltest-in"
#define T_USER_OUT "bltest-out"

/* ---- a client driven from the test while the server runs in process ------ */

/* Runs the main context until `fd` is readable or `timeout_ms` passes. */
static gboolean
pump_readable (int fd, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (g_get_monotonic_time () < deadline)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      struct pollfd p = { .fd = fd, .events = POLLIN };
      if (poll (&p, 1, 5) > 0)
        return TRUE;
    }
  return FALSE;
}

/* One line without its newline; NULL on EOF or timeout (*eof tells which). */
static char *
read_line (int fd, guint timeout_ms, gboolean *eof)
{
  g_autoptr (GString) line = g_string_new (NULL);
  *eof = FALSE;
  for (;;)
    {
      if (!pump_readable (fd, timeout_ms))
        return NULL;
      char c;
      ssize_t n = read (fd, &c, 1);
      if (n <= 0)
        {
          *eof = TRUE;
          return NULL;
        }
      if (c == '\n')
        return g_strdup (line->str);
      g_string_append_c (line, c);
    }
}

static int
connect_unix (const char *path)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_assert_cmpuint (strlen (path), <, sizeof sa.sun_path);
  strcpy (sa.sun_path, path);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      close (fd);
      errno = e;
      return -1;
    }
  return fd;
}

static void
send_text (int fd, const char *text)
{
  g_assert_cmpint (write (fd, text, strlen (text)), ==, (gssize) strlen (text));
}

/* Connects, reads the greeting and negotiates. */
static int
client_negotiated (const char *path)
{
  int fd = connect_unix (path);
  g_assert_cmpint (fd, >=, 0);
  gboolean eof;
  g_autofree char *greeting = read_line (fd, 2000, &eof);
  g_assert_nonnull (greeting);
  send_text (fd, "{\"execute\":\"qmp_capabilities\"}\n");
  g_autofree char *ok = read_line (fd, 2000, &eof);
  g_assert_nonnull (strstr (ok, "\"return\""));
  return fd;
}

/* The reply line to `command`. */
static char *
client_run (int fd, const char *command)
{
  g_autofree char *line = g_strdup_printf ("{\"execute\":\"%s\"}\n", command);
  send_text (fd, line);
  gboolean eof;
  char *reply = read_line (fd, 2000, &eof);
  g_assert_nonnull (reply);
  return reply;
}

/* ---- a server with one query and one changing command --------------------- */

static json_t *
cmd_query_thing (gpointer data, json_t *args, GError **error)
{
  return json_pack ("{s:i}", "changes", *(int *) data);
}

static json_t *
cmd_set_thing (gpointer data, json_t *args, GError **error)
{
  (*(int *) data)++;
  return json_object ();
}

static const CtlCommand test_commands[] = {
  { "query-thing", cmd_query_thing },
  { "set-thing", cmd_set_thing },
};

static CtlServer *
server_new (const char *path, const char *group, int *changes)
{
  g_autoptr (GError) error = NULL;
  CtlServer *s
      = ctl_server_new (path, group, test_commands, G_N_ELEMENTS (test_commands), changes, &error);
  g_assert_no_error (error);
  return s;
}

static char *
temp_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("ballast-sockets-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const char *dir)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  g_assert_cmpint (system (cmd), ==, 0);
}

/* ---- control socket -------------------------------------------------------- */

static void
test_read_only_socket (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *path = g_build_filename (dir, "control.sock", NULL);
  g_autofree char *ro_path = g_build_filename (dir, "status.sock", NULL);
  int changes = 0;
  CtlServer *s = server_new (path, NULL, &changes);
  g_autoptr (GError) error = NULL;
  g_assert_true (ctl_server_add_read_only (s, ro_path, NULL, &error));
  g_assert_no_error (error);
  struct stat st;
  g_assert_cmpint (stat (ro_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0660);

  int ro = client_negotiated (ro_path);
  g_autofree char *q = client_run (ro, "query-thing");
  g_assert_nonnull (strstr (q, "\"changes\":0"));
  g_autofree char *refused = client_run (ro, "set-thing");
  g_assert_nonnull (strstr (refused, "GenericError"));
  g_assert_nonnull (strstr (refused, "read-only"));
  g_assert_cmpint (changes, ==, 0);

  int rw = client_negotiated (path);
  g_autofree char *done = client_run (rw, "set-thing");
  g_assert_nonnull (strstr (done, "\"return\""));
  g_assert_cmpint (changes, ==, 1);

  /* Both kinds of client get the events. */
  ctl_server_emit (s, "THING", NULL);
  gboolean eof;
  g_autofree char *ev1 = read_line (ro, 2000, &eof);
  g_autofree char *ev2 = read_line (rw, 2000, &eof);
  g_assert_nonnull (strstr (ev1, "THING"));
  g_assert_nonnull (strstr (ev2, "THING"));
  close (ro);
  close (rw);
  ctl_server_free (s);
  g_assert_false (g_file_test (ro_path, G_FILE_TEST_EXISTS));
  remove_tree (dir);
}

static void
test_idle_timeouts (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *path = g_build_filename (dir, "control.sock", NULL);
  int changes = 0;
  CtlServer *s = server_new (path, NULL, &changes);
  ctl_server_set_limits (s, 64, 4, 600, 400);

  /* Never negotiates, but keeps sending blanks: cut off at the handshake
   * deadline all the same. */
  int mute = connect_unix (path);
  gboolean eof;
  g_autofree char *greeting = read_line (mute, 2000, &eof);
  g_assert_nonnull (greeting);
  for (int i = 0; i < 3; i++)
    {
      send_text (mute, "\n");
      g_assert_false (pump_readable (mute, 100));
    }
  g_autofree char *none = read_line (mute, 2000, &eof);
  g_assert_null (none);
  g_assert_true (eof);
  close (mute);

  /* Negotiated and busy: kept past several idle periods; then idle: gone. */
  int busy = client_negotiated (path);
  for (int i = 0; i < 10; i++)
    {
      g_autofree char *r = client_run (busy, "query-thing");
      g_assert_nonnull (strstr (r, "\"return\""));
      g_usleep (100 * 1000);
    }
  g_assert_cmpuint (ctl_server_client_count (s), ==, 1);
  gint64 idle_from = g_get_monotonic_time ();
  g_autofree char *gone = read_line (busy, 3000, &eof);
  g_assert_null (gone);
  g_assert_true (eof);
  /* The server's clock started at its last read, a little before ours. */
  g_assert_cmpint (g_get_monotonic_time () - idle_from, >=, 250 * 1000);
  close (busy);
  g_assert_cmpuint (ctl_server_client_count (s), ==, 0);
  ctl_server_free (s);
  remove_tree (dir);
}

/* ---- running a client as another user -------------------------------------- */

typedef int (*ChildFn) (const char *path, int report_fd, int hold_fd);

/* Runs `fn` in a child as `user` (with that user's groups) while the
 * parent's main context serves; `between` runs in the parent once the child
 * wrote one byte to its report pipe. Returns the child's exit code. */
static int
run_as_user (const char *user, const char *path, ChildFn fn, void (*between) (gpointer),
             gpointer data)
{
  struct passwd *pw = getpwnam (user);
  g_assert_nonnull (pw);
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  int report[2], hold[2];
  g_assert_cmpint (pipe2 (report, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (hold, O_CLOEXEC), ==, 0);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      close (report[0]);
      close (hold[1]);
      if (initgroups (user, gid) != 0 || setgid (gid) != 0 || setuid (uid) != 0)
        _exit (99);
      _exit (fn (path, report[1], hold[0]));
    }
  close (report[1]);
  close (hold[0]);
  if (between != NULL)
    {
      g_assert_true (pump_readable (report[0], 5000));
      char c;
      g_assert_cmpint (read (report[0], &c, 1), ==, 1);
      between (data);
    }
  close (hold[1]);
  int status = 0;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (waitpid (pid, &status, WNOHANG) == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (2000);
    }
  close (report[0]);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* Child side: TRUE when a greeting line arrives on `fd` within 2 s. */
static gboolean
child_got_greeting (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  char buf[512];
  return poll (&p, 1, 2000) > 0 && read (fd, buf, sizeof buf) > 0 && buf[0] == '{';
}

enum
{
  CHILD_GREETED = 0,
  CHILD_EACCES = 1,
  CHILD_REFUSED = 2,
  CHILD_OTHER = 3,
};

static int
child_connect_once (const char *path, int report_fd, int hold_fd)
{
  int fd = connect_unix (path);
  if (fd < 0)
    return errno == EACCES ? CHILD_EACCES : CHILD_OTHER;
  return child_got_greeting (fd) ? CHILD_GREETED : CHILD_REFUSED;
}

/* Takes every slot it can (up to 8), reports, holds them until told. */
static int
child_fill_slots (const char *path, int report_fd, int hold_fd)
{
  char served = 0;
  for (int i = 0; i < 8; i++)
    {
      int fd = connect_unix (path);
      if (fd >= 0 && child_got_greeting (fd))
        served++;
    }
  if (write (report_fd, &served, 1) != 1)
    return CHILD_OTHER;
  char c;
  (void) !read (hold_fd, &c, 1);
  return served;
}

static void
run_quiet (const char *cmd)
{
  g_autofree char *quiet = g_strdup_printf ("%s >/dev/null 2>&1", cmd);
  (void) !system (quiet);
}

static void
users_remove (void)
{
  run_quiet ("userdel " T_USER_IN);
  run_quiet ("userdel " T_USER_OUT);
  run_quiet ("groupdel " T_GROUP);
}

/* The control group, a user in it and one not; FALSE (test skipped) when
 * that cannot be done here. */
static gboolean
users_create (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("needs root to create a group and two users (useradd, groupadd)");
      return FALSE;
    }
  users_remove ();
  if (system ("groupadd " T_GROUP " >/dev/null 2>&1") != 0
      || system ("useradd -M -N -s /usr/sbin/nologin -G " T_GROUP " " T_USER_IN " >/dev/null 2>&1")
             != 0
      || system ("useradd -M -N -s /usr/sbin/nologin " T_USER_OUT " >/dev/null 2>&1") != 0)
    {
      users_remove ();
      g_test_skip ("useradd/groupadd failed");
      return FALSE;
    }
  return TRUE;
}

/* The control socket as shipped, served in process, with the test's group
 * and users: /run as a world-searchable base, /run/ballast as systemd makes
 * it (RuntimeDirectoryMode=0750, root:root). */
typedef struct
{
  char *base;
  char *path;
  int changes;
  CtlServer *server;
} GroupLab;

static GroupLab *
group_lab_new (void)
{
  if (!users_create ())
    return NULL;
  GroupLab *lab = g_new0 (GroupLab, 1);
  lab->base = temp_dir ();
  g_assert_cmpint (chmod (lab->base, 0755), ==, 0);
  g_autofree char *run = g_build_filename (lab->base, "ballast", NULL);
  g_assert_cmpint (g_mkdir (run, 0750), ==, 0);
  g_assert_cmpint (chmod (run, 0750), ==, 0);
  lab->path = g_build_filename (run, "control.sock", NULL);
  lab->server = server_new (lab->path, T_GROUP, &lab->changes);
  return lab;
}

static void
group_lab_free (GroupLab *lab)
{
  ctl_server_free (lab->server);
  remove_tree (lab->base);
  users_remove ();
  g_free (lab->base);
  g_free (lab->path);
  g_free (lab);
}

static void
test_control_group_access (void)
{
  GroupLab *lab = group_lab_new ();
  if (lab == NULL)
    return;
  g_assert_cmpint (run_as_user (T_USER_IN, lab->path, child_connect_once, NULL, NULL), ==,
                   CHILD_GREETED);
  g_assert_cmpint (run_as_user (T_USER_OUT, lab->path, child_connect_once, NULL, NULL), ==,
                   CHILD_EACCES);
  /* Nobody may list the directory: only search was added. */
  g_autofree char *run = g_path_get_dirname (lab->path);
  struct stat st;
  g_assert_cmpint (stat (run, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0007, ==, 0001);
  group_lab_free (lab);
}

typedef struct
{
  const char *path;
  gboolean root_served;
  gboolean root_refused_when_full;
} SlotCheck;

static void
root_takes_reserved (gpointer data)
{
  SlotCheck *c = data;
  int fd = connect_unix (c->path);
  g_assert_cmpint (fd, >=, 0);
  gboolean eof;
  g_autofree char *greeting = read_line (fd, 2000, &eof);
  c->root_served = greeting != NULL;
  int extra = connect_unix (c->path);
  g_autofree char *none = read_line (extra, 2000, &eof);
  c->root_refused_when_full = none == NULL && eof;
  close (extra);
  close (fd);
}

static void
test_reserved_slot (void)
{
  GroupLab *lab = group_lab_new ();
  if (lab == NULL)
    return;
  ctl_server_set_limits (lab->server, 4, 1, 10000, 10000);
  SlotCheck check = { .path = lab->path };
  g_test_expect_message ("ballast-control", G_LOG_LEVEL_WARNING, "*reserved for root*");
  g_test_expect_message ("ballast-control", G_LOG_LEVEL_WARNING, "*4 clients*refusing more");
  /* A group member takes all it can: 3 of 4; root (the libvirt hook) still
   * gets the last one; past it, even root is refused. */
  g_assert_cmpint (
      run_as_user (T_USER_IN, lab->path, child_fill_slots, root_takes_reserved, &check), ==, 3);
  g_assert_true (check.root_served);
  g_assert_true (check.root_refused_when_full);
  g_test_assert_expected_messages ();
  group_lab_free (lab);
}

/* ---- qmp-dir ------------------------------------------------------------------- */

typedef struct
{
  GHashTable *qmp;   /* name -> qmp path */
  GHashTable *agent; /* name -> agent path */
} DirSeen;

static void
on_vmdir (const char *name, const char *qmp_path, const char *agent_path, gboolean present,
          gpointer data)
{
  DirSeen *seen = data;
  if (present)
    {
      g_hash_table_replace (seen->qmp, g_strdup (name), g_strdup (qmp_path));
      g_hash_table_replace (seen->agent, g_strdup (name), g_strdup (agent_path));
    }
  else
    {
      g_hash_table_remove (seen->qmp, name);
      g_hash_table_remove (seen->agent, name);
    }
}

static void
dir_seen_init (DirSeen *seen)
{
  seen->qmp = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  seen->agent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
dir_seen_clear (DirSeen *seen)
{
  g_hash_table_unref (seen->qmp);
  g_hash_table_unref (seen->agent);
}

/* A listening socket at `path`. */
static int
listen_unix (const char *path)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_assert_cmpuint (strlen (path), <, sizeof sa.sun_path);
  strcpy (sa.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint (listen (fd, 4), ==, 0);
  return fd;
}

/* TRUE when a connection is waiting on listening socket `fd`. */
static gboolean
has_pending (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll (&p, 1, 100) > 0;
}

static void
assert_dir_refused (const char *dir, const char *why)
{
  g_autoptr (GError) error = NULL;
  DirSeen seen;
  dir_seen_init (&seen);
  VmDir *d = vmdir_new (dir, on_vmdir, &seen, &error);
  g_assert_null (d);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, why));
  g_clear_error (&error);
  g_assert_false (vmdir_check (dir, &error));
  g_assert_nonnull (error);
  dir_seen_clear (&seen);
}

static void
test_vmdir_ownership (void)
{
  g_autofree char *base = temp_dir ();
  g_autofree char *qmp = g_build_filename (base, "qmp", NULL);
  g_assert_cmpint (g_mkdir (qmp, 0750), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_true (vmdir_check (qmp, &error));
  g_assert_no_error (error);

  g_assert_cmpint (chmod (qmp, 0770), ==, 0);
  assert_dir_refused (qmp, "writable by its group");
  g_assert_cmpint (chmod (qmp, 0757), ==, 0);
  assert_dir_refused (qmp, "writable by its group or by others");
  /* Sticky /tmp style does not help: anyone may still create a name. */
  g_assert_cmpint (chmod (qmp, 01777), ==, 0);
  assert_dir_refused (qmp, "writable");
  g_assert_cmpint (chmod (qmp, 0755), ==, 0);
  g_assert_true (vmdir_check (qmp, &error));
  if (geteuid () == 0)
    {
      /* Owned by someone else (here: nobody), even 0755. */
      g_assert_cmpint (chown (qmp, 65534, (gid_t) -1), ==, 0);
      assert_dir_refused (qmp, "not owned by root");
    }
  else
    g_test_message ("not root: the foreign-owner case is not tried");
  remove_tree (base);
}

/* Runs the idle scan and waits for `name` to be reported (or not). */
static const char *
vmdir_wait (DirSeen *seen, const char *name, gboolean want)
{
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (g_hash_table_contains (seen->qmp, name) == want)
        break;
      g_usleep (2000);
    }
  return g_hash_table_lookup (seen->qmp, name);
}

static void
test_vmdir_no_symlinks (void)
{
  g_autofree char *base = temp_dir ();
  g_autofree char *qmp = g_build_filename (base, "qmp", NULL);
  g_autofree char *elsewhere = g_build_filename (base, "elsewhere", NULL);
  g_assert_cmpint (g_mkdir (qmp, 0750), ==, 0);
  g_assert_cmpint (g_mkdir (elsewhere, 0750), ==, 0);

  g_autofree char *real_sock = g_build_filename (qmp, "real.qmp", NULL);
  g_autofree char *target = g_build_filename (elsewhere, "target.qmp", NULL);
  g_autofree char *link = g_build_filename (qmp, "planted.qmp", NULL);
  int real_fd = listen_unix (real_sock);
  int target_fd = listen_unix (target);
  g_assert_cmpint (symlink (target, link), ==, 0);

  DirSeen seen;
  dir_seen_init (&seen);
  g_autoptr (GError) error = NULL;
  VmDir *d = vmdir_new (qmp, on_vmdir, &seen, &error);
  g_assert_no_error (error);
  const char *real_path = vmdir_wait (&seen, "real", TRUE);
  g_assert_nonnull (real_path);
  g_assert_true (g_str_has_suffix (g_hash_table_lookup (seen.agent, "real"), "/real.agent"));
  /* The symlink is not a VM. */
  g_assert_false (g_hash_table_contains (seen.qmp, "planted"));

  /* The directory itself is swapped for another with a socket of the same
   * name after the scan: the reported path still reaches the socket that
   * was checked. */
  g_autofree char *moved = g_build_filename (base, "qmp-moved", NULL);
  g_autofree char *evil_sock = g_build_filename (elsewhere, "real.qmp", NULL);
  int evil_fd = listen_unix (evil_sock);
  g_assert_cmpint (rename (qmp, moved), ==, 0);
  g_assert_cmpint (symlink (elsewhere, qmp), ==, 0);
  int c = connect_unix (real_path);
  g_assert_cmpint (c, >=, 0);
  g_assert_true (has_pending (real_fd));
  g_assert_false (has_pending (evil_fd));
  close (c);
  g_assert_true (g_str_has_prefix (real_path, "/proc/self/fd/"));

  vmdir_free (d);
  dir_seen_clear (&seen);
  close (real_fd);
  close (target_fd);
  close (evil_fd);
  remove_tree (base);
}

/* ---- the agent's peer ------------------------------------------------------------ */

static const char hello_line[]
    = "{\"type\":\"hello\",\"v\":1,\"agent\":\"ballast-agent 0.1.0\",\"kernel\":\"6.1.0\","
      "\"page_size\":4096,\"mglru\":true,\"psi\":true,\"interval_ms\":1000,\"bins_ms\":[1000,5000],"
      "\"aging_ms\":2000,\"ws_long_bound\":\"idle-upper\"}\n";

static int
expected_pid_of (gpointer data)
{
  return GPOINTER_TO_INT (data);
}

static void
on_urgent (gboolean pressure, gpointer data)
{
}

/* Serves an agent socket from this process and tells whether `a`, expecting
 * peer `pid`, takes the hello it sends. */
static gboolean
agent_takes_hello (int pid)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *path = g_build_filename (dir, "vm.agent", NULL);
  int lfd = listen_unix (path);
  VmAgent *a = vm_agent_new ("vm", 1ull << 30, on_urgent, NULL, NULL);
  vm_agent_set_expected_peer (a, expected_pid_of, GINT_TO_POINTER (pid));
  vm_agent_connect_to (a, path);
  g_assert_true (pump_readable (lfd, 2000));
  int conn = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (conn, >=, 0);
  /* A refused peer may be cut off before this is written. */
  (void) !send (conn, hello_line, strlen (hello_line), MSG_NOSIGNAL);
  gint64 deadline = g_get_monotonic_time () + 500 * 1000;
  while (g_get_monotonic_time () < deadline && !vm_agent_get_data (a)->hello_seen)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (2000);
    }
  gboolean taken = vm_agent_get_data (a)->hello_seen;
  vm_agent_free (a);
  close (conn);
  close (lfd);
  remove_tree (dir);
  return taken;
}

static void
test_agent_peer (void)
{
  /* This process serves the socket: it is the "QEMU" when its PID is the
   * expected one, and a planted socket otherwise. */
  g_assert_true (agent_takes_hello (getpid ()));
  g_test_expect_message ("ballast-vm", G_LOG_LEVEL_WARNING, "*not by its QEMU*");
  g_assert_false (agent_takes_hello (getpid () + 1));
  g_test_assert_expected_messages ();
  /* Unknown QEMU PID (QMP not up yet): nothing is taken either. */
  g_assert_false (agent_takes_hello (0));
  /* A PID that cannot be known (libvirt without its PID file): taken. */
  g_assert_true (agent_takes_hello (-1));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sockets/control/read-only", test_read_only_socket);
  g_test_add_func ("/sockets/control/idle-timeouts", test_idle_timeouts);
  g_test_add_func ("/sockets/control/group-access", test_control_group_access);
  g_test_add_func ("/sockets/control/reserved-slot", test_reserved_slot);
  g_test_add_func ("/sockets/vmdir/ownership", test_vmdir_ownership);
  g_test_add_func ("/sockets/vmdir/no-symlinks", test_vmdir_no_symlinks);
  g_test_add_func ("/sockets/agent/peer", test_agent_peer);
  return g_test_run ();
}
