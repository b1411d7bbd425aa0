/* The virtio 1.x PCI transport, modern only (virtio 1.1, 4.1), apart from
 * the device it carries: a device (virtio_net.c) gives a set of
 * virtio_device_ops and knows nothing of PCI; the transport knows nothing
 * of what the queues carry (Firecracker's VirtioDevice idea).
 *
 * The function (vendor 0x1af4, device 0x1040 + the virtio device id,
 * revision 1) has two 64-bit memory BARs:
 *
 *   BAR 0  common configuration  at VIRTIO_PCI_COMMON_OFF
 *          ISR status            at VIRTIO_PCI_ISR_OFF
 *          device configuration  at VIRTIO_PCI_DEVICE_OFF
 *          queue notifications   at VIRTIO_PCI_NOTIFY_OFF + queue * 4
 *   BAR 2  the MSI-X table and PBA (msix.h): one vector per queue plus one
 *          for configuration changes
 *
 * each region named by a vendor capability (virtio_pci_cap). No INTx: a
 * guest without MSI-X gets no interrupts (Linux uses MSI-X).
 *
 * The data path never reaches evr-vmm: each queue has a kick eventfd that
 * KVM_IOEVENTFD signals when the guest writes the queue's notify address
 * (assigned while BAR 0 decodes), and its MSI-X vector's eventfd is the
 * call eventfd, bound to the guest with KVM_IRQFD (msix.h). The device is
 * handed both at queue enable and gives them to its backend (vhost).
 *
 * The common configuration state machine (4.1.4.3):
 *   - device_status: 0 resets (every started queue is stopped, then the
 *     device reset); bits are only ever added until then.
 *     FEATURES_OK stays clear if the driver's features are not a subset of
 *     the offer, lack VERSION_1 or the device refuses them (the spec's way
 *     of saying no: the driver reads it back).
 *   - features in two 32-bit halves through the select registers.
 *   - per queue (queue_select): size (power of two, at most the max),
 *     MSI-X vector, ring addresses, enable. A queue's registers are
 *     read-only once it is enabled; enabling starts it on the device.
 *   - an MSI-X vector beyond the table reads back as NO_VECTOR (4.1.5.1.2).
 *
 * Bad guest writes never crash or stall evr-vmm: a queue size that is not a
 * power of two or above the max, enabling a queue before FEATURES_OK, or a
 * queue the device refuses to start (rings outside guest RAM, misaligned)
 * set DEVICE_NEEDS_RESET (with a configuration interrupt once DRIVER_OK),
 * are counted and said on stderr (the first VIRTIO_PCI_MESSAGES); writes of the wrong width, to read-only registers or to
 * an enabled queue are dropped and counted (bad_writes, shown by the
 * control socket's "counters" with resets).
 *
 * Locking: guest accesses run under the function's bus_device lock
 * (pci.h). A device's own thread (a backend event) takes the same lock
 * with virtio_pci_lock before it changes state the guest can read, so the
 * ops are single-threaded per device. */
#ifndef EVR_VMM_VIRTIO_PCI_H
#define EVR_VMM_VIRTIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "msix.h"
#include "pci.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + the virtio device id: a modern-only device */
#define VIRTIO_PCI_REVISION    1
#define VIRTIO_PCI_MAX_QUEUES  17 /* virtio-net: 8 pairs and its control queue */
#define VIRTIO_MSI_NO_VECTOR   0xffff
#define VIRTIO_PCI_MESSAGES    16 /* guest faults said on stderr per device, then counted */

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_F_VERSION_1      32
#define VIRTIO_RING_F_INDIRECT  28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_ISR_QUEUE        0x1
#define VIRTIO_ISR_CONFIG       0x2

/* BAR 0 and BAR 2 (4.1.4) */
#define VIRTIO_PCI_BAR         0
#define VIRTIO_PCI_MSIX_BAR    2
#define VIRTIO_PCI_BAR_SIZE    0x4000
#define VIRTIO_PCI_MSIX_SIZE   0x2000
#define VIRTIO_PCI_PBA_OFF     0x1000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_COMMON_LEN  0x38
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_DEVICE_MAX  0x1000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4

/* The capability (struct virtio_pci_cap) and its cfg_type. */
#define VIRTIO_PCI_CAP_VNDR       0x09
#define VIRTIO_PCI_CAP_LEN        16
#define VIRTIO_PCI_NOTIFY_CAP_LEN 20
#define VIRTIO_PCI_CAP_COMMON     1
#define VIRTIO_PCI_CAP_NOTIFY     2
#define VIRTIO_PCI_CAP_ISR        3
#define VIRTIO_PCI_CAP_DEVICE     4

