/* ballastctl: operator CLI for ballastd's QMP-speaking control socket.
 * Human output is aligned tables with units; --json prints the raw reply. */
#include "ballast-config.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "qmp-sync.h"

#define CTL_DEFAULT_SOCKET BALLAST_CONTROL_SOCKET
/* A daemon busy with a tick answers in milliseconds; 5 s means it is stuck. */
#define CTL_TIMEOUT_MS 5000
#define CTL_DECISIONS_DEFAULT 20

typedef struct
{
  const char *header;
  const char *key;
  int fmt; /* FALSE: as is; TRUE: bytes as MiB/GiB; CTL_FMT_TIME: ms since the epoch */
} CtlColumn;

#define CTL_FMT_TIME 2

static char *
ctl_format_time (json_t *v)
{
  if (!json_is_integer (v))
    return g_strdup ("-");
  json_int_t ms = json_integer_value (v);
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (ms / 1000);
  if (t == NULL)
    return g_strdup ("-");
  g_autofree char *hms = g_date_time_format (t, "%H:%M:%S");
  return g_strdup_printf ("%s.%03d", hms, (int) (ms % 1000));
}

static char *
ctl_format_bytes (json_t *v)
{
  if (!json_is_integer (v))
    return g_strdup ("-");
  double b = (double) json_integer_value (v);
  if (b >= 1024.0 * 1024 * 1024 * 10)
    return g_strdup_printf ("%.1f GiB", b / (1024.0 * 1024 * 1024));
  return g_strdup_printf ("%.0f MiB", b / (1024.0 * 1024));
}

static char *
ctl_format_value (json_t *v, int fmt)
{
  if (fmt == CTL_FMT_TIME)
    return ctl_format_time (v);
  if (fmt)
    return ctl_format_bytes (v);
  if (v == NULL || json_is_null (v))
    return g_strdup ("-");
  if (json_is_string (v))
    return g_strdup (json_string_value (v));
  if (json_is_integer (v))
    return g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (v));
  if (json_is_real (v))
    return g_strdup_printf ("%.2f", json_real_value (v));
  if (json_is_boolean (v))
    return g_strdup (json_is_true (v) ? "yes" : "no");
  return json_dumps (v, JSON_COMPACT);
}

/* Prints an array of objects as a table with columns sized to their content. */
static void
ctl_print_table (json_t *rows, const CtlColumn *cols, gsize n_cols)
{
  gsize n_rows = json_array_size (rows);
  g_autofree gsize *width = g_new0 (gsize, n_cols);
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);

  for (gsize c = 0; c < n_cols; c++)
    width[c] = strlen (cols[c].header);
  for (gsize r = 0; r < n_rows; r++)
    for (gsize c = 0; c < n_cols; c++)
      {
        char *s = ctl_format_value (json_object_get (json_array_get (rows, r), cols[c].key),
                                    cols[c].fmt);
        width[c] = MAX (width[c], strlen (s));
        g_ptr_array_add (cells, s);
      }
  for (gsize c = 0; c < n_cols; c++)
    printf ("%s%-*s", c ? "  " : "", (int) width[c], cols[c].header);
  printf ("\n");
  for (gsize r = 0; r < n_rows; r++)
    {
      for (gsize c = 0; c < n_cols; c++)
        {
          const char *s = g_ptr_array_index (cells, r * n_cols + c);
          /* numbers read best right-aligned, names left-aligned */
          gboolean right = cols[c].fmt == TRUE;
          printf ("%s%*s", c ? "  " : "", right ? (int) width[c] : -(int) width[c], s);
        }
      printf ("\n");
    }
}

/* Prints one object's fields as "key: value" lines, in the order given. */
static void
ctl_print_fields (json_t *obj, const CtlColumn *cols, gsize n_cols)
{
  gsize w = 0;
  for (gsize c = 0; c < n_cols; c++)
    w = MAX (w, strlen (cols[c].header));
  for (gsize c = 0; c < n_cols; c++)
    {
      json_t *v = obj;
      /* "a.b" reaches into a nested object */
      g_auto (GStrv) parts = g_strsplit (cols[c].key, ".", -1);
      for (char **p = parts; *p && v; p++)
        v = json_object_get (v, *p);
      g_autofree char *s = ctl_format_value (v, cols[c].fmt);
      printf ("%-*s  %s\n", (int) w + 1, cols[c].header, s);
    }
}

