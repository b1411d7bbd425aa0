/* The virtio-pci transport (vmm/virtio_pci.h) with a recording device on
 * the fake KVM machine: capabilities, the common configuration state
 * machine (status, features in halves, queue setup, reset), bad writes
 * refused or DEVICE_NEEDS_RESET, notifications, configuration interrupts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_kvm.h"
#include "msix.h"
#include "pci.h"
#include "virtio_guest.h"
#include "virtio_pci.h"

#define OFFER ((1ull << VIRTIO_F_VERSION_1) | (1ull << 5) | (1ull << 16))
#define QMAX  256

/* The device the transport carries: records what it was told. */
struct rec {
    uint64_t features_set;
    unsigned set_features_calls;
    bool refuse_features;
    bool refuse_queue;
    unsigned starts, stops, resets;
    unsigned last_index;
    struct virtio_queue last;
    bool started[2];
};

static uint64_t rec_features(void *dev)
{
    (void)dev;
    return OFFER;
}

static int rec_set_features(void *dev, uint64_t f, char *err, size_t errlen)
{
    struct rec *r = dev;

    r->set_features_calls++;
    if (r->refuse_features) {
        snprintf(err, errlen, "refused by the test");
        return -1;
    }
    r->features_set = f;
    return 0;
}

static int rec_queue_start(void *dev, unsigned index, const struct virtio_queue *q, char *err,
                           size_t errlen)
{
    struct rec *r = dev;

    if (r->refuse_queue) {
        snprintf(err, errlen, "rings outside guest RAM");
        return -1;
    }
    r->starts++;
    r->last_index = index;
    r->last = *q;
    r->started[index] = true;
    return 0;
}

static void rec_queue_stop(void *dev, unsigned index)
{
    struct rec *r = dev;

    assert_true(r->started[index]); /* only started queues are stopped */
    r->started[index] = false;
    r->stops++;
}

static void rec_reset(void *dev)
{
    struct rec *r = dev;

    /* every queue was stopped before the device reset */
    assert_false(r->started[0] || r->started[1]);
    r->resets++;
}

static uint8_t rec_config_byte(void *dev, unsigned offset)
{
    (void)dev;
    return (uint8_t)(0xa0 + offset);
}

static const struct virtio_device_ops rec_ops = {
        .features = rec_features,
        .set_features = rec_set_features,
        .queue_start = rec_queue_start,
        .queue_stop = rec_queue_stop,
        .reset = rec_reset,
        .config_byte = rec_config_byte,
};

struct fixture {
    struct vmm_config cfg;
    struct machine m;
    struct virtio_pci vp;
    struct rec rec;
    struct virtio_guest g; /* BAR 0 on the machine's MMIO bus */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct virtio_device_info info = {.name = "rec0",
                                      .device_id = 1,
                                      .class_code = 0x020000,
                                      .num_queues = 2,
                                      .queue_max = QMAX,
                                      .config_len = 10,
                                      .ops = &rec_ops};
    char err[256];

    assert_non_null(f);
    assert_int_equal(fake_kvm_machine(&f->m, &f->cfg, false, NULL, NULL), 0);
    info.dev = &f->rec;
    assert_int_equal(virtio_pci_init(&f->vp, &f->m, &info, err, sizeof(err)), 0);
    /* the guest turns memory decoding and bus mastering on */
    pci_cfg_write(f->m.pci, f->vp.fn.slot, 0, PCI_COMMAND, 2,
                  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    f->g = (struct virtio_guest){&f->m.mmio, f->vp.fn.bar[VIRTIO_PCI_BAR].mapped};
    assert_int_not_equal(f->g.bar0, PCI_BAR_UNMAPPED);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    virtio_pci_destroy(&f->vp, &f->m);
    machine_destroy(&f->m);
    free(f);
    return 0;
}

static uint8_t status(struct fixture *f)
{
    return (uint8_t)rd(&f->g, VIRTIO_COMMON_STATUS, 1);
}

static void set_status(struct fixture *f, uint8_t s)
{
    wr(&f->g, VIRTIO_COMMON_STATUS, 1, s);
}

static void write_features(struct fixture *f, uint64_t features)
{
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 0);
    wr(&f->g, VIRTIO_COMMON_GF, 4, (uint32_t)features);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 1);
    wr(&f->g, VIRTIO_COMMON_GF, 4, features >> 32);
}

