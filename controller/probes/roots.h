/* roots.h: where the host probes look. Every /proc and sysfs path goes through
 * host_path(), which prefixes a root, so tests point the probes at a fake tree. */
#pragma once

#include <glib.h>
#include <stdint.h>

#define HOST_PROC_ROOT_DEFAULT "/proc"
#define HOST_SYS_ROOT_DEFAULT "/sys"
/* Relative to the sys root; `[ksm] sysfs=` in the config overrides the whole dir. */
#define HOST_KSM_SUBDIR "kernel/mm/ksm"

/* /proc and sysfs text files we read are a few KiB (memory.stat ~2 KiB,
 * meminfo ~1.5 KiB); anything past this cap is not a file we understand. */
#define HOST_TEXT_MAX_BYTES (256 * 1024)

typedef enum
{
  HOST_ROOT_PROC, /* proc_root */
  HOST_ROOT_SYS,  /* sys_root */
  HOST_ROOT_KSM,  /* ksm_dir */
} HostRootKind;

typedef struct
{
  char *proc_root;
  char *sys_root;
  char *ksm_dir;
} HostRoots;

/* Any NULL or empty argument takes its default: "/proc", "/sys",
 * "<sys_root>/kernel/mm/ksm". Never returns NULL. */
HostRoots *host_roots_new (const char *proc_root, const char *sys_root, const char *ksm_dir);
HostRoots *host_roots_copy (const HostRoots *roots);
void host_roots_free (HostRoots *roots);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HostRoots, host_roots_free)

/* The one place a probe path is built: "<root>/<relative>", with `fmt`
 * formatting the relative part. Returns a newly allocated string. */
char *host_path (const HostRoots *roots, HostRootKind kind, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

/* Sets `error` from errno as "WHAT PATH: strerror" and returns FALSE. */
gboolean host_set_errno_error (GError **error, int saved_errno, const char *what,
                               const char *path);

/* Reads a whole text file of at most HOST_TEXT_MAX_BYTES. Returns TRUE and
 * a NUL-terminated buffer (which may also contain NUL bytes; *out_len is
 * the byte count), or FALSE with a G_IO_ERROR naming the path
 * (G_IO_ERROR_NOT_FOUND when it does not exist). */
gboolean host_read_text (const char *path, char **out_text, gsize *out_len, GError **error);

/* Writes `text` to a sysfs-style file in one write(). Returns FALSE with a
 * G_IO_ERROR from errno naming the path (the kernel reports a rejected
 * value as EINVAL/EBUSY on write()). */
gboolean host_write_text (const char *path, const char *text, GError **error);

/* Whole-string decimal parsers: surrounding ASCII whitespace is allowed,
 * anything else (a sign on an unsigned, trailing junk, overflow) is not.
 * Return TRUE and store the value, or FALSE and leave *out alone. */
gboolean host_parse_u64 (const char *text, uint64_t *out);
gboolean host_parse_i64 (const char *text, int64_t *out);

/* "N kB" (meminfo, smaps_rollup) to bytes; FALSE on junk or overflow. */
gboolean host_parse_kib_bytes (const char *text, uint64_t *out_bytes);

/* Calls `fn` for every line "key<sep>value" of a text buffer, where the key
 * ends at the first ':' or blank and the value is the rest, trimmed.
 * Stops at the first embedded NUL. Lines without a value are skipped. */
typedef void (*HostKvFn) (const char *key, const char *value, gpointer user_data);
void host_for_each_kv (const char *text, gsize len, HostKvFn fn, gpointer user_data);
