/* The partition and its rules (partition.h). A change works on a copy of
 * the per-port tables and replaces them only when every slice passed. */
#include "partition.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lag.h"

const char *evr_slice_mode_name(enum evr_slice_mode m)
{
    return m == EVR_MODE_PASSTHROUGH ? "passthrough" : "vswitch";
}

int evr_partition_init(struct evr_partition *p, const struct evr_appliance *a, struct evr_err *err)
{
    memset(p, 0, sizeof(*p));
    p->nports = a->nports;
    p->ports = calloc(a->nports ? a->nports : 1, sizeof(*p->ports));
    if (!p->ports)
        return evr_fail(err, ENOMEM, "partition: out of memory for %u ports", a->nports);
    for (unsigned i = 0; i < a->nports; i++)
        memset(p->ports[i].vm_port, EVR_NO_VM_PORT, sizeof(p->ports[i].vm_port));
    return 0;
}

void evr_partition_free(struct evr_partition *p)
{
    free(p->ports);
    memset(p, 0, sizeof(*p));
}

int evr_partition_copy(struct evr_partition *dst, const struct evr_partition *src,
                       struct evr_err *err)
{
    *dst = *src;
    dst->ports = malloc((src->nports ? src->nports : 1) * sizeof(*src->ports));
    if (!dst->ports)
        return evr_fail(err, ENOMEM, "partition: out of memory");
    memcpy(dst->ports, src->ports, src->nports * sizeof(*src->ports));
    return 0;
}

/* The work of one change: the scratch tables and what it needs to word a
 * refusal. */
struct job {
    struct evr_partition next;
    const struct evr_appliance *a;
    const struct evr_change *c;
    uint8_t x; /* the VM of the change + 1 */
    bool changed;
    struct evr_err *err;
};

static const char *owner_name(const struct job *j, uint8_t owner)
{
    return j->a->vms[owner - 1].name;
}

static struct evr_port_share *share_of(struct job *j, unsigned number, unsigned *index)
{
    const struct evr_appl_port *port = evr_appliance_port(j->a, number);

    if (!port)
        return NULL;
    *index = (unsigned)(port - j->a->ports);
    return &j->next.ports[*index];
}

enum run_kind {
    RUN_OTHER, /* owned, by another VM than the change's */
    RUN_FREE,  /* owned by nobody */
    RUN_OWNED, /* owned by anybody */
};

static bool matches(enum run_kind k, uint8_t owner, uint8_t x)
{
    switch (k) {
    case RUN_OTHER:
        return owner && owner != x;
    case RUN_FREE:
        return !owner;
    case RUN_OWNED:
        return owner;
    }
    return false;
}

/* The first run in own[first..last] of entries that match k with one owner:
 * what a refusal names ("port3.150-160 is vm-b's"). */
static bool first_run(const uint8_t *own, unsigned first, unsigned last, enum run_kind k, uint8_t x,
                      unsigned *r0, unsigned *r1)
{
    for (unsigned i = first; i <= last; i++) {
        if (!matches(k, own[i], x))
            continue;
        *r0 = *r1 = i;
        while (*r1 < last && own[*r1 + 1] == own[i])
            (*r1)++;
        return true;
    }
    return false;
}

static void piece_name(char *buf, size_t len, unsigned port, bool vlan, unsigned r0, unsigned r1)
{
    struct evr_slice s = {
            .kind = vlan ? EVR_SLICE_VLAN : EVR_SLICE_VF,
            .port_first = (uint16_t)port,
            .port_last = (uint16_t)port,
            .first = (uint16_t)r0,
            .last = (uint16_t)r1,
    };
    evr_slice_format(&s, buf, len);
}

/* Whether the port has pieces (VLANs or VFs) owned by anybody; names the
 * first in buf and its owner in *owner. */
static bool has_piece(const struct evr_port_share *sh, unsigned port, char *buf, size_t len,
                      uint8_t *owner)
{
    unsigned r0, r1;

    if (first_run(sh->vlan, EVR_VLAN_MIN, EVR_VLAN_MAX, RUN_OWNED, 0, &r0, &r1)) {
        piece_name(buf, len, port, true, r0, r1);
        *owner = sh->vlan[r0];
        return true;
    }
    if (first_run(sh->vf, 0, EVR_VF_MAX, RUN_OWNED, 0, &r0, &r1)) {
        piece_name(buf, len, port, false, r0, r1);
        *owner = sh->vf[r0];
        return true;
    }
    return false;
}

