/* libvirt-xml.c: what ballast needs from a domain's live XML: the agent
 * channel, the balloon's alias and deflate-on-oom, and <nosharepages/>. */
#include "libvirt.h"

#include <gio/gio.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "agent-wire.h"

static char *
lv_xpath_string (xmlXPathContextPtr ctx, const char *expr)
{
  xmlXPathObjectPtr obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctx);
  if (obj == NULL)
    return NULL;
  char *ret = NULL;
  if (obj->type == XPATH_STRING && obj->stringval != NULL && obj->stringval[0] != '\0')
    ret = g_strdup ((const char *) obj->stringval);
  xmlXPathFreeObject (obj);
  return ret;
}

gboolean
lv_parse_domain_xml (const char *xml, LvDomainXml *out, GError **error)
{
  memset (out, 0, sizeof *out);
  xmlDocPtr doc = xmlReadMemory (xml, (int) strlen (xml), "domain.xml", NULL,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  xmlNodePtr root = doc ? xmlDocGetRootElement (doc) : NULL;
  if (root == NULL || !xmlStrEqual (root->name, (const xmlChar *) "domain"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a domain XML");
      xmlFreeDoc (doc);
      return FALSE;
    }
  xmlXPathContextPtr ctx = xmlXPathNewContext (doc);
  out->agent_path = lv_xpath_string (
      ctx, "string(/domain/devices/channel[@type='unix'][target/@type='virtio']"
           "[target/@name='" AGENT_WIRE_PORT_NAME "']/source[@mode='bind']/@path)");
  g_autofree char *model = lv_xpath_string (ctx, "string(/domain/devices/memballoon/@model)");
  if (model != NULL && g_str_has_prefix (model, "virtio"))
    {
      out->balloon_alias = lv_xpath_string (ctx, "string(/domain/devices/memballoon/alias/@name)");
      if (out->balloon_alias == NULL)
        out->balloon_alias = g_strdup ("memballoon");
      g_autofree char *autodeflate
          = lv_xpath_string (ctx, "string(/domain/devices/memballoon/@autodeflate)");
      out->deflate_on_oom = g_strcmp0 (autodeflate, "on") == 0;
      g_autofree char *reporting
          = lv_xpath_string (ctx, "string(/domain/devices/memballoon/@freePageReporting)");
      out->free_page_reporting = g_strcmp0 (reporting, "on") == 0;
    }
  g_autofree char *nsp
      = lv_xpath_string (ctx, "string(boolean(/domain/memoryBacking/nosharepages))");
  out->nosharepages = g_strcmp0 (nsp, "true") == 0;
  xmlXPathFreeContext (ctx);
  xmlFreeDoc (doc);
  return TRUE;
}

void
lv_domain_xml_clear (LvDomainXml *x)
{
  g_clear_pointer (&x->agent_path, g_free);
  g_clear_pointer (&x->balloon_alias, g_free);
}
