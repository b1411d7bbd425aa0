/* Unit tests for VF and passthrough slices given to VMs: the slice's port
 * VLAN in the partition (router/partition.h), the passthrough plan
 * (router/vf_plan.h) and its steps inside evrd's transactions
 * (router/service.h) against a model of the host and of the VMs' evr-vmm
 * that keeps the contract of vf_host.h and of evr-vmm's device-add and
 * device-del: a VF is bound or not, carries a MAC and a VLAN, and is in at
 * most one running guest; releasing a VF a guest holds is refused; a
 * device-del the guest does not answer fails with ETIMEDOUT and leaves the
 * function where it was. After every request the model must be exactly what
 * the partition says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUTER_TEST_EVRD
#include "../router/fixture.h"
#include "appliance.h"
#include "passthrough.h"
#include "service.h"
#include "state.h"
#include "vf_plan.h"
#include "vm_link.h"
#include "vm_supervisor.h"
#include "vfio/vf_link.h"
#include "vswitch/protocol.h"

#define NVFS      4
#define PF_ADDR   "0000:01:00.0"
#define PORT2_PCI "0000:02:00.0"

static const char *const vf_addr[NVFS] = {"0000:01:10.0", "0000:01:10.2", "0000:01:10.4",
                                          "0000:01:10.6"};

/* What the host and the guests have: compared whole before and after a
 * refused change. */
struct host_state {
    struct {
        bool bound; /* to vfio-pci */
        uint8_t mac[6];
        int vlan;
        int in_vm; /* the VM index whose guest has it, -1: none */
    } vf[NVFS];
    int port2_in_vm;
    bool link_up[2]; /* each VM's network port 0 (vm_link.h), as its guest sees it */
};

struct fake_host {
    struct host_state st;
    uint64_t running;
    unsigned calls, refuse_at; /* refuse call number refuse_at (0: none) */
    bool eject_times_out;
    char log[2048]; /* "op slice [vm]; " per call */
};

struct fixture {
    char dir[32];
    struct evr_appliance a;
    struct vs_config vs;
    bool vs_gone; /* the vswitch's socket is closed */
    struct fake_host host;
    struct evrd_passthrough pt;
    struct evr_events events;
    struct evrd d;
};

/* evr-vswitch's own rules stand for the vswitch (no VF change reaches it). */
static json_t *vswitch_rules(void *ctx, const json_t *request, struct evr_err *err)
{
    struct fixture *f = ctx;
    struct vs_config *cfg = &f->vs;
    json_t *copy = json_deep_copy(request), *reply = NULL;
    struct vs_request req;

    if (f->vs_gone)
        evr_fail(err, ENOTCONN, "the vswitch's socket is closed");
    else if (!vs_request_from_json(copy, &req, err) && vs_request_apply(cfg, &req, err) >= 0)
        reply = req.op == VS_OP_DUMP ? json_pack("{s:o}", "dump", vs_config_to_json(cfg))
                                     : json_object();
    json_decref(copy);
    return reply;
}

static int vf_of(const char *host)
{
    for (int i = 0; i < NVFS; i++)
        if (host && !strcmp(host, vf_addr[i]))
            return i;
    return -1;
}

