/* SR-IOV VF settings of a PF's network interface over rtnetlink
 * (libnl-route-3): MAC, one VLAN (802.1Q or 802.1ad, with QoS), min/max
 * transmit rate, spoof checking, trust and link state.
 *
 * The device driver is the authority on what a VF accepts (VLAN and QoS
 * ranges, rates, which fields it supports at all), so values go to the
 * kernel as given. Each field is its own request: when the kernel refuses
 * one, the error names the interface, the VF, the field and the value,
 * followed by the kernel's reason (its extack text when it gave one), and
 * the fields already applied by the same call are put back as they were. */
#ifndef EVR_VFIO_VF_LINK_H
#define EVR_VFIO_VF_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

enum evr_vf_field {
    EVR_VF_MAC = 1u << 0,
    EVR_VF_VLAN = 1u << 1, /* vlan, qos and vlan_proto */
    EVR_VF_RATE = 1u << 2, /* min_tx_rate and max_tx_rate */
    EVR_VF_SPOOFCHK = 1u << 3,
    EVR_VF_TRUST = 1u << 4,
    EVR_VF_LINK_STATE = 1u << 5,
    EVR_VF_ALL = (1u << 6) - 1,
};

enum evr_vf_link_state {
    EVR_VF_LINK_AUTO = 0, /* follows the PF's link (IFLA_VF_LINK_STATE_AUTO) */
    EVR_VF_LINK_ENABLE = 1,
    EVR_VF_LINK_DISABLE = 2,
};

#define EVR_VF_PROTO_8021Q  0x8100
#define EVR_VF_PROTO_8021AD 0x88a8

struct evr_vf_settings {
    unsigned fields; /* which of the below to set; all of them on a read */
    uint8_t mac[6];
    uint16_t vlan; /* 0: untagged */
    uint8_t qos;
    uint16_t vlan_proto;  /* EVR_VF_PROTO_*; 0 means 802.1Q */
    uint32_t min_tx_rate; /* Mbit/s, 0: no minimum */
    uint32_t max_tx_rate; /* Mbit/s, 0: no limit */
    bool spoofchk;
    bool trust;
    enum evr_vf_link_state link_state;
};

/* What a VF goes back to on release: no MAC, no VLAN, no rate limits, not
 * trusted, spoof checking on, link following the PF. */
extern const struct evr_vf_settings evr_vf_clean;

struct evr_vf_link; /* a routing netlink socket */

int evr_vf_link_open(struct evr_vf_link **out, struct evr_err *err);
void evr_vf_link_close(struct evr_vf_link *l);

/* Checks what the library itself defines (field bits, VLAN protocol, link
 * state); value ranges are the driver's to judge. */
int evr_vf_settings_check(const struct evr_vf_settings *s, struct evr_err *err);

/* Whether field (one EVR_VF_* bit) of `now` already holds what `want` asks
 * for. evr_vf_set sends only the fields that do not: a driver without an
 * operation for a field (Linux's igb has no VF link state) then still takes
 * a request that leaves that field as it is, as a reset to the clean state. */
bool evr_vf_field_holds(unsigned field, const struct evr_vf_settings *now,
                        const struct evr_vf_settings *want);

/* Applies the selected fields to VF `vf` of interface `ifname`. */
int evr_vf_set(struct evr_vf_link *l, const char *ifname, unsigned vf,
               const struct evr_vf_settings *s, struct evr_err *err);

/* Reads a VF's settings back from a link dump with VF info. */
int evr_vf_get(struct evr_vf_link *l, const char *ifname, unsigned vf, struct evr_vf_settings *out,
               struct evr_err *err);

/* How many VFs the interface reports (IFLA_NUM_VF). */
int evr_vf_count(struct evr_vf_link *l, const char *ifname, unsigned *out, struct evr_err *err);

/* Puts the VF back to evr_vf_clean and checks that it took. */
int evr_vf_reset(struct evr_vf_link *l, const char *ifname, unsigned vf, struct evr_err *err);

/* "02:00:00:00:00:11" to bytes; the error names the text. */
int evr_vf_mac_parse(const char *text, uint8_t mac[6], struct evr_err *err);

#endif
