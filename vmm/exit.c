/* The exit switch; see exit.h. */
#include "exit.h"

#include <string.h>

static const char *const kind_names[EXIT_KIND_COUNT] = {
        [EXIT_KIND_IO] = "io",
        [EXIT_KIND_IO_UNCLAIMED] = "io_unclaimed",
        [EXIT_KIND_MMIO] = "mmio",
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

static uint32_t load(const uint8_t *p, unsigned size)
{
    uint32_t v = 0;

    memcpy(&v, p, size); /* x86 guests and hosts are little-endian */
    return v;
}

static enum exit_action port_io(struct kvm_run *run, struct io_bus *bus, struct exit_counters *c)
{
    unsigned size = run->io.size;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    enum exit_action action = EXIT_CONTINUE;
    int handled = 1;

    count(c, EXIT_KIND_IO);
    if (size != 1 && size != 2 && size != 4)
        return EXIT_FATAL;
    /* String I/O (rep outsb/insb) arrives as count accesses in a row. */
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (run->io.direction == KVM_EXIT_IO_IN) {
            uint32_t v = io_bus_read(bus, run->io.port, size, &handled);
            memcpy(data, &v, size);
        } else {
            switch (io_bus_write(bus, run->io.port, size, load(data, size), &handled)) {
            case IO_POWEROFF:
                action = EXIT_POWEROFF;
                break;
            case IO_RESET:
                action = EXIT_RESET;
                break;
            case IO_OK:
                break;
            }
        }
    }
    if (!handled)
        count(c, EXIT_KIND_IO_UNCLAIMED);
    return action;
}

enum exit_action exit_dispatch(struct kvm_run *run, struct io_bus *bus,
                               struct exit_counters *counters)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return port_io(run, bus, counters);
    case KVM_EXIT_MMIO:
        /* No MMIO device yet: reads see all ones, writes are dropped. */
        count(counters, EXIT_KIND_MMIO);
        if (!run->mmio.is_write)
            memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        return EXIT_CONTINUE;
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
