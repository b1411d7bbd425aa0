/* The partition's LAGs (lag.h). */
#include "lag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {
        [EVR_LAG_ACTIVE_BACKUP] = "active-backup",
        [EVR_LAG_BALANCE] = "balance",
};

const char *evr_lag_mode_name(enum evr_lag_mode m)
{
    return m == EVR_LAG_BALANCE ? mode_names[EVR_LAG_BALANCE] : mode_names[EVR_LAG_ACTIVE_BACKUP];
}

int evr_lag_mode_parse(const char *text, enum evr_lag_mode *out)
{
    for (unsigned m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++) {
        if (!strcmp(text, mode_names[m])) {
            *out = (enum evr_lag_mode)m;
            return 0;
        }
    }
    return -1;
}

/* The members of LAG l (index), by port number: their port indexes. */
static unsigned members(const struct evr_partition *p, const struct evr_appliance *a, unsigned l,
                        unsigned *idx)
{
    unsigned n = 0;

    for (unsigned i = 0; i < p->nports; i++) {
        unsigned k = n++;
        if (p->ports[i].lag != l + 1) {
            n--;
            continue;
        }
        while (k > 0 && a->ports[idx[k - 1]].number > a->ports[i].number) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = i;
    }
    return n;
}

/* "port0-1,port3": the members as a slice list, runs of numbers as ranges. */
static void members_text(const struct evr_appliance *a, const unsigned *idx, unsigned n, char *buf,
                         size_t len)
{
    size_t used = 0;

    buf[0] = 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned first = a->ports[idx[k]].number, last = first;
        int w;
        while (k + 1 < n && a->ports[idx[k + 1]].number == last + 1)
            last = a->ports[idx[++k]].number;
        w = last == first
                    ? snprintf(buf + used, len - used, "%sport%u", used ? "," : "", first)
                    : snprintf(buf + used, len - used, "%sport%u-%u", used ? "," : "", first, last);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

static const char *owner_name(const struct evr_appliance *a, const struct evr_port_share *sh)
{
    return a->vms[sh->whole - 1].name;
}

int evr_lag_check(const struct evr_partition *p, const struct evr_appliance *a,
                  const struct evr_change *c, struct evr_err *err)
{
    bool in[EVR_APPL_PORT_MAX] = {0}; /* by port index: named whole by the change */
    unsigned n = 0;

    for (size_t s = 0; s < c->slices.count; s++) {
        const struct evr_slice *sl = &c->slices.items[s];
        if (sl->kind != EVR_SLICE_PORT) {
            char name[48];
            if (c->op != EVR_CHANGE_JOIN)
                continue;
            evr_slice_format(sl, name, sizeof(name));
            return evr_fail(err, EINVAL, "%s: a LAG joins whole ports (port0-1), not VLANs or VFs",
                            name);
        }
        for (unsigned num = sl->port_first; num <= sl->port_last; num++, n++)
            in[evr_appliance_port(a, num) - a->ports] = true;
    }
    if (c->op == EVR_CHANGE_JOIN) {
        if (c->mode_given && c->mode != EVR_MODE_VSWITCH)
            return evr_fail(err, EINVAL,
                            "a LAG goes through the vswitch: its ports cannot be passed through");
        if (n > EVR_LAG_PORTS)
            return evr_fail(err, EINVAL, "a LAG takes at most %u ports, not %u", EVR_LAG_PORTS, n);
        return 0;
    }
    if (c->op != EVR_CHANGE_MOVE)
        return 0;
    for (unsigned i = 0; i < p->nports; i++) {
        const struct evr_port_share *sh = &p->ports[i];
        unsigned idx[EVR_APPL_PORT_MAX], m;
        char text[256];
        if (!sh->lag || !in[i])
            continue;
        if (c->mode_given && c->mode != EVR_MODE_VSWITCH)
            return evr_fail(err, EINVAL,
                            "port%u is in LAG lag%u, which goes through the vswitch: it cannot "
                            "be passed through",
                            a->ports[i].number, sh->lag - 1u);
        m = members(p, a, sh->lag - 1u, idx);
        for (unsigned k = 0; k < m; k++) {
            if (in[idx[k]])
                continue;
            members_text(a, idx, m, text, sizeof(text));
            return evr_fail(err, EBUSY,
                            "port%u is in %s's LAG lag%u (%s): move all of it, or free port%u "
                            "first to take it out",
                            a->ports[i].number, owner_name(a, sh), sh->lag - 1u, text,
                            a->ports[i].number);
        }
    }
    return 0;
}

int evr_lag_join(struct evr_partition *next, const struct evr_appliance *a,
                 const struct evr_change *c, bool *changed, struct evr_err *err)
{
    int lag = -1;
    unsigned lag_port = 0, idx[EVR_APPL_PORT_MAX], n;
    bool fresh = false;
    enum evr_lag_mode mode;

    for (size_t s = 0; s < c->slices.count; s++) {
        const struct evr_slice *sl = &c->slices.items[s];
        for (unsigned num = sl->port_first; num <= sl->port_last; num++) {
            const struct evr_port_share *sh = &next->ports[evr_appliance_port(a, num) - a->ports];
            if (sh->whole_mode != EVR_MODE_VSWITCH)
                return evr_fail(err, EBUSY,
                                "port%u is %s's, passed through: free it first to join it", num,
                                owner_name(a, sh));
            if (!sh->lag)
                continue;
            if (lag >= 0 && lag != sh->lag - 1)
                return evr_fail(err, EBUSY,
                                "port%u is in %s's LAG lag%u and port%u in its LAG lag%u: one "
                                "join makes one LAG (free ports from their LAG to move them)",
                                lag_port, owner_name(a, sh), (unsigned)lag, num, sh->lag - 1u);
            lag = sh->lag - 1;
            lag_port = num;
        }
    }
    if (lag < 0) {
        fresh = true;
        if (c->lag_index) {
            lag = (int)c->lag_index - 1;
            if (lag >= (int)EVR_LAG_MAX || members(next, a, (unsigned)lag, idx))
                return evr_fail(err, EEXIST, "lag%d is there already", lag);
        } else {
            while (lag + 1 < (int)EVR_LAG_MAX && members(next, a, (unsigned)(lag + 1), idx))
                lag++;
            if (++lag == (int)EVR_LAG_MAX)
                return evr_fail(err, ENOSPC, "all %u LAGs the vswitch takes are in use",
                                EVR_LAG_MAX);
        }
    }
    for (size_t s = 0; s < c->slices.count; s++) {
        const struct evr_slice *sl = &c->slices.items[s];
        for (unsigned num = sl->port_first; num <= sl->port_last; num++) {
            struct evr_port_share *sh = &next->ports[evr_appliance_port(a, num) - a->ports];
            *changed = *changed || sh->lag != lag + 1;
            sh->lag = (uint8_t)(lag + 1);
        }
    }
    n = members(next, a, (unsigned)lag, idx);
    if (n > EVR_LAG_PORTS) {
        char text[256];
        members_text(a, idx, n, text, sizeof(text));
        return evr_fail(err, EINVAL, "lag%d would have %u ports (%s): a LAG takes at most %u", lag,
                        n, text, EVR_LAG_PORTS);
    }
    mode = c->lag_mode_given ? c->lag_mode
           : fresh           ? EVR_LAG_ACTIVE_BACKUP
                             : (enum evr_lag_mode)next->lag_mode[lag];
    *changed = *changed || next->lag_mode[lag] != mode;
    next->lag_mode[lag] = (uint8_t)mode;
    return 0;
}

void evr_lag_unify_vm_ports(struct evr_partition *next)
{
    for (unsigned l = 0; l < EVR_LAG_MAX; l++) {
        unsigned k = EVR_NO_VM_PORT, v = 0;
        for (unsigned i = 0; i < next->nports && k == EVR_NO_VM_PORT; i++) {
            if (next->ports[i].lag != l + 1)
                continue;
            v = next->ports[i].whole - 1u;
            k = next->ports[i].vm_port[v];
        }
        if (k == EVR_NO_VM_PORT)
            continue;
        for (unsigned i = 0; i < next->nports; i++)
            if (next->ports[i].lag == l + 1)
                next->ports[i].vm_port[v] = (uint8_t)k;
    }
}

void evr_lag_share_vm_port(struct evr_partition *next, unsigned i, unsigned v)
{
    uint8_t lag = next->ports[i].lag;

    for (unsigned j = 0; lag && j < next->nports; j++)
        if (next->ports[j].lag == lag)
            next->ports[j].vm_port[v] = next->ports[i].vm_port[v];
}

int evr_lag_holding(json_t *out, const struct evr_partition *p, const struct evr_appliance *a,
                    unsigned i)
{
    const struct evr_port_share *sh = &p->ports[i];
    unsigned idx[EVR_APPL_PORT_MAX], n = members(p, a, sh->lag - 1u, idx), v = sh->whole - 1u;
    char text[256], name[16];
    json_t *h;

    if (idx[0] != i)
        return 0; /* the LAG's holding is at its first member */
    members_text(a, idx, n, text, sizeof(text));
    snprintf(name, sizeof(name), "lag%u", sh->lag - 1u);
    h = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "slice", text, "vm", a->vms[v].name, "mode",
                  evr_slice_mode_name(EVR_MODE_VSWITCH), "vm_port", sh->vm_port[v], "lag", name,
                  "lag_mode", evr_lag_mode_name((enum evr_lag_mode)p->lag_mode[sh->lag - 1]));
    return h ? json_array_append_new(out, h) : -1;
}

