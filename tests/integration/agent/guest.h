/* guest.h: start, watch and stop a tiny test guest (tests/vm/ballast-vm)
 * from integration tests, and read its agent's messages through the host
 * side parser. */
#pragma once

#include <glib.h>

#include "agent-proto.h"

typedef struct
{
  char *name;
  char *dir;        /* dir holding sockets, log, pid file */
  gboolean own_dir; /* a temp dir of its own, removed by test_guest_free() */
  char *qmp_path;
  char *agent_path;
  char *mon_path; /* second QMP monitor, free while a daemon holds qmp_path */
  char *log_path;
  int pid;        /* QEMU's PID; 0 once stopped */
  gint64 boot_us; /* wall time of "ballast-vm start" (until BALLAST-READY) */
  guint64 ram_bytes;
  int agent_fd;
  AgentLink *link;
  GQueue *msgs; /* AgentMsg *, in arrival order */
  /* The raw text of the newest hello and report read so far, for fields
   * agent-proto does not carry (extensions); NULL before the first. */
  GString *raw_pending; /* bytes after the last newline */
  char *last_hello_line;
  char *last_report_line;
} TestGuest;

/* Returns TRUE when the guest image exists. Otherwise fails the test (as
 * root, where the test command builds it) or skips it, and returns FALSE. */
gboolean test_guest_image_ready (void);

/* Boots a guest named @name with @mem_mib of RAM running @workload (and a
 * @disk_mib virtio-blk disk when non-zero). @accel is "tcg", "kvm" or NULL
 * (the helper's probe decides). Returns NULL with an error when it does not
 * come up within the helper's deadline. */
TestGuest *test_guest_start (const char *name, guint mem_mib, const char *workload, guint disk_mib,
                             const char *accel, GError **error);
/* The same in @dir (NULL: a new temp dir); the guest's files there are
 * replaced, and removed by test_guest_free(), but @dir itself stays. */
TestGuest *test_guest_start_in (const char *dir, const char *name, guint mem_mib,
                                const char *workload, guint disk_mib, const char *accel,
                                GError **error);
/* Stops QEMU (by PID), closes the agent link and removes the temp dir. */
void test_guest_free (TestGuest *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestGuest, test_guest_free)

/* Connects to the agent's port socket (QEMU's end). */
gboolean test_guest_connect_agent (TestGuest *g, GError **error);
void test_guest_disconnect_agent (TestGuest *g);
/* Sends one line (newline added) to the agent. */
gboolean test_guest_send_agent (TestGuest *g, const char *line, GError **error);

/* Waits up to @timeout_ms for the next message of @type (0: any type),
 * dropping messages of other types. Returns a newly allocated copy, or NULL
 * on timeout/EOF. */
AgentMsg *test_guest_next_msg (TestGuest *g, AgentMsgType type, guint timeout_ms);

/* The newest raw hello / report line read by test_guest_next_msg() (owned
 * by @g), or NULL. It may be newer than the message last returned. */
const char *test_guest_raw_hello (TestGuest *g);
const char *test_guest_raw_report (TestGuest *g);

/* Waits until the serial console shows a line containing @needle; returns
 * that line (newly allocated) or NULL after @timeout_ms. */
char *test_guest_wait_console (TestGuest *g, const char *needle, guint timeout_ms);
/* The console text so far (newly allocated). */
char *test_guest_console (TestGuest *g);

/* Value of "key=" in a BLOAD progress line, or -1. */
gint64 test_bload_field (const char *line, const char *key);

/* Bytes of anon in bins whose upper edge is <= @max_age_ms (open bin
 * excluded), and in bins above it (open bin included). */
guint64 test_ws_anon_upto (const AgentReport *r, guint64 max_age_ms);
guint64 test_ws_anon_above (const AgentReport *r, guint64 max_age_ms);
