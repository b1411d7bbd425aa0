/* Unit tests of the VM configuration: JSON file, flags, and every kind of
 * refusal, each naming the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct vmm_config cfg;
static struct config_error err;

static void json_sets_every_key(void **state)
{
    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_load_json(&cfg,
                                      "{\"kernel\":\"/k\",\"initrd\":\"/i\",\"cmdline\":\"quiet\","
                                      "\"memory\":512,\"vcpus\":2,\"pin\":[0,0],"
                                      "\"hugepages\":true,\"console\":\"file:/tmp/c\","
                                      "\"control\":\"/run/vm.sock\",\"on_reboot\":\"restart\"}",
                                      "vm.json", &err),
                     0);
    assert_string_equal(cfg.kernel, "/k");
    assert_string_equal(cfg.initrd, "/i");
    assert_string_equal(cfg.cmdline, "quiet");
    assert_int_equal(cfg.memory_mib, 512);
    assert_int_equal(cfg.vcpus, 2);
    assert_int_equal(cfg.npin, 2);
    assert_int_equal(cfg.pin[1], 0);
    assert_true(cfg.hugepages);
    assert_int_equal(cfg.console, CONSOLE_FILE);
    assert_string_equal(cfg.console_path, "/tmp/c");
    assert_string_equal(cfg.control, "/run/vm.sock");
    assert_int_equal(cfg.on_reboot, REBOOT_RESTART);
}

static void defaults(void **state)
{
    (void)state;
    config_defaults(&cfg);
    assert_int_equal(cfg.memory_mib, 256);
    assert_int_equal(cfg.vcpus, 1);
    assert_string_equal(cfg.cmdline, "console=ttyS0");
    assert_int_equal(cfg.console, CONSOLE_STDOUT);
    assert_int_equal(cfg.on_reboot, REBOOT_EXIT);
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "kernel: no kernel given"));
}

struct bad {
    const char *json;
    const char *msg;
};

static void json_refusals_name_the_key_and_change_nothing(void **state)
{
    static const struct bad cases[] = {
            {"{\"kernal\":\"/k\"}", "vm.json: unknown key 'kernal'"},
            {"{\"memory\":\"512\"}", "key 'memory': expected an integer, got a string"},
            {"{\"memory\":-1}", "key 'memory': -1 is negative"},
            {"{\"memory\":8}", "memory: 8 is out of range (16..1048576)"},
            {"{\"memory\":1.5}", "key 'memory': expected an integer, got a number with a fraction"},
            {"{\"vcpus\":0}", "vcpus: 0 is out of range (1..254)"},
            {"{\"vcpus\":255}", "vcpus: 255 is out of range"},
            {"{\"pin\":\"0,1\"}", "key 'pin': expected an array of CPU numbers, got a string"},
            {"{\"pin\":[0,\"1\"]}", "key 'pin'[1]: expected a CPU number, got a string"},
            {"{\"pin\":[]}", "key 'pin': must list at least one host CPU"},
            {"{\"hugepages\":1}", "key 'hugepages': expected true or false, got an integer"},
            {"{\"console\":\"serial\"}", "console: 'serial' is not one of stdout"},
            {"{\"console\":\"file:\"}", "console: must not be empty"},
            {"{\"on_reboot\":\"halt\"}", "on_reboot: 'halt' is not exit or restart"},
            {"{\"kernel\":\"\"}", "kernel: must not be empty"},
            {"{\"kernel\":3}", "key 'kernel': expected a string, got an integer"},
            {"[1]", "vm.json: expected a JSON object, got an array"},
            {"{\"vcpus\":1,\"vcpus\":2}", "vm.json: line 1"},
            {"{\"vcpus\":", "vm.json: line 1"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_defaults(&cfg);
        err.msg[0] = 0;
        /* a good key before the bad one must not be applied either */
        if (config_load_json(&cfg, cases[i].json, "vm.json", &err) != -1)
            fail_msg("%s: accepted", cases[i].json);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].json, err.msg, cases[i].msg);
    }
    config_defaults(&cfg);
    assert_int_equal(config_load_json(&cfg, "{\"vcpus\":4,\"memory\":\"x\"}", "vm.json", &err), -1);
    assert_int_equal(cfg.vcpus, 1);
}

