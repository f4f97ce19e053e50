/* fuzz-policy-config.c: libFuzzer target for the policy's config parser:
 * whole files through GKeyFile and single values through every key. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy-config.h"
#include "policy-keyfile.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const vm_keys[] = {
  "mode", "min", "max", "target", "shares", "cold-age", "headroom", "ksm", "pressure-target",
};
static const char *const host_keys[][2] = {
  { "host", "reserve" },      { "host", "mode" },
  { "host", "inflate-step" }, { "host", "deadband" },
  { "ksm", "mode" },          { "ksm", "cpu-steady" },
  { "ksm", "cpu-boost" },     { "ksm", "boost-scan-time" },
  { "daemon", "tick-ms" },
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = '\0';

  /* The bytes as one value of every key (up to the first NUL). */
  PolicyVmConfig v;
  policy_vm_config_defaults (&v);
  for (size_t i = 0; i < G_N_ELEMENTS (vm_keys); i++)
    {
      char *err = NULL;
      PolicyKeyResult r = policy_vm_config_set (&v, vm_keys[i], text, &err);
      if ((r == POLICY_KEY_INVALID) != (err != NULL))
        abort ();
      free (err);
    }
  PolicyConfig c;
  policy_config_defaults (&c);
  for (size_t i = 0; i < G_N_ELEMENTS (host_keys); i++)
    {
      char *err = NULL;
      PolicyKeyResult r = policy_config_set (&c, host_keys[i][0], host_keys[i][1], text, &err);
      if ((r == POLICY_KEY_INVALID) != (err != NULL))
        abort ();
      free (err);
    }
  PolicySize s;
  uint64_t ms;
  (void) policy_parse_size (text, &s, NULL);
  (void) policy_parse_duration_ms (text, 1000, &ms, NULL);

  /* The bytes as a whole config file. */
  GKeyFile *kf = g_key_file_new ();
  if (g_key_file_load_from_data (kf, (const char *) data, size, G_KEY_FILE_NONE, NULL))
    {
      GPtrArray *warnings = g_ptr_array_new_with_free_func (g_free);
      GError *error = NULL;
      policy_config_defaults (&c);
      (void) policy_config_apply_keyfile (&c, kf, warnings, &error);
      g_clear_error (&error);
      gchar **groups = g_key_file_get_groups (kf, NULL);
      for (gchar **g = groups; g != NULL && *g != NULL; g++)
        {
          policy_vm_config_defaults (&v);
          (void) policy_vm_config_apply_keyfile (&v, kf, *g, warnings, &error);
          g_clear_error (&error);
        }
      g_strfreev (groups);
      g_ptr_array_unref (warnings);
    }
  g_key_file_free (kf);
  free (text);
  return 0;
}