int evr_lag_holding_change(const char *lag, const char *lag_mode, struct evr_change *c,
                           const char *where, struct evr_err *err)
{
    unsigned index;

    if (!lag || !lag_mode)
        return evr_fail(err, EINVAL, "%s: a LAG's holding has both \"lag\" and \"lag_mode\"",
                        where);
    /* lag0..lag7: one digit (EVR_LAG_MAX is 8) */
    if (strncmp(lag, "lag", 3) || lag[3] < '0' || lag[3] >= (char)('0' + EVR_LAG_MAX) || lag[4])
        return evr_fail(err, EINVAL, "%s: lag '%s' is not one of lag0..lag%u", where, lag,
                        EVR_LAG_MAX - 1);
    if (evr_lag_mode_parse(lag_mode, &c->lag_mode))
        return evr_fail(err, EINVAL, "%s: lag_mode '%s' is not active-backup or balance", where,
                        lag_mode);
    c->op = EVR_CHANGE_JOIN;
    c->lag_mode_given = true;
    index = (unsigned)(lag[3] - '0');
    c->lag_index = index + 1;
    return 0;
}

bool evr_lag_any(const struct evr_partition *p)
{
    for (unsigned i = 0; i < p->nports; i++)
        if (p->ports[i].lag)
            return true;
    return false;
}

