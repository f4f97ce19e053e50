/* test-libvirt-xml.c: what the libvirt backend reads from a domain's XML:
 * the agent channel's socket, the balloon, <nosharepages/>; and bad input. */
#include <glib.h>

#include "libvirt.h"

static const char full_xml[]
    = "<domain type='kvm' id='3'>\n"
      "  <name>web1</name>\n"
      "  <memory unit='KiB'>2097152</memory>\n"
      "  <currentMemory unit='KiB'>1048576</currentMemory>\n"
      "  <memoryBacking><nosharepages/></memoryBacking>\n"
      "  <devices>\n"
      "    <channel type='unix'>\n"
      "      <source mode='bind' "
      "path='/var/lib/libvirt/qemu/channel/target/domain-3-web1/org.qemu.guest_agent.0'/>\n"
      "      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>\n"
      "    </channel>\n"
      "    <channel type='pty'>\n"
      "      <target type='virtio' name='org.ballast.agent.0'/>\n"
      "    </channel>\n"
      "    <channel type='unix'>\n"
      "      <source mode='bind' path='/run/ballast/agents/web1.sock'/>\n"
      "      <target type='virtio' name='org.ballast.agent.0' state='connected'/>\n"
      "      <alias name='channel1'/>\n"
      "    </channel>\n"
      "    <memballoon model='virtio' autodeflate='on' freePageReporting='on'>\n"
      "      <stats period='2'/>\n"
      "      <alias name='balloon0'/>\n"
      "    </memballoon>\n"
      "  </devices>\n"
      "</domain>\n";

static void
test_full (void)
{
  LvDomainXml x;
  g_autoptr (GError) error = NULL;
  g_assert_true (lv_parse_domain_xml (full_xml, &x, &error));
  g_assert_no_error (error);
  /* The unix channel named for the agent, not the guest agent's or a pty. */
  g_assert_cmpstr (x.agent_path, ==, "/run/ballast/agents/web1.sock");
  g_assert_cmpstr (x.balloon_alias, ==, "balloon0");
  g_assert_true (x.deflate_on_oom);
  g_assert_true (x.free_page_reporting);
  g_assert_true (x.nosharepages);
  lv_domain_xml_clear (&x);
  g_assert_null (x.agent_path);
}

static void
test_minimal (void)
{
  LvDomainXml x;
  g_autoptr (GError) error = NULL;
  /* No channel, a balloon without alias (inactive XML), sharing allowed. */
  g_assert_true (
      lv_parse_domain_xml ("<domain><devices><memballoon model='virtio-non-transitional'/>"
                           "</devices></domain>",
                           &x, &error));
  g_assert_null (x.agent_path);
  g_assert_cmpstr (x.balloon_alias, ==, "memballoon");
  g_assert_false (x.deflate_on_oom);
  g_assert_false (x.free_page_reporting);
  g_assert_false (x.nosharepages);
  lv_domain_xml_clear (&x);

  g_assert_true (lv_parse_domain_xml ("<domain><devices><memballoon model='none'/></devices>"
                                      "<memoryBacking><hugepages/></memoryBacking></domain>",
                                      &x, &error));
  g_assert_null (x.balloon_alias);
  g_assert_false (x.nosharepages);
  lv_domain_xml_clear (&x);
}

static void
test_bad (void)
{
  const char *bad[] = { "", "not xml", "<domain><devices>", "<network><name>x</name></network>",
                        "<?xml version='1.0'?>" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      LvDomainXml x;
      g_autoptr (GError) error = NULL;
      g_assert_false (lv_parse_domain_xml (bad[i], &x, &error));
      g_assert_nonnull (error);
      g_assert_null (x.agent_path);
      g_assert_null (x.balloon_alias);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/libvirt-xml/full", test_full);
  g_test_add_func ("/libvirt-xml/minimal", test_minimal);
  g_test_add_func ("/libvirt-xml/bad", test_bad);
  return g_test_run ();
}
