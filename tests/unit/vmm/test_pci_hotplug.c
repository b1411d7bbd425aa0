/* Unit tests of ACPI PCI hotplug: the register state machine of
 * pci_hotplug.c through the port bus, as the guest's AML reaches it, on the
 * machine of the device table over the fake KVM (the SCI's level recorded);
 * and the AML acpi.c emits for it, decoded term by term: one device per
 * hotpluggable slot with its _ADR, _SUN, _STA and _EJ0, the notify method
 * and the GPE method, the FADT's GPE0 block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acpi.h"
#include "config.h"
#include "device.h"
#include "fake_kvm.h"
#include "fw_bytes.h"
#include "layout.h"
#include "pci.h"
#include "pci_hotplug.h"

#define UP      (PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_UP)
#define DOWN    (PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_DOWN)
#define EJECT   (PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_EJECT)
#define PRESENT (PORT_PCI_HOTPLUG + PCI_HOTPLUG_REG_PRESENT)
#define GPE_STS PORT_ACPI_GPE0
#define GPE_EN  (PORT_ACPI_GPE0 + 2)
#define GPE_BIT (1u << PCI_HOTPLUG_GPE)

/* A machine with pci-test (slot 1, not removable) and two removable
 * functions plugged at runtime, as device-add puts passthrough ones. */
struct t {
    struct vmm_config cfg;
    struct machine m;
    struct pci_hotplug *hp;
    struct pci_function fn[2];
};

static int setup(void **state)
{
    static struct t t;

    memset(&t, 0, sizeof(t));
    assert_int_equal(fake_kvm_machine(&t.m, &t.cfg, true, NULL, NULL), 0);
    t.hp = pci_hotplug_of(&t.m);
    assert_non_null(t.hp);
    for (unsigned i = 0; i < 2; i++) {
        pci_function_init(&t.fn[i], "hot", 0x8086, 0x10ca, 0x020000, NULL, NULL);
        assert_int_equal(pci_bar_add(&t.fn[i], 0, PCI_BAR_MEM32, 16384, false), 0);
        t.fn[i].removable = true;
    }
    *state = &t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    for (unsigned i = 0; i < 2; i++) {
        if (t->fn[i].host)
            pci_host_remove(t->m.pci, &t->fn[i]);
        pci_function_destroy(&t->fn[i]);
    }
    machine_destroy(&t->m);
    return 0;
}

static uint32_t in(struct t *t, uint16_t port, unsigned size)
{
    bool handled;
    uint32_t v = (uint32_t)bus_read(&t->m.pio, port, size, &handled);

    assert_true(handled);
    return v;
}

static void out(struct t *t, uint16_t port, unsigned size, uint32_t v)
{
    bool handled;

    bus_write(&t->m.pio, port, size, v, &handled);
    assert_true(handled);
}

static unsigned plug(struct t *t, unsigned i)
{
    char err[128];

    assert_int_equal(pci_host_plug(t->m.pci, PCI_SLOT_ANY, &t->fn[i], err, sizeof(err)), 0);
    return t->fn[i].slot;
}

static void slots_leave_out_fixed_functions(void **state)
{
    struct t *t = *state;
    uint32_t slots = pci_hotplug_slots(&t->m);

    /* pci-test holds slot 1 for the VM's life; 0 is the host bridge. */
    assert_non_null(t->m.pci->slot[1]);
    assert_false(t->m.pci->slot[1]->removable);
    assert_int_equal(slots, 0xfffffffcu);
    /* a removable function's slot stays hotpluggable */
    assert_int_equal(plug(t, 0), 2);
    assert_int_equal(pci_hotplug_slots(&t->m), 0xfffffffcu);
    /* plugged BARs are left for the guest to assign: address 0, not decoding */
    assert_int_equal(pci_get(&t->fn[0], PCI_BAR0, 4) & ~0xfu, 0);
    assert_int_equal(pci_bar_decoded(&t->fn[0], 0), PCI_BAR_UNMAPPED);
}