/* The driver's way up to FEATURES_OK with features. */
static void negotiate(struct fixture *f, uint64_t features)
{
    set_status(f, 0);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    write_features(f, features);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(struct fixture *f, unsigned q, uint16_t size, uint16_t vector,
                        uint64_t base)
{
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, q);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, size);
    wr(&f->g, VIRTIO_COMMON_Q_MSIX, 2, vector);
    wr(&f->g, VIRTIO_COMMON_Q_DESC, 4, (uint32_t)base);
    wr(&f->g, VIRTIO_COMMON_Q_DESC + 4, 4, base >> 32);
    wr(&f->g, VIRTIO_COMMON_Q_AVAIL, 4, (uint32_t)(base + 0x1000));
    wr(&f->g, VIRTIO_COMMON_Q_AVAIL + 4, 4, (base + 0x1000) >> 32);
    wr(&f->g, VIRTIO_COMMON_Q_USED, 8, base + 0x2000);
}

static void capabilities_name_the_regions(void **state)
{
    struct fixture *f = *state;
    struct pci_function *fn = &f->vp.fn;
    unsigned seen = 0, off = pci_get(fn, PCI_CAP_PTR, 1);

    assert_int_equal(pci_get(fn, PCI_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(pci_get(fn, PCI_DEVICE_ID, 2), 0x1041);
    assert_int_equal(pci_get(fn, PCI_REVISION, 1), 1);
    assert_true(pci_get(fn, PCI_SUBSYSTEM_ID, 2) >= 0x40);
    for (unsigned steps = 0; off && steps < 48; steps++, off = pci_get(fn, off + 1, 1)) {
        unsigned type = pci_get(fn, off + 3, 1);
        if (pci_get(fn, off, 1) != VIRTIO_PCI_CAP_VNDR)
            continue;
        assert_int_equal(pci_get(fn, off + 4, 1), VIRTIO_PCI_BAR);
        seen |= 1u << type;
        switch (type) {
        case VIRTIO_PCI_CAP_COMMON:
            assert_int_equal(pci_get(fn, off + 8, 4), VIRTIO_PCI_COMMON_OFF);
            assert_true(pci_get(fn, off + 12, 4) >= 0x38);
            break;
        case VIRTIO_PCI_CAP_NOTIFY:
            assert_int_equal(pci_get(fn, off + 2, 1), VIRTIO_PCI_NOTIFY_CAP_LEN);
            assert_int_equal(pci_get(fn, off + 8, 4), VIRTIO_PCI_NOTIFY_OFF);
            assert_int_equal(pci_get(fn, off + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
            assert_int_equal(pci_get(fn, off + 12, 4), 2 * VIRTIO_PCI_NOTIFY_MULT);
            break;
        case VIRTIO_PCI_CAP_ISR:
            assert_int_equal(pci_get(fn, off + 8, 4), VIRTIO_PCI_ISR_OFF);
            break;
        case VIRTIO_PCI_CAP_DEVICE:
            assert_int_equal(pci_get(fn, off + 8, 4), VIRTIO_PCI_DEVICE_OFF);
            assert_int_equal(pci_get(fn, off + 12, 4), 10);
            break;
        default:
            fail_msg("unexpected virtio capability type %u", type);
        }
    }
    assert_int_equal(seen, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4));
    assert_int_not_equal(pci_cap_find(fn, PCI_CAP_ID_MSIX), 0);
    /* the notify ioeventfds follow BAR 0 */
    assert_int_equal(fake_kvm.ioeventfds, 2);
    assert_int_equal(fake_kvm.last_ioeventfd.addr, f->g.bar0 + VIRTIO_PCI_NOTIFY_OFF + 4);
    assert_int_equal(fake_kvm.last_ioeventfd.len, 2);
    assert_int_equal((int)fake_kvm.last_ioeventfd.fd, f->vp.q[1].kick_fd);
    pci_cfg_write(f->m.pci, fn->slot, 0, PCI_COMMAND, 2, 0);
    assert_int_equal(fake_kvm.ioeventfds, 4);
    assert_true(fake_kvm.last_ioeventfd.flags & KVM_IOEVENTFD_FLAG_DEASSIGN);
}

static void features_negotiate_in_halves(void **state)
{
    struct fixture *f = *state;
    uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << 5);

    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_DF, 4), (uint32_t)OFFER);
    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_DF, 4), OFFER >> 32);
    wr(&f->g, VIRTIO_COMMON_DFSELECT, 4, 2);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_DF, 4), 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_NUMQ, 2), 2);
    negotiate(f, want);
    assert_true(status(f) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(f->rec.features_set, want);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_GF, 4), 1);
    /* fixed once accepted */
    write_features(f, OFFER);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_GF, 4), (uint32_t)want);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                          VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(status(f), 0x0f);
    assert_int_equal(f->rec.set_features_calls, 1);
}

