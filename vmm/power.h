/* The ways a Linux guest turns itself off or restarts on this platform:
 *   - ACPI PM1a control register (PORT_ACPI_PM1_CNT): SLP_EN with SLP_TYP 5
 *     (\_S5) is power-off; Linux's default poweroff path with ACPI;
 *   - ACPI reset register (PORT_ACPI_RESET): ACPI_RESET_VALUE is reset;
 *     Linux's first reboot method;
 *   - i8042 command port (0x64): command 0xfe pulses the CPU reset line;
 *     Linux's "reboot=k" and its fallback after ACPI.
 * The i8042 side answers status reads with "empty" so that Linux's
 * keyboard-controller wait loops end at once. Two devices: "acpi-pm" at
 * PORT_ACPI_PM_BASE (PORT_ACPI_PM_LEN ports) and "i8042" at PORT_I8042_DATA
 * and PORT_I8042_CMD. Their writes end in BUS_POWEROFF or BUS_RESET. */
#ifndef EVR_VMM_POWER_H
#define EVR_VMM_POWER_H

#include "device.h"

#define I8042_CMD_RESET 0xfe

extern const struct device_type acpi_pm_device;
extern const struct device_type i8042_device;

#endif
