/* JSON requests of the control socket: strict parsing and applying. */
#include "protocol.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/protocol.h"
#include "tables.h"

static const char *const op_names[] = {
        [VS_OP_PORT_ADD] = "port-add",   [VS_OP_PORT_DEL] = "port-del",
        [VS_OP_PORT_SET] = "port-set",   [VS_OP_SLICE_SET] = "slice-set",
        [VS_OP_SLICE_DEL] = "slice-del", [VS_OP_LAG_SET] = "lag-set",
        [VS_OP_LAG_DEL] = "lag-del",     [VS_OP_STATS] = "stats",
        [VS_OP_DUMP] = "dump",
};

/* The fields each op takes beyond "op"; "!" marks a required one. */
static const char *const op_fields[][7] = {
        [VS_OP_PORT_ADD] = {"!name", "!devargs", "!role", "rx_queues"},
        [VS_OP_PORT_DEL] = {"!name"},
        [VS_OP_PORT_SET] = {"!name", "!admin"},
        [VS_OP_SLICE_SET] = {"!name", "!uplink", "!vm", "!mode", "vlans", "untagged"},
        [VS_OP_SLICE_DEL] = {"!name"},
        [VS_OP_LAG_SET] = {"!name", "!members", "mode", "hash"},
        [VS_OP_LAG_DEL] = {"!name"},
        [VS_OP_STATS] = {0},
        [VS_OP_DUMP] = {0},
};

const char *vs_op_name(enum vs_op op)
{
    return (unsigned)op < VS_OP_COUNT ? op_names[op] : "?";
}

const char *const *vs_op_fields(enum vs_op op)
{
    return op_fields[op];
}

static int get_string(json_t *obj, const char *field, char *out, size_t size, struct evr_err *err)
{
    json_t *v = json_object_get(obj, field);
    if (!json_is_string(v))
        return evr_fail(err, EINVAL, "field '%s': must be a string", field);
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s))
        return evr_fail(err, EINVAL, "field '%s': contains a NUL byte", field);
    if (strlen(s) >= size)
        return evr_fail(err, EINVAL, "field '%s': longer than %zu characters", field, size - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* Returns the index of the field's value in names, or -1 (err set). */
static int get_enum(json_t *obj, const char *field, const char *const *names, unsigned n,
                    struct evr_err *err)
{
    char buf[32];
    if (get_string(obj, field, buf, sizeof(buf), err) < 0)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(buf, names[i]) == 0)
            return (int)i;
    char list[128] = "";
    for (unsigned i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%s'", i ? ", " : "",
                 names[i]);
    return evr_fail(err, EINVAL, "field '%s': '%s' is not one of %s", field, buf, list);
}

static int parse_vlan_number(const char *s, const char **end, unsigned *out)
{
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return -1;
    unsigned v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned)(*s - '0');
        if (v > 99999)
            return -1;
        s++;
    }
    *end = s;
    *out = v;
    return 0;
}

/* One "vlans" item: a number, or a string "N" or "N-M". Bounds are
 * checked by config.c so both paths share one rule. */
static int parse_vlan_item(json_t *item, unsigned index, struct vs_vlan_range *r,
                           struct evr_err *err)
{
    if (json_is_integer(item)) {
        json_int_t v = json_integer_value(item);
        if (v < 0 || v > 99999)
            return evr_fail(err, EINVAL, "field 'vlans'[%u]: %lld is not a VLAN id", index,
                            (long long)v);
        r->first = r->last = (uint16_t)v;
        return 0;
    }
    if (!json_is_string(item))
        return evr_fail(err, EINVAL, "field 'vlans'[%u]: must be a number or a string \"N-M\"",
                        index);
    const char *s = json_string_value(item), *p;
    unsigned a, b;
    if (parse_vlan_number(s, &p, &a) < 0)
        return evr_fail(err, EINVAL, "field 'vlans'[%u]: '%s' is not a VLAN id or range", index, s);
    b = a;
    if (*p == '-' && parse_vlan_number(p + 1, &p, &b) < 0)
        return evr_fail(err, EINVAL, "field 'vlans'[%u]: '%s' is not a VLAN id or range", index, s);
    if (*p != '\0')
        return evr_fail(err, EINVAL, "field 'vlans'[%u]: '%s' is not a VLAN id or range", index, s);
    r->first = (uint16_t)a;
    r->last = (uint16_t)b;
    return 0;
}

