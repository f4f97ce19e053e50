/* config.c: loads ballast.conf + ballast.conf.d/ + vms.d/ with GKeyFile and
 * validates every value through the policy's key parser before anything runs. */
#define G_LOG_DOMAIN "ballast-config"

#include "config.h"

#include <errno.h>
#include <string.h>

#include "policy-config.h"

G_DEFINE_QUARK (ballast - config - error - quark, cfg_error)

static void
cfg_vm_free (gpointer p)
{
  CfgVm *vm = p;
  g_free (vm->name);
  g_free (vm->qmp_path);
  g_free (vm->agent_path);
  g_ptr_array_unref (vm->keys);
  g_free (vm);
}

void
cfg_free (BallastConfig *cfg)
{
  if (cfg == NULL)
    return;
  g_free (cfg->control_socket);
  g_free (cfg->control_group);
  g_free (cfg->read_only_socket);
  g_free (cfg->read_only_group);
  g_free (cfg->qmp_dir);
  g_free (cfg->ksm_sysfs);
  g_free (cfg->ksm_saved_path);
  g_free (cfg->libvirt_uri);
  g_free (cfg->http_listen);
  g_free (cfg->policy_name);
  g_free (cfg->path);
  g_hash_table_unref (cfg->vms);
  g_ptr_array_unref (cfg->warnings);
  g_free (cfg);
}

static BallastConfig *
cfg_new_defaults (void)
{
  BallastConfig *cfg = g_new0 (BallastConfig, 1);
  policy_config_defaults (&cfg->policy);
  cfg->control_socket = g_strdup (CFG_DEFAULT_CONTROL_SOCKET);
  cfg->ksm_sysfs = g_strdup (CFG_DEFAULT_KSM_SYSFS);
  cfg->ksm_restore_on_exit = TRUE;
  cfg->ksm_saved_path = g_strdup (CFG_DEFAULT_KSM_SAVED);
  /* A guest left ballooned with nothing to give memory back is the unsafe
   * outcome (docs/safety.md). */
  cfg->release_on_exit = TRUE;
  cfg->http_listen = g_strdup (CFG_DEFAULT_HTTP_LISTEN);
  cfg->policy_name = g_strdup ("ballast");
  cfg->max_vms = CFG_DEFAULT_MAX_VMS;
  cfg->booting_max
      = (PolicySize){ .set = TRUE, .is_pct = TRUE, .pct = CFG_DEFAULT_BOOTING_MAX_PCT };
  cfg->booting_time_ms = CFG_DEFAULT_BOOTING_TIME_MS;
  cfg->vms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, cfg_vm_free);
  cfg->warnings = g_ptr_array_new_with_free_func (g_free);
  return cfg;
}

/* GKeyFile keeps no line numbers; find the key's line in the raw text so an
 * operator is pointed at the exact place. Returns 0 when not found. */
static guint
cfg_find_line (const char *text, const char *group, const char *key)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean in_group = FALSE;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *l = lines[i];
      while (*l == ' ' || *l == '\t')
        l++;
      if (*l == '[')
        {
          const char *end = strchr (l, ']');
          in_group = end != NULL && (gsize) (end - l - 1) == strlen (group)
                     && strncmp (l + 1, group, end - l - 1) == 0;
          if (in_group && key == NULL)
            return i + 1;
          continue;
        }
      if (!in_group || key == NULL)
        continue;
      gsize klen = strlen (key);
      if (strncmp (l, key, klen) == 0)
        {
          const char *r = l + klen;
          while (*r == ' ' || *r == '\t')
            r++;
          if (*r == '=')
            return i + 1;
        }
    }
  return 0;
}

typedef struct
{
  BallastConfig *cfg;
  const char *label; /* file name for messages */
  const char *text;
} CfgCtx;

static void
cfg_warn (CfgCtx *ctx, const char *group, const char *key, const char *what)
{
  guint line = cfg_find_line (ctx->text, group, key);
  char *msg = g_strdup_printf ("%s:%u: [%s]%s%s: %s", ctx->label, line, group, key ? " " : "",
                               key ? key : "", what);
  g_ptr_array_add (ctx->cfg->warnings, msg);
}

/* The policy parser names the key itself ("shares: invalid value"): the
 * loader and set-policy name it too, so drop the parser's copy. */
static const char *
cfg_strip_key (const char *what, const char *key)
{
  gsize key_len = strlen (key);
  if (strncmp (what, key, key_len) == 0 && what[key_len] == ':' && what[key_len + 1] == ' ')
    return what + key_len + 2;
  return what;
}

