/* Unit tests for the vswitch plan (router/vswitch_plan.h). Every step is fed
 * to evr-vswitch's own request parser and config rules (vswitch/protocol.h),
 * so a plan the vswitch would refuse half-way fails here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTER_TEST_VSWITCH
#include "../router/fixture.h"
#include "lag.h"
#include "vswitch_plan.h"

static const char *const appliance_json =
        "{\"state_dir\": \"/var/lib/evr\", \"vswitch\": {\"cores\": [0]},"
        " \"ports\": [{\"name\": \"port0\", \"netdev\": \"eth0\"},"
        "  {\"name\": \"port1\", \"pci\": \"0000:00:03.0\"},"
        "  {\"name\": \"port5\", \"devargs\": \"net_null5\"}],"
        " \"vms\": [{\"name\": \"vm-a\", \"ports\": 2, \"cores\": [1],"
        "   \"vmm\": {\"kernel\": \"/k\", \"vcpus\": 1}},"
        "  {\"name\": \"vm-b\", \"ports\": 2, \"queues\": 2, \"cores\": [2],"
        "   \"vmm\": {\"kernel\": \"/k\", \"vcpus\": 1}}]}";

struct fixture {
    struct evr_appliance a;
    struct evr_partition p;
    struct vs_config vs; /* what a vswitch fed every plan so far declares */
    json_t *state;       /* evr_vswitch_state of p */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    router_fixture_init(&f->a, &f->p, appliance_json);
    vs_config_init(&f->vs);
    f->state = json_pack("{s:{}, s:{}}", "ports", "slices");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    json_decref(f->state);
    router_fixture_fini(&f->a, &f->p);
    free(f);
    return 0;
}

static void vs_apply(struct vs_config *vs, const json_t *request)
{
    struct evr_err err;

    if (vs_take(vs, request, &err)) {
        char *line = json_dumps(request, JSON_COMPACT);
        fail_msg("the vswitch refuses %s: %s", line, err.msg);
    }
}

/* What the vswitch declares, by name: ports re-added by an undo may take
 * other slots in its table, which changes nothing it does. */
static char *vs_dump(const struct vs_config *vs)
{
    struct evr_err err;
    json_t *j = vs_config_to_json(vs), *declared = evr_vswitch_state_from_dump(j, &err);
    char *text = json_dumps(declared, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(declared);
    json_decref(j);
    return text;
}

/* Changes the partition, plans the vswitch's way there, feeds every step to
 * the vswitch's config, and checks that undoing the steps in reverse gives
 * back what it declared before. Returns the plan. */
static json_t *plan_change(struct fixture *f, const struct evr_change *c)
{
    struct evr_err err;
    struct vs_config before = f->vs, undone;
    json_t *next, *plan, *s;
    char *a, *b;
    size_t i;

    if (evr_partition_apply(&f->p, &f->a, c, NULL, &err))
        fail_msg("%s", err.msg);
    next = evr_vswitch_state(&f->p, &f->a, "/run/evr", &err);
    if (!next)
        fail_msg("%s", err.msg);
    plan = evr_vswitch_plan(f->state, next, &err);
    assert_non_null(plan);
    json_array_foreach(plan, i, s) vs_apply(&f->vs, json_object_get(s, "request"));

    /* what the vswitch then dumps reads back as the state evrd asked for */
    {
        json_t *dump = vs_config_to_json(&f->vs), *read = evr_vswitch_state_from_dump(dump, &err);
        assert_non_null(read);
        assert_true(json_equal(read, next));
        json_decref(read);
        json_decref(dump);
    }

    undone = f->vs;
    for (i = json_array_size(plan); i-- > 0;)
        vs_apply(&undone, json_object_get(json_array_get(plan, i), "undo"));
    a = vs_dump(&before);
    b = vs_dump(&undone);
    assert_string_equal(a, b);
    free(a);
    free(b);

    /* the plan from nothing to next declares the same as the steps did */
    {
        struct vs_config fresh;
        json_t *empty = json_pack("{s:{}, s:{}}", "ports", "slices");
        json_t *full = evr_vswitch_plan(empty, next, &err);
        vs_config_init(&fresh);
        json_array_foreach(full, i, s) vs_apply(&fresh, json_object_get(s, "request"));
        a = vs_dump(&fresh);
        b = vs_dump(&f->vs);
        assert_string_equal(a, b);
        free(a);
        free(b);
        json_decref(full);
        json_decref(empty);
    }
    json_decref(f->state);
    f->state = next;
    return plan;
}

static json_t *change_and_plan(struct fixture *f, enum evr_change_op op, const char *slices,
                               const char *vm)
{
    struct evr_change c = router_change(&f->a, op, slices, vm);
    return plan_change(f, &c);
}

/* The plan's requests as "op name" words. */
static void expect_steps(json_t *plan, const char *want)
{
    char got[2048] = "";
    json_t *s;
    size_t i;

    json_array_foreach(plan, i, s)
    {
        const json_t *r = json_object_get(s, "request");
        char word[128];
        snprintf(word, sizeof(word), "%s%s %s", i ? ", " : "",
                 json_string_value(json_object_get(r, "op")),
                 json_string_value(json_object_get(r, "name")));
        strncat(got, word, sizeof(got) - strlen(got) - 1);
    }
    if (strcmp(got, want))
        fail_msg("plan is '%s', wanted '%s'", got, want);
    json_decref(plan);
}

static void split_adds_vm_ports_wire_ports_and_slices(void **state)
{
    struct fixture *f = *state;
    json_t *plan = change_and_plan(f, EVR_CHANGE_SPLIT, "port0,port1", "vm-a");
    const json_t *r = json_object_get(json_array_get(plan, 6), "request");
    const json_t *wire = json_object_get(json_array_get(plan, 4), "request");

    assert_string_equal(json_string_value(json_object_get(r, "vm")), "vm-a.0");
    assert_true(json_is_true(json_object_get(r, "untagged")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "vlans"), 0)),
                        "1-4094");
    assert_string_equal(json_string_value(json_object_get(wire, "devargs")),
                        "net_af_packet0,iface=eth0");
    /* vm-b's ports have the appliance's 2 queue pairs, vm-a's net_vhost's one */
    assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_array_get(plan, 2), "request"), "devargs")),
                        "net_vhost_vm-b_0,iface=/run/evr/vm-b.0.sock,client=1,queues=2");
    assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_array_get(plan, 0), "request"), "devargs")),
                        "net_vhost_vm-a_0,iface=/run/evr/vm-a.0.sock,client=1");
    expect_steps(plan, "port-add vm-a.0, port-add vm-a.1, port-add vm-b.0, port-add vm-b.1, "
                       "port-add port0, port-add port1, slice-set port0, slice-set port1");
    /* the same split again: nothing to do */
    expect_steps(change_and_plan(f, EVR_CHANGE_SPLIT, "port1", "vm-a"), "");
}

