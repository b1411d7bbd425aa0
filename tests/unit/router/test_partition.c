/* Unit tests for the appliance file (router/appliance.h), the partition's
 * rules (router/partition.h) and its file on disk (router/state.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../router/fixture.h"
#include "lag.h"
#include "state.h"

/* Eight ports: port0-5 kernel interfaces, port6 a PCI PF with 4 VFs, port7
 * a DPDK devargs port; vm-a with 4 network ports, vm-b with 2. */
#define VMM(vcpus) "{\"kernel\": \"/boot/vmlinuz\", \"memory\": 256, \"vcpus\": " #vcpus "}"
static const char *const appliance_json =
        "{\"state_dir\": \"/var/lib/evr\", \"vswitch\": {\"cores\": [0, 1]},"
        " \"ports\": ["
        "  {\"name\": \"port0\", \"netdev\": \"eth0\"}, {\"name\": \"port1\", \"netdev\": "
        "\"eth1\"},"
        "  {\"name\": \"port2\", \"netdev\": \"eth2\"}, {\"name\": \"port3\", \"netdev\": "
        "\"eth3\"},"
        "  {\"name\": \"port4\", \"netdev\": \"eth4\"}, {\"name\": \"port5\", \"netdev\": "
        "\"eth5\"},"
        "  {\"name\": \"port6\", \"pci\": \"0000:01:00.0\", \"vfs\": 4},"
        "  {\"name\": \"port7\", \"devargs\": \"net_null0\"}],"
        " \"vms\": ["
        "  {\"name\": \"vm-a\", \"ports\": 4, \"cores\": [2, 3], \"vmm\": " VMM(
                2) "},"
                   "  {\"name\": \"vm-b\", \"ports\": 2, \"cores\": [4], \"vmm\": " VMM(1) "}]}";

struct fixture {
    struct evr_appliance a;
    struct evr_partition p;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    router_fixture_init(&f->a, &f->p, appliance_json);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    router_fixture_fini(&f->a, &f->p);
    free(f);
    return 0;
}

/* Applies op of slices to vm ("" for free); returns the result, err filled. */
static int change(struct fixture *f, enum evr_change_op op, const char *slices, const char *vm,
                  bool *changed, struct evr_err *err)
{
    struct evr_change c = router_change(&f->a, op, slices, vm);
    return evr_partition_apply(&f->p, &f->a, &c, changed, err);
}

static void must(struct fixture *f, enum evr_change_op op, const char *slices, const char *vm)
{
    struct evr_err err;
    if (change(f, op, slices, vm, NULL, &err))
        fail_msg("%s %s: %s", slices, vm, err.msg);
}

/* c is refused with code and a message that says says; nothing changed. */
static void refused_change(struct fixture *f, struct evr_change c, int code, const char *says)
{
    struct evr_err err = {0};
    json_t *before = evr_partition_to_json(&f->p, &f->a), *after;
    uint64_t gen = f->p.generation;

    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), -1);
    if (err.code != code || !strstr(err.msg, says))
        fail_msg("got %d '%s', wanted %d '%s'", err.code, err.msg, code, says);
    after = evr_partition_to_json(&f->p, &f->a);
    assert_true(json_equal(before, after)); /* nothing half-applied */
    assert_int_equal(f->p.generation, gen);
    json_decref(before);
    json_decref(after);
}

static void refused(struct fixture *f, enum evr_change_op op, const char *slices, const char *vm,
                    int code, const char *says)
{
    refused_change(f, router_change(&f->a, op, slices, vm), code, says);
}

/* c, asking for passthrough mode */
static struct evr_change passthrough(struct evr_change c)
{
    c.mode = EVR_MODE_PASSTHROUGH;
    c.mode_given = true;
    return c;
}

/* The partition as "slice=vm:port" words, for compact expectations. */
static void expect(struct fixture *f, const char *want)
{
    json_t *h = evr_partition_to_json(&f->p, &f->a), *item;
    char got[1024] = "";
    size_t i;

    json_array_foreach(h, i, item)
    {
        char word[128];
        json_t *vp = json_object_get(item, "vm_port"), *lag = json_object_get(item, "lag");
        snprintf(word, sizeof(word), "%s%s=%s%s%lld%s%s%s%s", i ? " " : "",
                 json_string_value(json_object_get(item, "slice")),
                 json_string_value(json_object_get(item, "vm")), vp ? ":" : "/pt",
                 vp ? (long long)json_integer_value(vp) : 0LL, lag ? "[" : "",
                 lag ? json_string_value(lag) : "", lag ? " " : "",
                 lag ? json_string_value(json_object_get(item, "lag_mode")) : "");
        if (lag)
            strncat(word, "]", sizeof(word) - strlen(word) - 1);
        strncat(got, word, sizeof(got) - strlen(got) - 1);
    }
    json_decref(h);
    if (strcmp(got, want))
        fail_msg("partition is '%s', wanted '%s'", got, want);
}

