/* Lab check of the PCI side of vfio/ on real functions, in one boot
 * (evr-lab run --nics 2 --nvme 1):
 *  - an e1000e: discovered, bound to vfio-pci, its group and device opened,
 *    config space and BAR0 read (the MAC the driver showed is in the
 *    receive-address registers), MSI/MSI-X info, an eventfd connected and
 *    fired, a DMA mapping made and removed, reset, given back to e1000e;
 *  - an nvme PF with SR-IOV: VFs enabled with autoprobe off, enumerated,
 *    recounted through 0, refused while a VF's group is held (naming this
 *    process), a VF bound to vfio-pci and given back, VFs disabled. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bind.h"
#include "group.h"
#include "lab_check.h"
#include "pci.h"
#include "sriov.h"
#include "sysfs_io.h"
#include "vfio_device.h"

#define ROOT "" /* the lab's own sysfs, procfs and devfs */

#define E1000_STATUS 0x0008
#define E1000_RAL0   0x5400
#define E1000_RAH0   0x5404
#define E1000_RAH_AV 0x80000000u

static uint32_t reg32(const void *bar, size_t off)
{
    return *(const volatile uint32_t *)((const char *)bar + off);
}

static int find_fn(const struct evr_pci_fn *fns, size_t n, uint16_t vendor, uint16_t device,
                   uint32_t class_code)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((!vendor || fns[i].vendor == vendor) && (!device || fns[i].device == device) &&
            fns[i].class_code == class_code && !fns[i].is_vf)
            return (int)i;
    return -1;
}

