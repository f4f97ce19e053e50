/* policy-keyfile.c: GKeyFile groups through the key parser, collecting
 * unknown-key warnings and failing on the first bad value, key named. */
#include "policy-keyfile.h"

#include <stdlib.h>

G_DEFINE_QUARK (policy - config - error - quark, policy_config_error)

typedef PolicyKeyResult (*KeySetFn) (void *target, const char *group, const char *key,
                                     const char *value, char **error);

static PolicyKeyResult
keyfile_set_host (void *target, const char *group, const char *key, const char *value, char **error)
{
  return policy_config_set (target, group, key, value, error);
}

static PolicyKeyResult
keyfile_set_vm (void *target, const char *group, const char *key, const char *value, char **error)
{
  return policy_vm_config_set (target, key, value, error);
}

static gboolean
keyfile_apply_group (void *target, KeySetFn set, GKeyFile *kf, const char *group,
                     gboolean warn_unknown, GPtrArray *warnings, GError **error)
{
  if (!g_key_file_has_group (kf, group))
    return TRUE;
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (char **k = keys; k != NULL && *k != NULL; k++)
    {
      g_autoptr (GError) local = NULL;
      g_autofree char *value = g_key_file_get_string (kf, group, *k, &local);
      if (value == NULL)
        {
          g_set_error (error, POLICY_CONFIG_ERROR, POLICY_CONFIG_ERROR_INVALID, "[%s] %s: %s",
                       group, *k, local ? local->message : "invalid value");
          return FALSE;
        }
      char *perr = NULL;
      PolicyKeyResult r = set (target, group, *k, value, &perr);
      if (r == POLICY_KEY_INVALID)
        {
          g_set_error (error, POLICY_CONFIG_ERROR, POLICY_CONFIG_ERROR_INVALID, "[%s] %s", group,
                       perr ? perr : "invalid value");
          free (perr);
          return FALSE;
        }
      free (perr);
      if (r == POLICY_KEY_UNKNOWN && warn_unknown && warnings != NULL)
        g_ptr_array_add (warnings, g_strdup_printf ("[%s] %s: unknown key", group, *k));
    }
  return TRUE;
}

gboolean
policy_config_apply_keyfile (PolicyConfig *c, GKeyFile *kf, GPtrArray *warnings, GError **error)
{
  g_return_val_if_fail (c != NULL && kf != NULL, FALSE);
  static const struct
  {
    const char *group;
    gboolean warn_unknown;
  } groups[] = {
    { "host", TRUE },
    { "ksm", TRUE },
    { "defaults", TRUE },
    { "daemon", FALSE },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (groups); i++)
    if (!keyfile_apply_group (c, keyfile_set_host, kf, groups[i].group, groups[i].warn_unknown,
                              warnings, error))
      return FALSE;
  return TRUE;
}

gboolean
policy_vm_config_apply_keyfile (PolicyVmConfig *v, GKeyFile *kf, const char *group,
                                GPtrArray *warnings, GError **error)
{
  g_return_val_if_fail (v != NULL && kf != NULL && group != NULL, FALSE);
  return keyfile_apply_group (v, keyfile_set_vm, kf, group, TRUE, warnings, error);
}
