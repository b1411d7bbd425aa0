/* Unit tests of discovery, the SR-IOV rules and vfio-pci binding
 * (vfio/pci.h, sriov.h, bind.h, group.h) against a sysfs tree built by the
 * test, with the kernel's side of each write modelled in fake_sysfs.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "fake_sysfs.h"
#include "group.h"
#include "pci.h"
#include "sriov.h"
#include "sysfs_io.h"
#include "vf_link.h"
#include "vf_release.h"

#define NIC0 "0000:00:04.0"
#define NIC1 "0000:00:04.1"
#define PF   "0000:01:00.0"
#define VF0  "0000:01:00.1"
#define VF1  "0000:01:00.2"
#define VF2  "0000:01:00.3"

static int setup(void **state)
{
    (void)state;
    fake_setup();
    fake_add_fn(NIC0, "0x8086", "0x10d3", "0x020000", "e1000e", 4, "e1000e");
    fake_add_netdev(NIC0, "eth0");
    fake_add_fn(PF, "0x1b36", "0x0010", "0x010802", "nvme", 8, "nvme");
    fake_make_pf(PF, 4, 9);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_teardown();
    return 0;
}

#define assert_msg_has(err, part)                                                                  \
    do {                                                                                           \
        if (!strstr((err).msg, (part)))                                                            \
            fail_msg("message '%s' does not contain '%s'", (err).msg, (part));                     \
    } while (0)

static void assert_logged(size_t i, const char *path_end, const char *value)
{
    size_t a, b;

    if (i >= fake.nlog)
        fail_msg("write %zu (%s) was not made; %zu writes", i, path_end, fake.nlog);
    a = strlen(fake.log[i].path);
    b = strlen(path_end);
    if (a < b || strcmp(fake.log[i].path + a - b, path_end) != 0 ||
        strcmp(fake.log[i].value, value) != 0)
        fail_msg("write %zu was '%s' to %s, expected '%s' to ...%s", i, fake.log[i].value,
                 fake.log[i].path, value, path_end);
}

/* ---- discovery ---- */

static void reads_a_function(void **state)
{
    struct evr_pci_fn fn;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_pci_fn_read(fake.root, NIC0, &fn, &err), 0);
    assert_string_equal(fn.addr, NIC0);
    assert_int_equal(fn.vendor, 0x8086);
    assert_int_equal(fn.device, 0x10d3);
    assert_int_equal(fn.class_code, 0x020000);
    assert_string_equal(fn.driver, "e1000e");
    assert_string_equal(fn.driver_override, "");
    assert_int_equal(fn.iommu_group, 4);
    assert_int_equal(fn.numa_node, -1);
    assert_int_equal(fn.netdev_count, 1);
    assert_string_equal(fn.netdevs[0], "eth0");
    assert_int_equal(fn.sriov_totalvfs, 0);
    assert_false(fn.is_vf);
    assert_int_equal(fn.vf_index, -1);

    assert_int_equal(evr_pci_fn_read(fake.root, PF, &fn, &err), 0);
    assert_int_equal(fn.sriov_totalvfs, 4);
    assert_int_equal(fn.sriov_numvfs, 0);
    assert_int_equal(fn.netdev_count, 0);
}

static void reads_numa_node_and_unbound_function_without_group(void **state)
{
    struct evr_pci_fn fn;
    struct evr_err err;
    char path[512];
    (void)state;

    fake_add_fn("0000:00:1f.3", "0x8086", "0x2930", "0x0c0500", NULL, -1, NULL);
    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:1f.3/numa_node", fake.root);
    assert_int_equal(evr_sysfs_write(path, "1"), 0);
    assert_int_equal(evr_pci_fn_read(fake.root, "0000:00:1f.3", &fn, &err), 0);
    assert_string_equal(fn.driver, "");
    assert_int_equal(fn.iommu_group, -1);
    assert_int_equal(fn.numa_node, 1);
}

static void reads_vf_relations(void **state)
{
    struct evr_pci_fn fn;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    assert_int_equal(evr_pci_fn_read(fake.root, VF1, &fn, &err), 0);
    assert_true(fn.is_vf);
    assert_string_equal(fn.physfn, PF);
    assert_int_equal(fn.vf_index, 1);
    assert_int_equal(fn.iommu_group, 10);
    assert_int_equal(evr_pci_fn_read(fake.root, PF, &fn, &err), 0);
    assert_int_equal(fn.sriov_numvfs, 2);
}

