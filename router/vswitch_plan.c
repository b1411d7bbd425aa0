/* The vswitch state of a partition and the plan between two (vswitch_plan.h). */
#include "vswitch_plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vswitch_lag.h"

/* A slice's VLAN set: a bit per VLAN id, bit 0 for untagged frames. */
struct vlan_set {
    uint64_t w[(EVR_VLAN_MAX + 1 + 63) / 64];
};

static void vset_add(struct vlan_set *s, unsigned v)
{
    s->w[v / 64] |= 1ull << (v % 64);
}

static bool vset_has(const struct vlan_set *s, unsigned v)
{
    return s->w[v / 64] >> (v % 64) & 1;
}

static bool vset_empty(const struct vlan_set *s)
{
    for (size_t i = 0; i < sizeof(s->w) / sizeof(s->w[0]); i++)
        if (s->w[i])
            return false;
    return true;
}

/* The "vlans" array and "untagged" flag of a slice-set request for s;
 * fails when s needs more ranges than the vswitch takes. */
static int vset_to_request(const struct vlan_set *s, json_t *req, struct evr_err *err)
{
    json_t *vlans = json_array();
    unsigned ranges = 0;

    if (!vlans)
        return evr_fail(err, ENOMEM, "out of memory");
    for (unsigned v = EVR_VLAN_MIN; v <= EVR_VLAN_MAX; v++) {
        unsigned last = v;
        char text[16];
        if (!vset_has(s, v))
            continue;
        while (last < EVR_VLAN_MAX && vset_has(s, last + 1))
            last++;
        if (++ranges > EVR_VS_VLAN_RANGES) {
            json_decref(vlans);
            return evr_fail(err, EINVAL,
                            "slice %s: its VLANs form more than %u ranges, the most "
                            "one vswitch slice takes",
                            json_string_value(json_object_get(req, "name")), EVR_VS_VLAN_RANGES);
        }
        if (last == v)
            snprintf(text, sizeof(text), "%u", v);
        else
            snprintf(text, sizeof(text), "%u-%u", v, last);
        json_array_append_new(vlans, json_string(text));
        v = last;
    }
    json_object_set_new(req, "vlans", vlans);
    json_object_set_new(req, "untagged", json_boolean(vset_has(s, 0)));
    return 0;
}

/* The VLAN set a slice-set request names (as vset_to_request writes it). */
static struct vlan_set vset_of_request(const json_t *req)
{
    struct vlan_set s = {0};
    const json_t *item;
    size_t i;

    if (json_is_true(json_object_get(req, "untagged")))
        vset_add(&s, 0);
    json_array_foreach(json_object_get(req, "vlans"), i, item)
    {
        unsigned a = 0, b = 0;
        int n = sscanf(json_string_value(item), "%u-%u", &a, &b);
        if (n == 1)
            b = a;
        for (unsigned v = a; n >= 1 && v <= b && v <= EVR_VLAN_MAX; v++)
            vset_add(&s, v);
    }
    return s;
}

static int add_port(json_t *ports, const char *name, const char *devargs, const char *role,
                    struct evr_err *err)
{
    if (strlen(name) > 31)
        return evr_fail(err, EINVAL, "vswitch port name %s is longer than 31 characters", name);
    if (json_object_set_new(ports, name,
                            json_pack("{s:s, s:s, s:s, s:s}", "op", "port-add", "name", name,
                                      "devargs", devargs, "role", role)))
        return evr_fail(err, ENOMEM, "out of memory");
    return 0;
}

static int wire_port(json_t *ports, const struct evr_appl_port *port, struct evr_err *err)
{
    char name[16], devargs[EVR_BACKING_MAX + 64];

    snprintf(name, sizeof(name), "port%u", port->number);
    switch (port->backing) {
    case EVR_BACKING_NETDEV:
        snprintf(devargs, sizeof(devargs), "net_af_packet%u,iface=%s", port->number,
                 port->backing_value);
        break;
    case EVR_BACKING_PCI:
    case EVR_BACKING_DEVARGS:
        snprintf(devargs, sizeof(devargs), "%s", port->backing_value);
        break;
    }
    return add_port(ports, name, devargs, "wire", err);
}

static int add_slice(json_t *slices, const char *name, const char *uplink, const char *vm_port,
                     const struct vlan_set *vlans, struct evr_err *err)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "slice-set", "name", name, "uplink",
                            uplink, "vm", vm_port, "mode", "trunk");

    if (!req)
        return evr_fail(err, ENOMEM, "out of memory");
    if (strlen(name) > 31) {
        json_decref(req);
        return evr_fail(err, EINVAL, "vswitch slice name %s is longer than 31 characters", name);
    }
    if (vset_to_request(vlans, req, err)) {
        json_decref(req);
        return -1;
    }
    return json_object_set_new(slices, name, req) ? evr_fail(err, ENOMEM, "out of memory") : 0;
}

