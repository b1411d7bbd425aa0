/* Unit tests for the split tables: the config rules (vswitch/config.h) and
 * the per-frame decision compiled from them (vswitch/tables.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "frames.h"
#include "tables.h"

/* DPDK port ids the fixture gives its ports. */
enum { WIRE0 = 3, WIRE1 = 4, WIRE2 = 7, VM_A = 10, VM_B = 11, VM_C = 12, VM_D = 13 };

static void add_port(struct vs_config *cfg, const char *name, enum vs_port_role role,
                     uint16_t dpdk_id)
{
    struct evr_err err;
    char devargs[64];
    snprintf(devargs, sizeof(devargs), "net_null_%s", name);
    int i = vs_config_port_add(cfg, name, devargs, role, &err);
    assert_true(i >= 0);
    cfg->ports[i].dpdk_id = dpdk_id;
    cfg->ports[i].n_rxq = 1;
}

static void set_slice(struct vs_config *cfg, const char *name, const char *uplink, const char *vm,
                      enum vs_slice_mode mode, bool untagged, uint16_t first, uint16_t last)
{
    struct evr_err err = {0};
    struct vs_slice_spec s = {
            .name = name, .uplink = uplink, .vm = vm, .mode = mode, .untagged = untagged};
    if (first) {
        s.n_ranges = 1;
        s.ranges[0].first = first;
        s.ranges[0].last = last;
    }
    int rc = vs_config_slice_set(cfg, &s, &err);
    if (rc != 0)
        fail_msg("slice %s: %s", name, err.msg);
}

/* wire0: VLANs 100-199 trunk to vm-a, VLAN 300 access to vm-b, untagged
 * access to vm-c. */
static void fixture(struct vs_config *cfg)
{
    vs_config_init(cfg);
    add_port(cfg, "wire0", VS_ROLE_WIRE, WIRE0);
    add_port(cfg, "wire1", VS_ROLE_WIRE, WIRE1);
    add_port(cfg, "vm-a", VS_ROLE_VM, VM_A);
    add_port(cfg, "vm-b", VS_ROLE_VM, VM_B);
    add_port(cfg, "vm-c", VS_ROLE_VM, VM_C);
    add_port(cfg, "vm-d", VS_ROLE_VM, VM_D);
    set_slice(cfg, "trunk", "wire0", "vm-a", VS_SLICE_TRUNK, false, 100, 199);
    set_slice(cfg, "acc300", "wire0", "vm-b", VS_SLICE_ACCESS, false, 300, 300);
    set_slice(cfg, "native", "wire0", "vm-c", VS_SLICE_ACCESS, true, 0, 0);
}

static struct vs_verdict decide(const struct vs_tables *t, uint16_t in, struct frame f)
{
    struct vs_verdict v;
    vs_classify(t, in, f.b, f.len, &v);
    return v;
}

