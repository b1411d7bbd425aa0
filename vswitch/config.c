/* Declared state of the vswitch and the rules of what may be declared. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void vs_config_init(struct vs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

bool vs_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= VS_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  c == '.';
        if (!ok)
            return false;
    }
    return true;
}

int vs_config_find_port(const struct vs_config *cfg, const char *name)
{
    for (unsigned i = 0; i < VS_PORT_MAX; i++)
        if (cfg->ports[i].used && strcmp(cfg->ports[i].name, name) == 0)
            return (int)i;
    return -1;
}

int vs_config_find_slice(const struct vs_config *cfg, const char *name)
{
    for (unsigned i = 0; i < VS_SLICE_MAX; i++)
        if (cfg->slices[i].used && strcmp(cfg->slices[i].name, name) == 0)
            return (int)i;
    return -1;
}

int vs_config_find_lag(const struct vs_config *cfg, const char *name)
{
    for (unsigned i = 0; i < VS_LAG_MAX; i++)
        if (cfg->lags[i].used && strcmp(cfg->lags[i].name, name) == 0)
            return (int)i;
    return -1;
}

int vs_config_lag_of_port(const struct vs_config *cfg, unsigned port)
{
    for (unsigned i = 0; i < VS_LAG_MAX; i++) {
        const struct vs_lag *l = &cfg->lags[i];
        if (!l->used)
            continue;
        for (unsigned m = 0; m < l->n_members; m++)
            if (l->members[m] == port)
                return (int)i;
    }
    return -1;
}

static const char *slice_using_port(const struct vs_config *cfg, unsigned port)
{
    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice *s = &cfg->slices[i];
        if (s->used && (s->vm == port || (!s->uplink_is_lag && s->uplink == port)))
            return s->name;
    }
    return NULL;
}

int vs_config_port_add(struct vs_config *cfg, const char *name, const char *devargs,
                       enum vs_port_role role, struct evr_err *err)
{
    if (!vs_name_valid(name))
        return evr_fail(err, EINVAL,
                        "field 'name': '%s' is not a valid name (1-%u of a-z 0-9 _ . -, "
                        "starting with a letter)",
                        name, VS_NAME_MAX - 1);
    if (vs_config_find_port(cfg, name) >= 0 || vs_config_find_lag(cfg, name) >= 0)
        return evr_fail(err, EEXIST, "field 'name': '%s' is already used by a port or a LAG", name);
    size_t len = strlen(devargs);
    if (len == 0 || len >= VS_DEVARGS_MAX)
        return evr_fail(err, EINVAL, "field 'devargs': must be 1-%u characters",
                        VS_DEVARGS_MAX - 1);
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        const struct vs_port *p = &cfg->ports[i];
        if (p->used && strcmp(p->devargs, devargs) == 0)
            return evr_fail(err, EEXIST, "field 'devargs': port '%s' already uses '%s'", p->name,
                            devargs);
    }
    for (unsigned i = 0; i < VS_PORT_MAX; i++) {
        struct vs_port *p = &cfg->ports[i];
        if (p->used)
            continue;
        memset(p, 0, sizeof(*p));
        p->used = true;
        snprintf(p->name, sizeof(p->name), "%s", name);
        snprintf(p->devargs, sizeof(p->devargs), "%s", devargs);
        p->role = role;
        p->admin_up = true;
        p->link_up = true;
        return (int)i;
    }
    return evr_fail(err, ENOSPC, "field 'name': no room for port '%s' (at most %u ports)", name,
                    VS_PORT_MAX);
}

int vs_config_port_del(struct vs_config *cfg, const char *name, struct evr_err *err)
{
    int i = vs_config_find_port(cfg, name);
    if (i < 0)
        return evr_fail(err, ENOENT, "field 'name': no port '%s'", name);
    const char *user = slice_using_port(cfg, (unsigned)i);
    if (user)
        return evr_fail(err, EBUSY, "field 'name': port '%s' is used by slice '%s'", name, user);
    int lag = vs_config_lag_of_port(cfg, (unsigned)i);
    if (lag >= 0)
        return evr_fail(err, EBUSY, "field 'name': port '%s' is a member of LAG '%s'", name,
                        cfg->lags[lag].name);
    memset(&cfg->ports[i], 0, sizeof(cfg->ports[i]));
    return 0;
}

int vs_config_port_admin(struct vs_config *cfg, const char *name, bool up, struct evr_err *err)
{
    int i = vs_config_find_port(cfg, name);
    if (i < 0)
        return evr_fail(err, ENOENT, "field 'name': no port '%s'", name);
    cfg->ports[i].admin_up = up;
    return 0;
}

static bool ranges_meet(const struct vs_vlan_range *a, const struct vs_vlan_range *b)
{
    return a->first <= b->last && b->first <= a->last;
}

bool vs_slices_overlap(const struct vs_slice *a, const struct vs_slice *b)
{
    if (a->untagged && b->untagged)
        return true;
    for (unsigned i = 0; i < a->n_ranges; i++)
        for (unsigned j = 0; j < b->n_ranges; j++)
            if (ranges_meet(&a->ranges[i], &b->ranges[j]))
                return true;
    return false;
}

static int check_ranges(const struct vs_slice_spec *spec, struct evr_err *err)
{
    if (spec->n_ranges == 0 && !spec->untagged)
        return evr_fail(err, EINVAL,
                        "field 'vlans': the slice has no VLAN and is not untagged; it would "
                        "carry nothing");
    if (spec->n_ranges > VS_VLAN_RANGE_MAX)
        return evr_fail(err, EINVAL, "field 'vlans': at most %u ranges", VS_VLAN_RANGE_MAX);
    for (unsigned i = 0; i < spec->n_ranges; i++) {
        const struct vs_vlan_range *r = &spec->ranges[i];
        if (r->first < 1 || r->last > VS_VLAN_ID_MAX || r->first > r->last)
            return evr_fail(err, EINVAL, "field 'vlans'[%u]: %u-%u is not a range within 1-%u", i,
                            r->first, r->last, VS_VLAN_ID_MAX);
        for (unsigned j = 0; j < i; j++)
            if (ranges_meet(r, &spec->ranges[j]))
                return evr_fail(err, EINVAL, "field 'vlans'[%u]: %u-%u overlaps 'vlans'[%u]", i,
                                r->first, r->last, j);
    }
    if (spec->mode == VS_SLICE_ACCESS) {
        /* Toward the wire an access slice must know which tag to push. */
        unsigned vlans =
                spec->n_ranges ? (unsigned)(spec->ranges[0].last - spec->ranges[0].first + 1) : 0;
        if (spec->n_ranges > 1 || vlans > 1 || (vlans == 1 && spec->untagged))
            return evr_fail(err, EINVAL,
                            "field 'vlans': an access slice carries exactly one VLAN or only "
                            "untagged frames; use mode 'trunk' for more");
    }
    return 0;
}

