/* ballastd: the host memory controller daemon.
 * For now only reports its version; the control loop lands with the daemon work. */
#include "ballast-config.h"

#include <glib.h>
#include <stdio.h>

int
main (int argc, char **argv)
{
  gboolean version = FALSE;
  GOptionEntry entries[] = {
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
  g_printerr ("ballastd: the control loop is not built yet; only --version works\n");
  return 1;
}