static void lists_functions_sorted(void **state)
{
    struct evr_pci_fn *fns;
    struct evr_err err;
    size_t n;
    (void)state;

    fake_add_fn("0000:00:02.0", "0x1af4", "0x1009", "0x000200", "virtio-pci", 2, NULL);
    assert_int_equal(evr_pci_fn_list(fake.root, &fns, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(fns[0].addr, "0000:00:02.0");
    assert_string_equal(fns[1].addr, NIC0);
    assert_string_equal(fns[2].addr, PF);
    free(fns);
}

struct bad_addr {
    const char *addr;
    const char *msg_part;
};

static void rejects_bad_addresses_naming_the_position(void **state)
{
    static const struct bad_addr cases[] = {
            {"", "expected a lower-case hex digit at position 0"},
            {"0000:00:04", "expected '.' at position 10"},
            {"0000-00:04.0", "expected ':' at position 4"},
            {"0000:00:4.0", "expected a lower-case hex digit at position 9"},
            {"0000:0A:04.0", "lower-case hex digit at position 6"},
            {"0000:00:04.0x", "unexpected text after position 11"},
            {"0000:00:20.0", "device number is above 1f"},
            {"0000:00:04.8", "function number is above 7"},
            {"../../../etc", "expected a lower-case hex digit at position 0"},
    };
    struct evr_err err;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err.msg[0] = '\0';
        if (evr_pci_addr_check(cases[i].addr, &err) != -1)
            fail_msg("'%s' was accepted", cases[i].addr);
        assert_msg_has(err, cases[i].msg_part);
    }
    assert_int_equal(evr_pci_addr_check(NULL, &err), -1);
    assert_msg_has(err, "PCI address is missing");
    assert_int_equal(evr_pci_addr_check("0000:ff:1f.7", &err), 0);
}

static void read_errors_name_the_function_and_file(void **state)
{
    struct evr_pci_fn fn;
    struct evr_err err;
    char path[512];
    (void)state;

    assert_int_equal(evr_pci_fn_read(fake.root, "0000:00:09.0", &fn, &err), -1);
    assert_msg_has(err, "0000:00:09.0: no such PCI function");

    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/vendor", fake.root, NIC0);
    assert_int_equal(evr_sysfs_write(path, "intel"), 0);
    assert_int_equal(evr_pci_fn_read(fake.root, NIC0, &fn, &err), -1);
    assert_msg_has(err, NIC0 ": ");
    assert_msg_has(err, "/vendor holds 'intel', not a number");

    assert_int_equal(
            evr_pci_fn_list("/nonexistent-root", (struct evr_pci_fn **)&fn, &(size_t){0}, &err),
            -1);
    assert_msg_has(err, "cannot list PCI functions in /nonexistent-root/sys/bus/pci/devices");
}

/* ---- SR-IOV ---- */

static void enables_vfs_with_autoprobe_off(void **state)
{
    struct evr_vf_ref vfs[8];
    struct evr_err err;
    size_t n;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 3, &err), 0);
    assert_int_equal(fake.nlog, 2);
    assert_logged(0, "/" PF "/sriov_drivers_autoprobe", "0");
    assert_logged(1, "/" PF "/sriov_numvfs", "3");
    /* With autoprobe off, the PF's driver did not take the VFs. */
    assert_string_equal(fake_driver(VF0), "");
    assert_string_equal(fake_driver(VF2), "");

    assert_int_equal(evr_sriov_vfs(fake.root, PF, vfs, 8, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(vfs[0].index, 0);
    assert_string_equal(vfs[0].addr, VF0);
    assert_int_equal(vfs[2].index, 2);
    assert_string_equal(vfs[2].addr, VF2);

    assert_int_equal(evr_sriov_vfs(fake.root, PF, vfs, 2, &n, &err), -1);
    assert_msg_has(err, PF ": has 3 VFs, more than the 2 asked for");
}

static void changes_a_nonzero_count_through_zero(void **state)
{
    struct evr_err err;
    char path[512];
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 3, &err), 0);
    /* The model refuses non-zero to non-zero, as the kernel does. */
    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/sriov_numvfs", fake.root, PF);
    assert_int_equal(evr_sysfs_write(path, "2"), -EBUSY);

    fake_clear_log();
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    assert_int_equal(fake.nlog, 3);
    assert_logged(0, "/sriov_drivers_autoprobe", "0");
    assert_logged(1, "/sriov_numvfs", "0");
    assert_logged(2, "/sriov_numvfs", "2");
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");

    fake_clear_log();
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    assert_int_equal(fake.nlog, 0); /* already there: nothing written */

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 0, &err), 0);
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "0");
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/virtfn0"), "");
}

