/* fuzz-libvirt-xml.c: libFuzzer target for the libvirt backend's reader of
 * libvirtd's domain XML (agent channel, balloon alias, nosharepages). */
#include <glib.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libvirt.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* As the backend does once before its first connection. */
  xmlInitParser ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *xml = g_strndup ((const char *) data, size);
  LvDomainXml x;
  GError *error = NULL;
  gboolean ok = lv_parse_domain_xml (xml, &x, &error);
  /* Success and an error are exclusive; a failure leaves nothing to free;
   * what is read is never an empty string (absent is NULL). */
  if (ok != (error == NULL))
    abort ();
  if (!ok && (x.agent_path != NULL || x.balloon_alias != NULL || x.nosharepages))
    abort ();
  if ((x.agent_path != NULL && x.agent_path[0] == '\0')
      || (x.balloon_alias != NULL && x.balloon_alias[0] == '\0'))
    abort ();
  lv_domain_xml_clear (&x);
  if (x.agent_path != NULL || x.balloon_alias != NULL)
    abort ();
  g_clear_error (&error);
  g_free (xml);
  return 0;
}
