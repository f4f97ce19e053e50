/* http.h: ballastd's read-only HTTP server (libsoup 3 on the main loop):
 * /metrics, the dashboard at /, /api/v1/ queries and the event stream. */
#pragma once

#include <gio/gio.h>
#include <jansson.h>

#include "control.h"

typedef struct _HttpServer HttpServer;

/* Listens on `listen` ("ADDRESS:PORT", see cfg_parse_listen). Queries run
 * the control socket's `commands` (which must outlive the server) with
 * `user_data`. Returns NULL with an error naming the address. */
HttpServer *http_server_new (const char *listen, const CtlCommand *commands, gsize n_commands,
                             gpointer user_data, GError **error);

/* Moves to another address; on failure keeps listening where it was. */
gboolean http_server_listen (HttpServer *s, const char *listen, GError **error);
const char *http_server_get_listen (HttpServer *s);

/* One control-socket event: counted for /metrics and sent to the streams. */
void http_server_event (HttpServer *s, const char *event, json_t *data, gint64 real_time_us);

void http_server_free (HttpServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HttpServer, http_server_free)
