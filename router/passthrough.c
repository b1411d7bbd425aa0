/* The passthrough side of evrd's partition on the host (passthrough.h). */
#include "passthrough.h"

#include <errno.h>

#include "service.h"
#include "vm_link.h"

/* The functions running VM vm's evr-vmm holds, asked of it. */
static json_t *held_by(struct evrd *d, unsigned vm, struct evr_err *err)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "vm-functions", "vm", d->appliance->vms[vm].name);
    json_t *reply = req ? d->pt->call(d->pt->ctx, req, err) : NULL, *list;

    json_decref(req);
    if (!reply)
        return NULL;
    list = json_incref(json_object_get(reply, "functions"));
    json_decref(reply);
    if (!json_is_array(list)) {
        json_decref(list);
        evr_fail(err, EIO, "VM %s: its functions are not a list", d->appliance->vms[vm].name);
        return NULL;
    }
    return list;
}

int evrd_passthrough_sync(struct evrd *d, struct evr_err *err)
{
    uint64_t running;
    json_t *plan = NULL, *dels = NULL, *adds = NULL, *sync, *links;
    int rc = -1;

    if (!d->pt)
        return 0;
    if (evr_vf_check(&d->partition, d->appliance, &d->pt->inv, err))
        return -1;
    running = d->pt->running ? d->pt->running(d->pt->ctx) : 0;
    dels = json_array();
    adds = json_array();
    for (unsigned vm = 0; dels && adds && vm < d->appliance->nvms; vm++) {
        json_t *held;
        if (!(running >> vm & 1))
            continue;
        held = held_by(d, vm, err);
        if (!held || evr_vf_device_sync(&d->partition, d->appliance, &d->pt->inv, vm, held, dels,
                                        adds, err)) {
            json_decref(held);
            goto out;
        }
        json_decref(held);
    }
    sync = evr_vf_sync_plan(&d->partition, d->appliance, &d->pt->inv, err);
    if (!sync)
        goto out;
    links = evr_vm_link_sync_plan(&d->partition, d->appliance, running, err);
    if (!links) {
        json_decref(sync);
        goto out;
    }
    /* out of the guests that must not have them, then the VFs' settings,
     * then into the guests that must, then the running VMs' links */
    plan = dels;
    dels = NULL;
    json_array_extend(plan, sync);
    json_array_extend(plan, adds);
    json_array_extend(plan, links);
    json_decref(sync);
    json_decref(links);
    rc = evrd_run_plan(d, plan, err);
    if (!rc)
        evr_events_add(d->events, "passthrough", "vfs",
                       "brought to partition generation %llu in %zu steps",
                       (unsigned long long)d->partition.generation, json_array_size(plan));
out:
    json_decref(plan);
    json_decref(dels);
    json_decref(adds);
    return rc;
}

json_t *evrd_vm_passthrough(void *ctx, unsigned vm)
{
    struct evrd *d = ctx;
    return evr_vf_passthrough(&d->partition, d->appliance, d->pt ? &d->pt->inv : NULL, vm);
}

json_t *evrd_passthrough_port_json(struct evrd *d, unsigned i)
{
    const struct evr_vf_pf *pf = d->pt->inv.port[i];
    struct evr_err why;
    json_t *req, *reply;

    if (!pf)
        return NULL;
    req = json_pack("{s:s, s:s, s:i}", "op", "vf-show", "pf", pf->pf, "vfs", pf->nvfs);
    reply = req ? d->pt->call(d->pt->ctx, req, &why) : NULL;
    json_decref(req);
    if (!reply)
        return json_pack("{s:s, s:i, s:s}", "pci", pf->pf, "carved", pf->nvfs, "vf_error",
                         req ? why.msg : "out of memory");
    json_object_set_new(reply, "pci", json_string(pf->pf));
    json_object_set_new(reply, "carved", json_integer(pf->nvfs));
    return reply;
}
