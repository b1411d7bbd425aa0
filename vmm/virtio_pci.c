/* The virtio 1.x PCI transport; see virtio_pci.h. */
#include "virtio_pci.h"
#include "ioeventfd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The fields of struct virtio_pci_common_cfg: offset and width. */
static const struct {
    uint8_t off, width;
} common_fields[] = {
        {VIRTIO_COMMON_DFSELECT, 4}, {VIRTIO_COMMON_DF, 4},     {VIRTIO_COMMON_GFSELECT, 4},
        {VIRTIO_COMMON_GF, 4},       {VIRTIO_COMMON_MSIX, 2},   {VIRTIO_COMMON_NUMQ, 2},
        {VIRTIO_COMMON_STATUS, 1},   {VIRTIO_COMMON_CFGGEN, 1}, {VIRTIO_COMMON_Q_SELECT, 2},
        {VIRTIO_COMMON_Q_SIZE, 2},   {VIRTIO_COMMON_Q_MSIX, 2}, {VIRTIO_COMMON_Q_ENABLE, 2},
        {VIRTIO_COMMON_Q_NOFF, 2},   {VIRTIO_COMMON_Q_DESC, 8}, {VIRTIO_COMMON_Q_AVAIL, 8},
        {VIRTIO_COMMON_Q_USED, 8},
};

/* What a guest did wrong goes to stderr, but a guest that does it in a
 * loop (reset, bad write, reset...) must not flood the log: the first
 * VIRTIO_PCI_MESSAGES per device are said, the rest only counted. */
void virtio_pci_say(struct virtio_pci *vp, const char *what, const char *why)
{
    if (vp->messages < VIRTIO_PCI_MESSAGES)
        fprintf(stderr, "evr-vmm: %s: %s%s%s\n", vp->info.name, what, why,
                ++vp->messages == VIRTIO_PCI_MESSAGES ? " (further ones not said)" : "");
}

void virtio_pci_lock(struct virtio_pci *vp)
{
    pthread_mutex_lock(&vp->fn.dev.lock);
}

void virtio_pci_unlock(struct virtio_pci *vp)
{
    pthread_mutex_unlock(&vp->fn.dev.lock);
}

static struct virtio_pci_queue *selected(struct virtio_pci *vp)
{
    return vp->queue_select < vp->info.num_queues ? &vp->q[vp->queue_select] : NULL;
}

static void config_interrupt(struct virtio_pci *vp)
{
    if (!(vp->status & VIRTIO_STATUS_DRIVER_OK))
        return;
    vp->isr |= VIRTIO_ISR_CONFIG;
    if (vp->config_vector != VIRTIO_MSI_NO_VECTOR)
        msix_notify(&vp->msix, vp->config_vector);
}

void virtio_pci_config_changed(struct virtio_pci *vp)
{
    vp->config_generation++;
    config_interrupt(vp);
}

