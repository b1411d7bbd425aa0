/* Range table and dispatch; see bus.h for the locking rules. */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_device_init(struct bus_device *dev, const char *name, const struct bus_ops *ops)
{
    dev->name = name;
    dev->ops = ops;
    pthread_mutex_init(&dev->lock, NULL);
}

void bus_device_destroy(struct bus_device *dev)
{
    pthread_mutex_destroy(&dev->lock);
}

void bus_init(struct bus *bus, const char *name, uint64_t limit)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;
    bus->limit = limit;
    pthread_rwlock_init(&bus->table_lock, NULL);
}

void bus_destroy(struct bus *bus)
{
    free(bus->ranges);
    bus->ranges = NULL;
    bus->n = bus->cap = 0;
    pthread_rwlock_destroy(&bus->table_lock);
}

/* Index of the first range whose base is above addr. */
static unsigned upper_bound(const struct bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->n;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (bus->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether [base, base + len) holds addr; written so that a range ending
 * at 2^64 does not overflow. */
static bool holds(const struct bus_range *r, uint64_t addr)
{
    return addr >= r->base && addr - r->base < r->len;
}

int bus_claim(struct bus *bus, uint64_t base, uint64_t len, struct bus_device *dev, unsigned region)
{
    uint64_t last = base + len - 1;
    unsigned i;
    int rc = -1;

    if (len == 0 || last < base || (bus->limit && last >= bus->limit)) {
        errno = EINVAL;
        return -1;
    }
    pthread_rwlock_wrlock(&bus->table_lock);
    i = upper_bound(bus, base);
    /* The range before may reach into ours, or ours into the one after. */
    if ((i > 0 && holds(&bus->ranges[i - 1], base)) ||
        (i < bus->n && bus->ranges[i].base <= last)) {
        errno = EEXIST;
        goto out;
    }
    if (bus->n == bus->cap) {
        unsigned cap = bus->cap ? bus->cap * 2 : 16;
        struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
        if (!r) {
            errno = ENOMEM;
            goto out;
        }
        bus->ranges = r;
        bus->cap = cap;
    }
    memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->n - i) * sizeof(bus->ranges[0]));
    bus->ranges[i] = (struct bus_range){.base = base, .len = len, .dev = dev, .region = region};
    bus->n++;
    rc = 0;
out:
    pthread_rwlock_unlock(&bus->table_lock);
    return rc;
}

int bus_release(struct bus *bus, uint64_t base, struct bus_device *dev)
{
    unsigned i;
    int rc = -1;

    pthread_rwlock_wrlock(&bus->table_lock);
    i = upper_bound(bus, base);
    if (i > 0 && bus->ranges[i - 1].base == base && bus->ranges[i - 1].dev == dev) {
        i--;
        memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->n - i - 1) * sizeof(bus->ranges[0]));
        bus->n--;
        rc = 0;
    } else {
        errno = ENOENT;
    }
    pthread_rwlock_unlock(&bus->table_lock);
    return rc;
}

bool bus_find(struct bus *bus, uint64_t addr, struct bus_range *out)
{
    bool found = false;
    unsigned i;

    pthread_rwlock_rdlock(&bus->table_lock);
    i = upper_bound(bus, addr);
    if (i > 0 && holds(&bus->ranges[i - 1], addr)) {
        *out = bus->ranges[i - 1];
        found = true;
    }
    pthread_rwlock_unlock(&bus->table_lock);
    return found;
}

uint64_t bus_read(struct bus *bus, uint64_t addr, unsigned size, bool *handled)
{
    struct bus_range r;
    uint64_t v = bus_all_ones(size);

    *handled = bus_find(bus, addr, &r);
    if (*handled && r.dev->ops->read) {
        pthread_mutex_lock(&r.dev->lock);
        v = r.dev->ops->read(r.dev, r.region, addr - r.base, size) & bus_all_ones(size);
        pthread_mutex_unlock(&r.dev->lock);
    }
    return v;
}

enum bus_effect bus_write(struct bus *bus, uint64_t addr, unsigned size, uint64_t value,
                          bool *handled)
{
    struct bus_range r;
    enum bus_effect e = BUS_OK;

    *handled = bus_find(bus, addr, &r);
    if (*handled && r.dev->ops->write) {
        pthread_mutex_lock(&r.dev->lock);
        e = r.dev->ops->write(r.dev, r.region, addr - r.base, size, value & bus_all_ones(size));
        pthread_mutex_unlock(&r.dev->lock);
    }
    return e;
}
