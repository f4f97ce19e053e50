/* ctl-top.h: `ballastctl top`: a live view of the host, its VMs, KSM and
 * the last decisions, redrawn with plain ANSI; keys q, s, p. */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "ctl-output.h"

/* Decisions shown under the VMs. */
#define CTL_TOP_DECISIONS 5
#define CTL_TOP_DEFAULT_DELAY_S 1.0

/* One refresh's replies (owned: ctl_top_data_clear frees them). */
typedef struct
{
  json_t *status, *host, *vms, *ksm, *decisions;
} CtlTopData;

void ctl_top_data_clear (CtlTopData *d);

/* Where the data comes from: FALSE when it could not be fetched (the
 * source has said why). */
typedef struct
{
  gboolean (*fetch) (gpointer user_data, CtlTopData *out);
  gpointer user_data;
} CtlTopSource;

/* The screen for `d`, VMs sorted by column `sort_col` of `vm_cols`. */
char *ctl_top_render (const CtlTopData *d, const CtlColumn *vm_cols, gsize n_vm_cols,
                      const CtlColumn *decision_cols, gsize n_decision_cols, guint sort_col,
                      gboolean paused);

/* Runs until q, Ctrl-C or a failed fetch; returns the exit status. */
int ctl_top_run (const CtlTopSource *src, const CtlColumn *vm_cols, gsize n_vm_cols,
                 const CtlColumn *decision_cols, gsize n_decision_cols, double delay_s);
