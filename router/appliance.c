/* The appliance file (appliance.h): parsed into a scratch copy, checked as a
 * whole, kept only when every rule holds. */
#include "appliance.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_type.h"
#include "vfio/pci.h"
#include "vmm/config.h" /* evr-vmm's configuration parser: one parser for the "vmm" object */
#include "slice.h"

#define APPL_FILE_MAX (4u * 1024u * 1024u)

/* Where in the file a value is, for messages: "vms[1].cores[0]". */
struct where {
    const char *source;
    char path[160];
};

static struct where at(const struct where *parent, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static struct where at(const struct where *parent, const char *fmt, ...)
{
    struct where w = {.source = parent->source};
    char leaf[48];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(leaf, sizeof(leaf), fmt, ap);
    va_end(ap);
    /* a path too long for the buffer is cut: it only words a message */
    if (snprintf(w.path, sizeof(w.path), "%s%s%s", parent->path,
                 parent->path[0] && leaf[0] != '[' ? "." : "", leaf) < 0)
        w.path[0] = 0;
    return w;
}

static int bad(struct evr_err *err, const struct where *w, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int bad(struct evr_err *err, const struct where *w, const char *fmt, ...)
{
    char what[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return evr_fail(err, EINVAL, "%s: %s: %s", w->source, w->path[0] ? w->path : "top level", what);
}

/* Refuses keys of obj not in allowed (NULL-terminated): a typo is an error. */
static int only_keys(const json_t *obj, const char *const *allowed, const struct where *w,
                     struct evr_err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (const char *const *k = allowed; *k; k++)
            known = known || !strcmp(*k, key);
        if (!known)
            return bad(err, w, "unknown key '%s'", key);
    }
    return 0;
}

static int get_uint(const json_t *obj, const char *key, uint64_t min, uint64_t max, bool required,
                    uint64_t *out, const struct where *parent, struct evr_err *err)
{
    json_t *v = json_object_get(obj, key);
    struct where w = at(parent, "%s", key);

    if (!v) {
        if (required)
            return bad(err, parent, "key '%s' is required", key);
        return 0;
    }
    if (!json_is_integer(v))
        return bad(err, &w, "expected an integer, got %s", evr_json_type_name(v));
    if (json_integer_value(v) < (json_int_t)min || (uint64_t)json_integer_value(v) > max)
        return bad(err, &w, "%lld is outside %llu..%llu", (long long)json_integer_value(v),
                   (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_string(const json_t *obj, const char *key, char *dst, size_t cap,
                      const struct where *parent, struct evr_err *err)
{
    json_t *v = json_object_get(obj, key);
    struct where w = at(parent, "%s", key);

    if (!json_is_string(v))
        return bad(err, &w, "expected a string, got %s", evr_json_type_name(v));
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(err, &w, "contains a NUL byte");
    if (json_string_length(v) == 0)
        return bad(err, &w, "is empty");
    if (json_string_length(v) >= cap)
        return bad(err, &w, "%zu bytes is longer than %zu", json_string_length(v), cap - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_cores(const json_t *obj, struct evr_appl_cores *out, const struct where *parent,
                     struct evr_err *err)
{
    json_t *v = json_object_get(obj, "cores"), *item;
    struct where w = at(parent, "cores");
    size_t i;

    if (!json_is_array(v))
        return bad(err, &w, "expected an array of core numbers, got %s", evr_json_type_name(v));
    if (json_array_size(v) == 0 || json_array_size(v) > EVR_APPL_CORES)
        return bad(err, &w, "must list 1 to %u cores", EVR_APPL_CORES);
    out->count = 0;
    json_array_foreach(v, i, item)
    {
        struct where wi = at(&w, "[%zu]", i);
        if (!json_is_integer(item))
            return bad(err, &wi, "expected a core number, got %s", evr_json_type_name(item));
        if (json_integer_value(item) < 0 || json_integer_value(item) >= EVR_APPL_CORE_MAX)
            return bad(err, &wi, "%lld is not a core number (0..%u)",
                       (long long)json_integer_value(item), EVR_APPL_CORE_MAX - 1);
        for (unsigned j = 0; j < out->count; j++)
            if (out->core[j] == json_integer_value(item))
                return bad(err, &wi, "core %lld is listed twice",
                           (long long)json_integer_value(item));
        out->core[out->count++] = (uint16_t)json_integer_value(item);
    }
    return 0;
}

static int parse_port(struct evr_appliance *a, const json_t *obj, const struct where *w,
                      struct evr_err *err)
{
    static const char *const keys[] = {"name", "netdev", "pci", "devargs", "vfs", NULL};
    static const char *const backing_keys[] = {"netdev", "pci", "devargs"};
    struct evr_appl_port *p = &a->ports[a->nports];
    char name[32];
    struct evr_slice s;
    struct evr_parse_error perr;
    unsigned backings = 0;
    uint64_t vfs = 0;

    if (!json_is_object(obj))
        return bad(err, w, "expected an object, got %s", evr_json_type_name(obj));
    if (only_keys(obj, keys, w, err) || get_string(obj, "name", name, sizeof(name), w, err))
        return -1;
    if (evr_slice_parse(name, &s, &perr) || s.kind != EVR_SLICE_PORT ||
        s.port_first != s.port_last) {
        struct where wn = at(w, "name");
        return bad(err, &wn, "'%s' is not a port name (port0, port1, ...)", name);
    }
    if (evr_appliance_port(a, s.port_first)) {
        struct where wn = at(w, "name");
        return bad(err, &wn, "%s is declared twice", name);
    }
    p->number = s.port_first;
    for (unsigned i = 0; i < 3; i++) {
        if (!json_object_get(obj, backing_keys[i]))
            continue;
        backings++;
        p->backing = (enum evr_port_backing)i;
        if (get_string(obj, backing_keys[i], p->backing_value, sizeof(p->backing_value), w, err))
            return -1;
    }
    if (backings != 1)
        return bad(err, w, "%s needs exactly one of netdev, pci or devargs (has %u)", name,
                   backings);
    if (p->backing == EVR_BACKING_PCI) {
        /* vfio/'s rule, the one sysfs names functions by: an address it
         * would refuse later is refused here */
        struct evr_err why;
        if (evr_pci_addr_check(p->backing_value, &why)) {
            struct where wp = at(w, "pci");
            return bad(err, &wp, "%s", why.msg);
        }
    }
    if (get_uint(obj, "vfs", 0, EVR_VF_MAX + 1, false, &vfs, w, err))
        return -1;
    if (vfs && p->backing != EVR_BACKING_PCI) {
        struct where wv = at(w, "vfs");
        return bad(err, &wv, "only a port backed by a PCI function can carve VFs");
    }
    p->vfs = (uint16_t)vfs;
    a->nports++;
    return 0;
}

static bool valid_vm_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* Checks the "vmm" object with evr-vmm's own parser, so evrd never starts a
 * VM that evr-vmm would refuse for a key evrd could have named. */
static int check_vmm(const json_t *vmm, unsigned ncores, unsigned ports, const struct where *w,
                     struct evr_err *err)
{
    static const char *const evrd_keys[] = {"pin", "control", "console"};
    struct vmm_config cfg;
    struct config_error cerr;
    char *text;
    int rc;

    if (!json_is_object(vmm))
        return bad(err, w, "expected an evr-vmm configuration object, got %s",
                   evr_json_type_name(vmm));
    for (unsigned i = 0; i < 3; i++)
        if (json_object_get(vmm, evrd_keys[i]))
            return bad(err, w, "'%s' is evrd's to set (the VM's cores are \"cores\")",
                       evrd_keys[i]);
    text = json_dumps(vmm, JSON_COMPACT);
    if (!text)
        return evr_fail(err, ENOMEM, "%s: %s: out of memory", w->source, w->path);
    config_defaults(&cfg);
    rc = config_load_json(&cfg, text, "evr-vmm", &cerr);
    free(text);
    if (rc)
        return bad(err, w, "%s", cerr.msg);
    if (!cfg.kernel[0])
        return bad(err, w, "key 'kernel' is required");
    /* "net" here is the management ports; evrd adds the vswitch ones */
    for (unsigned i = 0; i < cfg.nnet; i++)
        if (cfg.net[i].vhost_user[0])
            return bad(err, w,
                       "net[%u]: only management ports ({\"tap\": IFNAME}) are "
                       "declared here; the VM's vswitch ports come from \"ports\"",
                       i);
    if (cfg.nnet + ports > CONFIG_MAX_NET)
        return bad(err, w, "%u management and %u vswitch ports: a VM has at most %u", cfg.nnet,
                   ports, CONFIG_MAX_NET);
    if (cfg.vcpus != ncores)
        return bad(err, w, "%u vCPUs but %u cores: each vCPU is pinned to one core", cfg.vcpus,
                   ncores);
    return 0;
}

static int parse_vm(struct evr_appliance *a, const json_t *obj, const struct where *w,
                    struct evr_err *err)
{
    static const char *const keys[] = {"name", "ports", "queues", "cores", "vmm", NULL};
    struct evr_appl_vm *vm = &a->vms[a->nvms];
    uint64_t ports = 1, queues = 1;
    struct where wv = at(w, "vmm");

    if (!json_is_object(obj))
        return bad(err, w, "expected an object, got %s", evr_json_type_name(obj));
    if (only_keys(obj, keys, w, err) || get_string(obj, "name", vm->name, sizeof(vm->name), w, err))
        return -1;
    if (!valid_vm_name(vm->name)) {
        struct where wn = at(w, "name");
        return bad(err, &wn, "'%s': a VM name is lower-case letters, digits, '-' and '_'",
                   vm->name);
    }
    if (evr_appliance_vm(a, vm->name) >= 0) {
        struct where wn = at(w, "name");
        return bad(err, &wn, "VM %s is declared twice", vm->name);
    }
    if (get_uint(obj, "ports", 0, EVR_APPL_VM_PORTS, false, &ports, w, err) ||
        get_uint(obj, "queues", 1, CONFIG_MAX_NET_QUEUES, false, &queues, w, err) ||
        get_cores(obj, &vm->cores, w, err) ||
        check_vmm(json_object_get(obj, "vmm"), vm->cores.count, (unsigned)ports, &wv, err))
        return -1;
    vm->ports = (unsigned)ports;
    vm->queues = (unsigned)queues;
    vm->vmm = json_deep_copy(json_object_get(obj, "vmm"));
    if (!vm->vmm)
        return evr_fail(err, ENOMEM, "%s: out of memory", w->source);
    a->nvms++;
    return 0;
}

/* No core serves two users unless the file allows it. */
static int check_core_sharing(const struct evr_appliance *a, const char *source,
                              struct evr_err *err)
{
    const char *user[EVR_APPL_CORE_MAX] = {0};

    for (unsigned u = 0; u <= a->nvms; u++) {
        const struct evr_appl_cores *c = u < a->nvms ? &a->vms[u].cores : &a->vswitch_cores;
        const char *name = u < a->nvms ? a->vms[u].name : "the vswitch";
        for (unsigned i = 0; i < c->count; i++) {
            if (user[c->core[i]])
                return evr_fail(err, EBUSY,
                                "%s: core %u is given to both %s and %s (set \"share_cores\": "
                                "true to allow it)",
                                source, c->core[i], user[c->core[i]], name);
            user[c->core[i]] = name;
        }
    }
    return 0;
}

static int parse_root(struct evr_appliance *a, const json_t *root, const char *source,
                      struct evr_err *err)
{
    static const char *const keys[] = {"state_dir", "vswitch", "ports", "vms", "share_cores", NULL};
    static const char *const vswitch_keys[] = {"cores", "memory", "idle_sleep_us", NULL};
    struct where top = {.source = source};
    struct where wvs = at(&top, "vswitch"), wp = at(&top, "ports"), wvm = at(&top, "vms");
    json_t *vswitch, *ports, *vms, *share, *item;
    uint64_t mem = 512, idle = 0;
    size_t i;

    if (!json_is_object(root))
        return bad(err, &top, "expected a JSON object, got %s", evr_json_type_name(root));
    if (only_keys(root, keys, &top, err) ||
        get_string(root, "state_dir", a->state_dir, sizeof(a->state_dir), &top, err))
        return -1;
    if (a->state_dir[0] != '/') {
        struct where ws = at(&top, "state_dir");
        return bad(err, &ws, "'%s' is not an absolute path", a->state_dir);
    }
    share = json_object_get(root, "share_cores");
    if (share && !json_is_boolean(share)) {
        struct where ws = at(&top, "share_cores");
        return bad(err, &ws, "expected true or false, got %s", evr_json_type_name(share));
    }
    a->share_cores = json_is_true(share);

    vswitch = json_object_get(root, "vswitch");
    if (!json_is_object(vswitch))
        return bad(err, &wvs, "expected an object, got %s", evr_json_type_name(vswitch));
    if (only_keys(vswitch, vswitch_keys, &wvs, err) ||
        get_cores(vswitch, &a->vswitch_cores, &wvs, err) ||
        get_uint(vswitch, "memory", 64, 1024 * 1024, false, &mem, &wvs, err) ||
        get_uint(vswitch, "idle_sleep_us", 0, 1000000, false, &idle, &wvs, err))
        return -1;
    a->vswitch_memory_mib = (unsigned)mem;
    a->vswitch_idle_sleep_us = (unsigned)idle;

    ports = json_object_get(root, "ports");
    if (!json_is_array(ports))
        return bad(err, &wp, "expected an array, got %s", evr_json_type_name(ports));
    if (json_array_size(ports) > EVR_APPL_PORT_MAX)
        return bad(err, &wp, "%zu ports is more than %u", json_array_size(ports),
                   EVR_APPL_PORT_MAX);
    json_array_foreach(ports, i, item)
    {
        struct where w = at(&wp, "[%zu]", i);
        if (parse_port(a, item, &w, err))
            return -1;
    }

    vms = json_object_get(root, "vms");
    if (!json_is_array(vms))
        return bad(err, &wvm, "expected an array, got %s", evr_json_type_name(vms));
    if (json_array_size(vms) > EVR_APPL_VM_MAX)
        return bad(err, &wvm, "%zu VMs is more than %u", json_array_size(vms), EVR_APPL_VM_MAX);
    json_array_foreach(vms, i, item)
    {
        struct where w = at(&wvm, "[%zu]", i);
        if (parse_vm(a, item, &w, err))
            return -1;
    }
    return a->share_cores ? 0 : check_core_sharing(a, source, err);
}

int evr_appliance_parse(struct evr_appliance *a, const char *text, const char *source,
                        struct evr_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    int rc;

    memset(a, 0, sizeof(*a));
    if (!root)
        return evr_fail(err, EINVAL, "%s: line %d column %d: %s", source, jerr.line, jerr.column,
                        jerr.text);
    rc = parse_root(a, root, source, err);
    json_decref(root);
    if (rc)
        evr_appliance_free(a);
    return rc;
}

int evr_appliance_load(struct evr_appliance *a, const char *path, struct evr_err *err)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t len;
    int rc;

    memset(a, 0, sizeof(*a));
    if (!f)
        return evr_fail(err, errno, "appliance %s: %s", path, strerror(errno));
    text = malloc(APPL_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return evr_fail(err, ENOMEM, "appliance %s: out of memory", path);
    }
    len = fread(text, 1, APPL_FILE_MAX + 1, f);
    rc = ferror(f);
    fclose(f);
    if (rc || len > APPL_FILE_MAX) {
        free(text);
        return evr_fail(err, rc ? EIO : EFBIG, "appliance %s: %s", path,
                        rc ? "cannot read it" : "larger than 4 MiB");
    }
    text[len] = 0;
    rc = evr_appliance_parse(a, text, path, err);
    free(text);
    return rc;
}

void evr_appliance_free(struct evr_appliance *a)
{
    for (unsigned i = 0; i < a->nvms; i++)
        json_decref(a->vms[i].vmm);
    /* a VM that failed half-way was not counted: its vmm copy was never made */
    memset(a, 0, sizeof(*a));
}

const struct evr_appl_port *evr_appliance_port(const struct evr_appliance *a, unsigned number)
{
    for (unsigned i = 0; i < a->nports; i++)
        if (a->ports[i].number == number)
            return &a->ports[i];
    return NULL;
}

int evr_appliance_vm(const struct evr_appliance *a, const char *name)
{
    for (unsigned i = 0; i < a->nvms; i++)
        if (!strcmp(a->vms[i].name, name))
            return (int)i;
    return -1;
}
