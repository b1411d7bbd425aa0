/* evr's tables (print.h). Columns are sized to their widest cell. */
#include "print.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

static void holdings_table(const json_t *holdings)
{
    int w_slice = 5, w_vm = 2;
    const json_t *h;
    size_t i;

    if (json_array_size(holdings) == 0) {
        printf("nothing is given to any VM\n");
        return;
    }
    json_array_foreach(holdings, i, h)
    {
        w_slice = (int)(strlen(str(h, "slice")) > (size_t)w_slice ? strlen(str(h, "slice"))
                                                                  : (size_t)w_slice);
        w_vm = (int)(strlen(str(h, "vm")) > (size_t)w_vm ? strlen(str(h, "vm")) : (size_t)w_vm);
    }
    /* MODE fits "passthrough VLAN 4094" */
    printf("%-*s  %-*s  %-21s  %-7s  %s\n", w_slice, "SLICE", w_vm, "VM", "MODE", "VM PORT", "LAG");
    json_array_foreach(holdings, i, h)
    {
        const json_t *k = json_object_get(h, "vm_port"), *vlan = json_object_get(h, "vlan");
        char port[16] = "-", mode[32];
        if (json_is_integer(k))
            snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(k));
        if (json_is_integer(vlan)) /* a VF's port VLAN */
            snprintf(mode, sizeof(mode), "%s VLAN %lld", str(h, "mode"),
                     (long long)json_integer_value(vlan));
        else
            snprintf(mode, sizeof(mode), "%s", str(h, "mode"));
        printf("%-*s  %-*s  %-21s  %-7s  %s\n", w_slice, str(h, "slice"), w_vm, str(h, "vm"), mode,
               port, str(h, "lag"));
    }
}

/* One passthrough step in a line: "vf-assign port2/vf0 0000:01:10.0, mac 02:.., VLAN 100",
 * "device-add port2/vf0 0000:01:10.0 -> vm-a" */
static bool passthrough_line(const json_t *r)
{
    const char *op = str(r, "op");
    const json_t *vlan = json_object_get(r, "vlan");

    if (strncmp(op, "vf-", 3) && strncmp(op, "device-", 7))
        return false;
    printf("  passthrough %-10s %-14s %s", op, str(r, "slice"), str(r, "host"));
    if (json_object_get(r, "mac"))
        printf(", mac %s", str(r, "mac"));
    if (json_integer_value(vlan))
        printf(", VLAN %lld", (long long)json_integer_value(vlan));
    else if (vlan)
        printf(", no VLAN");
    if (!strcmp(op, "vf-release"))
        printf(", reset and unbound");
    if (!strcmp(op, "device-add"))
        printf(" -> %s (hot-plug)", str(r, "vm"));
    if (!strcmp(op, "device-del"))
        printf(" <- %s (guest ejects)", str(r, "vm"));
    printf("\n");
    return true;
}

/* One vswitch request in a line: "slice-set port3: uplink port3 -> vm-b.1, trunk, untagged 1-4094" */
static void plan_line(const json_t *r)
{
    const char *op = str(r, "op");

    if (passthrough_line(r))
        return;
    if (!strcmp(op,
                "vm-link")) { /* "  vm      vm-link    vm-a.1         link down (interface 1)" */
        printf("  vm      %-10s %-14s link %s (interface %lld)\n", op, str(r, "name"),
               json_is_true(json_object_get(r, "up")) ? "up" : "down",
               (long long)json_integer_value(json_object_get(r, "iface")));
        return;
    }

    printf("  vswitch %-10s %-14s", op, str(r, "name"));
    if (!strcmp(op, "port-add"))
        printf(" %s port, %s", str(r, "role"), str(r, "devargs"));
    if (!strcmp(op, "lag-set")) {
        const json_t *m;
        size_t i;
        printf(" %s of", str(r, "mode"));
        json_array_foreach(json_object_get(r, "members"), i, m)
                printf("%s%s", i ? ", " : " ", json_string_value(m));
    }
    if (!strcmp(op, "slice-set")) {
        const json_t *v;
        size_t i;
        printf(" %s -> %s, %s,%s", str(r, "uplink"), str(r, "vm"), str(r, "mode"),
               json_is_true(json_object_get(r, "untagged")) ? " untagged" : "");
        json_array_foreach(json_object_get(r, "vlans"), i, v)
                printf("%s%s", i ? "," : " VLANs ", json_string_value(v));
    }
    printf("\n");
}

