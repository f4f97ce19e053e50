/* ctl-output.h: ballastctl's output: tables through libsmartcols (column
 * selection, no header, JSON as lsblk does), field lists, sizes via GLib. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <stdio.h>

typedef enum
{
  CTL_FMT_TEXT,  /* as is */
  CTL_FMT_BYTES, /* a size (IEC units) */
  CTL_FMT_TIME,  /* ms since the epoch, as local HH:MM:SS.mmm */
  CTL_FMT_BOOL,  /* yes/no, "-" when absent */
} CtlFormat;

typedef struct
{
  const char *header; /* also the name -o selects it by */
  const char *key;    /* member of the row object; "a.b" reaches into "a" */
  CtlFormat fmt;
} CtlColumn;

typedef struct
{
  const char *columns; /* -o: comma-separated headers, NULL: all */
  gboolean no_header;  /* -n */
  gboolean json;       /* -J */
} CtlTableOptions;

/* A byte count in IEC units ("1.5 GiB"); newly allocated. */
char *ctl_format_size (guint64 bytes);
/* One value as a human reads it ("-" for null or absent); newly allocated. */
char *ctl_format_value (json_t *v, CtlFormat fmt);
/* The member `key` of `obj`, following "a.b" paths; borrowed, may be NULL. */
json_t *ctl_json_path (json_t *obj, const char *key);

/* Renders `rows` (an array of objects) as a table named `name` (the JSON
 * key, as lsblk's "blockdevices"). Returns the text, or NULL with an error
 * naming an unknown -o column. */
char *ctl_table_render (json_t *rows, const char *name, const CtlColumn *cols, gsize n_cols,
                        const CtlTableOptions *opt, GError **error);

/* Prints one object's fields as aligned "header  value" lines. */
void ctl_print_fields (FILE *out, json_t *obj, const CtlColumn *cols, gsize n_cols);