static void features_never_offered_leave_features_ok_clear(void **state)
{
    struct fixture *f = *state;

    negotiate(f, OFFER | (1ull << 40));
    assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(f->rec.set_features_calls, 0);
    /* a bit above 64 written through select 2 */
    set_status(f, 0);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    write_features(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 2);
    wr(&f->g, VIRTIO_COMMON_GF, 4, 1);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);
    /* a legacy driver (no VERSION_1) */
    negotiate(f, 1ull << 5);
    assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);
    /* the device refusing */
    f->rec.refuse_features = true;
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(f->rec.set_features_calls, 1);
    /* DRIVER_OK on top of that needs a reset */
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_false(status(f) & VIRTIO_STATUS_DRIVER_OK);
}

static void queues_start_with_their_eventfds(void **state)
{
    struct fixture *f = *state;

    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_SIZE, 2), QMAX);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_NOFF, 2), 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    setup_queue(f, 1, 64, 2, 0x123456000ull);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_DESC, 4), 0x23456000u);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_DESC + 4, 4), 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_USED, 8), 0x123458000ull);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    assert_int_equal(f->rec.starts, 1);
    assert_int_equal(f->rec.last_index, 1);
    assert_int_equal(f->rec.last.size, 64);
    assert_int_equal(f->rec.last.desc, 0x123456000ull);
    assert_int_equal(f->rec.last.driver, 0x123457000ull);
    assert_int_equal(f->rec.last.device, 0x123458000ull);
    assert_int_equal(f->rec.last.kick_fd, f->vp.q[1].kick_fd);
    assert_int_equal(f->rec.last.call_fd, msix_vector_eventfd(&f->vp.msix, 2));
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 1);
    /* a running queue's layout is fixed */
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 32);
    wr(&f->g, VIRTIO_COMMON_Q_DESC, 8, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_SIZE, 2), 64);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_DESC, 8), 0x123456000ull);
    /* a queue without a vector still gets a call eventfd */
    setup_queue(f, 0, 32, VIRTIO_MSI_NO_VECTOR, 0x10000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    assert_int_equal(f->rec.starts, 2);
    assert_true(f->rec.last.call_fd >= 0);
    assert_int_not_equal(f->rec.last.call_fd, msix_vector_eventfd(&f->vp.msix, 0));
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void reset_stops_every_queue_first(void **state)
{
    struct fixture *f = *state;
    unsigned resets;

    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    resets = f->rec.resets;
    setup_queue(f, 0, 128, 0, 0x10000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    setup_queue(f, 1, 128, 1, 0x20000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    wr(&f->g, VIRTIO_COMMON_MSIX, 2, 2);
    set_status(f, 0);
    assert_int_equal(f->rec.stops, 2);
    assert_int_equal(f->rec.resets, resets + 1);
    assert_int_equal(status(f), 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 1);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_SIZE, 2), QMAX);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_DESC, 8), 0);
    wr(&f->g, VIRTIO_COMMON_GFSELECT, 4, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_GF, 4), 0);
    /* a reset with nothing running stops nothing */
    set_status(f, 0);
    assert_int_equal(f->rec.stops, 2);
    assert_int_equal(f->rec.resets, resets + 2);
}

static void bad_writes_need_a_reset(void **state)
{
    struct fixture *f = *state;
    unsigned bad;

    /* enabling a queue before FEATURES_OK */
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    setup_queue(f, 0, 64, 0, 0x10000);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(f->rec.starts, 0);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 0);
    /* a reset clears it */
    set_status(f, 0);
    assert_int_equal(status(f), 0);
    /* sizes: not a power of two, above the max, zero */
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 0);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 100);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_SIZE, 2), QMAX);
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 2 * QMAX);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 0);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    /* a queue the device refuses (rings outside RAM) */
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    f->rec.refuse_queue = true;
    setup_queue(f, 0, 64, 0, 0xfff00000000ull);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_ENABLE, 2), 0);
    assert_non_null(strstr(f->vp.error, "rings outside guest RAM"));
    f->rec.refuse_queue = false;
    /* clearing a status bit without a reset */
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    /* MSI-X vectors beyond the table read back NO_VECTOR */
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_MSIX, 2, 3); /* 2 queues + 1: vectors 0..2 */
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 0);
    wr(&f->g, VIRTIO_COMMON_Q_MSIX, 2, 0x7ff);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
    wr(&f->g, VIRTIO_COMMON_Q_MSIX, 2, 2);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_MSIX, 2), 2);
    /* dropped: read-only registers, wrong widths, a queue that does not exist */
    bad = f->vp.bad_writes;
    wr(&f->g, VIRTIO_COMMON_NUMQ, 2, 9);
    wr(&f->g, VIRTIO_COMMON_DF, 4, 0xffffffff);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 4, 16);
    wr(&f->g, VIRTIO_COMMON_STATUS - 1, 2, 0);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 7);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 16);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_Q_SIZE, 2), 0);
    wr(&f->g, VIRTIO_PCI_ISR_OFF, 1, 0xff);
    wr(&f->g, VIRTIO_PCI_DEVICE_OFF, 1, 0xff);
    assert_int_equal(f->vp.bad_writes, bad + 7);
    assert_int_equal(rd(&f->g, VIRTIO_COMMON_NUMQ, 2), 2);
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(f->rec.starts, 0);
}

