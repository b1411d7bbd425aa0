/* PCI discovery from sysfs (pci.h). */
#include "pci.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysfs_io.h"

int evr_pci_addr_check(const char *addr, struct evr_err *err)
{
    /* Positions of the separators in "dddd:bb:dd.f". */
    static const char form[] = "hhhh:hh:hh.h";
    size_t i;

    if (!addr)
        return evr_fail(err, ENOENT, "PCI address is missing");
    for (i = 0; form[i]; i++) {
        char c = addr[i];
        if (form[i] == 'h') {
            if (!isdigit((unsigned char)c) && !(c >= 'a' && c <= 'f'))
                return evr_fail(err, EINVAL,
                                "PCI address '%s': expected a lower-case hex digit at "
                                "position %zu (form dddd:bb:dd.f)",
                                addr, i);
        } else if (c != form[i]) {
            return evr_fail(err, EINVAL, "PCI address '%s': expected '%c' at position %zu", addr,
                            form[i], i);
        }
    }
    if (addr[i] != '\0')
        return evr_fail(err, EINVAL, "PCI address '%s': unexpected text after position %zu", addr,
                        i - 1);
    if (strtoul(addr + 8, NULL, 16) > 0x1f)
        return evr_fail(err, EINVAL, "PCI address '%s': device number is above 1f", addr);
    if (addr[11] > '7')
        return evr_fail(err, EINVAL, "PCI address '%s': function number is above 7", addr);
    return 0;
}

/* A sysfs number attribute ("0x8086", "4", "-1") of one function. */
static int read_number(const char *root, const char *addr, const char *attr, int base, long *out,
                       struct evr_err *err)
{
    char path[PATH_MAX], text[64], *end;
    int n;

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/%s", addr, attr))
        return evr_fail(err, ENAMETOOLONG, "%s: path of '%s' is too long", addr, attr);
    n = evr_sysfs_read(path, text, sizeof(text));
    if (n < 0)
        return evr_fail(err, -n, "%s: cannot read %s: %s", addr, path, strerror(-n));
    errno = 0;
    *out = strtol(text, &end, base);
    if (n == 0 || *end != '\0' || errno)
        return evr_fail(err, EINVAL, "%s: %s holds '%s', not a number", addr, path, text);
    return 0;
}

/* Like read_number, but an absent attribute gives dflt. */
static int read_optional_number(const char *root, const char *addr, const char *attr, int base,
                                long dflt, long *out, struct evr_err *err)
{
    char path[PATH_MAX];

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/%s", addr, attr))
        return evr_fail(err, ENAMETOOLONG, "%s: path of '%s' is too long", addr, attr);
    if (!evr_path_exists(path)) {
        *out = dflt;
        return 0;
    }
    return read_number(root, addr, attr, base, out, err);
}

static int read_link_name(const char *root, const char *addr, const char *attr, char *buf,
                          size_t len, struct evr_err *err)
{
    char path[PATH_MAX];
    int rc;

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/%s", addr, attr))
        return evr_fail(err, ENAMETOOLONG, "%s: path of '%s' is too long", addr, attr);
    rc = evr_sysfs_link_name(path, buf, len);
    if (rc == -ENOENT) {
        buf[0] = '\0';
        return 0;
    }
    if (rc < 0)
        return evr_fail(err, -rc, "%s: cannot read link %s: %s", addr, path, strerror(-rc));
    return 0;
}

