/* The passthrough executor on a real host (vf_host.h). */
#include "vf_host.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "ctl/client.h"
#include "vfio/bind.h"
#include "vfio/group.h"
#include "vfio/pci.h"
#include "vfio/sriov.h"
#include "vfio/vf_release.h"

/* Brings a network interface up (IFF_UP), as `ip link set IF up`. */
static int link_up(const char *ifname, struct evr_err *err)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

    if (fd < 0)
        return evr_fail(err, errno, "%s: socket: %s", ifname, strerror(errno));
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr)) {
        rc = evr_fail(err, errno, "%s: reading its flags: %s", ifname, strerror(errno));
    } else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr))
            rc = evr_fail(err, errno, "%s: bringing it up: %s", ifname, strerror(errno));
    }
    close(fd);
    return rc;
}

static int carve_port(struct vf_host *h, unsigned i, struct evr_vf_pf **out, struct evr_err *err)
{
    const struct evr_appl_port *port = &h->a->ports[i];
    const char *pf = port->backing_value;
    struct evr_vf_ref refs[EVR_VF_MAX + 1];
    struct evr_pci_fn fn;
    struct evr_err why;
    struct evr_vf_pf *vp;
    size_t count = 0;

    if (evr_pci_fn_read(h->root, pf, &fn, &why))
        return evr_fail(err, why.code, "port%u: %s", port->number, why.msg);
    if (fn.is_vf || fn.sriov_totalvfs < port->vfs)
        return evr_fail(err, EINVAL, "port%u: %s %s, the appliance asks for %u VFs", port->number,
                        pf, fn.is_vf ? "is a VF itself" : "cannot carve that many", port->vfs);
    if (fn.netdev_count && link_up(fn.netdevs[0], &why))
        return evr_fail(err, why.code, "port%u: the PF %s: %s", port->number, pf, why.msg);
    if (fn.sriov_numvfs != port->vfs) {
        if (evr_sriov_set_numvfs(h->root, pf, port->vfs, &why))
            return evr_fail(err, why.code, "port%u: carving %u VFs on %s: %s", port->number,
                            port->vfs, pf, why.msg);
        h->prev_numvfs[i] = (int)fn.sriov_numvfs;
    }
    if (evr_sriov_vfs(h->root, pf, refs, EVR_VF_MAX + 1, &count, &why))
        return evr_fail(err, why.code, "port%u: listing the VFs of %s: %s", port->number, pf,
                        why.msg);
    if (count != port->vfs)
        return evr_fail(err, EIO, "port%u: %s lists %zu VFs after carving %u", port->number, pf,
                        count, port->vfs);
    vp = calloc(1, sizeof(*vp));
    if (!vp)
        return evr_fail(err, ENOMEM, "port%u: out of memory", port->number);
    snprintf(vp->pf, sizeof(vp->pf), "%s", pf);
    vp->nvfs = port->vfs;
    for (size_t k = 0; k < count; k++)
        if (refs[k].index < vp->nvfs)
            snprintf(vp->vf[refs[k].index], sizeof(vp->vf[0]), "%s", refs[k].addr);
    *out = vp;
    return 0;
}

int vf_host_open(struct vf_host *h, const char *root, const struct evr_appliance *a,
                 const struct vm_supervisor *vms, struct evrd_passthrough *pt, struct evr_err *err)
{
    bool any = false;

    memset(h, 0, sizeof(*h));
    memset(pt, 0, sizeof(*pt));
    h->root = root;
    h->a = a;
    h->vms = vms;
    for (unsigned i = 0; i < EVR_APPL_PORT_MAX; i++)
        h->prev_numvfs[i] = -1;
    pt->call = vf_host_call;
    pt->running = vf_host_running;
    pt->ctx = h;
    for (unsigned i = 0; i < a->nports; i++)
        any = any || a->ports[i].vfs;
    if (!any)
        return 0;
    if (evr_vf_link_open(&h->nl, err))
        return -1;
    for (unsigned i = 0; i < a->nports; i++) {
        if (!a->ports[i].vfs)
            continue;
        if (carve_port(h, i, &pt->inv.port[i], err)) {
            vf_host_uncarve(h, pt);
            vf_host_close(h, pt);
            return -1;
        }
    }
    return 0;
}

void vf_host_uncarve(struct vf_host *h, struct evrd_passthrough *pt)
{
    for (unsigned i = 0; i < h->a->nports; i++) {
        struct evr_err why;
        if (h->prev_numvfs[i] < 0)
            continue;
        if (evr_sriov_set_numvfs(h->root, h->a->ports[i].backing_value, (unsigned)h->prev_numvfs[i],
                                 &why))
            fprintf(stderr, "evrd: port%u: giving %s its %d VFs back failed: %s\n",
                    h->a->ports[i].number, h->a->ports[i].backing_value, h->prev_numvfs[i],
                    why.msg);
        h->prev_numvfs[i] = -1;
        free(pt->inv.port[i]);
        pt->inv.port[i] = NULL;
    }
}

