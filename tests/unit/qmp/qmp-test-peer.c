/* qmp-test-peer.c: the scripted QMP peer used by the client unit tests;
 * blocking I/O in its own thread so the client's loop stays the real one. */
#include "qmp-test-peer.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <string.h>

/* Bounds every blocking peer operation so a broken client cannot hang a test. */
#define PEER_IO_TIMEOUT_S 10

struct _Peer
{
  const PeerStep *steps;
  char *dir;
  char *path;
  GSocket *listener;
  GThread *thread;
  GPtrArray *ids;
  GPtrArray *arguments;
  GString *inbuf;
  char *failure;
  guint expected;
};

static gboolean
read_line (Peer *peer, GSocket *conn, char **line)
{
  char buf[4096];
  char *newline;

  while ((newline = memchr (peer->inbuf->str, '\n', peer->inbuf->len)) == NULL)
    {
      gssize n = g_socket_receive (conn, buf, sizeof buf, NULL, NULL);
      if (n <= 0)
        return FALSE;
      g_string_append_len (peer->inbuf, buf, n);
    }
  gsize len = (gsize) (newline - peer->inbuf->str);
  *line = g_strndup (peer->inbuf->str, len);
  g_string_erase (peer->inbuf, 0, (gssize) len + 1);
  return TRUE;
}

static char *
substitute_ids (Peer *peer, const char *text)
{
  GString *out = g_string_new (NULL);
  for (const char *p = text; *p; p++)
    {
      if (p[0] == '$' && p[1] == 'I' && p[2] == 'D' && g_ascii_isdigit (p[3]))
        {
          char *end = NULL;
          guint64 n = g_ascii_strtoull (p + 3, &end, 10);
          g_string_append (out, n < peer->ids->len ? (char *) peer->ids->pdata[n] : "null");
          p = end - 1;
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static void
send_all (GSocket *conn, const char *data, gsize len)
{
  while (len > 0)
    {
      gssize n = g_socket_send (conn, data, len, NULL, NULL);
      if (n <= 0)
        return; /* the client may close first; the test checks why */
      data += n;
      len -= (gsize) n;
    }
}

static GSocket *
accept_one (Peer *peer)
{
  GSocket *conn = g_socket_accept (peer->listener, NULL, NULL);
  if (conn == NULL)
    peer->failure = g_strdup ("the client never connected");
  else
    g_socket_set_timeout (conn, PEER_IO_TIMEOUT_S);
  g_string_truncate (peer->inbuf, 0);
  return conn;
}

static gboolean
run_step (Peer *peer, GSocket **connp, const PeerStep *step)
{
  GSocket *conn = *connp;

  switch (step->kind)
    {
      case PEER_SEND:
        {
          if (step->size > 0)
            {
              send_all (conn, step->text, step->size);
              return TRUE;
            }
          g_autofree char *text = substitute_ids (peer, step->text);
          send_all (conn, text, strlen (text));
          return TRUE;
        }
      case PEER_EXPECT:
        {
          g_autofree char *line = NULL;
          if (!read_line (peer, conn, &line))
            {
              peer->failure = g_strdup_printf ("no command while expecting %s", step->text);
              return FALSE;
            }
          json_t *msg = json_loads (line, 0, NULL);
          const char *execute = json_string_value (json_object_get (msg, "execute"));
          json_t *id = json_object_get (msg, "id");
          gboolean ok = execute != NULL && id != NULL && g_str_equal (execute, step->text);
          if (ok)
            {
              g_ptr_array_add (peer->ids, json_dumps (id, JSON_ENCODE_ANY));
              json_t *args = json_object_get (msg, "arguments");
              g_ptr_array_add (peer->arguments,
                               args ? json_dumps (args, JSON_COMPACT | JSON_SORT_KEYS)
                                    : strdup ("null"));
              peer->expected++;
            }
          else
            peer->failure = g_strdup_printf ("expected %s, got: %s", step->text, line);
          json_decref (msg);
          return ok;
        }
      case PEER_PAUSE:
        g_usleep (step->size * 1000);
        return TRUE;
      case PEER_FILL:
        {
          g_autofree char *junk = g_malloc (step->size);
          memset (junk, 'x', step->size);
          send_all (conn, junk, step->size);
          return TRUE;
        }
      case PEER_CLOSE:
        g_socket_close (conn, NULL);
        g_clear_object (connp);
        return TRUE;
      case PEER_ACCEPT:
        g_clear_object (connp);
        *connp = accept_one (peer);
        return *connp != NULL;
      case PEER_END:
      default:
        g_assert_not_reached ();
    }
}

static gpointer
peer_thread (gpointer data)
{
  Peer *peer = data;
  g_autoptr (GSocket) conn = accept_one (peer);

  if (conn == NULL)
    return NULL;
  for (const PeerStep *step = peer->steps; step->kind != PEER_END; step++)
    if (!run_step (peer, &conn, step))
      return NULL;
  /* Hold the connection like a live (or stopped) QEMU until the client goes. */
  char buf[4096];
  while (conn != NULL && g_socket_receive (conn, buf, sizeof buf, NULL, NULL) > 0)
    ;
  return NULL;
}

Peer *
peer_start (const PeerStep *steps)
{
  Peer *peer = g_new0 (Peer, 1);
  g_autoptr (GError) error = NULL;

  /* Copied: the script may live on the stack of a test that returns first. */
  gsize n = 0;
  while (steps[n].kind != PEER_END)
    n++;
  peer->steps = g_memdup2 (steps, (n + 1) * sizeof *steps);
  peer->dir = g_dir_make_tmp ("qmp-test-XXXXXX", &error);
  g_assert_no_error (error);
  peer->path = g_build_filename (peer->dir, "qmp.sock", NULL);
  peer->listener = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (peer->path);
  g_socket_bind (peer->listener, address, FALSE, &error);
  g_assert_no_error (error);
  g_socket_listen (peer->listener, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (peer->listener, PEER_IO_TIMEOUT_S);
  peer->ids = g_ptr_array_new_with_free_func (free);
  peer->arguments = g_ptr_array_new_with_free_func (free);
  peer->inbuf = g_string_new (NULL);
  peer->thread = g_thread_new ("qmp-peer", peer_thread, peer);
  return peer;
}

const char *
peer_path (Peer *peer)
{
  return peer->path;
}

guint
peer_finish (Peer *peer)
{
  return peer_finish_with_arguments (peer, NULL);
}

guint
peer_finish_with_arguments (Peer *peer, GPtrArray **arguments)
{
  g_thread_join (peer->thread);
  g_autofree char *failure = g_steal_pointer (&peer->failure);
  guint expected = peer->expected;
  g_socket_close (peer->listener, NULL);
  g_object_unref (peer->listener);
  g_unlink (peer->path);
  g_rmdir (peer->dir);
  g_free (peer->path);
  g_free (peer->dir);
  g_ptr_array_unref (peer->ids);
  if (arguments != NULL)
    *arguments = g_steal_pointer (&peer->arguments);
  else
    g_ptr_array_unref (peer->arguments);
  g_string_free (peer->inbuf, TRUE);
  g_free ((gpointer) peer->steps);
  g_free (peer);
  if (failure != NULL)
    g_error ("scripted QMP peer: %s", failure);
  return expected;
}
