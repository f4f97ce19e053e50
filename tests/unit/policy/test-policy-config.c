/* test-policy-config.c: the policy's config keys: sizes, percentages,
 * durations, enums, bad values rejected with the key named, unknown keys. */
#include <glib.h>
#include <stdlib.h>

#include "policy-config.h"
#include "policy-keyfile.h"
#include "policy-test.h"

typedef struct
{
  const char *text;
  bool ok;
  bool is_pct;
  uint64_t bytes;
  double pct;
} SizeCase;

static const SizeCase size_cases[] = {
  { .text = "1048576", .ok = true, .bytes = 1048576 },
  { .text = "512M", .ok = true, .bytes = 512 * MIB },
  { .text = "2G", .ok = true, .bytes = 2 * GIB },
  { .text = "2g", .ok = true, .bytes = 2 * GIB },
  { .text = "64k", .ok = true, .bytes = 65536 },
  { .text = "1.5GiB", .ok = true, .bytes = 1536 * MIB },
  { .text = "3 GB", .ok = true, .bytes = 3 * GIB },
  { .text = "1T", .ok = true, .bytes = 1024 * GIB },
  { .text = " 16M ", .ok = true, .bytes = 16 * MIB },
  { .text = "0", .ok = true, .bytes = 0 },
  { .text = "100B", .ok = true, .bytes = 100 },
  { .text = "1MB", .ok = true, .bytes = MIB }, /* K/M/G are binary whatever the spelling */
  { .text = "512" },                           /* no unit: not 512 bytes by surprise */
  { .text = "1048575" },
  { .text = "18446744073709551615", .ok = true, .bytes = UINT64_MAX },
  { .text = "25%", .ok = true, .is_pct = true, .pct = 25.0 },
  { .text = "0.5 %", .ok = true, .is_pct = true, .pct = 0.5 },
  { .text = "100%", .ok = true, .is_pct = true, .pct = 100.0 },
  { .text = "" },
  { .text = "M" },
  { .text = "-1G" },
  { .text = "12X" },
  { .text = "1G2" },
  { .text = "101%" },
  { .text = "-5%" },
  { .text = "abc%" },
  { .text = "18446744073709551616" },
  { .text = "16777216T" },
  { .text = "1e3" },
  { .text = "0x10" },
  { .text = "nan" },
  { .text = "inf" },
};

static void
test_sizes (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (size_cases); i++)
    {
      const SizeCase *sc = &size_cases[i];
      PolicySize out = { 0 };
      char *err = NULL;
      bool ok = policy_parse_size (sc->text, &out, &err);
      g_test_message ("'%s' -> %d %s", sc->text, ok, err ? err : "");
      g_assert_cmpint (ok, ==, sc->ok);
      if (ok)
        {
          g_assert_null (err);
          g_assert_true (out.set);
          g_assert_cmpint (out.is_pct, ==, sc->is_pct);
          if (sc->is_pct)
            g_assert_cmpfloat_with_epsilon (out.pct, sc->pct, 1e-9);
          else
            g_assert_cmpuint (out.bytes, ==, sc->bytes);
        }
      else
        g_assert_nonnull (err);
      free (err);
    }
}

typedef struct
{
  const char *text;
  uint64_t bare_unit_ms;
  bool ok;
  uint64_t ms;
} DurCase;

static const DurCase dur_cases[] = {
  { .text = "120s", .bare_unit_ms = 1000, .ok = true, .ms = 120000 },
  { .text = "500ms", .bare_unit_ms = 1000, .ok = true, .ms = 500 },
  { .text = "2m", .bare_unit_ms = 1000, .ok = true, .ms = 120000 },
  { .text = "1h", .bare_unit_ms = 1000, .ok = true, .ms = 3600000 },
  { .text = "1.5s", .bare_unit_ms = 1000, .ok = true, .ms = 1500 },
  { .text = "90", .bare_unit_ms = 1000, .ok = true, .ms = 90000 },
  { .text = "250", .bare_unit_ms = 1, .ok = true, .ms = 250 },
  { .text = "2 min", .bare_unit_ms = 1000, .ok = true, .ms = 120000 },
  { .text = "10S", .bare_unit_ms = 1000, .ok = true, .ms = 10000 },
  { .text = "", .bare_unit_ms = 1000 },
  { .text = "s", .bare_unit_ms = 1000 },
  { .text = "-1s", .bare_unit_ms = 1000 },
  { .text = "5d", .bare_unit_ms = 1000 },
  { .text = "1e9s", .bare_unit_ms = 1000 },
  { .text = "8000h", .bare_unit_ms = 1000 },
  { .text = "1s2", .bare_unit_ms = 1000 },
};

static void
test_durations (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (dur_cases); i++)
    {
      const DurCase *dc = &dur_cases[i];
      uint64_t ms = 0;
      char *err = NULL;
      bool ok = policy_parse_duration_ms (dc->text, dc->bare_unit_ms, &ms, &err);
      g_test_message ("'%s' -> %d %s", dc->text, ok, err ? err : "");
      g_assert_cmpint (ok, ==, dc->ok);
      if (ok)
        g_assert_cmpuint (ms, ==, dc->ms);
      else
        g_assert_nonnull (err);
      free (err);
    }
}

