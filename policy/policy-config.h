/* policy-config.h: parsing of the policy's config keys (ballast.conf [host],
 * [ksm], [defaults], [daemon] tick-ms, vms.d/NAME.conf) into PolicyConfig. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

typedef enum
{
  POLICY_KEY_OK = 0,
  POLICY_KEY_UNKNOWN, /* not a key of that section: the caller warns */
  POLICY_KEY_INVALID, /* a known key with a bad value: *error says why */
} PolicyKeyResult;

/* Parses a size: bytes ("1048576"), a binary-suffixed size ("512M", "2G",
 * "1.5GiB", "64k"; K M G T P, optional "i"/"iB"/"B", all powers of 1024) or a
 * percentage ("25%", 0..100). Returns true and fills *out (set = true);
 * false with a malloc'd *error (if error != NULL) naming the problem. */
bool policy_parse_size (const char *text, PolicySize *out, char **error);

/* Parses a duration: "500ms", "120s", "2m", "1h", or a bare number in
 * units of `bare_unit_ms`. Returns true and fills *out_ms (> 0 not
 * required); false with a malloc'd *error. */
bool policy_parse_duration_ms (const char *text, uint64_t bare_unit_ms, uint64_t *out_ms,
                               char **error);

/* Parses a percentage "0.1%" or "0.1" within [0, 100]. Same contract. */
bool policy_parse_pct (const char *text, double *out_pct, char **error);

/* Parses a boolean: true/false, yes/no, on/off, 1/0. Same contract. */
bool policy_parse_bool (const char *text, bool *out, char **error);

/* Sets one per-VM key (mode, min, max, target, shares, cold-age, headroom,
 * ksm, pressure-target). On POLICY_KEY_INVALID *error (malloc'd) names the
 * key and the value; *v is unchanged unless POLICY_KEY_OK. */
PolicyKeyResult policy_vm_config_set (PolicyVmConfig *v, const char *key, const char *value,
                                      char **error);

/* Sets one host key: section "host" (reserve, mode, inflate-step, deadband),
 * "ksm" (mode, cpu-steady, cpu-boost, boost-scan-time), "daemon" (tick-ms),
 * "defaults" (any per-VM key, into c->vm_defaults). Unknown sections and keys
 * give POLICY_KEY_UNKNOWN. Same error contract as policy_vm_config_set. */
PolicyKeyResult policy_config_set (PolicyConfig *c, const char *section, const char *key,
                                   const char *value, char **error);
