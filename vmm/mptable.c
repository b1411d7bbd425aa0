/* MP table builder; see mptable.h. Layouts follow MP spec 1.4, chapter 4. */
#include "fw_bytes.h"
#include "mptable.h"
#include "layout.h"

#include <string.h>

#define MP_FLOAT_LEN   16
#define MP_HEADER_LEN  44
#define MP_CPU_LEN     20
#define MP_ENTRY_LEN   8
#define MP_SPEC_REV    4
#define APIC_VERSION   0x14
#define IOAPIC_VERSION 0x11
#define BUS_PCI        0
#define BUS_ISA        1

enum { ENTRY_CPU, ENTRY_BUS, ENTRY_IOAPIC, ENTRY_IOINT, ENTRY_LINT };
enum { INT_INT = 0, INT_NMI = 1, INT_EXTINT = 3 };

static uint8_t *interrupt(uint8_t *e, uint8_t type, uint8_t kind, uint8_t bus, uint8_t irq,
                          uint8_t dst_apic, uint8_t dst_pin)
{
    e[0] = type;
    e[1] = kind;
    fw_put16(e + 2, 0); /* polarity and trigger: conform to the bus */
    e[4] = bus;
    e[5] = irq;
    e[6] = dst_apic;
    e[7] = dst_pin;
    return e + MP_ENTRY_LEN;
}

size_t mptable_build(uint8_t *buf, size_t len, uint64_t base_gpa, unsigned ncpus)
{
    unsigned entries = ncpus + 2 + 1 + MPTABLE_ISA_IRQS + 2;
    size_t table_len =
            MP_HEADER_LEN + (size_t)ncpus * MP_CPU_LEN + (entries - ncpus) * (size_t)MP_ENTRY_LEN;
    uint8_t *fp = buf, *t = buf + MP_FLOAT_LEN, *e;
    uint8_t ioapic_id = (uint8_t)ncpus;

    if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS || len < MP_FLOAT_LEN + table_len)
        return 0;
    memset(buf, 0, MP_FLOAT_LEN + table_len);

    memcpy(fp, "_MP_", 4);
    fw_put32(fp + 4, (uint32_t)(base_gpa + MP_FLOAT_LEN));
    fp[8] = 1; /* length in 16-byte units */
    fp[9] = MP_SPEC_REV;
    /* feature bytes 0: a configuration table is present, virtual wire mode */
    fp[10] = fw_checksum(fp, MP_FLOAT_LEN);

    memcpy(t, "PCMP", 4);
    fw_put16(t + 4, (uint16_t)table_len);
    t[6] = MP_SPEC_REV;
    memcpy(t + 8, "EVR     ", 8);
    memcpy(t + 16, "EVR-VMM     ", 12);
    fw_put16(t + 34, (uint16_t)entries);
    fw_put32(t + 36, (uint32_t)GUEST_LAPIC_ADDR);

    e = t + MP_HEADER_LEN;
    for (unsigned i = 0; i < ncpus; i++, e += MP_CPU_LEN) {
        e[0] = ENTRY_CPU;
        e[1] = (uint8_t)i; /* local APIC id */
        e[2] = APIC_VERSION;
        e[3] = (uint8_t)(0x01 | (i == 0 ? 0x02 : 0)); /* enabled, bootstrap processor */
        fw_put32(e + 4, 0x600);                       /* family 6 signature */
        fw_put32(e + 8, 0x201);                       /* features: FPU, APIC */
    }
    e[0] = ENTRY_BUS;
    e[1] = BUS_PCI;
    memcpy(e + 2, "PCI   ", 6);
    e += MP_ENTRY_LEN;
    e[0] = ENTRY_BUS;
    e[1] = BUS_ISA;
    memcpy(e + 2, "ISA   ", 6);
    e += MP_ENTRY_LEN;
    e[0] = ENTRY_IOAPIC;
    e[1] = ioapic_id;
    e[2] = IOAPIC_VERSION;
    e[3] = 0x01; /* enabled */
    fw_put32(e + 4, (uint32_t)GUEST_IOAPIC_ADDR);
    e += MP_ENTRY_LEN;
    for (uint8_t irq = 0; irq < MPTABLE_ISA_IRQS; irq++)
        e = interrupt(e, ENTRY_IOINT, INT_INT, BUS_ISA, irq, ioapic_id, irq);
    e = interrupt(e, ENTRY_LINT, INT_EXTINT, BUS_ISA, 0, 0xff, 0); /* all LAPICs, LINT0 */
    e = interrupt(e, ENTRY_LINT, INT_NMI, BUS_ISA, 0, 0xff, 1);    /* all LAPICs, LINT1 */
    t[7] = fw_checksum(t, table_len);
    return (size_t)(e - buf);
}