static void whole_port_move_is_one_slice_set(void **state)
{
    struct fixture *f = *state;
    json_t *plan;

    json_decref(change_and_plan(f, EVR_CHANGE_SPLIT, "port0,port1", "vm-a"));
    plan = change_and_plan(f, EVR_CHANGE_MOVE, "port1", "vm-b");
    assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_array_get(plan, 0), "request"), "vm")),
                        "vm-b.0");
    expect_steps(plan, "slice-set port1");
}

static void vlans_shrink_before_they_grow(void **state)
{
    struct fixture *f = *state;

    json_decref(change_and_plan(f, EVR_CHANGE_SPLIT, "port5.100-199", "vm-a"));
    json_decref(change_and_plan(f, EVR_CHANGE_SPLIT, "port5.200-299", "vm-b"));
    /* vm-a gives 150-199 to vm-b: vm-a's slice must shrink first, or the
     * vswitch would see two slices of port5 claim the same VLANs */
    expect_steps(change_and_plan(f, EVR_CHANGE_MOVE, "port5.150-199", "vm-b"),
                 "slice-set port5.vm-a, slice-set port5.vm-b");
    /* and the other way round, whatever order the slices are declared in */
    expect_steps(change_and_plan(f, EVR_CHANGE_MOVE, "port5.250-299", "vm-a"),
                 "slice-set port5.vm-b, slice-set port5.vm-a");
    expect_steps(change_and_plan(f, EVR_CHANGE_MOVE, "port5.100-149", "vm-b"),
                 "slice-set port5.vm-a, slice-set port5.vm-b");
    /* a slice left with no VLAN goes */
    expect_steps(change_and_plan(f, EVR_CHANGE_MOVE, "port5.250-299", "vm-b"),
                 "slice-del port5.vm-a, slice-set port5.vm-b");
    /* the last slice of a port goes, and the wire port with it */
    expect_steps(change_and_plan(f, EVR_CHANGE_FREE, "port5", ""),
                 "slice-del port5.vm-b, port-del port5");
}

static void passthrough_ports_stay_out_of_the_vswitch(void **state)
{
    struct fixture *f = *state;
    struct evr_change c = router_change(&f->a, EVR_CHANGE_SPLIT, "port1", "vm-b");
    struct evr_err err;
    json_t *st;

    c.mode = EVR_MODE_PASSTHROUGH;
    c.mode_given = true;
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), 0);
    st = evr_vswitch_state(&f->p, &f->a, "/run/evr", &err);
    assert_null(json_object_get(json_object_get(st, "ports"), "port1"));
    assert_int_equal(json_object_size(json_object_get(st, "slices")), 0);
    json_decref(st);
}

static void too_many_vlan_ranges_are_refused(void **state)
{
    struct fixture *f = *state;
    struct evr_err err;
    json_t *st;

    for (unsigned v = 1; v <= 2 * (EVR_VS_VLAN_RANGES + 1); v += 2) {
        char slice[32];
        struct evr_change c;
        snprintf(slice, sizeof(slice), "port0.%u", v);
        c = router_change(&f->a, EVR_CHANGE_SPLIT, slice, "vm-a");
        assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), 0);
    }
    st = evr_vswitch_state(&f->p, &f->a, "/run/evr", &err);
    assert_null(st);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "slice port0.vm-a: its VLANs form more than 16 ranges"));
}