static int read_netdevs(const char *root, struct evr_pci_fn *fn, struct evr_err *err)
{
    char path[PATH_MAX];
    struct dirent **names;
    int n, i;

    fn->netdev_count = 0;
    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/net", fn->addr))
        return evr_fail(err, ENAMETOOLONG, "%s: path of 'net' is too long", fn->addr);
    n = scandir(path, &names, NULL, alphasort);
    if (n < 0)
        return errno == ENOENT ? 0
                               : evr_fail(err, errno, "%s: cannot list %s: %s", fn->addr, path,
                                          strerror(errno));
    for (i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.' && fn->netdev_count < EVR_PCI_NETDEVS && strlen(name) < IF_NAMESIZE)
            strcpy(fn->netdevs[fn->netdev_count++], name);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* The index N of the PF's virtfnN link that points at this VF. */
static int find_vf_index(const char *root, struct evr_pci_fn *fn, struct evr_err *err)
{
    char path[PATH_MAX], name[EVR_PCI_ADDR_LEN + 8];
    unsigned i;
    long total;

    if (read_optional_number(root, fn->physfn, "sriov_totalvfs", 10, 0, &total, err))
        return -1;
    for (i = 0; i < (unsigned long)total; i++) {
        if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/virtfn%u", fn->physfn, i))
            return evr_fail(err, ENAMETOOLONG, "%s: path of virtfn%u is too long", fn->physfn, i);
        if (evr_sysfs_link_name(path, name, sizeof(name)) == 0 && strcmp(name, fn->addr) == 0) {
            fn->vf_index = (int)i;
            return 0;
        }
    }
    return evr_fail(err, EIO, "%s: is a VF of %s, but no virtfn link of %s points to it", fn->addr,
                    fn->physfn, fn->physfn);
}

int evr_pci_fn_read(const char *root, const char *addr, struct evr_pci_fn *out, struct evr_err *err)
{
    struct evr_pci_fn fn;
    char path[PATH_MAX], text[32];
    long v;
    int n;

    if (evr_pci_addr_check(addr, err))
        return -1;
    memset(&fn, 0, sizeof(fn));
    strcpy(fn.addr, addr);
    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s", addr))
        return evr_fail(err, ENAMETOOLONG, "%s: path is too long", addr);
    if (!evr_path_exists(path))
        return evr_fail(err, ENOENT, "%s: no such PCI function (%s does not exist)", addr, path);

    if (read_number(root, addr, "vendor", 16, &v, err))
        return -1;
    fn.vendor = (uint16_t)v;
    if (read_number(root, addr, "device", 16, &v, err))
        return -1;
    fn.device = (uint16_t)v;
    if (read_number(root, addr, "class", 16, &v, err))
        return -1;
    fn.class_code = (uint32_t)v & 0xffffff;
    if (read_optional_number(root, addr, "numa_node", 10, -1, &v, err))
        return -1;
    fn.numa_node = (int)v;
    if (read_link_name(root, addr, "driver", fn.driver, sizeof(fn.driver), err))
        return -1;

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices/%s/driver_override", addr))
        return evr_fail(err, ENAMETOOLONG, "%s: path is too long", addr);
    n = evr_sysfs_read(path, fn.driver_override, sizeof(fn.driver_override));
    /* The kernel shows an unset override as "(null)". */
    if (n < 0 || strcmp(fn.driver_override, "(null)") == 0)
        fn.driver_override[0] = '\0';

    if (read_link_name(root, addr, "iommu_group", text, sizeof(text), err))
        return -1;
    if (text[0]) {
        char *end;
        v = strtol(text, &end, 10);
        if (*end != '\0' || v < 0)
            return evr_fail(err, EIO, "%s: iommu_group link ends in '%s', not a group number", addr,
                            text);
        fn.iommu_group = (int)v;
    } else {
        fn.iommu_group = -1;
    }

    if (read_netdevs(root, &fn, err))
        return -1;

    if (read_optional_number(root, addr, "sriov_totalvfs", 10, 0, &v, err))
        return -1;
    fn.sriov_totalvfs = (unsigned)v;
    if (read_optional_number(root, addr, "sriov_numvfs", 10, 0, &v, err))
        return -1;
    fn.sriov_numvfs = (unsigned)v;

    fn.vf_index = -1;
    if (read_link_name(root, addr, "physfn", fn.physfn, sizeof(fn.physfn), err))
        return -1;
    if (fn.physfn[0]) {
        fn.is_vf = true;
        if (evr_pci_addr_check(fn.physfn, err))
            return -1;
        if (find_vf_index(root, &fn, err))
            return -1;
    }
    *out = fn;
    return 0;
}

static int by_addr(const void *a, const void *b)
{
    return strcmp(((const struct evr_pci_fn *)a)->addr, ((const struct evr_pci_fn *)b)->addr);
}

int evr_pci_fn_list(const char *root, struct evr_pci_fn **out, size_t *count, struct evr_err *err)
{
    char path[PATH_MAX];
    struct evr_pci_fn *fns = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *dir;

    if (evr_path(path, sizeof(path), root, "/sys/bus/pci/devices"))
        return evr_fail(err, ENAMETOOLONG, "sysfs root '%s' is too long", root);
    dir = opendir(path);
    if (!dir)
        return evr_fail(err, errno, "cannot list PCI functions in %s: %s", path, strerror(errno));
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            struct evr_pci_fn *grown;
            cap = cap ? cap * 2 : 16;
            grown = realloc(fns, cap * sizeof(*fns));
            if (!grown) {
                closedir(dir);
                free(fns);
                return evr_fail(err, ENOMEM, "out of memory listing PCI functions");
            }
            fns = grown;
        }
        if (evr_pci_fn_read(root, de->d_name, &fns[n], err)) {
            closedir(dir);
            free(fns);
            return -1;
        }
        n++;
    }
    closedir(dir);
    if (n)
        qsort(fns, n, sizeof(*fns), by_addr);
    *out = fns;
    *count = n;
    return 0;
}
