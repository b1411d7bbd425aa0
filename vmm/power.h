/* The ways a Linux guest turns itself off or restarts on this platform:
 *   - ACPI PM1a control register (PORT_ACPI_PM1_CNT): SLP_EN with SLP_TYP 5
 *     (\_S5) is power-off; Linux's default poweroff path with ACPI;
 *   - ACPI reset register (PORT_ACPI_RESET): ACPI_RESET_VALUE is reset;
 *     Linux's first reboot method;
 *   - i8042 command port (0x64): command 0xfe pulses the CPU reset line;
 *     Linux's "reboot=k" and its fallback after ACPI.
 * The i8042 side answers status reads with "empty" so that Linux's
 * keyboard-controller wait loops end at once. */
#ifndef EVR_VMM_POWER_H
#define EVR_VMM_POWER_H

#include "io_bus.h"

#define I8042_CMD_RESET 0xfe

#include <stdint.h>

/* The ACPI PM device at PORT_ACPI_PM_BASE (PORT_ACPI_PM_LEN ports). */
struct acpi_pm {
    uint16_t pm1_en;
    uint16_t pm1_cnt;
};

extern const struct io_dev_ops acpi_pm_ops;
extern const struct io_dev_ops i8042_data_ops; /* at PORT_I8042_DATA, 1 port */
extern const struct io_dev_ops i8042_cmd_ops;  /* at PORT_I8042_CMD, 1 port */

#endif
