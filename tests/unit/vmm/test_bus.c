/* Unit tests of the bus (bus.h): claims and overlaps, 64-bit ranges,
 * dispatch with region and offset, release, and the locking promises: two
 * devices run at once, one device runs one access at a time, and a device
 * op may claim ranges (as a BAR move does). A broken promise shows up as a
 * failed assertion or as a test that never ends (meson's timeout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "bus.h"

struct probe {
    struct bus_device dev;
    unsigned region;
    uint64_t offset;
    unsigned size;
    uint64_t value;
    unsigned reads, writes;
};

static uint64_t probe_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    struct probe *p = (struct probe *)dev;

    p->reads++;
    p->region = region;
    p->offset = offset;
    p->size = size;
    return 0xa5a5a5a5a5a5a5a5ull;
}

static enum bus_effect probe_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                   unsigned size, uint64_t value)
{
    struct probe *p = (struct probe *)dev;

    p->writes++;
    p->region = region;
    p->offset = offset;
    p->size = size;
    p->value = value;
    return region == 7 ? BUS_RESET : BUS_OK;
}

static const struct bus_ops probe_ops = {.read = probe_read, .write = probe_write};

static void claims_refuse_overlaps_and_accept_neighbours(void **state)
{
    struct bus bus;
    struct probe a, b;

    (void)state;
    bus_init(&bus, "mmio", 0);
    bus_device_init(&a.dev, "a", &probe_ops);
    bus_device_init(&b.dev, "b", &probe_ops);
    assert_int_equal(bus_claim(&bus, 0x1000, 0x100, &a.dev, 0), 0);
    /* overlapping from below, from above, inside, around, the same */
    assert_int_equal(bus_claim(&bus, 0xf80, 0x81, &b.dev, 0), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(bus_claim(&bus, 0x10ff, 0x10, &b.dev, 0), -1);
    assert_int_equal(bus_claim(&bus, 0x1010, 0x10, &b.dev, 0), -1);
    assert_int_equal(bus_claim(&bus, 0x0, 0x10000, &b.dev, 0), -1);
    assert_int_equal(bus_claim(&bus, 0x1000, 0x100, &b.dev, 0), -1);
    /* touching on either side is fine */
    assert_int_equal(bus_claim(&bus, 0xf00, 0x100, &b.dev, 1), 0);
    assert_int_equal(bus_claim(&bus, 0x1100, 0x100, &b.dev, 2), 0);
    assert_int_equal(bus.n, 3);
    for (unsigned i = 1; i < bus.n; i++)
        assert_true(bus.ranges[i - 1].base + bus.ranges[i - 1].len <= bus.ranges[i].base);
    /* empty ranges are not ranges */
    assert_int_equal(bus_claim(&bus, 0x5000, 0, &b.dev, 0), -1);
    assert_int_equal(errno, EINVAL);
    /* release needs the right device and base */
    assert_int_equal(bus_release(&bus, 0x1000, &b.dev), -1);
    assert_int_equal(bus_release(&bus, 0x1080, &a.dev), -1);
    assert_int_equal(bus_release(&bus, 0x1000, &a.dev), 0);
    assert_int_equal(bus_claim(&bus, 0x1000, 0x100, &b.dev, 3), 0);
    bus_destroy(&bus);
    bus_device_destroy(&a.dev);
    bus_device_destroy(&b.dev);
}

static void ranges_reach_the_top_of_the_64_bit_space(void **state)
{
    struct bus bus, ports;
    struct probe a;
    bool handled;

    (void)state;
    bus_init(&bus, "mmio", 0);
    bus_init(&ports, "pio", 0x10000);
    bus_device_init(&a.dev, "a", &probe_ops);
    assert_int_equal(bus_claim(&bus, 0xfffffffffffff000ull, 0x1001, &a.dev, 0), -1); /* wraps */
    assert_int_equal(bus_claim(&bus, 0xfffffffffffff000ull, 0x1000, &a.dev, 4), 0);
    assert_int_equal(bus_claim(&bus, 0x100000000ull, 0x1000, &a.dev, 5), 0);
    assert_true(bus_read(&bus, 0xffffffffffffffffull, 1, &handled) == 0xa5);
    assert_true(handled);
    assert_int_equal(a.region, 4);
    assert_true(a.offset == 0xfff);
    assert_true(bus_read(&bus, 0x100000008ull, 8, &handled) == 0xa5a5a5a5a5a5a5a5ull);
    assert_int_equal(a.region, 5);
    assert_true(a.offset == 8);
    assert_int_equal(a.size, 8);
    /* the 32-bit truncation of an address is another address */
    assert_true(bus_read(&bus, 0x8, 4, &handled) == 0xffffffff);
    assert_false(handled);
    /* a port bus stops at its limit */
    assert_int_equal(bus_claim(&ports, 0xfff0, 0x11, &a.dev, 0), -1);
    assert_int_equal(bus_claim(&ports, 0xfff0, 0x10, &a.dev, 0), 0);
    bus_destroy(&bus);
    bus_destroy(&ports);
    bus_device_destroy(&a.dev);
}

