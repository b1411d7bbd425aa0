/* The passthrough plan (vf_plan.h). */
#include "vf_plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "slice.h"

void evr_vf_mac(const char *vm, unsigned port, unsigned vf, uint8_t mac[6])
{
    char key[EVR_NAME_MAX + 32];
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

    snprintf(key, sizeof(key), "%s/port%u/vf%u", vm, port, vf);
    for (const char *p = key; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3ull;
    }
    mac[0] = 0x02; /* locally administered, unicast */
    for (int i = 1; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

static void slice_name(char *buf, size_t len, unsigned port, int vf)
{
    if (vf < 0)
        snprintf(buf, len, "port%u", port);
    else
        snprintf(buf, len, "port%u/vf%d", port, vf);
}

int evr_vf_check(const struct evr_partition *p, const struct evr_appliance *a,
                 const struct evr_vf_inventory *inv, struct evr_err *err)
{
    for (unsigned i = 0; i < a->nports; i++) {
        const struct evr_port_share *sh = &p->ports[i];
        const struct evr_appl_port *port = &a->ports[i];
        bool on_vswitch = sh->whole && sh->whole_mode == EVR_MODE_VSWITCH;

        if (!port->vfs)
            continue;
        for (unsigned v = EVR_VLAN_MIN; v <= EVR_VLAN_MAX && !on_vswitch; v++)
            on_vswitch = sh->vlan[v] != 0;
        if (on_vswitch)
            return evr_fail(err, EINVAL,
                            "port%u carves VFs: its PF stays with the host driver that sets the "
                            "VFs' MAC and VLAN, so it cannot go through the vswitch (give its "
                            "VFs, port%u/vf0-%u)",
                            port->number, port->number, port->vfs - 1u);
        if (sh->whole)
            return evr_fail(err, EINVAL,
                            "port%u carves VFs: its PF stays with the host driver that sets the "
                            "VFs' MAC and VLAN, so it is not passed through whole (give its VFs, "
                            "port%u/vf0-%u)",
                            port->number, port->number, port->vfs - 1u);
        for (unsigned v = 0; v < port->vfs; v++)
            if (sh->vf[v] && (!inv->port[i] || v >= inv->port[i]->nvfs))
                return evr_fail(err, EINVAL, "port%u/vf%u: the VF is not carved on the host",
                                port->number, v);
    }
    return 0;
}

/* The settings fields of a VF given to VM owner (an index + 1). */
static json_t *vf_request(const char *op, const struct evr_appliance *a, unsigned i, unsigned v,
                          const struct evr_vf_pf *pf, uint8_t owner, uint16_t vlan)
{
    char name[48];
    json_t *req;

    slice_name(name, sizeof(name), a->ports[i].number, (int)v);
    req = json_pack("{s:s, s:s, s:s, s:i, s:s}", "op", op, "slice", name, "pf", pf->pf, "vf", v,
                    "host", pf->vf[v]);
    if (req && owner) {
        uint8_t mac[6];
        char text[18];
        evr_vf_mac(a->vms[owner - 1].name, a->ports[i].number, v, mac);
        snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                 mac[3], mac[4], mac[5]);
        json_object_set_new(req, "mac", json_string(text));
        json_object_set_new(req, "vlan", json_integer(vlan));
    }
    return req;
}

static json_t *device_request(const char *op, const struct evr_appliance *a, const char *slice,
                              uint8_t owner, const char *host)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "op", op, "slice", slice, "vm",
                            a->vms[owner - 1].name, "host", host);
    if (req && !strcmp(op, "device-del"))
        json_object_set_new(req, "timeout_ms", json_integer(EVR_VF_DEL_TIMEOUT_MS));
    return req;
}

static int add_step(json_t *plan, json_t *request, json_t *undo, struct evr_err *err)
{
    if (!request || !undo ||
        json_array_append_new(plan, json_pack("{s:s, s:o, s:o}", "via", "passthrough", "request",
                                              request, "undo", undo)))
        return evr_fail(err, ENOMEM, "passthrough plan: out of memory");
    return 0;
}