static const CtlColumn ctl_vm_columns[] = {
  { "NAME", "name", FALSE },          { "STATE", "state", FALSE },
  { "BACKEND", "backend", FALSE },    { "MODE", "mode", FALSE },
  { "MAX", "max_bytes", TRUE },       { "MIN", "min_bytes", TRUE },
  { "ACTUAL", "actual_bytes", TRUE }, { "TARGET", "target_bytes", TRUE },
  { "NEED", "need_bytes", TRUE },     { "WS", "ws_source", FALSE },
  { "PRESSURE", "pressure", FALSE },  { "REASON", "last_reason", FALSE },
};

static const CtlColumn ctl_status_fields[] = {
  { "version:", "version", FALSE },
  { "uptime (ms):", "uptime_ms", FALSE },
  { "dry run:", "dry_run", FALSE },
  { "VMs:", "vm_count", FALSE },
  { "tick (ms):", "tick_ms", FALSE },
  { "host total:", "host.total_bytes", TRUE },
  { "host available:", "host.available_bytes", TRUE },
  { "host reserve:", "host.reserve_bytes", TRUE },
  { "budget:", "host.budget_bytes", TRUE },
  { "host PSI some avg10 (%):", "host.psi_some_avg10", FALSE },
};

static const CtlColumn ctl_ksm_fields[] = {
  { "state:", "state", FALSE },
  { "mode:", "mode", FALSE },
  { "run:", "run", FALSE },
  { "pages_to_scan:", "pages_to_scan", FALSE },
  { "sleep_millisecs:", "sleep_millisecs", FALSE },
  { "pages_shared:", "pages_shared", FALSE },
  { "pages_sharing:", "pages_sharing", FALSE },
  { "full_scans:", "full_scans", FALSE },
  { "saved:", "saved_bytes", TRUE },
  { "ksmd CPU (%):", "ksmd_cpu_pct", FALSE },
  { "reason:", "last_reason", FALSE },
};

static const CtlColumn ctl_decision_columns[] = {
  { "TIME", "time_ms", CTL_FMT_TIME }, { "VM", "vm", FALSE },
  { "OLD", "old_target_bytes", TRUE }, { "NEW", "new_target_bytes", TRUE },
  { "REASON", "reason", FALSE },
};

static const CtlColumn ctl_vm_detail_fields[] = {
  { "name:", "name", FALSE },
  { "state:", "state", FALSE },
  { "backend:", "backend", FALSE },
  { "mode:", "mode", FALSE },
  { "max:", "max_bytes", TRUE },
  { "min:", "min_bytes", TRUE },
  { "actual:", "actual_bytes", TRUE },
  { "target:", "target_bytes", TRUE },
  { "need:", "need_bytes", TRUE },
  { "working set source:", "ws_source", FALSE },
  { "pressure:", "pressure", FALSE },
  { "reason:", "last_reason", FALSE },
  { "guest total:", "stats.total_bytes", TRUE },
  { "guest available:", "stats.available_bytes", TRUE },
  { "guest free:", "stats.free_bytes", TRUE },
  { "guest caches:", "stats.disk_caches_bytes", TRUE },
  { "QEMU PSS:", "host.pss_bytes", TRUE },
};

/* Parses "key=value" words into a set-policy argument object. */
static json_t *
ctl_parse_assignments (const char *name, char **words, int n_words, GError **error)
{
  json_t *args = json_pack ("{s:s}", "name", name);
  for (int i = 0; i < n_words; i++)
    {
      const char *eq = strchr (words[i], '=');
      if (eq == NULL || eq == words[i])
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "'%s' is not key=value", words[i]);
          json_decref (args);
          return NULL;
        }
      g_autofree char *key = g_strndup (words[i], eq - words[i]);
      json_object_set_new (args, key, json_string (eq + 1));
    }
  return args;
}

