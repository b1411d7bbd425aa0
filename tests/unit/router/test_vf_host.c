/* Unit tests for evrd's passthrough executor on a host (router/vf_host.h)
 * against vfio/'s model of the kernel's sysfs (tests/unit/vfio/fake_sysfs.h):
 * carving (autoprobe off, the count checked, put back when evrd cannot
 * start), vf-assign and vf-release (vfio-pci and back to no driver, refused
 * while a process holds the VF), and refusals naming the slice and the PCI
 * address. The PF here has no network interface, as a storage PF: its VFs
 * have no settings, so rtnetlink is not touched (the lab test evrd-lab-vf
 * covers settings on igb). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance.h"
#include "fake_sysfs.h"
#include "sysfs_io.h"
#include "vf_host.h"

#define PF "0000:01:00.0"

struct fixture {
    struct evr_appliance a;
    struct vf_host h;
    struct evrd_passthrough pt;
};

static void appliance(struct fixture *f, unsigned vfs)
{
    char json[512];
    struct evr_err err;

    snprintf(json, sizeof(json),
             "{\"state_dir\": \"/tmp/x\", \"vswitch\": {\"cores\": [0]}, \"ports\": ["
             "{\"name\": \"port0\", \"pci\": \"" PF "\", \"vfs\": %u}], \"vms\": []}",
             vfs);
    if (evr_appliance_parse(&f->a, json, "test", &err))
        fail_msg("%s", err.msg);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    fake_setup();
    fake_add_fn(PF, "0x1b36", "0x0010", "0x010802", "nvme", 3, "nvme");
    fake_make_pf(PF, 4, 10);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    vf_host_close(&f->h, &f->pt);
    evr_appliance_free(&f->a);
    fake_teardown();
    free(f);
    return 0;
}

static json_t *step(struct fixture *f, const char *op, unsigned vf, struct evr_err *err)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:i, s:s}", "op", op, "slice", "port0/vfN", "pf", PF,
                            "vf", vf, "host", f->pt.inv.port[0]->vf[vf]);
    json_t *reply = f->pt.call(f->pt.ctx, req, err);
    json_decref(req);
    return reply;
}

static void must(struct fixture *f, const char *op, unsigned vf)
{
    struct evr_err err;
    json_t *reply = step(f, op, vf, &err);
    if (!reply)
        fail_msg("%s vf%u: %s", op, vf, err.msg);
    json_decref(reply);
}

static void carving_makes_the_vfs_without_a_driver(void **state)
{
    struct fixture *f = *state;
    struct evr_err err;

    appliance(f, 2);
    if (vf_host_open(&f->h, fake.root, &f->a, NULL, &f->pt, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_drivers_autoprobe"), "0");
    assert_non_null(f->pt.inv.port[0]);
    assert_int_equal(f->pt.inv.port[0]->nvfs, 2);
    assert_string_equal(f->pt.inv.port[0]->vf[0], "0000:01:00.1");
    assert_string_equal(f->pt.inv.port[0]->vf[1], "0000:01:00.2");
    assert_string_equal(fake_driver("0000:01:00.1"), "");
    assert_int_equal(vf_host_running(f->pt.ctx), 0);

    /* given out: vfio-pci, and only vfio-pci may take it */
    must(f, "vf-assign", 0);
    assert_string_equal(fake_driver("0000:01:00.1"), "vfio-pci");
    assert_string_equal(fake_read("/sys/bus/pci/devices/0000:01:00.1/driver_override"), "vfio-pci");
    must(f, "vf-assign", 0); /* idempotent, as evrd's start sync needs */
    must(f, "vf-set", 0);
    /* a guest holds it: release is refused, naming who */
    fake_add_holder(812, "evr-vmm", 10);
    {
        json_t *r = step(f, "vf-release", 0, &err);
        assert_null(r);
        assert_int_equal(err.code, EBUSY);
        assert_non_null(strstr(err.msg, "port0/vfN (0000:01:00.1 of PF " PF "): cannot release"));
        assert_non_null(strstr(err.msg, "evr-vmm (pid 812)"));
    }
    assert_string_equal(fake_driver("0000:01:00.1"), "vfio-pci");
    /* let go: released, unbound as carved, its override cleared */
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s/proc/812", fake.root);
        assert_int_equal(system(cmd), 0);
    }
    must(f, "vf-release", 0);
    assert_string_equal(fake_driver("0000:01:00.1"), "");
    assert_string_equal(fake_read("/sys/bus/pci/devices/0000:01:00.1/driver_override"), "(null)");
    must(f, "vf-release", 1); /* a free VF: nothing to do, and no error */

    /* evrd could not start: the count goes back */
    vf_host_uncarve(&f->h, &f->pt);
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "0");
}

