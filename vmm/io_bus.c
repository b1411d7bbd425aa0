/* Port I/O dispatch; see io_bus.h. */
#include "io_bus.h"

void io_bus_init(struct io_bus *bus)
{
    pthread_mutex_init(&bus->lock, NULL);
    bus->n = 0;
}

void io_bus_destroy(struct io_bus *bus)
{
    pthread_mutex_destroy(&bus->lock);
}

int io_bus_register(struct io_bus *bus, uint16_t base, uint16_t len, const struct io_dev_ops *ops,
                    void *dev)
{
    uint32_t end = (uint32_t)base + len;

    if (bus->n == IO_BUS_MAX_RANGES || len == 0 || end > 0x10000)
        return -1;
    for (unsigned i = 0; i < bus->n; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (base < (uint32_t)r->base + r->len && r->base < end)
            return -1;
    }
    bus->ranges[bus->n++] = (struct io_range){.base = base, .len = len, .ops = ops, .dev = dev};
    return 0;
}

static const struct io_range *find(const struct io_bus *bus, uint16_t port)
{
    for (unsigned i = 0; i < bus->n; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (port >= r->base && port - r->base < r->len)
            return r;
    }
    return NULL;
}

uint32_t io_bus_read(struct io_bus *bus, uint16_t port, unsigned size, int *handled)
{
    const struct io_range *r = find(bus, port);
    uint32_t v = size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;

    *handled = r && r->ops->read;
    if (*handled) {
        pthread_mutex_lock(&bus->lock);
        v = r->ops->read(r->dev, (uint16_t)(port - r->base), size);
        pthread_mutex_unlock(&bus->lock);
    }
    return v;
}

enum io_effect io_bus_write(struct io_bus *bus, uint16_t port, unsigned size, uint32_t value,
                            int *handled)
{
    const struct io_range *r = find(bus, port);
    enum io_effect e = IO_OK;

    *handled = r && r->ops->write;
    if (*handled) {
        pthread_mutex_lock(&bus->lock);
        e = r->ops->write(r->dev, (uint16_t)(port - r->base), size, value);
        pthread_mutex_unlock(&bus->lock);
    }
    return e;
}