static void insert_raises_the_gpe_and_up_reads_once(void **state)
{
    struct t *t = *state;
    unsigned s = plug(t, 0);

    assert_int_equal(in(t, PRESENT, 4), 1u << 1 | 1u << s);
    assert_int_equal(fake_kvm.irq_level[ACPI_SCI_IRQ], 0);
    pci_hotplug_insert(t->hp, s);
    /* pending, but the guest has not enabled the GPE: no SCI yet */
    assert_int_equal(in(t, GPE_STS, 1), GPE_BIT);
    assert_int_equal(fake_kvm.irq_level[ACPI_SCI_IRQ], 0);
    out(t, GPE_EN, 1, GPE_BIT);
    assert_int_equal(in(t, GPE_EN, 1), GPE_BIT);
    assert_int_equal(fake_kvm.irq_level[ACPI_SCI_IRQ], 1);
    /* ACPICA clears an edge GPE's status before it runs _E01 */
    out(t, GPE_STS, 1, GPE_BIT);
    assert_int_equal(in(t, GPE_STS, 1), 0);
    assert_int_equal(fake_kvm.irq_level[ACPI_SCI_IRQ], 0);
    /* PCNT reads UP once: the slot, then nothing */
    assert_int_equal(in(t, UP, 4), 1u << s);
    assert_int_equal(in(t, UP, 4), 0);
    assert_int_equal(in(t, DOWN, 4), 0);
    /* writes to the read-only registers change nothing */
    out(t, PRESENT, 4, 0);
    out(t, UP, 4, ~0u);
    assert_int_equal(in(t, PRESENT, 4), 1u << 1 | 1u << s);
    assert_int_equal(in(t, UP, 4), 0);
}

static void eject_on_request_wakes_the_waiter(void **state)
{
    struct t *t = *state;
    unsigned s = plug(t, 0);

    out(t, GPE_EN, 1, GPE_BIT);
    pci_hotplug_request_eject(t->hp, s);
    assert_int_equal(in(t, DOWN, 4), 1u << s);
    assert_int_equal(fake_kvm.irq_level[ACPI_SCI_IRQ], 1);
    out(t, GPE_STS, 1, GPE_BIT);
    assert_false(pci_hotplug_wait(t->hp, s, 1));
    /* _EJ0 */
    out(t, EJECT, 4, 1u << s);
    assert_int_equal(t->hp->ejects_ignored, 0);
    assert_int_equal(in(t, DOWN, 4), 0);
    assert_int_equal(in(t, PRESENT, 4) & (1u << s), 0); /* _STA: gone */
    assert_true(pci_hotplug_wait(t->hp, s, 1));
    assert_true(pci_hotplug_cancel(t->hp, s)); /* too late to cancel: it is out */
    pci_host_remove(t->m.pci, &t->fn[0]);
    pci_hotplug_removed(t->hp, s);
    assert_int_equal(in(t, PRESENT, 4), 1u << 1);
    assert_false(pci_hotplug_wait(t->hp, s, 1));
    /* the slot takes a function again, and its eject state starts clean */
    assert_int_equal(plug(t, 1), s);
    pci_hotplug_insert(t->hp, s);
    assert_int_equal(in(t, PRESENT, 4), 1u << 1 | 1u << s);
    assert_int_equal(in(t, UP, 4), 1u << s);
}