static void restores_the_old_count_when_the_new_one_fails(void **state)
{
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    strcpy(fake.fail_suffix, "/sriov_numvfs");
    strcpy(fake.fail_value, "3");
    fake.fail_errno = ENOMEM;
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 3, &err), -1);
    assert_msg_has(err, PF ": writing 3 to sriov_numvfs failed: Cannot allocate memory");
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
}

static void rejects_bad_counts_and_non_pfs(void **state)
{
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 5, &err), -1);
    assert_msg_has(err, PF ": asked for 5 VFs, but sriov_totalvfs is 4");
    assert_int_equal(evr_sriov_set_numvfs(fake.root, NIC0, 1, &err), -1);
    assert_msg_has(err, NIC0 ": not an SR-IOV physical function");
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 1, &err), 0);
    assert_int_equal(evr_sriov_set_numvfs(fake.root, VF0, 1, &err), -1);
    assert_msg_has(err, VF0 ": is a VF (of " PF "); only a PF has VFs");
    assert_int_equal(evr_sriov_set_numvfs(fake.root, "0000:01:00", 1, &err), -1);
    assert_msg_has(err, "PCI address '0000:01:00'");
    fake_clear_log();
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 9, &err), -1);
    assert_int_equal(fake.nlog, 0);
}

static void refuses_while_a_vf_is_assigned_naming_the_holder(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 3, &err), 0);
    assert_int_equal(evr_vfio_bind(fake.root, VF1, &b, &err), 0);
    fake_add_holder(4242, "evr-vmm", 10);
    fake_add_holder(77, "cat", 3); /* holds another group: not named */

    fake_clear_log();
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 1, &err), -1);
    assert_msg_has(err, "cannot change " PF " from 3 to 1 VFs: VF 1 (" VF1 ") is assigned");
    assert_msg_has(err, "/dev/vfio/10 is held by evr-vmm (pid 4242)");
    assert_false(strstr(err.msg, "cat"));
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 0, &err), -1);
    assert_msg_has(err, "evr-vmm (pid 4242)");
    assert_int_equal(fake.nlog, 0);
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "3");

    /* Release is refused too while the group is held. */
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), -1);
    assert_msg_has(err, "cannot release " VF1 ": /dev/vfio/10 is held by evr-vmm (pid 4242)");
    assert_string_equal(fake_driver(VF1), "vfio-pci");
}

static void refuses_while_a_vf_is_bound_to_vfio_without_holder(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    assert_int_equal(evr_vfio_bind(fake.root, VF0, &b, &err), 0);
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 0, &err), -1);
    assert_msg_has(err, "VF 0 (" VF0 ") is assigned: bound to vfio-pci (no process holds "
                        "/dev/vfio/9); release it first");
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), 0);
    assert_string_equal(fake_driver(VF0), "");
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 0, &err), 0);
}

/* ---- binding ---- */

static void binds_through_override_unbind_probe_and_gives_back(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), 0);
    assert_int_equal(fake.nlog, 3);
    assert_logged(0, "/" NIC0 "/driver_override", "vfio-pci");
    assert_logged(1, "/drivers/e1000e/unbind", NIC0);
    assert_logged(2, "/sys/bus/pci/drivers_probe", NIC0);
    assert_string_equal(fake_driver(NIC0), "vfio-pci");
    assert_string_equal(b.prev_driver, "e1000e");
    assert_int_equal(b.iommu_group, 4);

    fake_clear_log();
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), 0);
    assert_logged(0, "/" NIC0 "/driver_override", "\n");
    assert_logged(1, "/drivers/vfio-pci/unbind", NIC0);
    assert_logged(2, "/drivers/e1000e/bind", NIC0);
    assert_string_equal(fake_driver(NIC0), "e1000e");
    assert_string_equal(fake_read("/sys/bus/pci/devices/" NIC0 "/driver_override"), "(null)");
}