void virtio_pci_needs_reset(struct virtio_pci *vp, const char *why)
{
    vp->bad_writes++;
    if (vp->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    snprintf(vp->error, sizeof(vp->error), "%s", why);
    virtio_pci_say(vp, "device needs reset: ", why);
    vp->status |= VIRTIO_STATUS_NEEDS_RESET;
    config_interrupt(vp);
}

static void queue_defaults(struct virtio_pci *vp)
{
    for (unsigned i = 0; i < vp->info.num_queues; i++) {
        struct virtio_pci_queue *q = &vp->q[i];
        q->size = vp->info.queue_max;
        q->vector = VIRTIO_MSI_NO_VECTOR;
        q->enabled = false;
        q->desc = q->driver = q->device = 0;
    }
}

static void device_reset(struct virtio_pci *vp)
{
    /* Every queue stops before the device resets (vhost_user.h: stop all
     * before any restarts). */
    for (unsigned i = 0; i < vp->info.num_queues; i++)
        if (vp->q[i].enabled)
            vp->info.ops->queue_stop(vp->info.dev, i);
    if (vp->info.ops->reset)
        vp->info.ops->reset(vp->info.dev);
    vp->status = 0;
    vp->device_feature_select = vp->driver_feature_select = 0;
    vp->driver_features = 0;
    vp->driver_features_unknown = false;
    vp->config_vector = VIRTIO_MSI_NO_VECTOR;
    vp->queue_select = 0;
    vp->isr = 0;
    vp->error[0] = '\0';
    queue_defaults(vp);
    vp->resets++;
}

static uint64_t common_field(struct virtio_pci *vp, unsigned off)
{
    struct virtio_pci_queue *q = selected(vp);
    uint64_t offered;

    switch (off) {
    case VIRTIO_COMMON_DFSELECT:
        return vp->device_feature_select;
    case VIRTIO_COMMON_DF:
        offered = vp->info.ops->features(vp->info.dev);
        return vp->device_feature_select == 0   ? (uint32_t)offered
               : vp->device_feature_select == 1 ? offered >> 32
                                                : 0;
    case VIRTIO_COMMON_GFSELECT:
        return vp->driver_feature_select;
    case VIRTIO_COMMON_GF:
        return vp->driver_feature_select == 0   ? (uint32_t)vp->driver_features
               : vp->driver_feature_select == 1 ? vp->driver_features >> 32
                                                : 0;
    case VIRTIO_COMMON_MSIX:
        return vp->config_vector;
    case VIRTIO_COMMON_NUMQ:
        return vp->info.num_queues;
    case VIRTIO_COMMON_STATUS:
        return vp->status;
    case VIRTIO_COMMON_CFGGEN:
        return vp->config_generation;
    case VIRTIO_COMMON_Q_SELECT:
        return vp->queue_select;
    case VIRTIO_COMMON_Q_SIZE:
        return q ? q->size : 0; /* 0: no such queue */
    case VIRTIO_COMMON_Q_MSIX:
        return q ? q->vector : VIRTIO_MSI_NO_VECTOR;
    case VIRTIO_COMMON_Q_ENABLE:
        return q ? q->enabled : 0;
    case VIRTIO_COMMON_Q_NOFF:
        return q ? vp->queue_select : 0;
    case VIRTIO_COMMON_Q_DESC:
        return q ? q->desc : 0;
    case VIRTIO_COMMON_Q_AVAIL:
        return q ? q->driver : 0;
    case VIRTIO_COMMON_Q_USED:
        return q ? q->device : 0;
    }
    return 0;
}

/* Reads compose byte lanes, so any width at any offset reads what the
 * fields hold (the spec asks drivers for the field's width; a reader of
 * another width still sees consistent bytes). */
static uint64_t common_read(struct virtio_pci *vp, uint64_t offset, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        uint64_t o = offset + i;
        for (size_t f = 0; f < sizeof(common_fields) / sizeof(common_fields[0]); f++) {
            unsigned start = common_fields[f].off;
            if (o >= start && o < start + common_fields[f].width) {
                uint64_t field = common_field(vp, start);
                v |= ((field >> (8 * (o - start))) & 0xff) << (8 * i);
                break;
            }
        }
    }
    return v;
}

static uint16_t checked_vector(struct virtio_pci *vp, uint64_t value)
{
    /* A vector the table does not have is refused by reading back
     * NO_VECTOR (4.1.5.1.2): the driver checks it. */
    if (value != VIRTIO_MSI_NO_VECTOR && value >= vp->msix.nvec) {
        vp->bad_writes++;
        return VIRTIO_MSI_NO_VECTOR;
    }
    return (uint16_t)value;
}

static void features_ok(struct virtio_pci *vp, uint8_t *next)
{
    uint64_t offered = vp->info.ops->features(vp->info.dev);
    char why[256], err[200];

    if (vp->driver_features_unknown) {
        snprintf(why, sizeof(why), "driver features include a bit above 63, never offered");
    } else if (vp->driver_features & ~offered) {
        snprintf(why, sizeof(why), "driver features 0x%llx include 0x%llx never offered",
                 (unsigned long long)vp->driver_features,
                 (unsigned long long)(vp->driver_features & ~offered));
    } else if (!(vp->driver_features & (1ull << VIRTIO_F_VERSION_1))) {
        snprintf(why, sizeof(why), "driver features 0x%llx lack VERSION_1 (modern only)",
                 (unsigned long long)vp->driver_features);
    } else if (vp->info.ops->set_features(vp->info.dev, vp->driver_features, err, sizeof(err))) {
        snprintf(why, sizeof(why), "features refused: %s", err);
    } else {
        return;
    }
    /* FEATURES_OK stays clear: the driver reads the status back and gives up. */
    *next &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    vp->bad_writes++;
    snprintf(vp->error, sizeof(vp->error), "%s", why);
    virtio_pci_say(vp, "", why);
}

