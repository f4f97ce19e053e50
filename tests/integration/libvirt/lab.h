/* lab.h: a private real libvirtd (its own mount namespace, so /etc/libvirt,
 * /run/libvirt and /var/lib/libvirt are a temp dir's and no other libvirtd
 * is touched), tiny guests as type='qemu' domains, and a ballastd that
 * follows that libvirtd, for the libvirt backend's integration tests. */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <libvirt/libvirt.h>

#include "qmp-sync.h"

typedef struct
{
  char *dir;          /* temp dir holding everything below */
  char *uri;          /* qemu:///system?socket=DIR/sock/libvirt-sock */
  char *prefix;       /* domain name prefix, unique per test process */
  GPid libvirtd_pid;  /* 0 while stopped */
  virConnectPtr conn; /* the test's own connection */
  GPid ballastd_pid;  /* 0 while stopped */
  char *ctl_path;
  QmpSync *ctl;
} Lab;

/* Writes the private libvirtd's config (and, when @hook is TRUE, the qemu
 * hook that runs ballast-hook against the lab's control socket) and starts
 * libvirtd. NULL with an error when it does not come up. */
Lab *lab_new (gboolean hook, GError **error);
/* Destroys the lab's domains, stops ballastd and libvirtd, removes the dir. */
void lab_free (Lab *lab);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Lab, lab_free)

gboolean lab_libvirtd_start (Lab *lab, GError **error);
/* SIGTERM, wait (SIGKILL after 10 s). Domains keep running. */
void lab_libvirtd_stop (Lab *lab);

/* Replaces the hook's body: TRUE runs ballast-hook, FALSE a no-op script
 * (same fork and exec, for a baseline). libvirt reads hooks at each call
 * once it has seen the file at start-up. */
gboolean lab_set_hook (Lab *lab, gboolean real, GError **error);

/* Starts domain PREFIX-@suffix (@mem_mib RAM, @extra_xml inside <domain>)
 * and returns its full name. */
char *lab_domain_start (Lab *lab, const char *suffix, guint mem_mib, const char *extra_xml,
                        GError **error);
gboolean lab_domain_destroy (Lab *lab, const char *name, GError **error);
/* `virsh dommemstat NAME` "actual" in KiB, or -1. */
gint64 lab_virsh_actual_kib (Lab *lab, const char *name);

/* Starts ballastd with [libvirt] uri pointing at the lab, KSM observed only. */
gboolean lab_ballastd_start (Lab *lab, GError **error);
/* SIGTERM and wait; returns the exit status or -1. */
int lab_ballastd_stop (Lab *lab);
/* SIGKILL and wait, as a crash: nothing is released. */
void lab_ballastd_kill (Lab *lab);
/* Runs `ballastd --release` (the unit's ExecStopPost=) with ballastd's
 * config; returns its wait status, its output in @output and its run time
 * in @took_ms. */
int lab_ballastd_release (Lab *lab, char **output, gint64 *took_ms, GError **error);
/* Runs a control command, asserting success; @args is stolen. */
json_t *lab_cmd (Lab *lab, const char *command, json_t *args);
/* query-vm of @name, or NULL when ballastd does not list it. */
json_t *lab_vm (Lab *lab, const char *name);
/* The tail of ballastd's log (for failure messages). */
char *lab_ballastd_log (Lab *lab);
