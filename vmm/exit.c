/* The exit switch; see exit.h. */
#include "exit.h"

#include <string.h>

static const char *const kind_names[EXIT_KIND_COUNT] = {
        [EXIT_KIND_IO] = "io",
        [EXIT_KIND_IO_UNCLAIMED] = "io_unclaimed",
        [EXIT_KIND_MMIO] = "mmio",
        [EXIT_KIND_MMIO_UNCLAIMED] = "mmio_unclaimed",
        [EXIT_KIND_HLT] = "hlt",
        [EXIT_KIND_SHUTDOWN] = "shutdown",
        [EXIT_KIND_INTR] = "intr",
        [EXIT_KIND_SYSTEM_EVENT] = "system_event",
        [EXIT_KIND_FAIL_ENTRY] = "fail_entry",
        [EXIT_KIND_INTERNAL_ERROR] = "internal_error",
        [EXIT_KIND_OTHER] = "other",
};

const char *exit_kind_name(enum exit_kind k)
{
    return k < EXIT_KIND_COUNT ? kind_names[k] : "?";
}

static void count(struct exit_counters *c, enum exit_kind k)
{
    __atomic_store_n(&c->n[k], __atomic_load_n(&c->n[k], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static uint64_t load(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;

    memcpy(&v, p, size); /* x86 guests and hosts are little-endian */
    return v;
}

static enum exit_action action_of(enum bus_effect e, enum exit_action otherwise)
{
    switch (e) {
    case BUS_POWEROFF:
        return EXIT_POWEROFF;
    case BUS_RESET:
        return EXIT_RESET;
    case BUS_OK:
        break;
    }
    return otherwise;
}

static enum exit_action port_io(struct kvm_run *run, struct bus *bus, struct exit_counters *c)
{
    unsigned size = run->io.size;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    enum exit_action action = EXIT_CONTINUE;
    bool handled = true;

    count(c, EXIT_KIND_IO);
    if (size != 1 && size != 2 && size != 4)
        return EXIT_FATAL;
    /* String I/O (rep outsb/insb) arrives as count accesses in a row. */
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_IN) {
            uint64_t v = bus_read(bus, run->io.port, size, &handled);
            memcpy(data, &v, size);
        } else {
            action = action_of(bus_write(bus, run->io.port, size, load(data, size), &handled),
                               action);
        }
    }
    if (!handled)
        count(c, EXIT_KIND_IO_UNCLAIMED);
    return action;
}

/* KVM splits an MMIO access into pieces of at most 8 bytes; a piece whose
 * length is not 1, 2, 4 or 8 (an access across a page, say) goes to the
 * bus byte by byte. */
static enum exit_action mmio(struct kvm_run *run, struct bus *bus, struct exit_counters *c)
{
    unsigned len = run->mmio.len;
    uint64_t addr = run->mmio.phys_addr;
    enum exit_action action = EXIT_CONTINUE;
    bool whole = len == 1 || len == 2 || len == 4 || len == 8;
    unsigned step = whole ? len : 1;
    bool handled = true;

    count(c, EXIT_KIND_MMIO);
    if (len == 0 || len > sizeof(run->mmio.data))
        return EXIT_FATAL;
    for (unsigned off = 0; off < len; off += step) {
        if (run->mmio.is_write) {
            action = action_of(
                    bus_write(bus, addr + off, step, load(run->mmio.data + off, step), &handled),
                    action);
        } else {
            uint64_t v = bus_read(bus, addr + off, step, &handled);
            memcpy(run->mmio.data + off, &v, step);
        }
    }
    if (!handled)
        count(c, EXIT_KIND_MMIO_UNCLAIMED);
    return action;
}

enum exit_action exit_dispatch(struct kvm_run *run, struct bus *pio, struct bus *mmio_bus,
                               struct exit_counters *counters)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return port_io(run, pio, counters);
    case KVM_EXIT_MMIO:
        return mmio(run, mmio_bus, counters);
    case KVM_EXIT_HLT:
        /* Only without an in-kernel LAPIC; evr-vmm always has one. */
        count(counters, EXIT_KIND_HLT);
        return EXIT_CONTINUE;
    case KVM_EXIT_INTR:
        count(counters, EXIT_KIND_INTR);
        return EXIT_INTERRUPTED;
    case KVM_EXIT_SHUTDOWN:
        count(counters, EXIT_KIND_SHUTDOWN);
        return EXIT_TRIPLE_FAULT;
    case KVM_EXIT_SYSTEM_EVENT:
        count(counters, EXIT_KIND_SYSTEM_EVENT);
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            return EXIT_POWEROFF;
        case KVM_SYSTEM_EVENT_RESET:
            return EXIT_RESET;
        default:
            return EXIT_FATAL;
        }
    case KVM_EXIT_FAIL_ENTRY:
        count(counters, EXIT_KIND_FAIL_ENTRY);
        return EXIT_FATAL;
    case KVM_EXIT_INTERNAL_ERROR:
        count(counters, EXIT_KIND_INTERNAL_ERROR);
        return EXIT_FATAL;
    default:
        count(counters, EXIT_KIND_OTHER);
        return EXIT_FATAL;
    }
}
