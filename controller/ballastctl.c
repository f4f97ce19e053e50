/* ballastctl: operator CLI for ballastd's QMP-speaking control socket.
 * A table of commands; tables via libsmartcols; --json prints the raw reply. */
#include "ballast-config.h"

#include <glib.h>
#include <jansson.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "ctl-output.h"
#include "ctl-top.h"
#include "qmp-sync.h"

#define CTL_DEFAULT_SOCKET BALLAST_CONTROL_SOCKET
/* A daemon busy with a tick answers in milliseconds; 5 s means it is stuck. */
#define CTL_TIMEOUT_MS 5000
#define CTL_DECISIONS_DEFAULT 20
/* The daemon keeps this many; asking for more only returns these. */
#define CTL_DECISIONS_MAX 512
/* The control socket drops a client silent for 5 min: an event follower
 * says something now and then. */
#define CTL_EVENTS_KEEPALIVE_MS (60 * 1000)

typedef struct
{
  const char *socket_path;
  gboolean raw_json; /* --json: the reply as the daemon sent it */
  CtlTableOptions table;
  const char *cmd; /* the command's name, for errors */
  QmpSync *qmp;    /* connected on first use */
  double top_delay_s;
} Ctl;

typedef int (*CtlRunFn) (Ctl *ctl, int argc, char **argv);

typedef struct
{
  const char *name;
  const char *args;
  const char *help;
  int min_args, max_args; /* after the command's name; -1: any number */
  CtlRunFn run;
} CtlCommandDef;

