/* ctl-top.c: see ctl-top.h. The terminal is put in non-canonical mode for
 * single keys and always restored (q, Ctrl-C, SIGTERM, a lost daemon). */
#include "ctl-top.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Alternate screen, cursor home + clear, cursor hidden (as top does). */
#define CTL_TOP_ENTER "\033[?1049h\033[?25l"
#define CTL_TOP_LEAVE "\033[?25h\033[?1049l"
#define CTL_TOP_CLEAR "\033[H\033[2J"

static volatile sig_atomic_t ctl_top_stop;

static void
ctl_top_on_signal (int sig)
{
  ctl_top_stop = 1;
}

void
ctl_top_data_clear (CtlTopData *d)
{
  g_clear_pointer (&d->status, json_decref);
  g_clear_pointer (&d->host, json_decref);
  g_clear_pointer (&d->vms, json_decref);
  g_clear_pointer (&d->ksm, json_decref);
  g_clear_pointer (&d->decisions, json_decref);
}

static guint64
ctl_sum_bytes (json_t *vms, const char *key)
{
  guint64 sum = 0;
  gsize i;
  json_t *v;
  json_array_foreach (vms, i, v)
  {
    json_t *b = json_object_get (v, key);
    if (json_is_integer (b) && json_integer_value (b) > 0)
      sum += (guint64) json_integer_value (b);
  }
  return sum;
}

static char *
ctl_size (json_t *v)
{
  return ctl_format_value (v, CTL_FMT_BYTES);
}

static void
ctl_top_header (GString *out, const CtlTopData *d, const char *sort_name, gboolean paused)
{
  json_t *st = d->status, *host = d->host;
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *hms = g_date_time_format (now, "%H:%M:%S");
  g_string_append_printf (out,
                          "ballastd %s  policy %s  %" JSON_INTEGER_FORMAT
                          " VMs  tick %" JSON_INTEGER_FORMAT " ms  %s%s%s\n",
                          json_string_value (json_object_get (st, "version")),
                          json_string_value (json_object_get (st, "policy")),
                          json_integer_value (json_object_get (st, "vm_count")),
                          json_integer_value (json_object_get (st, "tick_ms")), hms,
                          json_is_true (json_object_get (st, "dry_run")) ? "  [dry-run]" : "",
                          paused ? "  [paused]" : "");
  g_autofree char *total = ctl_size (json_object_get (host, "total_bytes"));
  g_autofree char *avail = ctl_size (json_object_get (host, "available_bytes"));
  g_autofree char *reserve = ctl_size (json_object_get (host, "reserve_bytes"));
  g_autofree char *budget = ctl_size (json_object_get (host, "budget_bytes"));
  g_autofree char *actual = ctl_format_size (ctl_sum_bytes (d->vms, "actual_bytes"));
  g_autofree char *need = ctl_format_size (ctl_sum_bytes (d->vms, "need_bytes"));
  g_string_append_printf (out,
                          "Host  total %s  available %s  reserve %s  budget %s  "
                          "actual %s  need %s  PSI %.2f%s\n",
                          total, avail, reserve, budget, actual, need,
                          json_real_value (json_object_get (host, "psi_some_avg10")),
                          json_is_true (json_object_get (host, "overloaded")) ? "  OVERLOADED"
                                                                              : "");
  json_t *k = d->ksm;
  g_autofree char *saved = ctl_size (json_object_get (k, "saved_bytes"));
  g_string_append_printf (out,
                          "KSM   %s (%s, %s)  saved %s  ksmd CPU %.1f%%  run %" JSON_INTEGER_FORMAT
                          "  pages_to_scan %" JSON_INTEGER_FORMAT "\n",
                          json_string_value (json_object_get (k, "state")),
                          json_string_value (json_object_get (k, "mode")),
                          json_string_value (json_object_get (k, "last_reason")), saved,
                          json_real_value (json_object_get (k, "ksmd_cpu_pct")),
                          json_integer_value (json_object_get (k, "run")),
                          json_integer_value (json_object_get (k, "pages_to_scan")));
  g_string_append_printf (out, "\nVMs (sort: %s; q quit, s sort, p pause)\n", sort_name);
}

/* Sizes largest first, text in order; absent values last. */
static gint
ctl_top_cmp (gconstpointer a, gconstpointer b, gpointer data)
{
  const CtlColumn *col = data;
  json_t *va = ctl_json_path (*(json_t **) a, col->key);
  json_t *vb = ctl_json_path (*(json_t **) b, col->key);
  if (json_is_integer (va) && json_is_integer (vb))
    {
      json_int_t x = json_integer_value (va), y = json_integer_value (vb);
      return x > y ? -1 : x < y;
    }
  g_autofree char *sa = ctl_format_value (va, col->fmt);
  g_autofree char *sb = ctl_format_value (vb, col->fmt);
  return g_strcmp0 (sa, sb);
}