/* The port of a slice exists, and holds the VLANs or VFs it names. */
static int check_exists(struct job *j, const struct evr_slice *s)
{
    for (unsigned n = s->port_first; n <= s->port_last; n++) {
        const struct evr_appl_port *port = evr_appliance_port(j->a, n);
        if (!port)
            return evr_fail(j->err, EINVAL, "port%u: the appliance has no such port", n);
        if (s->kind == EVR_SLICE_VF && s->last >= port->vfs) {
            if (!port->vfs)
                return evr_fail(j->err, EINVAL,
                                "port%u has no VFs (its appliance entry declares none)", n);
            return evr_fail(j->err, EINVAL, "port%u has VFs 0-%u only, not vf%u", n, port->vfs - 1u,
                            s->last);
        }
    }
    return 0;
}

static int whole_port(struct job *j, unsigned n)
{
    unsigned idx = 0;
    struct evr_port_share *sh = share_of(j, n, &idx);
    const struct evr_change *c = j->c;
    enum evr_slice_mode mode = c->mode_given ? c->mode
                               : sh->whole   ? sh->whole_mode
                                             : EVR_MODE_VSWITCH;
    char piece[48];
    uint8_t owner;

    if (c->op == EVR_CHANGE_FREE) {
        for (unsigned i = 0; i <= EVR_VLAN_MAX && !j->changed; i++)
            j->changed = sh->vlan[i] != 0;
        for (unsigned i = 0; i <= EVR_VF_MAX && !j->changed; i++)
            j->changed = sh->vf[i] != 0;
        j->changed = j->changed || sh->whole;
        sh->whole = 0;
        sh->lag = 0; /* a member freed leaves its LAG */
        memset(sh->vlan, 0, sizeof(sh->vlan));
        memset(sh->vf, 0, sizeof(sh->vf));
        memset(sh->vf_vlan, 0, sizeof(sh->vf_vlan));
        return 0;
    }
    if (mode == EVR_MODE_PASSTHROUGH && j->a->ports[idx].backing != EVR_BACKING_PCI)
        return evr_fail(j->err, EINVAL,
                        "port%u cannot be passed through: it is not backed by a PCI function", n);
    if (sh->whole == j->x) {
        if (sh->whole_mode != mode)
            return evr_fail(j->err, EBUSY,
                            "port%u is %s's already, in %s mode: free it to change its mode", n,
                            owner_name(j, sh->whole), evr_slice_mode_name(sh->whole_mode));
        return 0;
    }
    if ((c->op == EVR_CHANGE_SPLIT || c->op == EVR_CHANGE_JOIN) && sh->whole)
        return evr_fail(j->err, EBUSY, "port%u is %s's (move it, or free it first)", n,
                        owner_name(j, sh->whole));
    if (!sh->whole && has_piece(sh, n, piece, sizeof(piece), &owner))
        return evr_fail(j->err, EBUSY, "port%u is not free whole: %s is %s's", n, piece,
                        owner_name(j, owner));
    if (c->op == EVR_CHANGE_MOVE && !sh->whole)
        return evr_fail(j->err, ENOENT, "port%u is free: give it with split", n);
    sh->whole = j->x;
    sh->whole_mode = (uint8_t)mode;
    j->changed = true;
    return 0;
}

/* VF i's port VLAN after the change: none once free, the one given, or
 * (a move that gives none) the one it had. */
static void set_vf_vlan(struct job *j, struct evr_port_share *sh, unsigned i)
{
    uint16_t to = j->c->op == EVR_CHANGE_FREE                  ? 0
                  : j->c->vlan || j->c->op == EVR_CHANGE_SPLIT ? j->c->vlan
                                                               : sh->vf_vlan[i];

    j->changed = j->changed || sh->vf_vlan[i] != to;
    sh->vf_vlan[i] = to;
}

/* A VLAN of a port has one owner: VFs of the port that carry the same port
 * VLAN belong to one VM. */
