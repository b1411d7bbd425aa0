/* Property test of the control requests (vswitch/protocol.h, config.h): a
 * fixed-seed stream of random requests, valid and broken, against one
 * config. Whatever comes, a refused request leaves the config byte for byte
 * as it was and says why, an accepted one leaves it consistent, and the
 * tables compiled from it send every VLAN to the slice that declares it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl/protocol.h"
#include "protocol.h"
#include "tables.h"

#define ROUNDS 20000

static uint32_t rng = 12345;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static const char *pick(const char *const *items, size_t n)
{
    return items[next() % n];
}

#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

static const char *const names[] = {"p0",   "p1", "p2", "p3", "v0",  "v1", "v2",
                                    "bond", "s0", "s1", "s2", "Bad", "",   "x-y"};
static const char *const wires[] = {"p0", "p1", "p2", "p3", "bond"};
static const char *const vms[] = {"v0", "v1", "v2", "v3"};
static const char *const slices[] = {"s0", "s1", "s2"};

/* Mostly plausible values, sometimes anything: a stream of pure noise
 * would only ever test the first check. */
#define SOME(good) (next() % 8 ? PICK(good) : PICK(names))

static const char *const roles[] = {"wire", "vm", "nic", "\"vm\"", "1"};
static const char *const modes[] = {"access", "trunk", "balance", "active-backup", "x"};
static const char *const vlans[] = {
        "[]",          "[10]",   "[\"10-20\"]",  "[\"15-30\"]", "[4094, \"1\"]", "[0]",
        "[\"20-10\"]", "[4095]", "[\"1-4094\"]", "[100, 100]",  "\"7\"",         "[\"5-\"]"};
static const char *const members[] = {
        "[\"p0\",\"p1\"]", "[\"p2\"]", "[\"p1\",\"p3\"]", "[]", "[\"v0\"]",
        "[\"p0\",\"p0\"]", "[3]"};
static const char *const bools[] = {"true", "false", "1", "null"};

static void random_request(char *buf, size_t len)
{
    static unsigned devices;
    switch (next() % 8) {
    case 0: {
        bool wire = next() % 2;
        snprintf(buf, len,
                 "{\"op\":\"port-add\",\"name\":\"%s\",\"devargs\":\"net_null%u\","
                 "\"role\":\"%s\"}",
                 wire ? SOME(wires) : SOME(vms), next() % 8 ? devices++ : next() % 4,
                 next() % 8 ? (wire ? "wire" : "vm") : PICK(roles));
        break;
    }
    case 1:
        snprintf(buf, len, "{\"op\":\"port-del\",\"name\":\"%s\"}", PICK(names));
        break;
    case 2:
    case 3:
        snprintf(buf, len,
                 "{\"op\":\"slice-set\",\"name\":\"%s\",\"uplink\":\"%s\",\"vm\":\"%s\","
                 "\"mode\":\"%s\",\"vlans\":%s,\"untagged\":%s}",
                 SOME(slices), SOME(wires), SOME(vms), next() % 2 ? "trunk" : PICK(modes),
                 PICK(vlans), next() % 8 ? (next() % 2 ? "true" : "false") : PICK(bools));
        break;
    case 4:
        snprintf(buf, len, "{\"op\":\"slice-del\",\"name\":\"%s\"}", SOME(slices));
        break;
    case 5:
        snprintf(buf, len, "{\"op\":\"lag-set\",\"name\":\"%s\",\"members\":%s,\"mode\":\"%s\"}",
                 next() % 8 ? "bond" : PICK(names), PICK(members), PICK(modes));
        break;
    case 6:
        snprintf(buf, len, "{\"op\":\"lag-del\",\"name\":\"%s\"}", PICK(names));
        break;
    default:
        snprintf(buf, len, "{\"op\":\"port-set\",\"name\":\"%s\",\"admin\":\"%s\"}", PICK(names),
                 next() % 2 ? "up" : "down");
        break;
    }
    /* Now and then, break the text itself. */
    size_t n = strlen(buf);
    if (n && next() % 10 == 0)
        buf[next() % n] = (char)(' ' + next() % 95);
    if (n && next() % 20 == 0)
        buf[next() % n] = '\0';
}

static void check_consistent(const struct vs_config *cfg)
{
    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice *a = &cfg->slices[i];
        if (!a->used)
            continue;
        assert_true(cfg->ports[a->vm].used);
        assert_int_equal(cfg->ports[a->vm].role, VS_ROLE_VM);
        if (a->uplink_is_lag) {
            assert_true(cfg->lags[a->uplink].used);
        } else {
            assert_true(cfg->ports[a->uplink].used);
            assert_int_equal(cfg->ports[a->uplink].role, VS_ROLE_WIRE);
            assert_int_equal(vs_config_lag_of_port(cfg, a->uplink), -1);
        }
        for (unsigned j = i + 1; j < VS_SLICE_MAX; j++) {
            const struct vs_slice *b = &cfg->slices[j];
            if (!b->used)
                continue;
            assert_int_not_equal(a->vm, b->vm);
            if (a->uplink_is_lag == b->uplink_is_lag && a->uplink == b->uplink)
                assert_false(vs_slices_overlap(a, b));
        }
    }
    for (unsigned p = 0; p < VS_PORT_MAX; p++) {
        unsigned holders = 0;
        for (unsigned l = 0; l < VS_LAG_MAX; l++)
            for (unsigned m = 0; cfg->lags[l].used && m < cfg->lags[l].n_members; m++)
                holders += cfg->lags[l].members[m] == p;
        assert_true(holders <= 1);
    }
}

