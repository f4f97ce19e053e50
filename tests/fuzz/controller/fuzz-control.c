/* fuzz-control.c: libFuzzer target for ballastd's control socket: every
 * input is a client's byte stream, split into lines and run through the
 * real command handlers of a real Manager (two static VMs whose sockets do
 * not exist, KSM off, nothing on the host written). Crashes, leaks and
 * sanitizer reports are failures; error replies are the expected outcome. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "manager.h"

static Manager *mgr;
static char *tmp_dir;

static void
fuzz_cleanup (void)
{
  const char *files[] = { "control.sock", "ballast.conf" };
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *p = g_build_filename (tmp_dir, files[i], NULL);
      g_unlink (p);
    }
  g_rmdir (tmp_dir);
}

static void
fuzz_init (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ballast-fuzz-control-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *conf_path = g_build_filename (dir, "ballast.conf", NULL);
  g_autofree char *conf
      = g_strdup_printf ("[daemon]\ncontrol-socket=%s/control.sock\ntick-ms=1000\nhttp-listen=off\n"
                         "[ksm]\nmode=off\nsysfs=%s/no-ksm\n"
                         "[vm web1]\nqmp=%s/web1.qmp\nmin=512M\n"
                         "[vm db1]\nqmp=%s/db1.qmp\nagent=%s/db1.agent\n",
                         dir, dir, dir, dir, dir);
  g_assert_true (g_file_set_contents (conf_path, conf, -1, NULL));
  tmp_dir = g_strdup (dir);
  atexit (fuzz_cleanup);
  /* Fuzzing does not need the daemon's chatter. */
  g_log_set_handler ("ballast", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_WARNING,
                     g_log_default_handler, NULL);
  g_setenv ("G_MESSAGES_DEBUG", "", TRUE);
  BallastConfig *cfg = cfg_load (conf_path, FALSE, &error);
  g_assert_no_error (error);
  mgr = mgr_new (cfg, g_main_loop_new (NULL, FALSE), &error);
  g_assert_no_error (error);
}

static void
quiet_log (const char *domain, GLogLevelFlags level, const char *msg, gpointer data)
{
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (mgr == NULL)
    {
      g_log_set_default_handler (quiet_log, NULL);
      fuzz_init ();
    }
  gboolean negotiated = TRUE;
  const char *p = (const char *) data, *end = p + size;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', end - p);
      gsize len = nl ? (gsize) (nl - p) : (gsize) (end - p);
      gboolean hang_up = FALSE;
      json_t *reply = mgr_dispatch (mgr, &negotiated, p, len, &hang_up);
      if (reply != NULL)
        {
          /* Every reply must serialise: it goes to the client as one line. */
          char *text = json_dumps (reply, JSON_COMPACT);
          g_assert_nonnull (text);
          g_assert_null (strchr (text, '\n'));
          free (text);
          json_decref (reply);
        }
      if (hang_up)
        break;
      p += len + 1;
    }
  /* Let kicks and urgent ticks run, as the main loop would. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return 0;
}
