/* Unit tests of what vfio/ decides about VF settings without a kernel:
 * the extended-ACK parser (nl_extack.h), the library's own setting checks
 * and MAC parsing (vf_link.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "nl_extack.h"
#include "vf_link.h"

/* An NLMSG_ERROR as the kernel builds it: nlmsgerr, the echoed request's
 * payload unless capped, then the attributes. */
struct ack_buf {
    union {
        struct nlmsghdr hdr;
        char bytes[512];
    } u;
};

static void put_attr(struct ack_buf *b, uint16_t type, const void *data, size_t len)
{
    struct nlattr *a = (struct nlattr *)(b->u.bytes + NLMSG_ALIGN(b->u.hdr.nlmsg_len));

    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    b->u.hdr.nlmsg_len = NLMSG_ALIGN(b->u.hdr.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void build_ack(struct ack_buf *b, int capped, size_t echoed_payload)
{
    struct nlmsgerr *e;

    memset(b, 0, sizeof(*b));
    b->u.hdr.nlmsg_type = NLMSG_ERROR;
    b->u.hdr.nlmsg_flags = NLM_F_ACK_TLVS | (capped ? NLM_F_CAPPED : 0);
    e = NLMSG_DATA(&b->u.hdr);
    e->error = -22;
    e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + echoed_payload);
    b->u.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(*e)) + (capped ? 0 : NLMSG_ALIGN(echoed_payload));
}

static void extack_text_of_a_capped_ack(void **state)
{
    struct ack_buf b;
    char text[64];
    uint32_t offs = 24;
    (void)state;

    build_ack(&b, 1, 40);
    put_attr(&b, NLMSGERR_ATTR_OFFS, &offs, sizeof(offs));
    put_attr(&b, NLMSGERR_ATTR_MSG, "VF VLAN out of range", 21);
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), 20);
    assert_string_equal(text, "VF VLAN out of range");
}

static void extack_text_after_an_echoed_request(void **state)
{
    struct ack_buf b;
    char text[64];
    (void)state;

    build_ack(&b, 0, 37); /* echoed payload, padded to 40 */
    memset(b.u.bytes + NLMSG_LENGTH(sizeof(struct nlmsgerr)), 0x5a, 37);
    put_attr(&b, NLMSGERR_ATTR_MSG, "Unknown device type", 20);
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), 19);
    assert_string_equal(text, "Unknown device type");

    /* Truncated to the caller's buffer, still terminated. */
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, 8), 7);
    assert_string_equal(text, "Unknown");
}

static void no_text_without_tlvs_or_message(void **state)
{
    struct ack_buf b;
    char text[64] = "stale";
    uint32_t offs = 4;
    (void)state;

    build_ack(&b, 1, 16);
    b.u.hdr.nlmsg_flags &= (uint16_t)~NLM_F_ACK_TLVS;
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), 0);
    assert_string_equal(text, "");

    build_ack(&b, 1, 16);
    put_attr(&b, NLMSGERR_ATTR_OFFS, &offs, sizeof(offs));
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), 0);
}

static void malformed_acks_are_refused(void **state)
{
    struct ack_buf b;
    struct nlattr *a;
    char text[64];
    (void)state;

    build_ack(&b, 1, 16);
    put_attr(&b, NLMSGERR_ATTR_MSG, "x", 2);
    a = (struct nlattr *)(b.u.bytes + NLMSG_LENGTH(sizeof(struct nlmsgerr)));
    a->nla_len = 200; /* runs past the message */
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), -1);

    build_ack(&b, 1, 16);
    b.u.hdr.nlmsg_type = NLMSG_DONE;
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), -1);

    build_ack(&b, 1, 16);
    b.u.hdr.nlmsg_len = NLMSG_HDRLEN + 4; /* shorter than an nlmsgerr */
    assert_int_equal(evr_nl_extack_msg(&b.u.hdr, text, sizeof(text)), -1);
}

static void settings_check_names_what_is_wrong(void **state)
{
    struct evr_vf_settings s = evr_vf_clean;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_vf_settings_check(&s, &err), 0);
    s.vlan_proto = EVR_VF_PROTO_8021AD;
    assert_int_equal(evr_vf_settings_check(&s, &err), 0);

    s.vlan_proto = 0x9100;
    assert_int_equal(evr_vf_settings_check(&s, &err), -1);
    assert_non_null(strstr(err.msg, "VLAN protocol 0x9100 is neither 802.1Q (0x8100) nor "
                                    "802.1ad (0x88a8)"));
    s.fields = EVR_VF_MAC; /* the protocol only matters when the VLAN is set */
    assert_int_equal(evr_vf_settings_check(&s, &err), 0);

    s = evr_vf_clean;
    s.link_state = (enum evr_vf_link_state)3;
    assert_int_equal(evr_vf_settings_check(&s, &err), -1);
    assert_non_null(strstr(err.msg, "link state 3 is not auto, enable or disable"));

    s = evr_vf_clean;
    s.fields |= 1u << 9;
    assert_int_equal(evr_vf_settings_check(&s, &err), -1);
    assert_non_null(strstr(err.msg, "unknown field bits 0x200"));
}

