/* GSI allocation, the routing table and irqfds; see gsi.h. */
#include "gsi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int kvm_vm_sys_ioctl(int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

void gsi_router_init(struct gsi_router *r, struct kvm_vm *kvm)
{
    memset(r, 0, sizeof(*r));
    r->kvm = kvm;
    pthread_mutex_init(&r->lock, NULL);
}

void gsi_router_destroy(struct gsi_router *r)
{
    pthread_mutex_destroy(&r->lock);
}

static bool is_used(const struct gsi_router *r, unsigned gsi)
{
    return gsi < GSI_MAX && (r->used[gsi / 64] >> (gsi % 64)) & 1;
}

int gsi_alloc(struct gsi_router *r)
{
    int gsi = -1;

    pthread_mutex_lock(&r->lock);
    for (unsigned g = GSI_IOAPIC_PINS; g < GSI_MAX; g++) {
        if (!is_used(r, g)) {
            r->used[g / 64] |= 1ull << (g % 64);
            r->route[g] = (struct gsi_route){0};
            gsi = (int)g;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (gsi < 0)
        errno = ENOSPC;
    return gsi;
}

/* Writes the table into out (at most max entries); returns its length. */
static unsigned build(const struct gsi_router *r, struct kvm_irq_routing_entry *out, unsigned max)
{
    unsigned n = 0;

    /* KVM's own default table: pins 0..15 on both the 8259 pair and the
     * IOAPIC, 16..23 on the IOAPIC only. */
    for (unsigned pin = 0; pin < GSI_IOAPIC_PINS; pin++) {
        if (pin < GSI_PIC_PINS) {
            if (n < max)
                out[n] = (struct kvm_irq_routing_entry){
                        .gsi = pin,
                        .type = KVM_IRQ_ROUTING_IRQCHIP,
                        .u.irqchip = {.irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER
                                                         : KVM_IRQCHIP_PIC_SLAVE,
                                      .pin = pin % 8}};
            n++;
        }
        if (n < max)
            out[n] = (struct kvm_irq_routing_entry){
                    .gsi = pin,
                    .type = KVM_IRQ_ROUTING_IRQCHIP,
                    .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = pin}};
        n++;
    }
    for (unsigned g = GSI_IOAPIC_PINS; g < GSI_MAX; g++) {
        const struct gsi_route *rt = &r->route[g];
        if (!is_used(r, g) || !rt->routed)
            continue;
        if (n < max)
            out[n] = (struct kvm_irq_routing_entry){
                    .gsi = g,
                    .type = KVM_IRQ_ROUTING_MSI,
                    .u.msi = {.address_lo = (uint32_t)rt->addr,
                              .address_hi = (uint32_t)(rt->addr >> 32),
                              .data = rt->data}};
        n++;
    }
    return n;
}

unsigned gsi_routing_entries(struct gsi_router *r, struct kvm_irq_routing_entry *out, unsigned max)
{
    unsigned n;

    pthread_mutex_lock(&r->lock);
    n = build(r, out, max);
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Sends the table; called with the lock held. */
static int send_table(struct gsi_router *r)
{
    unsigned n = build(r, NULL, 0);
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + n * sizeof(t->entries[0]));
    int rc;

    if (!t) {
        errno = ENOMEM;
        return -1;
    }
    t->nr = build(r, t->entries, n);
    rc = kvm_vm_ioctl(r->kvm, KVM_SET_GSI_ROUTING, t);
    free(t);
    if (rc < 0)
        return -1;
    r->tables_sent++;
    return 0;
}

static int set_route(struct gsi_router *r, unsigned gsi, struct gsi_route rt)
{
    struct gsi_route old;
    int rc;

    pthread_mutex_lock(&r->lock);
    if (gsi < GSI_IOAPIC_PINS || !is_used(r, gsi)) {
        pthread_mutex_unlock(&r->lock);
        errno = EINVAL;
        return -1;
    }
    old = r->route[gsi];
    r->route[gsi] = rt;
    rc = send_table(r);
    if (rc)
        r->route[gsi] = old;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int gsi_route_msi(struct gsi_router *r, unsigned gsi, uint64_t addr, uint32_t data)
{
    return set_route(r, gsi, (struct gsi_route){.routed = true, .addr = addr, .data = data});
}

int gsi_unroute(struct gsi_router *r, unsigned gsi)
{
    return set_route(r, gsi, (struct gsi_route){0});
}

void gsi_free(struct gsi_router *r, unsigned gsi)
{
    pthread_mutex_lock(&r->lock);
    if (gsi >= GSI_IOAPIC_PINS && is_used(r, gsi)) {
        bool routed = r->route[gsi].routed;
        r->route[gsi] = (struct gsi_route){0};
        r->used[gsi / 64] &= ~(1ull << (gsi % 64));
        /* If KVM refuses the smaller table, the stale route is harmless:
         * no irqfd is bound to a free GSI. */
        if (routed)
            send_table(r);
    }
    pthread_mutex_unlock(&r->lock);
}

int gsi_irqfd(struct gsi_router *r, unsigned gsi, int efd, bool bind)
{
    struct kvm_irqfd req = {
            .fd = (uint32_t)efd, .gsi = gsi, .flags = bind ? 0 : KVM_IRQFD_FLAG_DEASSIGN};

    if (efd < 0 || gsi >= GSI_MAX) {
        errno = EINVAL;
        return -1;
    }
    return kvm_vm_ioctl(r->kvm, KVM_IRQFD, &req) < 0 ? -1 : 0;
}

int gsi_irqfd_resample(struct gsi_router *r, unsigned gsi, int efd, int resample_efd, bool bind)
{
    struct kvm_irqfd req = {.fd = (uint32_t)efd, .gsi = gsi};

    if (efd < 0 || gsi >= GSI_IOAPIC_PINS || (bind && resample_efd < 0)) {
        errno = EINVAL;
        return -1;
    }
    if (bind) {
        req.flags = KVM_IRQFD_FLAG_RESAMPLE;
        req.resamplefd = (uint32_t)resample_efd;
    } else {
        req.flags = KVM_IRQFD_FLAG_DEASSIGN;
    }
    return kvm_vm_ioctl(r->kvm, KVM_IRQFD, &req) < 0 ? -1 : 0;
}
