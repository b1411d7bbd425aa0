/* A bus keyed by 64-bit address: one instance for port I/O (KVM_EXIT_IO),
 * one for MMIO (KVM_EXIT_MMIO). A device is a struct bus_device with ops and
 * its own lock; it claims ranges [base, base + len) of a bus, each with a
 * region number the ops receive (a PCI function's BAR index, say). Ranges
 * never overlap: a claim that would is refused.
 *
 * Concurrency (why it is shaped this way):
 *   - Every access runs the device's ops under that device's lock, so two
 *     vCPUs reach two devices at once and one device one access at a time.
 *     Devices never need a lock of their own for guest accesses.
 *   - The range table is a sorted array behind a rwlock. A vCPU holds the
 *     read side only for the binary search and copies the range out; it does
 *     not hold it while the device runs. Readers therefore never wait for one
 *     another's devices, and a device op may itself claim or release ranges
 *     (a PCI config write that moves a BAR does): lock order is device lock
 *     first, table lock second, never the other way round.
 *   - A vCPU may thus run an op of a range released an instant before (the
 *     access was in flight when the guest moved the BAR, as on hardware), so
 *     a bus_device lives until the bus is destroyed, never less: devices are
 *     freed only after every vCPU thread has been joined.
 *   - Claims and releases are rare (boot, BAR moves); a sorted array makes
 *     the lookup O(log n) with no allocation on the exit path.
 *
 * Reads of an address no device claims return all ones (as on a PC's
 * buses) and writes are dropped; the caller is told, to count them. */
#ifndef EVR_VMM_BUS_H
#define EVR_VMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* What a device access asks of the VM beyond its own effect. */
enum bus_effect {
    BUS_OK,
    BUS_POWEROFF, /* the guest asked to power off */
    BUS_RESET,    /* the guest asked to reset */
};

struct bus_device;

struct bus_ops {
    /* size is 1, 2, 4 or 8; offset is from the base of the claimed range;
     * region is the number given when the range was claimed. Called with
     * the device's lock held. Either may be NULL (reads then see all ones,
     * writes are dropped). */
    uint64_t (*read)(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size);
    enum bus_effect (*write)(struct bus_device *dev, unsigned region, uint64_t offset,
                             unsigned size, uint64_t value);
};

struct bus_device {
    const char *name; /* in messages */
    const struct bus_ops *ops;
    pthread_mutex_t lock;
};

struct bus_range {
    uint64_t base;
    uint64_t len;
    struct bus_device *dev;
    unsigned region;
};

struct bus {
    const char *name; /* "pio" or "mmio", in messages */
    uint64_t limit;   /* highest address + 1 a range may reach (0x10000 for ports) */
    pthread_rwlock_t table_lock;
    struct bus_range *ranges; /* sorted by base, never overlapping */
    unsigned n, cap;
};

void bus_device_init(struct bus_device *dev, const char *name, const struct bus_ops *ops);
void bus_device_destroy(struct bus_device *dev);

/* limit 0 means the whole 64-bit space. */
void bus_init(struct bus *bus, const char *name, uint64_t limit);
void bus_destroy(struct bus *bus);

/* Claims [base, base + len) for dev. Returns 0, or -1 with errno EEXIST if
 * it overlaps a range already claimed, EINVAL if len is 0 or the range
 * passes the bus's limit, ENOMEM. */
int bus_claim(struct bus *bus, uint64_t base, uint64_t len, struct bus_device *dev,
              unsigned region);

/* Releases the range dev claimed at base; -1 (ENOENT) if there is none. */
int bus_release(struct bus *bus, uint64_t base, struct bus_device *dev);

/* Copies the range holding addr into *out; false if none does. */
bool bus_find(struct bus *bus, uint64_t addr, struct bus_range *out);

/* One access of size 1, 2, 4 or 8 bytes. *handled says whether a device
 * claims addr. An access is routed by its first byte. */
uint64_t bus_read(struct bus *bus, uint64_t addr, unsigned size, bool *handled);
enum bus_effect bus_write(struct bus *bus, uint64_t addr, unsigned size, uint64_t value,
                          bool *handled);

/* All ones in size bytes: what an unclaimed read returns. */
static inline uint64_t bus_all_ones(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

#endif