static void appliance_is_read(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(f->a.nports, 8);
    assert_int_equal(f->a.ports[6].backing, EVR_BACKING_PCI);
    assert_int_equal(f->a.ports[6].vfs, 4);
    assert_string_equal(f->a.ports[7].backing_value, "net_null0");
    assert_int_equal(f->a.nvms, 2);
    assert_int_equal(f->a.vms[0].ports, 4);
    assert_int_equal(f->a.vms[0].cores.count, 2);
    assert_int_equal(f->a.vms[1].cores.core[0], 4);
    assert_int_equal(f->a.vswitch_memory_mib, 512);
    assert_int_equal(evr_appliance_vm(&f->a, "vm-b"), 1);
    assert_int_equal(evr_appliance_vm(&f->a, "vm-c"), -1);
}

static void appliance_refusals_name_the_key(void **state)
{
    static const struct {
        const char *json, *says;
    } cases[] = {
            {"[]", "top level: expected a JSON object"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": [],"
             " \"colour\": 1}",
             "unknown key 'colour'"},
            {"{\"state_dir\": \"x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": []}",
             "state_dir: 'x' is not an absolute path"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": []}, \"ports\": [], \"vms\": []}",
             "vswitch.cores: must list 1 to"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0, 0]}, \"ports\": [], \"vms\": "
             "[]}",
             "vswitch.cores[1]: core 0 is listed twice"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [{\"name\": "
             "\"eth0\","
             " \"netdev\": \"eth0\"}], \"vms\": []}",
             "ports[0].name: 'eth0' is not a port name"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [{\"name\": "
             "\"port1\","
             " \"netdev\": \"a\"}, {\"name\": \"port1\", \"netdev\": \"b\"}], \"vms\": []}",
             "ports[1].name: port1 is declared twice"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [{\"name\": "
             "\"port1\","
             " \"netdev\": \"a\", \"pci\": \"0000:00:01.0\"}], \"vms\": []}",
             "needs exactly one of netdev, pci or devargs (has 2)"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [{\"name\": "
             "\"port1\","
             " \"pci\": \"0000:00:01\"}], \"vms\": []}",
             "ports[0].pci: PCI address '0000:00:01': expected '.' at position 10"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [{\"name\": "
             "\"port1\", \"pci\": \"0000:0A:00.0\"}], \"vms\": []}",
             "ports[0].pci: PCI address '0000:0A:00.0': expected a lower-case hex digit"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [{\"name\": "
             "\"port1\","
             " \"netdev\": \"a\", \"vfs\": 2}], \"vms\": []}",
             "ports[0].vfs: only a port backed by a PCI function can carve VFs"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"VM A\", \"cores\": [1], \"vmm\": " VMM(1) "}]}",
             "vms[0].name: 'VM A': a VM name is"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1, 2], \"vmm\": " VMM(1) "}]}",
             "vms[0].vmm: 1 vCPUs but 2 cores"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1], \"vmm\": {\"kernel\": \"k\", \"memory\": "
             "\"lots\"}}]}",
             "vms[0].vmm: evr-vmm: key 'memory': expected an integer"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1], \"vmm\": {\"kernel\": \"k\", \"pin\": [1]}}]}",
             "'pin' is evrd's to set"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [0], \"vmm\": " VMM(1) "}]}",
             "core 0 is given to both a and the vswitch"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1], \"vmm\": " VMM(
                     1) "}, {\"name\": \"a\", \"cores\": "
                        "[2], \"vmm\": " VMM(1) "}]}",
             "vms[1].name: VM a is declared twice"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1], \"vmm\": {\"kernel\": \"k\", \"net\": "
             "[{\"vhost_user\": \"/x.sock\"}]}}]}",
             "vms[0].vmm: net[0]: only management ports"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1], \"ports\": 8, \"vmm\": {\"kernel\": \"k\", "
             "\"net\": [{\"tap\": \"mgmt0\"}]}}]}",
             "1 management and 8 vswitch ports: a VM has at most 8"},
            {"{\"state_dir\": \"/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": [], \"vms\": "
             "[{\"name\": \"a\", \"cores\": [1], \"queues\": 9, \"vmm\": " VMM(1) "}]}",
             "vms[0].queues"},
            {"{\"state_dir\": \"/x\",", "line 1 column"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct evr_appliance *a = calloc(1, sizeof(*a));
        struct evr_err err = {0};
        assert_non_null(a);
        assert_int_equal(evr_appliance_parse(a, cases[i].json, "appl.json", &err), -1);
        if (!strstr(err.msg, cases[i].says) || strncmp(err.msg, "appl.json: ", 11))
            fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, cases[i].says);
        assert_int_equal(a->nvms, 0); /* nothing kept */
        free(a);
    }
}

/* The example in configs/ is one evrd takes. */
static void the_example_appliance_is_valid(void **state)
{
    struct evr_appliance *a = calloc(1, sizeof(*a));
    struct evr_err err;
    (void)state;

    assert_non_null(a);
    if (evr_appliance_load(a, EVR_SRC_ROOT "/configs/appliance-example.json", &err))
        fail_msg("%s", err.msg);
    assert_int_equal(a->nports, 4);
    assert_int_equal(a->nvms, 2);
    evr_appliance_free(a);
    assert_int_equal(evr_appliance_load(a, EVR_SRC_ROOT "/configs/nonexistent.json", &err), -1);
    assert_int_equal(err.code, ENOENT);
    free(a);
}

static void split_gives_free_ports_on_vm_ports(void **state)
{
    struct fixture *f = *state;
    bool changed;
    struct evr_err err;

    assert_int_equal(change(f, EVR_CHANGE_SPLIT, "port0-3", "vm-a", &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(f->p.generation, 1);
    expect(f, "port0=vm-a:0 port1=vm-a:1 port2=vm-a:2 port3=vm-a:3");
    /* the same split again holds already: success, nothing changed */
    assert_int_equal(change(f, EVR_CHANGE_SPLIT, "port1,port2", "vm-a", &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(f->p.generation, 1);
}

static void conflicts_name_the_slice_and_owner(void **state)
{
    struct fixture *f = *state;

    must(f, EVR_CHANGE_SPLIT, "port0-1", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port4.100-199", "vm-b");
    refused(f, EVR_CHANGE_SPLIT, "port1", "vm-b", EBUSY, "port1 is vm-a's");
    refused(f, EVR_CHANGE_SPLIT, "port4.150-300", "vm-a", EBUSY, "port4.150-199 is vm-b's");
    refused(f, EVR_CHANGE_SPLIT, "port4", "vm-a", EBUSY, "port4.100-199 is vm-b's");
    refused(f, EVR_CHANGE_SPLIT, "port0.5", "vm-b", EBUSY, "port0 is vm-a's whole");
    /* one bad slice in a list: the good ones before it are not applied */
    refused(f, EVR_CHANGE_SPLIT, "port2,port3,port1", "vm-b", EBUSY, "port1 is vm-a's");
    expect(f, "port0=vm-a:0 port1=vm-a:1 port4.100-199=vm-b:0");
}

static void slices_the_appliance_lacks_are_refused(void **state)
{
    struct fixture *f = *state;

    refused(f, EVR_CHANGE_SPLIT, "port8", "vm-a", EINVAL, "port8: the appliance has no such port");
    refused(f, EVR_CHANGE_SPLIT, "port6/vf4", "vm-a", EINVAL, "port6 has VFs 0-3 only, not vf4");
    refused(f, EVR_CHANGE_SPLIT, "port5/vf0", "vm-a", EINVAL, "port5 has no VFs");
    {
        struct evr_change c = {.op = EVR_CHANGE_SPLIT,
                               .vm = 0,
                               .vm_port = -1,
                               .mode = EVR_MODE_PASSTHROUGH,
                               .mode_given = true};
        struct evr_parse_error perr;
        struct evr_err err;
        assert_int_equal(evr_slice_list_parse("port5", &c.slices, &perr), 0);
        assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), -1);
        assert_int_equal(err.code, EINVAL);
        assert_non_null(strstr(err.msg, "port5 cannot be passed through"));
        assert_int_equal(evr_slice_list_parse("port6", &c.slices, &perr), 0);
        assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), 0);
        assert_int_equal(evr_slice_list_parse("port4.10", &c.slices, &perr), 0);
        assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), -1);
        assert_non_null(strstr(err.msg, "VLAN slices go through the vswitch"));
    }
    expect(f, "port6=vm-a/pt0");
}

static void move_takes_owned_slices_and_keeps_others(void **state)
{
    struct fixture *f = *state;
    bool changed;
    struct evr_err err;

    must(f, EVR_CHANGE_SPLIT, "port0-3", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port4", "vm-b");
    must(f, EVR_CHANGE_MOVE, "port3", "vm-b");
    /* vm-a keeps its interface order; vm-b's next free port carries port3 */
    expect(f, "port0=vm-a:0 port1=vm-a:1 port2=vm-a:2 port3=vm-b:1 port4=vm-b:0");
    assert_int_equal(change(f, EVR_CHANGE_MOVE, "port3", "vm-b", &changed, &err), 0);
    assert_false(changed);
    refused(f, EVR_CHANGE_MOVE, "port5", "vm-a", ENOENT, "port5 is free: give it with split");
    /* vm-b has two network ports, both in use */
    refused(f, EVR_CHANGE_MOVE, "port2", "vm-b", ENOSPC, "vm-b has no free network port for port2");
    /* moving back frees vm-b's port 1 and gives vm-a its lowest free one */
    must(f, EVR_CHANGE_MOVE, "port3", "vm-a");
    expect(f, "port0=vm-a:0 port1=vm-a:1 port2=vm-a:2 port3=vm-a:3 port4=vm-b:0");
}

static void vlan_and_vf_pieces(void **state)
{
    struct fixture *f = *state;

    must(f, EVR_CHANGE_SPLIT, "port5.100-199", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port5.200-299", "vm-b");
    must(f, EVR_CHANGE_SPLIT, "port5.300", "vm-a");
    /* both of vm-a's VLAN runs of port5 ride the same network port */
    expect(f, "port5.100-199=vm-a:0 port5.200-299=vm-b:0 port5.300=vm-a:0");
    must(f, EVR_CHANGE_MOVE, "port5.150-250", "vm-b");
    expect(f, "port5.100-149=vm-a:0 port5.150-299=vm-b:0 port5.300=vm-a:0");
    refused(f, EVR_CHANGE_MOVE, "port5.290-310", "vm-a", ENOENT, "port5.301-310 is free");
    refused(f, EVR_CHANGE_MOVE, "port5", "vm-a", EBUSY, "port5 is not free whole: port5.100-149");
    must(f, EVR_CHANGE_SPLIT, "port6/vf0-1", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port6/vf2", "vm-b");
    refused(f, EVR_CHANGE_SPLIT, "port6", "vm-a", EBUSY, "port6/vf0-1 is vm-a's");
    refused(f, EVR_CHANGE_SPLIT, "port6/vf1-3", "vm-a", EBUSY, "port6/vf2 is vm-b's");
    must(f, EVR_CHANGE_FREE, "port5.100-149,port6/vf1", "");
    expect(f, "port5.150-299=vm-b:0 port5.300=vm-a:0 port6/vf0=vm-a/pt0 port6/vf2=vm-b/pt0");
    /* freeing a whole port frees every piece of it */
    must(f, EVR_CHANGE_FREE, "port5-6", "");
    expect(f, "");
}

static void a_named_vm_port_is_kept(void **state)
{
    struct fixture *f = *state;
    struct evr_change c = {.op = EVR_CHANGE_SPLIT, .vm = 0, .vm_port = 3};
    struct evr_parse_error perr;
    struct evr_err err;

    assert_int_equal(evr_slice_list_parse("port2", &c.slices, &perr), 0);
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), 0);
    assert_int_equal(evr_slice_list_parse("port1", &c.slices, &perr), 0);
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "vm-a's network port 3 carries another port"));
    c.vm_port = 4;
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "vm-a has network ports 0-3, not 4"));
    must(f, EVR_CHANGE_SPLIT, "port0-1", "vm-a");
    expect(f, "port0=vm-a:0 port1=vm-a:1 port2=vm-a:3");
}

