/* Unit tests for per-worker counters (vswitch/counters.h): sums over
 * workers, baselines of reused ports and slices, the "stats" shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "counters.h"

static void sums_workers_and_subtracts_baselines(void **state)
{
    struct vs_config cfg;
    struct evr_err err;
    (void)state;
    vs_config_init(&cfg);
    int w = vs_config_port_add(&cfg, "w0", "a", VS_ROLE_WIRE, &err);
    int v = vs_config_port_add(&cfg, "v0", "b", VS_ROLE_VM, &err);
    cfg.ports[w].dpdk_id = 2;
    cfg.ports[v].dpdk_id = 5;
    struct vs_slice_spec s = {
            .name = "s", .uplink = "w0", .vm = "v0", .mode = VS_SLICE_TRUNK, .untagged = true};
    assert_int_equal(vs_config_slice_set(&cfg, &s, &err), 0);

    struct vs_worker_counters *wc = calloc(2, sizeof(*wc));
    struct vs_counter_baselines *base = calloc(1, sizeof(*base));
    assert_non_null(wc);
    assert_non_null(base);
    wc[0].ports[2].rx_packets = 10;
    wc[1].ports[2].rx_packets = 5;
    wc[0].ports[2].drops[VS_DROP_NO_SLICE] = 3;
    wc[1].ports[2].drops[VS_DROP_NO_SLICE] = 4;
    wc[0].slices[0].to_vm_packets = 7;
    wc[1].slices[0].to_vm_packets = 8;
    wc[1].slices[0].to_vm_bytes = 800;
    base->slices[0].to_vm_packets = 5; /* a previous slice in the same index */
    base->ports[2].rx_packets = 1;

    struct vs_port_counters pc;
    vs_counters_sum_port(wc, 2, 2, &pc);
    assert_int_equal(pc.rx_packets, 15);
    assert_int_equal(pc.drops[VS_DROP_NO_SLICE], 7);

    json_t *j = vs_counters_to_json(&cfg, wc, 2, base);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(text, "\"w0\":{\"drops\":{"));
    assert_non_null(strstr(text, "\"no_slice\":7"));
    assert_non_null(strstr(text, "\"rx_packets\":14"));
    assert_non_null(strstr(text, "\"slices\":{\"s\":{"));
    assert_non_null(strstr(text, "\"to_vm_bytes\":800,\"to_vm_packets\":10"));
    free(text);
    json_decref(j);
    free(wc);
    free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(sums_workers_and_subtracts_baselines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