static int parse_slice(json_t *obj, struct vs_request *req, struct evr_err *err)
{
    static const char *const modes[] = {"access", "trunk"};
    struct vs_slice_spec *s = &req->slice;
    int mode;
    if (get_string(obj, "uplink", req->uplink, sizeof(req->uplink), err) < 0 ||
        get_string(obj, "vm", req->vm, sizeof(req->vm), err) < 0 ||
        (mode = get_enum(obj, "mode", modes, 2, err)) < 0)
        return -1;
    s->name = req->name;
    s->uplink = req->uplink;
    s->vm = req->vm;
    s->mode = (enum vs_slice_mode)mode;
    json_t *untagged = json_object_get(obj, "untagged");
    if (untagged && !json_is_boolean(untagged))
        return evr_fail(err, EINVAL, "field 'untagged': must be true or false");
    s->untagged = json_is_true(untagged);
    json_t *vlans = json_object_get(obj, "vlans");
    if (!vlans)
        return 0;
    if (!json_is_array(vlans))
        return evr_fail(err, EINVAL, "field 'vlans': must be an array");
    if (json_array_size(vlans) > VS_VLAN_RANGE_MAX)
        return evr_fail(err, EINVAL, "field 'vlans': at most %u items", VS_VLAN_RANGE_MAX);
    size_t i;
    json_t *item;
    json_array_foreach(vlans, i, item)
    {
        if (parse_vlan_item(item, (unsigned)i, &s->ranges[i], err) < 0)
            return -1;
    }
    s->n_ranges = (uint8_t)json_array_size(vlans);
    return 0;
}

static int parse_lag(json_t *obj, struct vs_request *req, struct evr_err *err)
{
    static const char *const modes[] = {"active-backup", "balance"};
    static const char *const hashes[] = {"l2", "l23", "l34"};
    struct vs_lag_spec *l = &req->lag;
    int mode = VS_LAG_BALANCE, hash = VS_HASH_L34;
    if (json_object_get(obj, "mode") && (mode = get_enum(obj, "mode", modes, 2, err)) < 0)
        return -1;
    if (json_object_get(obj, "hash") && (hash = get_enum(obj, "hash", hashes, 3, err)) < 0)
        return -1;
    json_t *members = json_object_get(obj, "members");
    if (!json_is_array(members))
        return evr_fail(err, EINVAL, "field 'members': must be an array of port names");
    size_t n = json_array_size(members);
    if (n == 0 || n > VS_LAG_MEMBER_MAX)
        return evr_fail(err, EINVAL, "field 'members': needs 1-%u ports", VS_LAG_MEMBER_MAX);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(members, i);
        const char *s = json_string_value(m);
        if (!s || strlen(s) >= VS_NAME_MAX)
            return evr_fail(err, EINVAL, "field 'members'[%zu]: must be a port name", i);
        memcpy(req->members[i], s, strlen(s) + 1);
        l->members[i] = req->members[i];
    }
    l->name = req->name;
    l->mode = (enum vs_lag_mode)mode;
    l->hash = (enum vs_lag_hash)hash;
    l->n_members = (uint8_t)n;
    return 0;
}

int vs_request_from_json(json_t *obj, struct vs_request *req, struct evr_err *err)
{
    memset(req, 0, sizeof(*req));
    if (!json_is_object(obj))
        return evr_fail(err, EINVAL, "request: must be a JSON object");
    int rc = -1;
    int op = get_enum(obj, "op", op_names, VS_OP_COUNT, err);
    if (op < 0)
        goto out;
    req->op = (enum vs_op)op;
    struct ctl_op spec = {.name = op_names[op], .fields = op_fields[op]};
    if (ctl_check_fields(obj, &spec, err) < 0)
        goto out;
    if (json_object_get(obj, "name") &&
        get_string(obj, "name", req->name, sizeof(req->name), err) < 0)
        goto out;
    switch (req->op) {
    case VS_OP_PORT_ADD: {
        static const char *const roles[] = {"wire", "vm"};
        int role;
        if (get_string(obj, "devargs", req->devargs, sizeof(req->devargs), err) < 0 ||
            (role = get_enum(obj, "role", roles, 2, err)) < 0)
            goto out;
        req->role = (enum vs_port_role)role;
        json_t *rxq = json_object_get(obj, "rx_queues");
        req->rx_queues = 0;
        if (rxq) {
            if (!json_is_integer(rxq) || json_integer_value(rxq) < 1 ||
                json_integer_value(rxq) > VS_RXQ_MAX) {
                evr_fail(err, EINVAL, "field 'rx_queues': must be a number 1-%u", VS_RXQ_MAX);
                goto out;
            }
            req->rx_queues = (uint16_t)json_integer_value(rxq);
        }
        break;
    }
    case VS_OP_PORT_SET: {
        static const char *const states[] = {"down", "up"};
        int up = get_enum(obj, "admin", states, 2, err);
        if (up < 0)
            goto out;
        req->admin_up = up == 1;
        break;
    }
    case VS_OP_SLICE_SET:
        if (parse_slice(obj, req, err) < 0)
            goto out;
        break;
    case VS_OP_LAG_SET:
        if (parse_lag(obj, req, err) < 0)
            goto out;
        break;
    case VS_OP_PORT_DEL:
    case VS_OP_SLICE_DEL:
    case VS_OP_LAG_DEL:
    case VS_OP_STATS:
    case VS_OP_DUMP:
        break;
    }
    rc = 0;
out:
    return rc;
}

