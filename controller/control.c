/* control.c: the QMP-compatible control socket: greeting, qmp_capabilities,
 * command dispatch by table, events; each client is bounded and isolated. */
#define G_LOG_DOMAIN "ballast-control"

#include "control.h"

#include "ballast-config.h"
#include "qmp-objects.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

/* The longest legitimate command (set-policy with every key) is < 1 KiB;
 * 64 KiB leaves room without letting one client hold much memory. */
#define CTL_MAX_MESSAGE_BYTES (64 * 1024)
/* A client that doesn't read its replies/events is cut off past this. */
#define CTL_MAX_OUTQ_BYTES (4 * 1024 * 1024)
#define CTL_READ_CHUNK_BYTES 4096
/* Operators, a dashboard, a few hooks at once: far below the fd limit. */
#define CTL_MAX_CLIENTS 64
/* Slots only root (or ballastd's own user) may take: the libvirt hook runs
 * as root, so clients of the control group cannot lock it out. */
#define CTL_RESERVED_PRIVILEGED 4
/* A client must finish qmp_capabilities this soon after connecting ... */
#define CTL_HANDSHAKE_TIMEOUT_MS (10 * 1000)
/* ... and then send something at least this often (an event listener sends
 * a query now and then); a slot held by an idle client is freed. */
#define CTL_IDLE_TIMEOUT_MS (5 * 60 * 1000)
/* Commands of the read-only socket: queries change nothing. Everything
 * else (set-policy, set-dry-run, reload-config, kick, vm-event,
 * register-source) needs the control socket. */
#define CTL_READ_ONLY_PREFIX "query-"

G_DEFINE_QUARK (ballast - control - error - quark, ctl_error)

typedef struct
{
  CtlServer *server;
  GSocketConnection *conn;
  GCancellable *cancel;
  QmpObjectSplitter *messages;
  GString *outq;
  GBytes *inflight; /* being written: outq may grow (and move) meanwhile */
  gboolean writing;
  gboolean negotiated;
  gboolean closing;    /* flush outq, then drop */
  gboolean dead;       /* dropped; pending async callbacks just release it */
  gboolean read_only;  /* came in on the read-only socket */
  gboolean privileged; /* root or ballastd's user: may take a reserved slot */
  guint timeout_id;    /* handshake, then idle timeout */
  guint refs;          /* the server's set + each pending async operation */
  guint8 chunk[CTL_READ_CHUNK_BYTES];
  guint64 id;
} CtlClient;

struct _CtlServer
{
  GSocketService *service;
  char *path;
  char *read_only_path;   /* NULL: no read-only socket */
  GObject *read_only_tag; /* the "source object" of the read-only listener */
  guint max_clients;
  guint reserved_privileged;
  guint handshake_timeout_ms;
  guint idle_timeout_ms;
  const CtlCommand *commands;
  gsize n_commands;
  gpointer user_data;
  GHashTable *clients; /* CtlClient* set */
  guint64 next_client_id;
  gboolean full_logged;
  CtlEventFn listener;
  gpointer listener_data;
};

static void ctl_client_read (CtlClient *c);
static void ctl_client_flush (CtlClient *c);

static CtlClient *
ctl_client_ref (CtlClient *c)
{
  c->refs++;
  return c;
}

static void
ctl_client_unref (gpointer p)
{
  CtlClient *c = p;
  if (--c->refs > 0)
    return;
  g_clear_object (&c->conn);
  g_clear_object (&c->cancel);
  qmp_object_splitter_free (c->messages);
  g_string_free (c->outq, TRUE);
  g_clear_pointer (&c->inflight, g_bytes_unref);
  g_free (c);
}

/* Marks the client dead and closes it; memory goes with the last pending
 * async callback, which sees `dead` and touches nothing else. */
static void
ctl_client_drop (CtlClient *c)
{
  if (c->dead)
    return;
  c->dead = TRUE;
  g_debug ("client %" G_GUINT64_FORMAT " disconnected", c->id);
  g_clear_handle_id (&c->timeout_id, g_source_remove);
  g_cancellable_cancel (c->cancel);
  g_io_stream_close (G_IO_STREAM (c->conn), NULL, NULL);
  g_hash_table_remove (c->server->clients, c);
}