static void
test_vm_keys (void)
{
  PolicyVmConfig v;
  policy_vm_config_defaults (&v);
  g_assert_cmpint (v.mode, ==, POLICY_VM_MODE_AUTO);
  g_assert_cmpuint (v.shares, ==, 1000);
  g_assert_cmpuint (v.cold_age_ms, ==, 120000);
  g_assert_true (v.ksm);
  g_assert_cmpfloat_with_epsilon (v.pressure_target_pct, 0.1, 1e-12);
  g_assert_false (v.min.set || v.max.set || v.headroom.set || v.target.set);

  static const struct
  {
    const char *key, *value;
  } good[] = {
    { "mode", "fixed" },    { "min", "512M" },    { "max", "75%" },
    { "target", "2G" },     { "shares", "2000" }, { "cold-age", "2m" },
    { "headroom", "128M" }, { "ksm", "no" },      { "pressure-target", "0.5%" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (good); i++)
    {
      char *err = NULL;
      g_assert_cmpint (policy_vm_config_set (&v, good[i].key, good[i].value, &err), ==,
                       POLICY_KEY_OK);
      g_assert_null (err);
    }
  g_assert_cmpint (v.mode, ==, POLICY_VM_MODE_FIXED);
  g_assert_cmpuint (v.min.bytes, ==, 512 * MIB);
  g_assert_true (v.max.is_pct);
  g_assert_cmpfloat_with_epsilon (v.max.pct, 75.0, 1e-12);
  g_assert_cmpuint (v.target.bytes, ==, 2 * GIB);
  g_assert_cmpuint (v.shares, ==, 2000);
  g_assert_cmpuint (v.cold_age_ms, ==, 120000);
  g_assert_cmpuint (v.headroom.bytes, ==, 128 * MIB);
  g_assert_false (v.ksm);
  g_assert_cmpfloat_with_epsilon (v.pressure_target_pct, 0.5, 1e-12);

  /* Bad values: rejected, the key named, the config untouched. */
  static const struct
  {
    const char *key, *value;
  } bad[] = {
    { "mode", "sometimes" },    { "min", "lots" },      { "max", "150%" },
    { "target", "-2G" },        { "shares", "-1" },     { "shares", "2000000" },
    { "shares", "1.5" },        { "cold-age", "soon" }, { "cold-age", "0s" },
    { "headroom", "12Q" },      { "ksm", "maybe" },     { "pressure-target", "200%" },
    { "pressure-target", "x" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      PolicyVmConfig before = v;
      char *err = NULL;
      g_assert_cmpint (policy_vm_config_set (&v, bad[i].key, bad[i].value, &err), ==,
                       POLICY_KEY_INVALID);
      g_test_message ("%s=%s: %s", bad[i].key, bad[i].value, err);
      g_assert_nonnull (err);
      g_assert_true (g_str_has_prefix (err, bad[i].key));
      g_assert_true (memcmp (&before, &v, sizeof v) == 0);
      free (err);
    }
  char *err = NULL;
  g_assert_cmpint (policy_vm_config_set (&v, "colour", "blue", &err), ==, POLICY_KEY_UNKNOWN);
  g_assert_null (err);
  /* A NULL error pointer is allowed. */
  g_assert_cmpint (policy_vm_config_set (&v, "min", "bad", NULL), ==, POLICY_KEY_INVALID);
}

static void
test_host_keys (void)
{
  PolicyConfig c;
  policy_config_defaults (&c);
  g_assert_cmpuint (c.tick_ms, ==, 1000);
  g_assert_cmpint (c.host_mode, ==, POLICY_HOST_MODE_BALANCED);
  g_assert_cmpint (c.ksm_mode, ==, POLICY_KSM_MODE_AUTO);
  g_assert_cmpfloat_with_epsilon (c.ksm_cpu_steady_pct, 10.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (c.ksm_cpu_boost_pct, 50.0, 1e-12);
  g_assert_cmpuint (c.ksm_boost_scan_time_ms, ==, 10000);

  static const struct
  {
    const char *section, *key, *value;
    PolicyKeyResult r;
  } cases[] = {
    { "host", "reserve", "2G", POLICY_KEY_OK },
    { "host", "mode", "density", POLICY_KEY_OK },
    { "host", "inflate-step", "5%", POLICY_KEY_OK },
    { "host", "deadband", "32M", POLICY_KEY_OK },
    { "ksm", "mode", "observe", POLICY_KEY_OK },
    { "ksm", "cpu-steady", "5%", POLICY_KEY_OK },
    { "ksm", "cpu-boost", "80", POLICY_KEY_OK },
    { "ksm", "boost-scan-time", "45s", POLICY_KEY_OK },
    { "daemon", "tick-ms", "500", POLICY_KEY_OK },
    { "defaults", "shares", "500", POLICY_KEY_OK },
    { "host", "reserve", "lots", POLICY_KEY_INVALID },
    { "host", "mode", "sparse", POLICY_KEY_INVALID },
    { "host", "deadband", "120%", POLICY_KEY_INVALID },
    { "ksm", "mode", "on", POLICY_KEY_INVALID },
    { "ksm", "cpu-boost", "0%", POLICY_KEY_INVALID },
    { "ksm", "cpu-steady", "101", POLICY_KEY_INVALID },
    { "ksm", "boost-scan-time", "10ms", POLICY_KEY_INVALID },
    { "daemon", "tick-ms", "0", POLICY_KEY_INVALID },
    { "daemon", "tick-ms", "2h", POLICY_KEY_INVALID },
    { "defaults", "min", "50 apples", POLICY_KEY_INVALID },
    { "host", "colour", "blue", POLICY_KEY_UNKNOWN },
    { "ksm", "run", "1", POLICY_KEY_UNKNOWN },
    { "daemon", "control-socket", "/run/x", POLICY_KEY_UNKNOWN },
    { "nosuch", "reserve", "1G", POLICY_KEY_UNKNOWN },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *err = NULL;
      PolicyKeyResult r
          = policy_config_set (&c, cases[i].section, cases[i].key, cases[i].value, &err);
      g_test_message ("[%s] %s=%s -> %d %s", cases[i].section, cases[i].key, cases[i].value, r,
                      err ? err : "");
      g_assert_cmpint (r, ==, cases[i].r);
      if (r == POLICY_KEY_INVALID)
        g_assert_true (err != NULL && g_str_has_prefix (err, cases[i].key));
      else
        g_assert_null (err);
      free (err);
    }
  g_assert_cmpuint (c.host_reserve.bytes, ==, 2 * GIB);
  g_assert_cmpint (c.host_mode, ==, POLICY_HOST_MODE_DENSITY);
  g_assert_true (c.inflate_step.is_pct);
  g_assert_cmpuint (c.deadband.bytes, ==, 32 * MIB);
  g_assert_cmpint (c.ksm_mode, ==, POLICY_KSM_MODE_OBSERVE);
  g_assert_cmpfloat_with_epsilon (c.ksm_cpu_steady_pct, 5.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (c.ksm_cpu_boost_pct, 80.0, 1e-12);
  g_assert_cmpuint (c.ksm_boost_scan_time_ms, ==, 45000);
  g_assert_cmpuint (c.tick_ms, ==, 500);
  g_assert_cmpuint (c.vm_defaults.shares, ==, 500);
}

static void
test_keyfile (void)
{
  static const char text[] = "[host]\nreserve=1G\nmode=density\nfrobnicate=yes\n"
                             "[ksm]\nmode=off\n"
                             "[defaults]\nmin=25%\nheadroom=96M\n"
                             "[daemon]\ntick-ms=250\ncontrol-socket=/run/x.sock\n"
                             "[vm web]\nmax=6G\nshares=3000\nwings=2\n";
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, NULL));
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  PolicyConfig c;
  policy_config_defaults (&c);
  g_assert_true (policy_config_apply_keyfile (&c, kf, warnings, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (c.host_reserve.bytes, ==, 1 * GIB);
  g_assert_cmpint (c.host_mode, ==, POLICY_HOST_MODE_DENSITY);
  g_assert_cmpint (c.ksm_mode, ==, POLICY_KSM_MODE_OFF);
  g_assert_true (c.vm_defaults.min.is_pct);
  g_assert_cmpuint (c.vm_defaults.headroom.bytes, ==, 96 * MIB);
  g_assert_cmpuint (c.tick_ms, ==, 250);
  g_assert_cmpuint (warnings->len, ==,
                    1); /* [daemon] keys of the daemon are not ours to warn about */
  g_assert_cmpstr (g_ptr_array_index (warnings, 0), ==, "[host] frobnicate: unknown key");

  PolicyVmConfig v = c.vm_defaults;
  g_assert_true (policy_vm_config_apply_keyfile (&v, kf, "vm web", warnings, &error));
  g_assert_cmpuint (v.max.bytes, ==, 6 * GIB);
  g_assert_cmpuint (v.shares, ==, 3000);
  g_assert_cmpuint (warnings->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (warnings, 1), ==, "[vm web] wings: unknown key");

  /* A bad value: the group and key are named. */
  g_assert_true (
      g_key_file_load_from_data (kf, "[ksm]\ncpu-boost=lots\n", -1, G_KEY_FILE_NONE, NULL));
  g_assert_false (policy_config_apply_keyfile (&c, kf, NULL, &error));
  g_assert_error (error, POLICY_CONFIG_ERROR, POLICY_CONFIG_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "[ksm] cpu-boost: "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/policy/config/sizes", test_sizes);
  g_test_add_func ("/policy/config/durations", test_durations);
  g_test_add_func ("/policy/config/vm-keys", test_vm_keys);
  g_test_add_func ("/policy/config/host-keys", test_host_keys);
  g_test_add_func ("/policy/config/keyfile", test_keyfile);
  return g_test_run ();
}