void print_change(const json_t *reply)
{
    bool dry = json_is_true(json_object_get(reply, "dry_run"));
    bool changed = json_is_true(json_object_get(reply, "changed"));
    const json_t *plan = json_object_get(reply, "plan"), *r;
    size_t i;

    if (!changed && json_array_size(plan) == 0) {
        printf("nothing to change: the partition holds already (generation %lld)\n",
               (long long)json_integer_value(json_object_get(reply, "generation")));
        return;
    }
    printf(dry ? "dry run: would make generation %lld with these steps (nothing changed):\n"
               : "done: generation %lld, with these steps:\n",
           (long long)json_integer_value(json_object_get(reply, "generation")));
    json_array_foreach(plan, i, r) plan_line(r);
    printf("\n");
    holdings_table(json_object_get(reply, "partition"));
}

/* LAG  VM  VM PORT  MODE  MEMBERS: "port0 up, port1 down" */
static void lags_table(const json_t *lags)
{
    const json_t *l, *m;
    size_t i, k;

    if (json_array_size(lags) == 0)
        return;
    printf("\n%-5s  %-12s  %-7s  %-13s  %s\n", "LAG", "VM", "VM PORT", "MODE", "MEMBERS (LINK)");
    json_array_foreach(lags, i, l)
    {
        printf("%-5s  %-12s  %-7lld  %-13s  ", str(l, "name"), str(l, "vm"),
               (long long)json_integer_value(json_object_get(l, "vm_port")), str(l, "mode"));
        json_array_foreach(json_object_get(l, "members"), k, m)
                printf("%s%s %s", k ? ", " : "", str(m, "port"), str(m, "link"));
        printf("\n");
    }
}

void print_partition(const json_t *reply)
{
    printf("partition generation %lld\n",
           (long long)json_integer_value(json_object_get(reply, "generation")));
    holdings_table(json_object_get(reply, "partition"));
    lags_table(json_object_get(reply, "lags"));
}