static void eject_writes_are_checked(void **state)
{
    struct t *t = *state;
    unsigned a = plug(t, 0), b = plug(t, 1);

    pci_hotplug_request_eject(t->hp, a);
    /* b was not asked for, slot 0 is the bridge, slot 1 is not removable,
     * slot 9 is empty: only a is taken, 4 bits ignored */
    out(t, EJECT, 4, 1u << a | 1u << b | 1u << 0 | 1u << 1 | 1u << 9);
    assert_int_equal(t->hp->ejects_ignored, 4);
    assert_int_equal(in(t, PRESENT, 4), 1u << 1 | 1u << b);
    assert_true(pci_hotplug_wait(t->hp, a, 1));
    assert_false(pci_hotplug_wait(t->hp, b, 1));
    /* an eject the host did not ask for (the guest's own "power" file)
     * leaves the function assigned */
    out(t, EJECT, 4, 1u << b);
    assert_int_equal(t->hp->ejects_ignored, 5);
    assert_int_equal(in(t, PRESENT, 4) & (1u << b), 1u << b);
    /* every size and offset of both blocks: no crash, nothing taken */
    for (unsigned off = 0; off < PCI_HOTPLUG_LEN; off++)
        for (unsigned size = 1; size <= 8; size *= 2) {
            bool handled;
            bus_read(&t->m.pio, PORT_PCI_HOTPLUG + off, size, &handled);
            if (off < PCI_HOTPLUG_REG_EJECT || off >= PCI_HOTPLUG_REG_EJECT + 4)
                bus_write(&t->m.pio, PORT_PCI_HOTPLUG + off, size, ~0ull, &handled);
        }
    for (unsigned off = 0; off < ACPI_GPE0_LEN; off++)
        for (unsigned size = 1; size <= 8; size *= 2) {
            bool handled;
            bus_read(&t->m.pio, PORT_ACPI_GPE0 + off, size, &handled);
        }
    assert_int_equal(in(t, PRESENT, 4), 1u << 1 | 1u << b);
    /* EJECT byte by byte: the byte holding b's bit, once it is asked for */
    pci_hotplug_request_eject(t->hp, b);
    out(t, EJECT + b / 8, 1, 1u << (b % 8));
    assert_true(pci_hotplug_wait(t->hp, b, 1));
    /* GPE bits that are not ours stay clear; status is write-1-to-clear */
    out(t, GPE_STS, 1, 0);
    assert_int_equal(in(t, GPE_STS, 1), GPE_BIT);
    out(t, GPE_STS, 4, 0xffffffff); /* clears the status, enables GPEs 0-7 */
    assert_int_equal(in(t, GPE_STS, 4), 0x00ff0000);
}

static void cancel_keeps_the_function(void **state)
{
    struct t *t = *state;
    unsigned s = plug(t, 0);

    pci_hotplug_request_eject(t->hp, s);
    assert_false(pci_hotplug_wait(t->hp, s, 30));
    assert_false(pci_hotplug_cancel(t->hp, s));
    assert_int_equal(in(t, DOWN, 4), 0);
    /* the guest's eject after the cancel (it read DOWN before) is ignored */
    out(t, EJECT, 4, 1u << s);
    assert_int_equal(t->hp->ejects_ignored, 1);
    assert_int_equal(in(t, PRESENT, 4) & (1u << s), 1u << s);
}

struct ejector {
    struct t *t;
    unsigned slot;
};

static void *eject_later(void *arg)
{
    struct ejector *e = arg;

    usleep(20000);
    out(e->t, EJECT, 4, 1u << e->slot);
    return NULL;
}

/* The vCPU's write wakes a waiting device-del at once. */
static void a_vcpu_eject_wakes_a_waiting_thread(void **state)
{
    struct t *t = *state;
    struct ejector e = {.t = t, .slot = plug(t, 0)};
    pthread_t th;

    pci_hotplug_request_eject(t->hp, e.slot);
    assert_int_equal(pthread_create(&th, NULL, eject_later, &e), 0);
    assert_true(pci_hotplug_wait(t->hp, e.slot, 60000));
    pthread_join(th, NULL);
}

/* --- the AML --- */

#define BASE 0xe0000ull
static uint8_t buf[0x10000];

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t *at(uint64_t gpa)
{
    assert_true(gpa >= BASE && gpa < BASE + sizeof(buf));
    return buf + (gpa - BASE);
}

/* PkgLength at p: the package's length (counting its own bytes), and in
 * *n the bytes of the encoding. */