static int check_vf_vlans(struct job *j)
{
    for (unsigned i = 0; i < j->a->nports; i++) {
        const struct evr_port_share *sh = &j->next.ports[i];
        for (unsigned v = 0; v <= EVR_VF_MAX; v++) {
            if (!sh->vf[v] || !sh->vf_vlan[v])
                continue;
            for (unsigned w = v + 1; w <= EVR_VF_MAX; w++)
                if (sh->vf[w] && sh->vf[w] != sh->vf[v] && sh->vf_vlan[w] == sh->vf_vlan[v])
                    return evr_fail(j->err, EBUSY,
                                    "port%u/vf%u and port%u/vf%u would both carry VLAN %u, for "
                                    "%s and %s: a VLAN of a port has one owner",
                                    j->a->ports[i].number, v, j->a->ports[i].number, w,
                                    sh->vf_vlan[v], owner_name(j, sh->vf[v]),
                                    owner_name(j, sh->vf[w]));
        }
    }
    return 0;
}

/* A run of VLANs or VFs of one port. */
static int pieces(struct job *j, const struct evr_slice *s)
{
    bool vlan = s->kind == EVR_SLICE_VLAN;
    unsigned n = s->port_first, idx = 0, r0, r1;
    struct evr_port_share *sh = share_of(j, n, &idx);
    uint8_t *own = vlan ? sh->vlan : sh->vf;
    const struct evr_change *c = j->c;
    char name[48];

    evr_slice_format(s, name, sizeof(name));
    if (c->mode_given && c->op != EVR_CHANGE_FREE &&
        c->mode != (vlan ? EVR_MODE_VSWITCH : EVR_MODE_PASSTHROUGH))
        return evr_fail(j->err, EINVAL, "%s: %s", name,
                        vlan ? "VLAN slices go through the vswitch, not passthrough"
                             : "VF slices are passed through, not through the vswitch");
    if (sh->whole) {
        if (c->op == EVR_CHANGE_SPLIT && sh->whole == j->x && vlan &&
            sh->whole_mode == EVR_MODE_VSWITCH)
            return 0; /* the VLANs of a port owned whole are its owner's */
        return evr_fail(j->err, EBUSY, "%s: port%u is %s's whole (%s port%u itself)", name, n,
                        owner_name(j, sh->whole), c->op == EVR_CHANGE_SPLIT ? "free" : "name", n);
    }
    if (c->op == EVR_CHANGE_SPLIT && first_run(own, s->first, s->last, RUN_OTHER, j->x, &r0, &r1)) {
        piece_name(name, sizeof(name), n, vlan, r0, r1);
        return evr_fail(j->err, EBUSY, "%s is %s's (move it, or free it first)", name,
                        owner_name(j, own[r0]));
    }
    if (c->op == EVR_CHANGE_MOVE && first_run(own, s->first, s->last, RUN_FREE, 0, &r0, &r1)) {
        piece_name(name, sizeof(name), n, vlan, r0, r1);
        return evr_fail(j->err, ENOENT, "%s is free: give it with split", name);
    }
    for (unsigned i = s->first; i <= s->last; i++) {
        uint8_t to = c->op == EVR_CHANGE_FREE ? 0 : j->x;
        j->changed = j->changed || own[i] != to;
        own[i] = to;
        if (!vlan)
            set_vf_vlan(j, sh, i);
    }
    return 0;
}

/* Which VMs reach port share sh through the vswitch: a bit per VM index. */
static uint64_t vswitch_users(const struct evr_port_share *sh)
{
    uint64_t users = 0;

    if (sh->whole)
        return sh->whole_mode == EVR_MODE_VSWITCH ? 1ull << (sh->whole - 1) : 0;
    for (unsigned v = EVR_VLAN_MIN; v <= EVR_VLAN_MAX; v++)
        if (sh->vlan[v])
            users |= 1ull << (sh->vlan[v] - 1);
    return users;
}

/* Gives each (VM, port) in vswitch mode one of the VM's network ports:
 * kept if it had one, else the one the change names, else the first free. */