static void restores_a_previous_override_on_release(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    char path[512];
    (void)state;

    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver_override", fake.root, NIC0);
    assert_int_equal(evr_sysfs_write(path, "e1000e"), 0);
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), 0);
    assert_string_equal(fake_read("/sys/bus/pci/devices/" NIC0 "/driver_override"), "vfio-pci");
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), 0);
    assert_string_equal(fake_read("/sys/bus/pci/devices/" NIC0 "/driver_override"), "e1000e");
    assert_string_equal(fake_driver(NIC0), "e1000e");
}

static void refuses_a_group_with_a_host_driver_naming_it(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    fake_add_fn(NIC1, "0x8086", "0x10d3", "0x020000", "e1000e", 4, "e1000e");
    fake_clear_log();
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), -1);
    assert_msg_has(err, "cannot bind " NIC0 " to vfio-pci: IOMMU group 4 also holds " NIC1
                        ", which is bound to the host driver e1000e");
    assert_int_equal(fake.nlog, 0);
    assert_string_equal(fake_driver(NIC0), "e1000e");

    /* An unbound, vfio-pci, pci-stub or pcieport group member is fine. */
    fake_add_fn("0000:00:1c.0", "0x8086", "0x2948", "0x060400", "pcieport", 4, "pcieport");
    fake_add_fn("0000:00:04.2", "0x8086", "0x10d3", "0x020000", "pci-stub", 4, "e1000e");
    fake_bind(NIC1, NULL);
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), 0);
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), 0);
    fake_bind(NIC1, "vfio-pci");
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), 0);
}

static void refuses_without_vfio_pci_or_iommu(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    char path[512];
    (void)state;

    fake_add_fn("0000:00:07.0", "0x8086", "0x10d3", "0x020000", "e1000e", -1, "e1000e");
    assert_int_equal(evr_vfio_bind(fake.root, "0000:00:07.0", &b, &err), -1);
    assert_msg_has(err, "cannot bind 0000:00:07.0 to vfio-pci: it is in no IOMMU group");

    snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers/vfio-pci/bind", fake.root);
    remove(path);
    snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers/vfio-pci/unbind", fake.root);
    remove(path);
    snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers/vfio-pci", fake.root);
    remove(path);
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), -1);
    assert_msg_has(err, "the vfio-pci driver is not loaded");
    assert_string_equal(fake_driver(NIC0), "e1000e");
}

static void a_refused_probe_leaves_the_function_as_it_was(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    fake.probe_refuses = 1;
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), -1);
    assert_msg_has(err, "cannot bind " NIC0 " to vfio-pci: after probing, its driver is "
                        "'(none)', not vfio-pci");
    assert_string_equal(fake_driver(NIC0), "e1000e");
    assert_string_equal(fake_read("/sys/bus/pci/devices/" NIC0 "/driver_override"), "(null)");

    fake.probe_refuses = 0;
    strcpy(fake.fail_suffix, "/drivers_probe");
    fake.fail_errno = EINVAL;
    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), -1);
    assert_msg_has(err, NIC0 ": probing (writing '" NIC0 "' to ");
    assert_msg_has(err, "drivers_probe) failed: Invalid argument");
    assert_string_equal(fake_driver(NIC0), "e1000e");
}

static void an_unbound_vf_returns_unbound(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 1, &err), 0);
    assert_int_equal(evr_vfio_bind(fake.root, VF0, &b, &err), 0);
    assert_string_equal(b.prev_driver, "");
    assert_string_equal(fake_driver(VF0), "vfio-pci");
    fake_clear_log();
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), 0);
    assert_int_equal(fake.nlog, 2); /* override cleared, vfio-pci unbound, no bind */
    assert_string_equal(fake_driver(VF0), "");
}