static size_t pkglen(const uint8_t *p, size_t *n)
{
    unsigned follow = p[0] >> 6;
    size_t v;

    if (!follow) {
        *n = 1;
        return p[0] & 0x3f;
    }
    v = p[0] & 0x0f;
    for (unsigned i = 0; i < follow; i++)
        v |= (size_t)p[1 + i] << (4 + 8 * i);
    *n = 1 + follow;
    return v;
}

/* What the walk found. */
struct found {
    uint32_t devices;        /* bit n: a device Snn_ */
    uint32_t adr_ok, sun_ok; /* _ADR nn << 16, _SUN nn */
    uint32_t sta_ok, ej0_ok; /* _STA tests 1 << nn of PRES; _EJ0 (1 arg) stores 1 << nn to B0EJ */
    uint32_t check, eject;   /* PCNT: Notify (Snn, 1) / (Snn, 3) */
    bool opregion, field, gpe, pcnt;
};

static unsigned slot_of(const uint8_t *name)
{
    char hex[3] = {(char)name[1], (char)name[2], 0};

    assert_int_equal(name[0], 'S');
    assert_int_equal(name[3], '_');
    return (unsigned)strtoul(hex, NULL, 16);
}

/* Checks a slot's body: Name (_ADR) Name (_SUN) Method (_STA) Method (_EJ0). */
static void slot_body(struct found *f, unsigned slot, const uint8_t *p, const uint8_t *end)
{
    uint8_t adr[] = {0x08, '_', 'A', 'D', 'R', 0x0c, 0, 0, 0, 0};
    uint8_t sun[] = {0x08, '_', 'S', 'U', 'N', 0x0a, (uint8_t)slot};
    uint8_t sta[] = {0xa0, 0, 0, 0x7b, 'P',  'R',  'E',  'S', 0x0c,
                     0,    0, 0, 0,    0x00, 0xa4, 0x0a, 0x0f};
    uint8_t ej0[] = {0x70, 0x0c, 0, 0, 0, 0, 'B', '0', 'E', 'J'};
    size_t n, len;

    fw_put32(adr + 6, slot << 16);
    fw_put32(sta + 9, 1u << slot);
    fw_put32(ej0 + 2, 1u << slot);
    if (p + sizeof(adr) <= end && !memcmp(p, adr, sizeof(adr)))
        f->adr_ok |= 1u << slot;
    p += sizeof(adr);
    if (p + sizeof(sun) <= end && !memcmp(p, sun, sizeof(sun)))
        f->sun_ok |= 1u << slot;
    p += sizeof(sun);
    assert_int_equal(*p, 0x14); /* _STA */
    len = pkglen(p + 1, &n);
    assert_memory_equal(p + 1 + n, "_STA", 4);
    assert_int_equal(p[1 + n + 4], 0);
    sta[1] = p[1 + n + 5 + 1]; /* the If's PkgLength, checked by its end */
    sta[2] = p[1 + n + 5 + 2];
    if (!memcmp(p + 1 + n + 5, sta, sizeof(sta)) &&
        !memcmp(p + 1 + len - 2, "\xa4\x00", 2)) /* Return (Zero) ends it */
        f->sta_ok |= 1u << slot;
    p += 1 + len;
    assert_int_equal(*p, 0x14); /* _EJ0 */
    len = pkglen(p + 1, &n);
    assert_memory_equal(p + 1 + n, "_EJ0", 4);
    if (p[1 + n + 4] == 1 && len == n + 5 + sizeof(ej0) && !memcmp(p + 1 + n + 5, ej0, sizeof(ej0)))
        f->ej0_ok |= 1u << slot;
    assert_ptr_equal(p + 1 + len, end);
}

