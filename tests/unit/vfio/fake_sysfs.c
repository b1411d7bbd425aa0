/* The fake sysfs tree and kernel model (fake_sysfs.h). */
#include "fake_sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs_io.h"

struct fake_sysfs fake;

struct fake_pf {
    char addr[16];
    int vf_group_base;
};
static struct fake_pf pfs[4];
static size_t npfs;

static void die(const char *what)
{
    perror(what);
    abort();
}

static void mkpath(const char *rel)
{
    char path[512], *p;

    snprintf(path, sizeof(path), "%s%s", fake.root, rel);
    for (p = path + strlen(fake.root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) && errno != EEXIST)
                die(path);
            *p = '/';
        }
    }
    if (mkdir(path, 0755) && errno != EEXIST)
        die(path);
}

static void put(const char *rel, const char *value)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s%s", fake.root, rel);
    f = fopen(path, "w");
    if (!f)
        die(path);
    fprintf(f, "%s\n", value);
    fclose(f);
}

static void link_to(const char *rel, const char *target)
{
    char path[512];

    snprintf(path, sizeof(path), "%s%s", fake.root, rel);
    unlink(path);
    if (symlink(target, path))
        die(path);
}

static void drop(const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s%s", fake.root, rel);
    unlink(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s%s", fake.root, rel);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fake_setup(void)
{
    memset(&fake, 0, sizeof(fake));
    npfs = 0;
    strcpy(fake.root, "/tmp/evr-vfio-test.XXXXXX");
    if (!mkdtemp(fake.root))
        die("mkdtemp");
    mkpath("/sys/bus/pci/devices");
    mkpath("/sys/kernel/iommu_groups");
    mkpath("/proc");
    put("/sys/bus/pci/drivers_probe", "");
    fake_add_driver("vfio-pci");
}

void fake_teardown(void)
{
    nftw(fake.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fake_add_driver(const char *name)
{
    char rel[256];

    snprintf(rel, sizeof(rel), "/sys/bus/pci/drivers/%s", name);
    mkpath(rel);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/drivers/%s/bind", name);
    put(rel, "");
    snprintf(rel, sizeof(rel), "/sys/bus/pci/drivers/%s/unbind", name);
    put(rel, "");
}

void fake_bind(const char *addr, const char *driver)
{
    char rel[256], target[256];

    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/driver", addr);
    if (!driver) {
        drop(rel);
        return;
    }
    snprintf(target, sizeof(target), "../../../../bus/pci/drivers/%s", driver);
    link_to(rel, target);
}

void fake_add_fn(const char *addr, const char *vendor, const char *device, const char *cls,
                 const char *driver, int group, const char *native_driver)
{
    char rel[256], target[128];

    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s", addr);
    mkpath(rel);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/vendor", addr);
    put(rel, vendor);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/device", addr);
    put(rel, device);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/class", addr);
    put(rel, cls);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/numa_node", addr);
    put(rel, "-1");
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/driver_override", addr);
    put(rel, "(null)");
    /* Where a probe without override lands: kept beside the function. */
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/.native", addr);
    put(rel, native_driver ? native_driver : "");
    if (group >= 0) {
        snprintf(rel, sizeof(rel), "/sys/kernel/iommu_groups/%d/devices", group);
        mkpath(rel);
        snprintf(rel, sizeof(rel), "/sys/kernel/iommu_groups/%d/devices/%s", group, addr);
        snprintf(target, sizeof(target), "../../../../bus/pci/devices/%s", addr);
        link_to(rel, target);
        snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/iommu_group", addr);
        snprintf(target, sizeof(target), "../../../../kernel/iommu_groups/%d", group);
        link_to(rel, target);
    }
    if (driver) {
        fake_add_driver(driver);
        fake_bind(addr, driver);
    }
    if (native_driver)
        fake_add_driver(native_driver);
}

void fake_add_netdev(const char *addr, const char *ifname)
{
    char rel[256];

    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/net/%s", addr, ifname);
    mkpath(rel);
}

void fake_make_pf(const char *addr, unsigned totalvfs, int vf_group_base)
{
    char rel[256], v[16];

    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_totalvfs", addr);
    snprintf(v, sizeof(v), "%u", totalvfs);
    put(rel, v);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_numvfs", addr);
    put(rel, "0");
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_drivers_autoprobe", addr);
    put(rel, "1");
    strcpy(pfs[npfs].addr, addr);
    pfs[npfs].vf_group_base = vf_group_base;
    npfs++;
}

void fake_add_holder(int pid, const char *comm, int group)
{
    char rel[256], target[64];

    snprintf(rel, sizeof(rel), "/proc/%d/fd", pid);
    mkpath(rel);
    snprintf(rel, sizeof(rel), "/proc/%d/comm", pid);
    put(rel, comm);
    snprintf(rel, sizeof(rel), "/proc/%d/fd/7", pid);
    snprintf(target, sizeof(target), "/dev/vfio/%d", group);
    link_to(rel, target);
}

const char *fake_read(const char *rel)
{
    static char buf[256];
    char path[512];

    snprintf(path, sizeof(path), "%s%s", fake.root, rel);
    if (evr_sysfs_read(path, buf, sizeof(buf)) < 0)
        buf[0] = '\0';
    return buf;
}

const char *fake_driver(const char *addr)
{
    static char buf[64];
    char path[512];

    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver", fake.root, addr);
    if (evr_sysfs_link_name(path, buf, sizeof(buf)) < 0)
        buf[0] = '\0';
    return buf;
}

void fake_clear_log(void)
{
    fake.nlog = 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct fake_pf *pf_of(const char *addr)
{
    size_t i;
    for (i = 0; i < npfs; i++)
        if (strcmp(pfs[i].addr, addr) == 0)
            return &pfs[i];
    return NULL;
}

/* The kernel's sriov_numvfs store. */
static int model_numvfs(const char *pf_addr, const char *value)
{
    struct fake_pf *pf = pf_of(pf_addr);
    char rel[256], vf[32], target[64], drv[64];
    unsigned cur, want, total, i;

    if (!pf)
        return -EIO;
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_numvfs", pf_addr);
    cur = (unsigned)atoi(fake_read(rel));
    want = (unsigned)atoi(value);
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_totalvfs", pf_addr);
    total = (unsigned)atoi(fake_read(rel));
    if (want == cur)
        return 0;
    if (cur && want)
        return -EBUSY;
    if (want > total)
        return -ERANGE;
    for (i = 0; i < (want ? want : cur); i++) {
        snprintf(vf, sizeof(vf), "%.11s%u", pf_addr, i + 1);
        snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/virtfn%u", pf_addr, i);
        if (want) {
            snprintf(drv, sizeof(drv), "%s", fake_driver(pf_addr));
            snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_drivers_autoprobe", pf_addr);
            fake_add_fn(vf, "0x1b36", "0x0010", "0x010802",
                        strcmp(fake_read(rel), "1") == 0 && drv[0] ? drv : NULL,
                        pf->vf_group_base + (int)i, drv[0] ? drv : NULL);
            snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/virtfn%u", pf_addr, i);
            snprintf(target, sizeof(target), "../%s", vf);
            link_to(rel, target);
            snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/physfn", vf);
            snprintf(target, sizeof(target), "../%s", pf_addr);
            link_to(rel, target);
        } else {
            drop(rel);
            snprintf(rel, sizeof(rel), "/sys/kernel/iommu_groups/%d/devices/%s",
                     pf->vf_group_base + (int)i, vf);
            drop(rel);
            snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s", vf);
            rm_tree(rel);
        }
    }
    snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/sriov_numvfs", pf_addr);
    put(rel, fake.numvfs_reads[0] ? fake.numvfs_reads : value);
    return 0;
}

/* A plain attribute: the new value replaces the old, as in sysfs. */
static int store(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -errno;
    fputs(value, f);
    return fclose(f) ? -EIO : 0;
}

int __wrap_evr_sysfs_write(const char *path, const char *value);

int __wrap_evr_sysfs_write(const char *path, const char *value);

int __wrap_evr_sysfs_write(const char *path, const char *value)
{
    const char *rel = path + strlen(fake.root);
    char dev[16], drv[64], field[128], cur[64];

    if (strncmp(path, fake.root, strlen(fake.root)) != 0)
        return -EACCES; /* never write outside the test's tree */
    if (fake.nlog < FAKE_LOG_MAX) {
        snprintf(fake.log[fake.nlog].path, sizeof(fake.log[0].path), "%s", rel);
        snprintf(fake.log[fake.nlog].value, sizeof(fake.log[0].value), "%s", value);
        fake.nlog++;
    }
    if (fake.fail_suffix[0] && ends_with(rel, fake.fail_suffix) &&
        (!fake.fail_value[0] || strcmp(value, fake.fail_value) == 0))
        return -fake.fail_errno;

    if (sscanf(rel, "/sys/bus/pci/devices/%15[^/]/%127s", dev, field) == 2) {
        if (strcmp(field, "sriov_numvfs") == 0)
            return model_numvfs(dev, value);
        if (strcmp(field, "driver_override") == 0) {
            put(rel, strcmp(value, "\n") == 0 ? "(null)" : value);
            return 0;
        }
        return store(path, value);
    }
    if (sscanf(rel, "/sys/bus/pci/drivers/%63[^/]/%127s", drv, field) == 2) {
        if (strcmp(field, "unbind") == 0) {
            if (strcmp(fake_driver(value), drv) != 0)
                return -ENODEV;
            fake_bind(value, NULL);
            return 0;
        }
        if (strcmp(field, "bind") == 0) {
            if (fake_driver(value)[0])
                return -EBUSY;
            fake_bind(value, drv);
            return 0;
        }
    }
    if (strcmp(rel, "/sys/bus/pci/drivers_probe") == 0) {
        char rel2[256], full[512];

        if (fake_driver(value)[0] || fake.probe_refuses)
            return 0;
        snprintf(rel2, sizeof(rel2), "/sys/bus/pci/devices/%s/driver_override", value);
        snprintf(cur, sizeof(cur), "%s", fake_read(rel2));
        if (strcmp(cur, "(null)") == 0) {
            snprintf(rel2, sizeof(rel2), "/sys/bus/pci/devices/%s/.native", value);
            snprintf(cur, sizeof(cur), "%s", fake_read(rel2));
        }
        snprintf(full, sizeof(full), "%s/sys/bus/pci/drivers/%s", fake.root, cur);
        if (cur[0] && access(full, F_OK) == 0)
            fake_bind(value, cur);
        return 0;
    }
    return store(path, value);
}
