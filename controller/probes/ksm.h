/* ksm.h: the KSM probe and actuator: reads every KSM sysfs counter and knob
 * and ksmd's CPU time, writes knobs that change, restores what it changed. */
#pragma once

#include <glib.h>

#include "policy.h"
#include "roots.h"

/* ksmd does not appear on a host that has none; looking again every this
 * many reads costs one /proc scan per minute at a 1 s tick. */
#define KSM_KSMD_RESCAN_READS 60

typedef struct _KsmCtx KsmCtx;

/* Copies roots. Nothing is touched until the first ksm_read()/ksm_apply(),
 * which probe once which files exist. */
KsmCtx *ksm_ctx_new (const HostRoots *roots);
/* Frees without restoring (call ksm_restore() first for that). */
void ksm_ctx_free (KsmCtx *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KsmCtx, ksm_ctx_free)

/* Parses advisor_mode ("[none] scan-time": the bracketed word is the
 * active one). TRUE and *out set for a known mode, FALSE otherwise. */
gboolean ksm_advisor_parse (const char *text, PolicyKsmAdvisor *out);

/* Fills `out` with every counter and knob that exists and ksmd's CPU time.
 * A host without KSM sysfs gives TRUE with out->present = FALSE. Files
 * missing on older kernels read as 0 (advisor: POLICY_KSM_ADVISOR_ABSENT).
 * On an unreadable or malformed file, `out` is still filled as far as
 * possible and FALSE is returned with an error naming the first bad file. */
gboolean ksm_read (KsmCtx *ctx, PolicyKsm *out, GError **error);

/* A KSM file's value by name: the last read or written of those ksm_read
 * reads every tick, a fresh read of the others (stable_node_chains,
 * use_zero_pages, ...). FALSE when absent, unreadable or unknown. */
gboolean ksm_get (KsmCtx *ctx, const char *name, int64_t *out);
/* Whether the probe found the file `name` in the KSM dir. */
gboolean ksm_has (KsmCtx *ctx, const char *name);
/* ksmd's PID as last found, 0 if none. */
int ksm_ksmd_pid (KsmCtx *ctx);

/* Applies the knobs a decision sets: only those that exist and differ
 * from the last value read or written; rates before `run`. With advisor
 * scan-time active, advisor_target_scan_time/advisor_max_cpu are written
 * and pages_to_scan is not (the kernel rejects it); otherwise the reverse.
 * The value of each knob before its first write is remembered for
 * ksm_restore(). In dry-run it logs what it would write and writes nothing.
 * *out_n_changed (optional) counts knobs written (or that would be).
 * A failing write does not stop the others: FALSE with the first error,
 * which names the file. */
gboolean ksm_apply (KsmCtx *ctx, const PolicyKsmDecision *d, gboolean dry_run, guint *out_n_changed,
                    GError **error);

/* Puts every knob ksm_apply() changed back to its original value, rates
 * before `run`, skipping those that already hold it, then forgets the
 * originals. Keeps going past a failure: FALSE with the first error. */
gboolean ksm_restore (KsmCtx *ctx, GError **error);
/* How many knobs currently have an original to restore. */
guint ksm_n_saved (KsmCtx *ctx);

/* Keeps the originals in a file as well (JSON, at `path`; NULL: memory
 * only), so a daemon killed before ksm_restore() can be repaired by the
 * next one: ksm_apply() rewrites the file before each write that takes a
 * new original and does not write a knob whose original it could not save;
 * ksm_restore() removes the file once every original is back. */
void ksm_set_saved_path (KsmCtx *ctx, const char *path);
/* Restores the knobs from the saved file a previous run left (after a
 * crash), then removes it. TRUE with *out_n_restored = 0 when there is no
 * file. A file for another KSM dir is left alone (FALSE); an unreadable or
 * malformed one is removed (FALSE): it can restore nothing. */
gboolean ksm_recover_saved (KsmCtx *ctx, guint *out_n_restored, GError **error);
