/* Slices: the names of what evr hands out (see docs/vocabulary.md).
 *
 *   port0-7         whole ports 0..7
 *   port8.100-199   VLANs 100..199 of port 8
 *   port2/vf0-3     SR-IOV VFs 0..3 of port 2's physical function
 *   port2,port3     a list; items must not overlap
 *
 * The parser is strict: it is fed by command lines, API requests and config
 * files, so every rejection says where in the text it stopped and why. */
#ifndef EVR_ROUTER_SLICE_H
#define EVR_ROUTER_SLICE_H

#include <stddef.h>
#include <stdint.h>

#define EVR_PORT_MAX       1023u /* highest port number accepted */
#define EVR_VLAN_MIN       1u    /* 0 means priority-tagged, not a VLAN */
#define EVR_VLAN_MAX       4094u /* 4095 is reserved by 802.1Q */
#define EVR_VF_MAX         255u  /* highest VF index accepted */
#define EVR_SLICE_LIST_MAX 64u   /* items in one list */

enum evr_slice_kind {
    EVR_SLICE_PORT, /* whole ports port_first..port_last */
    EVR_SLICE_VLAN, /* VLANs first..last of one port */
    EVR_SLICE_VF,   /* VFs first..last of one port's PF */
};

struct evr_slice {
    enum evr_slice_kind kind;
    uint16_t port_first;
    uint16_t port_last;
    uint16_t first; /* VLAN id or VF index; unused for EVR_SLICE_PORT */
    uint16_t last;
};

struct evr_slice_list {
    size_t count;
    struct evr_slice items[EVR_SLICE_LIST_MAX];
};

struct evr_parse_error {
    size_t offset; /* byte offset in the input where parsing stopped */
    char msg[160];
};

/* Parses one slice ("port8.100-199"). Returns 0, or -1 with *err filled. */
int evr_slice_parse(const char *text, struct evr_slice *out, struct evr_parse_error *err);

/* Parses a comma-separated list and rejects overlapping items. */
int evr_slice_list_parse(const char *text, struct evr_slice_list *out, struct evr_parse_error *err);

/* Whether two slices claim any common port, VLAN or VF. A whole port
 * overlaps every VLAN and VF slice of that port. */
int evr_slice_overlaps(const struct evr_slice *a, const struct evr_slice *b);

/* Canonical text of a slice ("port8.100-199", "port3"); returns the length
 * snprintf would have written. */
int evr_slice_format(const struct evr_slice *s, char *buf, size_t len);

#endif
