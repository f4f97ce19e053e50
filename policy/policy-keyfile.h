/* policy-keyfile.h: applies whole GKeyFile groups of ballast.conf / vms.d
 * through the key parser of policy-config.h. */
#pragma once

#include <glib.h>

#include "policy-config.h"

#define POLICY_CONFIG_ERROR (policy_config_error_quark ())
GQuark policy_config_error_quark (void);

enum
{
  POLICY_CONFIG_ERROR_INVALID, /* a known key with a bad value */
};

/* Applies groups [host], [ksm], [defaults] and [daemon] of `kf` to `c`.
 * Unknown keys of [host]/[ksm]/[defaults] are appended to `warnings`
 * (char *, g_free; may be NULL) as "[group] key: unknown key"; [daemon] keys
 * the policy does not know are left to the daemon silently; other groups are
 * ignored. Returns FALSE on the first invalid value with an error naming
 * group and key; `c` may then be partly updated. */
gboolean policy_config_apply_keyfile (PolicyConfig *c, GKeyFile *kf, GPtrArray *warnings,
                                      GError **error);

/* Applies every key of `group` as a per-VM key. Same warning/error contract. */
gboolean policy_vm_config_apply_keyfile (PolicyVmConfig *v, GKeyFile *kf, const char *group,
                                         GPtrArray *warnings, GError **error);
