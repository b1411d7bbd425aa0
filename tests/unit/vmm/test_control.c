/* Unit tests of evr-vmm's control ops: replies for good and bad requests
 * through the ctl/ dispatch against a VM record without vCPUs, and the
 * socket evr-vmm serves (hello, a request, mode 0600). The protocol itself
 * (framing, limits, credentials) is tested in tests/unit/ctl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "ctl/client.h"
#include "fake_kvm.h"
#include "msix.h"
#include "pci_testdev.h"

static struct vmm_host host = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct vmm_config cfg;
static struct vm vm;
static char *reply;

static int setup(void **state)
{
    (void)state;
    config_defaults(&cfg);
    memset(&vm, 0, sizeof(vm));
    vm.cfg = &cfg;
    vm.outcome = VM_RUNNING;
    pthread_mutex_init(&vm.lock, NULL);
    pthread_cond_init(&vm.cond, NULL);
    host.vm = &vm;
    host.boots = 1;
    host.stop_requested = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(reply);
    reply = NULL;
    return 0;
}

/* reply = the compact envelope of one request line */
static void handle(const char *line)
{
    struct evr_err err;
    json_t *req = ctl_parse_line(line, strlen(line), &err);
    json_t *r = req ? ctl_dispatch(control_ops, control_n_ops, &host, req) : ctl_reply_error(&err);

    free(reply);
    reply = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    json_decref(req);
}

static void status_pause_resume_stop(void **state)
{
    (void)state;
    handle("{\"op\":\"status\"}");
    assert_non_null(strstr(reply, "{\"ok\":true,\"state\":\"running\""));
    assert_non_null(strstr(reply, "\"memory_mib\":256"));
    assert_non_null(strstr(reply, "\"boots\":1"));
    handle("{\"op\":\"pause\"}");
    assert_string_equal(reply, "{\"ok\":true,\"state\":\"paused\"}");
    handle("{\"op\":\"status\"}");
    assert_non_null(strstr(reply, "\"state\":\"paused\""));
    handle("{\"op\":\"resume\"}");
    assert_string_equal(reply, "{\"ok\":true,\"state\":\"running\"}");
    handle("{\"op\":\"counters\"}");
    assert_string_equal(reply, "{\"ok\":true,\"vcpus\":[],\"devices\":[]}");
    handle("{\"op\":\"stop\"}");
    assert_string_equal(reply, "{\"ok\":true,\"state\":\"stopping\"}");
    assert_true(host.stop_requested);
    assert_int_equal(vm.outcome, VM_STOPPED);
}

static void bad_requests_say_what_is_wrong(void **state)
{
    (void)state;
    handle("{\"op\":\"status\",\"verbose\":true}");
    assert_string_equal(reply, "{\"ok\":false,\"error\":{\"code\":\"EINVAL\",\"message\":"
                               "\"field 'verbose': not a field of 'status'\"}}");
    handle("{\"command\":\"status\"}");
    assert_non_null(strstr(reply, "field 'op': missing"));
    handle("{\"op\":\"reboot\"}");
    assert_non_null(strstr(reply, "\"code\":\"EOPNOTSUPP\""));
    assert_non_null(strstr(reply, "'reboot' is not one of 'status', 'pause', 'resume', 'stop', "
                                  "'counters', 'link'"));
    assert_int_equal(vm.outcome, VM_RUNNING);
}