static void cores_text(const json_t *cores, char *buf, size_t len)
{
    const json_t *c;
    size_t i, used = 0;

    buf[0] = 0;
    json_array_foreach(cores, i, c)
    {
        int n = snprintf(buf + used, len - used, "%s%lld", i ? "," : "",
                         (long long)json_integer_value(c));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

/* The VFs a port's PF carved, with what the host has on each now. */
static void vf_table(const json_t *port)
{
    const json_t *vf, *err = json_object_get(port, "vf_error");
    size_t i;

    if (!json_object_get(port, "pci"))
        return;
    printf("\n%s: PF %s, %lld VFs carved\n", str(port, "name"), str(port, "pci"),
           (long long)json_integer_value(json_object_get(port, "carved")));
    if (err) {
        printf("  cannot read them: %s\n", json_string_value(err));
        return;
    }
    printf("  %-4s  %-12s  %-8s  %-17s  %-5s  %-8s  %s\n", "VF", "PCI", "DRIVER", "MAC", "VLAN",
           "SPOOFCHK", "TRUST");
    json_array_foreach(json_object_get(port, "vf"), i, vf)
    {
        const char *drv = str(vf, "driver");
        char vlan[8] = "-";
        if (json_integer_value(json_object_get(vf, "vlan")))
            snprintf(vlan, sizeof(vlan), "%lld",
                     (long long)json_integer_value(json_object_get(vf, "vlan")));
        printf("  %-4lld  %-12s  %-8s  %-17s  %-5s  %-8s  %s\n",
               (long long)json_integer_value(json_object_get(vf, "vf")), str(vf, "host"),
               drv[0] ? drv : "none", str(vf, "mac"), vlan,
               !json_object_get(vf, "spoofchk")                ? "-"
               : json_is_true(json_object_get(vf, "spoofchk")) ? "on"
                                                               : "off",
               !json_object_get(vf, "trust")                ? "-"
               : json_is_true(json_object_get(vf, "trust")) ? "on"
                                                            : "off");
    }
}

void print_inventory(const json_t *reply)
{
    const json_t *inv = json_object_get(reply, "inventory"), *p;
    const json_t *vs = json_object_get(inv, "vswitch");
    char cores[256];
    size_t i;

    printf("%-8s  %-8s  %-24s  %s\n", "PORT", "BACKING", "DEVICE", "VFS");
    json_array_foreach(json_object_get(inv, "ports"), i, p)
            printf("%-8s  %-8s  %-24s  %lld\n", str(p, "name"), str(p, "backing"), str(p, "device"),
                   (long long)json_integer_value(json_object_get(p, "vfs")));
    json_array_foreach(json_object_get(inv, "ports"), i, p) vf_table(p);
    printf("\n%-12s  %-5s  %s\n", "VM", "PORTS", "CORES");
    json_array_foreach(json_object_get(inv, "vms"), i, p)
    {
        cores_text(json_object_get(p, "cores"), cores, sizeof(cores));
        printf("%-12s  %-5lld  %s\n", str(p, "name"),
               (long long)json_integer_value(json_object_get(p, "ports")), cores);
    }
    cores_text(json_object_get(vs, "cores"), cores, sizeof(cores));
    printf("\nvswitch: cores %s, %lld MiB\n", cores,
           (long long)json_integer_value(json_object_get(vs, "memory")));
}

void print_vswitch(const json_t *reply)
{
    const json_t *vs = json_object_get(reply, "vswitch");
    const json_t *state = json_object_get(vs, "state"), *r;
    const char *name;

    printf("vswitch: %s, restarted %lld times\n",
           json_is_true(json_object_get(vs, "synced")) ? "carries the partition"
                                                       : "not reached (being restarted?)",
           (long long)json_integer_value(json_object_get(vs, "restarts")));
    json_object_foreach((json_t *)json_object_get(state, "ports"), name, r) plan_line(r);
    json_object_foreach((json_t *)json_object_get(state, "lags"), name, r) plan_line(r);
    json_object_foreach((json_t *)json_object_get(state, "slices"), name, r) plan_line(r);
}

void print_vms(const json_t *reply)
{
    const json_t *vm;
    size_t i;

    printf("%-12s  %-10s  %-7s  %-8s  %s\n", "VM", "STATE", "PID", "RESTARTS", "LAST EXIT");
    json_array_foreach(json_object_get(reply, "vms"), i, vm)
    {
        const json_t *last = json_object_get(vm, "last_exit");
        char pid[16] = "-", exit_text[16] = "-";
        if (json_integer_value(json_object_get(vm, "pid")) > 0)
            snprintf(pid, sizeof(pid), "%lld",
                     (long long)json_integer_value(json_object_get(vm, "pid")));
        if (json_is_integer(last))
            snprintf(exit_text, sizeof(exit_text), "%lld", (long long)json_integer_value(last));
        printf("%-12s  %-10s  %-7s  %-8lld  %s\n", str(vm, "name"), str(vm, "state"), pid,
               (long long)json_integer_value(json_object_get(vm, "restarts")), exit_text);
    }
}

void print_vm(const json_t *reply)
{
    const json_t *vm = json_object_get(reply, "vm"), *p, *s,
                 *last = json_object_get(vm, "last_exit");
    size_t i, j;

    printf("%s: %s", str(vm, "name"), str(vm, "state"));
    if (json_integer_value(json_object_get(vm, "pid")) > 0)
        printf(", pid %lld", (long long)json_integer_value(json_object_get(vm, "pid")));
    if (json_object_get(vm, "restarts"))
        printf(", restarted %lld times",
               (long long)json_integer_value(json_object_get(vm, "restarts")));
    if (json_is_integer(last))
        printf(", last exit %lld", (long long)json_integer_value(last));
    printf("\n");
    if (json_object_get(vm, "console"))
        printf("console %s, log %s\n", str(vm, "console"), str(vm, "log"));
    printf("\n%-4s  %-14s  %-5s  %-4s  %s\n", "PORT", "VSWITCH PORT", "IFACE", "LINK", "CARRIES");
    json_array_foreach(json_object_get(vm, "ports"), i, p)
    {
        printf("%-4lld  %-14s  %-5lld  %-4s  ",
               (long long)json_integer_value(json_object_get(p, "port")), str(p, "name"),
               (long long)json_integer_value(json_object_get(p, "iface")), str(p, "link"));
        if (json_array_size(json_object_get(p, "carries")) == 0)
            printf("-");
        json_array_foreach(json_object_get(p, "carries"), j, s)
                printf("%s%s", j ? ", " : "", json_string_value(s));
        printf("\n");
    }
    if (json_array_size(json_object_get(vm, "functions"))) {
        printf("\npassed through:");
        json_array_foreach(json_object_get(vm, "functions"), i, s)
                printf("%s%s", i ? ", " : " ", json_string_value(s));
        printf("\n");
    }
    printf("\n");
    holdings_table(json_object_get(vm, "holdings"));
}

/* A drops object's total: the reasons are in -j. */
static long long drops_total(const json_t *drops)
{
    const char *k;
    const json_t *v;
    long long n = 0;

    json_object_foreach((json_t *)drops, k, v) n += json_integer_value(v);
    return n;
}

static long long num(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

void print_stats(const json_t *reply)
{
    const json_t *stats = json_object_get(reply, "stats"), *c;
    const char *name;

    printf("%-14s  %12s  %14s  %12s  %14s  %8s\n", "PORT", "RX PACKETS", "RX BYTES", "TX PACKETS",
           "TX BYTES", "DROPS");
    json_object_foreach((json_t *)json_object_get(stats, "ports"), name, c)
            printf("%-14s  %12lld  %14lld  %12lld  %14lld  %8lld\n", name, num(c, "rx_packets"),
                   num(c, "rx_bytes"), num(c, "tx_packets"), num(c, "tx_bytes"),
                   drops_total(json_object_get(c, "drops")));
    printf("\n%-16s  %-8s  %-10s  %12s  %14s  %12s  %14s  %8s\n", "SLICE", "UPLINK", "VM PORT",
           "TO VM PKTS", "TO VM BYTES", "TO WIRE PKTS", "TO WIRE BYTES", "DROPS");
    json_object_foreach((json_t *)json_object_get(stats, "slices"), name, c)
            printf("%-16s  %-8s  %-10s  %12lld  %14lld  %12lld  %14lld  %8lld\n", name,
                   str(c, "uplink"), str(c, "vm_port"), num(c, "to_vm_packets"),
                   num(c, "to_vm_bytes"), num(c, "to_wire_packets"), num(c, "to_wire_bytes"),
                   drops_total(json_object_get(c, "drops")));
}

void print_nothing(const json_t *reply)
{
    (void)reply;
}

void print_event(const json_t *event, bool json)
{
    if (json) {
        char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(text ? text : "{}");
        free(text);
        return;
    }
    {
        time_t t = (time_t)json_real_value(json_object_get(event, "time"));
        struct tm tm;
        char when[32];
        localtime_r(&t, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s  %-9s %-10s %s\n", when, str(event, "kind"), str(event, "subject"),
               str(event, "text"));
    }
}
