/* config.h: ballastd's configuration: ballast.conf, its drop-ins and vms.d/.
 * Loading validates everything first; a reload swaps only a config that loaded cleanly. */
#pragma once

#include "ballast-config.h"

#include <glib.h>

#include "policy.h"

/* One per-VM section: `[vm NAME]` in ballast.conf or `[vm]` in vms.d/NAME.conf. */
typedef struct
{
  char *name;
  char *qmp_path;   /* static VM: its QMP socket (NULL: policy only) */
  char *agent_path; /* static VM: its agent socket, optional */
  GPtrArray *keys;  /* policy key/value pairs, in file order: "key", "value", ... */
} CfgVm;

typedef struct
{
  PolicyConfig policy; /* [host], [ksm], [defaults], tick */
  char *control_socket;
  char *control_group;     /* NULL: the daemon's own group */
  char *read_only_socket;  /* NULL: none; query-* commands only */
  char *read_only_group;   /* NULL: the daemon's own group */
  guint max_vms;           /* VMs managed at once; more are refused (logged) */
  PolicySize booting_max;  /* RAM a VM without a running balloon may hold (bytes or % of host) */
  guint64 booting_time_ms; /* ... and for how long before it holds nothing */
  char *qmp_dir;           /* NULL: no socket directory backend */
  gboolean dry_run;
  gboolean dry_run_forced; /* --dry-run: not from the files, kept on reload */
  char *ksm_sysfs;
  gboolean ksm_restore_on_exit;
  char *ksm_saved_path;     /* originals of the knobs, for a restore after a crash */
  gboolean release_on_exit; /* stop (and --release): give ballooned memory back */
  char *libvirt_uri;        /* NULL: no libvirt backend */
  char *policy_name;        /* "ballast", or a reference policy for comparisons */
  char *http_listen;        /* "127.0.0.1:9781"; NULL: HTTP off */
  GHashTable *vms;          /* name -> CfgVm* */
  GPtrArray *warnings;      /* char*: unknown keys/sections, with file and line */
  char *path;               /* the main file this was loaded from */
} BallastConfig;

#define CFG_DEFAULT_PATH "/etc/ballast/ballast.conf"
#define CFG_DEFAULT_CONTROL_SOCKET BALLAST_CONTROL_SOCKET
#define CFG_DEFAULT_KSM_SYSFS "/sys/kernel/mm/ksm"
#define CFG_DEFAULT_KSM_SAVED BALLAST_RUN_DIR "/ksm-saved.json"
#define CFG_DEFAULT_HTTP_LISTEN "127.0.0.1:9781"
/* Far above any host's real count, low enough that a flood of sockets
 * cannot make every tick walk thousands of fake VMs. */
#define CFG_DEFAULT_MAX_VMS 256
/* A booting guest touches its RAM over seconds to minutes; past 5 min, a VM
 * still without a balloon is not booting but unballoonable (or fake). */
#define CFG_DEFAULT_BOOTING_TIME_MS (5 * 60 * 1000)
/* One booting VM may not hold more than half the host in reserve. */
#define CFG_DEFAULT_BOOTING_MAX_PCT 50.0

GQuark cfg_error_quark (void);
#define CFG_ERROR (cfg_error_quark ())
enum
{
  CFG_ERROR_IO,
  CFG_ERROR_SYNTAX,
  CFG_ERROR_VALUE,
};

/* VM names from files and socket names: [A-Za-z0-9._-], not starting with
 * '.', at most CFG_MAX_VM_NAME bytes (they end up in JSON and logs). */
#define CFG_MAX_VM_NAME 128
gboolean cfg_valid_vm_name (const char *name);

/* [daemon] http-listen: an IP address and a port, IPv6 in brackets
 * ("[::1]:9781"); port 0 picks a free one. Returns NULL when `value` is one
 * (and, when non-NULL, sets *host, newly allocated, and *port), else why not. */
const char *cfg_parse_listen (const char *value, char **host, guint16 *port);

/* Loads PATH, PATH.d/<*>.conf in lexical order (later wins) and
 * vms.d/<NAME>.conf next to PATH. A missing main file is an error unless
 * `allow_missing` (built-in defaults are used then). Returns NULL and an
 * error naming file, line and key on the first bad value. */
BallastConfig *cfg_load (const char *path, gboolean allow_missing, GError **error);

/* Loads from in-memory text only (tests, --check-config of a snippet). */
BallastConfig *cfg_load_data (const char *text, const char *label, GError **error);

void cfg_free (BallastConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BallastConfig, cfg_free)

/* The effective policy of VM `name`: [defaults] with its own section on top.
 * `ram_bytes` is unused here but kept so percentages resolve in one place later. */
void cfg_vm_policy (const BallastConfig *cfg, const char *name, PolicyVmConfig *out);

/* Applies one policy key to a VM's runtime override (set-policy); the same
 * validation as the files. Returns FALSE with an error naming the key. */
gboolean cfg_vm_policy_set (PolicyVmConfig *v, const char *key, const char *value, GError **error);
/* Rules across a VM's keys (mode=fixed needs a target); FALSE with why. */
gboolean cfg_vm_policy_check (const PolicyVmConfig *v, GError **error);
