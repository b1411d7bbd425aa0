/* The passthrough side of evrd's partition on the host (passthrough.h). */
#include "passthrough.h"

#include <errno.h>

#include "service.h"

int evrd_passthrough_sync(struct evrd *d, struct evr_err *err)
{
    json_t *plan;
    int rc;

    if (!d->pt)
        return 0;
    if (evr_vf_check(&d->partition, d->appliance, &d->pt->inv, err))
        return -1;
    plan = evr_vf_sync_plan(&d->partition, d->appliance, &d->pt->inv, err);
    if (!plan)
        return -1;
    rc = evrd_run_plan(d, plan, err);
    if (!rc)
        evr_events_add(d->events, "passthrough", "vfs",
                       "%zu VFs brought to partition generation %llu", json_array_size(plan),
                       (unsigned long long)d->partition.generation);
    json_decref(plan);
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