static void
ctl_client_send (CtlClient *c, json_t *msg)
{
  char *text = json_dumps (msg, JSON_COMPACT);
  json_decref (msg);
  if (text == NULL)
    return;
  gsize inflight_bytes = c->inflight ? g_bytes_get_size (c->inflight) : 0;
  if (inflight_bytes + c->outq->len + strlen (text) + 1 > CTL_MAX_OUTQ_BYTES)
    {
      free (text);
      g_message ("client %" G_GUINT64_FORMAT " does not read its replies; disconnecting", c->id);
      ctl_client_drop (c);
      return;
    }
  g_string_append (c->outq, text);
  g_string_append_c (c->outq, '\n');
  free (text);
  ctl_client_flush (c);
}

static void
ctl_client_on_written (CtlClient *c, gboolean ok)
{
  g_clear_pointer (&c->inflight, g_bytes_unref);
  if (!ok)
    {
      ctl_client_drop (c);
      return;
    }
  if (c->outq->len == 0 && c->closing)
    {
      ctl_client_drop (c);
      return;
    }
  ctl_client_flush (c);
}

static void
ctl_write_done (GObject *src, GAsyncResult *res, gpointer data)
{
  CtlClient *c = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (src), res, NULL, &error);
  c->writing = FALSE;
  if (!c->dead)
    ctl_client_on_written (c, ok);
  ctl_client_unref (c);
}

static void
ctl_client_flush (CtlClient *c)
{
  if (c->writing || c->outq->len == 0)
    return;
  c->writing = TRUE;
  c->inflight = g_string_free_to_bytes (c->outq);
  c->outq = g_string_new (NULL);
  gsize len;
  const void *data = g_bytes_get_data (c->inflight, &len);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (c->conn));
  g_output_stream_write_all_async (out, data, len, G_PRIORITY_DEFAULT, c->cancel, ctl_write_done,
                                   ctl_client_ref (c));
}

static json_t *
ctl_error_reply (json_t *id, const char *klass, const char *desc)
{
  json_t *reply = json_pack ("{s:{s:s,s:s}}", "error", "class", klass, "desc", desc);
  if (id != NULL)
    json_object_set (reply, "id", id);
  return reply;
}

/* QMP clients (qemu.qmp, qmp-shell) read greeting.QMP.version.qemu; ballast
 * answers with its own numbers there and keeps them under "ballast" too. */
static json_t *
ctl_version_json (void)
{
  return json_pack ("{s:{s:i,s:i,s:i},s:{s:i,s:i,s:i},s:s}", "qemu", "major", BALLAST_VERSION_MAJOR,
                    "minor", BALLAST_VERSION_MINOR, "micro", BALLAST_VERSION_MICRO, "ballast",
                    "major", BALLAST_VERSION_MAJOR, "minor", BALLAST_VERSION_MINOR, "micro",
                    BALLAST_VERSION_MICRO, "package", "ballast " BALLAST_VERSION);
}

/* Commands of the server itself, beside the table (QMP's own introspection). */
static const char *const ctl_builtin_commands[]
    = { "qmp_capabilities", "query-commands", "query-version" };

static json_t *
ctl_query_commands (const CtlCommand *commands, gsize n_commands, gboolean read_only)
{
  json_t *list = json_array ();
  for (gsize i = 0; i < G_N_ELEMENTS (ctl_builtin_commands); i++)
    json_array_append_new (list, json_pack ("{s:s}", "name", ctl_builtin_commands[i]));
  for (gsize i = 0; i < n_commands; i++)
    if (!read_only || g_str_has_prefix (commands[i].name, CTL_READ_ONLY_PREFIX))
      json_array_append_new (list, json_pack ("{s:s}", "name", commands[i].name));
  return list;
}

