/* The configuration of one VM: a JSON object (--config vm.json) and the same
 * keys as command-line flags (flags win). Keys, their flags and defaults:
 *
 *   kernel     --kernel PATH      bzImage to boot (required)
 *   initrd     --initrd PATH      initramfs
 *   cmdline    --cmdline TEXT     kernel command line ["console=ttyS0"]
 *   memory     --memory MIB       guest RAM in MiB [256]
 *   vcpus      --vcpus N          vCPUs [1]
 *   pin        --pin LIST         host CPU of each vCPU: JSON [0,1] or "0,1"
 *   hugepages  --hugepages        back RAM with 2 MiB huge pages [false]
 *   console    --console SPEC     "stdout", "file:PATH", "socket:PATH", "none" [stdout]
 *   control    --control PATH     control socket (JSON lines), created 0600
 *   on_reboot  --on-reboot WHAT   "exit" or "restart" [exit]
 *   pci_test   --pci-test         add the PCI test function (pci_testdev.h) [false]
 *   net        --net SPEC         network interfaces, in the guest's order (virtio_net.h):
 *                                 [{"vhost_user": PATH, "mac": "02:...", "queues": N},
 *                                 {"tap": IFNAME}, ...]; queues: queue pairs [1], at most 8,
 *                                 1 for a tap; a flag SPEC is vhost_user:PATH or tap:IFNAME,
 *                                 then ,mac=MAC and ,queues=N, and adds one more
 *   passthrough --passthrough LIST host PCI functions given to the guest (vfio_pci.h):
 *                                 JSON ["0000:00:03.0"] or "0000:00:03.0,0000:00:04.0"
 *
 * Unknown keys, wrong types and bad values are refused with a message that
 * names the key; nothing of a refused configuration is used. */
#ifndef EVR_VMM_CONFIG_H
#define EVR_VMM_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_CMDLINE_MAX    4096
#define CONFIG_MIN_MEMORY_MIB 16
#define CONFIG_MAX_MEMORY_MIB (1024u * 1024u) /* 1 TiB */
#define CONFIG_MAX_VCPUS      254
#define CONFIG_MAX_NET        8
#define CONFIG_MAC_LEN        6
#define CONFIG_MAX_NET_QUEUES 8 /* queue pairs of one interface (VHOST_USER_MAX_QUEUE_PAIRS) */

#define CONFIG_MAX_PASSTHROUGH 8
#define CONFIG_PCI_ADDR_LEN    13 /* "0000:00:03.0" and its NUL */

enum console_kind { CONSOLE_STDOUT, CONSOLE_FILE, CONSOLE_SOCKET, CONSOLE_NONE };
enum reboot_action { REBOOT_EXIT, REBOOT_RESTART };

/* One network interface: a virtio-net device whose datapath is a vhost-user
 * backend connecting to vhost_user (evr-vmm listens there), or the kernel's
 * vhost-net with the host tap named tap (the management port). */
struct config_net {
    char vhost_user[108]; /* sun_path; empty for a tap */
    char tap[16];         /* IFNAMSIZ; empty for vhost-user */
    uint8_t mac[CONFIG_MAC_LEN];
    unsigned queues; /* queue pairs, 1..CONFIG_MAX_NET_QUEUES; a tap has 1 */
    bool link_down;  /* starts administratively down ("link": "down"): the
                        controller brings it up with the control socket's link op */
};

struct vmm_config {
    char kernel[PATH_MAX];
    char initrd[PATH_MAX];
    char cmdline[CONFIG_CMDLINE_MAX];
    uint64_t memory_mib;
    unsigned vcpus;
    unsigned npin; /* 0: not pinned */
    unsigned pin[CONFIG_MAX_VCPUS];
    bool hugepages;
    enum console_kind console;
    char console_path[PATH_MAX];
    char control[108]; /* sun_path */
    /* Where evr-vmm writes its exit status when it ends on its own terms
     * (a supervisor that is not its parent learns how it ended); empty:
     * nowhere. */
    char exit_file[PATH_MAX];
    enum reboot_action on_reboot;
    bool pci_test;
    unsigned nnet;
    struct config_net net[CONFIG_MAX_NET];
    unsigned npassthrough;
    char passthrough[CONFIG_MAX_PASSTHROUGH][CONFIG_PCI_ADDR_LEN];
};

struct config_error {
    char msg[512];
};

void config_defaults(struct vmm_config *cfg);

/* Applies one key with its value as text (a flag). */
int config_set(struct vmm_config *cfg, const char *key, const char *value,
               struct config_error *err);

/* Applies every key of a JSON object read from path. */
int config_load_file(struct vmm_config *cfg, const char *path, struct config_error *err);

/* Same, from JSON text (source names it in messages). */
int config_load_json(struct vmm_config *cfg, const char *text, const char *source,
                     struct config_error *err);

/* Parses a MAC address "aa:bb:cc:dd:ee:ff" (a unicast one); -1 if it is not. */
int config_parse_mac(const char *text, uint8_t mac[CONFIG_MAC_LEN]);

/* Checks what single keys cannot: required keys, pin against vcpus, and the
 * host (pinned CPUs exist, memory fits). */
int config_check(const struct vmm_config *cfg, struct config_error *err);

/* Whether key is a configuration key; the flag of key k is "--" k with '_' as '-'. */
bool config_is_key(const char *key);

#endif