static void each_vlan_goes_to_its_slice_only(void **state)
{
    struct vs_config cfg;
    (void)state;
    fixture(&cfg);
    struct vs_tables *t = vs_tables_build(&cfg, 1, 1);
    assert_non_null(t);
    int trunk = vs_config_find_slice(&cfg, "trunk");
    int acc = vs_config_find_slice(&cfg, "acc300");
    int native = vs_config_find_slice(&cfg, "native");

    for (int vid = 1; vid <= 4094; vid++) {
        struct vs_verdict v = decide(t, WIRE0, frame_udp(vid, 1, 1, 1));
        if (vid >= 100 && vid <= 199) {
            assert_int_equal(v.action, VS_ACT_FORWARD); /* trunk keeps the tag */
            assert_int_equal(v.out_port, VM_A);
            assert_int_equal(v.slice, trunk);
        } else if (vid == 300) {
            assert_int_equal(v.action, VS_ACT_POP);
            assert_int_equal(v.out_port, VM_B);
            assert_int_equal(v.slice, acc);
        } else {
            assert_int_equal(v.action, VS_ACT_DROP);
            assert_int_equal(v.drop, VS_DROP_NO_SLICE);
            assert_int_equal(v.slice, VS_NONE);
        }
    }
    struct vs_verdict v = decide(t, WIRE0, frame_udp(-1, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_FORWARD);
    assert_int_equal(v.out_port, VM_C);
    assert_int_equal(v.slice, native);
    /* Priority-tagged (VLAN 0) is untagged traffic; access pops the tag. */
    v = decide(t, WIRE0, frame_udp(0, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_POP);
    assert_int_equal(v.out_port, VM_C);
    /* An 802.1ad (or 0x9100) outer tag is not "untagged": no slice. */
    struct frame qinq = frame_udp(100, 1, 1, 1);
    qinq.b[12] = 0x88;
    qinq.b[13] = 0xa8;
    v = decide(t, WIRE0, qinq);
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_NO_SLICE);
    qinq.b[12] = 0x91;
    qinq.b[13] = 0x00;
    assert_int_equal(decide(t, WIRE0, qinq).drop, VS_DROP_NO_SLICE);
    /* An 802.1Q tag cut short by the frame's end is not untagged either. */
    struct frame cut = frame_udp(150, 1, 1, 1);
    cut.len = 16;
    v = decide(t, WIRE0, cut);
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_NO_SLICE);
    /* wire1 carries no slice: everything on it is dropped. */
    v = decide(t, WIRE1, frame_udp(150, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_NO_SLICE);
    vs_tables_free(t);
}

static void vm_side_is_tagged_or_checked_per_mode(void **state)
{
    struct vs_config cfg;
    (void)state;
    fixture(&cfg);
    struct vs_tables *t = vs_tables_build(&cfg, 1, 1);
    assert_non_null(t);

    struct vs_verdict v = decide(t, VM_B, frame_udp(-1, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_PUSH);
    assert_int_equal(v.vlan, 300);
    assert_int_equal(v.out_port, WIRE0);

    v = decide(t, VM_B, frame_udp(300, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_TAGGED_ON_ACCESS);

    v = decide(t, VM_C, frame_udp(-1, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_FORWARD);
    assert_int_equal(v.out_port, WIRE0);

    v = decide(t, VM_A, frame_udp(150, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_FORWARD);
    assert_int_equal(v.out_port, WIRE0);
    /* A trunk VM cannot send into another slice's VLAN or untagged. */
    v = decide(t, VM_A, frame_udp(300, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_VLAN_NOT_IN_SLICE);
    v = decide(t, VM_A, frame_udp(-1, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_VLAN_NOT_IN_SLICE);

    v = decide(t, VM_D, frame_udp(-1, 1, 1, 1));
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_NO_SLICE_ON_VM);

    /* S-tagged frames from VMs: not untagged on access, not in a trunk. */
    struct frame qinq = frame_udp(150, 1, 1, 1);
    qinq.b[12] = 0x88;
    qinq.b[13] = 0xa8;
    assert_int_equal(decide(t, VM_C, qinq).drop, VS_DROP_TAGGED_ON_ACCESS);
    assert_int_equal(decide(t, VM_A, qinq).drop, VS_DROP_VLAN_NOT_IN_SLICE);

    uint8_t runt[10] = {0};
    vs_classify(t, WIRE0, runt, sizeof(runt), &v);
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_RUNT);
    vs_tables_free(t);
}

static void moving_a_slice_changes_nothing_else(void **state)
{
    struct vs_config cfg;
    (void)state;
    fixture(&cfg);
    struct vs_tables *before = vs_tables_build(&cfg, 1, 1);
    set_slice(&cfg, "acc300", "wire0", "vm-d", VS_SLICE_ACCESS, false, 300, 300);
    struct vs_tables *after = vs_tables_build(&cfg, 1, 2);
    assert_non_null(before);
    assert_non_null(after);
    for (int vid = -1; vid <= 4094; vid++) {
        struct vs_verdict a = decide(before, WIRE0, frame_udp(vid, 1, 1, 1));
        struct vs_verdict b = decide(after, WIRE0, frame_udp(vid, 1, 1, 1));
        if (vid == 300) {
            assert_int_equal(a.out_port, VM_B);
            assert_int_equal(b.out_port, VM_D);
            assert_int_equal(a.slice, b.slice); /* same slice: its counters carry on */
            continue;
        }
        assert_int_equal(a.action, b.action);
        assert_int_equal(a.drop, b.drop);
        assert_int_equal(a.slice, b.slice);
        assert_int_equal(a.out_port, b.out_port);
        assert_int_equal(a.vlan, b.vlan);
    }
    /* vm-b lost its slice; vm-d took it over. */
    assert_int_equal(decide(after, VM_B, frame_udp(-1, 1, 1, 1)).drop, VS_DROP_NO_SLICE_ON_VM);
    assert_int_equal(decide(after, VM_D, frame_udp(-1, 1, 1, 1)).out_port, WIRE0);
    vs_tables_free(before);
    vs_tables_free(after);
}

static void queues_stay_on_their_worker_when_ports_change(void **state)
{
    struct vs_config cfg;
    struct evr_err err;
    (void)state;
    fixture(&cfg);
    struct vs_tables *a = vs_tables_build(&cfg, 2, 1);
    add_port(&cfg, "wire2", VS_ROLE_WIRE, WIRE2);
    assert_int_equal(vs_config_port_del(&cfg, "wire1", &err), 0);
    struct vs_tables *b = vs_tables_build(&cfg, 2, 2);
    assert_non_null(a);
    assert_non_null(b);
    unsigned total = 0;
    for (unsigned w = 0; w < 2; w++) {
        for (unsigned i = 0; i < a->rx[w].n; i++) {
            uint16_t port = a->rx[w].q[i].port;
            assert_int_equal(port % 2, w);
            if (port == WIRE1)
                continue;
            bool kept = false;
            for (unsigned j = 0; j < b->rx[w].n; j++)
                kept |= b->rx[w].q[j].port == port;
            assert_true(kept);
        }
        total += b->rx[w].n;
    }
    assert_int_equal(total, 6); /* wire0, wire2, four VM ports */
    vs_tables_free(a);
    vs_tables_free(b);
}

struct bad_slice {
    const char *uplink, *vm;
    enum vs_slice_mode mode;
    bool untagged;
    uint16_t first, last;
    const char *msg_part;
};

static void rejects_bad_slices_and_changes_nothing(void **state)
{
    static const struct bad_slice cases[] = {
            {"wire9", "vm-d", VS_SLICE_TRUNK, false, 10, 20,
             "field 'uplink': no port or LAG 'wire9'"},
            {"vm-a", "vm-d", VS_SLICE_TRUNK, false, 10, 20, "field 'uplink': port 'vm-a' is a VM"},
            {"wire0", "wire1", VS_SLICE_TRUNK, false, 10, 20, "field 'vm': port 'wire1' is a wire"},
            {"wire0", "vm-x", VS_SLICE_TRUNK, false, 10, 20, "field 'vm': no port 'vm-x'"},
            {"wire0", "vm-a", VS_SLICE_TRUNK, false, 10, 20, "already carries slice 'trunk'"},
            {"wire0", "vm-d", VS_SLICE_TRUNK, false, 199, 250, "overlaps slice 'trunk'"},
            {"wire0", "vm-d", VS_SLICE_TRUNK, true, 0, 0, "overlaps slice 'native'"},
            {"wire0", "vm-d", VS_SLICE_TRUNK, false, 0, 0, "would carry nothing"},
            {"wire0", "vm-d", VS_SLICE_TRUNK, false, 10, 4095, "not a range within 1-4094"},
            {"wire0", "vm-d", VS_SLICE_TRUNK, false, 20, 10, "not a range within 1-4094"},
            {"wire0", "vm-d", VS_SLICE_ACCESS, false, 10, 11, "exactly one VLAN"},
            {"wire0", "vm-d", VS_SLICE_ACCESS, true, 10, 10, "exactly one VLAN"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vs_config cfg, before;
        struct evr_err err = {0};
        fixture(&cfg);
        before = cfg;
        const struct bad_slice *c = &cases[i];
        struct vs_slice_spec s = {.name = "new",
                                  .uplink = c->uplink,
                                  .vm = c->vm,
                                  .mode = c->mode,
                                  .untagged = c->untagged};
        if (c->first) {
            s.n_ranges = 1;
            s.ranges[0].first = c->first;
            s.ranges[0].last = c->last;
        }
        assert_int_equal(vs_config_slice_set(&cfg, &s, &err), -1);
        if (!strstr(err.msg, c->msg_part))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, c->msg_part);
        assert_memory_equal(&cfg, &before, sizeof(cfg));
    }
}

static void ranges_within_a_slice_must_not_overlap(void **state)
{
    struct vs_config cfg;
    struct evr_err err;
    (void)state;
    fixture(&cfg);
    struct vs_slice_spec s = {.name = "two",
                              .uplink = "wire1",
                              .vm = "vm-d",
                              .mode = VS_SLICE_TRUNK,
                              .n_ranges = 2,
                              .ranges = {{10, 20}, {20, 30}}};
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), -1);
    assert_non_null(strstr(err.msg, "'vlans'[1]: 20-30 overlaps 'vlans'[0]"));
    s.ranges[1].first = 21;
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), 0);
}

static void ports_in_use_cannot_go(void **state)
{
    struct vs_config cfg;
    struct evr_err err;
    (void)state;
    fixture(&cfg);
    assert_int_equal(vs_config_port_del(&cfg, "vm-a", &err), -1);
    assert_non_null(strstr(err.msg, "used by slice 'trunk'"));
    assert_int_equal(vs_config_port_del(&cfg, "wire0", &err), -1);
    assert_int_equal(vs_config_port_add(&cfg, "wire0", "x", VS_ROLE_WIRE, &err), -1);
    assert_non_null(strstr(err.msg, "already used"));
    assert_int_equal(vs_config_port_add(&cfg, "Wire9", "x", VS_ROLE_WIRE, &err), -1);
    assert_non_null(strstr(err.msg, "not a valid name"));
    assert_int_equal(vs_config_port_add(&cfg, "wire9", "net_null_wire0", VS_ROLE_WIRE, &err), -1);
    assert_non_null(strstr(err.msg, "port 'wire0' already uses"));
    assert_int_equal(vs_config_port_del(&cfg, "vm-d", &err), 0);
    assert_int_equal(vs_config_find_port(&cfg, "vm-d"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(each_vlan_goes_to_its_slice_only),
            cmocka_unit_test(vm_side_is_tagged_or_checked_per_mode),
            cmocka_unit_test(moving_a_slice_changes_nothing_else),
            cmocka_unit_test(queues_stay_on_their_worker_when_ports_change),
            cmocka_unit_test(rejects_bad_slices_and_changes_nothing),
            cmocka_unit_test(ranges_within_a_slice_must_not_overlap),
            cmocka_unit_test(ports_in_use_cannot_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
