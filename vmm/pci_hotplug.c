/* ACPI PCI hotplug of bus 0; see pci_hotplug.h. */
#include "pci_hotplug.h"
#include "layout.h"
#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REGION_GPE 0
#define REGION_HP  1
#define GPE_BIT    (1u << PCI_HOTPLUG_GPE)

static uint32_t slot_bit(unsigned slot)
{
    return slot > 0 && slot < PCI_SLOTS ? 1u << slot : 0;
}

static uint32_t occupied(const struct pci_hotplug *hp)
{
    uint32_t v = 0;

    for (unsigned i = 1; hp->m->pci && i < PCI_SLOTS; i++)
        if (__atomic_load_n(&hp->m->pci->slot[i], __ATOMIC_ACQUIRE))
            v |= 1u << i;
    return v;
}

static uint32_t removable(const struct pci_hotplug *hp)
{
    uint32_t v = 0;

    for (unsigned i = 1; hp->m->pci && i < PCI_SLOTS; i++) {
        const struct pci_function *fn = __atomic_load_n(&hp->m->pci->slot[i], __ATOMIC_ACQUIRE);
        if (fn && fn->removable)
            v |= 1u << i;
    }
    return v;
}

/* The SCI follows the GPEs: high while one is pending and enabled. Called
 * with the lock held. */
static void update_sci(struct pci_hotplug *hp)
{
    bool level = (hp->gpe_sts & hp->gpe_en) != 0;

    if (level != hp->sci) {
        hp->sci = level;
        machine_irq_line(hp->m, ACPI_SCI_IRQ, level);
    }
}

static void raise_gpe(struct pci_hotplug *hp)
{
    hp->gpe_sts |= GPE_BIT;
    update_sci(hp);
}

static uint32_t present_locked(struct pci_hotplug *hp)
{
    return occupied(hp) & ~hp->ejected;
}

/* The guest's EJECT write: only slots the host asked to eject, that hold a
 * removable function, are taken; every other bit is ignored and counted. */
static void eject_written(struct pci_hotplug *hp, uint32_t bits)
{
    uint32_t ok = bits & hp->down & removable(hp) & ~1u;

    for (unsigned i = 0; i < PCI_SLOTS; i++)
        if ((bits & ~ok) & (1u << i))
            hp->ejects_ignored++;
    if (!ok)
        return;
    hp->down &= ~ok;
    hp->ejected |= ok;
    pthread_cond_broadcast(&hp->ejected_cond);
}

static uint64_t reg_bytes(uint32_t reg, unsigned byte, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size && byte + i < 4; i++)
        v |= (uint64_t)((reg >> (8 * (byte + i))) & 0xff) << (8 * i);
    return v;
}

static uint64_t hp_read(struct bus_device *dev, unsigned region, uint64_t offset, unsigned size)
{
    struct pci_hotplug *hp = (struct pci_hotplug *)dev;
    unsigned byte = (unsigned)(offset & 3);
    uint64_t v;

    if (region == REGION_GPE) {
        uint8_t regs[ACPI_GPE0_LEN] = {hp->gpe_sts, 0, hp->gpe_en, 0};
        v = 0;
        for (unsigned i = 0; i < size && offset + i < ACPI_GPE0_LEN; i++)
            v |= (uint64_t)regs[offset + i] << (8 * i);
        return v;
    }
    switch (offset & ~3ull) {
    case PCI_HOTPLUG_REG_UP:
        v = reg_bytes(hp->up, byte, size);
        /* Read once by the GPE method: the bytes read are consumed. */
        for (unsigned i = 0; i < size && byte + i < 4; i++)
            hp->up &= ~(0xffu << (8 * (byte + i)));
        return v;
    case PCI_HOTPLUG_REG_DOWN:
        return reg_bytes(hp->down, byte, size);
    case PCI_HOTPLUG_REG_PRESENT:
        return reg_bytes(present_locked(hp), byte, size);
    default: /* EJECT is write-only */
        return 0;
    }
}

static enum bus_effect hp_write(struct bus_device *dev, unsigned region, uint64_t offset,
                                unsigned size, uint64_t value)
{
    struct pci_hotplug *hp = (struct pci_hotplug *)dev;
    unsigned byte = (unsigned)(offset & 3);

    if (region == REGION_GPE) {
        for (unsigned i = 0; i < size && offset + i < ACPI_GPE0_LEN; i++) {
            uint8_t b = (uint8_t)(value >> (8 * i));
            if (offset + i == 0)
                hp->gpe_sts &= (uint8_t)~b; /* write 1 to clear */
            else if (offset + i == 2)
                hp->gpe_en = b;
        }
        update_sci(hp);
        return BUS_OK;
    }
    if ((offset & ~3ull) == PCI_HOTPLUG_REG_EJECT) {
        uint32_t bits = 0;
        for (unsigned i = 0; i < size && byte + i < 4; i++)
            bits |= (uint32_t)((value >> (8 * i)) & 0xff) << (8 * (byte + i));
        eject_written(hp, bits);
    }
    return BUS_OK; /* the read-only registers drop writes */
}