static void accesses_reach_the_owner_with_region_offset_and_size(void **state)
{
    struct bus bus;
    struct probe a, b;
    bool handled;

    (void)state;
    bus_init(&bus, "pio", 0x10000);
    bus_device_init(&a.dev, "a", &probe_ops);
    bus_device_init(&b.dev, "b", &probe_ops);
    memset(&a.region, 0, sizeof(a) - offsetof(struct probe, region));
    memset(&b.region, 0, sizeof(b) - offsetof(struct probe, region));
    for (unsigned i = 0; i < 40; i++) /* more ranges than the first allocation holds */
        assert_int_equal(bus_claim(&bus, 0x100 + 8 * i, 8, i % 2 ? &b.dev : &a.dev, i), 0);
    assert_int_equal(bus_write(&bus, 0x100 + 8 * 13 + 2, 2, 0x1ffff, &handled), BUS_OK);
    assert_true(handled);
    assert_int_equal(b.writes, 1);
    assert_int_equal(b.region, 13);
    assert_true(b.offset == 2);
    assert_true(b.value == 0xffff); /* cut to the access size */
    assert_int_equal(a.writes, 0);
    assert_int_equal(bus_write(&bus, 0x100 + 8 * 7, 1, 1, &handled), BUS_RESET);
    assert_int_equal(bus_read(&bus, 0x100 + 8 * 20 + 7, 1, &handled), 0xa5);
    assert_int_equal(a.region, 20);
    assert_true(a.offset == 7);
    /* below the first range and above the last */
    assert_int_equal(bus_read(&bus, 0xff, 2, &handled), 0xffff);
    assert_false(handled);
    assert_int_equal(bus_read(&bus, 0x100 + 8 * 40, 1, &handled), 0xff);
    assert_false(handled);
    bus_destroy(&bus);
    bus_device_destroy(&a.dev);
    bus_device_destroy(&b.dev);
}

/* A device whose read blocks until told to go on, and counts how many of
 * its ops run at once. */
struct gate {
    struct bus_device dev;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool block, entered, released;
    int inside, max_inside;
    unsigned ops;
};

static uint64_t gate_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    struct gate *g = (struct gate *)dev;
    int now;

    (void)region;
    (void)offset;
    (void)size;
    /* Counted without a lock of the device's own: only the bus's device
     * lock keeps two ops apart, and the yield gives another thread every
     * chance to come in while this one is inside. */
    now = __atomic_add_fetch(&g->inside, 1, __ATOMIC_SEQ_CST);
    if (now > __atomic_load_n(&g->max_inside, __ATOMIC_SEQ_CST))
        __atomic_store_n(&g->max_inside, now, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&g->ops, 1, __ATOMIC_SEQ_CST);
    sched_yield();
    if (g->block) {
        pthread_mutex_lock(&g->m);
        g->entered = true;
        pthread_cond_broadcast(&g->c);
        while (!g->released)
            pthread_cond_wait(&g->c, &g->m);
        pthread_mutex_unlock(&g->m);
    }
    __atomic_sub_fetch(&g->inside, 1, __ATOMIC_SEQ_CST);
    return 1;
}

static const struct bus_ops gate_ops = {.read = gate_read};

static void gate_init(struct gate *g, const char *name, bool block)
{
    memset(g, 0, sizeof(*g));
    bus_device_init(&g->dev, name, &gate_ops);
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
    g->block = block;
}

static struct bus shared_bus;

static void *read_at(void *arg)
{
    bool handled;

    bus_read(&shared_bus, (uint64_t)(uintptr_t)arg, 4, &handled);
    return NULL;
}