/* Hot-plug steps of one function whose owner goes from o to n (VM index +
 * 1, 0: free): removal in phase 0, addition in phase 2. */
static int device_steps(json_t *plan, const struct evr_appliance *a, int phase, const char *slice,
                        const char *host, uint8_t o, uint8_t n, uint64_t running,
                        struct evr_err *err)
{
    if (o == n)
        return 0;
    if (phase == 0 && o && (running >> (o - 1) & 1))
        return add_step(plan, device_request("device-del", a, slice, o, host),
                        device_request("device-add", a, slice, o, host), err);
    if (phase == 2 && n && (running >> (n - 1) & 1))
        return add_step(plan, device_request("device-add", a, slice, n, host),
                        device_request("device-del", a, slice, n, host), err);
    return 0;
}

/* The settings step of VF v of port i, owner and VLAN going from (o, ov)
 * to (n, nv). */
static int settings_step(json_t *plan, const struct evr_appliance *a, unsigned i, unsigned v,
                         const struct evr_vf_pf *pf, uint8_t o, uint16_t ov, uint8_t n, uint16_t nv,
                         struct evr_err *err)
{
    if (o == n && ov == nv)
        return 0;
    if (!o)
        return add_step(plan, vf_request("vf-assign", a, i, v, pf, n, nv),
                        vf_request("vf-release", a, i, v, pf, 0, 0), err);
    if (!n)
        return add_step(plan, vf_request("vf-release", a, i, v, pf, 0, 0),
                        vf_request("vf-assign", a, i, v, pf, o, ov), err);
    return add_step(plan, vf_request("vf-set", a, i, v, pf, n, nv),
                    vf_request("vf-set", a, i, v, pf, o, ov), err);
}

/* The owner of port share sh whole in passthrough mode, 0 when none. */
static uint8_t whole_passthrough(const struct evr_port_share *sh)
{
    return sh->whole && sh->whole_mode == EVR_MODE_PASSTHROUGH ? sh->whole : 0;
}

json_t *evr_vf_plan(const struct evr_partition *from, const struct evr_partition *to,
                    const struct evr_appliance *a, const struct evr_vf_inventory *inv,
                    uint64_t running, struct evr_err *err)
{
    json_t *plan = json_array();

    if (!plan) {
        evr_fail(err, ENOMEM, "passthrough plan: out of memory");
        return NULL;
    }
    for (int phase = 0; phase < 3; phase++) {
        for (unsigned i = 0; i < a->nports; i++) {
            const struct evr_port_share *f = &from->ports[i], *t = &to->ports[i];
            const struct evr_vf_pf *pf = inv ? inv->port[i] : NULL;
            char name[48];
            int rc = 0;

            if (phase != 1) {
                slice_name(name, sizeof(name), a->ports[i].number, -1);
                rc = device_steps(plan, a, phase, name, a->ports[i].backing_value,
                                  whole_passthrough(f), whole_passthrough(t), running, err);
            }
            for (unsigned v = 0; pf && v < pf->nvfs && !rc; v++) {
                if (phase == 1) {
                    rc = settings_step(plan, a, i, v, pf, f->vf[v], f->vf_vlan[v], t->vf[v],
                                       t->vf_vlan[v], err);
                    continue;
                }
                slice_name(name, sizeof(name), a->ports[i].number, (int)v);
                rc = device_steps(plan, a, phase, name, pf->vf[v], f->vf[v], t->vf[v], running,
                                  err);
            }
            if (rc) {
                json_decref(plan);
                return NULL;
            }
        }
    }
    return plan;
}