/* GKeyFile has no comments after a value: "1G # note" is the value. */
#define CFG_INLINE_COMMENT_HINT                                                                    \
  " ('#' starts a comment only at the beginning of a line; put the comment on its own line)"

static gboolean
cfg_fail_value (CfgCtx *ctx, const char *group, const char *key, const char *value,
                const char *what, GError **error)
{
  guint line = cfg_find_line (ctx->text, group, key);
  g_set_error (error, CFG_ERROR, CFG_ERROR_VALUE, "%s:%u: [%s] %s: %s%s", ctx->label, line, group,
               key, cfg_strip_key (what, key),
               value != NULL && strchr (value, '#') != NULL ? CFG_INLINE_COMMENT_HINT : "");
  return FALSE;
}

static gboolean
cfg_fail (CfgCtx *ctx, const char *group, const char *key, const char *what, GError **error)
{
  return cfg_fail_value (ctx, group, key, NULL, what, error);
}

/* An error about a whole section (its name), pointing at its header line. */
static gboolean
cfg_fail_group (CfgCtx *ctx, const char *group, const char *what, GError **error)
{
  g_set_error (error, CFG_ERROR, CFG_ERROR_VALUE, "%s:%u: [%s]: %s", ctx->label,
               cfg_find_line (ctx->text, group, NULL), group, what);
  return FALSE;
}

static gboolean
cfg_parse_bool (const char *value, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "on", "1" };
  static const char *const no[] = { "false", "no", "off", "0" };
  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_ascii_strcasecmp (value, yes[i]) == 0)
        return (*out = TRUE), TRUE;
      if (g_ascii_strcasecmp (value, no[i]) == 0)
        return (*out = FALSE), TRUE;
    }
  return FALSE;
}

/* [daemon] limits on what the socket directory can make ballastd hold:
 * max-vms, booting-max, booting-time. Returns TRUE if `key` was one. */
static gboolean
cfg_limit_key (BallastConfig *cfg, const char *key, const char *value, const char **why)
{
  char *perr = NULL;
  if (g_str_equal (key, "max-vms"))
    {
      guint64 n;
      if (!g_ascii_string_to_unsigned (value, 10, 1, G_MAXINT, &n, NULL))
        *why = "expected a count of at least 1";
      else
        cfg->max_vms = (guint) n;
    }
  else if (g_str_equal (key, "booting-max"))
    {
      PolicySize size;
      if (!policy_parse_size (value, &size, &perr))
        *why = "expected a size (4G) or a percentage of the host's memory (50%)";
      else
        cfg->booting_max = size;
    }
  else if (g_str_equal (key, "booting-time"))
    {
      uint64_t ms;
      if (!policy_parse_duration_ms (value, 1000, &ms, &perr))
        *why = "expected a duration (300s, 5m)";
      else
        cfg->booting_time_ms = ms;
    }
  else
    return FALSE;
  free (perr);
  return TRUE;
}

const char *
cfg_parse_listen (const char *value, char **host, guint16 *port)
{
  static const char *const why = "expected off, ADDRESS:PORT or [IPV6-ADDRESS]:PORT (an IP "
                                 "address, not a host name)";
  const char *colon = strrchr (value, ':');
  if (colon == NULL || colon == value)
    return why;
  g_autofree char *addr = g_strndup (value, colon - value);
  if (addr[0] == '[')
    {
      gsize n = strlen (addr);
      if (n < 3 || addr[n - 1] != ']')
        return why;
      memmove (addr, addr + 1, n - 2);
      addr[n - 2] = '\0';
      if (!g_hostname_is_ip_address (addr) || strchr (addr, ':') == NULL)
        return why;
    }
  else if (!g_hostname_is_ip_address (addr) || strchr (addr, ':') != NULL)
    return why; /* an IPv6 address needs its brackets */
  guint64 p = 0;
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, G_MAXUINT16, &p, NULL))
    return "the port must be a number from 0 to 65535";
  if (host != NULL)
    *host = g_steal_pointer (&addr);
  if (port != NULL)
    *port = (guint16) p;
  return NULL;
}

/* Daemon-level keys that the policy parser does not know. Returns TRUE if
 * `key` was one of them (set *why to what is wrong with a bad value). */
