/* IOMMU group rules (group.h). */
#include "group.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pci.h"
#include "sysfs_io.h"

int evr_iommu_group_check_viable(const char *root, int group, const char *self, const char *what,
                                 struct evr_err *err)
{
    char path[PATH_MAX], driver[EVR_PCI_DRIVER_LEN];
    struct dirent *de;
    DIR *dir;
    int rc = 0;

    if (evr_path(path, sizeof(path), root, "/sys/kernel/iommu_groups/%d/devices", group))
        return evr_fail(err, ENAMETOOLONG, "%s: path of IOMMU group %d is too long", what, group);
    dir = opendir(path);
    if (!dir)
        return evr_fail(err, errno, "%s: cannot list IOMMU group %d (%s): %s", what, group, path,
                        strerror(errno));
    while (rc == 0 && (de = readdir(dir))) {
        char link[PATH_MAX];
        int r;

        if (de->d_name[0] == '.' || strcmp(de->d_name, self) == 0)
            continue;
        if (evr_path(link, sizeof(link), root, "/sys/bus/pci/devices/%s/driver", de->d_name)) {
            rc = evr_fail(err, ENAMETOOLONG, "%s: path of %s is too long", what, de->d_name);
            break;
        }
        r = evr_sysfs_link_name(link, driver, sizeof(driver));
        if (r == -ENOENT)
            continue;
        if (r < 0) {
            rc = evr_fail(err, -r, "%s: cannot read the driver of %s: %s", what, de->d_name,
                          strerror(-r));
            break;
        }
        if (strcmp(driver, EVR_VFIO_DRIVER) != 0 && strcmp(driver, EVR_STUB_DRIVER) != 0 &&
            strcmp(driver, EVR_PCIEPORT_DRIVER) != 0)
            rc = evr_fail(err, EBUSY,
                          "%s: IOMMU group %d also holds %s, which is bound to the host "
                          "driver %s; unbind it or give it to vfio-pci as well",
                          what, group, de->d_name, driver);
    }
    closedir(dir);
    return rc;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Whether process `pid` has an fd on `dev`. */
static int holds(const char *root, const char *pid, const char *dev)
{
    char path[PATH_MAX], target[PATH_MAX];
    struct dirent *de;
    DIR *dir;
    int found = 0;

    if (evr_path(path, sizeof(path), root, "/proc/%s/fd", pid))
        return 0;
    dir = opendir(path);
    if (!dir)
        return 0; /* gone, or not ours to look at */
    while (!found && (de = readdir(dir))) {
        char fd[PATH_MAX];
        ssize_t n;

        if (de->d_name[0] == '.')
            continue;
        if (evr_path(fd, sizeof(fd), root, "/proc/%s/fd/%s", pid, de->d_name))
            continue;
        n = readlink(fd, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        found = strcmp(target, dev) == 0;
    }
    closedir(dir);
    return found;
}

int evr_iommu_group_holders(const char *root, int group, char *buf, size_t len, struct evr_err *err)
{
    char path[PATH_MAX], dev[64];
    struct dirent *de;
    size_t used = 0;
    DIR *dir;

    if (len == 0)
        return evr_fail(err, ENOSPC, "IOMMU group %d: no room for the holders' names", group);
    buf[0] = '\0';
    snprintf(dev, sizeof(dev), "/dev/vfio/%d", group);
    if (evr_path(path, sizeof(path), root, "/proc"))
        return evr_fail(err, ENAMETOOLONG, "IOMMU group %d: path of /proc is too long", group);
    dir = opendir(path);
    if (!dir)
        return evr_fail(err, errno, "IOMMU group %d: cannot list %s: %s", group, path,
                        strerror(errno));
    while ((de = readdir(dir))) {
        char comm_path[PATH_MAX], comm[64];
        int n;

        if (!all_digits(de->d_name) || !holds(root, de->d_name, dev))
            continue;
        if (evr_path(comm_path, sizeof(comm_path), root, "/proc/%s/comm", de->d_name) ||
            evr_sysfs_read(comm_path, comm, sizeof(comm)) < 0)
            strcpy(comm, "?");
        n = snprintf(buf + used, len - used, "%s%s (pid %s)", used ? ", " : "", comm, de->d_name);
        if (n < 0 || (size_t)n >= len - used)
            break; /* the names so far are enough to act on */
        used += (size_t)n;
    }
    closedir(dir);
    return 0;
}