static int port_slices(json_t *slices, const struct evr_port_share *sh,
                       const struct evr_appliance *a, unsigned number, bool *used,
                       struct evr_err *err)
{
    char uplink[16], name[64], vm_port[64];

    snprintf(uplink, sizeof(uplink), "port%u", number);
    *used = false;
    if (sh->whole) {
        unsigned v = sh->whole - 1u;
        if (sh->whole_mode != EVR_MODE_VSWITCH)
            return 0;
        *used = true;
        if (sh->lag)
            return 0; /* its LAG's slice carries it (vswitch_lag.h) */
        snprintf(vm_port, sizeof(vm_port), "%s.%u", a->vms[v].name, sh->vm_port[v]);
        return evr_vswitch_whole_slice(slices, uplink, uplink, vm_port, err);
    }
    for (unsigned v = 0; v < a->nvms; v++) {
        struct vlan_set mine = {0};
        for (unsigned id = EVR_VLAN_MIN; id <= EVR_VLAN_MAX; id++)
            if (sh->vlan[id] == v + 1)
                vset_add(&mine, id);
        if (vset_empty(&mine))
            continue;
        snprintf(name, sizeof(name), "%s.%s", uplink, a->vms[v].name);
        snprintf(vm_port, sizeof(vm_port), "%s.%u", a->vms[v].name, sh->vm_port[v]);
        *used = true;
        if (add_slice(slices, name, uplink, vm_port, &mine, err))
            return -1;
    }
    return 0;
}

json_t *evr_vswitch_state(const struct evr_partition *p, const struct evr_appliance *a,
                          const char *run_dir, struct evr_err *err)
{
    json_t *ports = json_object(), *slices = json_object(), *state;

    state = json_pack("{s:o, s:o, s:o}", "ports", ports, "slices", slices, "lags", json_object());
    if (!state) {
        evr_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    for (unsigned v = 0; v < a->nvms; v++) {
        for (unsigned k = 0; k < a->vms[v].ports; k++) {
            char name[64], devargs[512];
            snprintf(name, sizeof(name), "%s.%u", a->vms[v].name, k);
            char queues[24] = "";
            if (a->vms[v].queues > 1) /* net_vhost's default is one pair */
                snprintf(queues, sizeof(queues), ",queues=%u", a->vms[v].queues);
            if (snprintf(devargs, sizeof(devargs), "net_vhost_%s_%u,iface=%s/%s.sock,client=1%s",
                         a->vms[v].name, k, run_dir, name, queues) >= (int)sizeof(devargs)) {
                evr_fail(err, ENAMETOOLONG, "run directory %s: path too long", run_dir);
                goto fail;
            }
            if (add_port(ports, name, devargs, "vm", err))
                goto fail;
        }
    }
    for (unsigned i = 0; i < a->nports; i++) {
        bool used;
        if (port_slices(slices, &p->ports[i], a, a->ports[i].number, &used, err) ||
            (used && wire_port(ports, &a->ports[i], err)))
            goto fail;
    }
    if (evr_vswitch_lag_state(state, p, a, err))
        goto fail;
    return state;
fail:
    json_decref(state);
    return NULL;
}

json_t *evr_vswitch_state_from_dump(const json_t *dump, struct evr_err *err)
{
    json_t *ports = json_object(), *slices = json_object(), *state, *item;
    size_t i;

    state = json_pack("{s:o, s:o, s:o}", "ports", ports, "slices", slices, "lags", json_object());
    if (!state) {
        evr_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (!json_is_array(json_object_get(dump, "ports")) ||
        !json_is_array(json_object_get(dump, "slices")))
        goto bad;
    json_array_foreach(json_object_get(dump, "ports"), i, item)
    {
        const char *name = NULL, *devargs = NULL, *role = NULL;
        if (json_unpack(item, "{s:s, s:s, s:s}", "name", &name, "devargs", &devargs, "role",
                        &role) ||
            add_port(ports, name, devargs, role, err))
            goto bad;
    }
    json_array_foreach(json_object_get(dump, "slices"), i, item)
    {
        const char *name = NULL, *uplink = NULL, *vm = NULL, *mode = NULL;
        json_t *vlans = NULL;
        int untagged = 0;
        if (json_unpack(item, "{s:s, s:s, s:s, s:s, s:o, s:b}", "name", &name, "uplink", &uplink,
                        "vm", &vm, "mode", &mode, "vlans", &vlans, "untagged", &untagged) ||
            json_object_set_new(slices, name,
                                json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:b}", "op", "slice-set",
                                          "name", name, "uplink", uplink, "vm", vm, "mode", mode,
                                          "vlans", vlans, "untagged", untagged)))
            goto bad;
    }
    if (evr_vswitch_lags_from_dump(state, dump))
        goto bad;
    return state;
bad:
    json_decref(state);
    evr_fail(err, EPROTO, "the vswitch's dump is not what this evrd reads");
    return NULL;
}