static json_t *host_call(void *ctx, const json_t *req, struct evr_err *err)
{
    struct fixture *f = ctx;
    struct fake_host *h = &f->host;
    const char *op = json_string_value(json_object_get(req, "op"));
    const char *host = json_string_value(json_object_get(req, "host"));
    const char *vm = json_string_value(json_object_get(req, "vm"));
    const char *mac = json_string_value(json_object_get(req, "mac"));
    int v = vf_of(host), x = vm ? evr_appliance_vm(&f->a, vm) : -1;
    int *in_vm = v >= 0                             ? &h->st.vf[v].in_vm
                 : host && !strcmp(host, PORT2_PCI) ? &h->st.port2_in_vm
                                                    : NULL;
    size_t len = strlen(h->log);

    if (!strcmp(op, "vm-functions")) {
        json_t *list = json_array();
        for (int i = 0; i < NVFS; i++)
            if (h->st.vf[i].in_vm == x)
                json_array_append_new(list, json_string(vf_addr[i]));
        if (h->st.port2_in_vm == x)
            json_array_append_new(list, json_string(PORT2_PCI));
        return json_pack("{s:o}", "functions", list);
    }
    if (!strcmp(op, "vf-show")) {
        json_t *list = json_array();
        for (int i = 0; i < NVFS; i++)
            json_array_append_new(list, json_pack("{s:i, s:s, s:i}", "vf", i, "host", vf_addr[i],
                                                  "vlan", h->st.vf[i].vlan));
        return json_pack("{s:o}", "vf", list);
    }
    if (!strcmp(op, "vm-link")) {
        json_t *up = json_object_get(req, "up");
        snprintf(h->log + len, sizeof(h->log) - len, "vm-link %s %s; ",
                 json_string_value(json_object_get(req, "name")), json_is_true(up) ? "up" : "down");
        if (++h->calls == h->refuse_at) {
            evr_fail(err, EIO, "refused on purpose");
            return NULL;
        }
        /* port 0 is interface 0: these VMs declare no management port */
        if (x < 0 || !(h->running >> x & 1) || !json_is_boolean(up) ||
            json_integer_value(json_object_get(req, "iface")) != 0) {
            evr_fail(err, ECONNREFUSED, "%s does not run, or has no such interface", vm);
            return NULL;
        }
        h->st.link_up[x] = json_is_true(up);
        return json_object();
    }
    snprintf(h->log + len, sizeof(h->log) - len, "%s %s%s%s; ", op,
             json_string_value(json_object_get(req, "slice")), vm ? " " : "", vm ? vm : "");
    if (++h->calls == h->refuse_at) {
        evr_fail(err, EIO, "refused on purpose");
        return NULL;
    }
    if (!in_vm) {
        evr_fail(err, ENODEV, "no function %s", host ? host : "(none)");
        return NULL;
    }
    if (!strcmp(op, "vf-assign") || !strcmp(op, "vf-set")) {
        if (v < 0 || (!strcmp(op, "vf-set") && !h->st.vf[v].bound) || !mac) {
            evr_fail(err, EINVAL, "%s of %s: not a bound VF, or no MAC", op, host);
            return NULL;
        }
        h->st.vf[v].bound = true;
        evr_vf_mac_parse(mac, h->st.vf[v].mac, NULL);
        h->st.vf[v].vlan = (int)json_integer_value(json_object_get(req, "vlan"));
    } else if (!strcmp(op, "vf-release")) {
        if (v < 0 || *in_vm >= 0) {
            evr_fail(err, EBUSY, "cannot release %s: /dev/vfio/9 is held by evr-vmm (pid 9)", host);
            return NULL;
        }
        memset(&h->st.vf[v], 0, sizeof(h->st.vf[v]));
        h->st.vf[v].in_vm = -1;
    } else if (!strcmp(op, "device-add")) {
        if (x < 0 || !(h->running >> x & 1) || *in_vm >= 0 || (v >= 0 && !h->st.vf[v].bound)) {
            evr_fail(err, EBUSY, "device-add %s: the VM does not run or the function is taken",
                     host);
            return NULL;
        }
        *in_vm = x;
    } else if (!strcmp(op, "device-del")) {
        if (x < 0 || *in_vm != x ||
            json_integer_value(json_object_get(req, "timeout_ms")) != EVR_VF_DEL_TIMEOUT_MS) {
            evr_fail(err, ENODEV, "device-del %s: not in %s", host, vm);
            return NULL;
        }
        if (h->eject_times_out) {
            evr_fail(err, ETIMEDOUT, "the guest did not eject %s within 5000 ms", host);
            return NULL;
        }
        *in_vm = -1;
    } else {
        evr_fail(err, EINVAL, "unknown op %s", op);
        return NULL;
    }
    return json_object();
}

static uint64_t host_running(void *ctx)
{
    return ((struct fixture *)ctx)->host.running;
}

static void start_evrd(struct fixture *f)
{
    struct evrd_vswitch link = {.call = vswitch_rules, .ctx = f};
    struct evr_err err;

    evr_events_init(&f->events);
    if (evrd_init(&f->d, &f->a, "/run/evr", &link, &f->events, NULL, &err) ||
        evrd_vswitch_sync(&f->d, &err))
        fail_msg("%s", err.msg);
    f->d.pt = &f->pt;
}