/* Every VLAN of every slice classifies to that slice from each of its
 * uplink's ports; with all_vlans, the fast path's table agrees with
 * vs_classify() on every VLAN id from every wire port. */
static void check_tables(const struct vs_config *cfg, bool all_vlans)
{
    struct vs_config c = *cfg;
    for (unsigned p = 0; p < VS_PORT_MAX; p++)
        c.ports[p].dpdk_id = (uint16_t)p;
    struct vs_tables *t = vs_tables_build(&c, 1, 1);
    assert_non_null(t);
    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice *s = &c.slices[i];
        if (!s->used)
            continue;
        uint16_t in = s->uplink;
        if (s->uplink_is_lag)
            in = c.lags[s->uplink].members[0];
        for (unsigned r = 0; r < s->n_ranges; r++) {
            uint16_t vid = s->ranges[r].last;
            uint8_t f[64] = {0};
            f[12] = 0x81;
            f[14] = (uint8_t)(vid >> 8);
            f[15] = (uint8_t)vid;
            struct vs_verdict v;
            vs_classify(t, in, f, sizeof(f), &v);
            assert_int_equal(v.slice, i);
            assert_int_equal(v.out_port, s->vm);
        }
        /* The worker flushes only the input's out_ports after a burst:
         * from the VM, every member of the uplink. */
        const struct vs_uplink_table *u = &t->uplinks[t->slices[i].uplink];
        for (unsigned m = 0; m < u->n_members; m++)
            assert_true(t->ports[s->vm].out_ports & 1u << u->member_port[m]);
    }
    /* The worker's fast path (vlan_fwd) takes the same decision as
     * vs_classify() for every 802.1Q-tagged frame from every wire port. */
    for (unsigned p = 0; all_vlans && p < VS_PORT_MAX; p++) {
        if (t->ports[p].kind != VS_KIND_WIRE)
            continue;
        const vs_wire_fwd *fwd = t->uplinks[t->ports[p].uplink].vlan_fwd;
        for (unsigned vid = 0; vid < VS_VLAN_SLOTS; vid++) {
            uint8_t f[64] = {0};
            f[12] = 0x81;
            f[14] = (uint8_t)(vid >> 8);
            f[15] = (uint8_t)vid;
            struct vs_verdict v;
            vs_classify(t, (uint16_t)p, f, sizeof(f), &v);
            if (!(fwd[vid] & VS_FWD_VALID)) {
                assert_int_equal(fwd[vid], 0);
                assert_int_equal(v.action, VS_ACT_DROP);
                continue;
            }
            assert_int_not_equal(v.action, VS_ACT_DROP);
            /* The worker flushes only the input's out_ports after a burst. */
            unsigned out = fwd[vid] & VS_FWD_PORT;
            assert_true(t->ports[p].out_ports & 1u << out);
            /* The worker counts a wire frame under the slice its VM port
             * carries. */
            assert_int_equal(v.slice, t->ports[out].slice);
            assert_int_equal(v.out_port, out);
            assert_int_equal(v.action == VS_ACT_POP, (fwd[vid] & VS_FWD_POP) != 0);
        }
    }
    vs_tables_free(t);
}

static void random_requests_keep_the_config_consistent(void **state)
{
    (void)state;
    struct vs_config *cfg = malloc(sizeof(*cfg)), *before = malloc(sizeof(*before));
    struct vs_request *req = malloc(sizeof(*req));
    assert_non_null(cfg);
    assert_non_null(before);
    assert_non_null(req);
    vs_config_init(cfg);
    unsigned accepted = 0, refused = 0, accepted_op[VS_OP_DUMP + 1] = {0};
    for (unsigned round = 0; round < ROUNDS; round++) {
        char line[512];
        struct evr_err err = {0};
        random_request(line, sizeof(line));
        *before = *cfg;
        json_t *obj = ctl_parse_line(line, strlen(line), &err);
        int parsed = obj ? vs_request_from_json(obj, req, &err) : -1;
        json_decref(obj);
        if (parsed < 0 || vs_request_apply(cfg, req, &err) < 0) {
            assert_true(strlen(err.msg) > 0);
            assert_true(strncmp(err.msg, "field '", 7) == 0 ||
                        strncmp(err.msg, "request: ", 9) == 0);
            assert_memory_equal(cfg, before, sizeof(*cfg));
            refused++;
            continue;
        }
        accepted++;
        accepted_op[req->op]++;
        check_consistent(cfg);
        if (round % 16 == 0)
            check_tables(cfg, round % 256 == 0);
    }
    print_message("%u accepted (%u slice-set, %u lag-set), %u refused\n", accepted,
                  accepted_op[VS_OP_SLICE_SET], accepted_op[VS_OP_LAG_SET], refused);
    /* The stream must exercise both outcomes to prove anything. */
    assert_true(accepted > ROUNDS / 20);
    assert_true(refused > ROUNDS / 20);
    for (unsigned op = VS_OP_PORT_ADD; op <= VS_OP_LAG_DEL; op++)
        if (accepted_op[op] < 20)
            fail_msg("only %u '%s' requests were accepted", accepted_op[op],
                     vs_op_name((enum vs_op)op));
    free(cfg);
    free(before);
    free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(random_requests_keep_the_config_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