/* The link op's refusals; the link itself is test_virtio_net's. */
static void link_requests_are_checked(void **state)
{
    (void)state;
    handle("{\"op\":\"link\"}");
    assert_non_null(strstr(reply, "field 'iface': missing"));
    handle("{\"op\":\"link\",\"iface\":-1}");
    assert_non_null(strstr(reply, "field 'iface': an interface number"));
    handle("{\"op\":\"link\",\"iface\":\"0\"}");
    assert_non_null(strstr(reply, "field 'iface': an interface number"));
    handle("{\"op\":\"link\",\"iface\":0,\"up\":1}");
    assert_non_null(strstr(reply, "field 'up': true or false"));
    handle("{\"op\":\"link\",\"iface\":0,\"up\":false}");
    assert_string_equal(reply, "{\"ok\":false,\"error\":{\"code\":\"ENOENT\",\"message\":"
                               "\"field 'iface': no interface 0 (the VM has 0)\"}}");
    handle("{\"op\":\"link\",\"iface\":3}");
    assert_non_null(strstr(reply, "field 'iface': no interface 3 (the VM has 0)"));
    handle("{\"op\":\"status\",\"iface\":0}");
    assert_non_null(strstr(reply, "field 'iface': not a field of 'status'"));
    host.vm = NULL;
    handle("{\"op\":\"link\",\"iface\":0,\"up\":true}");
    assert_non_null(strstr(reply, "field 'iface': no interface 0 (the VM has 0)"));
}

/* Between boots (on_reboot restart) a link choice is kept for the next
 * boot: evrd may move a slice while the guest reboots. */
static void link_between_boots_is_kept(void **state)
{
    (void)state;
    host.vm = NULL;
    host.nnet = 2;
    host.link_admin_up[0] = host.link_admin_up[1] = true;
    handle("{\"op\":\"link\",\"iface\":1,\"up\":false}");
    assert_string_equal(reply, "{\"ok\":true,\"iface\":1,\"admin_up\":false,\"backend\":false,"
                               "\"up\":false}");
    assert_false(host.link_admin_up[1]);
    assert_true(host.link_admin_up[0]);
    handle("{\"op\":\"link\",\"iface\":1}");
    assert_non_null(strstr(reply, "\"admin_up\":false"));
    handle("{\"op\":\"link\",\"iface\":2,\"up\":true}");
    assert_non_null(strstr(reply, "field 'iface': no interface 2 (the VM has 2)"));
    handle("{\"op\":\"link\",\"iface\":1,\"up\":true}");
    assert_true(host.link_admin_up[1]);
    host.nnet = 0;
}

/* device-add and device-del: fields, and a VM without the function or
 * without the devices to take one (the hotplug itself: test_pci_hotplug.c
 * and the lab's vmm-hotplug). */
static void device_requests_are_checked(void **state)
{
    (void)state;
    handle("{\"op\":\"device-add\"}");
    assert_non_null(strstr(reply, "field 'host': missing"));
    handle("{\"op\":\"device-add\",\"host\":5}");
    assert_non_null(strstr(reply, "field 'host': a PCI address like 0000:01:10.0"));
    handle("{\"op\":\"device-add\",\"host\":\"01:10.0\"}");
    assert_non_null(strstr(reply, "\"code\":\"EINVAL\",\"message\":\"field 'host': "));
    handle("{\"op\":\"device-add\",\"host\":\"0000:01:10.0\"}");
    assert_string_equal(reply, "{\"ok\":false,\"error\":{\"code\":\"EOPNOTSUPP\",\"message\":"
                               "\"device-add 0000:01:10.0: this VM cannot take PCI functions\"}}");
    handle("{\"op\":\"device-del\",\"host\":\"0000:01:10.0\",\"timeout_ms\":0}");
    assert_non_null(strstr(reply, "field 'timeout_ms': milliseconds, 1 to 60000"));
    handle("{\"op\":\"device-del\",\"host\":\"0000:01:10.0\",\"timeout_ms\":60001}");
    assert_non_null(strstr(reply, "field 'timeout_ms': milliseconds, 1 to 60000"));
    handle("{\"op\":\"device-del\",\"host\":\"0000:01:10.0\",\"timeout_ms\":\"5\"}");
    assert_non_null(strstr(reply, "field 'timeout_ms'"));
    handle("{\"op\":\"device-del\",\"host\":\"0000:01:10.0\",\"timeout_ms\":60000}");
    assert_string_equal(reply, "{\"ok\":false,\"error\":{\"code\":\"ENOENT\",\"message\":"
                               "\"device-del 0000:01:10.0: not assigned to this VM\"}}");
    handle("{\"op\":\"status\"}");
    assert_non_null(strstr(reply, "\"passthrough\":[]"));
    host.vm = NULL;
    handle("{\"op\":\"device-del\",\"host\":\"0000:01:10.0\"}");
    assert_non_null(strstr(reply, "\"code\":\"EAGAIN\""));
    handle("{\"op\":\"device-add\",\"host\":\"0000:01:10.0\"}");
    assert_non_null(strstr(reply, "\"code\":\"EAGAIN\""));
}

