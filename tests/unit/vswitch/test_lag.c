/* Unit tests for LAG hashing, bucket failover (vswitch/lag.h) and LAG rules
 * and transmit through the tables (vswitch/config.h, vswitch/tables.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "frames.h"
#include "lag.h"
#include "tables.h"

static void hash_follows_the_policy_fields(void **state)
{
    (void)state;
    struct frame a = frame_udp(-1, 1, 0x0a000001, 1000);
    struct frame a_port = frame_udp(-1, 1, 0x0a000001, 1001);
    struct frame a_ip = frame_udp(-1, 1, 0x0a000002, 1000);
    struct frame a_tagged = frame_udp(100, 1, 0x0a000001, 1000);

    /* l2 ignores IP and ports. */
    assert_int_equal(vs_lag_hash(a.b, a.len, VS_HASH_L2),
                     vs_lag_hash(a_ip.b, a_ip.len, VS_HASH_L2));
    /* l23 sees the IP, not the ports. */
    assert_int_not_equal(vs_lag_hash(a.b, a.len, VS_HASH_L23),
                         vs_lag_hash(a_ip.b, a_ip.len, VS_HASH_L23));
    assert_int_equal(vs_lag_hash(a.b, a.len, VS_HASH_L23),
                     vs_lag_hash(a_port.b, a_port.len, VS_HASH_L23));
    /* l34 sees the ports; a VLAN tag does not change a flow's hash. */
    assert_int_not_equal(vs_lag_hash(a.b, a.len, VS_HASH_L34),
                         vs_lag_hash(a_port.b, a_port.len, VS_HASH_L34));
    assert_int_equal(vs_lag_hash(a.b, a.len, VS_HASH_L34),
                     vs_lag_hash(a_tagged.b, a_tagged.len, VS_HASH_L34));
    /* Truncated frames hash on what they have, never read past len. */
    assert_int_equal(vs_lag_hash(a.b, 20, VS_HASH_L34), vs_lag_hash(a.b, 20, VS_HASH_L2));
}

static void balance_spreads_flows_over_members(void **state)
{
    (void)state;
    uint8_t buckets[VS_LAG_BUCKETS];
    unsigned per_member[3] = {0};
    vs_lag_fill_buckets(VS_LAG_BALANCE, 3, 0x7, buckets);
    for (unsigned flow = 0; flow < 3000; flow++) {
        struct frame f = frame_udp(-1, 1, 0x0a000000 + flow, (uint16_t)(1000 + flow));
        per_member[buckets[vs_lag_hash(f.b, f.len, VS_HASH_L34) % VS_LAG_BUCKETS]]++;
    }
    for (unsigned m = 0; m < 3; m++)
        if (per_member[m] < 700 || per_member[m] > 1300)
            fail_msg("member %u got %u of 3000 flows", m, per_member[m]);
}

static void member_loss_moves_only_its_buckets(void **state)
{
    (void)state;
    uint8_t all[VS_LAG_BUCKETS], less[VS_LAG_BUCKETS];
    vs_lag_fill_buckets(VS_LAG_BALANCE, 4, 0xf, all);
    vs_lag_fill_buckets(VS_LAG_BALANCE, 4, 0xf & ~(1u << 2), less);
    unsigned moved_to[4] = {0};
    for (unsigned b = 0; b < VS_LAG_BUCKETS; b++) {
        if (all[b] != 2) {
            assert_int_equal(less[b], all[b]);
            continue;
        }
        assert_int_not_equal(less[b], 2);
        moved_to[less[b]]++;
    }
    /* The dead member's 64 buckets are dealt over the three others. */
    for (unsigned m = 0; m < 4; m++)
        if (m != 2 && (moved_to[m] < 15 || moved_to[m] > 30))
            fail_msg("member %u took %u buckets", m, moved_to[m]);

    vs_lag_fill_buckets(VS_LAG_BALANCE, 4, 0, less);
    for (unsigned b = 0; b < VS_LAG_BUCKETS; b++)
        assert_int_equal(less[b], VS_LAG_NO_MEMBER);
}

static void active_backup_uses_first_member_up(void **state)
{
    (void)state;
    uint8_t buckets[VS_LAG_BUCKETS];
    vs_lag_fill_buckets(VS_LAG_ACTIVE_BACKUP, 3, 0x7, buckets);
    for (unsigned b = 0; b < VS_LAG_BUCKETS; b++)
        assert_int_equal(buckets[b], 0);
    vs_lag_fill_buckets(VS_LAG_ACTIVE_BACKUP, 3, 0x6, buckets);
    for (unsigned b = 0; b < VS_LAG_BUCKETS; b++)
        assert_int_equal(buckets[b], 1);
}

static int add(struct vs_config *cfg, const char *name, enum vs_port_role role, uint16_t id)
{
    struct evr_err err;
    char devargs[32];
    snprintf(devargs, sizeof(devargs), "net_null%u", id);
    int i = vs_config_port_add(cfg, name, devargs, role, &err);
    assert_true(i >= 0);
    cfg->ports[i].dpdk_id = id;
    cfg->ports[i].n_rxq = 1;
    return i;
}