static json_t *join_and_plan(struct fixture *f, const char *slices, const char *vm,
                             enum evr_lag_mode mode)
{
    struct evr_change c = router_change(&f->a, EVR_CHANGE_JOIN, slices, vm);
    c.lag_mode = mode;
    c.lag_mode_given = true;
    return plan_change(f, &c);
}

static const json_t *step_request(const json_t *plan, size_t i)
{
    return json_object_get(json_array_get(plan, i), "request");
}

static void a_lag_is_one_slice_over_its_members(void **state)
{
    struct fixture *f = *state;
    json_t *plan;
    char *members;

    /* port0 carries its own slice until it joins: the slice goes first */
    json_decref(change_and_plan(f, EVR_CHANGE_SPLIT, "port0", "vm-a"));
    plan = join_and_plan(f, "port0,port5", "vm-a", EVR_LAG_BALANCE);
    members = json_dumps(json_object_get(step_request(plan, 2), "members"), JSON_COMPACT);
    assert_string_equal(members, "[\"port0\",\"port5\"]");
    free(members);
    assert_string_equal(json_string_value(json_object_get(step_request(plan, 2), "mode")),
                        "balance");
    assert_string_equal(json_string_value(json_object_get(step_request(plan, 3), "uplink")),
                        "lag0");
    assert_string_equal(json_string_value(json_object_get(step_request(plan, 3), "vm")), "vm-a.0");
    expect_steps(plan, "port-add port5, slice-del port0, lag-set lag0, slice-set lag0");
    /* the whole LAG to another VM: one slice-set, published at once */
    expect_steps(change_and_plan(f, EVR_CHANGE_MOVE, "port0,port5", "vm-b"), "slice-set lag0");
    /* another mode: the LAG is replaced in place */
    expect_steps(join_and_plan(f, "port0", "vm-b", EVR_LAG_ACTIVE_BACKUP), "lag-set lag0");
    /* a member freed leaves the LAG before its port goes */
    expect_steps(change_and_plan(f, EVR_CHANGE_FREE, "port5", ""), "lag-set lag0, port-del port5");
    /* and a port that joins is opened before the LAG takes it */
    expect_steps(join_and_plan(f, "port0-1", "vm-b", EVR_LAG_ACTIVE_BACKUP),
                 "port-add port1, lag-set lag0");
    /* a freed LAG: its slice, then the LAG, then its ports */
    expect_steps(change_and_plan(f, EVR_CHANGE_FREE, "port0-1", ""),
                 "slice-del lag0, lag-del lag0, port-del port0, port-del port1");
}

/* From one partition to another the rules cannot reach in one change (as
 * apply or a batch can): a port leaves one LAG for another, and a LAG's
 * member becomes a port of its own. Every step is one the vswitch takes. */
static void ports_change_lags_in_one_plan(void **state)
{
    struct fixture *f = *state;
    struct evr_partition q;
    struct evr_err err;
    struct evr_change c;
    json_t *from, *to, *plan, *s;
    size_t i;

    json_decref(join_and_plan(f, "port0-1", "vm-a", EVR_LAG_BALANCE));
    json_decref(join_and_plan(f, "port5", "vm-b", EVR_LAG_BALANCE));
    from = json_incref(f->state);
    assert_int_equal(evr_partition_copy(&q, &f->p, &err), 0);
    c = router_change(&f->a, EVR_CHANGE_FREE, "port0-1", "");
    assert_int_equal(evr_partition_apply(&q, &f->a, &c, NULL, &err), 0);
    c = router_change(&f->a, EVR_CHANGE_JOIN, "port1,port5", "vm-b");
    assert_int_equal(evr_partition_apply(&q, &f->a, &c, NULL, &err), 0);
    c = router_change(&f->a, EVR_CHANGE_SPLIT, "port0", "vm-a");
    assert_int_equal(evr_partition_apply(&q, &f->a, &c, NULL, &err), 0);
    to = evr_vswitch_state(&q, &f->a, "/run/evr", &err);
    assert_non_null(to);
    plan = evr_vswitch_plan(from, to, &err);
    assert_non_null(plan);
    json_array_foreach(plan, i, s) vs_apply(&f->vs, json_object_get(s, "request"));
    {
        json_t *dump = vs_config_to_json(&f->vs), *read = evr_vswitch_state_from_dump(dump, &err);
        assert_true(json_equal(read, to));
        json_decref(read);
        json_decref(dump);
    }
    expect_steps(plan, "slice-del lag0, lag-del lag0, lag-set lag1, slice-set port0");
    json_decref(from);
    json_decref(to);
    evr_partition_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(split_adds_vm_ports_wire_ports_and_slices, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(whole_port_move_is_one_slice_set, setup, teardown),
            cmocka_unit_test_setup_teardown(vlans_shrink_before_they_grow, setup, teardown),
            cmocka_unit_test_setup_teardown(passthrough_ports_stay_out_of_the_vswitch, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(too_many_vlan_ranges_are_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(a_lag_is_one_slice_over_its_members, setup, teardown),
            cmocka_unit_test_setup_teardown(ports_change_lags_in_one_plan, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