static const struct bus_ops hp_ops = {.read = hp_read, .write = hp_write};

static void *hp_realize(struct machine *m, char *err, size_t errlen)
{
    struct pci_hotplug *hp = calloc(1, sizeof(*hp));
    pthread_condattr_t attr;

    if (!hp) {
        snprintf(err, errlen, "pci-hotplug: out of memory");
        return NULL;
    }
    hp->m = m;
    bus_device_init(&hp->dev, "pci-hotplug", &hp_ops);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hp->ejected_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (machine_claim_ports(m, PORT_ACPI_GPE0, ACPI_GPE0_LEN, &hp->dev, REGION_GPE, err, errlen) ||
        machine_claim_ports(m, PORT_PCI_HOTPLUG, PCI_HOTPLUG_LEN, &hp->dev, REGION_HP, err,
                            errlen)) {
        bus_release(&m->pio, PORT_ACPI_GPE0, &hp->dev);
        pthread_cond_destroy(&hp->ejected_cond);
        bus_device_destroy(&hp->dev);
        free(hp);
        return NULL;
    }
    return hp;
}

static void hp_unrealize(struct machine *m, void *state)
{
    struct pci_hotplug *hp = state;

    bus_release(&m->pio, PORT_ACPI_GPE0, &hp->dev);
    bus_release(&m->pio, PORT_PCI_HOTPLUG, &hp->dev);
    pthread_cond_destroy(&hp->ejected_cond);
    bus_device_destroy(&hp->dev);
    free(hp);
}

const struct device_type pci_hotplug_device = {
        .name = "pci-hotplug", .realize = hp_realize, .unrealize = hp_unrealize};

struct pci_hotplug *pci_hotplug_of(const struct machine *m)
{
    return machine_device(m, &pci_hotplug_device);
}

uint32_t pci_hotplug_slots(const struct machine *m)
{
    uint32_t v = 0;

    for (unsigned i = 1; m->pci && i < PCI_SLOTS; i++) {
        const struct pci_function *fn = m->pci->slot[i];
        if (!fn || fn->removable)
            v |= 1u << i;
    }
    return v;
}

uint32_t pci_hotplug_present(struct pci_hotplug *hp)
{
    uint32_t v;

    pthread_mutex_lock(&hp->dev.lock);
    v = present_locked(hp);
    pthread_mutex_unlock(&hp->dev.lock);
    return v;
}

void pci_hotplug_insert(struct pci_hotplug *hp, unsigned slot)
{
    pthread_mutex_lock(&hp->dev.lock);
    hp->up |= slot_bit(slot);
    hp->down &= ~slot_bit(slot);
    hp->ejected &= ~slot_bit(slot);
    raise_gpe(hp);
    pthread_mutex_unlock(&hp->dev.lock);
}

void pci_hotplug_request_eject(struct pci_hotplug *hp, unsigned slot)
{
    pthread_mutex_lock(&hp->dev.lock);
    hp->down |= slot_bit(slot);
    raise_gpe(hp);
    pthread_mutex_unlock(&hp->dev.lock);
}

bool pci_hotplug_wait(struct pci_hotplug *hp, unsigned slot, unsigned timeout_ms)
{
    struct timespec until;
    bool done;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&hp->dev.lock);
    while (!(done = (hp->ejected & slot_bit(slot)) != 0))
        if (pthread_cond_timedwait(&hp->ejected_cond, &hp->dev.lock, &until) == ETIMEDOUT)
            break;
    done = (hp->ejected & slot_bit(slot)) != 0;
    pthread_mutex_unlock(&hp->dev.lock);
    return done;
}

bool pci_hotplug_cancel(struct pci_hotplug *hp, unsigned slot)
{
    bool ejected;

    pthread_mutex_lock(&hp->dev.lock);
    ejected = (hp->ejected & slot_bit(slot)) != 0;
    hp->down &= ~slot_bit(slot);
    pthread_mutex_unlock(&hp->dev.lock);
    return ejected;
}

void pci_hotplug_removed(struct pci_hotplug *hp, unsigned slot)
{
    pthread_mutex_lock(&hp->dev.lock);
    hp->down &= ~slot_bit(slot);
    hp->ejected &= ~slot_bit(slot);
    hp->up &= ~slot_bit(slot);
    pthread_mutex_unlock(&hp->dev.lock);
}
