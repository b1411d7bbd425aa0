/* ACPI table builder; see acpi.h for what the tables promise the guest. */
#include "fw_bytes.h"
#include "acpi.h"
#include "layout.h"

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

/* A minimal AML emitter: enough for the DSDT's names, a scope, a device and
 * a resource template. Packages are written with a 2-byte PkgLength that is
 * patched when the package closes (AML allows a longer encoding than needed
 * for lengths under 4096). */
struct aml {
    uint8_t *p;
    size_t cap;
    size_t len;
    size_t open[4];
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

static void aml_open(struct aml *a)
{
    a->open[a->depth++] = a->len;
    aml_byte(a, 0);
    aml_byte(a, 0);
}

static void aml_close(struct aml *a)
{
    size_t start = a->open[--a->depth];
    size_t n = a->len - start; /* PkgLength counts its own bytes */

    if (a->overflow || n >= 4096) {
        a->overflow = 1;
        return;
    }
    a->p[start] = (uint8_t)(0x40 | (n & 0x0f));
    a->p[start + 1] = (uint8_t)(n >> 4);
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

/* The DSDT body:
 *   Name (_S5, Package (2) { 5, 5 })
 *   Scope (\_SB) { Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))  Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () {  bus 0, I/O 0-0xcf7 and
 *           0xd00-0xffff, memory GUEST_PCI_MMIO_START..END }) } } */
static size_t dsdt_aml(uint8_t *buf, size_t cap)
{
    struct aml a = {.p = buf, .cap = cap};
    size_t crs_start;

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
    aml_open(&a);
    aml_bytes(&a, "\\_SB_", 5);
    aml_bytes(&a, "\x5b\x82", 2); /* DeviceOp */
    aml_open(&a);
    aml_bytes(&a, "PCI0", 4);
    aml_name(&a, "_HID");
    aml_dword(&a, EISA_PNP0A03);
    aml_name(&a, "_UID");
    aml_byte(&a, 0x00); /* ZeroOp */
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
    aml_close(&a); /* device */
    aml_close(&a); /* scope */
    return a.overflow ? 0 : a.len;
}

#define DSDT_AML_MAX 512

size_t acpi_build(uint8_t *buf, size_t len, uint64_t base_gpa, unsigned ncpus)
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
    size_t aml_len = dsdt_aml(aml, sizeof(aml));
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
    fadt[88] = 4; /* PM1 event block length */
    fadt[89] = 2; /* PM1 control block length */
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