void vf_host_close(struct vf_host *h, struct evrd_passthrough *pt)
{
    for (unsigned i = 0; i < EVR_APPL_PORT_MAX; i++) {
        free(pt->inv.port[i]);
        pt->inv.port[i] = NULL;
    }
    if (h->nl)
        evr_vf_link_close(h->nl);
    h->nl = NULL;
}

uint64_t vf_host_running(void *ctx)
{
    const struct vf_host *h = ctx;
    uint64_t bits = 0;

    for (unsigned i = 0; h->vms && i < h->vms->n; i++)
        if (h->vms->vms[i].state == VM_STATE_RUNNING)
            bits |= 1ull << i;
    return bits;
}

/* The fields of a VF step, checked: they come from evrd's own plan, but a
 * wrong one must not touch another function. */
struct vf_step {
    const char *op, *slice, *pf, *host, *mac;
    int vf, vlan;
};

static int read_vf_step(const json_t *req, struct vf_step *s, struct evr_err *err)
{
    memset(s, 0, sizeof(*s));
    s->vf = -1;
    if (json_unpack((json_t *)req, "{s:s, s:s, s:s, s:i, s:s, s?:s, s?:i}", "op", &s->op, "slice",
                    &s->slice, "pf", &s->pf, "vf", &s->vf, "host", &s->host, "mac", &s->mac, "vlan",
                    &s->vlan))
        return evr_fail(err, EINVAL, "a VF step needs op, slice, pf, vf and host");
    if (evr_pci_addr_check(s->pf, err) || evr_pci_addr_check(s->host, err))
        return -1;
    if (s->vf < 0 || s->vf > (int)EVR_VF_MAX || s->vlan < 0 || s->vlan > 4094)
        return evr_fail(err, EINVAL, "%s: VF %d, VLAN %d out of range", s->slice, s->vf, s->vlan);
    return 0;
}

/* The PF's interface, "" for a PF without one (no VF settings then). */
static int pf_netdev(const struct vf_host *h, const struct vf_step *s, char *ifname,
                     struct evr_err *err)
{
    struct evr_pci_fn pf;

    if (evr_pci_fn_read(h->root, s->pf, &pf, err))
        return -1;
    snprintf(ifname, IF_NAMESIZE, "%s", pf.netdev_count ? pf.netdevs[0] : "");
    return 0;
}

static int set_settings(const struct vf_host *h, const struct vf_step *s, struct evr_err *err)
{
    struct evr_vf_settings set = evr_vf_clean;
    char ifname[IF_NAMESIZE];
    struct evr_err why;

    if (pf_netdev(h, s, ifname, err))
        return -1;
    if (!ifname[0])
        return 0;
    if (!s->mac || evr_vf_mac_parse(s->mac, set.mac, err))
        return s->mac ? -1 : evr_fail(err, EINVAL, "%s: a VF's settings need a MAC", s->slice);
    set.fields = EVR_VF_ALL & ~(unsigned)EVR_VF_LINK_STATE;
    set.vlan = (uint16_t)s->vlan;
    if (evr_vf_set(h->nl, ifname, (unsigned)s->vf, &set, &why))
        return evr_fail(err, why.code, "%s (%s of PF %s): %s", s->slice, s->host, s->pf, why.msg);
    return 0;
}

static int vf_assign(struct vf_host *h, const struct vf_step *s, struct evr_err *err)
{
    struct evr_vfio_binding b;
    struct evr_pci_fn fn;
    struct evr_err why;
    bool bound = false;

    if (evr_pci_fn_read(h->root, s->host, &fn, &why))
        return evr_fail(err, why.code, "%s: %s", s->slice, why.msg);
    if (!fn.is_vf || strcmp(fn.physfn, s->pf) || fn.vf_index != s->vf)
        return evr_fail(err, EINVAL, "%s: %s is not VF %d of %s", s->slice, s->host, s->vf, s->pf);
    if (strcmp(fn.driver, EVR_VFIO_DRIVER)) {
        if (evr_vfio_bind(h->root, s->host, &b, &why))
            return evr_fail(err, why.code, "%s: %s", s->slice, why.msg);
        bound = true;
    }
    if (set_settings(h, s, err)) {
        if (bound && evr_vfio_release(h->root, &b, &why)) {
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof(err->msg) - len, "; unbinding it failed too: %s",
                     why.msg);
        }
        return -1;
    }
    return 0;
}