static int bind_vm_ports(struct job *j)
{
    const struct evr_appliance *a = j->a;
    uint32_t used[EVR_APPL_VM_MAX] = {0}; /* VM ports taken, a bit each */
    uint64_t users[EVR_APPL_PORT_MAX];

    evr_lag_unify_vm_ports(&j->next);
    for (unsigned i = 0; i < a->nports; i++) {
        struct evr_port_share *sh = &j->next.ports[i];
        users[i] = vswitch_users(sh);
        for (unsigned v = 0; v < a->nvms; v++) {
            if (!(users[i] >> v & 1))
                sh->vm_port[v] = EVR_NO_VM_PORT;
            else if (sh->vm_port[v] != EVR_NO_VM_PORT)
                used[v] |= 1u << sh->vm_port[v];
        }
    }
    for (unsigned i = 0; i < a->nports; i++) {
        struct evr_port_share *sh = &j->next.ports[i];
        for (unsigned v = 0; v < a->nvms; v++) {
            unsigned k = 0;
            if (!(users[i] >> v & 1) || sh->vm_port[v] != EVR_NO_VM_PORT)
                continue;
            if (j->c->vm_port >= 0 && (int)v == j->c->vm) {
                k = (unsigned)j->c->vm_port;
                if (k >= a->vms[v].ports)
                    return evr_fail(j->err, EINVAL, "%s has network ports 0-%d, not %u",
                                    a->vms[v].name, (int)a->vms[v].ports - 1, k);
                if (used[v] >> k & 1)
                    return evr_fail(j->err, EBUSY, "%s's network port %u carries another port",
                                    a->vms[v].name, k);
            } else {
                while (k < a->vms[v].ports && used[v] >> k & 1)
                    k++;
                if (k == a->vms[v].ports)
                    return evr_fail(j->err, ENOSPC,
                                    "%s has no free network port for port%u (it has %u, all "
                                    "carrying other ports)",
                                    a->vms[v].name, a->ports[i].number, a->vms[v].ports);
            }
            used[v] |= 1u << k;
            sh->vm_port[v] = (uint8_t)k;
            evr_lag_share_vm_port(&j->next, i, v);
            j->changed = true;
        }
    }
    return 0;
}

int evr_partition_apply(struct evr_partition *p, const struct evr_appliance *a,
                        const struct evr_change *c, bool *changed, struct evr_err *err)
{
    struct job j = {.a = a, .c = c, .err = err};
    int rc = 0;

    if (c->op != EVR_CHANGE_FREE && (c->vm < 0 || (unsigned)c->vm >= a->nvms))
        return evr_fail(err, EINVAL, "no such VM in the appliance");
    j.x = c->op == EVR_CHANGE_FREE ? 0 : (uint8_t)(c->vm + 1);
    if (c->vm_port >= 0 && c->op != EVR_CHANGE_JOIN &&
        (c->op != EVR_CHANGE_SPLIT || c->slices.count != 1 ||
         c->slices.items[0].port_first != c->slices.items[0].port_last))
        return evr_fail(err, EINVAL, "a VM network port can be named when splitting one port only");
    if (c->slices.count == 0)
        return evr_fail(err, EINVAL, "no slices given");
    if (c->vlan && (c->op == EVR_CHANGE_FREE || c->vlan < EVR_VLAN_MIN || c->vlan > EVR_VLAN_MAX))
        return evr_fail(err, EINVAL, "VLAN %u: a VF's port VLAN is %u..%u, given on split or move",
                        c->vlan, EVR_VLAN_MIN, EVR_VLAN_MAX);
    for (size_t i = 0; i < c->slices.count && c->vlan; i++)
        if (c->slices.items[i].kind != EVR_SLICE_VF) {
            char name[48];
            evr_slice_format(&c->slices.items[i], name, sizeof(name));
            return evr_fail(err, EINVAL,
                            "%s: a VLAN is given to VF slices only (a port's VLANs are slices "
                            "of their own: port8.100)",
                            name);
        }
    for (size_t i = 0; i < c->slices.count; i++)
        if (check_exists(&j, &c->slices.items[i]))
            return -1;
    if (evr_lag_check(p, a, c, err))
        return -1;

    if (evr_partition_copy(&j.next, p, err))
        return -1;

    for (size_t i = 0; i < c->slices.count && !rc; i++) {
        const struct evr_slice *s = &c->slices.items[i];
        if (s->kind != EVR_SLICE_PORT) {
            rc = pieces(&j, s);
            continue;
        }
        for (unsigned n = s->port_first; n <= s->port_last && !rc; n++)
            rc = whole_port(&j, n);
    }
    if (!rc && c->op == EVR_CHANGE_JOIN)
        rc = evr_lag_join(&j.next, a, c, &j.changed, err);
    if (!rc)
        rc = check_vf_vlans(&j);
    if (!rc)
        rc = bind_vm_ports(&j);
    if (rc) {
        free(j.next.ports);
        return -1;
    }
    free(p->ports);
    p->ports = j.next.ports;
    memcpy(p->lag_mode, j.next.lag_mode, sizeof(p->lag_mode));
    if (j.changed)
        p->generation++;
    if (changed)
        *changed = j.changed;
    return 0;
}

