/* The vswitch's declared state: ports, slices and LAGs as the control socket
 * set them. It is plain data with no DPDK in it, so every rule about what may
 * be declared lives here and is unit-tested without a data plane. The data
 * plane never reads it: tables.h compiles it into what the workers read.
 *
 * Every mutator validates first and changes nothing when it fails; callers
 * that chain several mutators work on a copy and keep it only if all pass. */
#ifndef EVR_VSWITCH_CONFIG_H
#define EVR_VSWITCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define VS_PORT_MAX       32u /* declared ports (wire and VM) */
#define VS_SLICE_MAX      64u
#define VS_LAG_MAX        8u
#define VS_LAG_MEMBER_MAX 8u
#define VS_NAME_MAX       32u /* including the terminating NUL */
#define VS_DEVARGS_MAX    256u
#define VS_VLAN_RANGE_MAX 16u /* VLAN ranges in one slice */
#define VS_VLAN_ID_MAX    4094u
#define VS_NONE           0xffu /* no port / slice / LAG index */

enum vs_port_role {
    VS_ROLE_WIRE, /* a physical side port: carries slices, can join a LAG */
    VS_ROLE_VM,   /* a router-engine VM's port (vhost-user or a stand-in) */
};

struct vs_port {
    bool used;
    char name[VS_NAME_MAX];
    char devargs[VS_DEVARGS_MAX];
    enum vs_port_role role;
    bool admin_up;    /* operator state; a LAG only uses members that are up */
    bool link_up;     /* last link state the device reported */
    uint16_t dpdk_id; /* filled once the device is opened */
    uint16_t n_rxq;   /* receive queues: asked for (0 = all, at most 8) until the
                       * device is opened, then the ones it was configured with */
};

enum vs_slice_mode {
    VS_SLICE_ACCESS, /* the tag is popped toward the VM and pushed toward the wire */
    VS_SLICE_TRUNK,  /* tags are kept both ways */
};

struct vs_vlan_range {
    uint16_t first;
    uint16_t last;
};

struct vs_slice {
    bool used;
    char name[VS_NAME_MAX];
    bool uplink_is_lag;
    uint8_t uplink; /* port index, or LAG index when uplink_is_lag */
    uint8_t vm;     /* port index of a VM-role port */
    enum vs_slice_mode mode;
    bool untagged; /* untagged and priority-tagged (VLAN 0) frames belong here */
    uint8_t n_ranges;
    struct vs_vlan_range ranges[VS_VLAN_RANGE_MAX];
};

enum vs_lag_mode {
    VS_LAG_ACTIVE_BACKUP, /* all traffic on the first member that is up */
    VS_LAG_BALANCE,       /* flows hashed over the members that are up */
};

enum vs_lag_hash {
    VS_HASH_L2,  /* MAC addresses */
    VS_HASH_L23, /* MACs and IP addresses */
    VS_HASH_L34, /* IP addresses and TCP/UDP ports */
};

struct vs_lag {
    bool used;
    char name[VS_NAME_MAX];
    enum vs_lag_mode mode;
    enum vs_lag_hash hash;
    uint8_t n_members;
    uint8_t members[VS_LAG_MEMBER_MAX]; /* port indexes, wire role */
};

struct vs_config {
    struct vs_port ports[VS_PORT_MAX];
    struct vs_slice slices[VS_SLICE_MAX];
    struct vs_lag lags[VS_LAG_MAX];
};

/* What a slice request names; resolved against the config by slice_set. */
struct vs_slice_spec {
    const char *name;
    const char *uplink; /* a wire port or a LAG */
    const char *vm;     /* a VM port */
    enum vs_slice_mode mode;
    bool untagged;
    uint8_t n_ranges;
    struct vs_vlan_range ranges[VS_VLAN_RANGE_MAX];
};

struct vs_lag_spec {
    const char *name;
    enum vs_lag_mode mode;
    enum vs_lag_hash hash;
    uint8_t n_members;
    const char *members[VS_LAG_MEMBER_MAX];
};

void vs_config_init(struct vs_config *cfg);

/* Names are 1..31 characters of [a-z0-9_.-] starting with a letter; ports
 * and LAGs share one namespace (both can be a slice's uplink). */
bool vs_name_valid(const char *name);

/* Returns the new port's index, or -1. dpdk_id/n_rxq are the caller's. */
int vs_config_port_add(struct vs_config *cfg, const char *name, const char *devargs,
                       enum vs_port_role role, struct evr_err *err);
/* Refuses while a slice or a LAG uses the port. */
int vs_config_port_del(struct vs_config *cfg, const char *name, struct evr_err *err);
int vs_config_port_admin(struct vs_config *cfg, const char *name, bool up, struct evr_err *err);

/* Creates or replaces the slice of that name. */
int vs_config_slice_set(struct vs_config *cfg, const struct vs_slice_spec *spec,
                        struct evr_err *err);
int vs_config_slice_del(struct vs_config *cfg, const char *name, struct evr_err *err);

/* Creates or replaces a LAG. Members must be wire ports that no slice uses
 * directly and that no other LAG holds. */
int vs_config_lag_set(struct vs_config *cfg, const struct vs_lag_spec *spec, struct evr_err *err);
/* Refuses while a slice uses the LAG. */
int vs_config_lag_del(struct vs_config *cfg, const char *name, struct evr_err *err);

int vs_config_find_port(const struct vs_config *cfg, const char *name);
int vs_config_find_slice(const struct vs_config *cfg, const char *name);
int vs_config_find_lag(const struct vs_config *cfg, const char *name);

/* Index of the LAG that holds the port, or -1. */
int vs_config_lag_of_port(const struct vs_config *cfg, unsigned port);

/* Whether the VLAN sets of two slices meet (VLAN ranges or both untagged). */
bool vs_slices_overlap(const struct vs_slice *a, const struct vs_slice *b);

const char *vs_slice_mode_name(enum vs_slice_mode m);
const char *vs_lag_mode_name(enum vs_lag_mode m);
const char *vs_lag_hash_name(enum vs_lag_hash h);
const char *vs_port_role_name(enum vs_port_role r);

#endif
