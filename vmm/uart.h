/* A 16550A UART (8250 family) as Linux's 8250 driver probes and drives it:
 * divisor latch, IER/IIR with FIFO bits, LCR, MCR with loopback, LSR, MSR,
 * scratch, a 16-byte receive FIFO, and the THR-empty and receive interrupts.
 * Bytes are transmitted at once; the interrupt line is reported through a
 * callback whenever its level changes. */
#ifndef EVR_VMM_UART_H
#define EVR_VMM_UART_H

#include <stddef.h>
#include <stdint.h>

#include "io_bus.h"

#define UART_FIFO_LEN 16

struct uart {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    int thr_pending; /* THR-empty interrupt waiting to be seen in IIR */
    int irq_level;
    uint8_t rx[UART_FIFO_LEN];
    unsigned rx_head, rx_count;
    void (*tx)(void *ctx, uint8_t byte);
    void (*irq)(void *ctx, int level);
    void *ctx;
};

extern const struct io_dev_ops uart_ops;

void uart_init(struct uart *u, void (*tx)(void *ctx, uint8_t byte),
               void (*irq)(void *ctx, int level), void *ctx);

/* Feeds received bytes; returns how many fitted in the receive FIFO. The
 * caller holds the I/O bus lock (the same lock vCPU accesses take). */
size_t uart_receive(struct uart *u, const uint8_t *data, size_t len);

#endif
