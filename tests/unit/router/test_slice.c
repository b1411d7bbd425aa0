/* Unit tests for the slice grammar (router/slice.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "slice.h"

static void parses_whole_port_ranges(void **state)
{
    struct evr_slice s;
    struct evr_parse_error err;
    (void)state;

    assert_int_equal(evr_slice_parse("port0-7", &s, &err), 0);
    assert_int_equal(s.kind, EVR_SLICE_PORT);
    assert_int_equal(s.port_first, 0);
    assert_int_equal(s.port_last, 7);

    assert_int_equal(evr_slice_parse("port12", &s, &err), 0);
    assert_int_equal(s.port_first, 12);
    assert_int_equal(s.port_last, 12);
}

static void parses_vlan_ranges(void **state)
{
    struct evr_slice s;
    struct evr_parse_error err;
    (void)state;

    assert_int_equal(evr_slice_parse("port8.100-199", &s, &err), 0);
    assert_int_equal(s.kind, EVR_SLICE_VLAN);
    assert_int_equal(s.port_first, 8);
    assert_int_equal(s.first, 100);
    assert_int_equal(s.last, 199);

    assert_int_equal(evr_slice_parse("port8.4094", &s, &err), 0);
    assert_int_equal(s.first, 4094);
    assert_int_equal(s.last, 4094);
}

static void parses_vf_ranges(void **state)
{
    struct evr_slice s;
    struct evr_parse_error err;
    (void)state;

    assert_int_equal(evr_slice_parse("port2/vf0-3", &s, &err), 0);
    assert_int_equal(s.kind, EVR_SLICE_VF);
    assert_int_equal(s.port_first, 2);
    assert_int_equal(s.first, 0);
    assert_int_equal(s.last, 3);
}

struct bad_case {
    const char *text;
    size_t offset;
    const char *msg_part;
};

static void rejects_bad_slices_with_position_and_reason(void **state)
{
    static const struct bad_case cases[] = {
            {"", 0, "expected 'port'"},
            {"eth0", 0, "expected 'port'"},
            {"port", 4, "expected a port number"},
            {"port7-3", 4, "port range 7-3 is reversed"},
            {"port01", 4, "leading zero"},
            {"port1024", 4, "above 1023"},
            {"port8.0", 6, "VLAN number is below 1"},
            {"port8.4095", 6, "VLAN number is above 4094"},
            {"port8.200-100", 6, "VLAN range 200-100 is reversed"},
            {"port8.", 6, "expected a VLAN number"},
            {"port0-3.100", 0, "applies to one port, not to ports 0-3"},
            {"port2/vf", 8, "expected a VF number"},
            {"port2/vx1", 6, "expected 'vf'"},
            {"port2/vf256", 8, "VF number is above 255"},
            {"port2 ", 5, "unexpected ' '"},
            {"port2-", 6, "expected a port number"},
            {"port99999999999", 4, "above 1023"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct evr_slice s;
        struct evr_parse_error err = {0};
        int rc = evr_slice_parse(cases[i].text, &s, &err);

        print_message("case '%s' -> @%zu %s\n", cases[i].text, err.offset, err.msg);
        assert_int_equal(rc, -1);
        assert_int_equal(err.offset, cases[i].offset);
        assert_non_null(strstr(err.msg, cases[i].msg_part));
    }
}

static void parses_lists_and_rejects_overlaps(void **state)
{
    struct evr_slice_list l;
    struct evr_parse_error err = {0};
    (void)state;

    assert_int_equal(evr_slice_list_parse("port2,port3", &l, &err), 0);
    assert_int_equal(l.count, 2);
    assert_int_equal(l.items[1].port_first, 3);

    /* VLAN and VF slices of one port are distinct resources. */
    assert_int_equal(evr_slice_list_parse("port8.100-199,port8/vf0,port8.200", &l, &err), 0);
    assert_int_equal(l.count, 3);

    assert_int_equal(evr_slice_list_parse("port0-3,port2", &l, &err), -1);
    assert_int_equal(err.offset, 8);
    assert_string_equal(err.msg, "port2 overlaps port0-3 earlier in the list");

    assert_int_equal(evr_slice_list_parse("port8.100-199,port8.150", &l, &err), -1);
    assert_string_equal(err.msg, "port8.150 overlaps port8.100-199 earlier in the list");

    assert_int_equal(evr_slice_list_parse("port8,port8/vf1", &l, &err), -1);
    assert_int_equal(evr_slice_list_parse("port1,", &l, &err), -1);
    assert_int_equal(err.offset, 6);
    assert_int_equal(evr_slice_list_parse("port1;port2", &l, &err), -1);
    assert_non_null(strstr(err.msg, "separate slices with ','"));
}

static void list_length_is_bounded(void **state)
{
    char text[EVR_SLICE_LIST_MAX * 8 + 16] = "";
    struct evr_slice_list l;
    struct evr_parse_error err = {0};
    (void)state;

    for (unsigned i = 0; i <= EVR_SLICE_LIST_MAX; i++) {
        char item[16];
        snprintf(item, sizeof(item), "%sport%u", i ? "," : "", i);
        strcat(text, item);
    }
    assert_int_equal(evr_slice_list_parse(text, &l, &err), -1);
    assert_non_null(strstr(err.msg, "more than 64 slices"));
}

static void formats_canonically(void **state)
{
    static const char *const texts[] = {"port0-7", "port3",       "port8.100-199",
                                        "port8.7", "port2/vf0-3", "port2/vf5"};
    (void)state;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct evr_slice s;
        struct evr_parse_error err;
        char buf[48];

        assert_int_equal(evr_slice_parse(texts[i], &s, &err), 0);
        assert_int_equal(evr_slice_format(&s, buf, sizeof(buf)), (int)strlen(texts[i]));
        assert_string_equal(buf, texts[i]);
    }

    /* Truncation still reports the full length, like snprintf. */
    {
        struct evr_slice s;
        struct evr_parse_error err;
        char small[6];
        assert_int_equal(evr_slice_parse("port8.100-199", &s, &err), 0);
        assert_int_equal(evr_slice_format(&s, small, sizeof(small)), 13);
        assert_string_equal(small, "port8");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(parses_whole_port_ranges),
            cmocka_unit_test(parses_vlan_ranges),
            cmocka_unit_test(parses_vf_ranges),
            cmocka_unit_test(rejects_bad_slices_with_position_and_reason),
            cmocka_unit_test(parses_lists_and_rejects_overlaps),
            cmocka_unit_test(list_length_is_bounded),
            cmocka_unit_test(formats_canonically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