int vs_request_apply(struct vs_config *cfg, const struct vs_request *req, struct evr_err *err)
{
    switch (req->op) {
    case VS_OP_PORT_ADD: {
        int idx = vs_config_port_add(cfg, req->name, req->devargs, req->role, err);
        if (idx >= 0)
            cfg->ports[idx].n_rxq = req->rx_queues; /* asked for; vs_port_open sets it */
        return idx;
    }
    case VS_OP_PORT_DEL:
        return vs_config_port_del(cfg, req->name, err);
    case VS_OP_PORT_SET:
        return vs_config_port_admin(cfg, req->name, req->admin_up, err);
    case VS_OP_SLICE_SET:
        return vs_config_slice_set(cfg, &req->slice, err);
    case VS_OP_SLICE_DEL:
        return vs_config_slice_del(cfg, req->name, err);
    case VS_OP_LAG_SET:
        return vs_config_lag_set(cfg, &req->lag, err);
    case VS_OP_LAG_DEL:
        return vs_config_lag_del(cfg, req->name, err);
    case VS_OP_STATS:
    case VS_OP_DUMP:
        return 0;
    }
    return evr_fail(err, EINVAL, "field 'op': unknown");
}

static json_t *slice_to_json(const struct vs_config *cfg, const struct vs_slice *s)
{
    json_t *vlans = json_array();
    for (unsigned r = 0; r < s->n_ranges; r++) {
        char buf[16];
        if (s->ranges[r].first == s->ranges[r].last)
            snprintf(buf, sizeof(buf), "%u", s->ranges[r].first);
        else
            snprintf(buf, sizeof(buf), "%u-%u", s->ranges[r].first, s->ranges[r].last);
        json_array_append_new(vlans, json_string(buf));
    }
    const char *uplink = s->uplink_is_lag ? cfg->lags[s->uplink].name : cfg->ports[s->uplink].name;
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "name", s->name, "uplink", uplink, "vm",
                     cfg->ports[s->vm].name, "mode", vs_slice_mode_name(s->mode), "vlans", vlans,
                     "untagged", s->untagged);
}

json_t *vs_config_to_json(const struct vs_config *cfg)
{
    json_t *ports = json_array(), *slices = json_array(), *lags = json_array();
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &cfg->ports[i];
        if (p->used)
            json_array_append_new(
                    ports, json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:i}", "name", p->name,
                                     "devargs", p->devargs, "role", vs_port_role_name(p->role),
                                     "admin", p->admin_up ? "up" : "down", "link_up", p->link_up,
                                     "dpdk_port", p->dpdk_id, "rx_queues", p->n_rxq));
    }
    for (unsigned i = 0; i < VS_SLICE_MAX; i++)
        if (cfg->slices[i].used)
            json_array_append_new(slices, slice_to_json(cfg, &cfg->slices[i]));
    for (unsigned i = 0; i < VS_LAG_MAX; i++) {
        const struct vs_lag *l = &cfg->lags[i];
        if (!l->used)
            continue;
        json_t *members = json_array();
        for (unsigned m = 0; m < l->n_members; m++)
            json_array_append_new(members, json_string(cfg->ports[l->members[m]].name));
        json_array_append_new(lags, json_pack("{s:s, s:s, s:s, s:o}", "name", l->name, "mode",
                                              vs_lag_mode_name(l->mode), "hash",
                                              vs_lag_hash_name(l->hash), "members", members));
    }
    return json_pack("{s:o, s:o, s:o}", "ports", ports, "slices", slices, "lags", lags);
}