static int setup(void **state)
{
    static struct evr_vf_pf pf;
    struct fixture *f = calloc(1, sizeof(*f));
    char json[2048];
    struct evr_err err;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/evrd-vf-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(json, sizeof(json),
             "{\"state_dir\": \"%s/state\", \"vswitch\": {\"cores\": [0]},"
             " \"ports\": [{\"name\": \"port0\", \"pci\": \"" PF_ADDR "\", \"vfs\": %d},"
             "  {\"name\": \"port1\", \"netdev\": \"eth1\"},"
             "  {\"name\": \"port2\", \"pci\": \"" PORT2_PCI "\"}],"
             " \"vms\": [{\"name\": \"vm-a\", \"ports\": 1, \"cores\": [1], \"vmm\": {\"kernel\":"
             " \"/k\"}}, {\"name\": \"vm-b\", \"ports\": 1, \"cores\": [2], \"vmm\": {\"kernel\":"
             " \"/k\"}}]}",
             f->dir, NVFS);
    if (evr_appliance_parse(&f->a, json, "test", &err))
        fail_msg("%s", err.msg);
    vs_config_init(&f->vs);
    memset(&pf, 0, sizeof(pf));
    strcpy(pf.pf, PF_ADDR);
    pf.nvfs = NVFS;
    for (int i = 0; i < NVFS; i++) {
        strcpy(pf.vf[i], vf_addr[i]);
        f->host.st.vf[i].in_vm = -1;
    }
    f->host.st.port2_in_vm = -1;
    f->pt = (struct evrd_passthrough){.call = host_call, .running = host_running, .ctx = f};
    f->pt.inv.port[0] = &pf;
    start_evrd(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    router_evrd_fini(&f->d, &f->a, f->dir);
    free(f);
    return 0;
}

static json_t *request(struct fixture *f, const char *text)
{
    return router_request(&f->d, text);
}

/* The host and the guests are what the partition says, to the byte. */
static void host_matches_partition(struct fixture *f)
{
    const struct evr_port_share *sh = &f->d.partition.ports[0];

    for (int v = 0; v < NVFS; v++) {
        uint8_t owner = sh->vf[v], mac[6] = {0};
        int in_vm = owner && (f->host.running >> (owner - 1) & 1) ? owner - 1 : -1;
        if (owner)
            evr_vf_mac(f->a.vms[owner - 1].name, 0, (unsigned)v, mac);
        if (f->host.st.vf[v].bound != (owner != 0) || memcmp(f->host.st.vf[v].mac, mac, 6) ||
            f->host.st.vf[v].vlan != sh->vf_vlan[v] || f->host.st.vf[v].in_vm != in_vm)
            fail_msg("port0/vf%d: host has bound %d vlan %d in VM %d; the partition gives it to %d "
                     "with VLAN %u (log: %s)",
                     v, f->host.st.vf[v].bound, f->host.st.vf[v].vlan, f->host.st.vf[v].in_vm,
                     owner - 1, sh->vf_vlan[v], f->host.log);
    }
    {
        const struct evr_port_share *p2 = &f->d.partition.ports[2];
        uint8_t owner = p2->whole && p2->whole_mode == EVR_MODE_PASSTHROUGH ? p2->whole : 0;
        int in_vm = owner && (f->host.running >> (owner - 1) & 1) ? owner - 1 : -1;
        assert_int_equal(f->host.st.port2_in_vm, in_vm);
    }
    /* a running VM's port is up while it carries something */
    for (unsigned x = 0; x < 2; x++)
        if (f->host.running >> x & 1 &&
            f->host.st.link_up[x] != (evr_vm_links(&f->d.partition, &f->a, x) & 1))
            fail_msg("vm %u: link %s, the partition says %s (log: %s)", x,
                     f->host.st.link_up[x] ? "up" : "down",
                     evr_vm_links(&f->d.partition, &f->a, x) & 1 ? "up" : "down", f->host.log);
}

static json_t *ok(struct fixture *f, const char *text)
{
    json_t *reply = request(f, text);
    if (!json_is_true(json_object_get(reply, "ok")))
        fail_msg("%s: %s", text, json_dumps(reply, 0));
    host_matches_partition(f);
    return reply;
}

static void ok_log(struct fixture *f, const char *text, const char *log)
{
    f->host.log[0] = 0;
    json_decref(ok(f, text));
    if (strcmp(f->host.log, log))
        fail_msg("%s: steps '%s', wanted '%s'", text, f->host.log, log);
}

static char *state_file(struct fixture *f)
{
    return router_state_file(f->dir);
}

/* A request that must be refused with code and a message holding says, and
 * change nothing: the host, the guests, the partition, the disk. */
static void changes_nothing(struct fixture *f, const char *text, const char *code, const char *says)
{
    struct host_state before = f->host.st;
    char *disk = state_file(f), *disk2;
    uint64_t gen = f->d.partition.generation;
    json_t *reply = request(f, text), *e = json_object_get(reply, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (json_is_true(json_object_get(reply, "ok")) || !msg || !strstr(msg, says) ||
        strcmp(json_string_value(json_object_get(e, "code")), code))
        fail_msg("%s: got %s, wanted %s '%s'", text, json_dumps(reply, 0), code, says);
    json_decref(reply);
    assert_memory_equal(&before, &f->host.st, sizeof(before));
    disk2 = state_file(f);
    assert_string_equal(disk, disk2);
    assert_int_equal(f->d.partition.generation, gen);
    host_matches_partition(f);
    free(disk);
    free(disk2);
}

static void macs_are_per_vm_port_and_vf(void **state)
{
    uint8_t a[6], b[6], c[6], d[6], again[6];
    (void)state;

    evr_vf_mac("vm-a", 0, 0, a);
    evr_vf_mac("vm-b", 0, 0, b);
    evr_vf_mac("vm-a", 1, 0, c);
    evr_vf_mac("vm-a", 0, 1, d);
    evr_vf_mac("vm-a", 0, 0, again);
    assert_memory_equal(a, again, 6);
    assert_memory_not_equal(a, b, 6);
    assert_memory_not_equal(a, c, 6);
    assert_memory_not_equal(a, d, 6);
    for (const uint8_t *m = a; m; m = m == a ? b : m == b ? c : m == c ? d : NULL)
        assert_int_equal(m[0], 0x02); /* locally administered, unicast */
}

/* A split to a running VM: settings, then hot-add; the VLAN is kept in the
 * partition and on disk. */
static void split_sets_then_hot_adds(void **state)
{
    struct fixture *f = *state;
    char *disk;

    f->host.running = 1; /* vm-a runs */
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port0/vf0\", \"vm\": \"vm-a\", \"vlan\": 100}",
           "vf-assign port0/vf0; device-add port0/vf0 vm-a; ");
    disk = state_file(f);
    assert_non_null(strstr(disk, "\"slice\": \"port0/vf0\""));
    assert_non_null(strstr(disk, "\"vlan\": 100"));
    free(disk);
    /* vm-b does not run: the VF is set, and its configuration will have it */
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port0/vf1-2\", \"vm\": \"vm-b\"}",
           "vf-assign port0/vf1; vf-assign port0/vf2; ");
    {
        json_t *list = evrd_vm_passthrough(&f->d, 1);
        assert_int_equal(json_array_size(list), 2);
        assert_string_equal(json_string_value(json_array_get(list, 0)), vf_addr[1]);
        assert_string_equal(json_string_value(json_array_get(list, 1)), vf_addr[2]);
        json_decref(list);
    }
    /* the same split again holds already */
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port0/vf0\", \"vm\": \"vm-a\", \"vlan\": 100}",
           "");
    /* a VLAN change of an owned VF is a vf-set, the VF stays in the guest */
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port0/vf0\", \"vm\": \"vm-a\", \"vlan\": 300}",
           "vf-set port0/vf0; ");
}

