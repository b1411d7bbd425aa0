/* Unit tests for control requests (vswitch/protocol.h): strict parsing with
 * the offending field named, and whole-or-nothing application. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl/protocol.h"
#include "protocol.h"

/* A request line as the control socket takes it: ctl/ parses the line,
 * vswitch/protocol.c the request. */
static int parse(const char *text, struct vs_request *req, struct evr_err *err)
{
    json_t *obj = ctl_parse_line(text, strlen(text), err);
    int rc = obj ? vs_request_from_json(obj, req, err) : -1;
    json_decref(obj);
    return rc;
}

static void parses_each_op(void **state)
{
    struct vs_request r;
    struct evr_err err = {0};
    (void)state;
    assert_int_equal(parse("{\"op\":\"port-add\",\"name\":\"p0\",\"devargs\":\"net_null0\","
                           "\"role\":\"wire\"}",
                           &r, &err),
                     0);
    assert_int_equal(r.op, VS_OP_PORT_ADD);
    assert_string_equal(r.devargs, "net_null0");
    assert_int_equal(r.role, VS_ROLE_WIRE);

    assert_int_equal(parse("{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p0\",\"vm\":\"v\","
                           "\"mode\":\"trunk\",\"vlans\":[\"100-199\",300,\"4094\"],"
                           "\"untagged\":true}",
                           &r, &err),
                     0);
    assert_int_equal(r.slice.mode, VS_SLICE_TRUNK);
    assert_int_equal(r.slice.n_ranges, 3);
    assert_int_equal(r.slice.ranges[0].first, 100);
    assert_int_equal(r.slice.ranges[0].last, 199);
    assert_int_equal(r.slice.ranges[1].first, 300);
    assert_int_equal(r.slice.ranges[2].last, 4094);
    assert_true(r.slice.untagged);
    assert_string_equal(r.slice.uplink, "p0");

    assert_int_equal(parse("{\"op\":\"lag-set\",\"name\":\"b\",\"members\":[\"p0\",\"p1\"],"
                           "\"mode\":\"active-backup\",\"hash\":\"l23\"}",
                           &r, &err),
                     0);
    assert_int_equal(r.lag.n_members, 2);
    assert_string_equal(r.lag.members[1], "p1");
    assert_int_equal(r.lag.mode, VS_LAG_ACTIVE_BACKUP);
    assert_int_equal(r.lag.hash, VS_HASH_L23);

    assert_int_equal(parse("{\"op\":\"port-set\",\"name\":\"p0\",\"admin\":\"down\"}", &r, &err),
                     0);
    assert_false(r.admin_up);
    assert_int_equal(parse("{\"op\":\"dump\"}", &r, &err), 0);
    assert_int_equal(r.op, VS_OP_DUMP);
}

struct bad_request {
    const char *text;
    const char *msg_part;
};

static void rejects_bad_requests_naming_the_field(void **state)
{
    static const struct bad_request cases[] = {
            {"", "not JSON"},
            {"[1]", "must be a JSON object"},
            {"{\"op\":\"explode\"}", "field 'op': 'explode' is not one of"},
            {"{\"op\":7}", "field 'op': must be a string"},
            {"{\"op\":\"dump\",\"op\":\"stats\"}", "not JSON"},
            {"{\"op\":\"dump\",\"verbose\":true}", "field 'verbose': not a field of 'dump'"},
            {"{\"op\":\"port-add\",\"name\":\"p0\",\"role\":\"wire\"}",
             "field 'devargs': missing (required by 'port-add')"},
            {"{\"op\":\"port-add\",\"name\":\"p0\",\"devargs\":\"x\",\"role\":\"nic\"}",
             "field 'role': 'nic' is not one of 'wire', 'vm'"},
            {"{\"op\":\"port-add\",\"name\":\"pppppppppppppppppppppppppppppppppppppp\","
             "\"devargs\":\"x\",\"role\":\"vm\"}",
             "field 'name': longer than 31 characters"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"trunk\","
             "\"vlans\":\"100\"}",
             "field 'vlans': must be an array"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"trunk\","
             "\"vlans\":[\"100\",\"1x\"]}",
             "field 'vlans'[1]: '1x' is not a VLAN id or range"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"trunk\","
             "\"vlans\":[\"010\"]}",
             "field 'vlans'[0]: '010' is not a VLAN id or range"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"trunk\","
             "\"vlans\":[-1]}",
             "field 'vlans'[0]: -1 is not a VLAN id"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"trunk\","
             "\"vlans\":[true]}",
             "field 'vlans'[0]: must be a number or a string"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"trunk\","
             "\"untagged\":1}",
             "field 'untagged': must be true or false"},
            {"{\"op\":\"slice-set\",\"name\":\"s\",\"uplink\":\"p\",\"vm\":\"v\",\"mode\":"
             "\"mixed\"}",
             "field 'mode': 'mixed' is not one of 'access', 'trunk'"},
            {"{\"op\":\"lag-set\",\"name\":\"b\",\"members\":[\"p0\",3]}",
             "field 'members'[1]: must be a port name"},
            {"{\"op\":\"lag-set\",\"name\":\"b\",\"members\":[\"p0\"],\"hash\":\"l4\"}",
             "field 'hash': 'l4' is not one of 'l2', 'l23', 'l34'"},
            {"{\"op\":\"port-set\",\"name\":\"p0\",\"admin\":true}",
             "field 'admin': must be a string"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vs_request r;
        struct evr_err err = {0};
        assert_int_equal(parse(cases[i].text, &r, &err), -1);
        if (!strstr(err.msg, cases[i].msg_part))
            fail_msg("case %zu (%s): '%s' lacks '%s'", i, cases[i].text, err.msg,
                     cases[i].msg_part);
    }
}

static void embedded_nul_is_refused(void **state)
{
    struct vs_request r;
    struct evr_err err = {0};
    static const char text[] = "{\"op\":\"port-del\",\"name\":\"p\\u0000x\"}";
    (void)state;
    assert_int_equal(parse(text, &r, &err), -1);
    assert_non_null(strstr(err.msg, "request: not JSON"));
}

/* Parses and applies each request; every one must be accepted. */
static void apply_all(struct vs_config *cfg, const char *const *requests, size_t n)
{
    struct vs_request r;
    struct evr_err err = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(parse(requests[i], &r, &err), 0);
        assert_true(vs_request_apply(cfg, &r, &err) >= 0);
    }
}