static void flags_take_text_and_are_as_strict(void **state)
{
    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "memory", "1024", &err), 0);
    assert_int_equal(cfg.memory_mib, 1024);
    assert_int_equal(config_set(&cfg, "pin", "0,0,0", &err), 0);
    assert_int_equal(cfg.npin, 3);
    assert_int_equal(config_set(&cfg, "console", "socket:/run/c.sock", &err), 0);
    assert_int_equal(cfg.console, CONSOLE_SOCKET);
    assert_int_equal(config_set(&cfg, "hugepages", "true", &err), 0);
    assert_true(cfg.hugepages);

    assert_int_equal(config_set(&cfg, "memory", "12x", &err), -1);
    assert_string_equal(err.msg, "memory: '12x' is not a whole number");
    assert_int_equal(config_set(&cfg, "memory", "", &err), -1);
    assert_int_equal(config_set(&cfg, "vcpus", "-1", &err), -1);
    assert_int_equal(config_set(&cfg, "pin", "0,,1", &err), -1);
    assert_non_null(strstr(err.msg, "pin: item 1"));
    assert_int_equal(config_set(&cfg, "pin", "0,5000", &err), -1);
    assert_non_null(strstr(err.msg, "pin[1]: '5000' is not a CPU number"));
    assert_int_equal(config_set(&cfg, "hugepages", "yes", &err), -1);
    assert_int_equal(config_set(&cfg, "frobnicate", "1", &err), -1);
    assert_string_equal(err.msg, "unknown key 'frobnicate'");
    assert_true(config_is_key("on_reboot"));
    assert_false(config_is_key("on-reboot"));
}