json_t *evr_vf_sync_plan(const struct evr_partition *p, const struct evr_appliance *a,
                         const struct evr_vf_inventory *inv, struct evr_err *err)
{
    json_t *plan = json_array();

    for (unsigned i = 0; plan && i < a->nports; i++) {
        const struct evr_port_share *sh = &p->ports[i];
        const struct evr_vf_pf *pf = inv->port[i];
        for (unsigned v = 0; pf && v < pf->nvfs; v++) {
            int rc = sh->vf[v] ? add_step(plan,
                                          vf_request("vf-assign", a, i, v, pf, sh->vf[v],
                                                     sh->vf_vlan[v]),
                                          vf_request("vf-release", a, i, v, pf, 0, 0), err)
                               : add_step(plan, vf_request("vf-release", a, i, v, pf, 0, 0),
                                          json_null(), err);
            if (rc) {
                json_decref(plan);
                return NULL;
            }
        }
    }
    if (!plan)
        evr_fail(err, ENOMEM, "passthrough plan: out of memory");
    return plan;
}

json_t *evr_vf_passthrough(const struct evr_partition *p, const struct evr_appliance *a,
                           const struct evr_vf_inventory *inv, unsigned vm)
{
    json_t *list = json_array();
    uint8_t x = (uint8_t)(vm + 1);

    for (unsigned i = 0; list && i < a->nports; i++) {
        const struct evr_vf_pf *pf = inv ? inv->port[i] : NULL;
        for (unsigned v = 0; pf && v < pf->nvfs; v++)
            if (p->ports[i].vf[v] == x)
                json_array_append_new(list, json_string(pf->vf[v]));
    }
    for (unsigned i = 0; list && i < a->nports; i++)
        if (whole_passthrough(&p->ports[i]) == x)
            json_array_append_new(list, json_string(a->ports[i].backing_value));
    return list;
}

/* The slice name of a function evrd manages ("port2/vf1", "port3"); false
 * for one it does not. */
static bool managed(const struct evr_appliance *a, const struct evr_vf_inventory *inv,
                    const char *host, char *name, size_t len)
{
    for (unsigned i = 0; i < a->nports; i++) {
        const struct evr_vf_pf *pf = inv ? inv->port[i] : NULL;
        for (unsigned v = 0; pf && v < pf->nvfs; v++)
            if (!strcmp(pf->vf[v], host)) {
                slice_name(name, len, a->ports[i].number, (int)v);
                return true;
            }
        if (a->ports[i].backing == EVR_BACKING_PCI && !strcmp(a->ports[i].backing_value, host)) {
            slice_name(name, len, a->ports[i].number, -1);
            return true;
        }
    }
    return false;
}

static bool listed(const json_t *list, const char *host)
{
    const json_t *item;
    size_t i;

    json_array_foreach(list, i,
                       item) if (!strcmp(json_string_value(item) ? json_string_value(item) : "",
                                         host)) return true;
    return false;
}

int evr_vf_device_sync(const struct evr_partition *p, const struct evr_appliance *a,
                       const struct evr_vf_inventory *inv, unsigned vm, const json_t *held,
                       json_t *dels, json_t *adds, struct evr_err *err)
{
    json_t *want = evr_vf_passthrough(p, a, inv, vm), *item;
    uint8_t x = (uint8_t)(vm + 1);
    char name[48];
    size_t i;
    int rc = want ? 0 : evr_fail(err, ENOMEM, "passthrough plan: out of memory");

    json_array_foreach(held, i, item)
    {
        const char *host = json_string_value(item);
        if (rc || !host || listed(want, host) || !managed(a, inv, host, name, sizeof(name)))
            continue;
        rc = add_step(dels, device_request("device-del", a, name, x, host),
                      device_request("device-add", a, name, x, host), err);
    }
    json_array_foreach(want, i, item)
    {
        const char *host = json_string_value(item);
        if (rc || listed(held, host) || !managed(a, inv, host, name, sizeof(name)))
            continue;
        rc = add_step(adds, device_request("device-add", a, name, x, host),
                      device_request("device-del", a, name, x, host), err);
    }
    json_decref(want);
    return rc;
}