static gboolean
cfg_daemon_key (BallastConfig *cfg, const char *group, const char *key, const char *value,
                const char **why)
{
  char **str_target = NULL;
  gboolean *bool_target = NULL;
  *why = NULL;
  if (g_str_equal (group, "daemon"))
    {
      if (cfg_limit_key (cfg, key, value, why))
        return TRUE;
      if (g_str_equal (key, "policy"))
        {
          /* The reference policies are for side-by-side comparisons; the
           * KSM-only ones (ksmtuned, kata) would never balloon. */
          if (!g_str_equal (value, "ballast") && !g_str_equal (value, "mom")
              && !g_str_equal (value, "proxmox"))
            {
              *why = "expected ballast, mom or proxmox";
              return TRUE;
            }
          g_free (cfg->policy_name);
          cfg->policy_name = g_strdup (value);
          return TRUE;
        }
      if (g_str_equal (key, "control-socket"))
        str_target = &cfg->control_socket;
      else if (g_str_equal (key, "control-group"))
        str_target = &cfg->control_group;
      else if (g_str_equal (key, "read-only-socket"))
        str_target = &cfg->read_only_socket;
      else if (g_str_equal (key, "read-only-group"))
        str_target = &cfg->read_only_group;
      else if (g_str_equal (key, "qmp-dir"))
        str_target = &cfg->qmp_dir;
      else if (g_str_equal (key, "http-listen"))
        {
          /* "off" (or nothing) disables the server; anything else must bind. */
          gboolean off = *value == '\0' || g_ascii_strcasecmp (value, "off") == 0;
          *why = off ? NULL : cfg_parse_listen (value, NULL, NULL);
          if (*why == NULL)
            {
              g_free (cfg->http_listen);
              cfg->http_listen = off ? NULL : g_strdup (value);
            }
          return TRUE;
        }
      else if (g_str_equal (key, "dry-run"))
        bool_target = &cfg->dry_run;
      else if (g_str_equal (key, "release-on-exit"))
        bool_target = &cfg->release_on_exit;
    }
  else if (g_str_equal (group, "ksm"))
    {
      if (g_str_equal (key, "sysfs"))
        str_target = &cfg->ksm_sysfs;
      else if (g_str_equal (key, "restore-on-exit"))
        bool_target = &cfg->ksm_restore_on_exit;
      else if (g_str_equal (key, "saved-knobs"))
        str_target = &cfg->ksm_saved_path;
    }
  else if (g_str_equal (group, "libvirt"))
    {
      if (g_str_equal (key, "uri"))
        str_target = &cfg->libvirt_uri;
    }
  if (str_target != NULL)
    {
      g_free (*str_target);
      *str_target = *value ? g_strdup (value) : NULL;
      return TRUE;
    }
  if (bool_target != NULL)
    {
      if (!cfg_parse_bool (value, bool_target))
        *why = "expected true or false";
      return TRUE;
    }
  return FALSE;
}

static CfgVm *
cfg_vm_get (BallastConfig *cfg, const char *name)
{
  CfgVm *vm = g_hash_table_lookup (cfg->vms, name);
  if (vm == NULL)
    {
      vm = g_new0 (CfgVm, 1);
      vm->name = g_strdup (name);
      vm->keys = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (cfg->vms, vm->name, vm);
    }
  return vm;
}

gboolean
cfg_valid_vm_name (const char *name)
{
  if (*name == '\0' || strlen (name) > CFG_MAX_VM_NAME)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return name[0] != '.';
}

/* The loader's side of a policy key: FALSE with the error for a bad value,
 * a warning for an unknown key. Frees `perr`. */
static gboolean
cfg_key_result (CfgCtx *ctx, const char *group, const char *key, const char *value,
                PolicyKeyResult r, char *perr, GError **error)
{
  gboolean ok = TRUE;
  if (r == POLICY_KEY_INVALID)
    ok = cfg_fail_value (ctx, group, key, value, perr ? perr : "invalid value", error);
  else if (r == POLICY_KEY_UNKNOWN)
    cfg_warn (ctx, group, key, "unknown key, ignored");
  free (perr);
  return ok;
}