int vs_config_slice_set(struct vs_config *cfg, const struct vs_slice_spec *spec,
                        struct evr_err *err)
{
    if (!vs_name_valid(spec->name))
        return evr_fail(err, EINVAL, "field 'name': '%s' is not a valid name", spec->name);
    struct vs_slice s = {.used = true, .mode = spec->mode, .untagged = spec->untagged};
    snprintf(s.name, sizeof(s.name), "%s", spec->name);

    int port = vs_config_find_port(cfg, spec->uplink);
    int lag = vs_config_find_lag(cfg, spec->uplink);
    if (port < 0 && lag < 0)
        return evr_fail(err, ENOENT, "field 'uplink': no port or LAG '%s'", spec->uplink);
    if (port >= 0) {
        if (cfg->ports[port].role != VS_ROLE_WIRE)
            return evr_fail(err, EINVAL, "field 'uplink': port '%s' is a VM port, not a wire port",
                            spec->uplink);
        int holder = vs_config_lag_of_port(cfg, (unsigned)port);
        if (holder >= 0)
            return evr_fail(err, EBUSY,
                            "field 'uplink': port '%s' is a member of LAG '%s'; use the LAG",
                            spec->uplink, cfg->lags[holder].name);
        s.uplink = (uint8_t)port;
    } else {
        s.uplink_is_lag = true;
        s.uplink = (uint8_t)lag;
    }

    int vm = vs_config_find_port(cfg, spec->vm);
    if (vm < 0)
        return evr_fail(err, ENOENT, "field 'vm': no port '%s'", spec->vm);
    if (cfg->ports[vm].role != VS_ROLE_VM)
        return evr_fail(err, EINVAL, "field 'vm': port '%s' is a wire port, not a VM port",
                        spec->vm);
    s.vm = (uint8_t)vm;

    if (check_ranges(spec, err) < 0)
        return -1;
    s.n_ranges = spec->n_ranges;
    memcpy(s.ranges, spec->ranges, sizeof(s.ranges[0]) * spec->n_ranges);

    int self = vs_config_find_slice(cfg, spec->name);
    for (unsigned i = 0; i < VS_SLICE_MAX; i++) {
        const struct vs_slice *o = &cfg->slices[i];
        if (!o->used || (int)i == self)
            continue;
        /* One slice per VM port: the VM side must map back to one uplink. */
        if (o->vm == s.vm)
            return evr_fail(err, EBUSY, "field 'vm': port '%s' already carries slice '%s'",
                            spec->vm, o->name);
        if (o->uplink_is_lag == s.uplink_is_lag && o->uplink == s.uplink &&
            vs_slices_overlap(o, &s))
            return evr_fail(err, EBUSY, "field 'vlans': overlaps slice '%s' on uplink '%s'",
                            o->name, spec->uplink);
    }
    if (self < 0) {
        for (unsigned i = 0; i < VS_SLICE_MAX; i++)
            if (!cfg->slices[i].used) {
                self = (int)i;
                break;
            }
        if (self < 0)
            return evr_fail(err, ENOSPC, "field 'name': no room for slice '%s' (at most %u slices)",
                            spec->name, VS_SLICE_MAX);
    }
    cfg->slices[self] = s;
    return 0;
}

