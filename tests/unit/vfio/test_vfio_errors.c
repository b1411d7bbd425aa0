/* Unit tests of the VFIO calls' refusals that need no kernel VFIO
 * (vfio/vfio_device.h): missing device nodes, bad arguments, and that each
 * message names the step and the group or address. The calls that reach
 * the kernel are proven in the lab (tests/lab/vfio/lab_pci_vfio.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vfio_device.h"

#define assert_msg_has(err, part)                                                                  \
    do {                                                                                           \
        if (!strstr((err).msg, (part)))                                                            \
            fail_msg("message '%s' does not contain '%s'", (err).msg, (part));                     \
    } while (0)

static void a_missing_container_node_is_named(void **state)
{
    struct evr_vfio_container c;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_vfio_container_open(&c, "/nonexistent-evr-root", &err), -1);
    assert_msg_has(err, "VFIO container: cannot open /nonexistent-evr-root/dev/vfio/vfio: No "
                        "such file or directory (is vfio loaded?)");
    assert_int_equal(err.code, ENOENT); /* the kernel's errno travels with the text */
    assert_int_equal(c.fd, -1);
    assert_string_equal(c.label, "container (no groups)");
    evr_vfio_container_close(&c); /* closing a failed container is harmless */
}

static void group_refusals_name_the_group(void **state)
{
    struct evr_vfio_container c = {.fd = -1, .label = "container (no groups)"};
    struct evr_vfio_group g;
    struct evr_err err;
    (void)state;

    assert_int_equal(evr_vfio_group_open(&c, "/nonexistent-evr-root", 7, &g, &err), -1);
    assert_msg_has(err, "VFIO group 7: cannot open /nonexistent-evr-root/dev/vfio/7");
    assert_int_equal(g.fd, -1);
    assert_int_equal(evr_vfio_group_open(&c, "", -1, &g, &err), -1);
    assert_msg_has(err, "VFIO group -1: not a group number");
    assert_int_equal(err.code, EINVAL);

    c.groups = EVR_VFIO_CONTAINER_GROUPS;
    assert_int_equal(evr_vfio_group_open(&c, "", 3, &g, &err), -1);
    assert_msg_has(err, "VFIO group 3: container (no groups) already holds 16 groups");
    assert_int_equal(err.code, ENOSPC);
}

static void device_refusals_name_the_address(void **state)
{
    struct evr_vfio_group g = {.fd = -1, .id = 5, .container = NULL};
    struct evr_vfio_device d;
    struct evr_err err;
    struct vfio_region_info ri;
    struct vfio_irq_info ii;
    int fd = -1;
    (void)state;

    assert_int_equal(evr_vfio_device_open(&g, "0000:00:4.0", &d, &err), -1);
    assert_msg_has(err, "PCI address '0000:00:4.0'");
    assert_int_equal(evr_vfio_device_open(&g, "0000:00:04.0", &d, &err), -1);
    assert_msg_has(err, "0000:00:04.0: its group 5 is in no container");

    /* A device that reports 9 regions and 5 interrupt indexes. */
    memset(&d, 0, sizeof(d));
    d.fd = -1;
    strcpy(d.addr, "0000:00:04.0");
    d.info.num_regions = 9;
    d.info.num_irqs = 5;
    assert_int_equal(evr_vfio_region_info(&d, 9, &ri, &err), -1);
    assert_msg_has(err, "0000:00:04.0: region 9 does not exist (the device has 9)");
    assert_int_equal(evr_vfio_irq_info(&d, 5, &ii, &err), -1);
    assert_msg_has(err, "0000:00:04.0: interrupt index 5 does not exist (the device has 5)");
    assert_int_equal(evr_vfio_irq_set_eventfds(&d, 7, 0, 1, &fd, &err), -1);
    assert_msg_has(err, "interrupt index 7 does not exist");
    assert_int_equal(evr_vfio_device_reset(&d, &err), -1);
    assert_msg_has(err, "0000:00:04.0: the kernel offers no reset for it");
}

static void dma_refusals_name_the_container(void **state)
{
    struct evr_vfio_container c = {.fd = -1, .label = "container (groups 4)"};
    struct evr_err err;
    static char page[8192] __attribute__((aligned(4096)));
    (void)state;

    assert_int_equal(evr_vfio_dma_map(&c, page, 0x100000, 0x1000, 1, &err), -1);
    assert_msg_has(err, "container (groups 4): DMA map before any group was added");
    c.iommu_set = 1;
    assert_int_equal(evr_vfio_dma_map(&c, page, 0x100800, 0x1000, 1, &err), -1);
    assert_msg_has(err, "iova 0x100800 size 0x1000: address, size and buffer must be");
    assert_int_equal(evr_vfio_dma_map(&c, page + 1, 0x100000, 0x1000, 1, &err), -1);
    assert_msg_has(err, "aligned");
    assert_int_equal(evr_vfio_dma_map(&c, page, 0x100000, 0, 1, &err), -1);
    assert_msg_has(err, "non-empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(a_missing_container_node_is_named),
            cmocka_unit_test(group_refusals_name_the_group),
            cmocka_unit_test(device_refusals_name_the_address),
            cmocka_unit_test(dma_refusals_name_the_container),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