static int vf_release(struct vf_host *h, const struct vf_step *s, struct evr_err *err)
{
    struct evr_vfio_binding b;
    struct evr_pci_fn fn;
    struct evr_err why;

    if (evr_pci_fn_read(h->root, s->host, &fn, &why))
        return evr_fail(err, why.code, "%s: %s", s->slice, why.msg);
    if (!fn.is_vf || strcmp(fn.physfn, s->pf) || fn.vf_index != s->vf)
        return evr_fail(err, EINVAL, "%s: %s is not VF %d of %s", s->slice, s->host, s->vf, s->pf);
    /* a host driver that took a free VF goes: the VF ends unbound */
    if (fn.driver[0] && strcmp(fn.driver, EVR_VFIO_DRIVER) &&
        evr_vfio_bind(h->root, s->host, &b, &why))
        return evr_fail(err, why.code, "%s: %s", s->slice, why.msg);
    memset(&b, 0, sizeof(b));
    snprintf(b.addr, sizeof(b.addr), "%s", s->host);
    b.iommu_group = fn.iommu_group;
    if (evr_vf_release(h->root, h->nl, &b, &why))
        return evr_fail(err, why.code, "%s (%s of PF %s): %s", s->slice, s->host, s->pf, why.msg);
    return 0;
}

/* Puts what was asked of which VM in front of evr-vmm's own message. */
static void wrap(struct evr_err *err, const char *slice, const char *op, const char *host,
                 const char *vm)
{
    char msg[sizeof(err->msg)];

    snprintf(msg, sizeof(msg), "%s", err->msg);
    evr_fail(err, err->code, "%s: %s %s on %s: %s", slice, op, host, vm, msg);
}

/* How long a request waits for the control socket of a VM evrd has just
 * started: evr-vmm creates it within its first moments, but a change made
 * right after `evr vm start` (or evrd's own start) can come first. */
#define VM_CONTROL_WAIT_S 10.0

/* One request to VM vm's evr-vmm, waiting up to wait_s for its answer. */
static json_t *vm_call(struct vf_host *h, const char *vm, const json_t *req, unsigned wait_s,
                       struct evr_err *err)
{
    struct ctl_client c;
    int i = evr_appliance_vm(h->a, vm);
    double until = evr_mono_s() + VM_CONTROL_WAIT_S;
    json_t *reply;

    if (i < 0 || !h->vms) {
        evr_fail(err, ENOENT, "no VM %s", vm);
        return NULL;
    }
    /* a VM that runs but has no control socket yet is one that is starting */
    while (ctl_client_open_within(&c, h->vms->vms[i].control, wait_s * 1000u, NULL, err)) {
        if ((err->code != ENOENT && err->code != ECONNREFUSED) ||
            h->vms->vms[i].state != VM_STATE_RUNNING || evr_mono_s() >= until)
            return NULL;
        usleep(50 * 1000);
    }
    reply = ctl_client_call(&c, req, err);
    ctl_client_close(&c);
    return reply;
}

/* device-add and device-del, to the VM's evr-vmm. */
static json_t *device_op(struct vf_host *h, const json_t *req, struct evr_err *err)
{
    const char *op, *slice, *vm, *host;
    int timeout_ms = 0;
    json_t *out, *reply;

    if (json_unpack((json_t *)req, "{s:s, s:s, s:s, s:s, s?:i}", "op", &op, "slice", &slice, "vm",
                    &vm, "host", &host, "timeout_ms", &timeout_ms) ||
        timeout_ms < 0) {
        evr_fail(err, EINVAL, "a device step needs op, slice, vm and host");
        return NULL;
    }
    if (evr_pci_addr_check(host, err))
        return NULL;
    out = timeout_ms
                  ? json_pack("{s:s, s:s, s:i}", "op", op, "host", host, "timeout_ms", timeout_ms)
                  : json_pack("{s:s, s:s}", "op", op, "host", host);
    /* the guest has timeout_ms to let go; evr-vmm's reset and give-back
     * after that take well under the margin */
    reply = vm_call(h, vm, out, (unsigned)timeout_ms / 1000u + 10u, err);
    json_decref(out);
    if (!reply)
        wrap(err, slice, op, host, vm);
    return reply;
}

/* vm-link {name, vm, iface, up}: a VM network port's link (vm_link.h), the
 * control socket's link op of its evr-vmm. */
