/* libvirt.h: the libvirt backend: follows one libvirtd's running domains with
 * its events and drives them through the libvirt API, never its QMP monitor. */
#pragma once

#include <glib.h>

#include "vm.h"

typedef struct _LvBackend LvBackend;

/* Starts following the running domains of `uri`. Connecting, and
 * reconnecting with backoff after libvirtd restarts, happens in the
 * background, so this cannot fail; problems are logged. */
LvBackend *lv_backend_new (const VmOwner *owner, const char *uri);

const char *lv_backend_get_uri (LvBackend *lv);

/* Removes the backend's VMs from their owner and disconnects. */
void lv_backend_free (LvBackend *lv);

/* What ballast needs from a domain's XML. */
typedef struct
{
  char *agent_path; /* <channel type='unix'> with target org.ballast.agent.0; NULL if none */
  char *
      balloon_alias; /* alias of a virtio <memballoon>; "memballoon" if it has none; NULL: no balloon */
  gboolean nosharepages;   /* <memoryBacking><nosharepages/> */
  gboolean deflate_on_oom; /* <memballoon autodeflate='on'> */
  gboolean free_page_reporting; /* <memballoon freePageReporting='on'> */
} LvDomainXml;

/* Parses a domain's XML (libvirtd's live XML). Returns FALSE with an error
 * when it is not well-formed XML with a <domain> root. */
gboolean lv_parse_domain_xml (const char *xml, LvDomainXml *out, GError **error);
void lv_domain_xml_clear (LvDomainXml *x);
