/* A split virtqueue served by evr-vmm; see virtqueue.h. */
#include "virtqueue.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DESC_BYTES      16u
#define DESC_F_NEXT     1u
#define DESC_F_WRITE    2u
#define DESC_F_INDIRECT 4u
#define AVAIL_F_NO_INTR 1u
#define AVAIL_RING_OFF  4u
#define USED_RING_OFF   4u
#define USED_ELEM_BYTES 8u
#define INDIRECT_MAX    32768u /* descriptors in an indirect table (2.6.5.3.1) */

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* Guest memory the guest writes concurrently: every field is loaded once
 * (atomically for the indexes it publishes) and used from the copy. */
static uint16_t *ptr16(const struct virtq *q, uint64_t gpa)
{
    return guest_mem_ptr(q->mem, gpa, sizeof(uint16_t));
}

static uint16_t load16(const struct virtq *q, uint64_t gpa)
{
    return __atomic_load_n(ptr16(q, gpa), __ATOMIC_ACQUIRE);
}

static void store16(const struct virtq *q, uint64_t gpa, uint16_t v)
{
    __atomic_store_n(ptr16(q, gpa), v, __ATOMIC_RELEASE);
}

static uint64_t avail_bytes(uint16_t size)
{
    return AVAIL_RING_OFF + 2ull * size + 2; /* flags, idx, ring, used_event */
}

static uint64_t used_bytes(uint16_t size)
{
    return USED_RING_OFF + (uint64_t)USED_ELEM_BYTES * size + 2; /* ..., avail_event */
}

int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc,
               uint64_t avail, uint64_t used, bool event_idx, char *err, size_t errlen)
{
    if (size == 0 || (size & (size - 1))) {
        snprintf(err, errlen, "size %u is not a power of two", size);
        return -1;
    }
    if (desc % 16 || avail % 2 || used % 4) {
        snprintf(err, errlen, "rings misaligned (desc 0x%llx, avail 0x%llx, used 0x%llx)",
                 (unsigned long long)desc, (unsigned long long)avail, (unsigned long long)used);
        return -1;
    }
    if (!guest_mem_ptr(mem, desc, (uint64_t)size * DESC_BYTES) ||
        !guest_mem_ptr(mem, avail, avail_bytes(size)) ||
        !guest_mem_ptr(mem, used, used_bytes(size))) {
        snprintf(err, errlen,
                 "rings are not all in guest RAM (desc 0x%llx, avail 0x%llx, used 0x%llx, size %u)",
                 (unsigned long long)desc, (unsigned long long)avail, (unsigned long long)used,
                 size);
        return -1;
    }
    *q = (struct virtq){.mem = mem,
                        .size = size,
                        .desc = desc,
                        .avail = avail,
                        .used = used,
                        .event_idx = event_idx};
    return 0;
}

__attribute__((format(printf, 3, 4))) static int broken(char *err, size_t errlen, const char *what,
                                                        ...)
{
    va_list ap;

    va_start(ap, what);
    vsnprintf(err, errlen, what, ap);
    va_end(ap);
    return -1;
}