/* A move takes the VF from the old guest first, sets it for the new owner,
 * then hot-adds it there; free takes it out and resets it. */
static void move_removes_first_and_free_resets(void **state)
{
    struct fixture *f = *state;

    f->host.running = 3;
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf0-1\", \"vm\": \"vm-a\", "
                      "\"vlan\": 100}"));
    ok_log(f, "{\"op\": \"move\", \"slices\": \"port0/vf0\", \"vm\": \"vm-b\", \"vlan\": 200}",
           "device-del port0/vf0 vm-a; vf-set port0/vf0; device-add port0/vf0 vm-b; ");
    /* a move without a VLAN keeps the VF's */
    ok_log(f, "{\"op\": \"move\", \"slices\": \"port0/vf0\", \"vm\": \"vm-a\"}",
           "device-del port0/vf0 vm-b; vf-set port0/vf0; device-add port0/vf0 vm-a; ");
    assert_int_equal(f->d.partition.ports[0].vf_vlan[0], 200);
    /* two VFs swapping owners: both leave their guests before either joins */
    json_decref(ok(f, "{\"op\": \"move\", \"slices\": \"port0/vf1\", \"vm\": \"vm-b\"}"));
    ok_log(f,
           "{\"op\": \"apply\", \"holdings\": [{\"slice\": \"port0/vf0\", \"vm\": \"vm-b\", "
           "\"mode\": \"passthrough\", \"vlan\": 200}, {\"slice\": \"port0/vf1\", \"vm\": "
           "\"vm-a\", \"mode\": \"passthrough\", \"vlan\": 100}]}",
           "device-del port0/vf0 vm-a; device-del port0/vf1 vm-b; vf-set port0/vf0; vf-set "
           "port0/vf1; device-add port0/vf0 vm-b; device-add port0/vf1 vm-a; ");
    ok_log(f, "{\"op\": \"free\", \"slices\": \"port0/vf0-1\"}",
           "device-del port0/vf0 vm-b; device-del port0/vf1 vm-a; vf-release port0/vf0; "
           "vf-release port0/vf1; ");
    /* a whole PCI port in passthrough mode is hot-plugged as it is */
    ok_log(f,
           "{\"op\": \"split\", \"slices\": \"port2\", \"vm\": \"vm-a\", \"mode\": "
           "\"passthrough\"}",
           "device-add port2 vm-a; ");
    ok_log(f, "{\"op\": \"move\", \"slices\": \"port2\", \"vm\": \"vm-b\"}",
           "device-del port2 vm-a; device-add port2 vm-b; ");
}