static void two_devices_run_at_once(void **state)
{
    struct gate slow, fast;
    struct probe mover;
    pthread_t t;
    bool handled;

    (void)state;
    bus_init(&shared_bus, "mmio", 0);
    gate_init(&slow, "slow", true);
    gate_init(&fast, "fast", false);
    bus_device_init(&mover.dev, "mover", &probe_ops);
    assert_int_equal(bus_claim(&shared_bus, 0x1000, 0x10, &slow.dev, 0), 0);
    assert_int_equal(bus_claim(&shared_bus, 0x2000, 0x10, &fast.dev, 0), 0);
    pthread_create(&t, NULL, read_at, (void *)(uintptr_t)0x1000);
    pthread_mutex_lock(&slow.m);
    while (!slow.entered)
        pthread_cond_wait(&slow.c, &slow.m);
    pthread_mutex_unlock(&slow.m);
    /* slow's op is running on the other thread: fast still answers, and the
     * table can change (with one lock for all, both would wait forever) */
    assert_int_equal(bus_read(&shared_bus, 0x2000, 4, &handled), 1);
    assert_int_equal(fast.ops, 1);
    assert_int_equal(bus_claim(&shared_bus, 0x3000, 0x10, &mover.dev, 0), 0);
    assert_int_equal(bus_release(&shared_bus, 0x3000, &mover.dev), 0);
    pthread_mutex_lock(&slow.m);
    slow.released = true;
    pthread_cond_broadcast(&slow.c);
    pthread_mutex_unlock(&slow.m);
    pthread_join(t, NULL);
    assert_int_equal(slow.ops, 1);
    bus_destroy(&shared_bus);
    bus_device_destroy(&slow.dev);
    bus_device_destroy(&fast.dev);
    bus_device_destroy(&mover.dev);
}

static void *hammer(void *arg)
{
    for (unsigned i = 0; i < 2000; i++)
        read_at(arg);
    return NULL;
}

static void one_device_runs_one_access_at_a_time(void **state)
{
    struct gate g;
    pthread_t t[4];

    (void)state;
    bus_init(&shared_bus, "pio", 0x10000);
    gate_init(&g, "busy", false);
    /* two ranges of one device: still one access at a time */
    assert_int_equal(bus_claim(&shared_bus, 0x60, 1, &g.dev, 0), 0);
    assert_int_equal(bus_claim(&shared_bus, 0x64, 1, &g.dev, 1), 0);
    for (unsigned i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)(i % 2 ? 0x60 : 0x64));
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(g.ops, 8000);
    assert_int_equal(g.max_inside, 1);
    bus_destroy(&shared_bus);
    bus_device_destroy(&g.dev);
}

/* A device that moves its own second range on every write, as a PCI
 * function's config write moves its BAR. */
struct mover {
    struct bus_device dev;
    uint64_t at;
};

static enum bus_effect move_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                  unsigned size, uint64_t value)
{
    struct mover *m = (struct mover *)dev;

    (void)region;
    (void)offset;
    (void)size;
    if (bus_release(&shared_bus, m->at, dev) == 0 && bus_claim(&shared_bus, value, 16, dev, 1) == 0)
        m->at = value;
    return BUS_OK;
}

static const struct bus_ops move_ops = {.write = move_write};

static void an_op_may_claim_and_release_ranges(void **state)
{
    struct mover m;
    struct bus_range r;
    bool handled;

    (void)state;
    bus_init(&shared_bus, "mmio", 0);
    bus_device_init(&m.dev, "mover", &move_ops);
    m.at = 0x9000;
    assert_int_equal(bus_claim(&shared_bus, 0x100, 4, &m.dev, 0), 0);
    assert_int_equal(bus_claim(&shared_bus, 0x9000, 16, &m.dev, 1), 0);
    bus_write(&shared_bus, 0x100, 4, 0xa000, &handled);
    assert_true(m.at == 0xa000);
    assert_false(bus_find(&shared_bus, 0x9000, &r));
    assert_true(bus_find(&shared_bus, 0xa00f, &r));
    assert_int_equal(r.region, 1);
    bus_destroy(&shared_bus);
    bus_device_destroy(&m.dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(claims_refuse_overlaps_and_accept_neighbours),
            cmocka_unit_test(ranges_reach_the_top_of_the_64_bit_space),
            cmocka_unit_test(accesses_reach_the_owner_with_region_offset_and_size),
            cmocka_unit_test(two_devices_run_at_once),
            cmocka_unit_test(one_device_runs_one_access_at_a_time),
            cmocka_unit_test(an_op_may_claim_and_release_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