static int
ctl_command_cmp (const void *key, const void *elem)
{
  return strcmp (key, ((const CtlCommand *) elem)->name);
}

/* Runs the command `name` if this client may. */
static json_t *
ctl_run (const CtlCommand *commands, gsize n_commands, gpointer user_data, gboolean read_only,
         json_t *id, const char *name, json_t *args)
{
  if (g_str_equal (name, "query-version"))
    return json_pack ("{s:o}", "return", ctl_version_json ());
  if (g_str_equal (name, "query-commands"))
    return json_pack ("{s:o}", "return", ctl_query_commands (commands, n_commands, read_only));
  const CtlCommand *cmd
      = bsearch (name, commands, n_commands, sizeof (CtlCommand), ctl_command_cmp);
  if (cmd == NULL)
    {
      g_autofree char *desc = g_strdup_printf ("The command %s has not been found", name);
      return ctl_error_reply (id, "CommandNotFound", desc);
    }
  if (read_only && !g_str_has_prefix (name, CTL_READ_ONLY_PREFIX))
    {
      g_autofree char *desc = g_strdup_printf (
          "%s changes the daemon: use the control socket, not the read-only one", name);
      return ctl_error_reply (id, "GenericError", desc);
    }
  g_autoptr (GError) error = NULL;
  json_t *empty = json_object ();
  json_t *ret = cmd->fn (user_data, args ? args : empty, &error);
  json_decref (empty);
  if (ret != NULL)
    return json_pack ("{s:o}", "return", ret);
  return ctl_error_reply (id,
                          error && g_error_matches (error, CTL_ERROR, CTL_ERROR_NOT_FOUND)
                              ? "DeviceNotFound"
                              : "GenericError",
                          error ? error->message : "failed");
}

json_t *
ctl_dispatch (const CtlCommand *commands, gsize n_commands, gpointer user_data,
              gboolean *negotiated, const char *line, gsize len, gboolean *hang_up)
{
  return ctl_dispatch_as (commands, n_commands, user_data, FALSE, negotiated, line, len, hang_up);
}

/* One parsed message (any JSON type) from a client: its reply. */
static json_t *
ctl_dispatch_msg (const CtlCommand *commands, gsize n_commands, gpointer user_data,
                  gboolean read_only, gboolean *negotiated, json_t *msg, gboolean *hang_up)
{
  if (!json_is_object (msg))
    {
      /* Garbage means a confused or hostile peer: answer once, then hang up. */
      *hang_up = TRUE;
      return ctl_error_reply (NULL, "GenericError", "JSON parse error: expected an object");
    }
  json_t *id = json_object_get (msg, "id");
  json_t *exec = json_object_get (msg, "execute");
  json_t *args = json_object_get (msg, "arguments");
  json_t *reply;
  if (!json_is_string (exec))
    reply = ctl_error_reply (id, "GenericError", "Expected 'execute'");
  else if (args != NULL && !json_is_object (args))
    reply = ctl_error_reply (id, "GenericError", "'arguments' must be an object");
  else if (g_str_equal (json_string_value (exec), "qmp_capabilities"))
    {
      *negotiated = TRUE;
      reply = json_pack ("{s:{}}", "return");
    }
  else if (!*negotiated)
    reply = ctl_error_reply (id, "CommandNotFound",
                             "Expecting capabilities negotiation with 'qmp_capabilities'");
  else
    reply
        = ctl_run (commands, n_commands, user_data, read_only, id, json_string_value (exec), args);
  if (reply != NULL && id != NULL && json_object_get (reply, "id") == NULL)
    json_object_set (reply, "id", id);
  return reply;
}