static void lag_carries_a_slice_and_fails_over(void **state)
{
    struct vs_config cfg;
    struct evr_err err = {0};
    (void)state;
    vs_config_init(&cfg);
    add(&cfg, "p0", VS_ROLE_WIRE, 0);
    int p1 = add(&cfg, "p1", VS_ROLE_WIRE, 1);
    add(&cfg, "vm", VS_ROLE_VM, 5);
    struct vs_lag_spec lag = {.name = "bond",
                              .mode = VS_LAG_BALANCE,
                              .hash = VS_HASH_L34,
                              .n_members = 2,
                              .members = {"p0", "p1"}};
    assert_int_equal(vs_config_lag_set(&cfg, &lag, &err), 0);
    struct vs_slice_spec s = {.name = "s",
                              .uplink = "bond",
                              .vm = "vm",
                              .mode = VS_SLICE_ACCESS,
                              .n_ranges = 1,
                              .ranges = {{42, 42}}};
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), 0);

    struct vs_tables *t = vs_tables_build(&cfg, 1, 1);
    assert_non_null(t);
    unsigned per_port[2] = {0};
    struct vs_verdict v;
    for (unsigned flow = 0; flow < 200; flow++) {
        struct frame f = frame_udp(-1, 1, 0x0a000000 + flow, (uint16_t)flow);
        vs_classify(t, 5, f.b, f.len, &v);
        assert_int_equal(v.action, VS_ACT_PUSH);
        assert_int_equal(v.vlan, 42);
        assert_true(v.out_port <= 1);
        per_port[v.out_port]++;
    }
    assert_true(per_port[0] > 50 && per_port[1] > 50);
    /* Receive is merged: both members deliver VLAN 42 to the VM. */
    for (uint16_t in = 0; in < 2; in++) {
        struct frame f = frame_udp(42, 1, 1, 1);
        vs_classify(t, in, f.b, f.len, &v);
        assert_int_equal(v.action, VS_ACT_POP);
        assert_int_equal(v.out_port, 5);
    }
    vs_tables_free(t);

    cfg.ports[p1].link_up = false;
    t = vs_tables_build(&cfg, 1, 2);
    assert_non_null(t);
    for (unsigned flow = 0; flow < 200; flow++) {
        struct frame f = frame_udp(-1, 1, 0x0a000000 + flow, (uint16_t)flow);
        vs_classify(t, 5, f.b, f.len, &v);
        assert_int_equal(v.out_port, 0);
    }
    vs_tables_free(t);

    cfg.ports[0].admin_up = false;
    t = vs_tables_build(&cfg, 1, 3);
    assert_non_null(t);
    struct frame f = frame_udp(-1, 1, 1, 1);
    vs_classify(t, 5, f.b, f.len, &v);
    assert_int_equal(v.action, VS_ACT_DROP);
    assert_int_equal(v.drop, VS_DROP_NO_MEMBER);
    vs_tables_free(t);
}

static void lag_rules(void **state)
{
    struct vs_config cfg, before;
    struct evr_err err = {0};
    (void)state;
    vs_config_init(&cfg);
    add(&cfg, "p0", VS_ROLE_WIRE, 0);
    add(&cfg, "p1", VS_ROLE_WIRE, 1);
    add(&cfg, "p2", VS_ROLE_WIRE, 2);
    add(&cfg, "vm", VS_ROLE_VM, 5);
    add(&cfg, "vm2", VS_ROLE_VM, 6);
    struct vs_slice_spec s = {.name = "direct",
                              .uplink = "p2",
                              .vm = "vm2",
                              .mode = VS_SLICE_TRUNK,
                              .untagged = true};
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), 0);
    struct vs_lag_spec a = {.name = "a", .n_members = 2, .members = {"p0", "p1"}};
    assert_int_equal(vs_config_lag_set(&cfg, &a, &err), 0);
    before = cfg;

    struct {
        struct vs_lag_spec spec;
        const char *msg_part;
    } cases[] = {
            {{.name = "b", .n_members = 1, .members = {"p1"}},
             "'members'[0]: port 'p1' is already in LAG 'a'"},
            {{.name = "b", .n_members = 1, .members = {"vm"}},
             "'members'[0]: port 'vm' is a VM port"},
            {{.name = "b", .n_members = 1, .members = {"p2"}},
             "'members'[0]: port 'p2' carries slice 'direct'"},
            {{.name = "b", .n_members = 2, .members = {"p9", "p0"}}, "'members'[0]: no port 'p9'"},
            {{.name = "a", .n_members = 2, .members = {"p0", "p0"}},
             "'members'[1]: port 'p0' is listed twice"},
            {{.name = "p0", .n_members = 1, .members = {"p1"}},
             "'name': 'p0' is already used by a port"},
            {{.name = "b", .n_members = 0}, "'members': needs 1-8 ports"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(vs_config_lag_set(&cfg, &cases[i].spec, &err), -1);
        if (!strstr(err.msg, cases[i].msg_part))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg_part);
        assert_memory_equal(&cfg, &before, sizeof(cfg));
    }
    /* A member port cannot carry a slice by itself, nor leave while a member. */
    s = (struct vs_slice_spec){
            .name = "x", .uplink = "p0", .vm = "vm", .mode = VS_SLICE_TRUNK, .untagged = true};
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), -1);
    assert_non_null(strstr(err.msg, "member of LAG 'a'; use the LAG"));
    assert_int_equal(vs_config_port_del(&cfg, "p0", &err), -1);
    s.uplink = "a";
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), 0);
    assert_int_equal(vs_config_lag_del(&cfg, "a", &err), -1);
    assert_non_null(strstr(err.msg, "used by slice 'x'"));
    assert_int_equal(vs_config_slice_del(&cfg, "x", &err), 0);
    assert_int_equal(vs_config_lag_del(&cfg, "a", &err), 0);
    assert_int_equal(vs_config_port_del(&cfg, "p0", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(hash_follows_the_policy_fields),
            cmocka_unit_test(balance_spreads_flows_over_members),
            cmocka_unit_test(member_loss_moves_only_its_buckets),
            cmocka_unit_test(active_backup_uses_first_member_up),
            cmocka_unit_test(lag_carries_a_slice_and_fails_over),
            cmocka_unit_test(lag_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