static json_t *
ctl_top_sorted (json_t *vms, const CtlColumn *col)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new ();
  gsize i;
  json_t *v;
  json_array_foreach (vms, i, v) g_ptr_array_add (rows, v);
  g_ptr_array_sort_with_data (rows, ctl_top_cmp, (gpointer) col);
  json_t *out = json_array ();
  for (guint r = 0; r < rows->len; r++)
    json_array_append (out, g_ptr_array_index (rows, r));
  return out;
}

char *
ctl_top_render (const CtlTopData *d, const CtlColumn *vm_cols, gsize n_vm_cols,
                const CtlColumn *decision_cols, gsize n_decision_cols, guint sort_col,
                gboolean paused)
{
  GString *out = g_string_new (NULL);
  const CtlColumn *sort = &vm_cols[sort_col % n_vm_cols];
  ctl_top_header (out, d, sort->header, paused);
  CtlTableOptions opt = { 0 };
  json_t *sorted = ctl_top_sorted (d->vms, sort);
  g_autofree char *vms = ctl_table_render (sorted, "vms", vm_cols, n_vm_cols, &opt, NULL);
  json_decref (sorted);
  g_string_append (out, vms);
  g_string_append (out, "\nLast decisions\n");
  g_autofree char *dec
      = ctl_table_render (d->decisions, "decisions", decision_cols, n_decision_cols, &opt, NULL);
  g_string_append (out, dec);
  return g_string_free (out, FALSE);
}

typedef struct
{
  gboolean tty;
  struct termios saved;
} CtlTerm;

static void
ctl_term_enter (CtlTerm *t)
{
  t->tty = isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &t->saved) == 0;
  if (t->tty)
    {
      struct termios raw = t->saved;
      raw.c_lflag &= ~(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      tcsetattr (STDIN_FILENO, TCSANOW, &raw);
    }
  struct sigaction sa = { .sa_handler = ctl_top_on_signal };
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  fputs (CTL_TOP_ENTER, stdout);
}

static void
ctl_term_leave (CtlTerm *t)
{
  fputs (CTL_TOP_LEAVE, stdout);
  fflush (stdout);
  if (t->tty)
    tcsetattr (STDIN_FILENO, TCSANOW, &t->saved);
}

/* Waits up to `ms` for a key; 0 on timeout, -1 when stdin has ended. */
static int
ctl_top_key (gboolean *stdin_open, int ms)
{
  if (!*stdin_open)
    {
      g_usleep ((gulong) ms * 1000);
      return 0;
    }
  struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
  if (poll (&p, 1, ms) <= 0)
    return 0;
  unsigned char c;
  ssize_t n = read (STDIN_FILENO, &c, 1);
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
    *stdin_open = FALSE;
  return n == 1 ? c : 0;
}

int
ctl_top_run (const CtlTopSource *src, const CtlColumn *vm_cols, gsize n_vm_cols,
             const CtlColumn *decision_cols, gsize n_decision_cols, double delay_s)
{
  int delay_ms = (int) CLAMP (delay_s * 1000.0, 100.0, 3600.0 * 1000.0);
  CtlTopData d = { 0 };
  if (!src->fetch (src->user_data, &d))
    {
      ctl_top_data_clear (&d);
      return 1;
    }
  CtlTerm term;
  ctl_term_enter (&term);
  guint sort_col = 0;
  gboolean paused = FALSE, stdin_open = TRUE, redraw = TRUE;
  gint64 next_us = g_get_monotonic_time () + (gint64) delay_ms * 1000;
  int rc = 0;
  while (!ctl_top_stop)
    {
      if (redraw)
        {
          g_autofree char *screen = ctl_top_render (&d, vm_cols, n_vm_cols, decision_cols,
                                                    n_decision_cols, sort_col, paused);
          printf ("%s%s", CTL_TOP_CLEAR, screen);
          fflush (stdout);
          redraw = FALSE;
        }
      int wait_ms = (int) MAX ((next_us - g_get_monotonic_time ()) / 1000, 0);
      int key = ctl_top_key (&stdin_open, wait_ms);
      if (key == 'q' || key == 'Q')
        break;
      if (key == 's')
        sort_col = (sort_col + 1) % n_vm_cols;
      if (key == 'p')
        paused = !paused;
      redraw = key != 0;
      if (g_get_monotonic_time () < next_us)
        continue;
      next_us = g_get_monotonic_time () + (gint64) delay_ms * 1000;
      if (paused)
        continue;
      ctl_top_data_clear (&d);
      if (!src->fetch (src->user_data, &d))
        {
          rc = 1;
          break;
        }
      redraw = TRUE;
    }
  ctl_term_leave (&term);
  ctl_top_data_clear (&d);
  return rc;
}
