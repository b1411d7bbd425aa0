/* The links of the VMs' network ports (vm_link.h). */
#include "vm_link.h"

#include <errno.h>
#include <stdio.h>

#include "service.h"

uint32_t evr_vm_links(const struct evr_partition *p, const struct evr_appliance *a, unsigned vm)
{
    uint32_t up = 0;

    /* the partition gives a VM port to each (VM, port) in vswitch mode, and
     * takes it back when the VM holds nothing of the port there any more */
    for (unsigned i = 0; i < a->nports; i++) {
        unsigned k = p->ports[i].vm_port[vm];
        if (k != EVR_NO_VM_PORT && k < a->vms[vm].ports)
            up |= 1u << k;
    }
    return up;
}

unsigned evr_vm_port_iface(const struct evr_appl_vm *vm, unsigned k)
{
    return (unsigned)json_array_size(json_object_get(vm->vmm, "net")) + k;
}

static json_t *link_request(const struct evr_appl_vm *vm, unsigned k, bool up)
{
    char name[EVR_NAME_MAX + 8];

    snprintf(name, sizeof(name), "%s.%u", vm->name, k);
    return json_pack("{s:s, s:s, s:s, s:i, s:b}", "op", "vm-link", "name", name, "vm", vm->name,
                     "iface", (int)evr_vm_port_iface(vm, k), "up", up);
}

/* Appends the steps that take VM vm's ports from links `from` to `to`;
 * all: every port, changed or not. */
static int add_steps(json_t *plan, const struct evr_appliance *a, unsigned vm, uint32_t from,
                     uint32_t to, bool all, struct evr_err *err)
{
    for (unsigned k = 0; k < a->vms[vm].ports; k++) {
        bool was = from >> k & 1, up = to >> k & 1;
        if (was == up && !all)
            continue;
        if (json_array_append_new(plan, json_pack("{s:s, s:o, s:o}", "via", "vm", "request",
                                                  link_request(&a->vms[vm], k, up), "undo",
                                                  link_request(&a->vms[vm], k, was))))
            return evr_fail(err, ENOMEM, "VM link plan: out of memory");
    }
    return 0;
}

json_t *evr_vm_link_plan(const struct evr_partition *from, const struct evr_partition *to,
                         const struct evr_appliance *a, uint64_t running, struct evr_err *err)
{
    json_t *plan = json_array();

    for (unsigned v = 0; plan && v < a->nvms; v++) {
        if (!(running >> v & 1))
            continue;
        if (add_steps(plan, a, v, evr_vm_links(from, a, v), evr_vm_links(to, a, v), false, err)) {
            json_decref(plan);
            return NULL;
        }
    }
    if (!plan)
        evr_fail(err, ENOMEM, "VM link plan: out of memory");
    return plan;
}

json_t *evr_vm_link_sync_plan(const struct evr_partition *p, const struct evr_appliance *a,
                              uint64_t running, struct evr_err *err)
{
    json_t *plan = json_array();

    for (unsigned v = 0; plan && v < a->nvms; v++) {
        uint32_t up = evr_vm_links(p, a, v);
        /* the undo of a sync is not known (what the VM had): put back the
         * partition's own, which is what the VM gets at its next start */
        if ((running >> v & 1) && add_steps(plan, a, v, up, up, true, err)) {
            json_decref(plan);
            return NULL;
        }
    }
    if (!plan)
        evr_fail(err, ENOMEM, "VM link plan: out of memory");
    return plan;
}

uint32_t evrd_vm_links(void *ctx, unsigned vm)
{
    struct evrd *d = ctx;
    return evr_vm_links(&d->partition, d->appliance, vm);
}
