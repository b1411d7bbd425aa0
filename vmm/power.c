/* Power-off and reset paths; see power.h. */
#include "power.h"
#include "acpi.h"
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>

#define I8042_REGION_DATA 0
#define I8042_REGION_CMD  1

struct acpi_pm {
    struct bus_device dev; /* first: the bus hands ops a pointer to it */
    uint16_t pm1_en;
    uint16_t pm1_cnt;
};

static uint64_t pm_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;
    uint64_t v = 0;

    (void)region;
    /* Byte-wise view of: status (always 0), enable, control (SCI_EN set). */
    uint8_t regs[PORT_ACPI_PM_LEN] = {0};
    regs[2] = (uint8_t)pm->pm1_en;
    regs[3] = (uint8_t)(pm->pm1_en >> 8);
    regs[4] = (uint8_t)(pm->pm1_cnt | ACPI_PM1_SCI_EN);
    regs[5] = (uint8_t)(pm->pm1_cnt >> 8);
    for (unsigned i = 0; i < size && offset + i < PORT_ACPI_PM_LEN; i++)
        v |= (uint64_t)regs[offset + i] << (8 * i);
    return v;
}

static enum bus_effect pm_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                unsigned size, uint64_t value)
{
    struct acpi_pm *pm = (struct acpi_pm *)dev;

    (void)region;
    for (unsigned i = 0; i < size; i++) {
        uint64_t reg = offset + i;
        uint8_t b = (uint8_t)(value >> (8 * i));
        switch (reg) {
        case 2:
            pm->pm1_en = (uint16_t)((pm->pm1_en & 0xff00) | b);
            break;
        case 3:
            pm->pm1_en = (uint16_t)((pm->pm1_en & 0x00ff) | b << 8);
            break;
        case 4:
            pm->pm1_cnt = (uint16_t)((pm->pm1_cnt & 0xff00) | b);
            break;
        case 5:
            pm->pm1_cnt = (uint16_t)((pm->pm1_cnt & 0x00ff) | b << 8);
            break;
        case PORT_ACPI_RESET - PORT_ACPI_PM_BASE:
            if (b == ACPI_RESET_VALUE)
                return BUS_RESET;
            break;
        default: /* status bits are write-1-to-clear and none is ever set */
            break;
        }
    }
    if ((pm->pm1_cnt & ACPI_PM1_SLP_EN) && ACPI_PM1_SLP_TYP(pm->pm1_cnt) == ACPI_S5_TYPE) {
        pm->pm1_cnt &= (uint16_t)~ACPI_PM1_SLP_EN;
        return BUS_POWEROFF;
    }
    pm->pm1_cnt &= (uint16_t)~ACPI_PM1_SLP_EN; /* SLP_EN is write-only */
    return BUS_OK;
}

static const struct bus_ops pm_ops = {.read = pm_read, .write = pm_write};

static void *pm_realize(struct machine *m, char *err, size_t errlen)
{
    struct acpi_pm *pm = calloc(1, sizeof(*pm));

    if (!pm) {
        snprintf(err, errlen, "acpi-pm: out of memory");
        return NULL;
    }
    bus_device_init(&pm->dev, "acpi-pm", &pm_ops);
    if (machine_claim_ports(m, PORT_ACPI_PM_BASE, PORT_ACPI_PM_LEN, &pm->dev, 0, err, errlen)) {
        bus_device_destroy(&pm->dev);
        free(pm);
        return NULL;
    }
    return pm;
}

static void pm_unrealize(struct machine *m, void *state)
{
    struct acpi_pm *pm = state;

    bus_release(&m->pio, PORT_ACPI_PM_BASE, &pm->dev);
    bus_device_destroy(&pm->dev);
    free(pm);
}

const struct device_type acpi_pm_device = {
        .name = "acpi-pm", .realize = pm_realize, .unrealize = pm_unrealize};

static uint64_t i8042_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    (void)dev;
    (void)region;
    (void)offset;
    (void)size;
    return 0; /* status: output and input buffers empty; data: nothing */
}

static enum bus_effect i8042_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                   unsigned size, uint64_t value)
{
    (void)dev;
    (void)offset;
    (void)size;
    if (region == I8042_REGION_CMD && (value & 0xff) == I8042_CMD_RESET)
        return BUS_RESET;
    return BUS_OK;
}

static const struct bus_ops i8042_ops = {.read = i8042_read, .write = i8042_write};

static void *i8042_realize(struct machine *m, char *err, size_t errlen)
{
    struct bus_device *dev = calloc(1, sizeof(*dev));

    if (!dev) {
        snprintf(err, errlen, "i8042: out of memory");
        return NULL;
    }
    bus_device_init(dev, "i8042", &i8042_ops);
    if (machine_claim_ports(m, PORT_I8042_DATA, 1, dev, I8042_REGION_DATA, err, errlen) ||
        machine_claim_ports(m, PORT_I8042_CMD, 1, dev, I8042_REGION_CMD, err, errlen)) {
        bus_release(&m->pio, PORT_I8042_DATA, dev);
        bus_device_destroy(dev);
        free(dev);
        return NULL;
    }
    return dev;
}

static void i8042_unrealize(struct machine *m, void *state)
{
    struct bus_device *dev = state;

    bus_release(&m->pio, PORT_I8042_DATA, dev);
    bus_release(&m->pio, PORT_I8042_CMD, dev);
    bus_device_destroy(dev);
    free(dev);
}

const struct device_type i8042_device = {
        .name = "i8042", .realize = i8042_realize, .unrealize = i8042_unrealize};
