/* Lab check: an emulated e1000e sits alone in its IOMMU group, binds to
 * vfio-pci, and its VFIO group opens into a type1 container and hands out a
 * device fd. The NIC goes back to e1000e afterwards.
 *
 * This is the lab's own proof that the IOMMU and VFIO work; the vfio/ library
 * has its own, deeper tests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"

static int sysfs_read(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int sysfs_write(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, value, strlen(value));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(value) ? 0 : -1;
}

static int find_e1000e(char *bdf, size_t len)
{
    DIR *d = opendir(PCI_DEVICES);
    struct dirent *e;
    int found = -1;

    if (!d)
        return -1;
    while (found < 0 && (e = readdir(d))) {
        char path[PATH_MAX], vendor[16], device[16];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", e->d_name);
        if (sysfs_read(path, vendor, sizeof(vendor)))
            continue;
        snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", e->d_name);
        if (sysfs_read(path, device, sizeof(device)))
            continue;
        if (!strcmp(vendor, "0x8086") && !strcmp(device, "0x10d3"))
            found = snprintf(bdf, len, "%s", e->d_name) < (int)len ? 0 : -1;
    }
    closedir(d);
    return found;
}

static int link_name(const char *path, char *out, size_t len)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return -1;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    return snprintf(out, len, "%s", slash ? slash + 1 : target) < (int)len ? 0 : -1;
}

static int bind_to(const char *bdf, const char *driver)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", bdf);
    if (sysfs_write(path, driver))
        return -1;
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", bdf);
    if (access(path, F_OK) == 0 && sysfs_write(path, bdf))
        return -1;
    return sysfs_write("/sys/bus/pci/drivers_probe", bdf);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "vfio_bind: " __VA_ARGS__);                                            \
            fprintf(stderr, " (%s)\n", strerror(errno));                                           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    char bdf[32], path[PATH_MAX], group[32], driver[64], entry[PATH_MAX];

    errno = 0;
    CHECK(find_e1000e(bdf, sizeof(bdf)) == 0, "no e1000e (8086:10d3) in " PCI_DEVICES);
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group", bdf);
    CHECK(link_name(path, group, sizeof(group)) == 0, "%s has no IOMMU group", bdf);

    /* The group must hold this function alone, or VFIO would refuse it. */
    snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", group);
    DIR *d = opendir(path);
    CHECK(d, "cannot list %s", path);
    int members = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        members += e->d_name[0] != '.';
    closedir(d);
    CHECK(members == 1, "IOMMU group %s has %d devices, expected 1", group, members);

    CHECK(bind_to(bdf, "vfio-pci") == 0, "binding %s to vfio-pci failed", bdf);
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
    CHECK(link_name(path, driver, sizeof(driver)) == 0 && !strcmp(driver, "vfio-pci"),
          "%s is not bound to vfio-pci after drivers_probe", bdf);

    int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    CHECK(container >= 0, "open /dev/vfio/vfio");
    CHECK(ioctl(container, VFIO_GET_API_VERSION) == VFIO_API_VERSION, "VFIO API version");
    CHECK(ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1, "no type1 IOMMU");

    snprintf(entry, sizeof(entry), "/dev/vfio/%s", group);
    int gfd = open(entry, O_RDWR | O_CLOEXEC);
    CHECK(gfd >= 0, "open %s", entry);
    struct vfio_group_status status = {.argsz = sizeof(status)};
    CHECK(ioctl(gfd, VFIO_GROUP_GET_STATUS, &status) == 0, "VFIO_GROUP_GET_STATUS");
    CHECK(status.flags & VFIO_GROUP_FLAGS_VIABLE, "group %s is not viable", group);
    CHECK(ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &container) == 0, "VFIO_GROUP_SET_CONTAINER");
    CHECK(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) == 0, "VFIO_SET_IOMMU type1");
    int dev = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, bdf);
    CHECK(dev >= 0, "VFIO_GROUP_GET_DEVICE_FD %s", bdf);
    struct vfio_device_info info = {.argsz = sizeof(info)};
    CHECK(ioctl(dev, VFIO_DEVICE_GET_INFO, &info) == 0, "VFIO_DEVICE_GET_INFO");
    CHECK(info.flags & VFIO_DEVICE_FLAGS_PCI, "%s is not a VFIO PCI device", bdf);
    printf("vfio_bind: %s (group %s) opened through VFIO: %u regions, %u irqs\n", bdf, group,
           info.num_regions, info.num_irqs);
    close(dev);
    close(gfd);
    close(container);

    /* Give it back: empty override, then let e1000e probe it again. */
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", bdf);
    CHECK(sysfs_write(path, "\n") == 0, "clearing driver_override");
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", bdf);
    CHECK(sysfs_write(path, bdf) == 0, "unbinding %s from vfio-pci", bdf);
    CHECK(sysfs_write("/sys/bus/pci/drivers_probe", bdf) == 0, "reprobing %s", bdf);
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
    CHECK(link_name(path, driver, sizeof(driver)) == 0 && !strcmp(driver, "e1000e"),
          "%s did not return to e1000e", bdf);
    printf("vfio_bind: %s back on e1000e\n", bdf);
    return 0;
}
