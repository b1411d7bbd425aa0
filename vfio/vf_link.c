/* VF settings over rtnetlink with libnl-route-3 (vf_link.h). */
#include "vf_link.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nl_extack.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

const struct evr_vf_settings evr_vf_clean = {
        .fields = EVR_VF_ALL,
        .vlan_proto = EVR_VF_PROTO_8021Q,
        .spoofchk = true,
        .link_state = EVR_VF_LINK_AUTO,
};

struct evr_vf_link {
    struct nl_sock *sk;
    int kernel_errno;        /* of the last NLMSG_ERROR, 0 when none */
    char extack[256];        /* its extack text, "" when none */
    struct rtnl_link *found; /* the link a dump found */
    int want_ifindex;
};

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
    struct evr_vf_link *l = arg;
    /* libnl hands over the payload; the header sits right before it. */
    const struct nlmsghdr *hdr = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);

    (void)nla;
    l->kernel_errno = -e->error;
    if (evr_nl_extack_msg(hdr, l->extack, sizeof(l->extack)) < 0)
        l->extack[0] = '\0';
    return NL_STOP;
}

int evr_vf_link_open(struct evr_vf_link **out, struct evr_err *err)
{
    struct evr_vf_link *l = calloc(1, sizeof(*l));
    int one = 1, rc;

    if (!l)
        return evr_fail(err, ENOMEM, "rtnetlink: out of memory");
    l->sk = nl_socket_alloc();
    if (!l->sk) {
        free(l);
        return evr_fail(err, ENOMEM, "rtnetlink: cannot allocate a socket");
    }
    rc = nl_connect(l->sk, NETLINK_ROUTE);
    if (rc < 0) {
        evr_vf_link_close(l);
        return evr_fail(err, EIO, "rtnetlink: cannot connect: %s", nl_geterror(rc));
    }
    /* Ask for the kernel's error text, and not for our request echoed back. */
    if (setsockopt(nl_socket_get_fd(l->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) ||
        setsockopt(nl_socket_get_fd(l->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one))) {
        rc = errno;
        evr_vf_link_close(l);
        return evr_fail(err, rc, "rtnetlink: cannot turn extended ACKs on: %s", strerror(rc));
    }
    nl_socket_modify_err_cb(l->sk, NL_CB_CUSTOM, on_error, l);
    *out = l;
    return 0;
}

void evr_vf_link_close(struct evr_vf_link *l)
{
    if (!l)
        return;
    nl_socket_free(l->sk);
    free(l);
}

int evr_vf_mac_parse(const char *text, uint8_t mac[6], struct evr_err *err)
{
    unsigned i;

    for (i = 0; i < 6; i++) {
        const char *p = text + i * 3;
        char hex[3];

        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            (i < 5 && p[2] != ':') || (i == 5 && p[2] != '\0'))
            return evr_fail(err, EINVAL,
                            "MAC '%s': expected xx:xx:xx:xx:xx:xx (stopped at byte %u)", text, i);
        hex[0] = p[0];
        hex[1] = p[1];
        hex[2] = '\0';
        mac[i] = (uint8_t)strtoul(hex, NULL, 16);
    }
    return 0;
}

int evr_vf_settings_check(const struct evr_vf_settings *s, struct evr_err *err)
{
    if (s->fields & ~(unsigned)EVR_VF_ALL)
        return evr_fail(err, EINVAL, "VF settings: unknown field bits 0x%x",
                        s->fields & ~(unsigned)EVR_VF_ALL);
    if ((s->fields & EVR_VF_VLAN) && s->vlan_proto != 0 && s->vlan_proto != EVR_VF_PROTO_8021Q &&
        s->vlan_proto != EVR_VF_PROTO_8021AD)
        return evr_fail(err, EINVAL,
                        "VF settings: VLAN protocol 0x%04x is neither 802.1Q (0x8100) "
                        "nor 802.1ad (0x88a8)",
                        s->vlan_proto);
    if ((s->fields & EVR_VF_LINK_STATE) && s->link_state != EVR_VF_LINK_AUTO &&
        s->link_state != EVR_VF_LINK_ENABLE && s->link_state != EVR_VF_LINK_DISABLE)
        return evr_fail(err, EINVAL, "VF settings: link state %d is not auto, enable or disable",
                        (int)s->link_state);
    return 0;
}