/* struct virtio_pci_common_cfg */
#define VIRTIO_COMMON_DFSELECT 0x00
#define VIRTIO_COMMON_DF       0x04
#define VIRTIO_COMMON_GFSELECT 0x08
#define VIRTIO_COMMON_GF       0x0c
#define VIRTIO_COMMON_MSIX     0x10
#define VIRTIO_COMMON_NUMQ     0x12
#define VIRTIO_COMMON_STATUS   0x14
#define VIRTIO_COMMON_CFGGEN   0x15
#define VIRTIO_COMMON_Q_SELECT 0x16
#define VIRTIO_COMMON_Q_SIZE   0x18
#define VIRTIO_COMMON_Q_MSIX   0x1a
#define VIRTIO_COMMON_Q_ENABLE 0x1c
#define VIRTIO_COMMON_Q_NOFF   0x1e
#define VIRTIO_COMMON_Q_DESC   0x20
#define VIRTIO_COMMON_Q_AVAIL  0x28
#define VIRTIO_COMMON_Q_USED   0x30

/* A queue as the driver laid it out, and the eventfds of its doorbell and
 * of its interrupt, handed to the device at enable (borrowed: the
 * transport keeps them open while the queue runs). */
struct virtio_queue {
    uint16_t size;
    uint64_t desc, driver, device; /* guest-physical: descriptors, avail, used */
    int kick_fd;
    int call_fd;
};

/* What a device gives the transport. dev is virtio_device_info.dev. Every
 * op runs under the function's lock. */
struct virtio_device_ops {
    /* The features the device offers now (VERSION_1 among them). */
    uint64_t (*features)(void *dev);
    /* The driver's features at FEATURES_OK, a subset of the offer. 0, or
     * -1 with a message: FEATURES_OK then stays clear. */
    int (*set_features)(void *dev, uint64_t features, char *err, size_t errlen);
    /* The driver enabled queue index. 0, or -1 with a message (a bad
     * queue: DEVICE_NEEDS_RESET). */
    int (*queue_start)(void *dev, unsigned index, const struct virtio_queue *q, char *err,
                       size_t errlen);
    /* A started queue stops (a device reset). */
    void (*queue_stop)(void *dev, unsigned index);
    /* Device reset, after every started queue was stopped. May be NULL. */
    void (*reset)(void *dev);
    /* One byte of the device configuration at offset < config_len. */
    uint8_t (*config_byte)(void *dev, unsigned offset);
};

struct virtio_device_info {
    const char *name; /* in messages: "net0" */
    uint16_t device_id;
    uint32_t class_code;
    unsigned num_queues; /* 1..VIRTIO_PCI_MAX_QUEUES */
    uint16_t queue_max;  /* a power of two, at most 32768 */
    unsigned config_len; /* at most VIRTIO_PCI_DEVICE_MAX */
    const struct virtio_device_ops *ops;
    void *dev;
};

struct virtio_pci_queue {
    uint16_t size;
    uint16_t vector;
    bool enabled; /* started on the device */
    uint64_t desc, driver, device;
    int kick_fd;
    bool kick_assigned; /* its KVM_IOEVENTFD is in place */
};

struct virtio_pci {
    struct pci_function fn;
    struct msix msix;
    struct kvm_vm *kvm;
    struct virtio_device_info info;
    uint8_t status;
    uint32_t device_feature_select, driver_feature_select;
    uint64_t driver_features;
    bool driver_features_unknown; /* a bit written above the 64 known */
    uint16_t config_vector;
    uint8_t config_generation;
    uint16_t queue_select;
    uint8_t isr;
    struct virtio_pci_queue q[VIRTIO_PCI_MAX_QUEUES];
    int spare_call_fd;    /* the call eventfd of a queue without a vector */
    uint64_t notify_addr; /* where BAR 0's notify region decodes, or PCI_BAR_UNMAPPED */
    unsigned bad_writes;  /* dropped or refused guest writes */
    unsigned resets;      /* device resets by the driver */
    unsigned messages;    /* guest faults said on stderr so far */
    char error[256];      /* why DEVICE_NEEDS_RESET was set last */
};

/* Builds the function (BARs, capabilities, MSI-X, kick eventfds) for info
 * and adds it to m's PCI host at the lowest free slot. -1 with a message. */
int virtio_pci_init(struct virtio_pci *vp, struct machine *m, const struct virtio_device_info *info,
                    char *err, size_t errlen);
void virtio_pci_destroy(struct virtio_pci *vp, struct machine *m);

/* The function's lock, for a device thread (see above). */
void virtio_pci_lock(struct virtio_pci *vp);
void virtio_pci_unlock(struct virtio_pci *vp);

/* With the lock: the device configuration changed. The generation moves
 * and, once DRIVER_OK, the guest gets a configuration interrupt (ISR bit 1,
 * the configuration vector). */
void virtio_pci_config_changed(struct virtio_pci *vp);

/* With the lock: says what the guest did wrong on stderr, "NAME: what why",
 * for the first VIRTIO_PCI_MESSAGES of the device; later ones are only
 * counted by the caller (a guest doing it in a loop must not flood). */
void virtio_pci_say(struct virtio_pci *vp, const char *what, const char *why);

/* With the lock: sets DEVICE_NEEDS_RESET for why (kept in vp->error and
 * said on stderr once per reset), with a configuration interrupt. */
void virtio_pci_needs_reset(struct virtio_pci *vp, const char *why);

#endif
