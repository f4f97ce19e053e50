/* ctl-output.c: see ctl-output.h. libsmartcols does the layout, the -o
 * selection and the JSON; this file maps the daemon's JSON onto it. */
#include "ctl-output.h"

#include <libsmartcols.h>
#include <string.h>

json_t *
ctl_json_path (json_t *obj, const char *key)
{
  g_auto (GStrv) parts = g_strsplit (key, ".", -1);
  json_t *v = obj;
  for (char **p = parts; *p && v; p++)
    v = json_object_get (v, *p);
  return v;
}

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

char *
ctl_format_size (guint64 bytes)
{
  /* GLib puts a no-break space (UTF-8) between number and unit; a plain one
   * reads the same in any locale, to tmux and to scripts. */
  g_autofree char *size = g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
  GString *s = g_string_new (size);
  g_string_replace (s, "\u00a0", " ", 0);
  return g_string_free (s, FALSE);
}

char *
ctl_format_value (json_t *v, CtlFormat fmt)
{
  if (v == NULL || json_is_null (v))
    return g_strdup ("-");
  switch (fmt)
    {
      case CTL_FMT_TIME:
        return ctl_format_time (v);
      case CTL_FMT_BYTES:
        if (json_is_integer (v) && json_integer_value (v) >= 0)
          return ctl_format_size ((guint64) json_integer_value (v));
        return g_strdup ("-");
      case CTL_FMT_BOOL:
      case CTL_FMT_TEXT:
        break;
    }
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

/* The columns -o asks for, in its order; all of them without -o. */
static GArray *
ctl_select_columns (const CtlColumn *cols, gsize n_cols, const char *spec, GError **error)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (const CtlColumn *));
  if (spec == NULL)
    {
      for (gsize c = 0; c < n_cols; c++)
        {
          const CtlColumn *p = &cols[c];
          g_array_append_val (out, p);
        }
      return out;
    }
  g_auto (GStrv) names = g_strsplit (spec, ",", -1);
  for (char **n = names; *n; n++)
    {
      const CtlColumn *found = NULL;
      for (gsize c = 0; c < n_cols && found == NULL; c++)
        if (g_ascii_strcasecmp (g_strstrip (*n), cols[c].header) == 0)
          found = &cols[c];
      if (found == NULL)
        {
          g_autoptr (GString) all = g_string_new (NULL);
          for (gsize c = 0; c < n_cols; c++)
            g_string_append_printf (all, "%s%s", c ? "," : "", cols[c].header);
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "unknown column '%s' (available: %s)", *n, all->str);
          g_array_unref (out);
          return NULL;
        }
      g_array_append_val (out, found);
    }
  return out;
}

/* In JSON, sizes are byte counts and flags booleans, as lsblk -J -b. */
static int
ctl_json_type (CtlFormat fmt)
{
  return fmt == CTL_FMT_BYTES  ? SCOLS_JSON_NUMBER
         : fmt == CTL_FMT_BOOL ? SCOLS_JSON_BOOLEAN
                               : SCOLS_JSON_STRING;
}

static char *
ctl_cell (json_t *v, CtlFormat fmt, gboolean json)
{
  if (!json)
    return ctl_format_value (v, fmt);
  if (fmt == CTL_FMT_BYTES)
    return json_is_integer (v) ? g_strdup_printf ("%" JSON_INTEGER_FORMAT, json_integer_value (v))
                               : NULL;
  /* libsmartcols reads "0" (and empty) as false, anything else as true. */
  if (fmt == CTL_FMT_BOOL)
    return json_is_boolean (v) ? g_strdup (json_is_true (v) ? "1" : "0") : NULL;
  return v == NULL || json_is_null (v) ? NULL : ctl_format_value (v, fmt);
}

/* What an empty table prints; malloc'd, as libsmartcols' own text. */
static char *
ctl_table_empty (const char *name, GArray *sel, const CtlTableOptions *opt)
{
  g_autoptr (GString) text = g_string_new (NULL);
  if (opt->json)
    g_string_printf (text, "{\n   \"%s\": []\n}", name);
  else if (!opt->no_header)
    for (guint c = 0; c < sel->len; c++)
      g_string_append_printf (text, "%s%s", c ? " " : "",
                              g_array_index (sel, const CtlColumn *, c)->header);
  return strdup (text->str);
}

char *
ctl_table_render (json_t *rows, const char *name, const CtlColumn *cols, gsize n_cols,
                  const CtlTableOptions *opt, GError **error)
{
  g_autoptr (GArray) sel = ctl_select_columns (cols, n_cols, opt->columns, error);
  if (sel == NULL)
    return NULL;
  struct libscols_table *tb = scols_new_table ();
  scols_table_set_name (tb, name);
  scols_table_enable_json (tb, opt->json);
  scols_table_enable_noheadings (tb, opt->no_header);
  for (guint c = 0; c < sel->len; c++)
    {
      const CtlColumn *col = g_array_index (sel, const CtlColumn *, c);
      /* Sizes and times read best right-aligned; names left. */
      int flags = col->fmt == CTL_FMT_BYTES ? SCOLS_FL_RIGHT : 0;
      struct libscols_column *cl = scols_table_new_column (tb, col->header, 0, flags);
      scols_column_set_json_type (cl, ctl_json_type (col->fmt));
      if (opt->json)
        {
          /* JSON keys in lower case, as lsblk's. */
          g_autofree char *lower = g_ascii_strdown (col->header, -1);
          scols_cell_set_data (scols_column_get_header (cl), lower);
        }
    }
  gsize i;
  json_t *row;
  json_array_foreach (rows, i, row)
  {
    struct libscols_line *ln = scols_table_new_line (tb, NULL);
    for (guint c = 0; c < sel->len; c++)
      {
        const CtlColumn *col = g_array_index (sel, const CtlColumn *, c);
        char *cell = ctl_cell (ctl_json_path (row, col->key), col->fmt, opt->json);
        /* The line takes the string (freed by libsmartcols with free()). */
        scols_line_refer_data (ln, c, cell ? strdup (cell) : NULL);
        g_free (cell);
      }
  }
  char *text = NULL;
  /* libsmartcols prints nothing for a table without lines: the header (or
   * an empty JSON list) still tells the operator there is nothing. */
  if (json_array_size (rows) == 0)
    text = ctl_table_empty (name, sel, opt);
  else
    scols_print_table_to_string (tb, &text);
  scols_unref_table (tb);
  GString *out = g_string_new (text);
  free (text);
  if (out->len > 0 && out->str[out->len - 1] != '\n')
    g_string_append_c (out, '\n');
  return g_string_free (out, FALSE);
}

void
ctl_print_fields (FILE *out, json_t *obj, const CtlColumn *cols, gsize n_cols)
{
  gsize w = 0;
  for (gsize c = 0; c < n_cols; c++)
    w = MAX (w, strlen (cols[c].header));
  for (gsize c = 0; c < n_cols; c++)
    {
      g_autofree char *s = ctl_format_value (ctl_json_path (obj, cols[c].key), cols[c].fmt);
      fprintf (out, "%-*s  %s\n", (int) w, cols[c].header, s);
    }
}
