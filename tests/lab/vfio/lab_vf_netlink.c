/* Lab check of VF settings over rtnetlink (vfio/vf_link.h) on netdevsim:
 * one device with 8 ports and 4 VFs; every setting is set through the
 * library and read back from a link dump; bad values come back with the
 * kernel's refusal, nothing half-applied; a reset leaves a VF clean. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "lab_check.h"
#include "sysfs_io.h"
#include "vf_link.h"

#define NSIM_ID  "10"
#define NSIM_DIR "/sys/bus/netdevsim/devices/netdevsim" NSIM_ID

static int count_ports(char *first, size_t len)
{
    struct dirent *de;
    int n = 0;
    DIR *d = opendir(NSIM_DIR "/net");

    if (!d)
        return -1;
    first[0] = '\0';
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (strlen(de->d_name) < len && (!first[0] || strcmp(de->d_name, first) < 0))
            memcpy(first, de->d_name, strlen(de->d_name) + 1);
        n++;
    }
    closedir(d);
    return n;
}

static int same(const struct evr_vf_settings *a, const struct evr_vf_settings *b)
{
    return memcmp(a->mac, b->mac, 6) == 0 && a->vlan == b->vlan && a->qos == b->qos &&
           a->vlan_proto == b->vlan_proto && a->min_tx_rate == b->min_tx_rate &&
           a->max_tx_rate == b->max_tx_rate && a->spoofchk == b->spoofchk && a->trust == b->trust &&
           a->link_state == b->link_state;
}

static void show(const char *what, const struct evr_vf_settings *s)
{
    printf("  %s: mac %02x:%02x:%02x:%02x:%02x:%02x vlan %u qos %u proto 0x%04x rate %u-%u "
           "spoofchk %d trust %d link %d\n",
           what, s->mac[0], s->mac[1], s->mac[2], s->mac[3], s->mac[4], s->mac[5], s->vlan, s->qos,
           s->vlan_proto, s->min_tx_rate, s->max_tx_rate, s->spoofchk, s->trust,
           (int)s->link_state);
}

int main(void)
{
    struct evr_vf_settings want, got, before, bad;
    struct evr_vf_link *l;
    struct evr_err err;
    char pf[64];
    unsigned nvf = 0;
    int rc, ports;

    rc = evr_sysfs_write("/sys/bus/netdevsim/new_device", NSIM_ID " 8");
    REQUIRE(rc == 0, "netdevsim device with 8 ports created", "new_device: %s", strerror(-rc));
    rc = evr_sysfs_write(NSIM_DIR "/sriov_numvfs", "4");
    REQUIRE(rc == 0, "4 VFs enabled on netdevsim", "sriov_numvfs: %s", strerror(-rc));
    ports = count_ports(pf, sizeof(pf));
    REQUIRE(ports == 8, "8 netdevsim ports appeared", "found %d", ports);
    printf("  PF interface: %s\n", pf);

    REQUIRE(evr_vf_link_open(&l, &err) == 0, "rtnetlink socket opened", "%s", err.msg);
    rc = evr_vf_count(l, pf, &nvf, &err);
    CHECK(rc == 0 && nvf == 4, "the link dump reports 4 VFs", "rc %d, %u VFs: %s", rc, nvf,
          err.msg);

    /* Every setting at once on VF 1, 802.1ad VLAN with QoS. */
    memset(&want, 0, sizeof(want));
    want.fields = EVR_VF_ALL;
    evr_vf_mac_parse("02:00:00:00:00:11", want.mac, NULL);
    want.vlan = 100;
    want.qos = 3;
    want.vlan_proto = EVR_VF_PROTO_8021AD;
    want.min_tx_rate = 10;
    want.max_tx_rate = 100;
    want.spoofchk = false;
    want.trust = true;
    want.link_state = EVR_VF_LINK_DISABLE;
    rc = evr_vf_set(l, pf, 1, &want, &err);
    CHECK(rc == 0, "VF 1: every setting applied", "%s", err.msg);
    rc = evr_vf_get(l, pf, 1, &got, &err);
    show("VF 1 read back", &got);
    CHECK(rc == 0 && memcmp(got.mac, want.mac, 6) == 0, "VF 1: MAC read back", "%s", err.msg);
    CHECK(rc == 0 && got.vlan == 100 && got.qos == 3, "VF 1: VLAN 100 qos 3 read back",
          "vlan %u qos %u", got.vlan, got.qos);
    CHECK(rc == 0 && got.vlan_proto == EVR_VF_PROTO_8021AD, "VF 1: 802.1ad read back",
          "proto 0x%04x", got.vlan_proto);
    CHECK(rc == 0 && got.min_tx_rate == 10 && got.max_tx_rate == 100,
          "VF 1: min/max rate read back", "%u/%u", got.min_tx_rate, got.max_tx_rate);
    CHECK(rc == 0 && !got.spoofchk, "VF 1: spoofchk off read back", "on");
    CHECK(rc == 0 && got.trust, "VF 1: trust on read back", "off");
    CHECK(rc == 0 && got.link_state == EVR_VF_LINK_DISABLE, "VF 1: link state disable read back",
          "%d", (int)got.link_state);

    /* The other protocol and link state on VF 2; VF 3 untouched. */
    memset(&want, 0, sizeof(want));
    want.fields = EVR_VF_VLAN | EVR_VF_LINK_STATE | EVR_VF_SPOOFCHK;
    want.vlan = 4094;
    want.vlan_proto = EVR_VF_PROTO_8021Q;
    want.link_state = EVR_VF_LINK_ENABLE;
    want.spoofchk = true;
    rc = evr_vf_set(l, pf, 2, &want, &err);
    CHECK(rc == 0, "VF 2: 802.1Q VLAN, link enable, spoofchk on applied", "%s", err.msg);
    rc = evr_vf_get(l, pf, 2, &got, &err);
    CHECK(rc == 0 && got.vlan == 4094 && got.vlan_proto == EVR_VF_PROTO_8021Q &&
                  got.link_state == EVR_VF_LINK_ENABLE && got.spoofchk,
          "VF 2: read back", "vlan %u proto 0x%04x link %d spoofchk %d", got.vlan, got.vlan_proto,
          (int)got.link_state, got.spoofchk);
    rc = evr_vf_get(l, pf, 3, &got, &err);
    CHECK(rc == 0 && got.vlan == 0 && !got.trust && got.max_tx_rate == 0,
          "VF 3: untouched by the others", "vlan %u trust %d", got.vlan, got.trust);

    /* Bad values: the kernel's refusal, naming field and value. */
    evr_vf_get(l, pf, 1, &before, NULL);
    memset(&bad, 0, sizeof(bad));
    bad.fields = EVR_VF_MAC;
    evr_vf_mac_parse("01:00:5e:00:00:01", bad.mac, NULL);
    rc = evr_vf_set(l, pf, 1, &bad, &err);
    printf("  multicast MAC: %s\n", err.msg);
    CHECK(rc == -1 && strstr(err.msg, "VF 1: setting MAC 01:00:5e:00:00:01 failed") &&
                  strstr(err.msg, strerror(EINVAL)),
          "multicast MAC refused by the kernel", "rc %d: %s", rc, err.msg);

    bad.fields = EVR_VF_VLAN;
    bad.vlan = 4096;
    rc = evr_vf_set(l, pf, 1, &bad, &err);
    printf("  VLAN 4096: %s\n", err.msg);
    CHECK(rc == -1 && strstr(err.msg, "setting VLAN 4096 (qos 0, 802.1Q) failed") &&
                  strstr(err.msg, strerror(EINVAL)),
          "VLAN 4096 refused by the kernel", "rc %d: %s", rc, err.msg);

    bad.fields = EVR_VF_TRUST;
    bad.trust = true;
    rc = evr_vf_set(l, pf, 4, &bad, &err);
    printf("  VF 4: %s\n", err.msg);
    CHECK(rc == -1 && strstr(err.msg, " VF 4: setting trust on failed") &&
                  strstr(err.msg, strerror(EINVAL)),
          "VF index 4 (of 4) refused by the kernel", "rc %d: %s", rc, err.msg);
    rc = evr_vf_get(l, pf, 4, &got, &err);
    CHECK(rc == -1 && strstr(err.msg, "has no VF 4 in its link dump (it reports 4 VFs)"),
          "reading VF 4 names the VF count", "rc %d: %s", rc, err.msg);

    /* A good MAC then a bad VLAN: the MAC is put back. */
    bad.fields = EVR_VF_MAC | EVR_VF_VLAN;
    evr_vf_mac_parse("02:00:00:00:00:99", bad.mac, NULL);
    bad.vlan = 5000;
    rc = evr_vf_set(l, pf, 1, &bad, &err);
    CHECK(rc == -1 && strstr(err.msg, "VLAN 5000"), "MAC then bad VLAN refused", "rc %d: %s", rc,
          err.msg);
    rc = evr_vf_get(l, pf, 1, &got, &err);
    show("VF 1 after refusals", &got);
    CHECK(rc == 0 && same(&got, &before), "VF 1 unchanged after every refusal (MAC rolled back)",
          "settings differ from before");

    bad.fields = EVR_VF_VLAN;
    bad.vlan = 10;
    bad.vlan_proto = 0x9100;
    rc = evr_vf_set(l, pf, 1, &bad, &err);
    CHECK(rc == -1 && strstr(err.msg, "VLAN protocol 0x9100 is neither"),
          "unknown VLAN protocol refused before the kernel", "rc %d: %s", rc, err.msg);

    /* Release: back to clean, nothing left for the next owner. */
    rc = evr_vf_reset(l, pf, 1, &err);
    CHECK(rc == 0, "VF 1 reset", "%s", err.msg);
    rc = evr_vf_get(l, pf, 1, &got, &err);
    show("VF 1 after reset", &got);
    CHECK(rc == 0 && same(&got, &evr_vf_clean), "VF 1 reads back clean after reset", "not clean");
    rc = evr_vf_reset(l, pf, 2, &err);
    rc |= evr_vf_get(l, pf, 2, &got, &err);
    CHECK(rc == 0 && same(&got, &evr_vf_clean), "VF 2 reads back clean after reset", "%s", err.msg);

    rc = evr_vf_get(l, "evr-nosuch0", 0, &got, &err);
    CHECK(rc == -1 && strstr(err.msg, "evr-nosuch0: no such interface"), "unknown interface named",
          "%s", err.msg);

    evr_vf_link_close(l);
    evr_sysfs_write("/sys/bus/netdevsim/del_device", NSIM_ID);
    return lab_result();
}
