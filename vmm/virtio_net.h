/* virtio-net devices (virtio 1.1, 5.1) whose datapath is a vhost-user
 * backend: the device "virtio-net" realizes one PCI function (virtio_pci.h)
 * per entry of the config's "net" list, in its order, at the lowest free
 * slots, so the guest's eth0, eth1, ... follow the list.
 *
 * Each interface listens on its vhost_user socket (vhost_user.h); the
 * vswitch's VM port connects as the client. evr-vmm keeps the
 * configuration space (MAC, status) and the link; frames move between the
 * guest's rings and the backend without evr-vmm.
 *
 *   features   the backend's offer masked by what evr-vmm carries
 *              (VERSION_1, MRG_RXBUF, INDIRECT_DESC, EVENT_IDX; no offloads:
 *              the vswitch forwards frames as they are), plus MAC and STATUS,
 *              which are evr-vmm's own. With no backend yet, evr-vmm's set:
 *              a backend that connects later without one of the features
 *              the driver took is refused (vhost_user.h).
 *   queues     the config's "queues" pairs (receive 2k, transmit 2k+1).
 *              With more than one: VIRTIO_NET_F_MQ (max_virtqueue_pairs)
 *              and VIRTIO_NET_F_CTRL_VQ, the control queue after the last
 *              pair, served by evr-vmm itself (virtqueue.h): the only
 *              command is MQ VQ_PAIRS_SET, which enables the rings of the
 *              pairs the driver uses on the backend (SET_VRING_ENABLE) and
 *              disables the rest; anything else the driver writes there is
 *              answered VIRTIO_NET_ERR (a broken chain: DEVICE_NEEDS_RESET).
 *              The driver starts on the first pair, after each reset too.
 *              A backend with fewer pairs is refused (vhost_user.h).
 *   link       VIRTIO_NET_S_LINK_UP while the backend is connected and the
 *              controller has not set the link down (virtio_net_set_link,
 *              the control socket's "link"); each change raises a
 *              configuration interrupt. A backend that leaves takes the link
 *              down; one that comes back gets the same rings (the frontend
 *              replays them) and the link comes up again.
 *
 * Each interface has a thread that waits on its socket and handles backend
 * events under the function's lock (virtio_pci.h). */
#ifndef EVR_VMM_VIRTIO_NET_H
#define EVR_VMM_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"

#define VIRTIO_ID_NET              1
#define VIRTIO_NET_F_MAC           5
#define VIRTIO_NET_F_MRG_RXBUF     15
#define VIRTIO_NET_F_STATUS        16
#define VIRTIO_NET_F_CTRL_VQ       17
#define VIRTIO_NET_F_MQ            22
#define VIRTIO_NET_S_LINK_UP       1
#define VIRTIO_NET_QUEUE_MAX       256
#define VIRTIO_NET_CONFIG_LEN      10 /* mac, status, max_virtqueue_pairs */
#define VIRTIO_NET_CFG_MAC         0
#define VIRTIO_NET_CFG_STATUS      6
#define VIRTIO_NET_CFG_MAX_PAIRS   8
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

/* The control queue (5.1.6.5): class and command, the ack. */
#define VIRTIO_NET_CTRL_MQ              4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_OK                   0
#define VIRTIO_NET_ERR                  1

extern const struct device_type virtio_net_device;

struct virtio_net_link {
    bool admin_up; /* the controller's choice */
    bool backend;  /* a backend is connected */
    bool up;       /* what the guest sees: both */
};

/* The number of interfaces of m. */
unsigned virtio_net_count(const struct machine *m);

/* Sets interface iface's link administratively up or down (a configuration
 * interrupt if what the guest sees changes) and says where it stands.
 * -1 with a message if there is no such interface. Any thread. */
int virtio_net_set_link(struct machine *m, unsigned iface, bool up, struct virtio_net_link *out,
                        char *err, size_t errlen);

/* Where interface iface's link stands; -1 if there is none. Any thread. */
int virtio_net_get_link(struct machine *m, unsigned iface, struct virtio_net_link *out);

/* The PCI function of interface iface (tests, the fuzz harness), or NULL. */
struct pci_function *virtio_net_function(const struct machine *m, unsigned iface);

#endif