json_t *
ctl_dispatch_as (const CtlCommand *commands, gsize n_commands, gpointer user_data,
                 gboolean read_only, gboolean *negotiated, const char *line, gsize len,
                 gboolean *hang_up)
{
  json_error_t jerr;
  *hang_up = FALSE;
  gsize start = 0;
  while (start < len && g_ascii_isspace (line[start]))
    start++;
  if (start == len)
    return NULL;
  json_t *msg
      = json_loadb (line + start, len - start, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (msg == NULL)
    {
      g_autofree char *desc = g_strdup_printf ("JSON parse error: %s", jerr.text);
      *hang_up = TRUE;
      return ctl_error_reply (NULL, "GenericError", desc);
    }
  json_t *reply
      = ctl_dispatch_msg (commands, n_commands, user_data, read_only, negotiated, msg, hang_up);
  json_decref (msg);
  return reply;
}

/* Handles one message, or the splitter's error (not JSON, or too long): the
 * client gets the error reply, then goes. Returns FALSE to stop reading. */
static gboolean
ctl_client_on_message (json_t *msg, const char *error, gpointer data)
{
  CtlClient *c = data;
  CtlServer *s = c->server;
  json_t *reply;
  gboolean hang_up = msg == NULL;

  if (msg == NULL)
    reply = ctl_error_reply (NULL, "GenericError", error);
  else
    reply = ctl_dispatch_msg (s->commands, s->n_commands, s->user_data, c->read_only,
                              &c->negotiated, msg, &hang_up);
  if (reply != NULL)
    ctl_client_send (c, reply);
  c->closing = hang_up;
  return !hang_up && !c->dead;
}

static gboolean
ctl_client_timed_out (gpointer data)
{
  CtlClient *c = data;
  c->timeout_id = 0;
  /* Debug only: a client can cause one of these per slot and timeout. */
  g_debug ("client %" G_GUINT64_FORMAT " %s; disconnecting", c->id,
           c->negotiated ? "idle too long" : "did not negotiate in time");
  ctl_client_drop (c);
  return G_SOURCE_REMOVE;
}

/* The source goes with the client (ctl_client_drop), so it never sees a
 * freed one. */
static void
ctl_client_arm_timeout (CtlClient *c, guint timeout_ms)
{
  g_clear_handle_id (&c->timeout_id, g_source_remove);
  c->timeout_id = g_timeout_add (timeout_ms, ctl_client_timed_out, c);
}

static void
ctl_client_on_read (CtlClient *c, gssize n)
{
  if (n <= 0)
    {
      ctl_client_drop (c);
      return;
    }
  qmp_object_splitter_feed (c->messages, (const char *) c->chunk, (gsize) n, ctl_client_on_message,
                            c);
  if (c->dead)
    return;
  if (c->closing)
    {
      g_message ("client %" G_GUINT64_FORMAT " sent invalid input; disconnecting", c->id);
      /* Otherwise the error reply is still queued or being written:
       * ctl_client_on_written drops the client once it is out. */
      if (c->outq->len == 0 && !c->writing)
        ctl_client_drop (c);
      return;
    }
  /* Before negotiation the handshake deadline runs from the connect: a
   * client trickling bytes does not extend it. */
  if (c->negotiated)
    ctl_client_arm_timeout (c, c->server->idle_timeout_ms);
  ctl_client_read (c);
}

static void
ctl_read_done (GObject *src, GAsyncResult *res, gpointer data)
{
  CtlClient *c = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (src), res, &error);
  /* This operation's reference keeps `c` valid even if handling drops it. */
  if (!c->dead)
    ctl_client_on_read (c, n);
  ctl_client_unref (c);
}

static void
ctl_client_read (CtlClient *c)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (c->conn));
  g_input_stream_read_async (in, c->chunk, sizeof c->chunk, G_PRIORITY_DEFAULT, c->cancel,
                             ctl_read_done, ctl_client_ref (c));
}

/* Root and ballastd's own user may take the reserved slots; peers whose
 * credentials cannot be read may not. */
static gboolean
ctl_peer_privileged (GSocketConnection *conn)
{
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_autoptr (GCredentials) cred = g_socket_get_credentials (sock, NULL);
  if (cred == NULL)
    return FALSE;
  uid_t uid = g_credentials_get_unix_user (cred, NULL);
  return uid == 0 || uid == geteuid ();
}

