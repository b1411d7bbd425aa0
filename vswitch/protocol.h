/* The vswitch's requests of the control protocol (ctl/protocol.h frames
 * them and checks their fields; man/evr-vswitch.8 lists them). Parsing is
 * strict (unknown fields, wrong types and out-of-range values are errors
 * that name the field) and separate from applying, so a request is either
 * applied whole or not at all. The same requests make up a --config file. */
#ifndef EVR_VSWITCH_PROTOCOL_H
#define EVR_VSWITCH_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"

enum vs_op {
    VS_OP_PORT_ADD,
    VS_OP_PORT_DEL,
    VS_OP_PORT_SET,
    VS_OP_SLICE_SET,
    VS_OP_SLICE_DEL,
    VS_OP_LAG_SET,
    VS_OP_LAG_DEL,
    VS_OP_STATS,
    VS_OP_DUMP,
};
#define VS_OP_COUNT (VS_OP_DUMP + 1)

struct vs_request {
    enum vs_op op;
    char name[VS_NAME_MAX];
    char devargs[VS_DEVARGS_MAX];
    enum vs_port_role role;
    uint16_t rx_queues; /* port-add: receive queues asked for, 0 = all (at most 8) */
    bool admin_up;
    char uplink[VS_NAME_MAX];
    char vm[VS_NAME_MAX];
    char members[VS_LAG_MEMBER_MAX][VS_NAME_MAX];
    struct vs_slice_spec slice; /* its strings point into this struct */
    struct vs_lag_spec lag;
};

/* Parses one request object (its "op" included). Returns 0, or -1 with err
 * naming the field. */
int vs_request_from_json(json_t *obj, struct vs_request *req, struct evr_err *err);

/* Applies the config part of a parsed request (every op but stats and dump;
 * port-add only declares the port). Returns the port index for port-add,
 * 0 for the others, -1 with err when the config refuses it (cfg unchanged). */
int vs_request_apply(struct vs_config *cfg, const struct vs_request *req, struct evr_err *err);

/* The declared config as the "dump" reply shows it. */
json_t *vs_config_to_json(const struct vs_config *cfg);

const char *vs_op_name(enum vs_op op);
/* The fields op takes, as struct ctl_op wants them ("!" marks a required one). */
const char *const *vs_op_fields(enum vs_op op);

#endif