static void holdings_round_trip_and_bad_ones_are_refused(void **state)
{
    struct fixture *f = *state;
    struct evr_partition q;
    struct evr_err err;
    json_t *h, *h2, *bad;

    must(f, EVR_CHANGE_SPLIT, "port1", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port0", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port5.7,port5.9-10,port6/vf3", "vm-b");
    h = evr_partition_to_json(&f->p, &f->a);
    assert_int_equal(evr_partition_init(&q, &f->a, &err), 0);
    assert_int_equal(evr_partition_from_json(&q, &f->a, h, "t", &err), 0);
    h2 = evr_partition_to_json(&q, &f->a);
    assert_true(json_equal(h, h2)); /* vm_port 1 of port0 is kept, not renumbered */
    json_decref(h2);

    static const struct {
        const char *json, *says;
    } cases[] = {
            {"[{\"slice\": \"port1\", \"vm\": \"vm-c\", \"mode\": \"vswitch\", \"vm_port\": 0}]",
             "the appliance has no VM vm-c"},
            {"[{\"slice\": \"port1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\"}]",
             "a vswitch slice needs vm_port"},
            {"[{\"slice\": \"port1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0},"
             " {\"slice\": \"port1\", \"vm\": \"vm-b\", \"mode\": \"vswitch\", \"vm_port\": 0}]",
             "holdings[1]: port1 is vm-a's"},
            {"[{\"slice\": \"port5.1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0},"
             " {\"slice\": \"port5.3\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 1}]",
             "port5 is on vm-a's network port 0, not 1"},
            {"[{\"slice\": \"port1\", \"vm\": \"vm-a\", \"mode\": \"fast\"}]",
             "mode 'fast' is not vswitch or passthrough"},
            {"[{\"slice\": \"port1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0,"
             " \"x\": 1}]",
             "holdings[0]"},
            {"[{\"slice\": \"port1-2\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0}]",
             "a VM network port can be named when splitting one port only"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bad = json_loads(cases[i].json, 0, NULL);
        assert_non_null(bad);
        assert_int_equal(evr_partition_from_json(&q, &f->a, bad, "t", &err), -1);
        if (!strstr(err.msg, cases[i].says))
            fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, cases[i].says);
        json_decref(bad);
        h2 = evr_partition_to_json(&q, &f->a); /* q is untouched */
        assert_true(json_equal(h, h2));
        json_decref(h2);
    }
    json_decref(h);
    evr_partition_free(&q);
}