static void counters_of_many_vcpus(void **state)
{
    static struct vcpu vcpus[CONFIG_MAX_VCPUS];

    (void)state;
    for (unsigned i = 0; i < CONFIG_MAX_VCPUS; i++)
        for (int k = 0; k < EXIT_KIND_COUNT; k++)
            vcpus[i].counters.n[k] = 1000000000000ull;
    vm.vcpus = vcpus;
    vm.nvcpus = CONFIG_MAX_VCPUS;
    handle("{\"op\":\"counters\"}");
    assert_non_null(strstr(reply, "\"vcpu\":253,"));
    assert_non_null(strstr(reply, "\"io\":1000000000000"));
    vm.vcpus = NULL;
    vm.nvcpus = 0;
}

/* The devices' own counters: each PCI function by name and address, with
 * what its device counts (the pci-test function has only MSI-X's). */
static void counters_of_the_devices(void **state)
{
    struct vmm_config mcfg;
    struct pci_function *fn;

    (void)state;
    assert_int_equal(fake_kvm_machine(&vm.machine, &mcfg, true, NULL, NULL), 0);
    fn = pci_testdev_function(&vm.machine);
    fn->msix->errors = 3;
    handle("{\"op\":\"counters\"}");
    if (!strstr(reply,
                "\"devices\":[{\"name\":\"pci-test\",\"bdf\":\"00:01.0\",\"msix_errors\":3}]"))
        fail_msg("%s", reply);
    machine_destroy(&vm.machine);
    memset(&vm.machine, 0, sizeof(vm.machine));
}

static void between_boots(void **state)
{
    (void)state;
    host.vm = NULL;
    handle("{\"op\":\"status\"}");
    assert_non_null(strstr(reply, "\"state\":\"starting\""));
    handle("{\"op\":\"pause\"}");
    assert_string_equal(reply, "{\"ok\":false,\"error\":{\"code\":\"EAGAIN\",\"message\":"
                               "\"the VM is between boots; try again\"}}");
}

static void the_socket_says_hello_and_serves(void **state)
{
    struct control c;
    struct ctl_client cl;
    struct evr_err err = {0};
    char path[64], msg[256];
    struct stat st;
    json_t *hello = NULL, *req, *r;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/evr-vmm-test-%d.sock", (int)getpid());
    assert_int_equal(control_open(&c, &host, path, msg, sizeof(msg)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ctl_client_open(&cl, path, &hello, &err), 0);
    assert_string_equal(json_string_value(json_object_get(hello, "server")), "evr-vmm");
    assert_string_equal(json_string_value(json_object_get(hello, "version")), EVR_VERSION);
    req = json_pack("{s:s}", "op", "pause");
    r = ctl_client_call(&cl, req, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "paused");
    json_decref(r);
    json_decref(req);
    json_decref(hello);
    ctl_client_close(&cl);
    control_close(&c);
    assert_int_equal(stat(path, &st), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(status_pause_resume_stop, setup, teardown),
            cmocka_unit_test_setup_teardown(bad_requests_say_what_is_wrong, setup, teardown),
            cmocka_unit_test_setup_teardown(link_requests_are_checked, setup, teardown),
            cmocka_unit_test_setup_teardown(link_between_boots_is_kept, setup, teardown),
            cmocka_unit_test_setup_teardown(device_requests_are_checked, setup, teardown),
            cmocka_unit_test_setup_teardown(counters_of_many_vcpus, setup, teardown),
            cmocka_unit_test_setup_teardown(counters_of_the_devices, setup, teardown),
            cmocka_unit_test_setup_teardown(between_boots, setup, teardown),
            cmocka_unit_test_setup_teardown(the_socket_says_hello_and_serves, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