static gboolean
ctl_on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  CtlServer *s = data;
  gboolean privileged = ctl_peer_privileged (conn);
  guint limit = privileged ? s->max_clients : s->max_clients - s->reserved_privileged;
  if (g_hash_table_size (s->clients) >= limit)
    {
      /* Accepting without bound would run the daemon out of descriptors,
       * which QMP and agent links need too. */
      if (!s->full_logged)
        g_warning ("control socket: %u clients connected; refusing more%s",
                   g_hash_table_size (s->clients),
                   privileged ? "" : " (the rest are reserved for root)");
      s->full_logged = TRUE;
      g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
      return TRUE;
    }
  s->full_logged = FALSE;
  CtlClient *c = g_new0 (CtlClient, 1);
  c->server = s;
  c->conn = g_object_ref (conn);
  c->cancel = g_cancellable_new ();
  c->messages = qmp_object_splitter_new (CTL_MAX_MESSAGE_BYTES);
  c->outq = g_string_new (NULL);
  c->id = ++s->next_client_id;
  c->privileged = privileged;
  c->read_only = source != NULL && source == s->read_only_tag;
  g_hash_table_add (s->clients, ctl_client_ref (c));
  g_debug ("client %" G_GUINT64_FORMAT " connected%s", c->id, c->read_only ? " (read-only)" : "");
  ctl_client_arm_timeout (c, s->handshake_timeout_ms);
  ctl_client_send (
      c, json_pack ("{s:{s:o,s:[]}}", "QMP", "version", ctl_version_json (), "capabilities"));
  if (!c->dead)
    ctl_client_read (c);
  return TRUE;
}

/* Lets members of the socket's group reach it: a directory ballastd owns
 * (/run/ballast, made 0750 root:root by systemd) gets search permission for
 * everyone, never read, so nobody can list it and the sockets' own modes
 * (0660, their group) decide who connects. A directory of someone else is
 * left alone. */
static void
ctl_open_dir_for_groups (const char *dir)
{
  struct stat st;
  if (stat (dir, &st) != 0 || st.st_uid != geteuid ())
    return;
  mode_t want = st.st_mode | S_IXGRP | S_IXOTH;
  if ((st.st_mode & 07777) != (want & 07777) && chmod (dir, want & 07777) < 0)
    g_warning ("%s: cannot let the control group through: %s", dir, g_strerror (errno));
}

/* Binds one listening socket at `path`, mode 0660, group `group`. */
static gboolean
ctl_listen (CtlServer *s, const char *path, const char *group, GObject *tag, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0750) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", dir, g_strerror (e));
      return FALSE;
    }
  /* A socket left by a previous run that crashed blocks bind(); a live one
   * means another daemon: refuse rather than steal it. */
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_autoptr (GSocketClient) probe = g_socket_client_new ();
      g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
      g_autoptr (GSocketConnection) live
          = g_socket_client_connect (probe, G_SOCKET_CONNECTABLE (addr), NULL, NULL);
      if (live != NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                       "%s: another ballastd is listening", path);
          return FALSE;
        }
      unlink (path);
    }

  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  mode_t old_umask = umask (0117);
  gboolean ok
      = g_socket_listener_add_address (G_SOCKET_LISTENER (s->service), addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, tag, NULL, error);
  umask (old_umask);
  if (!ok)
    return FALSE;
  chmod (path, 0660);
  if (group != NULL && *group != '\0')
    {
      struct group *gr = getgrnam (group);
      if (gr == NULL || chown (path, (uid_t) -1, gr->gr_gid) < 0)
        g_warning ("%s: cannot give the socket to group %s", path, group);
      else
        ctl_open_dir_for_groups (dir);
    }
  return TRUE;
}