static int ifindex_of(const char *ifname, struct evr_err *err)
{
    unsigned idx;

    if (!ifname || !ifname[0] || strlen(ifname) >= IF_NAMESIZE)
        return evr_fail(err, ENAMETOOLONG, "interface name '%s' is empty or too long",
                        ifname ? ifname : "(null)");
    idx = if_nametoindex(ifname);
    if (idx == 0)
        return evr_fail(err, ENOENT, "%s: no such interface", ifname);
    return (int)idx;
}

/* "kernel: Invalid argument (extack text)". */
static void kernel_reason(const struct evr_vf_link *l, int nlerr, char *buf, size_t len)
{
    if (l->kernel_errno && l->extack[0])
        snprintf(buf, len, "%s (%s)", strerror(l->kernel_errno), l->extack);
    else if (l->kernel_errno)
        snprintf(buf, len, "%s", strerror(l->kernel_errno));
    else
        snprintf(buf, len, "%s", nl_geterror(nlerr));
}

static const char *proto_name(uint16_t proto)
{
    return proto == EVR_VF_PROTO_8021AD ? "802.1ad" : "802.1Q";
}

/* Describes one field's value for messages. */
static void describe(unsigned field, const struct evr_vf_settings *s, char *buf, size_t len)
{
    switch (field) {
    case EVR_VF_MAC:
        snprintf(buf, len, "MAC %02x:%02x:%02x:%02x:%02x:%02x", s->mac[0], s->mac[1], s->mac[2],
                 s->mac[3], s->mac[4], s->mac[5]);
        break;
    case EVR_VF_VLAN:
        snprintf(buf, len, "VLAN %u (qos %u, %s)", s->vlan, s->qos, proto_name(s->vlan_proto));
        break;
    case EVR_VF_RATE:
        snprintf(buf, len, "rate min %u max %u Mbit/s", s->min_tx_rate, s->max_tx_rate);
        break;
    case EVR_VF_SPOOFCHK:
        snprintf(buf, len, "spoofchk %s", s->spoofchk ? "on" : "off");
        break;
    case EVR_VF_TRUST:
        snprintf(buf, len, "trust %s", s->trust ? "on" : "off");
        break;
    default:
        snprintf(buf, len, "link state %s",
                 s->link_state == EVR_VF_LINK_ENABLE    ? "enable"
                 : s->link_state == EVR_VF_LINK_DISABLE ? "disable"
                                                        : "auto");
        break;
    }
}

