/* A guest's side of a virtio-pci function in the unit tests: accesses to its
 * BAR 0 through the machine's MMIO bus (as KVM_EXIT_MMIO brings them), and
 * the count an eventfd (a kick, an MSI-X vector) was signalled. Include after
 * cmocka.h. */
#ifndef EVR_TEST_VIRTIO_GUEST_H
#define EVR_TEST_VIRTIO_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "bus.h"

/* Where the guest reaches the function: its machine's MMIO bus, BAR 0. */
struct virtio_guest {
    struct bus *mmio;
    uint64_t bar0;
};

static inline uint64_t rd(const struct virtio_guest *g, uint64_t off, unsigned size)
{
    bool handled;
    uint64_t v = bus_read(g->mmio, g->bar0 + off, size, &handled);

    assert_true(handled);
    return v;
}

static inline void wr(const struct virtio_guest *g, uint64_t off, unsigned size, uint64_t v)
{
    bool handled;

    bus_write(g->mmio, g->bar0 + off, size, v, &handled);
    assert_true(handled);
}

/* Signals since the last call (0 if none: the eventfds are non-blocking). */
static inline uint64_t eventfd_drain(int efd)
{
    uint64_t n = 0;

    if (read(efd, &n, sizeof(n)) != sizeof(n))
        return 0;
    return n;
}

#endif
