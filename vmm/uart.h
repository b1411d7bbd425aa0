/* A 16550A UART (8250 family) at COM1 (PORT_COM1, IRQ PORT_COM1_IRQ) as
 * Linux's 8250 driver probes and drives it: divisor latch, IER/IIR with
 * FIFO bits, LCR, MCR with loopback, LSR, MSR, scratch, a 16-byte receive
 * FIFO, and the THR-empty and receive interrupts. Bytes are transmitted at
 * once to the machine's console_tx; the interrupt line follows the IIR. */
#ifndef EVR_VMM_UART_H
#define EVR_VMM_UART_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

#define UART_PORTS    8
#define UART_FIFO_LEN 16

extern const struct device_type uart_device;

/* Feeds console input to the machine's UART (any thread); returns how many
 * bytes fitted in its receive FIFO. */
size_t uart_receive(struct machine *m, const uint8_t *data, size_t len);

#endif
