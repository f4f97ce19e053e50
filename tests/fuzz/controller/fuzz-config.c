/* fuzz-config.c: libFuzzer target for ballastd's config loader: the input
 * as one text (cfg_load_data) and, split at NUL bytes, as a directory of
 * ballast.conf, one ballast.conf.d/ drop-in and one vms.d/NAME.conf (cfg_load). */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy-config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

/* The input's parts, in order, separated by NUL (which no config text holds:
 * the loader reads up to the first one). */
enum
{
  PART_MAIN,
  PART_DROPIN,
  PART_VM_FILE,
  PART_VM_NAME, /* vms.d/<this>.conf; empty: a fixed name */
  N_PARTS,
};
/* File names are at most 255 bytes; ".conf" takes 5 of them. */
#define FUZZ_MAX_FILE_NAME 250

static char *fuzz_dir, *fuzz_main, *fuzz_vms_dir;

static void
fuzz_cleanup (void)
{
  g_autofree char *dropin_dir = g_strconcat (fuzz_main, ".d", NULL);
  g_autofree char *dropin = g_build_filename (dropin_dir, "50-fuzz.conf", NULL);
  g_unlink (dropin);
  g_rmdir (dropin_dir);
  g_rmdir (fuzz_vms_dir);
  g_unlink (fuzz_main);
  g_rmdir (fuzz_dir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* Every run writes three files: in memory it is several times faster. */
  const char *base = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) && access ("/dev/shm", W_OK) == 0
                         ? "/dev/shm"
                         : g_get_tmp_dir ();
  fuzz_dir = g_build_filename (base, "ballast-fuzz-config-XXXXXX", NULL);
  if (g_mkdtemp (fuzz_dir) == NULL)
    abort ();
  fuzz_main = g_build_filename (fuzz_dir, "ballast.conf", NULL);
  fuzz_vms_dir = g_build_filename (fuzz_dir, "vms.d", NULL);
  g_autofree char *dropin_dir = g_strconcat (fuzz_main, ".d", NULL);
  if (g_mkdir (dropin_dir, 0700) != 0 || g_mkdir (fuzz_vms_dir, 0700) != 0)
    abort ();
  atexit (fuzz_cleanup);
  return 0;
}

static void
fuzz_write (const char *path, const char *text)
{
  /* In place, without the fsync of g_file_set_contents: thousands of runs a
   * second. (Its in-place mode does not truncate on GLib 2.74.) */
  FILE *f = fopen (path, "w");
  if (f == NULL || fputs (text, f) == EOF || fclose (f) != 0)
    abort ();
}

/* What a loaded config promises: valid VM names, and VM keys that apply
 * cleanly later (they were validated at load). */
static void
fuzz_check_config (const BallastConfig *cfg, const GError *error)
{
  if ((cfg == NULL) != (error != NULL) || (error != NULL && error->message == NULL))
    abort ();
  if (cfg == NULL)
    return;
  if (cfg->warnings == NULL || cfg->vms == NULL)
    abort ();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, cfg->vms);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      const CfgVm *vm = value;
      if (!cfg_valid_vm_name (vm->name) || vm->keys->len % 2 != 0)
        abort ();
      PolicyVmConfig v = cfg->policy.vm_defaults;
      for (guint i = 0; i + 1 < vm->keys->len; i += 2)
        {
          char *perr = NULL;
          PolicyKeyResult r = policy_vm_config_set (&v, g_ptr_array_index (vm->keys, i),
                                                    g_ptr_array_index (vm->keys, i + 1), &perr);
          if (r != POLICY_KEY_OK)
            {
              fprintf (stderr, "VM %s: stored key %s = %s does not apply: %s\n", vm->name,
                       (const char *) g_ptr_array_index (vm->keys, i),
                       (const char *) g_ptr_array_index (vm->keys, i + 1), perr ? perr : "?");
              abort ();
            }
          free (perr);
        }
    }
}

/* A file name from arbitrary bytes: no '/', not too long, never empty. */
static char *
fuzz_vm_file_name (const char *name)
{
  if (*name == '\0')
    return g_strdup ("vm1.conf");
  g_autofree char *safe = g_strndup (name, FUZZ_MAX_FILE_NAME);
  g_strdelimit (safe, "/", '_');
  return g_strconcat (safe, ".conf", NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Parts as NUL-terminated strings; missing trailing parts are empty. */
  char *text = g_malloc (size + N_PARTS);
  memcpy (text, data, size);
  memset (text + size, 0, N_PARTS);
  const char *part[N_PARTS];
  const char *p = text;
  for (int i = 0; i < N_PARTS; i++)
    {
      part[i] = p;
      p += strlen (p) + (p < text + size ? 1 : 0);
    }

  GError *error = NULL;
  BallastConfig *cfg = cfg_load_data (part[PART_MAIN], "fuzz.conf", &error);
  fuzz_check_config (cfg, error);
  gboolean main_ok = cfg != NULL;
  g_clear_pointer (&cfg, cfg_free);
  g_clear_error (&error);

  g_autofree char *dropin_dir = g_strconcat (fuzz_main, ".d", NULL);
  g_autofree char *dropin = g_build_filename (dropin_dir, "50-fuzz.conf", NULL);
  g_autofree char *vm_file_name = fuzz_vm_file_name (part[PART_VM_NAME]);
  g_autofree char *vm_file = g_build_filename (fuzz_vms_dir, vm_file_name, NULL);
  fuzz_write (fuzz_main, part[PART_MAIN]);
  fuzz_write (dropin, part[PART_DROPIN]);
  fuzz_write (vm_file, part[PART_VM_FILE]);
  cfg = cfg_load (fuzz_main, FALSE, &error);
  fuzz_check_config (cfg, error);
  /* The main file is read first, exactly as cfg_load_data reads it; what
   * spans keys is checked after the last file, so only without other files
   * must a bad main file fail the load (a drop-in may set the target a
   * mode=fixed in the main file lacks). */
  if (!main_ok && cfg != NULL && *part[PART_DROPIN] == '\0' && *part[PART_VM_FILE] == '\0')
    abort ();
  g_clear_pointer (&cfg, cfg_free);
  g_clear_error (&error);
  g_unlink (vm_file);
  g_free (text);
  return 0;
}