static int
ctl_usage (void)
{
  g_printerr ("usage: ballastctl [--socket PATH] [--json] COMMAND\n"
              "  status | vms | vm NAME | ksm | decisions [LIMIT]\n"
              "  kick [NAME] [EVENT] | set NAME key=value... | reload | dry-run on|off\n");
  return 2;
}

int
main (int argc, char **argv)
{
  g_autofree char *socket_path = NULL;
  gboolean json_out = FALSE, version = FALSE;
  GOptionEntry entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path, "Control socket", "PATH" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json_out, "Print the raw JSON reply", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("COMMAND [ARGS...] - talk to ballastd");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("ballastctl: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("ballastctl %s\n", BALLAST_VERSION);
      return 0;
    }
  if (argc < 2)
    return ctl_usage ();

  const char *cmd = argv[1];
  const char *execute = NULL;
  json_t *args = NULL;
  if (g_str_equal (cmd, "status"))
    execute = "query-status";
  else if (g_str_equal (cmd, "vms"))
    execute = "query-vms";
  else if (g_str_equal (cmd, "vm") && argc == 3)
    {
      execute = "query-vm";
      args = json_pack ("{s:s}", "name", argv[2]);
    }
  else if (g_str_equal (cmd, "ksm"))
    execute = "query-ksm";
  else if (g_str_equal (cmd, "decisions"))
    {
      execute = "query-decisions";
      gint64 limit = argc >= 3 ? g_ascii_strtoll (argv[2], NULL, 10) : CTL_DECISIONS_DEFAULT;
      args = json_pack ("{s:I}", "limit", (json_int_t) MAX (limit, 1));
    }
  else if (g_str_equal (cmd, "kick"))
    {
      execute = "kick";
      args = json_object ();
      if (argc >= 3)
        json_object_set_new (args, "name", json_string (argv[2]));
      json_object_set_new (args, "event", json_string (argc >= 4 ? argv[3] : "operator"));
    }
  else if (g_str_equal (cmd, "set") && argc >= 4)
    {
      execute = "set-policy";
      args = ctl_parse_assignments (argv[2], argv + 3, argc - 3, &error);
      if (args == NULL)
        {
          g_printerr ("ballastctl: %s\n", error->message);
          return 2;
        }
    }
  else if (g_str_equal (cmd, "reload"))
    execute = "reload-config";
  else if (g_str_equal (cmd, "dry-run") && argc == 3
           && (g_str_equal (argv[2], "on") || g_str_equal (argv[2], "off")))
    {
      execute = "set-dry-run";
      args = json_pack ("{s:b}", "enabled", g_str_equal (argv[2], "on"));
    }
  else
    return ctl_usage ();

  g_autoptr (QmpSync) qmp
      = qmp_sync_connect (socket_path ? socket_path : CTL_DEFAULT_SOCKET, CTL_TIMEOUT_MS, &error);
  if (qmp == NULL)
    {
      json_decref (args);
      g_printerr ("ballastctl: %s\n", error->message);
      return 1;
    }
  json_t *reply = qmp_sync_execute (qmp, execute, args, &error);
  if (reply == NULL)
    {
      g_printerr ("ballastctl: %s: %s\n", execute, error->message);
      return 1;
    }

  if (json_out)
    {
      char *text = json_dumps (reply, JSON_INDENT (2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
      printf ("%s\n", text);
      free (text);
    }
  else if (g_str_equal (execute, "query-status"))
    ctl_print_fields (reply, ctl_status_fields, G_N_ELEMENTS (ctl_status_fields));
  else if (g_str_equal (execute, "query-vms"))
    ctl_print_table (reply, ctl_vm_columns, G_N_ELEMENTS (ctl_vm_columns));
  else if (g_str_equal (execute, "query-vm"))
    ctl_print_fields (reply, ctl_vm_detail_fields, G_N_ELEMENTS (ctl_vm_detail_fields));
  else if (g_str_equal (execute, "query-ksm"))
    ctl_print_fields (reply, ctl_ksm_fields, G_N_ELEMENTS (ctl_ksm_fields));
  else if (g_str_equal (execute, "query-decisions"))
    ctl_print_table (reply, ctl_decision_columns, G_N_ELEMENTS (ctl_decision_columns));
  else
    printf ("ok\n");
  json_decref (reply);
  return 0;
}
