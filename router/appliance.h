/* The appliance as evrd is told it is: one JSON file (configs/appliance-*.json)
 * that declares the front-panel ports and what backs each, the cores and
 * memory of the vswitch, and the router-engine VMs. It is the inventory that
 * every change of the partition is checked against (partition.h).
 *
 *   {
 *     "state_dir": "/var/lib/evr",              where the partition is kept
 *     "vswitch": {"cores": [0, 1], "memory": 512},   optional "idle_sleep_us":
 *                                          how long an idle worker sleeps [0]
 *     "ports": [
 *       {"name": "port0", "netdev": "eth1"},            a kernel interface
 *       {"name": "port1", "pci": "0000:01:00.0", "vfs": 7}, a PCI function (a PF
 *                                                        that may carve 7 VFs)
 *       {"name": "port2", "devargs": "net_pcap0,iface=eth3"} any DPDK ethdev
 *     ],
 *     "vms": [
 *       {"name": "vm-a", "ports": 4, "cores": [2, 3],
 *        "vmm": {"kernel": "...", "initrd": "...", "memory": 512, "vcpus": 2}}
 *     ]
 *   }
 *
 * A port is named portN (the number slices use: port0-7, port8.100-199) and
 * is backed by exactly one of netdev, pci or devargs; only a PCI function may
 * declare VFs. A VM's "ports" is the number of virtio-net interfaces it has
 * (vswitch-mode slices are put on them), "queues" (1-8, default 1) the queue
 * pairs of each (net_vhost queues=N in the vswitch, "queues" in evr-vmm's
 * net entry), its "cores" the host CPUs its vCPUs
 * are pinned to, one per vCPU; "vmm" is an evr-vmm configuration (vmm/config.h,
 * checked by evr-vmm's own parser) without "pin", "control" and "console",
 * which evrd sets. No two users (VMs, the vswitch) share a core unless
 * "share_cores" is true.
 *
 * Unknown keys, wrong types and bad values are refused with a message naming
 * the key by its path ("vms[1].cores[0]"); nothing of a refused file is used. */
#ifndef EVR_ROUTER_APPLIANCE_H
#define EVR_ROUTER_APPLIANCE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define EVR_APPL_PORT_MAX 256u  /* ports in one appliance */
#define EVR_APPL_VM_MAX   64u   /* router-engine VMs */
#define EVR_APPL_CORE_MAX 1024u /* highest core number + 1 */
#define EVR_APPL_CORES    256u  /* cores of one user (a VM, the vswitch) */
#define EVR_APPL_VM_PORTS 8u    /* virtio-net interfaces of one VM (evr-vmm's CONFIG_MAX_NET) */
#define EVR_NAME_MAX      32u   /* a VM name, NUL included */
#define EVR_BACKING_MAX   256u

enum evr_port_backing {
    EVR_BACKING_NETDEV,  /* a kernel network interface */
    EVR_BACKING_PCI,     /* a PCI function, by address */
    EVR_BACKING_DEVARGS, /* any DPDK ethdev, by its devargs */
};

struct evr_appl_port {
    uint16_t number; /* N of portN */
    enum evr_port_backing backing;
    char backing_value[EVR_BACKING_MAX]; /* interface, PCI address or devargs */
    uint16_t vfs;                        /* VFs its PF may carve (PCI only) */
};

struct evr_appl_cores {
    unsigned count;
    uint16_t core[EVR_APPL_CORES];
};

struct evr_appl_vm {
    char name[EVR_NAME_MAX];
    unsigned ports;  /* virtio-net interfaces */
    unsigned queues; /* queue pairs of each (1..8): the guest spreads its traffic over them */
    struct evr_appl_cores cores;
    json_t *vmm; /* the evr-vmm configuration object (owned) */
};

struct evr_appliance {
    char state_dir[PATH_MAX];
    struct evr_appl_cores vswitch_cores;
    unsigned vswitch_memory_mib;
    unsigned vswitch_idle_sleep_us; /* its --idle-sleep-us: 0 busy-polls (the fastest) */
    bool share_cores;
    unsigned nports;
    struct evr_appl_port ports[EVR_APPL_PORT_MAX]; /* in the file's order */
    unsigned nvms;
    struct evr_appl_vm vms[EVR_APPL_VM_MAX];
};

/* Parses the appliance from JSON text; source names it in messages. On
 * failure *a is left empty (nothing to free). */
int evr_appliance_parse(struct evr_appliance *a, const char *text, const char *source,
                        struct evr_err *err);

/* Same, from a file. */
int evr_appliance_load(struct evr_appliance *a, const char *path, struct evr_err *err);

void evr_appliance_free(struct evr_appliance *a);

/* The port numbered number, or NULL. */
const struct evr_appl_port *evr_appliance_port(const struct evr_appliance *a, unsigned number);

/* The index of the VM called name, or -1. */
int evr_appliance_vm(const struct evr_appliance *a, const char *name);

#endif