static gboolean
cfg_apply_vm_group (CfgCtx *ctx, GKeyFile *kf, const char *group, const char *vm_name,
                    GError **error)
{
  if (!cfg_valid_vm_name (vm_name))
    return cfg_fail_group (
        ctx, group, "not a VM name (letters, digits, '-', '_' and '.', not starting with '.')",
        error);
  CfgVm *vm = cfg_vm_get (ctx->cfg, vm_name);
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (char **k = keys; k && *k; k++)
    {
      g_autofree char *value = g_key_file_get_string (kf, group, *k, NULL);
      if (value == NULL)
        return cfg_fail (ctx, group, *k, "not a valid string", error);
      if (g_str_equal (*k, "qmp") || g_str_equal (*k, "agent"))
        {
          char **slot = g_str_equal (*k, "qmp") ? &vm->qmp_path : &vm->agent_path;
          g_free (*slot);
          *slot = *value ? g_strdup (value) : NULL;
          continue;
        }
      /* Validate now against a scratch struct so a bad value fails the load. */
      PolicyVmConfig scratch;
      policy_vm_config_defaults (&scratch);
      char *perr = NULL;
      PolicyKeyResult r = policy_vm_config_set (&scratch, *k, value, &perr);
      if (!cfg_key_result (ctx, group, *k, value, r, perr, error))
        return FALSE;
      if (r == POLICY_KEY_UNKNOWN)
        continue;
      g_ptr_array_add (vm->keys, g_strdup (*k));
      g_ptr_array_add (vm->keys, g_strdup (value));
    }
  return TRUE;
}

static gboolean
cfg_apply_keyfile (CfgCtx *ctx, GKeyFile *kf, const char *vm_file_name, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (char **g = groups; g && *g; g++)
    {
      const char *group = *g;
      if (vm_file_name != NULL)
        {
          if (!g_str_equal (group, "vm"))
            {
              cfg_warn (ctx, group, NULL, "unknown section in a vms.d file (only [vm]), ignored");
              continue;
            }
          if (!cfg_apply_vm_group (ctx, kf, group, vm_file_name, error))
            return FALSE;
          continue;
        }
      if (g_str_has_prefix (group, "vm "))
        {
          if (!cfg_apply_vm_group (ctx, kf, group, group + 3, error))
            return FALSE;
          continue;
        }
      static const char *const known[] = { "daemon", "host", "ksm", "defaults", "libvirt", "http" };
      if (!g_strv_contains (known, group))
        {
          cfg_warn (ctx, group, NULL, "unknown section, ignored");
          continue;
        }
      g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
      for (char **k = keys; k && *k; k++)
        {
          g_autofree char *value = g_key_file_get_string (kf, group, *k, NULL);
          if (value == NULL)
            return cfg_fail (ctx, group, *k, "not a valid string", error);
          const char *why;
          if (cfg_daemon_key (ctx->cfg, group, *k, value, &why))
            {
              if (why != NULL)
                return cfg_fail_value (ctx, group, *k, value, why, error);
              continue;
            }
          char *perr = NULL;
          PolicyKeyResult r;
          if (g_str_equal (group, "defaults"))
            r = policy_vm_config_set (&ctx->cfg->policy.vm_defaults, *k, value, &perr);
          else
            r = policy_config_set (&ctx->cfg->policy, group, *k, value, &perr);
          if (!cfg_key_result (ctx, group, *k, value, r, perr, error))
            return FALSE;
        }
    }
  return TRUE;
}

static gboolean
cfg_apply_text (BallastConfig *cfg, const char *text, const char *label, const char *vm_file_name,
                GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  if (!g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, CFG_ERROR, CFG_ERROR_SYNTAX, "%s: %s", label, local->message);
      return FALSE;
    }
  CfgCtx ctx = { .cfg = cfg, .label = label, .text = text };
  return cfg_apply_keyfile (&ctx, kf, vm_file_name, error);
}