static void ctl_fail (Ctl *ctl, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

/* Every error is one line: "ballastctl: COMMAND: what". */
static void
ctl_fail (Ctl *ctl, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (ctl->cmd != NULL)
    g_printerr ("ballastctl: %s: %s\n", ctl->cmd, msg);
  else
    g_printerr ("ballastctl: %s\n", msg);
}

/* qmp-client words an error reply "command 'X' failed: Class: desc"; the
 * command is already named and the class is QMP's business: the desc. */
static const char *
ctl_error_desc (const GError *error)
{
  const char *m = error->message;
  if (!g_error_matches (error, QMP_ERROR, QMP_ERROR_COMMAND))
    return m;
  const char *failed = strstr (m, " failed: ");
  if (failed == NULL)
    return m;
  m = failed + strlen (" failed: ");
  const char *desc = strstr (m, ": ");
  return desc ? desc + 2 : m;
}

static gboolean
ctl_connect (Ctl *ctl)
{
  if (ctl->qmp != NULL)
    return TRUE;
  g_autoptr (GError) error = NULL;
  ctl->qmp = qmp_sync_connect (ctl->socket_path, CTL_TIMEOUT_MS, &error);
  if (ctl->qmp == NULL)
    {
      ctl_fail (ctl, "%s; is ballastd running?", error->message);
      return FALSE;
    }
  return TRUE;
}

/* Runs `command`; NULL after saying why. `args` is stolen. */
static json_t *
ctl_execute (Ctl *ctl, const char *command, json_t *args)
{
  if (!ctl_connect (ctl))
    {
      json_decref (args);
      return NULL;
    }
  g_autoptr (GError) error = NULL;
  json_t *reply = qmp_sync_execute (ctl->qmp, command, args, &error);
  if (reply == NULL)
    ctl_fail (ctl, "%s", ctl_error_desc (error));
  return reply;
}

static void
ctl_print_json (json_t *v)
{
  char *text = json_dumps (v, JSON_INDENT (2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  printf ("%s\n", text);
  free (text);
}

/* ---- views ---------------------------------------------------------------- */

static const CtlColumn ctl_vm_columns[] = {
  { "NAME", "name", CTL_FMT_TEXT },
  { "STATE", "state", CTL_FMT_TEXT },
  { "BACKEND", "backend", CTL_FMT_TEXT },
  { "MODE", "mode", CTL_FMT_TEXT },
  { "MAX", "max_bytes", CTL_FMT_BYTES },
  { "MIN", "min_bytes", CTL_FMT_BYTES },
  { "ACTUAL", "actual_bytes", CTL_FMT_BYTES },
  { "TARGET", "target_bytes", CTL_FMT_BYTES },
  { "NEED", "need_bytes", CTL_FMT_BYTES },
  { "WS", "ws_source", CTL_FMT_TEXT },
  { "PRESSURE", "pressure", CTL_FMT_TEXT },
  { "REASON", "last_reason", CTL_FMT_TEXT },
};

static const CtlColumn ctl_decision_columns[] = {
  { "TIME", "time_ms", CTL_FMT_TIME },          { "VM", "vm", CTL_FMT_TEXT },
  { "OLD", "old_target_bytes", CTL_FMT_BYTES }, { "NEW", "new_target_bytes", CTL_FMT_BYTES },
  { "REASON", "reason", CTL_FMT_TEXT },         { "APPLIED", "applied", CTL_FMT_BOOL },
};

static const CtlColumn ctl_status_fields[] = {
  { "version:", "version", CTL_FMT_TEXT },
  { "policy:", "policy", CTL_FMT_TEXT },
  { "uptime (ms):", "uptime_ms", CTL_FMT_TEXT },
  { "dry run:", "dry_run", CTL_FMT_BOOL },
  { "VMs:", "vm_count", CTL_FMT_TEXT },
  { "tick (ms):", "tick_ms", CTL_FMT_TEXT },
  { "host total:", "host.total_bytes", CTL_FMT_BYTES },
  { "host available:", "host.available_bytes", CTL_FMT_BYTES },
  { "host reserve:", "host.reserve_bytes", CTL_FMT_BYTES },
  { "budget:", "host.budget_bytes", CTL_FMT_BYTES },
  { "host PSI some avg10 (%):", "host.psi_some_avg10", CTL_FMT_TEXT },
};

static const CtlColumn ctl_ksm_fields[] = {
  { "state:", "state", CTL_FMT_TEXT },
  { "mode:", "mode", CTL_FMT_TEXT },
  { "run:", "run", CTL_FMT_TEXT },
  { "pages_to_scan:", "pages_to_scan", CTL_FMT_TEXT },
  { "sleep_millisecs:", "sleep_millisecs", CTL_FMT_TEXT },
  { "pages_shared:", "pages_shared", CTL_FMT_TEXT },
  { "pages_sharing:", "pages_sharing", CTL_FMT_TEXT },
  { "full_scans:", "full_scans", CTL_FMT_TEXT },
  { "saved:", "saved_bytes", CTL_FMT_BYTES },
  { "ksmd CPU (%):", "ksmd_cpu_pct", CTL_FMT_TEXT },
  { "reason:", "last_reason", CTL_FMT_TEXT },
};

static const CtlColumn ctl_vm_detail_fields[] = {
  { "name:", "name", CTL_FMT_TEXT },
  { "state:", "state", CTL_FMT_TEXT },
  { "backend:", "backend", CTL_FMT_TEXT },
  { "mode:", "mode", CTL_FMT_TEXT },
  { "max:", "max_bytes", CTL_FMT_BYTES },
  { "min:", "min_bytes", CTL_FMT_BYTES },
  { "actual:", "actual_bytes", CTL_FMT_BYTES },
  { "target:", "target_bytes", CTL_FMT_BYTES },
  { "need:", "need_bytes", CTL_FMT_BYTES },
  { "working set source:", "ws_source", CTL_FMT_TEXT },
  { "pressure:", "pressure", CTL_FMT_TEXT },
  { "reason:", "last_reason", CTL_FMT_TEXT },
  { "guest total:", "stats.total_bytes", CTL_FMT_BYTES },
  { "guest available:", "stats.available_bytes", CTL_FMT_BYTES },
  { "guest free:", "stats.free_bytes", CTL_FMT_BYTES },
  { "guest caches:", "stats.disk_caches_bytes", CTL_FMT_BYTES },
  { "QEMU PSS:", "host.pss_bytes", CTL_FMT_BYTES },
};

/* A query shown as a table (vms, decisions). */
static int
ctl_show_table (Ctl *ctl, const char *command, json_t *args, const char *name,
                const CtlColumn *cols, gsize n_cols)
{
  g_autoptr (GError) error = NULL;
  /* A bad -o is the operator's typo: say so before asking the daemon. */
  json_t *none = json_array ();
  g_autofree char *probe = ctl_table_render (none, name, cols, n_cols, &ctl->table, &error);
  json_decref (none);
  if (probe == NULL)
    {
      json_decref (args);
      ctl_fail (ctl, "%s", error->message);
      return 2;
    }
  json_t *reply = ctl_execute (ctl, command, args);
  if (reply == NULL)
    return 1;
  if (ctl->raw_json)
    ctl_print_json (reply);
  else
    {
      g_autofree char *text = ctl_table_render (reply, name, cols, n_cols, &ctl->table, NULL);
      fputs (text, stdout);
    }
  json_decref (reply);
  return 0;
}

/* A query shown as "field  value" lines (status, ksm, vm). */
static int
ctl_show_fields (Ctl *ctl, const char *command, json_t *args, const CtlColumn *cols, gsize n_cols)
{
  json_t *reply = ctl_execute (ctl, command, args);
  if (reply == NULL)
    return 1;
  if (ctl->raw_json || ctl->table.json)
    ctl_print_json (reply);
  else
    ctl_print_fields (stdout, reply, cols, n_cols);
  json_decref (reply);
  return 0;
}

/* A command whose reply is only "done". */
static int
ctl_do (Ctl *ctl, const char *command, json_t *args)
{
  json_t *reply = ctl_execute (ctl, command, args);
  if (reply == NULL)
    return 1;
  if (ctl->raw_json)
    ctl_print_json (reply);
  else
    printf ("ok\n");
  json_decref (reply);
  return 0;
}

/* ---- commands ------------------------------------------------------------- */

static int
run_status (Ctl *ctl, int argc, char **argv)
{
  return ctl_show_fields (ctl, "query-status", NULL, ctl_status_fields,
                          G_N_ELEMENTS (ctl_status_fields));
}

static int
run_vms (Ctl *ctl, int argc, char **argv)
{
  return ctl_show_table (ctl, "query-vms", NULL, "vms", ctl_vm_columns,
                         G_N_ELEMENTS (ctl_vm_columns));
}

static int
run_vm (Ctl *ctl, int argc, char **argv)
{
  return ctl_show_fields (ctl, "query-vm", json_pack ("{s:s}", "name", argv[0]),
                          ctl_vm_detail_fields, G_N_ELEMENTS (ctl_vm_detail_fields));
}

static int
run_ksm (Ctl *ctl, int argc, char **argv)
{
  return ctl_show_fields (ctl, "query-ksm", NULL, ctl_ksm_fields, G_N_ELEMENTS (ctl_ksm_fields));
}

static int
run_decisions (Ctl *ctl, int argc, char **argv)
{
  guint64 limit = CTL_DECISIONS_DEFAULT;
  if (argc == 1 && !g_ascii_string_to_unsigned (argv[0], 10, 1, CTL_DECISIONS_MAX, &limit, NULL))
    {
      ctl_fail (ctl, "'%s' is not a count (1 to %d)", argv[0], CTL_DECISIONS_MAX);
      return 2;
    }
  return ctl_show_table (ctl, "query-decisions", json_pack ("{s:I}", "limit", (json_int_t) limit),
                         "decisions", ctl_decision_columns, G_N_ELEMENTS (ctl_decision_columns));
}

static int
run_kick (Ctl *ctl, int argc, char **argv)
{
  json_t *args = json_object ();
  if (argc >= 1)
    json_object_set_new (args, "name", json_string (argv[0]));
  json_object_set_new (args, "event", json_string (argc >= 2 ? argv[1] : "operator"));
  return ctl_do (ctl, "kick", args);
}

static int
run_set (Ctl *ctl, int argc, char **argv)
{
  json_t *args = json_pack ("{s:s}", "name", argv[0]);
  for (int i = 1; i < argc; i++)
    {
      const char *eq = strchr (argv[i], '=');
      if (eq == NULL || eq == argv[i])
        {
          json_decref (args);
          ctl_fail (ctl, "'%s' is not key=value", argv[i]);
          return 2;
        }
      g_autofree char *key = g_strndup (argv[i], eq - argv[i]);
      json_object_set_new (args, key, json_string (eq + 1));
    }
  return ctl_do (ctl, "set-policy", args);
}

static int
run_reload (Ctl *ctl, int argc, char **argv)
{
  return ctl_do (ctl, "reload-config", NULL);
}

static int
run_dry_run (Ctl *ctl, int argc, char **argv)
{
  gboolean on = g_str_equal (argv[0], "on");
  if (!on && !g_str_equal (argv[0], "off"))
    {
      ctl_fail (ctl, "expected on or off, not '%s'", argv[0]);
      return 2;
    }
  return ctl_do (ctl, "set-dry-run", json_pack ("{s:b}", "enabled", on));
}

/* One event as a line: a decision reads like the journal's. */
static char *
ctl_event_line (const char *event, json_t *data, gint64 timestamp_us)
{
  json_t *ms = json_integer (timestamp_us / 1000);
  g_autofree char *when = ctl_format_value (ms, CTL_FMT_TIME);
  json_decref (ms);
  if (g_str_equal (event, "BALLAST_DECISION"))
    {
      g_autofree char *old
          = ctl_format_value (json_object_get (data, "old_target_bytes"), CTL_FMT_BYTES);
      g_autofree char *new
          = ctl_format_value (json_object_get (data, "new_target_bytes"), CTL_FMT_BYTES);
      return g_strdup_printf ("%s %s %s: target %s -> %s (%s)%s", when, event,
                              json_string_value (json_object_get (data, "vm")), old, new,
                              json_string_value (json_object_get (data, "reason")),
                              json_is_false (json_object_get (data, "applied")) ? " [dry-run]"
                                                                                : "");
    }
  g_autofree char *text = data ? json_dumps (data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  return g_strdup_printf ("%s %s %s", when, event, text ? text : "");
}

static void
ctl_on_event (QmpClient *client, const char *event, json_t *data, gint64 timestamp_us,
              gpointer user_data)
{
  Ctl *ctl = user_data;
  if (ctl->raw_json)
    {
      json_t *o
          = json_pack ("{s:s,s:O,s:{s:I,s:I}}", "event", event, "data", data ? data : json_null (),
                       "timestamp", "seconds", (json_int_t) (timestamp_us / G_USEC_PER_SEC),
                       "microseconds", (json_int_t) (timestamp_us % G_USEC_PER_SEC));
      char *text = json_dumps (o, JSON_COMPACT);
      printf ("%s\n", text);
      free (text);
      json_decref (o);
    }
  else
    {
      g_autofree char *line = ctl_event_line (event, data, timestamp_us);
      printf ("%s\n", line);
    }
  /* Piped into another tool, each event goes out as it comes. */
  fflush (stdout);
}

static int
run_events (Ctl *ctl, int argc, char **argv)
{
  if (!ctl_connect (ctl))
    return 1;
  qmp_client_subscribe (qmp_sync_get_client (ctl->qmp), "*", ctl_on_event, ctl, NULL);
  for (;;)
    {
      if (!qmp_sync_run (ctl->qmp, CTL_EVENTS_KEEPALIVE_MS))
        {
          ctl_fail (ctl, "ballastd closed the connection");
          return 1;
        }
      json_t *v = ctl_execute (ctl, "query-version", NULL);
      if (v == NULL)
        return 1;
      json_decref (v);
    }
}

static gboolean
ctl_fetch_top (gpointer user_data, CtlTopData *out)
{
  Ctl *ctl = user_data;
  out->status = ctl_execute (ctl, "query-status", NULL);
  out->host = out->status ? ctl_execute (ctl, "query-host", NULL) : NULL;
  out->vms = out->host ? ctl_execute (ctl, "query-vms", NULL) : NULL;
  out->ksm = out->vms ? ctl_execute (ctl, "query-ksm", NULL) : NULL;
  out->decisions = out->ksm ? ctl_execute (ctl, "query-decisions",
                                           json_pack ("{s:i}", "limit", CTL_TOP_DECISIONS))
                            : NULL;
  return out->decisions != NULL;
}

static int
run_top (Ctl *ctl, int argc, char **argv)
{
  if (!ctl_connect (ctl))
    return 1;
  CtlTopSource src = { .fetch = ctl_fetch_top, .user_data = ctl };
  return ctl_top_run (&src, ctl_vm_columns, G_N_ELEMENTS (ctl_vm_columns), ctl_decision_columns,
                      G_N_ELEMENTS (ctl_decision_columns), ctl->top_delay_s);
}

static const CtlCommandDef ctl_commands[] = {
  { "status", "", "daemon, host and budget", 0, 0, run_status },
  { "vms", "", "one line per VM (-o, -n, -J)", 0, 0, run_vms },
  { "vm", "NAME", "one VM in detail", 1, 1, run_vm },
  { "ksm", "", "KSM state and knobs", 0, 0, run_ksm },
  { "decisions", "[COUNT]", "the latest decisions and kicks (default 20; -o, -n, -J)", 0, 1,
    run_decisions },
  { "kick", "[NAME] [EVENT]", "a lifecycle kick (default event: operator)", 0, 2, run_kick },
  { "set", "NAME key=value...", "change a VM's policy until the next reload", 2, -1, run_set },
  { "reload", "", "reload the configuration", 0, 0, run_reload },
  { "dry-run", "on|off", "decide without acting, or act again", 1, 1, run_dry_run },
  { "events", "", "follow the event stream until Ctrl-C (--json: raw)", 0, 0, run_events },
  { "top", "", "live view: q quit, s sort column, p pause", 0, 0, run_top },
};

static char *
ctl_commands_help (void)
{
  GString *s = g_string_new ("Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (ctl_commands); i++)
    {
      g_autofree char *usage
          = g_strdup_printf ("%s %s", ctl_commands[i].name, ctl_commands[i].args);
      g_string_append_printf (s, "  %-26s %s\n", usage, ctl_commands[i].help);
    }
  return g_string_free (s, FALSE);
}

static const CtlCommandDef *
ctl_lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (ctl_commands); i++)
    if (g_str_equal (ctl_commands[i].name, name))
      return &ctl_commands[i];
  return NULL;
}

int
main (int argc, char **argv)
{
  g_autofree char *socket_path = NULL, *columns = NULL;
  gboolean raw_json = FALSE, version = FALSE, no_header = FALSE, table_json = FALSE;
  double delay_s = CTL_TOP_DEFAULT_DELAY_S;
  GOptionEntry entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
      "Control socket (default " CTL_DEFAULT_SOCKET ")", "PATH" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &raw_json, "Print the daemon's JSON reply as is", NULL },
    { "output", 'o', 0, G_OPTION_ARG_STRING, &columns, "Table columns to show, in order", "LIST" },
    { "noheadings", 'n', 0, G_OPTION_ARG_NONE, &no_header, "Tables without a header line", NULL },
    { "table-json", 'J', 0, G_OPTION_ARG_NONE, &table_json, "Tables as JSON (sizes in bytes)",
      NULL },
    { "delay", 'd', 0, G_OPTION_ARG_DOUBLE, &delay_s, "top: seconds between refreshes (1)",
      "SECS" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("COMMAND [ARGS...] - talk to ballastd");
  g_autofree char *commands_help = ctl_commands_help ();
  g_autoptr (GError) error = NULL;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (octx, entries, NULL);
  g_option_context_set_description (octx, commands_help);
  if (!g_option_context_parse (octx, &argc, &argv, &error))
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
    {
      g_printerr ("usage: ballastctl [OPTION...] COMMAND [ARGS...]\n%s"
                  "See ballastctl --help for the options.\n",
                  commands_help);
      return 2;
    }
  Ctl ctl = {
    .socket_path = socket_path ? socket_path : CTL_DEFAULT_SOCKET,
    .raw_json = raw_json,
    .table = { .columns = columns, .no_header = no_header, .json = table_json },
    .top_delay_s = delay_s,
  };
  const CtlCommandDef *def = ctl_lookup (argv[1]);
  if (def == NULL)
    {
      ctl_fail (&ctl, "unknown command '%s' (ballastctl --help lists them)", argv[1]);
      return 2;
    }
  ctl.cmd = def->name;
  int n_args = argc - 2;
  if (n_args < def->min_args || (def->max_args >= 0 && n_args > def->max_args))
    {
      ctl_fail (&ctl, "usage: ballastctl %s %s", def->name, def->args);
      return 2;
    }
  int rc = def->run (&ctl, n_args, argv + 2);
  g_clear_pointer (&ctl.qmp, qmp_sync_free);
  return rc;
}
