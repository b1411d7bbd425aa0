/* ACPI table builder; see acpi.h for what the tables promise the guest. */
#include "fw_bytes.h"
#include "acpi.h"
#include "layout.h"
#include "pci.h"
#include "pci_hotplug.h"

#include <stdio.h>
#include <string.h>

#define OEM_ID       "EVR   "
#define OEM_TABLE_ID "EVRVMM  "
#define ALIGN16(x)   (((x) + 15) & ~(size_t)15)

#define GAS_SYSTEM_IO 1
#define GAS_BYTE      1

struct writer {
    uint8_t *buf;
    size_t len;
    size_t pos;
    int overflow;
};

static uint8_t *reserve(struct writer *w, size_t n)
{
    uint8_t *p;

    w->pos = ALIGN16(w->pos);
    if (w->pos > w->len || n > w->len - w->pos) {
        w->overflow = 1;
        return NULL;
    }
    p = w->buf + w->pos;
    memset(p, 0, n);
    w->pos += n;
    return p;
}

/* The 36-byte header every table but the RSDP starts with. */
static void sdt_header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    fw_put32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, OEM_ID, 6);
    memcpy(t + 16, OEM_TABLE_ID, 8);
    fw_put32(t + 24, 1);
    memcpy(t + 28, "EVR ", 4);
    fw_put32(t + 32, 1);
}

static void sdt_checksum(uint8_t *t, size_t len)
{
    t[9] = 0;
    t[9] = fw_checksum(t, len);
}

static void gas_io(uint8_t *g, uint16_t port)
{
    g[0] = GAS_SYSTEM_IO;
    g[1] = 8;
    g[2] = 0;
    g[3] = GAS_BYTE;
    fw_put64(g + 4, port);
}

/* A minimal AML emitter: enough for the DSDT's names, scopes, devices,
 * methods and a resource template. A package's PkgLength is reserved when
 * it opens (2 bytes, or 3 for one that may pass 4095 bytes) and patched
 * when it closes (AML allows a longer encoding than needed). */
#define AML_DEPTH 8

struct aml {
    uint8_t *p;
    size_t cap;
    size_t len;
    size_t open[AML_DEPTH];
    unsigned width[AML_DEPTH];
    unsigned depth;
    int overflow;
};

