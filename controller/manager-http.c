/* manager-http.c: the manager's side of the HTTP server: started, moved or
 * stopped with the config, fed the control socket's events, and the tick
 * figures /metrics shows. */
#define G_LOG_DOMAIN "ballast"

#include "manager-private.h"

#include "ballast-config.h"

#if HAVE_SOUP
static void
mgr_http_event (const char *event, json_t *data, gint64 real_time_us, gpointer user_data)
{
  Manager *m = user_data;
  if (m->http != NULL)
    http_server_event (m->http, event, data, real_time_us);
}
#endif

gboolean
mgr_http_sync (Manager *m, GError **error)
{
  const char *want = m->cfg->http_listen;
#if HAVE_SOUP
  if (want == NULL)
    {
      if (m->http != NULL)
        g_message ("http: off");
      g_clear_pointer (&m->http, http_server_free);
      return TRUE;
    }
  if (m->http != NULL)
    return http_server_listen (m->http, want, error);
  m->http = http_server_new (want, mgr_commands, mgr_n_commands, m, error);
  if (m->http != NULL)
    ctl_server_set_listener (m->ctl, mgr_http_event, m);
  return m->http != NULL;
#else
  if (want != NULL)
    g_message ("http-listen %s: this ballastd was built without HTTP (libsoup)", want);
  return TRUE;
#endif
}

void
mgr_http_reload (Manager *m)
{
  g_autoptr (GError) error = NULL;
  if (!mgr_http_sync (m, &error))
    g_warning ("%s; HTTP stays %s%s", error->message, m->http ? "on " : "off",
               m->http ? http_server_get_listen (m->http) : "");
}

void
mgr_http_stop (Manager *m)
{
#if HAVE_SOUP
  g_clear_pointer (&m->http, http_server_free);
#endif
}

void
mgr_metrics_tick (Manager *m, gboolean regular, gint64 start_mono_us)
{
  metrics_histogram_observe (&m->tick_hist,
                             (double) (g_get_monotonic_time () - start_mono_us) / G_USEC_PER_SEC);
  if (!regular)
    m->n_extra_ticks++;
}