/* PCNT's body: Store (PCIU, Local0), Store (PCID, Local1), then If blocks. */
static void pcnt_body(struct found *f, const uint8_t *p, const uint8_t *end)
{
    assert_memory_equal(p, "\x70PCIU\x60\x70PCID\x61", 12);
    p += 12;
    while (p < end) {
        size_t n, len;
        const uint8_t *body;
        uint32_t bit;
        unsigned slot;
        uint8_t local;

        assert_int_equal(*p, 0xa0); /* If */
        len = pkglen(p + 1, &n);
        body = p + 1 + n;
        assert_int_equal(body[0], 0x7b); /* And (LocalN, bit, no target) */
        local = body[1];
        assert_int_equal(body[2], 0x0c);
        bit = rd32(body + 3);
        assert_int_equal(body[7], 0x00);
        assert_int_equal(body[8], 0x86); /* Notify (Snn, v) */
        slot = slot_of(body + 9);
        assert_int_equal(bit, 1u << slot);
        if (local == 0x60 && body[13] == 0x01)
            f->check |= bit;
        else if (local == 0x61 && body[13] == 0x0a && body[14] == 0x03)
            f->eject |= bit;
        else
            fail_msg("PCNT: an If on local 0x%02x notifying %02x", local, body[13]);
        p += 1 + len;
    }
    assert_ptr_equal(p, end);
    f->pcnt = true;
}

/* Walks a term list of the DSDT: names, scopes, devices, methods, the
 * operation region and field; any other opcode fails the test. */
static void walk(struct found *f, const uint8_t *p, const uint8_t *end, int in_pci0)
{
    while (p < end) {
        size_t n, len;

        switch (*p) {
        case 0x08: { /* Name: NameSeg, then a data object we skip */
            const uint8_t *v = p + 5;
            if (*v == 0x0a)
                p = v + 2;
            else if (*v == 0x0c)
                p = v + 5;
            else if (*v == 0x00)
                p = v + 1;
            else if (*v == 0x11 || *v == 0x12) /* Buffer, Package */
                p = v + 1 + pkglen(v + 1, &n);
            else
                fail_msg("Name with data opcode 0x%02x", *v);
            break;
        }
        case 0x10: { /* Scope */
            const uint8_t *s;
            len = pkglen(p + 1, &n);
            s = p + 1 + n;
            assert_true(p + 1 + len <= end);
            if (!memcmp(s, "\\_SB_", 5)) {
                walk(f, s + 5, p + 1 + len, 0);
            } else {
                assert_memory_equal(s, "\\_GPE", 5);
                /* Method (_E01) { \_SB.PCI0.PCNT () } */
                assert_int_equal(s[5], 0x14);
                assert_memory_equal(s + 5 + 1 + 2, "_E01\x00\\\x2f\x03_SB_PCI0PCNT", 20);
                f->gpe = true;
            }
            p += 1 + len;
            break;
        }
        case 0x14: /* Method */
            len = pkglen(p + 1, &n);
            assert_true(in_pci0);
            assert_memory_equal(p + 1 + n, "PCNT", 4);
            assert_int_equal(p[1 + n + 4], 0);
            pcnt_body(f, p + 1 + n + 5, p + 1 + len);
            p += 1 + len;
            break;
        case 0x5b:
            if (p[1] == 0x82) { /* Device */
                const uint8_t *name;
                len = pkglen(p + 2, &n);
                name = p + 2 + n;
                assert_true(p + 2 + len <= end);
                if (!memcmp(name, "PCI0", 4)) {
                    walk(f, name + 4, p + 2 + len, 1);
                } else {
                    unsigned slot = slot_of(name);
                    assert_true(in_pci0);
                    f->devices |= 1u << slot;
                    slot_body(f, slot, name + 4, p + 2 + len);
                }
                p += 2 + len;
            } else if (p[1] == 0x80) { /* OperationRegion (PCST, SystemIO, port, len) */
                assert_memory_equal(p + 2, "PCST\x01\x0b", 6);
                assert_int_equal(p[8] | p[9] << 8, PORT_PCI_HOTPLUG);
                assert_int_equal(p[10], 0x0a);
                assert_int_equal(p[11], PCI_HOTPLUG_LEN);
                f->opregion = true;
                p += 12;
            } else if (p[1] == 0x81) { /* Field */
                len = pkglen(p + 2, &n);
                assert_int_equal(len, n + 4 + 1 + 4 * 5);
                assert_memory_equal(p + 2 + n, "PCST\x03PCIU\x20PCID\x20", 15);
                assert_memory_equal(p + 2 + n + 15, "B0EJ\x20PRES\x20", 10);
                f->field = true;
                p += 2 + len;
            } else {
                fail_msg("extended opcode 0x%02x", p[1]);
            }
            break;
        default:
            fail_msg("opcode 0x%02x at DSDT offset %td", *p, p - buf);
        }
    }
    assert_ptr_equal(p, end);
}