static void check_e1000e(const struct evr_pci_fn *nic)
{
    struct evr_vfio_container c;
    struct evr_vfio_group g;
    struct evr_vfio_device d;
    struct evr_vfio_binding b;
    struct evr_err err;
    struct evr_pci_fn now;
    struct vfio_region_info ri;
    struct vfio_irq_info msi, msix;
    char path[128], macs[32], holders[256], want_holder[64];
    uint8_t mac[6];
    uint16_t ids[2];
    uint64_t count;
    void *bar, *buf;
    size_t bar_len;
    int rc, efd;
    uint32_t status, ral, rah;

    printf("# e1000e %s (group %d, %s)\n", nic->addr, nic->iommu_group, nic->netdevs[0]);
    snprintf(path, sizeof(path), "/sys/class/net/%s/address", nic->netdevs[0]);
    REQUIRE(evr_sysfs_read(path, macs, sizeof(macs)) == 17 &&
                    sscanf(macs, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
                           &mac[3], &mac[4], &mac[5]) == 6,
            "the NIC's MAC read from its netdev", "%s", macs);

    rc = evr_vfio_bind(ROOT, nic->addr, &b, &err);
    REQUIRE(rc == 0, "e1000e bound to vfio-pci", "%s", err.msg);
    rc = evr_pci_fn_read(ROOT, nic->addr, &now, &err);
    CHECK(rc == 0 && strcmp(now.driver, "vfio-pci") == 0 && now.netdev_count == 0,
          "sysfs shows vfio-pci and no netdev", "driver '%s', %zu netdevs", now.driver,
          now.netdev_count);
    CHECK(strcmp(b.prev_driver, "e1000e") == 0, "the previous driver is remembered", "'%s'",
          b.prev_driver);

    REQUIRE(evr_vfio_container_open(&c, ROOT, &err) == 0, "VFIO container opened", "%s", err.msg);
    REQUIRE(evr_vfio_group_open(&c, ROOT, nic->iommu_group, &g, &err) == 0,
            "VFIO group opened, viable, type1 IOMMU set", "%s", err.msg);
    REQUIRE(evr_vfio_device_open(&g, nic->addr, &d, &err) == 0, "VFIO device opened", "%s",
            err.msg);
    printf("  %u regions, %u irq indexes, flags 0x%x\n", d.info.num_regions, d.info.num_irqs,
           d.info.flags);
    CHECK(d.info.num_regions >= VFIO_PCI_NUM_REGIONS && d.info.num_irqs >= VFIO_PCI_NUM_IRQS,
          "device info lists the PCI regions and interrupts", "%u regions %u irqs",
          d.info.num_regions, d.info.num_irqs);

    rc = evr_vfio_region_read(&d, VFIO_PCI_CONFIG_REGION_INDEX, 0, ids, sizeof(ids), &err);
    CHECK(rc == 0 && ids[0] == 0x8086 && ids[1] == 0x10d3, "config space reads 8086:10d3",
          "rc %d, %04x:%04x %s", rc, ids[0], ids[1], err.msg);

    rc = evr_vfio_region_info(&d, VFIO_PCI_BAR0_REGION_INDEX, &ri, &err);
    printf("  BAR0: size 0x%llx flags 0x%x\n", (unsigned long long)ri.size, ri.flags);
    CHECK(rc == 0 && ri.size == 0x20000 && (ri.flags & VFIO_REGION_INFO_FLAG_MMAP),
          "BAR0 region info: 128 KiB, mappable", "rc %d size 0x%llx flags 0x%x", rc,
          (unsigned long long)ri.size, ri.flags);
    rc = evr_vfio_region_mmap(&d, VFIO_PCI_BAR0_REGION_INDEX, &bar, &bar_len, &err);
    REQUIRE(rc == 0, "BAR0 mapped", "%s", err.msg);
    status = reg32(bar, E1000_STATUS);
    ral = reg32(bar, E1000_RAL0);
    rah = reg32(bar, E1000_RAH0);
    printf("  STATUS 0x%08x RAL0 0x%08x RAH0 0x%08x\n", status, ral, rah);
    CHECK(status != 0xffffffffu && (status & 0x3) == 0x3,
          "STATUS register: readable, full duplex and link up (the hub cable)", "0x%08x", status);
    CHECK(ral == ((uint32_t)mac[0] | mac[1] << 8 | mac[2] << 16 | (uint32_t)mac[3] << 24) &&
                  (rah & 0xffff) == ((uint32_t)mac[4] | mac[5] << 8) && (rah & E1000_RAH_AV),
          "receive address 0 in BAR0 is the MAC the netdev showed", "RAL0 0x%08x RAH0 0x%08x", ral,
          rah);

    rc = evr_vfio_irq_info(&d, VFIO_PCI_MSI_IRQ_INDEX, &msi, &err);
    rc |= evr_vfio_irq_info(&d, VFIO_PCI_MSIX_IRQ_INDEX, &msix, &err);
    printf("  MSI: %u vectors, MSI-X: %u vectors\n", msi.count, msix.count);
    CHECK(rc == 0 && msi.count >= 1 && msix.count == 5 && (msix.flags & VFIO_IRQ_INFO_EVENTFD),
          "MSI and MSI-X info (e1000e has 5 MSI-X vectors)", "rc %d msi %u msix %u: %s", rc,
          msi.count, msix.count, err.msg);

    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    rc = evr_vfio_irq_set_eventfds(&d, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &efd, &err);
    CHECK(rc == 0, "eventfd connected to MSI-X vector 0", "%s", err.msg);
    rc = evr_vfio_irq_trigger(&d, VFIO_PCI_MSIX_IRQ_INDEX, 0, &err);
    count = 0;
    CHECK(rc == 0 && read(efd, &count, sizeof(count)) == sizeof(count) && count >= 1,
          "firing vector 0 signals the eventfd", "rc %d count %llu: %s", rc,
          (unsigned long long)count, err.msg);
    rc = evr_vfio_irq_set_eventfds(&d, VFIO_PCI_MSIX_IRQ_INDEX, 4, 2, &efd, &err);
    CHECK(rc == -1 && strstr(err.msg, "vectors 4..5 of interrupt index 2: it has 5"),
          "vectors past the last are refused", "%s", err.msg);
    rc = evr_vfio_irq_disable(&d, VFIO_PCI_MSIX_IRQ_INDEX, &err);
    CHECK(rc == 0, "MSI-X disabled", "%s", err.msg);
    rc = evr_vfio_irq_trigger(&d, VFIO_PCI_MSIX_IRQ_INDEX, 0, &err);
    CHECK(rc == -1 && strstr(err.msg, nic->addr) && strstr(err.msg, "VFIO_DEVICE_SET_IRQS"),
          "firing a disconnected vector fails, naming device and step", "%s", err.msg);
    close(efd);

    buf = mmap(NULL, 0x200000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(buf != MAP_FAILED, "2 MiB buffer for DMA", "%s", strerror(errno));
    rc = evr_vfio_dma_map(&c, buf, 0x100000, 0x200000, 1, &err);
    CHECK(rc == 0, "DMA mapping made at iova 0x100000", "%s", err.msg);
    rc = evr_vfio_dma_map(&c, buf, 0x100000, 0x200000, 1, &err);
    CHECK(rc == -1 && strstr(err.msg, "File exists"),
          "the IOMMU holds the mapping (mapping it again: EEXIST)", "%s", err.msg);
    rc = evr_vfio_dma_unmap(&c, 0x100000, 0x200000, &err);
    CHECK(rc == 0, "DMA mapping removed", "%s", err.msg);
    rc = evr_vfio_dma_unmap(&c, 0x100000, 0x200000, &err);
    CHECK(rc == -1 && strstr(err.msg, "unmapped 0x0 of 0x200000"), "nothing left mapped there",
          "%s", err.msg);
    rc = evr_vfio_dma_map(&c, (char *)buf + 1, 0x100000, 0x1000, 1, &err);
    CHECK(rc == -1 && strstr(err.msg, "aligned"), "unaligned buffer refused", "%s", err.msg);
    munmap(buf, 0x200000);

    if (d.info.flags & VFIO_DEVICE_FLAGS_RESET) {
        rc = evr_vfio_device_reset(&d, &err);
        CHECK(rc == 0 && reg32(bar, E1000_RAL0) == ral, "device reset; BAR0 still reads the MAC",
              "rc %d RAL0 0x%08x: %s", rc, reg32(bar, E1000_RAL0), err.msg);
    } else {
        rc = evr_vfio_device_reset(&d, &err);
        CHECK(rc == -1 && strstr(err.msg, "offers no reset"), "reset refused when not offered",
              "%s", err.msg);
    }
    munmap(bar, bar_len);

    /* While this process holds the group, release is refused, naming it. */
    snprintf(want_holder, sizeof(want_holder), "lab_pci_vfio (pid %d)", (int)getpid());
    rc = evr_iommu_group_holders(ROOT, nic->iommu_group, holders, sizeof(holders), &err);
    CHECK(rc == 0 && strstr(holders, want_holder), "this process is named as the group's holder",
          "'%s'", holders);
    rc = evr_vfio_release(ROOT, &b, &err);
    CHECK(rc == -1 && strstr(err.msg, want_holder), "release refused while the group is held", "%s",
          err.msg);

    evr_vfio_device_close(&d);
    evr_vfio_group_close(&g);
    /* The last group leaving takes the IOMMU with it; rejoining sets it again. */
    rc = evr_vfio_group_open(&c, ROOT, nic->iommu_group, &g, &err);
    buf = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rc == 0)
        rc = evr_vfio_dma_map(&c, buf, 0x200000, 0x1000, 0, &err);
    if (rc == 0)
        rc = evr_vfio_dma_unmap(&c, 0x200000, 0x1000, &err);
    CHECK(rc == 0, "the group rejoins the emptied container and DMA works again", "%s", err.msg);
    munmap(buf, 0x1000);
    evr_vfio_group_close(&g);
    evr_vfio_container_close(&c);
    rc = evr_vfio_release(ROOT, &b, &err);
    CHECK(rc == 0, "released", "%s", err.msg);
    rc = evr_pci_fn_read(ROOT, nic->addr, &now, &err);
    CHECK(rc == 0 && strcmp(now.driver, "e1000e") == 0 && now.netdev_count == 1 &&
                  now.driver_override[0] == '\0',
          "given back to e1000e, netdev back, no override left",
          "driver '%s', %zu netdevs, "
          "override '%s'",
          now.driver, now.netdev_count, now.driver_override);
}