/* A move of three steps refused at each in turn, and a guest that does not
 * eject: each time nothing changes, and the reply names the step. */
static void a_refused_step_anywhere_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *move = "{\"op\": \"move\", \"slices\": \"port0/vf0\", \"vm\": \"vm-b\"}";

    f->host.running = 3;
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf0\", \"vm\": \"vm-a\"}"));
    for (unsigned k = 1; k <= 3; k++) {
        char says[96];
        snprintf(says, sizeof(says), "passthrough step %u of 3", k);
        f->host.refuse_at = f->host.calls + k;
        changes_nothing(f, move, "EIO", says);
    }
    f->host.refuse_at = 0;
    f->host.eject_times_out = true;
    changes_nothing(f, move, "ETIMEDOUT",
                    "passthrough step 1 of 3 (device-del port0/vf0) refused: the guest did not "
                    "eject 0000:01:10.0 within 5000 ms");
    changes_nothing(f, "{\"op\": \"free\", \"slices\": \"port0/vf0\"}", "ETIMEDOUT",
                    "device-del port0/vf0");
    f->host.eject_times_out = false;
    /* a split of two VFs whose second hot-add fails: the first is taken out
     * and released again */
    f->host.refuse_at = f->host.calls + 4;
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port0/vf2-3\", \"vm\": \"vm-a\"}", "EIO",
                    "passthrough step 4 of 4 (device-add port0/vf3) refused: refused on purpose; "
                    "3 done steps undone");
    f->host.refuse_at = 0;
    json_decref(ok(f, move));
}

/* With the vswitch away, a change of VF slices alone goes on; one that
 * needs the vswitch is refused and changes nothing. */
static void vf_changes_do_not_wait_for_the_vswitch(void **state)
{
    struct fixture *f = *state;

    evrd_vswitch_lost(&f->d);
    f->vs_gone = true;
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port0/vf1\", \"vm\": \"vm-b\", \"vlan\": 9}",
           "vf-assign port0/vf1; ");
    assert_null(f->d.vs_state); /* still unknown: synced when it is back */
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\"}", "EAGAIN",
                    "the vswitch is not there to carry the change");
    f->vs_gone = false;
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\"}"));
    assert_non_null(f->d.vs_state);
}

/* A dry run names the passthrough steps and touches nothing. */
static void dry_run_lists_the_steps(void **state)
{
    struct fixture *f = *state;
    struct host_state before = f->host.st;
    json_t *reply, *plan;

    f->host.running = 1;
    reply = ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf3\", \"vm\": \"vm-a\", \"vlan\": 7, "
                  "\"dry_run\": true}");
    plan = json_object_get(reply, "plan");
    assert_int_equal(json_array_size(plan), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(plan, 0), "op")),
                        "vf-assign");
    assert_string_equal(json_string_value(json_object_get(json_array_get(plan, 0), "host")),
                        vf_addr[3]);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(plan, 0), "vlan")), 7);
    assert_string_equal(json_string_value(json_object_get(json_array_get(plan, 1), "op")),
                        "device-add");
    json_decref(reply);
    assert_memory_equal(&before, &f->host.st, sizeof(before));
    assert_int_equal(f->host.calls, 0);
}