static void net_lists_interfaces_in_order(void **state)
{
    static const struct bad cases[] = {
            {"{\"net\":{\"vhost_user\":\"/a\"}}", "key 'net': expected an array of interfaces"},
            {"{\"net\":[\"/a\"]}", "net[0]: expected an object"},
            {"{\"net\":[{\"mac\":\"02:00:00:00:00:01\"}]}",
             "net[0]: no \"vhost_user\": PATH or \"tap\": IFNAME"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"tap\":\"t0\"}]}",
             "net[0]: both vhost_user and tap"},
            {"{\"net\":[{\"vhost\":\"/a\"}]}",
             "net[0]: unknown key 'vhost' (vhost_user, tap, mac, queues, link)"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"link\":false}]}",
             "net[0]: key 'link' must be a string"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"link\":\"off\"}]}",
             "net[0]: key 'link' must be \"up\" or \"down\", not 'off'"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"queues\":0}]}",
             "net[0]: key 'queues' must be a number 1 to 8"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"queues\":9}]}",
             "net[0]: key 'queues' must be a number 1 to 8"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"queues\":\"2\"}]}",
             "net[0]: key 'queues' must be a number 1 to 8"},
            {"{\"net\":[{\"vhost_user\":\"/a\"},{\"tap\":\"m0\",\"queues\":2}]}",
             "net[1]: tap m0: queues 2: a tap interface has one queue pair"},
            {"{\"net\":[{\"tap\":\"a-name-too-long-for-linux\"}]}",
             "net[0]: tap: 25 bytes is too long"},
            {"{\"net\":[{\"tap\":\"a/b\"}]}", "net[0]: tap: 'a/b' is not an interface name"},
            {"{\"net\":[{\"vhost_user\":1}]}", "net[0]: key 'vhost_user' must be a string"},
            {"{\"net\":[{\"vhost_user\":\"\"}]}", "must not be empty"},
            {"{\"net\":[{\"vhost_user\":\"/a\"},{\"vhost_user\":\"/b\",\"mac\":\"01:00:5e:00:00:"
             "01\"}]}",
             "net[1]: mac '01:00:5e:00:00:01' is not a unicast MAC address"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"mac\":\"02:00:00:00:00\"}]}", "is not a unicast"},
            {"{\"net\":[{\"vhost_user\":\"/a\",\"mac\":\"02:00:00:00:00:0g\"}]}",
             "is not a unicast"},
    };
    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_load_json(&cfg,
                                      "{\"net\":[{\"vhost_user\":\"/run/evr/vm-a.0.sock\"},"
                                      "{\"vhost_user\":\"/run/evr/vm-a.1.sock\","
                                      "\"mac\":\"52:54:00:AB:cd:01\"}]}",
                                      "vm.json", &err),
                     0);
    assert_int_equal(cfg.nnet, 2);
    assert_int_equal(cfg.net[0].queues, 1); /* the default */
    assert_string_equal(cfg.net[0].vhost_user, "/run/evr/vm-a.0.sock");
    assert_string_equal(cfg.net[1].vhost_user, "/run/evr/vm-a.1.sock");
    assert_memory_equal(cfg.net[1].mac, ((uint8_t[]){0x52, 0x54, 0, 0xab, 0xcd, 1}), 6);
    /* no "mac": a locally administered unicast one from the path, stable */
    assert_int_equal(cfg.net[0].mac[0], 0x02);
    /* a flag adds one after the file's */
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/run/x.sock,mac=02:00:00:00:00:09", &err),
                     0);
    assert_int_equal(cfg.nnet, 3);
    assert_string_equal(cfg.net[2].vhost_user, "/run/x.sock");
    assert_int_equal(cfg.net[2].mac[5], 9);
    assert_int_equal(config_set(&cfg, "net", "tap:mgmt0", &err), 0);
    assert_string_equal(cfg.net[3].tap, "mgmt0");
    assert_string_equal(cfg.net[3].vhost_user, "");
    assert_int_equal(cfg.net[3].mac[0], 0x02);
    assert_int_equal(config_set(&cfg, "net", "tun:t0", &err), -1);
    assert_non_null(strstr(err.msg, "is not vhost_user:PATH or tap:IFNAME"));
    /* queue pairs, in either order with the MAC */
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/run/q.sock,queues=4", &err), 0);
    assert_string_equal(cfg.net[4].vhost_user, "/run/q.sock");
    assert_int_equal(cfg.net[4].queues, 4);
    assert_int_equal(
            config_set(&cfg, "net", "vhost_user:/run/r.sock,queues=2,mac=02:00:00:00:00:0a", &err),
            0);
    assert_string_equal(cfg.net[5].vhost_user, "/run/r.sock");
    assert_int_equal(cfg.net[5].queues, 2);
    assert_int_equal(cfg.net[5].mac[5], 10);
    assert_int_equal(config_load_json(&cfg,
                                      "{\"net\":[{\"vhost_user\":\"/run/s.sock\","
                                      "\"queues\":8}]}",
                                      "vm.json", &err),
                     0);
    assert_int_equal(cfg.net[0].queues, 8);
    assert_false(cfg.net[0].link_down); /* the default: up */
    /* the link's starting state, in the file and in the flag */
    assert_int_equal(
            config_load_json(&cfg,
                             "{\"net\":[{\"vhost_user\":\"/run/s.sock\",\"link\":\"down\"},"
                             "{\"vhost_user\":\"/run/t.sock\",\"link\":\"up\"}]}",
                             "vm.json", &err),
            0);
    assert_true(cfg.net[0].link_down);
    assert_false(cfg.net[1].link_down);
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/run/u,v.sock,link=down,queues=2", &err),
                     0);
    assert_string_equal(cfg.net[2].vhost_user, "/run/u,v.sock");
    assert_true(cfg.net[2].link_down);
    assert_int_equal(cfg.net[2].queues, 2);
    assert_int_equal(config_set(&cfg, "net", "tap:m2,link=up", &err), 0);
    assert_false(cfg.net[3].link_down);
    {
        static const struct {
            const char *spec, *msg;
        } flags[] = {
                {"vhost_user:/a,queues=0", "net: vhost_user /a: queues 0 is not 1 to 8"},
                {"vhost_user:/a,queues=9", "net: queues 9 is not 1 to 8"},
                {"vhost_user:/a,queues=", "net: vhost_user /a: 'queues=' is not mac=MAC, "
                                          "queues=N or link=up|down (each once)"},
                {"vhost_user:/a,queues=2x", "'queues=2x' is not mac=MAC, queues=N"},
                {"vhost_user:/a,queues=2,queues=3", "'queues=3' is not mac=MAC, queues=N"},
                {"vhost_user:/a,mac=02:00:00:00:00:01,speed=10",
                 "'speed=10' is not mac=MAC, queues=N"},
                {"vhost_user:/a,link=off", "'link=off' is not mac=MAC, queues=N or link=up|down"},
                {"vhost_user:/a,link=down,link=up", "'link=up' is not mac=MAC"},
                {"vhost_user:/a,link=downx", "'link=downx' is not mac=MAC"},
                {"tap:m1,queues=2", "net: tap m1: queues 2: a tap interface has one queue pair"},
        };
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
            unsigned before = cfg.nnet;
            if (config_set(&cfg, "net", flags[i].spec, &err) != -1)
                fail_msg("%s: accepted", flags[i].spec);
            if (strcmp(err.msg, flags[i].msg) && !strstr(err.msg, flags[i].msg))
                fail_msg("%s: message '%s' lacks '%s'", flags[i].spec, err.msg, flags[i].msg);
            assert_int_equal(cfg.nnet, before);
        }
    }
    assert_int_equal(config_load_json(&cfg,
                                      "{\"net\":[{\"tap\":\"m0\",\"mac\":\"02:00:00:00:00:07\"}]}",
                                      "vm.json", &err),
                     0);
    assert_int_equal(cfg.nnet, 1);
    assert_string_equal(cfg.net[0].tap, "m0");
    assert_int_equal(cfg.net[0].mac[5], 7);
    /* the file's list replaces, all or nothing */
    assert_int_equal(config_load_json(&cfg, "{\"net\":[]}", "vm.json", &err), 0);
    assert_int_equal(cfg.nnet, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_defaults(&cfg);
        if (config_load_json(&cfg, cases[i].json, "vm.json", &err) != -1)
            fail_msg("%s: accepted", cases[i].json);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].json, err.msg, cases[i].msg);
        assert_int_equal(cfg.nnet, 0);
    }
    /* the same socket or MAC twice */
    config_defaults(&cfg);
    snprintf(cfg.kernel, sizeof(cfg.kernel), "/k");
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/a", &err), 0);
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/a", &err), 0);
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_non_null(
            strstr(err.msg, "net[0] vhost_user: /a and net[1] vhost_user: /a are one path"));
    cfg.nnet = 1;
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/b,mac=02:00:00:00:00:01", &err), 0);
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/c,mac=02:00:00:00:00:01", &err), 0);
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "net[2]: its MAC is also net[1]'s"));
    cfg.nnet = 1;
    assert_int_equal(config_set(&cfg, "net", "tap:m0", &err), 0);
    assert_int_equal(config_set(&cfg, "net", "tap:m0", &err), 0);
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "net[2]: tap m0 is also net[1]'s"));
    cfg.nnet = 3;
    for (int i = 0; i < CONFIG_MAX_NET - 3; i++)
        assert_int_equal(config_set(&cfg, "net", "vhost_user:/d", &err), 0);
    assert_int_equal(config_set(&cfg, "net", "vhost_user:/e", &err), -1);
    assert_non_null(strstr(err.msg, "more than 8 interfaces"));
}

