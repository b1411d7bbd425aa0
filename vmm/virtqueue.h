/* A split virtqueue (virtio 1.1, 2.6) that evr-vmm serves itself rather
 * than a vhost backend: the virtio-net control queue. Everything in it is
 * guest memory the guest may rewrite at any moment, so each field is read
 * once into a local and checked there:
 *
 *   - a head or next index at or beyond the ring size, a chain of more
 *     than VIRTQ_CHAIN_MAX buffers or longer than the ring (a loop), an
 *     indirect table inside an indirect table or one whose length is not
 *     a whole number of descriptors, and a buffer not all in guest RAM
 *     make the queue broken (virtq_pop returns -1 with the reason; the
 *     device then asks for a reset);
 *   - the avail index running more than the ring size ahead of what was
 *     taken is broken too.
 *
 * With VIRTIO_F_EVENT_IDX the device writes avail_event after each pass,
 * so the driver goes on kicking, and interrupts only when used_event asks
 * for it (virtq_need_notify).
 *
 * Not thread-safe: the device's lock serialises the calls. */
#ifndef EVR_VMM_VIRTQUEUE_H
#define EVR_VMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

#define VIRTQ_CHAIN_MAX 16 /* buffers in one chain, indirect ones included */

struct virtq {
    const struct guest_mem *mem;
    uint16_t size;              /* a power of two */
    uint64_t desc, avail, used; /* guest-physical */
    bool event_idx;
    uint16_t last_avail; /* the next avail entry to take */
    uint16_t used_idx;   /* the device's used index */
};

/* One buffer of a chain: where it is and whether the device writes it. */
struct virtq_buf {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

struct virtq_chain {
    uint16_t head;
    unsigned n;
    struct virtq_buf buf[VIRTQ_CHAIN_MAX];
};

/* Starts serving the queue laid out at desc/avail/used from used index
 * next (0 after a reset). -1 with err if the rings are not all in RAM or
 * misaligned. */
int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc,
               uint64_t avail, uint64_t used, bool event_idx, char *err, size_t errlen);

/* Takes the next available chain: 1 with *c filled, 0 if none is
 * available, -1 with err if the ring or the chain is broken. */
int virtq_pop(struct virtq *q, struct virtq_chain *c, char *err, size_t errlen);

/* Copies up to len device-readable bytes of c from offset 0 into out;
 * returns how many the chain's readable part holds in all (may exceed
 * len). */
size_t virtq_read(const struct virtq *q, const struct virtq_chain *c, void *out, size_t len);

/* Writes len bytes into c's device-writable part from its start; returns
 * how many fitted. */
size_t virtq_write(const struct virtq *q, const struct virtq_chain *c, const void *in, size_t len);

/* Returns chain head to the driver with written bytes, and (EVENT_IDX)
 * sets avail_event to what has been taken so the driver kicks again. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/* Whether the driver wants an interrupt for the used entries since
 * old_used (always without EVENT_IDX, unless it set NO_INTERRUPT). */
bool virtq_need_notify(const struct virtq *q, uint16_t old_used);

#endif