static void aml_bytes(struct aml *a, const void *data, size_t n)
{
    if (a->len + n > a->cap) {
        a->overflow = 1;
        return;
    }
    memcpy(a->p + a->len, data, n);
    a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

static void aml_open_n(struct aml *a, unsigned width)
{
    if (a->depth == AML_DEPTH) {
        a->overflow = 1;
        return;
    }
    a->open[a->depth] = a->len;
    a->width[a->depth++] = width;
    for (unsigned i = 0; i < width; i++)
        aml_byte(a, 0);
}

static void aml_open(struct aml *a)
{
    aml_open_n(a, 2);
}

static void aml_open_wide(struct aml *a)
{
    aml_open_n(a, 3);
}

static void aml_close(struct aml *a)
{
    size_t start, n;
    unsigned w;

    if (a->depth == 0) {
        a->overflow = 1;
        return;
    }
    start = a->open[--a->depth];
    w = a->width[a->depth];
    n = a->len - start; /* PkgLength counts its own bytes */
    if (a->overflow || n >= (w == 2 ? 4096u : 1u << 20)) {
        a->overflow = 1;
        return;
    }
    a->p[start] = (uint8_t)((w - 1) << 6 | (n & 0x0f));
    a->p[start + 1] = (uint8_t)(n >> 4);
    if (w == 3)
        a->p[start + 2] = (uint8_t)(n >> 12);
}

static void aml_name(struct aml *a, const char seg[4])
{
    aml_byte(a, 0x08); /* NameOp */
    aml_bytes(a, seg, 4);
}

static void aml_dword(struct aml *a, uint32_t v)
{
    uint8_t b[4];

    fw_put32(b, v);
    aml_byte(a, 0x0c); /* DWordPrefix */
    aml_bytes(a, b, 4);
}

/* Word address space descriptor (bus numbers or I/O ports), producer. */
static void res_word(struct aml *a, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
    uint8_t d[16] = {0x88, 13, 0, type, 0x0c /* min and max fixed */, type_flags};

    fw_put16(d + 6, 0); /* granularity */
    fw_put16(d + 8, min);
    fw_put16(d + 10, max);
    fw_put16(d + 12, 0); /* translation */
    fw_put16(d + 14, (uint16_t)(max - min + 1));
    aml_bytes(a, d, sizeof(d));
}

static void res_dword_memory(struct aml *a, uint32_t min, uint32_t max)
{
    uint8_t d[26] = {0x87, 23, 0, 0 /* memory */, 0x0c, 0x01 /* read-write, non-cacheable */};

    fw_put32(d + 6, 0);
    fw_put32(d + 10, min);
    fw_put32(d + 14, max);
    fw_put32(d + 18, 0);
    fw_put32(d + 22, max - min + 1);
    aml_bytes(a, d, sizeof(d));
}

/* EisaId ("PNP0A03"): compressed vendor letters and product number. */
#define EISA_PNP0A03 0x030ad041u

/* AML opcodes the hotplug part uses (ACPI 6.x, section 20). */
#define AML_ZERO     0x00
#define AML_ONE      0x01
#define AML_BYTE     0x0a
#define AML_METHOD   0x14
#define AML_LOCAL0   0x60
#define AML_LOCAL1   0x61
#define AML_STORE    0x70
#define AML_AND      0x7b
#define AML_NOTIFY   0x86
#define AML_IF       0xa0
#define AML_RETURN   0xa4
#define AML_EXT      0x5b
#define AML_OPREGION 0x80 /* after AML_EXT */
#define AML_FIELD    0x81 /* after AML_EXT */
#define AML_DEVICE   0x82 /* after AML_EXT */
#define AML_WORD     0x0b
#define NOTIFY_CHECK 1 /* device check: rescan the slot */
#define NOTIFY_EJECT 3 /* eject request */
#define ACPI_STA_ALL 0x0f

/* "S05_": the name of slot 5's device. */
static void slot_name(char out[4], unsigned slot)
{
    static const char hex[] = "0123456789ABCDEF";

    out[0] = 'S';
    out[1] = hex[(slot >> 4) & 0xf];
    out[2] = hex[slot & 0xf];
    out[3] = '_';
}

static void aml_method(struct aml *a, const char name[4], uint8_t nargs)
{
    aml_byte(a, AML_METHOD);
    aml_open(a);
    aml_bytes(a, name, 4);
    aml_byte(a, nargs); /* not serialized */
}

/* If (And (reg, bit)) { Notify (Sxx, value) }: reg is a NameSeg or a
 * LocalN opcode (len 1). */
static void aml_notify_if(struct aml *a, const void *reg, size_t reglen, unsigned slot,
                          uint8_t value)
{
    char name[4];

    slot_name(name, slot);
    aml_byte(a, AML_IF);
    aml_open(a);
    aml_byte(a, AML_AND);
    aml_bytes(a, reg, reglen);
    aml_dword(a, 1u << slot);
    aml_byte(a, AML_ZERO); /* no target */
    aml_byte(a, AML_NOTIFY);
    aml_bytes(a, name, 4);
    if (value == AML_ONE) {
        aml_byte(a, AML_ONE);
    } else {
        aml_byte(a, AML_BYTE);
        aml_byte(a, value);
    }
    aml_close(a);
}

/* Inside \_SB.PCI0, for each slot in slots (pci_hotplug.h says what the
 * registers are):
 *   OperationRegion (PCST, SystemIO, PORT_PCI_HOTPLUG, PCI_HOTPLUG_LEN)
 *   Field (PCST, DWordAcc, NoLock, Preserve) { PCIU, 32, PCID, 32, B0EJ, 32, PRES, 32 }
 *   Device (Snn) { Name (_ADR, nn << 16)  Name (_SUN, nn)
 *       Method (_STA) { If (And (PRES, 1 << nn)) { Return (0x0f) }  Return (0) }
 *       Method (_EJ0, 1) { Store (1 << nn, B0EJ) } }
 *   Method (PCNT) { Store (PCIU, Local0)  Store (PCID, Local1)
 *       If (And (Local0, 1 << nn)) { Notify (Snn, 1) }   device check
 *       If (And (Local1, 1 << nn)) { Notify (Snn, 3) } } eject request */
static void hotplug_slots_aml(struct aml *a, uint32_t slots)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_OPREGION);
    aml_bytes(a, "PCST", 4);
    aml_byte(a, 1); /* SystemIO */
    aml_byte(a, AML_WORD);
    aml_byte(a, (uint8_t)PORT_PCI_HOTPLUG);
    aml_byte(a, (uint8_t)(PORT_PCI_HOTPLUG >> 8));
    aml_byte(a, AML_BYTE);
    aml_byte(a, PCI_HOTPLUG_LEN);
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_FIELD);
    aml_open(a);
    aml_bytes(a, "PCST", 4);
    aml_byte(a, 0x03);                 /* DWordAcc, NoLock, Preserve */
    for (unsigned i = 0; i < 4; i++) { /* four 32-bit fields */
        aml_bytes(a, &"PCIUPCIDB0EJPRES"[4 * i], 4);
        aml_byte(a, 32);
    }
    aml_close(a);

    for (unsigned slot = 1; slot < 32; slot++) {
        char name[4];

        if (!(slots & (1u << slot)))
            continue;
        slot_name(name, slot);
        aml_byte(a, AML_EXT);
        aml_byte(a, AML_DEVICE);
        aml_open(a);
        aml_bytes(a, name, 4);
        aml_name(a, "_ADR");
        aml_dword(a, slot << 16);
        aml_name(a, "_SUN");
        aml_byte(a, AML_BYTE);
        aml_byte(a, (uint8_t)slot);
        aml_method(a, "_STA", 0);
        aml_byte(a, AML_IF);
        aml_open(a);
        aml_byte(a, AML_AND);
        aml_bytes(a, "PRES", 4);
        aml_dword(a, 1u << slot);
        aml_byte(a, AML_ZERO);
        aml_byte(a, AML_RETURN);
        aml_byte(a, AML_BYTE);
        aml_byte(a, ACPI_STA_ALL);
        aml_close(a); /* If */
        aml_byte(a, AML_RETURN);
        aml_byte(a, AML_ZERO);
        aml_close(a); /* _STA */
        aml_method(a, "_EJ0", 1);
        aml_byte(a, AML_STORE);
        aml_dword(a, 1u << slot);
        aml_bytes(a, "B0EJ", 4);
        aml_close(a); /* _EJ0 */
        aml_close(a); /* Device */
    }

    aml_method(a, "PCNT", 0);
    aml_byte(a, AML_STORE);
    aml_bytes(a, "PCIU", 4);
    aml_byte(a, AML_LOCAL0);
    aml_byte(a, AML_STORE);
    aml_bytes(a, "PCID", 4);
    aml_byte(a, AML_LOCAL1);
    for (unsigned slot = 1; slot < 32; slot++) {
        static const uint8_t local0 = AML_LOCAL0, local1 = AML_LOCAL1;

        if (!(slots & (1u << slot)))
            continue;
        aml_notify_if(a, &local0, 1, slot, NOTIFY_CHECK);
        aml_notify_if(a, &local1, 1, slot, NOTIFY_EJECT);
    }
    aml_close(a); /* PCNT */
}

