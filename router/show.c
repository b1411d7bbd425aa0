/* evrd's show op (show.h). */
#include "show.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lag.h"
#include "service.h"
#include "vf_plan.h"
#include "vm_link.h"

static const char *const backing_names[] = {"netdev", "pci", "devargs"};

static json_t *cores_json(const struct evr_appl_cores *c)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < c->count; i++)
        json_array_append_new(a, json_integer(c->core[i]));
    return a;
}

static json_t *inventory_json(struct evrd *d)
{
    const struct evr_appliance *a = d->appliance;
    json_t *ports = json_array(), *vms = json_array();

    for (unsigned i = 0; i < a->nports; i++) {
        const struct evr_appl_port *p = &a->ports[i];
        char name[16];
        snprintf(name, sizeof(name), "port%u", p->number);
        json_t *port =
                json_pack("{s:s, s:s, s:s, s:i}", "name", name, "backing",
                          backing_names[p->backing], "device", p->backing_value, "vfs", p->vfs);
        json_t *carved = d->pt ? evrd_passthrough_port_json(d, i) : NULL;
        if (carved)
            json_object_update_new(port, carved);
        json_array_append_new(ports, port);
    }
    for (unsigned i = 0; i < a->nvms; i++)
        json_array_append_new(vms,
                              json_pack("{s:s, s:i, s:o}", "name", a->vms[i].name, "ports",
                                        a->vms[i].ports, "cores", cores_json(&a->vms[i].cores)));
    return json_pack("{s:o, s:o, s:{s:o, s:i}}", "ports", ports, "vms", vms, "vswitch", "cores",
                     cores_json(&a->vswitch_cores), "memory", a->vswitch_memory_mib);
}

/* The LAGs with their members' link state, which only the vswitch knows. */
static json_t *lags_json(struct evrd *d)
{
    json_t *dump = NULL, *lags;

    if (evr_lag_any(&d->partition) && d->vs_state) {
        json_t *req = json_pack("{s:s}", "op", "dump");
        struct evr_err why;
        dump = d->vswitch.call(d->vswitch.ctx, req, &why); /* NULL: links unknown */
        json_decref(req);
    }
    lags = evr_lag_show(&d->partition, d->appliance, json_object_get(dump, "dump"));
    json_decref(dump);
    return lags;
}

static const char *str_or_empty(const json_t *s)
{
    return json_is_string(s) ? json_string_value(s) : "";
}

/* show vm NAME: what the VM runs as, what it holds, each of its network
 * ports with its link and what it carries, the functions it is given. */
static int show_vm(struct evrd *d, const json_t *name, json_t *reply, struct evr_err *err)
{
    const struct evr_appl_vm *vm;
    json_t *out, *holdings, *mine, *ports, *h, *fns;
    uint32_t up;
    size_t i;
    int v;

    if (!json_is_string(name))
        return evr_fail(err, EINVAL, "field 'name': show vm wants a VM name");
    v = evr_appliance_vm(d->appliance, json_string_value(name));
    if (v < 0)
        return evr_fail(err, ENOENT, "field 'name': the appliance has no VM '%s'",
                        json_string_value(name));
    vm = &d->appliance->vms[v];
    if (d->vms) {
        json_t *all = vm_supervisor_to_json(d->vms);
        out = json_incref(json_array_get(all, (size_t)v));
        json_decref(all);
    } else {
        out = json_pack("{s:s, s:s}", "name", vm->name, "state", "not run by this evrd");
    }
    holdings = evr_partition_to_json(&d->partition, d->appliance);
    mine = json_array();
    json_array_foreach(holdings, i, h)
    {
        if (!strcmp(str_or_empty(json_object_get(h, "vm")), vm->name))
            json_array_append(mine, h);
    }
    up = evr_vm_links(&d->partition, d->appliance, (unsigned)v);
    ports = json_array();
    for (unsigned k = 0; k < vm->ports; k++) {
        char pname[EVR_NAME_MAX + 8];
        json_t *carries = json_array();
        snprintf(pname, sizeof(pname), "%s.%u", vm->name, k);
        json_array_foreach(mine, i, h)
        {
            const json_t *at = json_object_get(h, "vm_port");
            if (json_is_integer(at) && json_integer_value(at) == (json_int_t)k)
                json_array_append(carries, json_object_get(h, "slice"));
        }
        json_array_append_new(ports,
                              json_pack("{s:i, s:s, s:i, s:s, s:o}", "port", (int)k, "name", pname,
                                        "iface", (int)evr_vm_port_iface(vm, k), "link",
                                        up >> k & 1 ? "up" : "down", "carries", carries));
    }
    fns = evr_vf_passthrough(&d->partition, d->appliance, d->pt ? &d->pt->inv : NULL, (unsigned)v);
    json_object_set_new(out, "cores", json_array());
    for (unsigned c = 0; c < vm->cores.count; c++)
        json_array_append_new(json_object_get(out, "cores"), json_integer(vm->cores.core[c]));
    json_object_set_new(out, "holdings", mine);
    json_object_set_new(out, "ports", ports);
    json_object_set_new(out, "functions", fns ? fns : json_array());
    json_object_set_new(reply, "vm", out);
    json_decref(holdings);
    return 0;
}

