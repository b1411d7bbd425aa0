/* 16550A emulation; see uart.h. Register semantics follow the National
 * Semiconductor PC16550D data sheet. */
#include "uart.h"
#include "device.h"
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct uart {
    struct bus_device dev; /* first: the bus hands ops a pointer to it */
    struct machine *m;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    int thr_pending; /* THR-empty interrupt waiting to be seen in IIR */
    int irq_level;
    uint8_t rx[UART_FIFO_LEN];
    unsigned rx_head, rx_count;
};

enum {
    REG_RBR_THR_DLL = 0,
    REG_IER_DLM = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_RDI      0x01
#define IER_THRI     0x02
#define IER_MASK     0x0f
#define IIR_NO_INT   0x01
#define IIR_THRI     0x02
#define IIR_RDI      0x04
#define IIR_FIFO_ON  0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB     0x80
#define MCR_DTR      0x01
#define MCR_RTS      0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define MCR_MASK     0x1f
#define LSR_DR       0x01
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS      0x10
#define MSR_DSR      0x20
#define MSR_RI       0x40
#define MSR_DCD      0x80

static void uart_reset(struct uart *u)
{
    u->dll = 0x0c; /* 9600 baud, as after a BIOS */
    u->lcr = 0x03; /* 8N1 */
    u->mcr = MCR_OUT2;
}

static uint8_t iir(const struct uart *u)
{
    uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0;

    if ((u->ier & IER_RDI) && u->rx_count)
        return fifo | IIR_RDI;
    if ((u->ier & IER_THRI) && u->thr_pending)
        return fifo | IIR_THRI;
    return fifo | IIR_NO_INT;
}

static void update_irq(struct uart *u)
{
    int level = !(iir(u) & IIR_NO_INT);

    if (level != u->irq_level) {
        u->irq_level = level;
        machine_irq_line(u->m, PORT_COM1_IRQ, level);
    }
}

static void rx_push(struct uart *u, uint8_t b)
{
    u->rx[(u->rx_head + u->rx_count) % UART_FIFO_LEN] = b;
    u->rx_count++;
}

static uint8_t msr(const struct uart *u)
{
    if (u->mcr & MCR_LOOP) {
        /* Loopback wires the modem outputs back to the inputs; Linux's probe
         * relies on this to tell a UART from an empty port. */
        return (u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR : 0) |
               (u->mcr & MCR_OUT1 ? MSR_RI : 0) | (u->mcr & MCR_OUT2 ? MSR_DCD : 0);
    }
    return MSR_DCD | MSR_DSR | MSR_CTS;
}

static uint64_t uart_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    struct uart *u = (struct uart *)dev;
    uint8_t v = 0;

    (void)region;
    (void)size;
    switch (offset) {
    case REG_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB) {
            v = u->dll;
        } else if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_FIFO_LEN;
            u->rx_count--;
        }
        break;
    case REG_IER_DLM:
        v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
        break;
    case REG_IIR_FCR:
        v = iir(u);
        /* Reading IIR while it reports THR empty acknowledges that interrupt. */
        if ((v & 0x0f) == IIR_THRI)
            u->thr_pending = 0;
        break;
    case REG_LCR:
        v = u->lcr;
        break;
    case REG_MCR:
        v = u->mcr;
        break;
    case REG_LSR:
        v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
        break;
    case REG_MSR:
        v = msr(u);
        break;
    case REG_SCR:
        v = u->scr;
        break;
    default:
        v = 0xff;
        break;
    }
    update_irq(u);
    return v;
}

static enum bus_effect uart_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                  unsigned size, uint64_t value)
{
    struct uart *u = (struct uart *)dev;
    uint8_t v = (uint8_t)value;

    (void)region;
    (void)size;
    switch (offset) {
    case REG_RBR_THR_DLL:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
        } else {
            if (u->mcr & MCR_LOOP) {
                if (u->rx_count < UART_FIFO_LEN)
                    rx_push(u, v);
            } else if (u->m->console_tx) {
                u->m->console_tx(u->m->console_ctx, v);
            }
            u->thr_pending = 1;
        }
        break;
    case REG_IER_DLM:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            /* Enabling the THR-empty interrupt while THR is empty raises it. */
            if (!(u->ier & IER_THRI) && (v & IER_THRI))
                u->thr_pending = 1;
            u->ier = v & IER_MASK;
        }
        break;
    case REG_IIR_FCR:
        u->fcr = v & (uint8_t)~0x06; /* clear bits self-clear */
        if (v & FCR_CLEAR_RX) {
            u->rx_head = 0;
            u->rx_count = 0;
        }
        break;
    case REG_LCR:
        u->lcr = v;
        break;
    case REG_MCR:
        u->mcr = v & MCR_MASK;
        break;
    case REG_SCR:
        u->scr = v;
        break;
    default: /* LSR and MSR are read-only */
        break;
    }
    update_irq(u);
    return BUS_OK;
}

static const struct bus_ops uart_ops = {.read = uart_read, .write = uart_write};

size_t uart_receive(struct machine *m, const uint8_t *data, size_t len)
{
    struct uart *u = machine_device(m, &uart_device);
    size_t n = 0;

    if (!u)
        return len; /* no UART: the bytes go nowhere */
    pthread_mutex_lock(&u->dev.lock);
    while (n < len && u->rx_count < UART_FIFO_LEN)
        rx_push(u, data[n++]);
    update_irq(u);
    pthread_mutex_unlock(&u->dev.lock);
    return n;
}

static void *uart_realize(struct machine *m, char *err, size_t errlen)
{
    struct uart *u = calloc(1, sizeof(*u));

    if (!u) {
        snprintf(err, errlen, "uart: out of memory");
        return NULL;
    }
    bus_device_init(&u->dev, "uart", &uart_ops);
    u->m = m;
    uart_reset(u);
    if (machine_claim_ports(m, PORT_COM1, UART_PORTS, &u->dev, 0, err, errlen)) {
        bus_device_destroy(&u->dev);
        free(u);
        return NULL;
    }
    return u;
}

static void uart_unrealize(struct machine *m, void *state)
{
    struct uart *u = state;

    bus_release(&m->pio, PORT_COM1, &u->dev);
    bus_device_destroy(&u->dev);
    free(u);
}

const struct device_type uart_device = {
        .name = "uart", .realize = uart_realize, .unrealize = uart_unrealize};