static json_t *vm_link(struct vf_host *h, const json_t *req, struct evr_err *err)
{
    const char *name, *vm;
    int iface, up;
    json_t *out, *reply;

    if (json_unpack((json_t *)req, "{s:s, s:s, s:i, s:b}", "name", &name, "vm", &vm, "iface",
                    &iface, "up", &up) ||
        iface < 0) {
        evr_fail(err, EINVAL, "a VM link step needs name, vm, iface and up");
        return NULL;
    }
    out = json_pack("{s:s, s:i, s:b}", "op", "link", "iface", iface, "up", up);
    reply = vm_call(h, vm, out, 10, err);
    json_decref(out);
    if (!reply) {
        char msg[sizeof(err->msg)];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        evr_fail(err, err->code, "%s: link %s (interface %d of %s): %s", name, up ? "up" : "down",
                 iface, vm, msg);
    }
    return reply;
}

/* vm-functions: the hosts a running VM's evr-vmm lists in its status. */
static json_t *vm_functions(struct vf_host *h, const json_t *req, struct evr_err *err)
{
    const char *vm = json_string_value(json_object_get(req, "vm"));
    json_t *status = json_pack("{s:s}", "op", "status"), *reply, *list = json_array(), *f;
    size_t i;

    reply = vm ? vm_call(h, vm, status, 10, err) : NULL;
    json_decref(status);
    if (!reply) {
        json_decref(list);
        if (vm) {
            char msg[sizeof(err->msg)];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            evr_fail(err, err->code, "asking VM %s what it holds: %s", vm, msg);
        } else {
            evr_fail(err, EINVAL, "vm-functions needs vm");
        }
        return NULL;
    }
    json_array_foreach(json_object_get(reply, "passthrough"), i, f)
            json_array_append(list, json_object_get(f, "host"));
    json_decref(reply);
    return json_pack("{s:o}", "functions", list);
}

/* vf-show: each VF's address, driver and settings, for the inventory. */
static json_t *vf_show(struct vf_host *h, const json_t *req, struct evr_err *err)
{
    const char *pf;
    int nvfs; /* how many the inventory carved; the host's own list is shown */
    struct evr_vf_ref refs[EVR_VF_MAX + 1];
    struct evr_pci_fn fn;
    size_t count = 0;
    json_t *list;

    if (json_unpack((json_t *)req, "{s:s, s:i}", "pf", &pf, "vfs", &nvfs)) {
        evr_fail(err, EINVAL, "vf-show needs pf and vfs");
        return NULL;
    }
    if (evr_pci_fn_read(h->root, pf, &fn, err) ||
        evr_sriov_vfs(h->root, pf, refs, EVR_VF_MAX + 1, &count, err))
        return NULL;
    list = json_array();
    for (size_t k = 0; k < count; k++) {
        struct evr_pci_fn vf;
        struct evr_vf_settings s;
        json_t *item = json_pack("{s:i, s:s}", "vf", refs[k].index, "host", refs[k].addr);
        char mac[18];

        if (!evr_pci_fn_read(h->root, refs[k].addr, &vf, NULL))
            json_object_set_new(item, "driver", json_string(vf.driver));
        if (fn.netdev_count && h->nl &&
            !evr_vf_get(h->nl, fn.netdevs[0], refs[k].index, &s, NULL)) {
            snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", s.mac[0], s.mac[1],
                     s.mac[2], s.mac[3], s.mac[4], s.mac[5]);
            json_object_set_new(item, "mac", json_string(mac));
            json_object_set_new(item, "vlan", json_integer(s.vlan));
            json_object_set_new(item, "spoofchk", json_boolean(s.spoofchk));
            json_object_set_new(item, "trust", json_boolean(s.trust));
            json_object_set_new(item, "max_tx_rate", json_integer(s.max_tx_rate));
        }
        json_array_append_new(list, item);
    }
    (void)nvfs;
    return json_pack("{s:o}", "vf", list);
}

json_t *vf_host_call(void *ctx, const json_t *req, struct evr_err *err)
{
    struct vf_host *h = ctx;
    const char *op = json_string_value(json_object_get(req, "op"));
    struct vf_step s;
    int rc;

    if (!op) {
        evr_fail(err, EINVAL, "a passthrough step without op");
        return NULL;
    }
    if (!strcmp(op, "device-add") || !strcmp(op, "device-del"))
        return device_op(h, req, err);
    if (!strcmp(op, "vf-show"))
        return vf_show(h, req, err);
    if (!strcmp(op, "vm-functions"))
        return vm_functions(h, req, err);
    if (!strcmp(op, "vm-link"))
        return vm_link(h, req, err);
    if (read_vf_step(req, &s, err))
        return NULL;
    if (!strcmp(op, "vf-assign"))
        rc = vf_assign(h, &s, err);
    else if (!strcmp(op, "vf-set"))
        rc = set_settings(h, &s, err);
    else if (!strcmp(op, "vf-release"))
        rc = vf_release(h, &s, err);
    else
        rc = evr_fail(err, EINVAL, "unknown passthrough step '%s'", op);
    return rc ? NULL : json_object();
}