/* Name (_PRT, Package () { Package () { nn << 16 | 0xffff, 0, 0, GSI }, ... }):
 * INTA# of every slot 1-31 wired straight to its IOAPIC pin (pci.h's
 * pci_intx_gsi; no link devices). Only a passthrough function whose
 * device has a pin shows one. */
static void prt_aml(struct aml *a)
{
    aml_name(a, "_PRT");
    aml_byte(a, 0x12); /* PackageOp */
    aml_open(a);
    aml_byte(a, PCI_SLOTS - 1);
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        aml_byte(a, 0x12);
        aml_open(a);
        aml_byte(a, 4);
        aml_dword(a, slot << 16 | 0xffff); /* any function of the slot */
        aml_byte(a, AML_ZERO);             /* INTA# */
        aml_byte(a, AML_ZERO);             /* no link device: a GSI */
        aml_byte(a, AML_BYTE);
        aml_byte(a, (uint8_t)pci_intx_gsi(slot));
        aml_close(a);
    }
    aml_close(a);
}

/* The DSDT body:
 *   Name (_S5, Package (2) { 5, 5 })
 *   Scope (\_SB) { Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))  Name (_UID, 0)  Name (_PRT, ...) (prt_aml)
 *       Name (_CRS, ResourceTemplate () {  bus 0, I/O 0-0xcf7 and
 *           0xd00-0xffff, memory GUEST_PCI_MMIO_START..END })
 *       and, when hotplug_slots is not 0, the slots (hotplug_slots_aml) } }
 *   Scope (\_GPE) { Method (_E01) { \_SB.PCI0.PCNT () } }   (with slots only) */