/* What a port that carves VFs cannot do, and what a VF's VLAN may not be. */
static void refusals(void **state)
{
    struct fixture *f = *state;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf0\", \"vm\": \"vm-a\", "
                      "\"vlan\": 100}"));
    changes_nothing(f,
                    "{\"op\": \"split\", \"slices\": \"port0/vf1\", \"vm\": \"vm-b\", "
                    "\"vlan\": 100}",
                    "EBUSY",
                    "port0/vf0 and port0/vf1 would both carry VLAN 100, for vm-a and vm-b");
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf1\", \"vm\": \"vm-a\", "
                      "\"vlan\": 100}"));
    changes_nothing(f, "{\"op\": \"move\", \"slices\": \"port0/vf1\", \"vm\": \"vm-b\"}", "EBUSY",
                    "would both carry VLAN 100");
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port0.5\", \"vm\": \"vm-b\"}", "EINVAL",
                    "port0 carves VFs: its PF stays with the host driver");
    json_decref(ok(f, "{\"op\": \"free\", \"slices\": \"port0/vf0-1\"}"));
    changes_nothing(f,
                    "{\"op\": \"split\", \"slices\": \"port0\", \"vm\": \"vm-b\", \"mode\": "
                    "\"passthrough\"}",
                    "EINVAL", "so it is not passed through whole");
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\", \"vlan\": 5}",
                    "EINVAL", "port1: a VLAN is given to VF slices only");
    changes_nothing(f,
                    "{\"op\": \"split\", \"slices\": \"port0/vf1\", \"vm\": \"vm-b\", "
                    "\"vlan\": 4095}",
                    "EINVAL", "field 'vlan': expected a VLAN id 1..4094");
    changes_nothing(f,
                    "{\"op\": \"apply\", \"holdings\": [{\"slice\": \"port0/vf0\", \"vm\": "
                    "\"vm-b\", \"mode\": \"passthrough\", \"vlan\": 5000}]}",
                    "EINVAL", "vlan 5000 is not 1..4094");
    /* a VF the host did not carve */
    f->pt.inv.port[0]->nvfs = 2;
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port0/vf3\", \"vm\": \"vm-b\"}", "EINVAL",
                    "port0/vf3: the VF is not carved on the host");
    f->pt.inv.port[0]->nvfs = NVFS;
}

/* Holdings keep each VF's VLAN, a run of VFs splits where the VLAN changes,
 * and evrd restarted from its disk brings a host that lost everything (a
 * reboot: VFs unbound, settings gone) back to the partition. */