/* show stats: the vswitch's counters, each slice with the uplink and the VM
 * port it joins (from what evrd has it carry). */
static int show_stats(struct evrd *d, json_t *reply, struct evr_err *err)
{
    json_t *req = json_pack("{s:s}", "op", "stats"), *r, *stats, *s;
    const json_t *carried = d->vs_state ? json_object_get(d->vs_state, "slices") : NULL;
    const char *name;
    struct evr_err why;

    r = d->vswitch.call(d->vswitch.ctx, req, &why);
    json_decref(req);
    if (!r)
        return evr_fail(err, why.code == ENOTCONN ? EAGAIN : why.code, "the vswitch's counters: %s",
                        why.msg);
    stats = json_incref(json_object_get(r, "stats"));
    json_decref(r);
    if (!json_is_object(stats)) {
        json_decref(stats);
        return evr_fail(err, EIO, "the vswitch's stats reply has no counters");
    }
    json_object_foreach(json_object_get(stats, "slices"), name, s)
    {
        const json_t *set = json_object_get(carried, name);
        if (set) {
            json_object_set(s, "uplink", json_object_get(set, "uplink"));
            json_object_set(s, "vm_port", json_object_get(set, "vm"));
        }
    }
    json_object_set_new(reply, "stats", stats);
    return 0;
}

int evrd_op_show(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct evrd *d = ctx;
    const json_t *what = json_object_get(req, "what");
    const char *w = json_is_string(what) ? json_string_value(what) : "partition";

    if (what && !json_is_string(what))
        return evr_fail(err, EINVAL, "field 'what': expected a string");
    if (json_object_get(req, "name") && strcmp(w, "vm"))
        return evr_fail(err, EINVAL, "field 'name': only show vm takes a name");
    if (!strcmp(w, "partition")) {
        json_object_set_new(reply, "generation", json_integer((json_int_t)d->partition.generation));
        json_object_set_new(reply, "partition", evr_partition_to_json(&d->partition, d->appliance));
        json_object_set_new(reply, "lags", lags_json(d));
    } else if (!strcmp(w, "inventory")) {
        json_object_set_new(reply, "inventory", inventory_json(d));
    } else if (!strcmp(w, "vswitch")) {
        json_object_set_new(reply, "vswitch",
                            json_pack("{s:b, s:i, s:i, s:O}", "synced", d->vs_state != NULL, "pid",
                                      d->vs_pid, "restarts", d->vs_restarts, "state",
                                      d->vs_state ? d->vs_state : json_null()));
    } else if (!strcmp(w, "vms")) {
        if (!d->vms)
            return evr_fail(err, EOPNOTSUPP, "this evrd does not run the VMs");
        json_object_set_new(reply, "vms", vm_supervisor_to_json(d->vms));
    } else if (!strcmp(w, "vm")) {
        return show_vm(d, json_object_get(req, "name"), reply, err);
    } else if (!strcmp(w, "stats")) {
        return show_stats(d, reply, err);
    } else {
        return evr_fail(err, EINVAL,
                        "field 'what': '%s' is not inventory, partition, vswitch, vms, vm or stats",
                        w);
    }
    return 0;
}