int evr_vswitch_whole_slice(json_t *slices, const char *name, const char *uplink,
                            const char *vm_port, struct evr_err *err)
{
    struct vlan_set all = {0};

    for (unsigned id = 0; id <= EVR_VLAN_MAX; id++)
        vset_add(&all, id);
    return add_slice(slices, name, uplink, vm_port, &all, err);
}

static int step(json_t *plan, json_t *request, json_t *undo)
{
    json_t *s = json_pack("{s:o, s:o}", "request", request, "undo", undo ? undo : json_null());
    return s ? json_array_append_new(plan, s) : -1;
}

static json_t *del_request(const char *op, const char *name)
{
    return json_pack("{s:s, s:s}", "op", op, "name", name);
}

/* The same two, for the LAG steps (vswitch_lag.h). */
int evr_vswitch_step(json_t *plan, json_t *request, json_t *undo)
{
    return step(plan, request, undo);
}

json_t *evr_vswitch_del_request(const char *op, const char *name)
{
    return del_request(op, name);
}

/* Whether two slice-set requests serve one uplink and VM port the same way,
 * so that one's VLANs can shrink toward the other's. */
static bool same_path(const json_t *x, const json_t *y)
{
    return json_equal(json_object_get(x, "uplink"), json_object_get(y, "uplink")) &&
           json_equal(json_object_get(x, "vm"), json_object_get(y, "vm")) &&
           json_equal(json_object_get(x, "mode"), json_object_get(y, "mode"));
}

json_t *evr_vswitch_plan(const json_t *from, const json_t *to, struct evr_err *err)
{
    const json_t *from_ports = json_object_get(from, "ports"),
                 *to_ports = json_object_get(to, "ports");
    const json_t *from_slices = json_object_get(from, "slices");
    const json_t *to_slices = json_object_get(to, "slices");
    json_t *plan = json_array(), *now = json_deep_copy(from_slices), *req;
    const char *name;
    int rc = 0;
    bool told = false; /* err says why already */

    if (!plan || !now) {
        json_decref(plan);
        json_decref(now);
        evr_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    json_object_foreach((json_t *)to_ports, name, req)
    {
        if (!json_object_get(from_ports, name))
            rc |= step(plan, json_incref(req), del_request("port-del", name));
    }
    /* Shrink: a slice that loses VLANs keeps only the ones it keeps. */
    json_object_foreach((json_t *)from_slices, name, req)
    {
        const json_t *want = json_object_get(to_slices, name);
        struct vlan_set old = vset_of_request(req), keep = {0};
        bool loses = false;
        if (want && !same_path(req, want))
            continue; /* a whole port's slice to another VM: one slice-set below */
        if (want) {
            struct vlan_set next = vset_of_request(want);
            for (size_t i = 0; i < sizeof(old.w) / sizeof(old.w[0]); i++) {
                keep.w[i] = old.w[i] & next.w[i];
                loses = loses || keep.w[i] != old.w[i];
            }
        }
        if (want && !loses)
            continue;
        if (vset_empty(&keep)) {
            rc |= step(plan, del_request("slice-del", name), json_incref(req));
            json_object_del(now, name);
        } else {
            json_t *shrunk = json_deep_copy(req);
            if (!shrunk || vset_to_request(&keep, shrunk, err)) {
                told = shrunk != NULL;
                json_decref(shrunk);
                rc = -1;
                break;
            }
            rc |= step(plan, json_incref(shrunk), json_incref(req));
            json_object_set_new(now, name, shrunk);
        }
    }
    /* LAGs: after their slices went, before their slices come */
    rc |= evr_vswitch_lag_steps(plan, from, to);
    /* Grow, create, or re-point at another VM. */
    json_object_foreach((json_t *)to_slices, name, req)
    {
        json_t *cur = json_object_get(now, name);
        if (cur && json_equal(cur, req))
            continue;
        rc |= step(plan, json_incref(req), cur ? json_incref(cur) : del_request("slice-del", name));
    }
    json_object_foreach((json_t *)from_ports, name, req)
    {
        if (!json_object_get(to_ports, name))
            rc |= step(plan, del_request("port-del", name), json_incref(req));
    }
    json_decref(now);
    if (rc) {
        json_decref(plan);
        if (!told)
            evr_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    return plan;
}
