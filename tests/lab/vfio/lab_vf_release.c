/* Lab check of a VF's give-back (vfio/vf_release.h) down its success path:
 * the VF's settings are reset over rtnetlink on a real PF interface, then
 * its vfio-pci binding is given back.
 *
 * netdevsim's VFs have real settings behind a real interface but are no
 * PCI functions, and the lab's PCI VFs (nvme) have no interface. So the
 * PCI side is the unit tests' modelled sysfs tree (tests/unit/vfio/
 * fake_sysfs.c, evr_sysfs_write wrapped at link time): a PF whose interface
 * is a real netdevsim port, and its VF 1, bound to vfio-pci. The settings
 * reset is the kernel's: set, read back, released, read back clean. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bind.h"
#include "fake_sysfs.h"
#include "lab_check.h"
#include "sriov.h"
#include "vf_link.h"
#include "vf_release.h"

#define NSIM_ID  "11"
#define NSIM_DIR "/sys/bus/netdevsim/devices/netdevsim" NSIM_ID
#define PF       "0000:01:00.0"
#define VF1      "0000:01:00.2"

/* A sysfs write of the real kernel (evr_sysfs_write is the model's here). */
static int kernel_write(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(value, f);
    return fclose(f) ? -1 : 0;
}

static int first_port(char *out, size_t len)
{
    struct dirent *de;
    DIR *d = opendir(NSIM_DIR "/net");
    if (!d)
        return -1;
    out[0] = '\0';
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strlen(de->d_name) < len &&
            (!out[0] || strcmp(de->d_name, out) < 0))
            memcpy(out, de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    return out[0] ? 0 : -1;
}

static int is_clean(const struct evr_vf_settings *s)
{
    const struct evr_vf_settings *c = &evr_vf_clean;
    return memcmp(s->mac, c->mac, 6) == 0 && s->vlan == c->vlan && s->qos == c->qos &&
           s->min_tx_rate == c->min_tx_rate && s->max_tx_rate == c->max_tx_rate &&
           s->spoofchk == c->spoofchk && s->trust == c->trust && s->link_state == c->link_state;
}

int main(void)
{
    struct evr_vf_settings want, got;
    struct evr_vfio_binding b;
    struct evr_vf_link *l;
    struct evr_err err;
    char port[64];
    int rc;

    REQUIRE(kernel_write("/sys/bus/netdevsim/new_device", NSIM_ID " 1") == 0,
            "netdevsim device with 1 port created", "new_device refused");
    REQUIRE(kernel_write(NSIM_DIR "/sriov_numvfs", "2") == 0, "2 VFs enabled on netdevsim",
            "sriov_numvfs refused");
    for (int i = 0; i < 50 && first_port(port, sizeof(port)) != 0; i++)
        nanosleep(&(struct timespec){0, 100000000}, NULL); /* udev-free: the port appears async */
    REQUIRE(first_port(port, sizeof(port)) == 0, "the netdevsim port appeared", "none in %s",
            NSIM_DIR "/net");
    printf("  PF interface: %s\n", port);

    fake_setup();
    fake_add_fn(PF, "0x8086", "0x10c9", "0x020000", "igb", 8, "igb");
    fake_add_netdev(PF, port);
    fake_make_pf(PF, 2, 9);
    REQUIRE(evr_sriov_set_numvfs(fake.root, PF, 2, &err) == 0, "the modelled PF has 2 VFs", "%s",
            err.msg);
    REQUIRE(evr_vfio_bind(fake.root, VF1, &b, &err) == 0, "VF 1 bound to vfio-pci (modelled)", "%s",
            err.msg);

    REQUIRE(evr_vf_link_open(&l, &err) == 0, "rtnetlink socket opened", "%s", err.msg);
    memset(&want, 0, sizeof(want));
    want.fields = EVR_VF_ALL;
    evr_vf_mac_parse("02:00:00:00:01:11", want.mac, NULL);
    want.vlan = 300;
    want.qos = 2;
    want.max_tx_rate = 500;
    want.spoofchk = false;
    want.trust = true;
    want.link_state = EVR_VF_LINK_ENABLE;
    rc = evr_vf_set(l, port, 1, &want, &err);
    rc |= evr_vf_get(l, port, 1, &got, &err);
    REQUIRE(rc == 0 && got.vlan == 300 && got.trust && !is_clean(&got),
            "VF 1 given an owner's settings (MAC, VLAN 300, rate, trust) on the real interface",
            "%s", err.msg);

    rc = evr_vf_release(fake.root, l, &b, &err);
    CHECK(rc == 0, "evr_vf_release succeeds", "%s", err.msg);
    rc = evr_vf_get(l, port, 1, &got, &err);
    printf("  VF 1 after release: mac %02x:%02x:%02x:%02x:%02x:%02x vlan %u qos %u rate %u-%u "
           "spoofchk %d trust %d link %d\n",
           got.mac[0], got.mac[1], got.mac[2], got.mac[3], got.mac[4], got.mac[5], got.vlan,
           got.qos, got.min_tx_rate, got.max_tx_rate, got.spoofchk, got.trust, (int)got.link_state);
    CHECK(rc == 0 && is_clean(&got),
          "the kernel reads VF 1 back clean: nothing left for the next owner", "%s",
          rc ? err.msg : "settings remain");
    CHECK(strcmp(fake_driver(VF1), "") == 0, "VF 1's binding given back (unbound, as created)",
          "bound to %s", fake_driver(VF1));
    CHECK(strcmp(fake_read("/sys/bus/pci/devices/" VF1 "/driver_override"), "(null)") == 0,
          "VF 1's driver_override put back", "%s",
          fake_read("/sys/bus/pci/devices/" VF1 "/driver_override"));

    evr_vf_link_close(l);
    fake_teardown();
    kernel_write("/sys/bus/netdevsim/del_device", NSIM_ID);
    return lab_result();
}