int vs_config_slice_del(struct vs_config *cfg, const char *name, struct evr_err *err)
{
    int i = vs_config_find_slice(cfg, name);
    if (i < 0)
        return evr_fail(err, ENOENT, "field 'name': no slice '%s'", name);
    memset(&cfg->slices[i], 0, sizeof(cfg->slices[i]));
    return 0;
}

int vs_config_lag_set(struct vs_config *cfg, const struct vs_lag_spec *spec, struct evr_err *err)
{
    if (!vs_name_valid(spec->name))
        return evr_fail(err, EINVAL, "field 'name': '%s' is not a valid name", spec->name);
    if (vs_config_find_port(cfg, spec->name) >= 0)
        return evr_fail(err, EEXIST, "field 'name': '%s' is already used by a port", spec->name);
    if (spec->n_members == 0 || spec->n_members > VS_LAG_MEMBER_MAX)
        return evr_fail(err, EINVAL, "field 'members': needs 1-%u ports", VS_LAG_MEMBER_MAX);
    int self = vs_config_find_lag(cfg, spec->name);
    struct vs_lag l = {
            .used = true, .mode = spec->mode, .hash = spec->hash, .n_members = spec->n_members};
    snprintf(l.name, sizeof(l.name), "%s", spec->name);
    for (unsigned m = 0; m < spec->n_members; m++) {
        int p = vs_config_find_port(cfg, spec->members[m]);
        if (p < 0)
            return evr_fail(err, ENOENT, "field 'members'[%u]: no port '%s'", m, spec->members[m]);
        if (cfg->ports[p].role != VS_ROLE_WIRE)
            return evr_fail(err, EINVAL, "field 'members'[%u]: port '%s' is a VM port", m,
                            spec->members[m]);
        for (unsigned k = 0; k < m; k++)
            if (l.members[k] == p)
                return evr_fail(err, EINVAL, "field 'members'[%u]: port '%s' is listed twice", m,
                                spec->members[m]);
        int holder = vs_config_lag_of_port(cfg, (unsigned)p);
        if (holder >= 0 && holder != self)
            return evr_fail(err, EBUSY, "field 'members'[%u]: port '%s' is already in LAG '%s'", m,
                            spec->members[m], cfg->lags[holder].name);
        const char *user = slice_using_port(cfg, (unsigned)p);
        if (user)
            return evr_fail(err, EBUSY, "field 'members'[%u]: port '%s' carries slice '%s'", m,
                            spec->members[m], user);
        l.members[m] = (uint8_t)p;
    }
    if (self < 0) {
        for (unsigned i = 0; i < VS_LAG_MAX; i++)
            if (!cfg->lags[i].used) {
                self = (int)i;
                break;
            }
        if (self < 0)
            return evr_fail(err, ENOSPC, "field 'name': no room for LAG '%s' (at most %u LAGs)",
                            spec->name, VS_LAG_MAX);
    }
    cfg->lags[self] = l;
    return 0;
}

int vs_config_lag_del(struct vs_config *cfg, const char *name, struct evr_err *err)
{
    int i = vs_config_find_lag(cfg, name);
    if (i < 0)
        return evr_fail(err, ENOENT, "field 'name': no LAG '%s'", name);
    for (unsigned s = 0; s < VS_SLICE_MAX; s++) {
        const struct vs_slice *sl = &cfg->slices[s];
        if (sl->used && sl->uplink_is_lag && sl->uplink == i)
            return evr_fail(err, EBUSY, "field 'name': LAG '%s' is used by slice '%s'", name,
                            sl->name);
    }
    memset(&cfg->lags[i], 0, sizeof(cfg->lags[i]));
    return 0;
}

const char *vs_slice_mode_name(enum vs_slice_mode m)
{
    return m == VS_SLICE_ACCESS ? "access" : "trunk";
}

const char *vs_lag_mode_name(enum vs_lag_mode m)
{
    return m == VS_LAG_ACTIVE_BACKUP ? "active-backup" : "balance";
}

const char *vs_lag_hash_name(enum vs_lag_hash h)
{
    switch (h) {
    case VS_HASH_L2:
        return "l2";
    case VS_HASH_L23:
        return "l23";
    case VS_HASH_L34:
        return "l34";
    }
    return "?";
}

const char *vs_port_role_name(enum vs_port_role r)
{
    return r == VS_ROLE_WIRE ? "wire" : "vm";
}
