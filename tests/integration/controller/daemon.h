/* daemon.h: run a real ballastd from integration tests: a private directory
 * with its config, qmp-dir, control socket and log; commands on the control
 * socket; KSM sysfs snapshots to check what it changed and restored. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "qmp-sync.h"

typedef struct
{
  char *dir; /* temp dir: ballast.conf, control.sock, qmp/, ballastd.log */
  char *conf_path;
  char *sock_path;
  char *qmp_dir;
  char *log_path;
  GPid pid;     /* 0 once stopped */
  QmpSync *ctl; /* negotiated control connection */
} TestDaemon;

/* Writes ballast.conf ([daemon] control-socket and qmp-dir pointing into the
 * temp dir, then @extra_conf verbatim: further sections and keys) and, when
 * @start is TRUE, starts ballastd with @extra_args and connects to it. */
TestDaemon *test_daemon_new (const char *extra_conf, GError **error);
gboolean test_daemon_start (TestDaemon *d, const char *const *extra_args, GError **error);
/* SIGTERM and wait (SIGKILL after 10 s); returns the exit status or -1. */
int test_daemon_stop (TestDaemon *d);
void test_daemon_free (TestDaemon *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestDaemon, test_daemon_free)

/* Runs a control command; asserts it succeeds. @args is stolen. */
json_t *test_daemon_cmd (TestDaemon *d, const char *command, json_t *args);
/* The query-vm object of @name, or NULL when it is not listed. */
json_t *test_daemon_vm (TestDaemon *d, const char *name);
/* The integer member @key of @o (asserting it is an integer). */
gint64 test_json_int (json_t *o, const char *key);
/* Lines of the daemon log that contain @needle. */
guint test_daemon_log_count (TestDaemon *d, const char *needle);

/* The writable KSM knobs (mode has the owner-write bit) and their values. */
GHashTable *test_ksm_snapshot (void);
/* Names of knobs whose values differ, comma-separated ("" when equal). */
char *test_ksm_diff (GHashTable *a, GHashTable *b);
/* Writes every knob of @snap back (in an order the kernel accepts). */
void test_ksm_restore (GHashTable *snap);
