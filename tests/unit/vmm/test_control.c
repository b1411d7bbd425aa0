/* Unit tests of the control socket's request handling: replies for good and
 * bad requests against a VM record without vCPUs, and the 0600 socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "control.h"

static struct vmm_host host = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct vmm_config cfg;
static struct vm vm;
static char reply[4096];

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

static void handle(const char *line)
{
    control_handle(&host, line, reply, sizeof(reply));
}

static void status_pause_resume_stop(void **state)
{
    (void)state;
    handle("{\"command\":\"status\"}");
    assert_non_null(strstr(reply, "\"ok\":true"));
    assert_non_null(strstr(reply, "\"state\":\"running\""));
    assert_non_null(strstr(reply, "\"memory_mib\":256"));
    assert_non_null(strstr(reply, "\"boots\":1"));
    handle("{\"command\":\"pause\"}");
    assert_string_equal(reply, "{\"ok\":true,\"state\":\"paused\"}");
    handle("{\"command\":\"status\"}");
    assert_non_null(strstr(reply, "\"state\":\"paused\""));
    handle("{\"command\":\"resume\"}");
    assert_string_equal(reply, "{\"ok\":true,\"state\":\"running\"}");
    handle("{\"command\":\"counters\"}");
    assert_string_equal(reply, "{\"ok\":true,\"vcpus\":[]}");
    handle("{\"command\":\"stop\"}");
    assert_string_equal(reply, "{\"ok\":true,\"state\":\"stopping\"}");
    assert_true(host.stop_requested);
    assert_int_equal(vm.outcome, VM_STOPPED);
}

static void bad_requests_say_what_is_wrong(void **state)
{
    (void)state;
    handle("status");
    assert_non_null(strstr(reply, "\"ok\":false"));
    assert_non_null(strstr(reply, "request is not JSON"));
    handle("[\"status\"]");
    assert_non_null(strstr(reply, "request must be a JSON object"));
    handle("{}");
    assert_non_null(strstr(reply, "request has no 'command'"));
    handle("{\"command\":\"status\",\"verbose\":true}");
    assert_non_null(strstr(reply, "unknown key 'verbose' in request"));
    handle("{\"command\":7}");
    assert_non_null(strstr(reply, "key 'command' must be a string"));
    handle("{\"command\":\"reboot\"}");
    assert_non_null(strstr(reply, "unknown command 'reboot'"));
    assert_int_equal(vm.outcome, VM_RUNNING);
}

/* The link command's refusals; the link itself is test_virtio_net's. */
static void link_requests_are_checked(void **state)
{
    (void)state;
    handle("{\"command\":\"link\"}");
    assert_non_null(strstr(reply, "link: 'iface' must be an interface number"));
    handle("{\"command\":\"link\",\"iface\":-1}");
    assert_non_null(strstr(reply, "link: 'iface' must be an interface number"));
    handle("{\"command\":\"link\",\"iface\":\"0\"}");
    assert_non_null(strstr(reply, "link: 'iface' must be an interface number"));
    handle("{\"command\":\"link\",\"iface\":0,\"up\":1}");
    assert_non_null(strstr(reply, "link: 'up' must be true or false"));
    handle("{\"command\":\"link\",\"iface\":0,\"up\":false}");
    assert_non_null(strstr(reply, "link: no interface 0 (the VM has 0)"));
    handle("{\"command\":\"status\",\"iface\":0}");
    assert_non_null(strstr(reply, "unknown key 'iface' in request"));
    handle("{\"command\":\"link\",\"iface\":3}");
    assert_non_null(strstr(reply, "link: no interface 3 (the VM has 0)"));
    host.vm = NULL;
    handle("{\"command\":\"link\",\"iface\":0,\"up\":true}");
    assert_non_null(strstr(reply, "between boots"));
}

static void counters_of_many_vcpus_fit_a_reply(void **state)
{
    static char big[CONTROL_REPLY_MAX];
    static struct vcpu vcpus[CONFIG_MAX_VCPUS];

    (void)state;
    for (unsigned i = 0; i < CONFIG_MAX_VCPUS; i++)
        for (int k = 0; k < EXIT_KIND_COUNT; k++)
            vcpus[i].counters.n[k] = 1000000000000ull;
    vm.vcpus = vcpus;
    vm.nvcpus = CONFIG_MAX_VCPUS;
    control_handle(&host, "{\"command\":\"counters\"}", big, sizeof(big));
    assert_non_null(strstr(big, "\"vcpu\":253,"));
    assert_int_equal(big[strlen(big) - 1], '}');
    /* a reply that does not fit says so instead of being cut */
    control_handle(&host, "{\"command\":\"counters\"}", reply, sizeof(reply));
    assert_string_equal(reply, "{\"ok\":false,\"error\":\"reply too large\"}");
    vm.vcpus = NULL;
    vm.nvcpus = 0;
}

static void between_boots(void **state)
{
    (void)state;
    host.vm = NULL;
    handle("{\"command\":\"status\"}");
    assert_non_null(strstr(reply, "\"state\":\"starting\""));
    handle("{\"command\":\"pause\"}");
    assert_non_null(strstr(reply, "between boots"));
}

static void socket_is_created_0600(void **state)
{
    char path[64], err[256];
    struct stat st;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/evr-vmm-test-%d.sock", (int)getpid());
    fd = unix_listen_0600(path, err, sizeof(err));
    assert_true(fd >= 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    close(fd);
    /* a stale socket is replaced; a regular file is not */
    fd = unix_listen_0600(path, err, sizeof(err));
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    fclose(fopen(path, "w"));
    assert_int_equal(unix_listen_0600(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exists and is not a socket"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(status_pause_resume_stop, setup),
            cmocka_unit_test_setup(bad_requests_say_what_is_wrong, setup),
            cmocka_unit_test_setup(link_requests_are_checked, setup),
            cmocka_unit_test_setup(counters_of_many_vcpus_fit_a_reply, setup),
            cmocka_unit_test_setup(between_boots, setup),
            cmocka_unit_test(socket_is_created_0600),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