static void half_valid_request_changes_nothing(void **state)
{
    struct vs_config cfg, before;
    struct vs_request r;
    struct evr_err err = {0};
    (void)state;
    vs_config_init(&cfg);
    const char *setup[] = {
            "{\"op\":\"port-add\",\"name\":\"p0\",\"devargs\":\"a\",\"role\":\"wire\"}",
            "{\"op\":\"port-add\",\"name\":\"v0\",\"devargs\":\"b\",\"role\":\"vm\"}",
            "{\"op\":\"port-add\",\"name\":\"v1\",\"devargs\":\"c\",\"role\":\"vm\"}",
            ("{\"op\":\"slice-set\",\"name\":\"s0\",\"uplink\":\"p0\",\"vm\":\"v0\","
             "\"mode\":\"trunk\",\"vlans\":[\"10-20\"]}"),
    };
    apply_all(&cfg, setup, sizeof(setup) / sizeof(setup[0]));
    before = cfg;
    /* Valid uplink, VM and first range; the second range collides with s0. */
    assert_int_equal(parse("{\"op\":\"slice-set\",\"name\":\"s1\",\"uplink\":\"p0\","
                           "\"vm\":\"v1\",\"mode\":\"trunk\",\"vlans\":[\"30\",\"15-16\"]}",
                           &r, &err),
                     0);
    assert_int_equal(vs_request_apply(&cfg, &r, &err), -1);
    assert_non_null(strstr(err.msg, "overlaps slice 's0'"));
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    /* Replacing s0 with a bad version keeps the old s0 whole. */
    assert_int_equal(parse("{\"op\":\"slice-set\",\"name\":\"s0\",\"uplink\":\"p0\","
                           "\"vm\":\"v1\",\"mode\":\"access\",\"vlans\":[\"10-20\"]}",
                           &r, &err),
                     0);
    assert_int_equal(vs_request_apply(&cfg, &r, &err), -1);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void dump_shows_declared_state(void **state)
{
    struct vs_config cfg;
    (void)state;
    vs_config_init(&cfg);
    const char *setup[] = {
            "{\"op\":\"port-add\",\"name\":\"p0\",\"devargs\":\"a\",\"role\":\"wire\"}",
            "{\"op\":\"port-add\",\"name\":\"p1\",\"devargs\":\"b\",\"role\":\"wire\"}",
            "{\"op\":\"port-add\",\"name\":\"v0\",\"devargs\":\"c\",\"role\":\"vm\"}",
            "{\"op\":\"lag-set\",\"name\":\"bond\",\"members\":[\"p0\",\"p1\"]}",
            ("{\"op\":\"slice-set\",\"name\":\"s0\",\"uplink\":\"bond\",\"vm\":\"v0\","
             "\"mode\":\"trunk\",\"vlans\":[\"10-20\",30],\"untagged\":true}"),
    };
    apply_all(&cfg, setup, sizeof(setup) / sizeof(setup[0]));
    json_t *d = vs_config_to_json(&cfg);
    char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(text, "\"slices\":[{\"mode\":\"trunk\",\"name\":\"s0\","
                                 "\"untagged\":true,\"uplink\":\"bond\",\"vlans\":[\"10-20\","
                                 "\"30\"],\"vm\":\"v0\"}]"));
    assert_non_null(strstr(text, "\"lags\":[{\"hash\":\"l34\",\"members\":[\"p0\",\"p1\"],"
                                 "\"mode\":\"balance\",\"name\":\"bond\"}]"));
    free(text);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(parses_each_op),
            cmocka_unit_test(rejects_bad_requests_naming_the_field),
            cmocka_unit_test(embedded_nul_is_refused),
            cmocka_unit_test(half_valid_request_changes_nothing),
            cmocka_unit_test(dump_shows_declared_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
