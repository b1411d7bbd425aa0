/* Power-off and reset paths; see power.h. */
#include "power.h"
#include "acpi.h"
#include "layout.h"

static uint32_t pm_read(void *dev, uint16_t offset, unsigned size)
{
    struct acpi_pm *pm = dev;
    uint32_t v = 0;

    /* Byte-wise view of: status (always 0), enable, control (SCI_EN set). */
    uint8_t regs[PORT_ACPI_PM_LEN] = {0};
    regs[2] = (uint8_t)pm->pm1_en;
    regs[3] = (uint8_t)(pm->pm1_en >> 8);
    regs[4] = (uint8_t)(pm->pm1_cnt | ACPI_PM1_SCI_EN);
    regs[5] = (uint8_t)(pm->pm1_cnt >> 8);
    for (unsigned i = 0; i < size && offset + i < PORT_ACPI_PM_LEN; i++)
        v |= (uint32_t)regs[offset + i] << (8 * i);
    return v;
}

static enum io_effect pm_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    struct acpi_pm *pm = dev;

    for (unsigned i = 0; i < size; i++) {
        unsigned reg = offset + i;
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
                return IO_RESET;
            break;
        default: /* status bits are write-1-to-clear and none is ever set */
            break;
        }
    }
    if ((pm->pm1_cnt & ACPI_PM1_SLP_EN) && ACPI_PM1_SLP_TYP(pm->pm1_cnt) == ACPI_S5_TYPE)
        return IO_POWEROFF;
    pm->pm1_cnt &= (uint16_t)~ACPI_PM1_SLP_EN; /* SLP_EN is write-only */
    return IO_OK;
}

static uint32_t i8042_read(void *dev, uint16_t offset, unsigned size)
{
    (void)dev;
    (void)offset;
    (void)size;
    return 0; /* status: output and input buffers empty; data: nothing */
}

static enum io_effect i8042_data_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    (void)dev;
    (void)offset;
    (void)size;
    (void)value;
    return IO_OK;
}

static enum io_effect i8042_cmd_write(void *dev, uint16_t offset, unsigned size, uint32_t value)
{
    (void)dev;
    (void)offset;
    (void)size;
    return (value & 0xff) == I8042_CMD_RESET ? IO_RESET : IO_OK;
}

const struct io_dev_ops acpi_pm_ops = {.read = pm_read, .write = pm_write};
const struct io_dev_ops i8042_data_ops = {.read = i8042_read, .write = i8042_data_write};
const struct io_dev_ops i8042_cmd_ops = {.read = i8042_read, .write = i8042_cmd_write};