static void status_write(struct virtio_pci *vp, uint8_t value)
{
    uint8_t next;

    if (value == 0) {
        device_reset(vp);
        return;
    }
    if ((value & vp->status & ~VIRTIO_STATUS_NEEDS_RESET) !=
        (vp->status & ~VIRTIO_STATUS_NEEDS_RESET)) {
        virtio_pci_needs_reset(vp, "the driver cleared device status bits without a reset");
        return;
    }
    next = (uint8_t)((value & ~VIRTIO_STATUS_NEEDS_RESET) |
                     (vp->status & VIRTIO_STATUS_NEEDS_RESET));
    if ((next & VIRTIO_STATUS_FEATURES_OK) && !(vp->status & VIRTIO_STATUS_FEATURES_OK))
        features_ok(vp, &next);
    if ((next & VIRTIO_STATUS_DRIVER_OK) && !(next & VIRTIO_STATUS_FEATURES_OK)) {
        vp->status = next & (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
        virtio_pci_needs_reset(vp, "DRIVER_OK without FEATURES_OK");
        return;
    }
    vp->status = next;
}

static void queue_enable(struct virtio_pci *vp, struct virtio_pci_queue *q, uint64_t value)
{
    struct virtio_queue vq;
    char err[200], why[256];

    if (value != 1 || q->enabled) {
        vp->bad_writes++; /* 0 is not a write a 1.1 driver makes; 1 again is a no-op */
        return;
    }
    if (!(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
        snprintf(why, sizeof(why), "queue %u enabled before FEATURES_OK", vp->queue_select);
        virtio_pci_needs_reset(vp, why);
        return;
    }
    vq = (struct virtio_queue){.size = q->size,
                               .desc = q->desc,
                               .driver = q->driver,
                               .device = q->device,
                               .kick_fd = q->kick_fd,
                               .call_fd = q->vector == VIRTIO_MSI_NO_VECTOR
                                                  ? vp->spare_call_fd
                                                  : msix_vector_eventfd(&vp->msix, q->vector)};
    if (vp->info.ops->queue_start(vp->info.dev, vp->queue_select, &vq, err, sizeof(err))) {
        snprintf(why, sizeof(why), "queue %u refused: %s", vp->queue_select, err);
        virtio_pci_needs_reset(vp, why);
        return;
    }
    q->enabled = true;
}

static void set_half(uint64_t *field, uint64_t offset_in_field, unsigned size, uint64_t value)
{
    if (size == 8)
        *field = value;
    else if (offset_in_field == 0)
        *field = (*field & 0xffffffff00000000ull) | (uint32_t)value;
    else
        *field = (*field & 0xffffffffull) | (uint64_t)(uint32_t)value << 32;
}

static void common_write(struct virtio_pci *vp, uint64_t offset, unsigned size, uint64_t value)
{
    struct virtio_pci_queue *q = selected(vp);
    unsigned start = 0, width = 0;

    for (size_t f = 0; f < sizeof(common_fields) / sizeof(common_fields[0]); f++) {
        if (offset >= common_fields[f].off &&
            offset < (uint64_t)common_fields[f].off + common_fields[f].width) {
            start = common_fields[f].off;
            width = common_fields[f].width;
            break;
        }
    }
    /* A write is the field's width at its start; a 64-bit field also takes
     * either 32-bit half (how Linux writes them). Anything else is dropped. */
    if (!width || !((offset == start && size == width) ||
                    (width == 8 && size == 4 && (offset - start) % 4 == 0))) {
        vp->bad_writes++;
        return;
    }
    switch (start) {
    case VIRTIO_COMMON_DFSELECT:
        vp->device_feature_select = (uint32_t)value;
        return;
    case VIRTIO_COMMON_GFSELECT:
        vp->driver_feature_select = (uint32_t)value;
        return;
    case VIRTIO_COMMON_GF:
        if (vp->status & VIRTIO_STATUS_FEATURES_OK) {
            vp->bad_writes++; /* features are fixed once accepted */
        } else if (vp->driver_feature_select == 0) {
            vp->driver_features = (vp->driver_features & ~0xffffffffull) | (uint32_t)value;
        } else if (vp->driver_feature_select == 1) {
            vp->driver_features = (vp->driver_features & 0xffffffffull) | value << 32;
        } else if (value) {
            vp->driver_features_unknown = true;
        }
        return;
    case VIRTIO_COMMON_MSIX:
        vp->config_vector = checked_vector(vp, value);
        return;
    case VIRTIO_COMMON_STATUS:
        status_write(vp, (uint8_t)value);
        return;
    case VIRTIO_COMMON_Q_SELECT:
        vp->queue_select = (uint16_t)value;
        return;
    default:
        break;
    }
    if (start < VIRTIO_COMMON_Q_SIZE || start == VIRTIO_COMMON_Q_NOFF) {
        vp->bad_writes++; /* device_feature, num_queues, config_generation: read-only */
        return;
    }
    /* The selected queue's registers. */
    if (!q || (q->enabled && start != VIRTIO_COMMON_Q_ENABLE)) {
        vp->bad_writes++; /* no such queue, or it runs: its layout is fixed */
        return;
    }
    switch (start) {
    case VIRTIO_COMMON_Q_SIZE:
        if (value == 0 || (value & (value - 1)) || value > vp->info.queue_max) {
            char why[96];
            snprintf(why, sizeof(why), "queue %u size %llu is not a power of two up to %u",
                     vp->queue_select, (unsigned long long)value, vp->info.queue_max);
            virtio_pci_needs_reset(vp, why);
            return;
        }
        q->size = (uint16_t)value;
        return;
    case VIRTIO_COMMON_Q_MSIX:
        q->vector = checked_vector(vp, value);
        return;
    case VIRTIO_COMMON_Q_ENABLE:
        queue_enable(vp, q, value);
        return;
    case VIRTIO_COMMON_Q_DESC:
        set_half(&q->desc, offset - start, size, value);
        return;
    case VIRTIO_COMMON_Q_AVAIL:
        set_half(&q->driver, offset - start, size, value);
        return;
    case VIRTIO_COMMON_Q_USED:
        set_half(&q->device, offset - start, size, value);
        return;
    }
}

static uint64_t regs_read(struct pci_function *fn, unsigned bar, uint64_t offset, unsigned size)
{
    struct virtio_pci *vp = fn->priv;
    uint64_t v = 0;

    if (bar != VIRTIO_PCI_BAR)
        return bus_all_ones(size);
    if (offset < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN)
        return common_read(vp, offset - VIRTIO_PCI_COMMON_OFF, size);
    if (offset >= VIRTIO_PCI_ISR_OFF && offset < VIRTIO_PCI_ISR_OFF + 4) {
        /* Reading the ISR clears it (4.1.4.5). */
        if (offset == VIRTIO_PCI_ISR_OFF) {
            v = vp->isr;
            vp->isr = 0;
        }
        return v;
    }
    if (offset >= VIRTIO_PCI_DEVICE_OFF && offset < VIRTIO_PCI_DEVICE_OFF + vp->info.config_len) {
        for (unsigned i = 0; i < size; i++) {
            uint64_t o = offset - VIRTIO_PCI_DEVICE_OFF + i;
            if (o < vp->info.config_len)
                v |= (uint64_t)vp->info.ops->config_byte(vp->info.dev, (unsigned)o) << (8 * i);
        }
        return v;
    }
    return 0;
}

static enum bus_effect regs_write(struct pci_function *fn, unsigned bar, uint64_t offset,
                                  unsigned size, uint64_t value)
{
    struct virtio_pci *vp = fn->priv;

    if (bar != VIRTIO_PCI_BAR)
        return BUS_OK;
    if (offset < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
        common_write(vp, offset - VIRTIO_PCI_COMMON_OFF, size, value);
    } else if (offset >= VIRTIO_PCI_NOTIFY_OFF &&
               offset < VIRTIO_PCI_NOTIFY_OFF +
                                (uint64_t)vp->info.num_queues * VIRTIO_PCI_NOTIFY_MULT) {
        /* A notification KVM did not take (its ioeventfd could not be
         * assigned): pass it on to the queue's kick eventfd all the same. */
        unsigned index = (unsigned)((offset - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT);
        uint64_t one = 1;
        if (write(vp->q[index].kick_fd, &one, sizeof(one)) != sizeof(one))
            vp->bad_writes++; /* a saturated counter: the kick is pending anyway */
    } else {
        vp->bad_writes++; /* ISR, device configuration and the gaps are read-only */
    }
    return BUS_OK;
}

static struct ioeventfd kick_ioeventfd(const struct virtio_pci *vp, unsigned index, uint64_t bar)
{
    return (struct ioeventfd){.addr = bar + VIRTIO_PCI_NOTIFY_OFF + index * VIRTIO_PCI_NOTIFY_MULT,
                              .len = 2, /* the driver writes the 16-bit queue index */
                              .efd = vp->q[index].kick_fd};
}

static int bar_activate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    struct virtio_pci *vp = fn->priv;

    if (pci_bar_trap(fn, bar, addr))
        return -1;
    if (bar != VIRTIO_PCI_BAR)
        return 0;
    vp->notify_addr = addr;
    for (unsigned i = 0; i < vp->info.num_queues; i++) {
        struct ioeventfd e = kick_ioeventfd(vp, i, addr);
        /* Without it the trapped write still kicks (regs_write): slower,
         * not wrong. */
        vp->q[i].kick_assigned = ioeventfd_assign(vp->kvm, &e) == 0;
    }
    return 0;
}

static void bar_deactivate(struct pci_function *fn, unsigned bar, uint64_t addr)
{
    struct virtio_pci *vp = fn->priv;

    if (bar == VIRTIO_PCI_BAR) {
        for (unsigned i = 0; i < vp->info.num_queues; i++) {
            struct ioeventfd e = kick_ioeventfd(vp, i, addr);
            if (vp->q[i].kick_assigned)
                ioeventfd_deassign(vp->kvm, &e);
            vp->q[i].kick_assigned = false;
        }
        vp->notify_addr = PCI_BAR_UNMAPPED;
    }
    pci_bar_untrap(fn, bar, addr);
}

static unsigned counters(struct pci_function *fn, struct pci_counter *out)
{
    struct virtio_pci *vp = fn->priv;

    out[0] = (struct pci_counter){"bad_writes", __atomic_load_n(&vp->bad_writes, __ATOMIC_RELAXED)};
    out[1] = (struct pci_counter){"resets", __atomic_load_n(&vp->resets, __ATOMIC_RELAXED)};
    return 2;
}

static const struct pci_function_ops virtio_pci_ops = {
        .bar_read = regs_read,
        .bar_write = regs_write,
        .bar_activate = bar_activate,
        .bar_deactivate = bar_deactivate,
        .counters = counters,
};

static bool add_cap(struct pci_function *fn, uint8_t type, uint32_t offset, uint32_t length,
                    bool notify)
{
    unsigned at = pci_cap_add(fn, VIRTIO_PCI_CAP_VNDR,
                              notify ? VIRTIO_PCI_NOTIFY_CAP_LEN : VIRTIO_PCI_CAP_LEN);

    if (!at)
        return false;
    pci_set(fn->cfg, at + 2, 1, notify ? VIRTIO_PCI_NOTIFY_CAP_LEN : VIRTIO_PCI_CAP_LEN);
    pci_set(fn->cfg, at + 3, 1, type);
    pci_set(fn->cfg, at + 4, 1, VIRTIO_PCI_BAR);
    pci_set(fn->cfg, at + 8, 4, offset);
    pci_set(fn->cfg, at + 12, 4, length);
    if (notify)
        pci_set(fn->cfg, at + 16, 4, VIRTIO_PCI_NOTIFY_MULT);
    return true;
}

static void close_fds(struct virtio_pci *vp)
{
    for (unsigned i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++) {
        if (vp->q[i].kick_fd >= 0)
            close(vp->q[i].kick_fd);
        vp->q[i].kick_fd = -1;
    }
    if (vp->spare_call_fd >= 0)
        close(vp->spare_call_fd);
    vp->spare_call_fd = -1;
}

int virtio_pci_init(struct virtio_pci *vp, struct machine *m, const struct virtio_device_info *info,
                    char *err, size_t errlen)
{
    bool msix_ready = false;

    memset(vp, 0, sizeof(*vp));
    for (unsigned i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++)
        vp->q[i].kick_fd = -1;
    vp->spare_call_fd = -1;
    vp->notify_addr = PCI_BAR_UNMAPPED;
    vp->info = *info;
    vp->kvm = &m->kvm;
    vp->config_vector = VIRTIO_MSI_NO_VECTOR;
    if (!m->pci) {
        snprintf(err, errlen, "%s: no PCI host", info->name);
        return -1;
    }
    if (info->num_queues < 1 || info->num_queues > VIRTIO_PCI_MAX_QUEUES || info->queue_max == 0 ||
        (info->queue_max & (info->queue_max - 1)) || info->queue_max > 32768 ||
        info->config_len > VIRTIO_PCI_DEVICE_MAX) {
        snprintf(err, errlen, "%s: %u queues of %u, %u bytes of configuration: not a device",
                 info->name, info->num_queues, info->queue_max, info->config_len);
        return -1;
    }
    for (unsigned i = 0; i < info->num_queues; i++) {
        vp->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vp->q[i].kick_fd < 0) {
            snprintf(err, errlen, "%s: eventfd: %s", info->name, strerror(errno));
            close_fds(vp);
            return -1;
        }
    }
    vp->spare_call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vp->spare_call_fd < 0) {
        snprintf(err, errlen, "%s: eventfd: %s", info->name, strerror(errno));
        close_fds(vp);
        return -1;
    }
    queue_defaults(vp);
    pci_function_init(&vp->fn, info->name, VIRTIO_PCI_VENDOR,
                      (uint16_t)(VIRTIO_PCI_DEVICE_BASE + info->device_id), info->class_code,
                      &virtio_pci_ops, vp);
    pci_set(vp->fn.cfg, PCI_REVISION, 1, VIRTIO_PCI_REVISION);
    pci_set(vp->fn.cfg, PCI_SUBSYSTEM_VENDOR, 2, VIRTIO_PCI_VENDOR);
    pci_set(vp->fn.cfg, PCI_SUBSYSTEM_ID, 2, 0x40 + info->device_id); /* >= 0x40: modern */
    if (pci_bar_add(&vp->fn, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false) ||
        pci_bar_add(&vp->fn, VIRTIO_PCI_MSIX_BAR, PCI_BAR_MEM64, VIRTIO_PCI_MSIX_SIZE, false)) {
        snprintf(err, errlen, "%s: BARs refused", info->name);
        goto fail;
    }
    if (!add_cap(&vp->fn, VIRTIO_PCI_CAP_COMMON, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN,
                 false) ||
        !add_cap(&vp->fn, VIRTIO_PCI_CAP_ISR, VIRTIO_PCI_ISR_OFF, 1, false) ||
        (info->config_len && !add_cap(&vp->fn, VIRTIO_PCI_CAP_DEVICE, VIRTIO_PCI_DEVICE_OFF,
                                      info->config_len, false)) ||
        !add_cap(&vp->fn, VIRTIO_PCI_CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFF,
                 info->num_queues * VIRTIO_PCI_NOTIFY_MULT, true)) {
        snprintf(err, errlen, "%s: configuration space full", info->name);
        goto fail;
    }
    if (msix_init(&vp->msix, &vp->fn, &m->gsi, info->num_queues + 1, VIRTIO_PCI_MSIX_BAR, 0,
                  VIRTIO_PCI_MSIX_BAR, VIRTIO_PCI_PBA_OFF, err, errlen))
        goto fail;
    msix_ready = true;
    if (pci_host_add(m->pci, PCI_SLOT_ANY, &vp->fn, err, errlen))
        goto fail;
    return 0;
fail:
    if (msix_ready)
        msix_destroy(&vp->msix);
    pci_function_destroy(&vp->fn);
    close_fds(vp);
    return -1;
}

void virtio_pci_destroy(struct virtio_pci *vp, struct machine *m)
{
    if (m->pci)
        pci_host_remove(m->pci, &vp->fn); /* unmaps BAR 0: the ioeventfds go */
    msix_destroy(&vp->msix);
    pci_function_destroy(&vp->fn);
    close_fds(vp);
}