/* Sends one RTM_NEWLINK carrying one field of one VF and waits for the ACK. */
static int apply_field(struct evr_vf_link *l, int ifindex, const char *ifname, unsigned vf,
                       unsigned field, const struct evr_vf_settings *s, struct evr_err *err)
{
    struct rtnl_link *orig = rtnl_link_alloc(), *change = rtnl_link_alloc();
    struct rtnl_link_vf *v = rtnl_link_vf_alloc();
    struct nl_msg *msg = NULL;
    char what[96], why[320];
    int rc = -NLE_NOMEM;

    describe(field, s, what, sizeof(what));
    if (!orig || !change || !v)
        goto out;
    rtnl_link_set_ifindex(orig, ifindex);
    rtnl_link_vf_set_index(v, vf);
    switch (field) {
    case EVR_VF_MAC: {
        struct nl_addr *a = nl_addr_build(AF_LLC, s->mac, 6);
        if (!a)
            goto out;
        rtnl_link_vf_set_addr(v, a);
        nl_addr_put(a);
        break;
    }
    case EVR_VF_VLAN: {
        nl_vf_vlans_t *vlans;
        rc = rtnl_link_vf_vlan_alloc(&vlans, 1);
        if (rc < 0)
            goto out;
        vlans->vlans[0].vf_vlan = s->vlan;
        vlans->vlans[0].vf_vlan_qos = s->qos;
        /* libnl 3.7 sends a plain 802.1Q VLAN as IFLA_VF_VLAN (no protocol)
         * and copies any other protocol into IFLA_VF_VLAN_LIST unconverted,
         * though it converts on reading: so it takes network order here. */
        vlans->vlans[0].vf_vlan_proto = s->vlan_proto == EVR_VF_PROTO_8021AD
                                                ? htons(EVR_VF_PROTO_8021AD)
                                                : EVR_VF_PROTO_8021Q;
        rtnl_link_vf_set_vlans(v, vlans);
        rtnl_link_vf_vlan_put(vlans);
        break;
    }
    case EVR_VF_RATE: {
        struct nl_vf_rate r = {
                .api = RTNL_LINK_VF_RATE_API_NEW,
                .min_tx_rate = s->min_tx_rate,
                .max_tx_rate = s->max_tx_rate,
        };
        rtnl_link_vf_set_rate(v, &r);
        break;
    }
    case EVR_VF_SPOOFCHK:
        rtnl_link_vf_set_spoofchk(v, s->spoofchk);
        break;
    case EVR_VF_TRUST:
        rtnl_link_vf_set_trust(v, s->trust);
        break;
    default:
        rtnl_link_vf_set_linkstate(v, (uint32_t)s->link_state);
        break;
    }
    rc = rtnl_link_vf_add(change, v);
    if (rc < 0)
        goto out;
    rc = rtnl_link_build_change_request(orig, change, 0, &msg);
    if (rc < 0)
        goto out;
    l->kernel_errno = 0;
    l->extack[0] = '\0';
    rc = nl_send_auto(l->sk, msg);
    if (rc >= 0)
        rc = nl_wait_for_ack(l->sk);
out:
    if (rc < 0) {
        kernel_reason(l, rc, why, sizeof(why));
        evr_fail(err, l->kernel_errno ? l->kernel_errno : EIO, "%s VF %u: setting %s failed: %s",
                 ifname, vf, what, why);
    }
    nlmsg_free(msg);
    rtnl_link_vf_put(v);
    rtnl_link_put(change);
    rtnl_link_put(orig);
    return rc < 0 ? -1 : 0;
}

static void take_object(struct nl_object *obj, void *arg)
{
    struct evr_vf_link *l = arg;
    struct rtnl_link *link = (struct rtnl_link *)obj;

    if (!l->found && rtnl_link_get_ifindex(link) == l->want_ifindex) {
        nl_object_get(obj);
        l->found = link;
    }
}

static int on_link(struct nl_msg *msg, void *arg)
{
    nl_msg_parse(msg, take_object, arg);
    return NL_OK;
}

/* The interface's link, from a dump that asks for VF info. */
static int dump_link(struct evr_vf_link *l, const char *ifname, int ifindex, struct rtnl_link **out,
                     struct evr_err *err)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP);
    char why[320];
    int rc;

    if (!msg)
        return evr_fail(err, ENOMEM, "%s: out of memory for a link dump", ifname);
    rc = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
    if (rc >= 0)
        rc = nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_VF);
    if (rc < 0) {
        nlmsg_free(msg);
        return evr_fail(err, EIO, "%s: cannot build a link dump: %s", ifname, nl_geterror(rc));
    }
    l->found = NULL;
    l->want_ifindex = ifindex;
    l->kernel_errno = 0;
    l->extack[0] = '\0';
    nl_socket_modify_cb(l->sk, NL_CB_VALID, NL_CB_CUSTOM, on_link, l);
    rc = nl_send_auto(l->sk, msg);
    nlmsg_free(msg);
    if (rc >= 0)
        rc = nl_recvmsgs_default(l->sk);
    nl_socket_modify_cb(l->sk, NL_CB_VALID, NL_CB_DEFAULT, NULL, NULL);
    if (rc < 0) {
        if (l->found)
            rtnl_link_put(l->found);
        kernel_reason(l, rc, why, sizeof(why));
        return evr_fail(err, l->kernel_errno ? l->kernel_errno : EIO, "%s: link dump failed: %s",
                        ifname, why);
    }
    if (!l->found)
        return evr_fail(err, ENOENT, "%s: not in the link dump (removed meanwhile?)", ifname);
    *out = l->found;
    return 0;
}