static void state_reload_brings_the_host_back(void **state)
{
    struct fixture *f = *state;
    json_t *h;
    struct evr_err err;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf0-1\", \"vm\": \"vm-a\", "
                      "\"vlan\": 100}"));
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf2\", \"vm\": \"vm-a\", "
                      "\"vlan\": 101}"));
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf3\", \"vm\": \"vm-b\"}"));
    json_decref(ok(f, "{\"op\": \"free\", \"slices\": \"port0/vf3\"}"));
    h = evr_partition_to_json(&f->d.partition, &f->a);
    assert_int_equal(json_array_size(h), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "slice")),
                        "port0/vf0-1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 0), "vlan")), 100);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 1), "vlan")), 101);
    json_decref(h);
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf3\", \"vm\": \"vm-b\"}"));
    h = evr_partition_to_json(&f->d.partition, &f->a);
    assert_null(json_object_get(json_array_get(h, 2), "vlan"));
    json_decref(h);
    json_decref(ok(f, "{\"op\": \"free\", \"slices\": \"port0/vf3\"}"));

    evrd_fini(&f->d);
    memset(&f->host.st, 0, sizeof(f->host.st));
    for (int i = 0; i < NVFS; i++)
        f->host.st.vf[i].in_vm = -1;
    f->host.st.port2_in_vm = -1;
    /* and one free VF left bound with a stale MAC, as a crash could */
    f->host.st.vf[3].bound = true;
    f->host.st.vf[3].vlan = 9;
    start_evrd(f);
    assert_int_equal(f->d.partition.ports[0].vf_vlan[2], 101);
    f->host.log[0] = 0;
    if (evrd_passthrough_sync(&f->d, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(f->host.log, "vf-assign port0/vf0; vf-assign port0/vf1; "
                                     "vf-assign port0/vf2; vf-release port0/vf3; ");
    host_matches_partition(f);

    /* evrd killed in the middle of a move to running vm-a: vm-a's guest has
     * vf3 (free on disk) but not vf1 (vm-a's on disk); the sync takes vf3
     * out, releases it, and hot-adds vf1, so vm-a holds what the disk says */
    f->host.running = 1;
    f->host.st.vf[0].in_vm = 0;
    f->host.st.vf[2].in_vm = 0;
    f->host.st.vf[3] = f->host.st.vf[2];
    f->host.st.vf[3].vlan = 0;
    f->host.log[0] = 0;
    if (evrd_passthrough_sync(&f->d, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(f->host.log, "device-del port0/vf3 vm-a; vf-assign port0/vf0; vf-assign "
                                     "port0/vf1; vf-assign port0/vf2; vf-release port0/vf3; "
                                     "device-add port0/vf1 vm-a; vm-link vm-a.0 down; ");
    host_matches_partition(f);
    f->host.running = 0;
    for (int i = 0; i < NVFS; i++)
        f->host.st.vf[i].in_vm = -1;
    /* a sync that fails half-way undoes what it did */
    {
        struct host_state before;
        memset(&f->host.st, 0, sizeof(f->host.st));
        for (int i = 0; i < NVFS; i++)
            f->host.st.vf[i].in_vm = -1;
        f->host.st.port2_in_vm = -1;
        before = f->host.st;
        f->host.refuse_at = f->host.calls + 3;
        assert_int_equal(evrd_passthrough_sync(&f->d, &err), -1);
        assert_non_null(strstr(err.msg, "passthrough step 3 of 4 (vf-assign port0/vf2) refused"));
        assert_memory_equal(&before, &f->host.st, sizeof(before));
    }
}

/* A running VM's network port is up while it carries something of the
 * vswitch: a split brings it up, a move takes it down in the old owner and
 * up in the new one, a VLAN more changes nothing, a free takes it down; a
 * VM that does not run gets no step (its configuration has the link). A
 * link step refused undoes the vswitch's part too. */
static void vswitch_slices_set_the_links(void **state)
{
    struct fixture *f = *state;
    json_t *vs_before;

    f->host.running = 3;
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port1.100\", \"vm\": \"vm-a\"}",
           "vm-link vm-a.0 up; ");
    { /* the reply says where the time went; no passthrough step, no wait */
        json_t *r = request(f, "{\"op\": \"split\", \"slices\": \"port1.102\", \"vm\": \"vm-a\"}"),
               *t = json_object_get(r, "time_us");
        static const char *const keys[] = {"plan",        "apply",   "vswitch",
                                           "passthrough", "vm_link", "persist"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (!json_is_integer(json_object_get(t, keys[k])) ||
                json_integer_value(json_object_get(t, keys[k])) < 0)
                fail_msg("time_us.%s missing or negative: %s", keys[k], json_dumps(r, 0));
        assert_int_equal(json_integer_value(json_object_get(t, "passthrough")), 0);
        assert_int_equal(json_integer_value(json_object_get(t, "vm_link")), 0);
        json_decref(r);
        json_decref(ok(f, "{\"op\": \"free\", \"slices\": \"port1.102\"}"));
    }
    ok_log(f, "{\"op\": \"split\", \"slices\": \"port1.101\", \"vm\": \"vm-a\"}", "");
    ok_log(f, "{\"op\": \"move\", \"slices\": \"port1.100-101\", \"vm\": \"vm-b\"}",
           "vm-link vm-a.0 down; vm-link vm-b.0 up; ");
    {
        json_t *plan = request(f, "{\"op\": \"move\", \"slices\": \"port1.100-101\", "
                                  "\"vm\": \"vm-a\", \"dry_run\": true}");
        char *text = json_dumps(json_object_get(plan, "plan"), JSON_COMPACT);
        assert_non_null(strstr(text, "{\"op\":\"vm-link\",\"name\":\"vm-b.0\",\"vm\":\"vm-b\","
                                     "\"iface\":0,\"up\":false}"));
        free(text);
        json_decref(plan);
    }
    /* the second link step refused: the first undone, the vswitch back */
    vs_before = vs_config_to_json(&f->vs);
    f->host.refuse_at = f->host.calls + 2;
    changes_nothing(f, "{\"op\": \"move\", \"slices\": \"port1.100-101\", \"vm\": \"vm-a\"}", "EIO",
                    "VM step");
    {
        json_t *vs_after = vs_config_to_json(&f->vs);
        assert_true(json_equal(vs_before, vs_after));
        json_decref(vs_after);
    }
    json_decref(vs_before);
    f->host.refuse_at = 0;
    f->host.running = 1; /* vm-b stops: no step for it */
    ok_log(f, "{\"op\": \"move\", \"slices\": \"port1.100-101\", \"vm\": \"vm-a\"}",
           "vm-link vm-a.0 up; ");
    ok_log(f, "{\"op\": \"free\", \"slices\": \"port1.100-101\"}", "vm-link vm-a.0 down; ");
    assert_int_equal(evr_vm_links(&f->d.partition, &f->a, 0), 0);
}

/* A VM that starts (or restarts after a crash) has its ports' links in its
 * evr-vmm configuration: up where the partition gives it something. */
static void a_starting_vm_has_its_links_in_its_configuration(void **state)
{
    struct fixture *f = *state;
    struct vm_supervisor *vms = calloc(1, sizeof(*vms));
    struct evr_err err;

    assert_non_null(vms);
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port1.100\", \"vm\": \"vm-b\"}"));
    assert_int_equal(vm_supervisor_init(vms, &f->a, "/bin/true", f->dir, &f->events, &err), 0);
    vms->links = evrd_vm_links;
    vms->links_ctx = &f->d;
    for (unsigned i = 0; i < 2; i++) {
        json_t *cfg;
        const char *link;
        if (vm_supervisor_start(vms, i, &err))
            fail_msg("%s", err.msg);
        waitpid(vms->vms[i].pid, NULL, 0);
        close(vms->vms[i].pidfd);
        cfg = json_load_file(vms->vms[i].config, 0, NULL);
        assert_non_null(cfg);
        link = json_string_value(
                json_object_get(json_array_get(json_object_get(cfg, "net"), 0), "link"));
        assert_non_null(link);
        assert_string_equal(link, i == 0 ? "down" : "up");
        json_decref(cfg);
    }
    free(vms);
}

/* The inventory shows the carved VFs as the host has them. */
static void inventory_shows_the_vfs(void **state)
{
    struct fixture *f = *state;
    json_t *reply, *port;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0/vf1\", \"vm\": \"vm-a\", "
                      "\"vlan\": 42}"));
    reply = ok(f, "{\"op\": \"show\", \"what\": \"inventory\"}");
    port = json_array_get(json_object_get(json_object_get(reply, "inventory"), "ports"), 0);
    assert_string_equal(json_string_value(json_object_get(port, "pci")), PF_ADDR);
    assert_int_equal(json_integer_value(json_object_get(port, "carved")), NVFS);
    assert_int_equal(json_integer_value(json_object_get(port, "vfs")), NVFS);
    assert_int_equal(json_array_size(json_object_get(port, "vf")), NVFS);
    assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(json_object_get(port, "vf"), 1), "vlan")),
                     42);
    port = json_array_get(json_object_get(json_object_get(reply, "inventory"), "ports"), 1);
    assert_null(json_object_get(port, "pci")); /* carves none */
    json_decref(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(macs_are_per_vm_port_and_vf),
            cmocka_unit_test_setup_teardown(split_sets_then_hot_adds, setup, teardown),
            cmocka_unit_test_setup_teardown(move_removes_first_and_free_resets, setup, teardown),
            cmocka_unit_test_setup_teardown(a_refused_step_anywhere_changes_nothing, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(dry_run_lists_the_steps, setup, teardown),
            cmocka_unit_test_setup_teardown(vf_changes_do_not_wait_for_the_vswitch, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(refusals, setup, teardown),
            cmocka_unit_test_setup_teardown(state_reload_brings_the_host_back, setup, teardown),
            cmocka_unit_test_setup_teardown(inventory_shows_the_vfs, setup, teardown),
            cmocka_unit_test_setup_teardown(vswitch_slices_set_the_links, setup, teardown),
            cmocka_unit_test_setup_teardown(a_starting_vm_has_its_links_in_its_configuration, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
