/* ballastd: the host memory controller daemon: loads the configuration,
 * runs the manager on the GLib main loop, handles signals and sd_notify. */
#define G_LOG_DOMAIN "ballast"

#include "ballast-config.h"

#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>

#include "config.h"
#include "manager.h"
#include "release.h"
#include "sdnotify.h"

typedef struct
{
  GMainLoop *loop;
  Manager *mgr;
  guint watchdog_id;
} Daemon;

static gboolean
on_quit_signal (gpointer data)
{
  Daemon *d = data;
  g_message ("stopping");
  sd_notify_send ("STOPPING=1");
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_hup (gpointer data)
{
  Daemon *d = data;
  g_autoptr (GError) error = NULL;
  sd_notify_send ("RELOADING=1");
  if (!mgr_reload (d->mgr, &error))
    g_warning ("SIGHUP: %s", error->message);
  sd_notify_send ("READY=1");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer data)
{
  Daemon *d = data;
  g_autofree char *status = mgr_status_line (d->mgr);
  g_autofree char *msg = g_strdup_printf ("WATCHDOG=1\nSTATUS=%s", status);
  sd_notify_send (msg);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  gboolean check_config = FALSE, dry_run = FALSE, version = FALSE, release = FALSE;
  gboolean verbose = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default " CFG_DEFAULT_PATH ")", "FILE" },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config,
      "Load and validate the configuration, then exit", NULL },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
      "Decide and log, but write nothing (no balloon, no KSM)", NULL },
    { "release", 0, 0, G_OPTION_ARG_NONE, &release,
      "After a stop or crash: restore the KSM knobs, give ballooned memory back, exit", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
      "Log debug and info messages too (every domain)", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- ballast host memory controller");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("ballastd: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("ballastd %s\n", BALLAST_VERSION);
      return 0;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  const char *path = config_path ? config_path : CFG_DEFAULT_PATH;
  /* Without an explicit --config, a host with no file runs on defaults. */
  BallastConfig *cfg = cfg_load (path, config_path == NULL, &error);
  if (cfg == NULL)
    {
      g_printerr ("ballastd: %s\n", error->message);
      return 1;
    }
  if (check_config)
    {
      for (guint i = 0; i < cfg->warnings->len; i++)
        g_printerr ("warning: %s\n", (const char *) g_ptr_array_index (cfg->warnings, i));
      /* Without --config a missing file is allowed: say that nothing was read. */
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        printf ("%s: OK\n", path);
      else
        printf ("%s: not found; nothing read (ballastd would run on the built-in defaults)\n",
                path);
      cfg_free (cfg);
      return 0;
    }
  if (release)
    {
      /* Nothing to report to a caller (ExecStopPost=): the log says what is short. */
      release_after_stop (cfg);
      cfg_free (cfg);
      return 0;
    }
  cfg->dry_run_forced = dry_run;

  Daemon d = { 0 };
  d.loop = g_main_loop_new (NULL, FALSE);
  d.mgr = mgr_new (cfg, d.loop, &error);
  if (d.mgr == NULL)
    {
      g_printerr ("ballastd: %s\n", error->message);
      g_main_loop_unref (d.loop);
      return 1;
    }
  g_unix_signal_add (SIGINT, on_quit_signal, &d);
  g_unix_signal_add (SIGTERM, on_quit_signal, &d);
  g_unix_signal_add (SIGHUP, on_hup, &d);
  guint64 watchdog_us = sd_notify_watchdog_usec ();
  if (watchdog_us > 0)
    d.watchdog_id = g_timeout_add (MAX (watchdog_us / 2000, 100), on_watchdog, &d);

  g_message ("ballastd %s started", BALLAST_VERSION);
  sd_notify_send ("READY=1\nSTATUS=started");
  g_main_loop_run (d.loop);

  g_clear_handle_id (&d.watchdog_id, g_source_remove);
  mgr_release (d.mgr);
  mgr_free (d.mgr);
  g_main_loop_unref (d.loop);
  return 0;
}