/* VFs carved before evrd with autoprobe on: a host driver took them. A PF
 * that has the count already is left alone (its VFs may be in running
 * VMs); a free VF on a host driver ends unbound. */
static void a_host_driver_on_a_free_vf_goes(void **state)
{
    struct fixture *f = *state;
    struct evr_err err;
    char path[512];

    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/" PF "/sriov_numvfs", fake.root);
    assert_int_equal(evr_sysfs_write(path, "2"), 0);
    assert_string_equal(fake_driver("0000:01:00.1"), "nvme");
    appliance(f, 2);
    fake_clear_log();
    if (vf_host_open(&f->h, fake.root, &f->a, NULL, &f->pt, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(fake.nlog, 0); /* nothing written: the count holds */
    must(f, "vf-release", 0);
    assert_string_equal(fake_driver("0000:01:00.1"), "");
    assert_string_equal(fake_driver("0000:01:00.2"), "nvme"); /* not evrd's to touch yet */
    vf_host_uncarve(&f->h, &f->pt); /* changed nothing, puts back nothing */
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "2");
}

static void refusals_name_the_port_and_the_function(void **state)
{
    struct fixture *f = *state;
    struct evr_err err;
    json_t *req, *r;

    appliance(f, 5); /* the PF offers 4 */
    assert_int_equal(vf_host_open(&f->h, fake.root, &f->a, NULL, &f->pt, &err), -1);
    assert_non_null(strstr(err.msg, "port0: " PF " cannot carve that many, the appliance asks "
                                    "for 5 VFs"));
    assert_string_equal(fake_read("/sys/bus/pci/devices/" PF "/sriov_numvfs"), "0");
    evr_appliance_free(&f->a);

    appliance(f, 2);
    if (vf_host_open(&f->h, fake.root, &f->a, NULL, &f->pt, &err))
        fail_msg("%s", err.msg);
    /* a step naming a VF of another index than its address */
    req = json_pack("{s:s, s:s, s:s, s:i, s:s}", "op", "vf-assign", "slice", "port0/vf1", "pf", PF,
                    "vf", 1, "host", "0000:01:00.1");
    r = f->pt.call(f->pt.ctx, req, &err);
    json_decref(req);
    assert_null(r);
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, "port0/vf1: 0000:01:00.1 is not VF 1 of " PF);
    assert_string_equal(fake_driver("0000:01:00.1"), "");
    /* vfio-pci refuses to take it: the error names the slice and address */
    fake.probe_refuses = 1;
    assert_null(step(f, "vf-assign", 1, &err));
    assert_non_null(strstr(err.msg, "port0/vfN: cannot bind 0000:01:00.2 to vfio-pci"));
    fake.probe_refuses = 0;
    assert_string_equal(fake_driver("0000:01:00.2"), "");
    /* a device step to a VM evrd does not run */
    req = json_pack("{s:s, s:s, s:s, s:s}", "op", "device-add", "slice", "port0/vf0", "vm", "vm-z",
                    "host", "0000:01:00.1");
    r = f->pt.call(f->pt.ctx, req, &err);
    json_decref(req);
    assert_null(r);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "port0/vf0: device-add 0000:01:00.1 on vm-z: no VM vm-z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(carving_makes_the_vfs_without_a_driver, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_host_driver_on_a_free_vf_goes, setup, teardown),
            cmocka_unit_test_setup_teardown(refusals_name_the_port_and_the_function, setup,
                                            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
