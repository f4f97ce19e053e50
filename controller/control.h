/* control.h: ballastd's QMP-speaking control socket (server side).
 * Commands are a table of handlers; events go to every negotiated client. */
#pragma once

#include <gio/gio.h>
#include <jansson.h>

/* A handler returns a new reference to the "return" value, or NULL with an
 * error; CTL_ERROR_* codes map to QMP error classes. */
typedef json_t *(*CtlCommandFn) (gpointer user_data, json_t *args, GError **error);

typedef struct
{
  const char *name;
  CtlCommandFn fn;
} CtlCommand;

/* A byte count for a reply, or null when it is not known (clamped to the
 * largest JSON integer). */
static inline json_t *
ctl_json_bytes (gboolean present, guint64 bytes)
{
  return present ? json_integer ((json_int_t) MIN (bytes, (guint64) G_MAXINT64)) : json_null ();
}

GQuark ctl_error_quark (void);
#define CTL_ERROR (ctl_error_quark ())
enum
{
  CTL_ERROR_GENERIC,   /* GenericError */
  CTL_ERROR_NOT_FOUND, /* DeviceNotFound: no such VM */
};

/* One message from a client (the text of one JSON value; the socket itself
 * splits its stream on object boundaries, newlines or not, as QEMU does):
 * parses it, runs the command and returns the reply (NULL for blank text).
 * `*negotiated` tracks qmp_capabilities; on input that is not a JSON object,
 * *hang_up is set (answer, then disconnect). Besides the table, the server
 * answers query-version and query-commands itself. */
json_t *ctl_dispatch (const CtlCommand *commands, gsize n_commands, gpointer user_data,
                      gboolean *negotiated, const char *line, gsize len, gboolean *hang_up);
/* The same for a client of the read-only socket (`read_only`): only the
 * query-* commands run; any other is refused with a GenericError. */
json_t *ctl_dispatch_as (const CtlCommand *commands, gsize n_commands, gpointer user_data,
                         gboolean read_only, gboolean *negotiated, const char *line, gsize len,
                         gboolean *hang_up);

typedef struct _CtlServer CtlServer;

/* Listens on `path` (replacing a stale socket), mode 0660, group `group`
 * (NULL keeps the process group; a group also gets search permission on the
 * socket's directory when ballastd owns it). `commands` must outlive the
 * server. A client must negotiate within 10 s and then send a line at
 * least every 5 min; of the 64 client slots, 4 are kept for peers running
 * as root or as ballastd's user (the libvirt hook). */
CtlServer *ctl_server_new (const char *path, const char *group, const CtlCommand *commands,
                           gsize n_commands, gpointer user_data, GError **error);

/* Also listens on `path` (mode 0660, group `group`) for clients that may
 * only run query-* commands; they share the client slots and get the events. */
gboolean ctl_server_add_read_only (CtlServer *server, const char *path, const char *group,
                                   GError **error);

/* Overrides the client limits and timeouts (tests). */
void ctl_server_set_limits (CtlServer *server, guint max_clients, guint reserved_privileged,
                            guint handshake_timeout_ms, guint idle_timeout_ms);

/* Sends {"event":NAME,"data":DATA,"timestamp":...} to every client past
 * qmp_capabilities. Steals `data`. */
void ctl_server_emit (CtlServer *server, const char *event, json_t *data);

/* Something else that wants every event (the HTTP server's stream): called
 * from ctl_server_emit with the event's name, data (borrowed) and time. */
typedef void (*CtlEventFn) (const char *event, json_t *data, gint64 real_time_us,
                            gpointer user_data);
void ctl_server_set_listener (CtlServer *server, CtlEventFn fn, gpointer user_data);

guint ctl_server_client_count (CtlServer *server);

void ctl_server_free (CtlServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlServer, ctl_server_free)