int evr_vf_count(struct evr_vf_link *l, const char *ifname, unsigned *out, struct evr_err *err)
{
    struct rtnl_link *link;
    uint32_t n = 0;
    int ifindex = ifindex_of(ifname, err);

    if (ifindex < 0 || dump_link(l, ifname, ifindex, &link, err))
        return -1;
    if (rtnl_link_get_num_vf(link, &n) < 0)
        n = 0;
    rtnl_link_put(link);
    *out = n;
    return 0;
}

static int read_vf(struct rtnl_link *link, const char *ifname, unsigned vf,
                   struct evr_vf_settings *out, struct evr_err *err)
{
    /* libnl's lookup dereferences the list without checking for one. */
    struct rtnl_link_vf *v = rtnl_link_has_vf_list(link) ? rtnl_link_vf_get(link, vf) : NULL;
    struct evr_vf_settings s = {.fields = EVR_VF_ALL, .vlan_proto = EVR_VF_PROTO_8021Q};
    struct nl_addr *addr;
    nl_vf_vlans_t *vlans;
    struct nl_vf_rate rate;
    uint32_t u, n = 0;

    if (!v) {
        rtnl_link_get_num_vf(link, &n);
        return evr_fail(err, ENOENT, "%s: has no VF %u in its link dump (it reports %u VFs)",
                        ifname, vf, n);
    }
    if (rtnl_link_vf_get_addr(v, &addr) == 0 && nl_addr_get_len(addr) == 6)
        memcpy(s.mac, nl_addr_get_binary_addr(addr), 6);
    if (rtnl_link_vf_get_vlans(v, &vlans) == 0 && vlans && vlans->size > 0) {
        s.vlan = (uint16_t)vlans->vlans[0].vf_vlan;
        s.qos = (uint8_t)vlans->vlans[0].vf_vlan_qos;
        if (vlans->vlans[0].vf_vlan_proto)
            s.vlan_proto = vlans->vlans[0].vf_vlan_proto;
        rtnl_link_vf_vlan_put(vlans);
    }
    memset(&rate, 0, sizeof(rate));
    rate.api = RTNL_LINK_VF_RATE_API_NEW;
    if (rtnl_link_vf_get_rate(v, &rate) == 0) {
        s.min_tx_rate = rate.min_tx_rate;
        s.max_tx_rate = rate.max_tx_rate;
    }
    if (rtnl_link_vf_get_spoofchk(v, &u) == 0)
        s.spoofchk = u != 0;
    if (rtnl_link_vf_get_trust(v, &u) == 0)
        s.trust = u != 0;
    if (rtnl_link_vf_get_linkstate(v, &u) == 0)
        s.link_state = (enum evr_vf_link_state)u;
    rtnl_link_vf_put(v);
    *out = s;
    return 0;
}

int evr_vf_get(struct evr_vf_link *l, const char *ifname, unsigned vf, struct evr_vf_settings *out,
               struct evr_err *err)
{
    struct rtnl_link *link;
    int ifindex = ifindex_of(ifname, err), rc;

