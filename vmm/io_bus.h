/* The port I/O bus: devices register port ranges; a vCPU's KVM_EXIT_IO is
 * dispatched to the device owning the port, one access at a time (port I/O
 * is the slow path; one lock keeps every device single-threaded). */
#ifndef EVR_VMM_IO_BUS_H
#define EVR_VMM_IO_BUS_H

#include <pthread.h>
#include <stdint.h>

#define IO_BUS_MAX_RANGES 16

/* What a device access asks of the VM, beyond its own effect. */
enum io_effect {
    IO_OK,
    IO_POWEROFF, /* the guest asked to power off */
    IO_RESET,    /* the guest asked to reset */
};

struct io_dev_ops {
    /* size is 1, 2 or 4; offset is from the range's base port. */
    uint32_t (*read)(void *dev, uint16_t offset, unsigned size);
    enum io_effect (*write)(void *dev, uint16_t offset, unsigned size, uint32_t value);
};

struct io_range {
    uint16_t base;
    uint16_t len;
    const struct io_dev_ops *ops;
    void *dev;
};

struct io_bus {
    pthread_mutex_t lock;
    unsigned n;
    struct io_range ranges[IO_BUS_MAX_RANGES];
};

void io_bus_init(struct io_bus *bus);
void io_bus_destroy(struct io_bus *bus);

/* Returns -1 if the range overlaps another one or the bus is full. */
int io_bus_register(struct io_bus *bus, uint16_t base, uint16_t len, const struct io_dev_ops *ops,
                    void *dev);

/* One access. *handled says whether a device owns the port; reads of a port
 * nobody owns return all ones, as on a real ISA bus. */
uint32_t io_bus_read(struct io_bus *bus, uint16_t port, unsigned size, int *handled);
enum io_effect io_bus_write(struct io_bus *bus, uint16_t port, unsigned size, uint32_t value,
                            int *handled);

#endif