static void check_nvme_sriov(const struct evr_pci_fn *pf)
{
    struct evr_vf_ref vfs[8];
    struct evr_vfio_container c;
    struct evr_vfio_group g;
    struct evr_vfio_binding b;
    struct evr_err err;
    struct evr_pci_fn vf, vf0, now;
    char path[128], text[16], want_holder[64];
    size_t n = 0, i;
    int rc;

    printf("# nvme PF %s: sriov_totalvfs %u, driver %s\n", pf->addr, pf->sriov_totalvfs,
           pf->driver);
    CHECK(pf->sriov_totalvfs == 4 && pf->sriov_numvfs == 0, "nvme PF offers 4 VFs, none on",
          "total %u num %u", pf->sriov_totalvfs, pf->sriov_numvfs);

    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 2, &err);
    REQUIRE(rc == 0, "2 VFs enabled", "%s", err.msg);
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_drivers_autoprobe", pf->addr);
    evr_sysfs_read(path, text, sizeof(text));
    CHECK(strcmp(text, "0") == 0, "sriov_drivers_autoprobe is off", "'%s'", text);
    rc = evr_sriov_vfs(ROOT, pf->addr, vfs, 8, &n, &err);
    CHECK(rc == 0 && n == 2, "2 VFs enumerated", "rc %d n %zu: %s", rc, n, err.msg);
    for (i = 0; i < n; i++) {
        rc = evr_pci_fn_read(ROOT, vfs[i].addr, &vf, &err);
        printf("  VF %u: %s group %d driver '%s'\n", vfs[i].index, vfs[i].addr, vf.iommu_group,
               vf.driver);
        CHECK(rc == 0 && vf.is_vf && strcmp(vf.physfn, pf->addr) == 0 && vf.vf_index == (int)i &&
                      vf.driver[0] == '\0' && vf.iommu_group >= 0 &&
                      vf.iommu_group != pf->iommu_group,
              "VF discovered: its PF, its index, no driver, its own IOMMU group",
              "rc %d is_vf %d physfn %s index %d driver '%s' group %d: %s", rc, vf.is_vf, vf.physfn,
              vf.vf_index, vf.driver, vf.iommu_group, err.msg);
    }

    /* The kernel's rule the library works around. */
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs", pf->addr);
    rc = evr_sysfs_write(path, "3");
    CHECK(rc == -EBUSY, "the kernel refuses 2 -> 3 VFs directly (EBUSY)", "%s", strerror(-rc));
    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 3, &err);
    rc |= evr_sriov_vfs(ROOT, pf->addr, vfs, 8, &n, &err);
    CHECK(rc == 0 && n == 3, "the library goes 2 -> 3 VFs (through 0)", "rc %d n %zu: %s", rc, n,
          err.msg);

    rc = evr_vfio_bind(ROOT, vfs[1].addr, &b, &err);
    rc |= evr_pci_fn_read(ROOT, vfs[1].addr, &vf, &err);
    REQUIRE(rc == 0 && strcmp(vf.driver, "vfio-pci") == 0, "VF 1 bound to vfio-pci",
            "rc %d driver '%s': %s", rc, vf.driver, err.msg);
    rc = evr_pci_fn_read(ROOT, vfs[0].addr, &vf0, &err);
    CHECK(rc == 0 && vf0.driver[0] == '\0', "VF 0 left alone", "driver '%s'", vf0.driver);

    REQUIRE(evr_vfio_container_open(&c, ROOT, &err) == 0 &&
                    evr_vfio_group_open(&c, ROOT, vf.iommu_group, &g, &err) == 0,
            "VF 1's VFIO group opened", "%s", err.msg);
    snprintf(want_holder, sizeof(want_holder), "lab_pci_vfio (pid %d)", (int)getpid());
    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 1, &err);
    printf("  %s\n", err.msg);
    CHECK(rc == -1 && strstr(err.msg, "VF 1 (") && strstr(err.msg, want_holder),
          "VF count change refused while VF 1 is held, naming this process", "%s", err.msg);
    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 0, &err);
    CHECK(rc == -1 && strstr(err.msg, want_holder), "disabling refused too", "%s", err.msg);
    evr_vfio_group_close(&g);
    evr_vfio_container_close(&c);

    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 0, &err);
    CHECK(rc == -1 && strstr(err.msg, "no process holds"),
          "still refused while VF 1 is bound to vfio-pci", "%s", err.msg);
    rc = evr_vfio_release(ROOT, &b, &err);
    rc |= evr_pci_fn_read(ROOT, vfs[1].addr, &now, &err);
    CHECK(rc == 0 && now.driver[0] == '\0' && now.driver_override[0] == '\0',
          "VF 1 given back (unbound, as before; no override)", "rc %d driver '%s': %s", rc,
          now.driver, err.msg);

    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 0, &err);
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/virtfn0", pf->addr);
    CHECK(rc == 0 && !evr_path_exists(path), "VFs disabled, virtfn links gone", "%s", err.msg);
    rc = evr_sriov_set_numvfs(ROOT, pf->addr, 5, &err);
    CHECK(rc == -1 && strstr(err.msg, "asked for 5 VFs, but sriov_totalvfs is 4"),
          "more VFs than sriov_totalvfs refused", "%s", err.msg);
}

int main(void)
{
    struct evr_pci_fn *fns;
    struct evr_err err;
    size_t n;
    int nic, nvme;

    REQUIRE(evr_pci_fn_list(ROOT, &fns, &n, &err) == 0, "PCI functions listed", "%s", err.msg);
    nic = find_fn(fns, n, 0x8086, 0x10d3, 0x020000);
    REQUIRE(nic >= 0, "an e1000e (8086:10d3, class 020000) discovered", "none among %zu", n);
    CHECK(strcmp(fns[nic].driver, "e1000e") == 0 && fns[nic].iommu_group >= 0 &&
                  fns[nic].netdev_count == 1 && fns[nic].numa_node == -1,
          "e1000e: driver, IOMMU group, netdev, NUMA node",
          "driver '%s' group %d netdevs %zu "
          "numa %d",
          fns[nic].driver, fns[nic].iommu_group, fns[nic].netdev_count, fns[nic].numa_node);
    nvme = find_fn(fns, n, 0, 0, 0x010802);
    REQUIRE(nvme >= 0, "an nvme PF (class 010802) discovered", "none among %zu", n);

    check_e1000e(&fns[nic]);
    check_nvme_sriov(&fns[nvme]);
    free(fns);
    return lab_result();
}