/* Two sockets of one VM on one path (also spelled differently) are
 * refused, naming both keys; each of control, console and every net. */
static void every_socket_needs_its_own_path(void **state)
{
    static const struct {
        const char *control, *console, *net0, *net1, *msg;
    } cases[] = {
            {"/tmp/c", "socket:/tmp/x", "vhost_user:/tmp/x", NULL,
             "console socket: /tmp/x and net[0] vhost_user: /tmp/x are one path"},
            {"/tmp/x", NULL, "vhost_user:/tmp/v", "vhost_user:/tmp/x",
             "control /tmp/x and net[1] vhost_user: /tmp/x are one path"},
            {"/tmp/c", "socket:/tmp/c", NULL, NULL,
             "control /tmp/c and console socket: /tmp/c are one path"},
            {"/tmp/c", "file:/tmp/c", NULL, NULL,
             "control /tmp/c and console file: /tmp/c are one path"},
            {NULL, NULL, "vhost_user:/tmp/x", "vhost_user:/tmp//../tmp/x",
             "net[0] vhost_user: /tmp/x and net[1] vhost_user: /tmp//../tmp/x are one path"},
            {"/tmp/c", "socket:/tmp/d", "vhost_user:/tmp/x", "vhost_user:/tmp/y", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_defaults(&cfg);
        assert_int_equal(config_set(&cfg, "kernel", "/k", &err), 0);
        if (cases[i].control)
            assert_int_equal(config_set(&cfg, "control", cases[i].control, &err), 0);
        if (cases[i].console)
            assert_int_equal(config_set(&cfg, "console", cases[i].console, &err), 0);
        if (cases[i].net0)
            assert_int_equal(config_set(&cfg, "net", cases[i].net0, &err), 0);
        if (cases[i].net1)
            assert_int_equal(config_set(&cfg, "net", cases[i].net1, &err), 0);
        if (!cases[i].msg) {
            assert_int_equal(config_check(&cfg, &err), 0);
            continue;
        }
        if (config_check(&cfg, &err) != -1)
            fail_msg("case %zu: accepted", i);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].msg);
    }
}