static int walk(const struct virtq *q, uint16_t head, struct virtq_chain *c, char *err,
                size_t errlen)
{
    uint64_t table = q->desc;
    uint32_t table_size = q->size;
    uint32_t idx = head;
    bool indirect = false;

    c->head = head;
    c->n = 0;
    for (;;) {
        struct desc d;
        const void *p = guest_mem_ptr(q->mem, table + (uint64_t)idx * DESC_BYTES, DESC_BYTES);

        if (!p)
            return broken(err, errlen, "descriptor %u of chain %u is not in guest RAM", idx, head);
        memcpy(&d, p, sizeof(d));
        if (d.flags & DESC_F_INDIRECT) {
            if (indirect || (d.flags & DESC_F_NEXT))
                return broken(err, errlen,
                              "chain %u: an indirect descriptor in an indirect table or with "
                              "NEXT (descriptor %u)",
                              head, idx);
            if (d.len == 0 || d.len % DESC_BYTES || d.len / DESC_BYTES > INDIRECT_MAX ||
                !guest_mem_ptr(q->mem, d.addr, d.len))
                return broken(err, errlen,
                              "chain %u: indirect table of %u bytes is not whole "
                              "descriptors in guest RAM",
                              head, d.len);
            table = d.addr;
            table_size = d.len / DESC_BYTES;
            idx = 0;
            indirect = true;
            continue;
        }
        if (c->n == VIRTQ_CHAIN_MAX)
            return broken(err, errlen, "chain %u has more than %d buffers (or loops)", head,
                          VIRTQ_CHAIN_MAX);
        if (d.len && !guest_mem_ptr(q->mem, d.addr, d.len))
            return broken(err, errlen, "chain %u: a buffer of %u bytes is not in guest RAM", head,
                          d.len);
        c->buf[c->n++] = (struct virtq_buf){d.addr, d.len, (d.flags & DESC_F_WRITE) != 0};
        if (!(d.flags & DESC_F_NEXT))
            return 0;
        idx = d.next;
        if (idx >= table_size)
            return broken(err, errlen, "chain %u: next descriptor %u is beyond its table", head,
                          idx);
    }
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, char *err, size_t errlen)
{
    uint16_t avail_idx = load16(q, q->avail + 2);

    if (avail_idx == q->last_avail && q->event_idx) {
        /* Ask for a kick at the next buffer, then look again: one the
         * driver made available before it could see the request would
         * otherwise wait for a kick that never comes. */
        store16(q, q->used + USED_RING_OFF + (uint64_t)USED_ELEM_BYTES * q->size, q->last_avail);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail_idx = load16(q, q->avail + 2);
    }
    if (avail_idx == q->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - q->last_avail) > q->size)
        return broken(err, errlen, "avail index %u is more than the ring ahead of %u", avail_idx,
                      q->last_avail);
    uint16_t head = load16(q, q->avail + AVAIL_RING_OFF + 2ull * (q->last_avail % q->size));
    q->last_avail++;
    if (head >= q->size)
        return broken(err, errlen, "avail entry names descriptor %u of a ring of %u", head,
                      q->size);
    return walk(q, head, c, err, errlen) < 0 ? -1 : 1;
}

size_t virtq_read(const struct virtq *q, const struct virtq_chain *c, void *out, size_t len)
{
    size_t total = 0;

    for (unsigned i = 0; i < c->n && !c->buf[i].write; i++) {
        const struct virtq_buf *b = &c->buf[i];
        if (total < len) {
            size_t n = len - total < b->len ? len - total : b->len;
            memcpy((uint8_t *)out + total, guest_mem_ptr(q->mem, b->gpa, b->len), n);
        }
        total += b->len;
    }
    return total;
}

size_t virtq_write(const struct virtq *q, const struct virtq_chain *c, const void *in, size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < c->n && done < len; i++) {
        const struct virtq_buf *b = &c->buf[i];
        if (!b->write || !b->len)
            continue;
        size_t n = len - done < b->len ? len - done : b->len;
        memcpy(guest_mem_ptr(q->mem, b->gpa, b->len), (const uint8_t *)in + done, n);
        done += n;
    }
    return done;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    uint8_t *elem = guest_mem_ptr(
            q->mem, q->used + USED_RING_OFF + (uint64_t)USED_ELEM_BYTES * (q->used_idx % q->size),
            USED_ELEM_BYTES);
    uint32_t id = head;

    memcpy(elem, &id, sizeof(id));
    memcpy(elem + 4, &written, sizeof(written));
    store16(q, q->used + 2, ++q->used_idx); /* release: the entry before the index */
}

bool virtq_need_notify(const struct virtq *q, uint16_t old_used)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the used index out before the driver's word in */
    if (!q->event_idx)
        return !(load16(q, q->avail) & AVAIL_F_NO_INTR);
    uint16_t event = load16(q, q->avail + AVAIL_RING_OFF + 2ull * q->size);
    return (uint16_t)(q->used_idx - event - 1) < (uint16_t)(q->used_idx - old_used);
}