    if (ifindex < 0 || dump_link(l, ifname, ifindex, &link, err))
        return -1;
    rc = read_vf(link, ifname, vf, out, err);
    rtnl_link_put(link);
    return rc;
}

static const unsigned field_order[] = {
        EVR_VF_MAC, EVR_VF_VLAN, EVR_VF_RATE, EVR_VF_SPOOFCHK, EVR_VF_TRUST, EVR_VF_LINK_STATE,
};

bool evr_vf_field_holds(unsigned field, const struct evr_vf_settings *now,
                        const struct evr_vf_settings *want)
{
    uint16_t now_proto = now->vlan_proto ? now->vlan_proto : EVR_VF_PROTO_8021Q;
    uint16_t want_proto = want->vlan_proto ? want->vlan_proto : EVR_VF_PROTO_8021Q;

    if (!(now->fields & field))
        return false;
    switch (field) {
    case EVR_VF_MAC:
        return !memcmp(now->mac, want->mac, 6);
    case EVR_VF_VLAN:
        /* with no VLAN, QoS and protocol mean nothing */
        return now->vlan == want->vlan &&
               (!want->vlan || (now->qos == want->qos && now_proto == want_proto));
    case EVR_VF_RATE:
        return now->min_tx_rate == want->min_tx_rate && now->max_tx_rate == want->max_tx_rate;
    case EVR_VF_SPOOFCHK:
        return now->spoofchk == want->spoofchk;
    case EVR_VF_TRUST:
        return now->trust == want->trust;
    case EVR_VF_LINK_STATE:
        return now->link_state == want->link_state;
    }
    return false;
}

int evr_vf_set(struct evr_vf_link *l, const char *ifname, unsigned vf,
               const struct evr_vf_settings *s, struct evr_err *err)
{
    struct evr_vf_settings old;
    int ifindex;
    size_t i, j;

    if (evr_vf_settings_check(s, err))
        return -1;
    ifindex = ifindex_of(ifname, err);
    if (ifindex < 0)
        return -1;
    /* The old values, to put back what this call changed if a later field
     * fails. A VF the interface does not report still goes to the kernel,
     * whose answer is the one to give. */
    if (evr_vf_get(l, ifname, vf, &old, NULL))
        old.fields = 0;
    for (i = 0; i < sizeof(field_order) / sizeof(field_order[0]); i++) {
        if (!(s->fields & field_order[i]) || evr_vf_field_holds(field_order[i], &old, s))
            continue;
        if (apply_field(l, ifindex, ifname, vf, field_order[i], s, err) == 0)
            continue;
        for (j = 0; j < i; j++) {
            struct evr_err undo;
            if (!(s->fields & field_order[j]) || !(old.fields & field_order[j]) ||
                evr_vf_field_holds(field_order[j], &old, s))
                continue;
            if (apply_field(l, ifindex, ifname, vf, field_order[j], &old, &undo) && err)
                snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
                         "; undoing failed too: %s", undo.msg);
        }
        return -1;
    }
    return 0;
}

int evr_vf_reset(struct evr_vf_link *l, const char *ifname, unsigned vf, struct evr_err *err)
{
    struct evr_vf_settings now;

    if (evr_vf_set(l, ifname, vf, &evr_vf_clean, err) || evr_vf_get(l, ifname, vf, &now, err))
        return -1;
    if (memcmp(now.mac, evr_vf_clean.mac, 6) != 0 || now.vlan != 0 || now.qos != 0 ||
        now.min_tx_rate != 0 || now.max_tx_rate != 0 || now.trust || !now.spoofchk ||
        now.link_state != EVR_VF_LINK_AUTO)
        return evr_fail(err, EBUSY,
                        "%s VF %u: still not clean after a reset (VLAN %u, max rate %u, "
                        "trust %s, spoofchk %s)",
                        ifname, vf, now.vlan, now.max_tx_rate, now.trust ? "on" : "off",
                        now.spoofchk ? "on" : "off");
    return 0;
}