/* A wire port's link as the vswitch's dump has it. */
static const char *link_of(const json_t *dump, unsigned number)
{
    char name[16];
    const json_t *port;
    size_t i;

    snprintf(name, sizeof(name), "port%u", number);
    json_array_foreach(json_object_get(dump, "ports"), i, port)
    {
        if (strcmp(json_string_value(json_object_get(port, "name")) ?: "", name))
            continue;
        return json_is_true(json_object_get(port, "link_up")) ? "up" : "down";
    }
    return "unknown";
}

json_t *evr_lag_show(const struct evr_partition *p, const struct evr_appliance *a,
                     const json_t *dump)
{
    json_t *out = json_array();

    for (unsigned l = 0; out && l < EVR_LAG_MAX; l++) {
        unsigned idx[EVR_APPL_PORT_MAX], n = members(p, a, l, idx), v;
        json_t *list;
        char name[16];
        if (!n)
            continue;
        v = p->ports[idx[0]].whole - 1u;
        list = json_array();
        for (unsigned k = 0; k < n; k++) {
            char port[16];
            snprintf(port, sizeof(port), "port%u", a->ports[idx[k]].number);
            json_array_append_new(list, json_pack("{s:s, s:s}", "port", port, "link",
                                                  link_of(dump, a->ports[idx[k]].number)));
        }
        snprintf(name, sizeof(name), "lag%u", l);
        json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:s, s:o}", "name", name, "vm",
                                             a->vms[v].name, "vm_port", p->ports[idx[0]].vm_port[v],
                                             "mode", evr_lag_mode_name(p->lag_mode[l]), "members",
                                             list));
    }
    return out;
}
