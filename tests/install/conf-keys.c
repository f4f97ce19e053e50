/* conf-keys: asks the real config loader which (section, key) pairs it accepts.
 * Reads candidate key names from stdin, prints "section key" for each accepted one. */
#include "ballast-config.h"

#include <glib.h>
#include <stdio.h>

#include "config.h"

/* Every section the loader reads; "vm NAME" stands for any [vm NAME]. */
static const char *const conf_sections[]
    = { "daemon", "host", "ksm", "defaults", "libvirt", "http", "vm NAME" };

/* A key is known when the loader either takes the dummy value or rejects it
 * as a bad value; an unknown key only earns a warning. */
static gboolean
conf_key_known (const char *section, const char *key)
{
  g_autofree char *group
      = g_str_equal (section, "vm NAME") ? g_strdup ("vm probe") : g_strdup (section);
  g_autofree char *text = g_strdup_printf ("[%s]\n%s=x\n", group, key);
  g_autoptr (GError) error = NULL;
  g_autoptr (BallastConfig) cfg = cfg_load_data (text, "probe", &error);
  return cfg == NULL || cfg->warnings->len == 0;
}

int
main (void)
{
  char line[256];
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_strstrip (line);
      if (*line == '\0' || !g_hash_table_add (seen, g_strdup (line)))
        continue;
      for (gsize i = 0; i < G_N_ELEMENTS (conf_sections); i++)
        if (conf_key_known (conf_sections[i], line))
          printf ("%s %s\n", conf_sections[i], line);
    }
  return 0;
}