static void release_refuses_a_function_rebound_elsewhere(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), 0);
    fake_bind(NIC0, "e1000e");
    assert_int_equal(evr_vfio_release(fake.root, &b, &err), -1);
    assert_msg_has(err, "cannot release " NIC0 ": it is bound to e1000e, not vfio-pci");
}

/* ---- VF give-back ---- */

static void a_vf_of_a_pf_without_interface_is_only_unbound(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    assert_int_equal(evr_vfio_bind(fake.root, VF1, &b, &err), 0);
    assert_int_equal(evr_vf_release(fake.root, NULL, &b, &err), 0);
    assert_string_equal(fake_driver(VF1), "");
}

static void a_vf_give_back_resets_settings_first_and_stops_if_it_cannot(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    struct evr_vf_link *l;
    (void)state;

    fake_add_netdev(PF, "evrtest-none0"); /* no such interface on this host */
    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 2, &err), 0);
    assert_int_equal(evr_vfio_bind(fake.root, VF1, &b, &err), 0);

    fake_clear_log();
    assert_int_equal(evr_vf_release(fake.root, NULL, &b, &err), -1);
    assert_msg_has(err, "cannot release " VF1 ": its PF " PF " has interface evrtest-none0, "
                        "and no rtnetlink socket was given");
    assert_int_equal(evr_vf_link_open(&l, &err), 0);
    assert_int_equal(evr_vf_release(fake.root, l, &b, &err), -1);
    assert_msg_has(err, "evrtest-none0: no such interface");
    evr_vf_link_close(l);
    /* The binding was left as it was. */
    assert_int_equal(fake.nlog, 0);
    assert_string_equal(fake_driver(VF1), "vfio-pci");
}

static void a_vf_give_back_is_refused_while_held_or_for_a_pf(void **state)
{
    struct evr_vfio_binding b;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_sriov_set_numvfs(fake.root, PF, 1, &err), 0);
    assert_int_equal(evr_vfio_bind(fake.root, VF0, &b, &err), 0);
    fake_add_holder(900, "evr-vmm", 9);
    assert_int_equal(evr_vf_release(fake.root, NULL, &b, &err), -1);
    assert_msg_has(err, "cannot release " VF0 ": /dev/vfio/9 is held by evr-vmm (pid 900)");
    assert_string_equal(fake_driver(VF0), "vfio-pci");

    assert_int_equal(evr_vfio_bind(fake.root, NIC0, &b, &err), 0);
    assert_int_equal(evr_vf_release(fake.root, NULL, &b, &err), -1);
    assert_msg_has(err, "cannot release " NIC0 " as a VF: it is not a VF");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(reads_a_function, setup, teardown),
            cmocka_unit_test_setup_teardown(reads_numa_node_and_unbound_function_without_group,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(reads_vf_relations, setup, teardown),
            cmocka_unit_test_setup_teardown(lists_functions_sorted, setup, teardown),
            cmocka_unit_test_setup_teardown(rejects_bad_addresses_naming_the_position, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(read_errors_name_the_function_and_file, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(enables_vfs_with_autoprobe_off, setup, teardown),
            cmocka_unit_test_setup_teardown(changes_a_nonzero_count_through_zero, setup, teardown),
            cmocka_unit_test_setup_teardown(restores_the_old_count_when_the_new_one_fails, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(rejects_bad_counts_and_non_pfs, setup, teardown),
            cmocka_unit_test_setup_teardown(refuses_while_a_vf_is_assigned_naming_the_holder, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(refuses_while_a_vf_is_bound_to_vfio_without_holder,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(binds_through_override_unbind_probe_and_gives_back,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(restores_a_previous_override_on_release, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(refuses_a_group_with_a_host_driver_naming_it, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(refuses_without_vfio_pci_or_iommu, setup, teardown),
            cmocka_unit_test_setup_teardown(a_refused_probe_leaves_the_function_as_it_was, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(an_unbound_vf_returns_unbound, setup, teardown),
            cmocka_unit_test_setup_teardown(release_refuses_a_function_rebound_elsewhere, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_vf_of_a_pf_without_interface_is_only_unbound, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                    a_vf_give_back_resets_settings_first_and_stops_if_it_cannot, setup, teardown),
            cmocka_unit_test_setup_teardown(a_vf_give_back_is_refused_while_held_or_for_a_pf, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