static int add_holding(json_t *out, const struct evr_appliance *a, const struct evr_slice *s,
                       uint8_t owner, enum evr_slice_mode mode, uint8_t vm_port, uint16_t vf_vlan)
{
    char name[48];
    json_t *h;

    evr_slice_format(s, name, sizeof(name));
    h = json_pack("{s:s, s:s, s:s}", "slice", name, "vm", a->vms[owner - 1].name, "mode",
                  evr_slice_mode_name(mode));
    if (h && mode == EVR_MODE_VSWITCH)
        json_object_set_new(h, "vm_port", json_integer(vm_port));
    if (h && vf_vlan)
        json_object_set_new(h, "vlan", json_integer(vf_vlan));
    return h ? json_array_append_new(out, h) : -1;
}

static int add_runs(json_t *out, const struct evr_appliance *a, const struct evr_port_share *sh,
                    unsigned port, bool vlan)
{
    const uint8_t *own = vlan ? sh->vlan : sh->vf;
    unsigned first = vlan ? EVR_VLAN_MIN : 0, last = vlan ? EVR_VLAN_MAX : EVR_VF_MAX;
    unsigned r0, r1;

    for (unsigned i = first; first_run(own, i, last, RUN_OWNED, 0, &r0, &r1); i = r1 + 1) {
        /* a run of VFs also keeps one port VLAN */
        for (unsigned k = r0; !vlan && k < r1; k++)
            if (sh->vf_vlan[k + 1] != sh->vf_vlan[r0])
                r1 = k;
        struct evr_slice s = {
                .kind = vlan ? EVR_SLICE_VLAN : EVR_SLICE_VF,
                .port_first = (uint16_t)port,
                .port_last = (uint16_t)port,
                .first = (uint16_t)r0,
                .last = (uint16_t)r1,
        };
        if (add_holding(out, a, &s, own[r0], vlan ? EVR_MODE_VSWITCH : EVR_MODE_PASSTHROUGH,
                        sh->vm_port[own[r0] - 1], vlan ? 0 : sh->vf_vlan[r0]))
            return -1;
        if (r1 == last)
            break;
    }
    return 0;
}

static int by_port_number(const void *x, const void *y)
{
    const struct evr_appl_port *const *px = x, *const *py = y;
    return (int)(*px)->number - (int)(*py)->number;
}

