/* vfio-pci binding and release (bind.h). */
#include "bind.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "sysfs_io.h"

/* Writes value to a function's attribute or to a bus/driver file. */
static int write_attr(const char *root, const char *addr, const char *file, const char *value,
                      const char *step, struct evr_err *err)
{
    char path[PATH_MAX];
    int rc;

    if (evr_path(path, sizeof(path), root, "%s", file))
        return evr_fail(err, ENAMETOOLONG, "%s: %s: path is too long", addr, step);
    rc = evr_sysfs_write(path, value);
    if (rc < 0)
        return evr_fail(err, -rc, "%s: %s (writing '%s' to %s) failed: %s", addr, step, value, path,
                        strerror(-rc));
    return 0;
}

static int set_override(const char *root, const char *addr, const char *driver, struct evr_err *err)
{
    char file[128];

    snprintf(file, sizeof(file), "/sys/bus/pci/devices/%s/driver_override", addr);
    /* A lone newline clears the override. */
    return write_attr(root, addr, file, driver[0] ? driver : "\n", "setting driver_override", err);
}

static int unbind(const char *root, const char *addr, const char *driver, struct evr_err *err)
{
    char file[160];

    snprintf(file, sizeof(file), "/sys/bus/pci/drivers/%s/unbind", driver);
    return write_attr(root, addr, file, addr, "unbinding", err);
}

static int bind_to(const char *root, const char *addr, const char *driver, struct evr_err *err)
{
    char file[160];

    snprintf(file, sizeof(file), "/sys/bus/pci/drivers/%s/bind", driver);
    return write_attr(root, addr, file, addr, "binding", err);
}

/* The driver now bound, re-read from sysfs. */
static int current_driver(const char *root, const char *addr, char *buf, size_t len,
                          struct evr_err *err)
{
    char path[PATH_MAX];
    int rc;

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/driver", addr))
        return evr_fail(err, ENAMETOOLONG, "%s: path of the driver link is too long", addr);
    rc = evr_sysfs_link_name(path, buf, len);
    if (rc == -ENOENT) {
        buf[0] = '\0';
        return 0;
    }
    if (rc < 0)
        return evr_fail(err, -rc, "%s: cannot read its driver link: %s", addr, strerror(-rc));
    return 0;
}

/* Puts a function whose bind failed back as it was; best effort, since the
 * caller already reports the first failure. */
static void undo_bind(const char *root, const struct evr_vfio_binding *b)
{
    char now[EVR_PCI_DRIVER_LEN];

    set_override(root, b->addr, b->prev_override, NULL);
    if (current_driver(root, b->addr, now, sizeof(now), NULL) == 0 && now[0] &&
        strcmp(now, b->prev_driver) != 0)
        unbind(root, b->addr, now, NULL);
    if (b->prev_driver[0] &&
        (current_driver(root, b->addr, now, sizeof(now), NULL) || strcmp(now, b->prev_driver)))
        bind_to(root, b->addr, b->prev_driver, NULL);
}

int evr_vfio_bind(const char *root, const char *addr, struct evr_vfio_binding *out,
                  struct evr_err *err)
{
    struct evr_vfio_binding b;
    struct evr_pci_fn fn;
    char what[96], path[PATH_MAX], now[EVR_PCI_DRIVER_LEN];

    if (evr_pci_fn_read(root, addr, &fn, err))
        return -1;
    snprintf(what, sizeof(what), "cannot bind %s to vfio-pci", addr);
    if (fn.iommu_group < 0)
        return evr_fail(err, ENOENT, "%s: it is in no IOMMU group (is the IOMMU on?)", what);
    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/drivers/%s", EVR_VFIO_DRIVER))
        return evr_fail(err, ENAMETOOLONG, "%s: path of the vfio-pci driver is too long", what);
    if (!evr_path_exists(path))
        return evr_fail(err, ENOENT, "%s: the vfio-pci driver is not loaded (%s is missing)", what,
                        path);
    if (evr_iommu_group_check_viable(root, fn.iommu_group, addr, what, err))
        return -1;

    memset(&b, 0, sizeof(b));
    strcpy(b.addr, addr);
    strcpy(b.prev_driver, fn.driver);
    strcpy(b.prev_override, fn.driver_override);
    b.iommu_group = fn.iommu_group;
    if (strcmp(fn.driver, EVR_VFIO_DRIVER) == 0) {
        *out = b; /* already ours: release leaves it with vfio-pci */
        return 0;
    }

    if (set_override(root, addr, EVR_VFIO_DRIVER, err))
        return -1;
    if (fn.driver[0] && unbind(root, addr, fn.driver, err)) {
        undo_bind(root, &b);
        return -1;
    }
    if (write_attr(root, addr, "/sys/bus/pci/drivers_probe", addr, "probing", err) ||
        current_driver(root, addr, now, sizeof(now), err)) {
        undo_bind(root, &b);
        return -1;
    }
    if (strcmp(now, EVR_VFIO_DRIVER) != 0) {
        undo_bind(root, &b);
        return evr_fail(err, EBUSY, "%s: after probing, its driver is '%s', not vfio-pci", what,
                        now[0] ? now : "(none)");
    }
    *out = b;
    return 0;
}

int evr_vfio_release(const char *root, const struct evr_vfio_binding *b, struct evr_err *err)
{
    char now[EVR_PCI_DRIVER_LEN], holders[256];

    if (evr_pci_addr_check(b->addr, err))
        return -1;
    if (strcmp(b->prev_driver, EVR_VFIO_DRIVER) == 0)
        return 0; /* it was vfio-pci's before evr took it */
    if (current_driver(root, b->addr, now, sizeof(now), err))
        return -1;
    if (strcmp(now, EVR_VFIO_DRIVER) != 0 && now[0])
        return evr_fail(err, EBUSY,
                        "cannot release %s: it is bound to %s, not vfio-pci; something "
                        "else rebound it",
                        b->addr, now);
    if (now[0]) {
        if (evr_iommu_group_holders(root, b->iommu_group, holders, sizeof(holders), err))
            return -1;
        if (holders[0])
            return evr_fail(err, EBUSY, "cannot release %s: /dev/vfio/%d is held by %s", b->addr,
                            b->iommu_group, holders);
    }
    if (set_override(root, b->addr, b->prev_override, err))
        return -1;
    if (now[0] && unbind(root, b->addr, EVR_VFIO_DRIVER, err)) {
        set_override(root, b->addr, EVR_VFIO_DRIVER, NULL);
        return -1;
    }
    if (!b->prev_driver[0])
        return 0;
    if (bind_to(root, b->addr, b->prev_driver, err))
        return -1;
    if (current_driver(root, b->addr, now, sizeof(now), err))
        return -1;
    if (strcmp(now, b->prev_driver) != 0)
        return evr_fail(err, EIO, "%s: after binding to %s, its driver is '%s'", b->addr,
                        b->prev_driver, now[0] ? now : "(none)");
    return 0;
}