static size_t dsdt_aml(uint8_t *buf, size_t cap, uint32_t hotplug_slots)
{
    struct aml a = {.p = buf, .cap = cap};
    size_t crs_start;
    char gpe_method[5];

    aml_name(&a, "_S5_");
    aml_byte(&a, 0x12); /* PackageOp */
    aml_open(&a);
    aml_byte(&a, 2);
    aml_byte(&a, 0x0a);
    aml_byte(&a, ACPI_S5_TYPE);
    aml_byte(&a, 0x0a);
    aml_byte(&a, ACPI_S5_TYPE);
    aml_close(&a);

    aml_byte(&a, 0x10); /* ScopeOp */
    if (hotplug_slots)
        aml_open_wide(&a);
    else
        aml_open(&a);
    aml_bytes(&a, "\\_SB_", 5);
    aml_bytes(&a, "\x5b\x82", 2); /* DeviceOp */
    if (hotplug_slots)
        aml_open_wide(&a);
    else
        aml_open(&a);
    aml_bytes(&a, "PCI0", 4);
    aml_name(&a, "_HID");
    aml_dword(&a, EISA_PNP0A03);
    aml_name(&a, "_UID");
    aml_byte(&a, 0x00); /* ZeroOp */
    prt_aml(&a);
    aml_name(&a, "_CRS");
    aml_byte(&a, 0x11); /* BufferOp */
    aml_open(&a);
    aml_byte(&a, 0x0a); /* BytePrefix: buffer size follows */
    crs_start = a.len;
    aml_byte(&a, 0);
    res_word(&a, 2, 0, 0, 0);           /* bus numbers 0..0 */
    res_word(&a, 1, 3, 0x0000, 0x0cf7); /* I/O below the config ports */
    res_word(&a, 1, 3, 0x0d00, 0xffff); /* I/O above them */
    res_dword_memory(&a, (uint32_t)GUEST_PCI_MMIO_START, (uint32_t)GUEST_PCI_MMIO_END);
    aml_byte(&a, 0x79); /* end tag, checksum 0: "treat as correct" */
    aml_byte(&a, 0x00);
    if (!a.overflow)
        a.p[crs_start] = (uint8_t)(a.len - crs_start - 1);
    aml_close(&a); /* buffer */
    if (hotplug_slots)
        hotplug_slots_aml(&a, hotplug_slots);
    aml_close(&a); /* device */
    aml_close(&a); /* scope */
    if (!hotplug_slots)
        return a.overflow ? 0 : a.len;

    aml_byte(&a, 0x10); /* ScopeOp */
    aml_open(&a);
    aml_bytes(&a, "\\_GPE", 5);
    snprintf(gpe_method, sizeof(gpe_method), "_E%02X", PCI_HOTPLUG_GPE);
    aml_method(&a, gpe_method, 0);
    aml_bytes(&a, "\\\x2f\x03_SB_PCI0PCNT", 15); /* \_SB.PCI0.PCNT: a call, no arguments */
    aml_close(&a);                               /* method */
    aml_close(&a);                               /* scope */
    return a.overflow ? 0 : a.len;
}

#define DSDT_AML_MAX 8192