static const uint8_t *fadt_of(void)
{
    const uint8_t *xsdt = at(rd32(buf + 24) | (uint64_t)rd32(buf + 28) << 32);

    return at(rd32(xsdt + 36));
}

static void build_and_walk(uint32_t slots, struct found *f)
{
    const uint8_t *fadt, *dsdt;

    assert_true(acpi_build(buf, sizeof(buf), BASE, 2, slots) > 0);
    fadt = fadt_of();
    assert_memory_equal(fadt, "FACP", 4);
    assert_int_equal(rd32(fadt + 80), PORT_ACPI_GPE0); /* GPE0_BLK */
    assert_int_equal(fadt[92], ACPI_GPE0_LEN);         /* GPE0_BLK_LEN */
    dsdt = at(rd32(fadt + 40));
    assert_int_equal(fw_sum(dsdt, rd32(dsdt + 4)), 0);
    memset(f, 0, sizeof(*f));
    walk(f, dsdt + 36, dsdt + rd32(dsdt + 4), 0);
}

static void aml_describes_each_hotplug_slot(void **state)
{
    struct found f;
    uint32_t masks[] = {0xfffffffeu, 0xfffffffcu, 1u << 5 | 1u << 31, 1u << 1};

    (void)state;
    for (unsigned i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        uint32_t m = masks[i];
        build_and_walk(m, &f);
        assert_int_equal(f.devices, m);
        assert_int_equal(f.adr_ok, m);
        assert_int_equal(f.sun_ok, m);
        assert_int_equal(f.sta_ok, m);
        assert_int_equal(f.ej0_ok, m);
        assert_int_equal(f.check, m);
        assert_int_equal(f.eject, m);
        assert_true(f.opregion && f.field && f.pcnt && f.gpe);
    }
    /* no slots: no hotplug objects, the GPE block stays in the FADT */
    build_and_walk(0, &f);
    assert_int_equal(f.devices, 0);
    assert_false(f.opregion || f.field || f.pcnt || f.gpe);
}

/* The DSDT the machine of the test gets: its slots, the controller's ports. */
static void machine_slots_reach_the_dsdt(void **state)
{
    struct t *t = *state;
    struct found f;

    plug(t, 0);
    build_and_walk(pci_hotplug_slots(&t->m), &f);
    assert_int_equal(f.devices, 0xfffffffcu);
    assert_int_equal(in(t, PRESENT, 4), 1u << 1 | 1u << 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(slots_leave_out_fixed_functions, setup, teardown),
            cmocka_unit_test_setup_teardown(insert_raises_the_gpe_and_up_reads_once, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(eject_on_request_wakes_the_waiter, setup, teardown),
            cmocka_unit_test_setup_teardown(eject_writes_are_checked, setup, teardown),
            cmocka_unit_test_setup_teardown(cancel_keeps_the_function, setup, teardown),
            cmocka_unit_test_setup_teardown(a_vcpu_eject_wakes_a_waiting_thread, setup, teardown),
            cmocka_unit_test(aml_describes_each_hotplug_slot),
            cmocka_unit_test_setup_teardown(machine_slots_reach_the_dsdt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