CtlServer *
ctl_server_new (const char *path, const char *group, const CtlCommand *commands, gsize n_commands,
                gpointer user_data, GError **error)
{
  for (gsize i = 1; i < n_commands; i++)
    g_return_val_if_fail (strcmp (commands[i - 1].name, commands[i].name) < 0, NULL);

  g_autoptr (GSocketService) service = g_socket_service_new ();
  CtlServer *s = g_new0 (CtlServer, 1);
  s->service = g_steal_pointer (&service);
  s->commands = commands;
  s->n_commands = n_commands;
  s->user_data = user_data;
  s->max_clients = CTL_MAX_CLIENTS;
  s->reserved_privileged = CTL_RESERVED_PRIVILEGED;
  s->handshake_timeout_ms = CTL_HANDSHAKE_TIMEOUT_MS;
  s->idle_timeout_ms = CTL_IDLE_TIMEOUT_MS;
  s->clients = g_hash_table_new_full (g_direct_hash, g_direct_equal, ctl_client_unref, NULL);
  if (!ctl_listen (s, path, group, NULL, error))
    {
      ctl_server_free (s);
      return NULL;
    }
  s->path = g_strdup (path);
  g_signal_connect (s->service, "incoming", G_CALLBACK (ctl_on_incoming), s);
  g_socket_service_start (s->service);
  return s;
}

gboolean
ctl_server_add_read_only (CtlServer *s, const char *path, const char *group, GError **error)
{
  g_return_val_if_fail (s->read_only_path == NULL, FALSE);
  s->read_only_tag = g_object_new (G_TYPE_OBJECT, NULL);
  if (!ctl_listen (s, path, group, s->read_only_tag, error))
    return FALSE;
  s->read_only_path = g_strdup (path);
  return TRUE;
}

void
ctl_server_set_limits (CtlServer *s, guint max_clients, guint reserved_privileged,
                       guint handshake_timeout_ms, guint idle_timeout_ms)
{
  g_return_if_fail (reserved_privileged < max_clients);
  s->max_clients = max_clients;
  s->reserved_privileged = reserved_privileged;
  s->handshake_timeout_ms = handshake_timeout_ms;
  s->idle_timeout_ms = idle_timeout_ms;
}

/* A copy of the client set, since sending may drop a client from it. */
static GPtrArray *
ctl_clients_snapshot (CtlServer *s)
{
  GPtrArray *out = g_ptr_array_sized_new (g_hash_table_size (s->clients));
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, s->clients);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (out, key);
  return out;
}

void
ctl_server_emit (CtlServer *s, const char *event, json_t *data)
{
  gint64 now_us = g_get_real_time ();
  if (data == NULL)
    data = json_object ();
  if (s->listener != NULL)
    s->listener (event, data, now_us, s->listener_data);
  g_autoptr (GPtrArray) targets = ctl_clients_snapshot (s);
  for (guint i = 0; i < targets->len; i++)
    {
      CtlClient *c = g_ptr_array_index (targets, i);
      if (!c->negotiated || c->closing || c->dead)
        continue;
      ctl_client_send (c, json_pack ("{s:s,s:O,s:{s:I,s:I}}", "event", event, "data", data,
                                     "timestamp", "seconds", (json_int_t) (now_us / G_USEC_PER_SEC),
                                     "microseconds", (json_int_t) (now_us % G_USEC_PER_SEC)));
    }
  json_decref (data);
}

void
ctl_server_set_listener (CtlServer *s, CtlEventFn fn, gpointer user_data)
{
  s->listener = fn;
  s->listener_data = user_data;
}

guint
ctl_server_client_count (CtlServer *s)
{
  return g_hash_table_size (s->clients);
}

void
ctl_server_free (CtlServer *s)
{
  if (s == NULL)
    return;
  g_socket_service_stop (s->service);
  g_socket_listener_close (G_SOCKET_LISTENER (s->service));
  g_object_unref (s->service);
  g_autoptr (GPtrArray) all = ctl_clients_snapshot (s);
  for (guint i = 0; i < all->len; i++)
    ctl_client_drop (g_ptr_array_index (all, i));
  g_hash_table_unref (s->clients);
  if (s->path != NULL)
    unlink (s->path);
  if (s->read_only_path != NULL)
    unlink (s->read_only_path);
  g_clear_object (&s->read_only_tag);
  g_free (s->path);
  g_free (s->read_only_path);
  g_free (s);
}