static gboolean
cfg_apply_file (BallastConfig *cfg, const char *path, const char *vm_file_name, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      g_set_error (error, CFG_ERROR, CFG_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return cfg_apply_text (cfg, text, path, vm_file_name, error);
}

static gint
cfg_strcmp_indirect (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* Lists DIR's entries ending in ".conf", sorted, so drop-ins apply in a
 * predictable (lexical) order. A missing directory is an empty list. */
static GPtrArray *
cfg_list_conf (const char *dir)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return names;
  const char *n;
  while ((n = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (n, ".conf") && n[0] != '.')
      g_ptr_array_add (names, g_strdup (n));
  g_ptr_array_sort (names, cfg_strcmp_indirect);
  return names;
}

gboolean
cfg_vm_policy_check (const PolicyVmConfig *v, GError **error)
{
  if (v->mode == POLICY_VM_MODE_FIXED && !v->target.set)
    {
      g_set_error (error, CFG_ERROR, CFG_ERROR_VALUE,
                   "mode=fixed needs target= (the size to drive the balloon to)");
      return FALSE;
    }
  return TRUE;
}

/* Rules across keys, once every file is read: [defaults] and each VM's
 * effective policy. */
static gboolean
cfg_check_vms (const BallastConfig *cfg, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!cfg_vm_policy_check (&cfg->policy.vm_defaults, &local))
    {
      g_set_error (error, CFG_ERROR, CFG_ERROR_VALUE, "%s: [defaults]: %s", cfg->path,
                   local->message);
      return FALSE;
    }
  GHashTableIter it;
  gpointer name;
  g_hash_table_iter_init (&it, cfg->vms);
  while (g_hash_table_iter_next (&it, &name, NULL))
    {
      PolicyVmConfig v;
      cfg_vm_policy (cfg, name, &v);
      if (!cfg_vm_policy_check (&v, &local))
        {
          g_set_error (error, CFG_ERROR, CFG_ERROR_VALUE, "%s: [vm %s]: %s", cfg->path,
                       (const char *) name, local->message);
          return FALSE;
        }
    }
  return TRUE;
}

BallastConfig *
cfg_load (const char *path, gboolean allow_missing, GError **error)
{
  g_autoptr (BallastConfig) cfg = cfg_new_defaults ();
  cfg->path = g_strdup (path);
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (!cfg_apply_file (cfg, path, NULL, error))
        return NULL;
    }
  else if (!allow_missing)
    {
      g_set_error (error, CFG_ERROR, CFG_ERROR_IO, "%s: no such file", path);
      return NULL;
    }

  g_autofree char *dropin_dir = g_strconcat (path, ".d", NULL);
  g_autoptr (GPtrArray) dropins = cfg_list_conf (dropin_dir);
  for (guint i = 0; i < dropins->len; i++)
    {
      g_autofree char *p = g_build_filename (dropin_dir, g_ptr_array_index (dropins, i), NULL);
      if (!cfg_apply_file (cfg, p, NULL, error))
        return NULL;
    }

  g_autofree char *base = g_path_get_dirname (path);
  g_autofree char *vms_dir = g_build_filename (base, "vms.d", NULL);
  g_autoptr (GPtrArray) vm_files = cfg_list_conf (vms_dir);
  for (guint i = 0; i < vm_files->len; i++)
    {
      const char *fname = g_ptr_array_index (vm_files, i);
      g_autofree char *vm_name = g_strndup (fname, strlen (fname) - strlen (".conf"));
      g_autofree char *p = g_build_filename (vms_dir, fname, NULL);
      if (!cfg_apply_file (cfg, p, vm_name, error))
        return NULL;
    }
  if (!cfg_check_vms (cfg, error))
    return NULL;
  return g_steal_pointer (&cfg);
}

BallastConfig *
cfg_load_data (const char *text, const char *label, GError **error)
{
  g_autoptr (BallastConfig) cfg = cfg_new_defaults ();
  cfg->path = g_strdup (label);
  if (!cfg_apply_text (cfg, text, label, NULL, error) || !cfg_check_vms (cfg, error))
    return NULL;
  return g_steal_pointer (&cfg);
}

void
cfg_vm_policy (const BallastConfig *cfg, const char *name, PolicyVmConfig *out)
{
  *out = cfg->policy.vm_defaults;
  /* Asked for every VM every tick; most hosts have no [vm NAME] sections,
   * and hashing 1,000 names then finds nothing. */
  CfgVm *vm = name != NULL && g_hash_table_size (cfg->vms) > 0
                  ? g_hash_table_lookup (cfg->vms, name)
                  : NULL;
  if (vm == NULL)
    return;
  for (guint i = 0; i + 1 < vm->keys->len; i += 2)
    {
      char *perr = NULL;
      /* Validated at load; a failure here cannot happen, so ignore it. */
      (void) policy_vm_config_set (out, g_ptr_array_index (vm->keys, i),
                                   g_ptr_array_index (vm->keys, i + 1), &perr);
      free (perr);
    }
}

gboolean
cfg_vm_policy_set (PolicyVmConfig *v, const char *key, const char *value, GError **error)
{
  char *perr = NULL;
  PolicyKeyResult r = policy_vm_config_set (v, key, value, &perr);
  if (r == POLICY_KEY_OK)
    {
      free (perr);
      return TRUE;
    }
  g_set_error (error, CFG_ERROR, CFG_ERROR_VALUE, "%s: %s", key,
               r == POLICY_KEY_UNKNOWN ? "unknown key"
                                       : cfg_strip_key (perr ? perr : "invalid value", key));
  free (perr);
  return FALSE;
}