static void the_clean_state_is_what_release_promises(void **state)
{
    static const uint8_t zero[6];
    (void)state;

    assert_int_equal(evr_vf_clean.fields, EVR_VF_ALL);
    assert_memory_equal(evr_vf_clean.mac, zero, 6);
    assert_int_equal(evr_vf_clean.vlan, 0);
    assert_int_equal(evr_vf_clean.qos, 0);
    assert_int_equal(evr_vf_clean.min_tx_rate, 0);
    assert_int_equal(evr_vf_clean.max_tx_rate, 0);
    assert_false(evr_vf_clean.trust);
    assert_true(evr_vf_clean.spoofchk);
    assert_int_equal(evr_vf_clean.link_state, EVR_VF_LINK_AUTO);
}

/* evr_vf_set sends only the fields that do not hold yet: a reset of a VF
 * whose link state is auto already must not ask igb (which has no VF link
 * state operation) to set it. */
static void a_field_that_holds_is_not_sent(void **state)
{
    struct evr_vf_settings now = evr_vf_clean, want = evr_vf_clean;
    (void)state;

    for (unsigned f = 1; f < EVR_VF_ALL; f <<= 1)
        assert_true(evr_vf_field_holds(f, &now, &want));
    now.fields = EVR_VF_ALL & ~(unsigned)EVR_VF_LINK_STATE; /* not read back: send it */
    assert_false(evr_vf_field_holds(EVR_VF_LINK_STATE, &now, &want));
    now.fields = EVR_VF_ALL;
    now.mac[5] = 1;
    assert_false(evr_vf_field_holds(EVR_VF_MAC, &now, &want));
    assert_true(evr_vf_field_holds(EVR_VF_VLAN, &now, &want));
    /* no VLAN: QoS and protocol do not count; with one they do */
    now.qos = 3;
    now.vlan_proto = EVR_VF_PROTO_8021Q;
    assert_true(evr_vf_field_holds(EVR_VF_VLAN, &now, &want));
    now.vlan = want.vlan = 100;
    assert_false(evr_vf_field_holds(EVR_VF_VLAN, &now, &want));
    now.qos = 0;
    assert_true(evr_vf_field_holds(EVR_VF_VLAN, &now, &want));
    want.vlan_proto = EVR_VF_PROTO_8021AD;
    assert_false(evr_vf_field_holds(EVR_VF_VLAN, &now, &want));
    now.max_tx_rate = 10;
    assert_false(evr_vf_field_holds(EVR_VF_RATE, &now, &want));
    now.trust = true;
    assert_false(evr_vf_field_holds(EVR_VF_TRUST, &now, &want));
    now.spoofchk = false;
    assert_false(evr_vf_field_holds(EVR_VF_SPOOFCHK, &now, &want));
    now.link_state = EVR_VF_LINK_DISABLE;
    assert_false(evr_vf_field_holds(EVR_VF_LINK_STATE, &now, &want));
}

static void parses_macs_strictly(void **state)
{
    static const uint8_t want[6] = {0x02, 0x00, 0x5e, 0xab, 0xcd, 0xef};
    static const char *const bad[] = {"",
                                      "02:00:5e:ab:cd",
                                      "02:00:5e:ab:cd:ef:00",
                                      "02-00-5e-ab-cd-ef",
                                      "2:00:5e:ab:cd:ef",
                                      "02:00:5e:ab:cd:eg"};
    struct evr_err err;
    uint8_t mac[6];
    size_t i;
    (void)state;

    assert_int_equal(evr_vf_mac_parse("02:00:5e:AB:cd:ef", mac, &err), 0);
    assert_memory_equal(mac, want, 6);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (evr_vf_mac_parse(bad[i], mac, &err) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(err.msg, "expected xx:xx:xx:xx:xx:xx"));
        assert_non_null(strstr(err.msg, bad[i]));
    }
    evr_vf_mac_parse("02:00:5e:ab:cd", mac, &err);
    assert_non_null(strstr(err.msg, "stopped at byte 4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(extack_text_of_a_capped_ack),
            cmocka_unit_test(extack_text_after_an_echoed_request),
            cmocka_unit_test(no_text_without_tlvs_or_message),
            cmocka_unit_test(malformed_acks_are_refused),
            cmocka_unit_test(settings_check_names_what_is_wrong),
            cmocka_unit_test(the_clean_state_is_what_release_promises),
            cmocka_unit_test(a_field_that_holds_is_not_sent),
            cmocka_unit_test(parses_macs_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
