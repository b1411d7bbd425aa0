/* What a vCPU does after KVM_RUN returns: one switch over the exit reason,
 * counted per reason; port I/O and MMIO go to their bus (bus.h). Kept apart from the vCPU thread so that it can be
 * driven with a hand-made struct kvm_run in unit tests. */
#ifndef EVR_VMM_EXIT_H
#define EVR_VMM_EXIT_H

#include <linux/kvm.h>
#include <stdint.h>

#include "bus.h"

enum exit_kind {
    EXIT_KIND_IO,
    EXIT_KIND_IO_UNCLAIMED, /* port I/O to a port no device owns (also counted as io) */
    EXIT_KIND_MMIO,
    EXIT_KIND_MMIO_UNCLAIMED, /* MMIO to an address no device claims (also counted as mmio) */
    EXIT_KIND_HLT,
    EXIT_KIND_SHUTDOWN,
    EXIT_KIND_INTR,
    EXIT_KIND_SYSTEM_EVENT,
    EXIT_KIND_FAIL_ENTRY,
    EXIT_KIND_INTERNAL_ERROR,
    EXIT_KIND_OTHER,
    EXIT_KIND_COUNT
};

/* Counters of one vCPU; written by its thread, read by anyone (relaxed). */
struct exit_counters {
    uint64_t n[EXIT_KIND_COUNT];
};

enum exit_action {
    EXIT_CONTINUE,    /* run the vCPU again */
    EXIT_INTERRUPTED, /* a signal: look at pause/stop requests, then run again */
    EXIT_POWEROFF,
    EXIT_RESET,
    EXIT_TRIPLE_FAULT,
    EXIT_FATAL, /* entry failure, internal error or an exit evr-vmm does not know */
};

const char *exit_kind_name(enum exit_kind k);

/* Handles the exit described by run (KVM_RUN returned 0): port I/O goes to
 * pio, MMIO to mmio. */
enum exit_action exit_dispatch(struct kvm_run *run, struct bus *pio, struct bus *mmio,
                               struct exit_counters *counters);

#endif
