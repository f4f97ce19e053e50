/* test-config.c: the config loader's messages an operator meets: where an
 * error is (file, line, section), each key named once, and values that
 * would mean something else than written (a forgotten unit, an inline
 * comment, mode=fixed without a target) refused with a reason. */
#include <glib.h>
#include <string.h>

#include "config.h"

/* Loads `text`; asserts it fails with a message holding every needle. */
static void
assert_load_fails (const char *text, const char *const *needles)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BallastConfig) cfg = cfg_load_data (text, "test.conf", &error);
  g_assert_null (cfg);
  g_assert_nonnull (error);
  g_test_message ("%s -> %s", text, error->message);
  for (gsize i = 0; needles[i] != NULL; i++)
    if (strstr (error->message, needles[i]) == NULL)
      g_error ("'%s' lacks '%s'", error->message, needles[i]);
}

static guint
count (const char *haystack, const char *needle)
{
  guint n = 0;
  for (const char *p = strstr (haystack, needle); p; p = strstr (p + 1, needle))
    n++;
  return n;
}

static void
test_vm_section_name (void)
{
  /* The section's own line, not ":0:" and a key "name" nobody wrote. */
  assert_load_fails ("[daemon]\n\n[vm my vm]\nmin=1G\n",
                     (const char *[]){ "test.conf:3:", "[vm my vm]", "not a VM name", NULL });
  g_autoptr (GError) error = NULL;
  g_assert_null (cfg_load_data ("[vm my vm]\nmin=1G\n", "t", &error));
  g_assert_null (strstr (error->message, ":0:"));
  g_assert_null (strstr (error->message, " name:"));
}

static void
test_values_that_mean_something_else (void)
{
  assert_load_fails ("[defaults]\nmin=512\n",
                     (const char *[]){ "test.conf:2:", "min", "no unit", "512M", NULL });
  assert_load_fails ("[host]\nreserve=1000\n", (const char *[]){ "reserve", "no unit", NULL });
  assert_load_fails ("[defaults]\nmin=1G # the floor\n",
                     (const char *[]){ "test.conf:2:", "own line", NULL });
  assert_load_fails ("[daemon]\ndry-run=yes # for now\n", (const char *[]){ "own line", NULL });
  /* MB is MiB, as documented; bytes need a unit below 1 MiB. */
  g_autoptr (GError) error = NULL;
  g_autoptr (BallastConfig) cfg
      = cfg_load_data ("[host]\nreserve=512MB\n[defaults]\nheadroom=0\nmin=100B\n", "t", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cfg->policy.host_reserve.bytes, ==, 512u << 20);
  g_assert_cmpuint (cfg->policy.vm_defaults.min.bytes, ==, 100);
}

static void
test_fixed_needs_target (void)
{
  assert_load_fails ("[vm web1]\nmode=fixed\n",
                     (const char *[]){ "[vm web1]", "mode=fixed needs target", NULL });
  assert_load_fails ("[defaults]\nmode=fixed\n", (const char *[]){ "[defaults]", "target", NULL });
  g_autoptr (GError) error = NULL;
  g_autoptr (BallastConfig) cfg
      = cfg_load_data ("[defaults]\ntarget=1G\n[vm web1]\nmode=fixed\n", "t", &error);
  g_assert_no_error (error);
  g_assert_nonnull (cfg);

  PolicyVmConfig v;
  policy_vm_config_defaults (&v);
  g_assert_true (cfg_vm_policy_set (&v, "mode", "fixed", NULL));
  g_assert_false (cfg_vm_policy_check (&v, NULL));
  g_assert_true (cfg_vm_policy_set (&v, "target", "2G", NULL));
  g_assert_true (cfg_vm_policy_check (&v, NULL));
}

/* set-policy's error names the key once. */
static void
test_key_named_once (void)
{
  PolicyVmConfig v;
  policy_vm_config_defaults (&v);
  g_autoptr (GError) error = NULL;
  g_assert_false (cfg_vm_policy_set (&v, "shares", "abc", &error));
  g_test_message ("%s", error->message);
  g_assert_cmpuint (count (error->message, "shares"), ==, 1);
  g_autoptr (GError) file_error = NULL;
  g_assert_null (cfg_load_data ("[defaults]\nshares=abc\n", "t", &file_error));
  g_assert_cmpuint (count (file_error->message, "shares"), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/vm-section-name", test_vm_section_name);
  g_test_add_func ("/config/values-that-mean-something-else", test_values_that_mean_something_else);
  g_test_add_func ("/config/fixed-needs-target", test_fixed_needs_target);
  g_test_add_func ("/config/key-named-once", test_key_named_once);
  return g_test_run ();
}
