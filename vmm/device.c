/* The device table and the machine that realizes it; see device.h. */
#include "device.h"
#include "pci.h"
#include "pci_hotplug.h"
#include "pci_testdev.h"
#include "power.h"
#include "uart.h"
#include "vfio_pci.h"
#include "virtio_net.h"

#include <stdio.h>
#include <string.h>

/* One list, not constructors in each file: evr-vmm is a static library, and
 * the linker drops an object nothing references, constructor or not. */
const struct device_type *const device_types[] = {
        &pci_host_device,    &uart_device,     &acpi_pm_device,
        &pci_hotplug_device, &i8042_device,    &pci_testdev_device,
        &virtio_net_device,  &vfio_pci_device, NULL,
};

int machine_init(struct machine *m, const struct vmm_config *cfg, struct kvm_vm kvm,
                 const struct guest_mem *mem, void (*console_tx)(void *ctx, uint8_t byte),
                 void *console_ctx, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->cfg = cfg;
    m->kvm = kvm;
    m->mem = mem;
    m->console_tx = console_tx;
    m->console_ctx = console_ctx;
    bus_init(&m->pio, "pio", 0x10000);
    bus_init(&m->mmio, "mmio", 0);
    gsi_router_init(&m->gsi, &m->kvm);
    for (unsigned i = 0; device_types[i]; i++) {
        const struct device_type *t = device_types[i];
        void *state;

        if (t->wanted && !t->wanted(cfg))
            continue;
        if (m->ndev == MACHINE_MAX_DEVICES) {
            snprintf(err, errlen, "devices: more than %d", MACHINE_MAX_DEVICES);
            machine_destroy(m);
            return -1;
        }
        state = t->realize(m, err, errlen);
        if (!state) {
            machine_destroy(m);
            return -1;
        }
        m->dev[m->ndev].type = t;
        m->dev[m->ndev].state = state;
        m->ndev++;
    }
    return 0;
}

void machine_destroy(struct machine *m)
{
    while (m->ndev > 0) {
        m->ndev--;
        m->dev[m->ndev].type->unrealize(m, m->dev[m->ndev].state);
    }
    gsi_router_destroy(&m->gsi);
    bus_destroy(&m->mmio);
    bus_destroy(&m->pio);
}

void *machine_device(const struct machine *m, const struct device_type *type)
{
    for (unsigned i = 0; i < m->ndev; i++)
        if (m->dev[i].type == type)
            return m->dev[i].state;
    return NULL;
}

int machine_claim_ports(struct machine *m, uint16_t base, uint16_t len, struct bus_device *dev,
                        unsigned region, char *err, size_t errlen)
{
    if (bus_claim(&m->pio, base, len, dev, region) == 0)
        return 0;
    snprintf(err, errlen, "%s: ports 0x%x-0x%x are taken", dev->name, base, base + len - 1);
    return -1;
}

void machine_irq_line(struct machine *m, unsigned irq, int level)
{
    struct kvm_irq_level l = {.irq = irq, .level = (uint32_t)level};

    kvm_vm_ioctl(&m->kvm, KVM_IRQ_LINE, &l);
}