static void check_catches_pin_and_host_limits(void **state)
{
    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "kernel", "/k", &err), 0);
    assert_int_equal(config_check(&cfg, &err), 0);

    assert_int_equal(config_set(&cfg, "vcpus", "2", &err), 0);
    assert_int_equal(config_set(&cfg, "pin", "0", &err), 0);
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "pin: lists 1 host CPUs for 2 vCPUs (one per vCPU)");

    assert_int_equal(config_set(&cfg, "pin", "0,1023", &err), 0);
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "pin[1]: host CPU 1023 does not exist or is not available"));

    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "kernel", "/k", &err), 0);
    assert_int_equal(config_set(&cfg, "memory", "1048576", &err), 0); /* 1 TiB */
    assert_int_equal(config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "memory: 1048576 MiB does not fit in this host's"));
}

static void loads_a_file_and_reports_a_missing_one(void **state)
{
    char path[] = "/tmp/evr-vmm-config-XXXXXX";
    int fd = mkstemp(path);
    const char text[] = "{\"kernel\": \"/boot/vmlinuz\", \"vcpus\": 3}\n";

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    config_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, path, &err), 0);
    assert_int_equal(cfg.vcpus, 3);
    unlink(path);
    assert_int_equal(config_load_file(&cfg, path, &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));
}

/* "passthrough": PCI addresses as sysfs writes them, from JSON or a flag. */
static void passthrough_lists_pci_addresses(void **state)
{
    static const struct bad refused[] = {
            {"{\"passthrough\":\"0000:00:05.0\"}", "expected an array of PCI addresses"},
            {"{\"passthrough\":[5]}", "passthrough'[0]: expected a PCI address"},
            {"{\"passthrough\":[\"0000:00:05.0,0000:00:06.0\"]}", "[0]: expected a PCI address"},
            {"{\"passthrough\":[\"00:05.0\"]}", "passthrough[0]:"},
            {"{\"passthrough\":[\"0000:00:05.0\",\"0000:00:5.0\"]}", "passthrough[1]:"},
            {"{\"passthrough\":[\"0000:00:05.0\",\"0000:00:05.0\"]}",
             "0000:00:05.0 is listed twice"},
            {"{\"passthrough\":[\"0000:00:01.0\",\"0000:00:02.0\",\"0000:00:03.0\","
             "\"0000:00:04.0\",\"0000:00:05.0\",\"0000:00:06.0\",\"0000:00:07.0\","
             "\"0000:00:08.0\",\"0000:00:09.0\"]}",
             "more than 8 functions"},
    };

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(cfg.npassthrough, 0);
    assert_int_equal(config_load_json(&cfg, "{\"passthrough\":[\"0000:00:05.0\",\"0000:01:00.1\"]}",
                                      "vm.json", &err),
                     0);
    assert_int_equal(cfg.npassthrough, 2);
    assert_string_equal(cfg.passthrough[0], "0000:00:05.0");
    assert_string_equal(cfg.passthrough[1], "0000:01:00.1");
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(config_load_json(&cfg, refused[i].json, "vm.json", &err), -1);
        if (!strstr(err.msg, refused[i].msg))
            fail_msg("%s: got '%s', wanted '%s'", refused[i].json, err.msg, refused[i].msg);
        assert_int_equal(cfg.npassthrough, 2); /* nothing of a refusal is used */
    }
    /* the flag's text form; an empty list gives none */
    assert_int_equal(config_set(&cfg, "passthrough", "0000:00:06.0", &err), 0);
    assert_int_equal(cfg.npassthrough, 1);
    assert_string_equal(cfg.passthrough[0], "0000:00:06.0");
    assert_int_equal(config_set(&cfg, "passthrough", "0000:00:06.0,", &err), -1);
    assert_non_null(strstr(err.msg, "ends with a comma"));
    assert_int_equal(config_set(&cfg, "passthrough", "0000:00:06.0,,0000:00:07.0", &err), -1);
    assert_non_null(strstr(err.msg, "passthrough[1]"));
    assert_int_equal(config_set(&cfg, "passthrough", "", &err), 0);
    assert_int_equal(cfg.npassthrough, 0);
    assert_int_equal(config_load_json(&cfg, "{\"passthrough\":[]}", "vm.json", &err), 0);
    assert_int_equal(cfg.npassthrough, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(json_sets_every_key),
            cmocka_unit_test(defaults),
            cmocka_unit_test(json_refusals_name_the_key_and_change_nothing),
            cmocka_unit_test(flags_take_text_and_are_as_strict),
            cmocka_unit_test(net_lists_interfaces_in_order),
            cmocka_unit_test(every_socket_needs_its_own_path),
            cmocka_unit_test(check_catches_pin_and_host_limits),
            cmocka_unit_test(loads_a_file_and_reports_a_missing_one),
            cmocka_unit_test(passthrough_lists_pci_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