json_t *evr_partition_to_json(const struct evr_partition *p, const struct evr_appliance *a)
{
    const struct evr_appl_port *order[EVR_APPL_PORT_MAX];
    json_t *out = json_array();

    if (!out)
        return NULL;
    for (unsigned i = 0; i < a->nports; i++)
        order[i] = &a->ports[i];
    qsort(order, a->nports, sizeof(order[0]), by_port_number);
    for (unsigned k = 0; k < a->nports; k++) {
        unsigned i = (unsigned)(order[k] - a->ports);
        const struct evr_port_share *sh = &p->ports[i];
        struct evr_slice whole = {.kind = EVR_SLICE_PORT,
                                  .port_first = order[k]->number,
                                  .port_last = order[k]->number};
        int rc = sh->lag     ? evr_lag_holding(out, p, a, i)
                 : sh->whole ? add_holding(out, a, &whole, sh->whole, sh->whole_mode,
                                           sh->vm_port[sh->whole - 1], 0)
                             : add_runs(out, a, sh, order[k]->number, true) ||
                                       add_runs(out, a, sh, order[k]->number, false);
        if (rc) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* One holding back into a change: a split of its slice to its VM. */
static int holding_change(const struct evr_appliance *a, const json_t *h, struct evr_change *c,
                          const char *where, struct evr_err *err)
{
    const char *slice = NULL, *vm = NULL, *mode = NULL, *lag = NULL, *lag_mode = NULL;
    json_int_t vm_port = -1, vlan = 0;
    json_error_t jerr;
    struct evr_parse_error perr;

    memset(c, 0, sizeof(*c));
    if (json_unpack_ex((json_t *)h, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s?:I, s?:I, s?:s, s?:s}",
                       "slice", &slice, "vm", &vm, "mode", &mode, "vm_port", &vm_port, "vlan",
                       &vlan, "lag", &lag, "lag_mode", &lag_mode))
        return evr_fail(err, EINVAL, "%s: %s", where, jerr.text);
    c->op = EVR_CHANGE_SPLIT;
    c->vm_port = -1;
    if (evr_slice_list_parse(slice, &c->slices, &perr))
        return evr_fail(err, EINVAL, "%s: slice '%s': %s", where, slice, perr.msg);
    if (c->slices.count != 1 && !lag)
        return evr_fail(err, EINVAL, "%s: slice '%s': one slice per holding (but a LAG's)", where,
                        slice);
    c->vm = evr_appliance_vm(a, vm);
    if (c->vm < 0)
        return evr_fail(err, ENOENT, "%s: %s: the appliance has no VM %s", where, slice, vm);
    if (!strcmp(mode, "vswitch") || !strcmp(mode, "passthrough")) {
        c->mode = !strcmp(mode, "vswitch") ? EVR_MODE_VSWITCH : EVR_MODE_PASSTHROUGH;
        c->mode_given = true;
    } else {
        return evr_fail(err, EINVAL, "%s: mode '%s' is not vswitch or passthrough", where, mode);
    }
    if ((vm_port >= 0) != (c->mode == EVR_MODE_VSWITCH) || vm_port > 255)
        return evr_fail(err, EINVAL, "%s: %s: %s", where, slice,
                        c->mode == EVR_MODE_VSWITCH ? "a vswitch slice needs vm_port 0..255"
                                                    : "a passthrough slice has no vm_port");
    c->vm_port = (int)vm_port;
    if (vlan < 0 || vlan > EVR_VLAN_MAX)
        return evr_fail(err, EINVAL, "%s: %s: vlan %lld is not %u..%u", where, slice,
                        (long long)vlan, EVR_VLAN_MIN, EVR_VLAN_MAX);
    c->vlan = (uint16_t)vlan;
    if ((lag || lag_mode) && evr_lag_holding_change(lag, lag_mode, c, where, err))
        return -1;
    return 0;
}

int evr_partition_from_json(struct evr_partition *p, const struct evr_appliance *a,
                            const json_t *holdings, const char *source, struct evr_err *err)
{
    struct evr_partition next;
    size_t i;
    json_t *h;

    if (!json_is_array(holdings))
        return evr_fail(err, EINVAL, "%s: holdings: expected an array", source);
    if (evr_partition_init(&next, a, err))
        return -1;
    json_array_foreach(holdings, i, h)
    {
        char where[160];
        struct evr_change c;
        struct evr_err inner;
        unsigned idx;

        snprintf(where, sizeof(where), "%s: holdings[%zu]", source, i);
        if (holding_change(a, h, &c, where, err))
            goto fail;
        /* A vswitch piece of a port the VM already reaches must name the
         * same network port: the split would keep the old one silently. */
        if (c.vm_port >= 0 && c.slices.items[0].kind == EVR_SLICE_VLAN) {
            const struct evr_appl_port *port = evr_appliance_port(a, c.slices.items[0].port_first);
            if (port) {
                idx = (unsigned)(port - a->ports);
                uint8_t bound = next.ports[idx].vm_port[c.vm];
                if (bound != EVR_NO_VM_PORT && bound != c.vm_port) {
                    evr_fail(err, EINVAL, "%s: port%u is on %s's network port %u, not %d", where,
                             port->number, a->vms[c.vm].name, bound, c.vm_port);
                    goto fail;
                }
                if (bound != EVR_NO_VM_PORT)
                    c.vm_port = -1;
            }
        }
        if (evr_partition_apply(&next, a, &c, NULL, &inner)) {
            evr_fail(err, inner.code, "%s: %s", where, inner.msg);
            goto fail;
        }
    }
    next.generation = p->generation;
    evr_partition_free(p);
    *p = next;
    return 0;
fail:
    evr_partition_free(&next);
    return -1;
}