size_t acpi_build(uint8_t *buf, size_t len, uint64_t base_gpa, unsigned ncpus,
                  uint32_t hotplug_slots)
{
    struct writer w = {.buf = buf, .len = len};
    uint8_t *rsdp, *xsdt, *fadt, *facs, *madt, *dsdt, *e;
    size_t madt_len = 44 + 8 * (size_t)ncpus + 12 + 10;
    uint64_t xsdt_gpa, fadt_gpa, facs_gpa, madt_gpa, dsdt_gpa;

    if (ncpus < 1 || ncpus > ACPI_MAX_CPUS)
        return 0;

    rsdp = reserve(&w, 36);
    xsdt_gpa = base_gpa + ALIGN16(w.pos);
    xsdt = reserve(&w, 36 + 2 * 8);
    fadt_gpa = base_gpa + ALIGN16(w.pos);
    fadt = reserve(&w, ACPI_FADT_LEN);
    w.pos = (w.pos + 63) & ~(size_t)63; /* the FACS must be 64-byte aligned */
    facs_gpa = base_gpa + w.pos;
    facs = reserve(&w, ACPI_FACS_LEN);
    madt_gpa = base_gpa + ALIGN16(w.pos);
    madt = reserve(&w, madt_len);
    dsdt_gpa = base_gpa + ALIGN16(w.pos);
    uint8_t aml[DSDT_AML_MAX];
    size_t aml_len = dsdt_aml(aml, sizeof(aml), hotplug_slots);
    dsdt = reserve(&w, 36 + aml_len);
    if (w.overflow || !aml_len)
        return 0;

    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, OEM_ID, 6);
    rsdp[15] = 2; /* ACPI 2.0+: use the XSDT */
    fw_put32(rsdp + 20, 36);
    fw_put64(rsdp + 24, xsdt_gpa);
    rsdp[8] = fw_checksum(rsdp, 20);
    rsdp[32] = fw_checksum(rsdp, 36);

    sdt_header(xsdt, "XSDT", 36 + 2 * 8, 1);
    fw_put64(xsdt + 36, fadt_gpa);
    fw_put64(xsdt + 44, madt_gpa);
    sdt_checksum(xsdt, 36 + 2 * 8);

    sdt_header(fadt, "FACP", ACPI_FADT_LEN, 6);
    fw_put32(fadt + 36, (uint32_t)facs_gpa);
    fw_put32(fadt + 40, (uint32_t)dsdt_gpa);
    fw_put16(fadt + 46, ACPI_SCI_IRQ);
    /* SMI_CMD 0: the platform is always in ACPI mode (SCI_EN reads as 1). */
    fw_put32(fadt + 56, PORT_ACPI_PM1_EVT);
    fw_put32(fadt + 64, PORT_ACPI_PM1_CNT);
    fw_put32(fadt + 80, PORT_ACPI_GPE0);
    fadt[88] = 4;             /* PM1 event block length */
    fadt[89] = 2;             /* PM1 control block length */
    fadt[92] = ACPI_GPE0_LEN; /* GPE0 block: status and enable halves */
    fw_put16(fadt + 109, ACPI_BOOT_NO_VGA | ACPI_BOOT_NO_CMOS);
    fw_put32(fadt + 112, ACPI_FADT_WBINVD | ACPI_FADT_RESET_REG_SUP | ACPI_FADT_PWR_BUTTON |
                                 ACPI_FADT_SLP_BUTTON);
    gas_io(fadt + 116, PORT_ACPI_RESET);
    fadt[128] = ACPI_RESET_VALUE;
    fadt[131] = 0; /* FADT minor version: 6.0 */
    fw_put64(fadt + 132, facs_gpa);
    fw_put64(fadt + 140, dsdt_gpa);
    memcpy(fadt + 268, "EVRVMM\0\0", 8);
    sdt_checksum(fadt, ACPI_FADT_LEN);

    memcpy(facs, "FACS", 4);
    fw_put32(facs + 4, ACPI_FACS_LEN);
    facs[32] = 2; /* version */

    sdt_header(madt, "APIC", (uint32_t)madt_len, 4);
    fw_put32(madt + 36, (uint32_t)GUEST_LAPIC_ADDR);
    fw_put32(madt + 40, 1); /* PCAT_COMPAT: the 8259 pair exists (KVM's in-kernel PIC) */
    e = madt + 44;
    for (unsigned i = 0; i < ncpus; i++, e += 8) {
        e[0] = 0; /* processor local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i;  /* ACPI processor UID */
        e[3] = (uint8_t)i;  /* APIC id = vCPU index */
        fw_put32(e + 4, 1); /* enabled */
    }
    e[0] = 1; /* IOAPIC */
    e[1] = 12;
    e[2] = (uint8_t)ncpus; /* an id no local APIC uses */
    fw_put32(e + 4, (uint32_t)GUEST_IOAPIC_ADDR);
    fw_put32(e + 8, 0); /* GSI base */
    e += 12;
    e[0] = 2; /* interrupt source override: the SCI is level, active high */
    e[1] = 10;
    e[2] = 0; /* ISA */
    e[3] = ACPI_SCI_IRQ;
    fw_put32(e + 4, ACPI_SCI_IRQ);
    fw_put16(e + 8, 0x000d); /* polarity active high (01), trigger level (11) */
    sdt_checksum(madt, madt_len);

    sdt_header(dsdt, "DSDT", (uint32_t)(36 + aml_len), 2);
    memcpy(dsdt + 36, aml, aml_len);
    sdt_checksum(dsdt, 36 + aml_len);
    return w.pos;
}