static void needs_reset_after_driver_ok_interrupts(void **state)
{
    struct fixture *f = *state;
    int cfg_fd = msix_vector_eventfd(&f->vp.msix, 2);

    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_MSIX, 2, 2);
    set_status(f, 0x0f);
    eventfd_drain(cfg_fd);
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 0);
    wr(&f->g, VIRTIO_COMMON_Q_ENABLE, 2, 1); /* size QMAX, rings at 0: the device takes it */
    wr(&f->g, VIRTIO_COMMON_Q_SELECT, 2, 1);
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 3);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(eventfd_drain(cfg_fd), 1);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_CONFIG);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_ISR_OFF, 1), 0); /* read clears */
    /* once per reset */
    wr(&f->g, VIRTIO_COMMON_Q_SIZE, 2, 5);
    assert_int_equal(eventfd_drain(cfg_fd), 0);
}

static void config_changes_interrupt_after_driver_ok(void **state)
{
    struct fixture *f = *state;
    int cfg_fd = msix_vector_eventfd(&f->vp.msix, 0);
    uint8_t gen = (uint8_t)rd(&f->g, VIRTIO_COMMON_CFGGEN, 1);

    /* device configuration reads compose the device's bytes */
    assert_int_equal(rd(&f->g, VIRTIO_PCI_DEVICE_OFF + 2, 4), 0xa5a4a3a2);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_DEVICE_OFF + 8, 4), 0xa9a8); /* 10 bytes, then 0 */
    virtio_pci_lock(&f->vp);
    virtio_pci_config_changed(&f->vp);
    virtio_pci_unlock(&f->vp);
    assert_int_equal((uint8_t)rd(&f->g, VIRTIO_COMMON_CFGGEN, 1), (uint8_t)(gen + 1));
    assert_int_equal(rd(&f->g, VIRTIO_PCI_ISR_OFF, 1), 0); /* before DRIVER_OK: no interrupt */
    negotiate(f, 1ull << VIRTIO_F_VERSION_1);
    wr(&f->g, VIRTIO_COMMON_MSIX, 2, 0);
    set_status(f, 0x0f);
    eventfd_drain(cfg_fd);
    virtio_pci_lock(&f->vp);
    virtio_pci_config_changed(&f->vp);
    virtio_pci_unlock(&f->vp);
    assert_int_equal(eventfd_drain(cfg_fd), 1);
    assert_int_equal(rd(&f->g, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_CONFIG);
}

static void trapped_notify_kicks_the_queue(void **state)
{
    struct fixture *f = *state;

    /* the fake KVM takes the ioeventfd but does not act on it: the write
     * reaches the transport, which kicks the queue's eventfd itself */
    eventfd_drain(f->vp.q[1].kick_fd);
    wr(&f->g, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT, 2, 1);
    assert_int_equal(eventfd_drain(f->vp.q[1].kick_fd), 1);
    assert_int_equal(eventfd_drain(f->vp.q[0].kick_fd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(capabilities_name_the_regions, setup, teardown),
            cmocka_unit_test_setup_teardown(features_negotiate_in_halves, setup, teardown),
            cmocka_unit_test_setup_teardown(features_never_offered_leave_features_ok_clear, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(queues_start_with_their_eventfds, setup, teardown),
            cmocka_unit_test_setup_teardown(reset_stops_every_queue_first, setup, teardown),
            cmocka_unit_test_setup_teardown(bad_writes_need_a_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(needs_reset_after_driver_ok_interrupts, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(config_changes_interrupt_after_driver_ok, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(trapped_notify_kicks_the_queue, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