static void state_survives_save_and_load_and_refuses_corruption(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/evr-state-XXXXXX", path[256], sub[300];
    struct evr_partition q;
    struct evr_err err;
    bool found;
    FILE *file;
    long size;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(evr_state_dir_check(dir, &err), 0);
    assert_int_equal(evr_partition_init(&q, &f->a, &err), 0);
    assert_int_equal(evr_state_load(dir, &q, &f->a, &found, &err), 0);
    assert_false(found);

    must(f, EVR_CHANGE_SPLIT, "port0-2", "vm-a");
    must(f, EVR_CHANGE_SPLIT, "port6/vf1", "vm-b");
    assert_int_equal(evr_state_save(dir, &f->p, &f->a, &err), 0);
    assert_int_equal(evr_state_load(dir, &q, &f->a, &found, &err), 0);
    assert_true(found);
    assert_int_equal(q.generation, f->p.generation);
    {
        json_t *x = evr_partition_to_json(&f->p, &f->a), *y = evr_partition_to_json(&q, &f->a);
        assert_true(json_equal(x, y));
        json_decref(x);
        json_decref(y);
    }

    /* truncated: refused with the reason, and the file is left as it is */
    snprintf(path, sizeof(path), "%s/%s", dir, EVR_STATE_FILE);
    file = fopen(path, "r+");
    assert_non_null(file);
    fseek(file, 0, SEEK_END);
    size = ftell(file);
    assert_int_equal(ftruncate(fileno(file), size / 2), 0);
    fclose(file);
    assert_int_equal(evr_state_load(dir, &q, &f->a, &found, &err), -1);
    assert_non_null(strstr(err.msg, "the file is kept as it is"));
    {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, size / 2);
    }
    /* a version this evrd does not know */
    file = fopen(path, "w");
    fputs("{\"version\": 3, \"generation\": 1, \"holdings\": []}", file);
    fclose(file);
    assert_int_equal(evr_state_load(dir, &q, &f->a, &found, &err), -1);
    assert_non_null(strstr(err.msg, "version 3 is not supported"));
    /* a version 1 file (before LAGs) loads as it is */
    file = fopen(path, "w");
    fputs("{\"version\": 1, \"generation\": 7, \"holdings\": [{\"slice\": \"port2\", \"vm\": "
          "\"vm-b\", \"mode\": \"vswitch\", \"vm_port\": 1}]}",
          file);
    fclose(file);
    if (evr_state_load(dir, &q, &f->a, &found, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(q.generation, 7);
    assert_int_equal(q.ports[2].whole, 2);
    assert_int_equal(q.ports[2].vm_port[1], 1);

    /* a state directory others can write to is refused */
    snprintf(sub, sizeof(sub), "%s/open", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    assert_int_equal(evr_state_dir_check(sub, &err), -1);
    assert_non_null(strstr(err.msg, "writable by others (mode 0777)"));
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    evr_partition_free(&q);
}

/* A child saves partition after partition as fast as it can and is killed
 * with SIGKILL at a random instant, 20 times: the file always loads, and
 * holds one of the partitions the child saved whole. */
static void a_save_killed_at_any_instant_leaves_a_whole_file(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/evr-crash-XXXXXX", cmd[64];
    struct evr_err err;

    assert_non_null(mkdtemp(dir));
    srand((unsigned)getpid());
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* ports 0..5 go to vm-a one by one, then back, for ever;
             * generation g always holds the same partition */
            for (;;) {
                for (unsigned n = 0; n < 12; n++) {
                    char slice[8];
                    struct evr_change c = {.op = n < 6 ? EVR_CHANGE_SPLIT : EVR_CHANGE_FREE,
                                           .vm = 0,
                                           .vm_port = -1};
                    struct evr_parse_error perr;
                    snprintf(slice, sizeof(slice), "port%u", n % 6);
                    evr_slice_list_parse(slice, &c.slices, &perr);
                    if (n % 6 > 3)
                        c.vm = 1; /* vm-a has 4 network ports, all in use by then */
                    if (evr_partition_apply(&f->p, &f->a, &c, NULL, &err) ||
                        evr_state_save(dir, &f->p, &f->a, &err))
                        _exit(1);
                }
            }
        }
        usleep((useconds_t)(rand() % 20000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        {
            struct evr_partition q;
            bool found;
            json_t *h;
            assert_int_equal(evr_partition_init(&q, &f->a, &err), 0);
            if (evr_state_load(dir, &q, &f->a, &found, &err))
                fail_msg("round %d: %s", round, err.msg);
            /* generation g was saved after change g: its holdings are the
             * ports split so far in this cycle */
            h = evr_partition_to_json(&q, &f->a);
            if (found) {
                unsigned step = (unsigned)((q.generation - 1) % 12),
                         owned = step < 6 ? step + 1 : 11 - step;
                if (json_array_size(h) != owned)
                    fail_msg("round %d: generation %llu holds %zu slices, wanted %u", round,
                             (unsigned long long)q.generation, json_array_size(h), owned);
            }
            json_decref(h);
            evr_partition_free(&q);
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Joins slices into one LAG of vm, in mode. */
static int join(struct fixture *f, const char *slices, const char *vm, enum evr_lag_mode mode,
                bool *changed, struct evr_err *err)
{
    struct evr_change c = router_change(&f->a, EVR_CHANGE_JOIN, slices, vm);
    c.lag_mode = mode;
    c.lag_mode_given = true;
    return evr_partition_apply(&f->p, &f->a, &c, changed, err);
}

static void join_makes_one_lag_on_one_vm_port(void **state)
{
    struct fixture *f = *state;
    struct evr_change c;
    struct evr_err err;
    bool changed;

    /* a join without a mode is active-backup: it needs nothing of the far end */
    c = router_change(&f->a, EVR_CHANGE_JOIN, "port0-1", "vm-a");
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, &changed, &err), 0);
    assert_true(changed);
    expect(f, "port0-1=vm-a:0[lag0 active-backup]");
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, &changed, &err), 0);
    assert_false(changed); /* holds already */
    assert_int_equal(join(f, "port0-1", "vm-a", EVR_LAG_BALANCE, &changed, &err), 0);
    assert_true(changed);
    /* a port vm-a owns whole joins (naming a member grows that LAG), and
     * gives its VM port back */
    must(f, EVR_CHANGE_SPLIT, "port3", "vm-a");
    expect(f, "port0-1=vm-a:0[lag0 balance] port3=vm-a:1");
    assert_int_equal(join(f, "port1,port3", "vm-a", EVR_LAG_BALANCE, &changed, &err), 0);
    expect(f, "port0-1,port3=vm-a:0[lag0 balance]");
    must(f, EVR_CHANGE_SPLIT, "port2", "vm-a");
    expect(f, "port0-1,port3=vm-a:0[lag0 balance] port2=vm-a:1");
    /* a second LAG takes the next name */
    assert_int_equal(join(f, "port4-5", "vm-b", EVR_LAG_ACTIVE_BACKUP, &changed, &err), 0);
    expect(f, "port0-1,port3=vm-a:0[lag0 balance] port2=vm-a:1 port4-5=vm-b:0[lag1 "
              "active-backup]");
}

static void join_conflicts_name_the_slice_and_owner(void **state)
{
    struct fixture *f = *state;
    struct evr_change c;
    struct evr_err err;

    must(f, EVR_CHANGE_SPLIT, "port4.100-199", "vm-b");
    must(f, EVR_CHANGE_SPLIT, "port5", "vm-b");
    assert_int_equal(join(f, "port0-1", "vm-a", EVR_LAG_BALANCE, NULL, &err), 0);
    refused(f, EVR_CHANGE_JOIN, "port2-4", "vm-a", EBUSY,
            "port4 is not free whole: port4.100-199 is vm-b's");
    refused(f, EVR_CHANGE_JOIN, "port5", "vm-a", EBUSY,
            "port5 is vm-b's (move it, or free it first)");
    refused(f, EVR_CHANGE_JOIN, "port2,port3.7", "vm-a", EINVAL,
            "port3.7: a LAG joins whole ports");
    refused_change(f, passthrough(router_change(&f->a, EVR_CHANGE_JOIN, "port6", "vm-a")), EINVAL,
                   "a LAG goes through the vswitch");
    /* a port passed through cannot join */
    c = passthrough(router_change(&f->a, EVR_CHANGE_SPLIT, "port6", "vm-a"));
    assert_int_equal(evr_partition_apply(&f->p, &f->a, &c, NULL, &err), 0);
    refused(f, EVR_CHANGE_JOIN, "port6", "vm-a", EBUSY, "port6 is vm-a's, passed through");
    /* one join makes one LAG */
    must(f, EVR_CHANGE_FREE, "port5", "");
    assert_int_equal(join(f, "port5", "vm-a", EVR_LAG_BALANCE, NULL, &err), 0);
    refused(f, EVR_CHANGE_JOIN, "port0,port5", "vm-a", EBUSY,
            "port0 is in vm-a's LAG lag0 and port5 in its LAG lag1");
    /* a member goes nowhere else but with all its LAG */
    refused(f, EVR_CHANGE_SPLIT, "port1", "vm-b", EBUSY, "port1 is vm-a's");
    refused(f, EVR_CHANGE_MOVE, "port1", "vm-b", EBUSY,
            "port1 is in vm-a's LAG lag0 (port0-1): move all of it, or free port1 first");
    refused_change(f, passthrough(router_change(&f->a, EVR_CHANGE_MOVE, "port0-1", "vm-b")), EINVAL,
                   "port0 is in LAG lag0, which goes through the vswitch");
    refused(f, EVR_CHANGE_SPLIT, "port0.5", "vm-b", EBUSY, "port0 is vm-a's whole");
    expect(f, "port0-1=vm-a:0[lag0 balance] port4.100-199=vm-b:0 port5=vm-a:1[lag1 balance] "
              "port6=vm-a/pt0");
}

static void a_lag_moves_whole_and_loses_freed_members(void **state)
{
    struct fixture *f = *state;
    struct evr_err err;

    must(f, EVR_CHANGE_SPLIT, "port4", "vm-b");
    assert_int_equal(join(f, "port0-2", "vm-a", EVR_LAG_BALANCE, NULL, &err), 0);
    must(f, EVR_CHANGE_MOVE, "port0-2", "vm-b");
    expect(f, "port0-2=vm-b:1[lag0 balance] port4=vm-b:0");
    /* a member freed leaves the LAG, which keeps the others */
    must(f, EVR_CHANGE_FREE, "port1", "");
    expect(f, "port0,port2=vm-b:1[lag0 balance] port4=vm-b:0");
    must(f, EVR_CHANGE_SPLIT, "port1", "vm-a");
    expect(f, "port0,port2=vm-b:1[lag0 balance] port1=vm-a:0 port4=vm-b:0");
    /* the LAG goes with its last member; its name is free again */
    must(f, EVR_CHANGE_FREE, "port0,port2", "");
    expect(f, "port1=vm-a:0 port4=vm-b:0");
    assert_int_equal(join(f, "port5", "vm-a", EVR_LAG_BALANCE, NULL, &err), 0);
    expect(f, "port1=vm-a:0 port4=vm-b:0 port5=vm-a:1[lag0 balance]");
}

static void lag_holdings_round_trip_and_bad_ones_are_refused(void **state)
{
    struct fixture *f = *state;
    struct evr_partition q;
    struct evr_err err;
    json_t *h, *h2;

    assert_int_equal(join(f, "port0-1", "vm-a", EVR_LAG_BALANCE, NULL, &err), 0);
    assert_int_equal(join(f, "port3,port5", "vm-a", EVR_LAG_ACTIVE_BACKUP, NULL, &err), 0);
    must(f, EVR_CHANGE_FREE, "port0-1", ""); /* lag1 keeps its name, lag0 is free */
    must(f, EVR_CHANGE_SPLIT, "port2", "vm-a");
    expect(f, "port2=vm-a:0 port3,port5=vm-a:1[lag1 active-backup]");
    h = evr_partition_to_json(&f->p, &f->a);
    assert_int_equal(evr_partition_init(&q, &f->a, &err), 0);
    if (evr_partition_from_json(&q, &f->a, h, "t", &err))
        fail_msg("%s", err.msg);
    h2 = evr_partition_to_json(&q, &f->a);
    assert_true(json_equal(h, h2)); /* lag1 stays lag1, on vm-a's port 1 */
    json_decref(h2);
    json_decref(h);

    static const struct {
        const char *json, *says;
    } cases[] = {
            {"[{\"slice\": \"port0-1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0,"
             " \"lag\": \"lag8\", \"lag_mode\": \"balance\"}]",
             "lag 'lag8' is not one of lag0..lag7"},
            {"[{\"slice\": \"port0-1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0,"
             " \"lag\": \"lag0\"}]",
             "a LAG's holding has both"},
            {"[{\"slice\": \"port0-1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0,"
             " \"lag\": \"lag0\", \"lag_mode\": \"round-robin\"}]",
             "lag_mode 'round-robin' is not active-backup or balance"},
            {"[{\"slice\": \"port0-1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 0,"
             " \"lag\": \"lag0\", \"lag_mode\": \"balance\"},"
             " {\"slice\": \"port2\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 1,"
             " \"lag\": \"lag0\", \"lag_mode\": \"balance\"}]",
             "holdings[1]: lag0 is there already"},
            {"[{\"slice\": \"port0,port1\", \"vm\": \"vm-a\", \"mode\": \"vswitch\", \"vm_port\": "
             "0}]",
             "one slice per holding"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *bad = json_loads(cases[i].json, 0, NULL), *before, *after;
        assert_non_null(bad);
        before = evr_partition_to_json(&q, &f->a);
        assert_int_equal(evr_partition_from_json(&q, &f->a, bad, "t", &err), -1);
        if (!strstr(err.msg, cases[i].says))
            fail_msg("case %zu: got '%s', wanted '%s'", i, err.msg, cases[i].says);
        after = evr_partition_to_json(&q, &f->a);
        assert_true(json_equal(before, after));
        json_decref(before);
        json_decref(after);
        json_decref(bad);
    }
    evr_partition_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(appliance_is_read, setup, teardown),
            cmocka_unit_test(appliance_refusals_name_the_key),
            cmocka_unit_test(the_example_appliance_is_valid),
            cmocka_unit_test_setup_teardown(split_gives_free_ports_on_vm_ports, setup, teardown),
            cmocka_unit_test_setup_teardown(conflicts_name_the_slice_and_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(slices_the_appliance_lacks_are_refused, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(move_takes_owned_slices_and_keeps_others, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(vlan_and_vf_pieces, setup, teardown),
            cmocka_unit_test_setup_teardown(a_named_vm_port_is_kept, setup, teardown),
            cmocka_unit_test_setup_teardown(holdings_round_trip_and_bad_ones_are_refused, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(state_survives_save_and_load_and_refuses_corruption,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(a_save_killed_at_any_instant_leaves_a_whole_file, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(join_makes_one_lag_on_one_vm_port, setup, teardown),
            cmocka_unit_test_setup_teardown(join_conflicts_name_the_slice_and_owner, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_lag_moves_whole_and_loses_freed_members, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(lag_holdings_round_trip_and_bad_ones_are_refused, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
