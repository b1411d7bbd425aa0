/* Configuration keys, JSON and flags; see config.h. */
#include "config.h"
#include "common/json_type.h"
#include "vfio/pci.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

static int fail(struct config_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int fail(struct config_error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

void config_defaults(struct vmm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->cmdline, sizeof(cfg->cmdline), "console=ttyS0");
    cfg->memory_mib = 256;
    cfg->vcpus = 1;
    cfg->console = CONSOLE_STDOUT;
    cfg->on_reboot = REBOOT_EXIT;
}

/* A decimal whole number in [min, max], nothing else. */
static int parse_uint(const char *key, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                      struct config_error *err)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return fail(err, "%s: '%s' is not a whole number", key, s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end)
        return fail(err, "%s: '%s' is not a whole number", key, s);
    if (errno == ERANGE || v < min || v > max)
        return fail(err, "%s: %s is out of range (%llu..%llu)", key, s, (unsigned long long)min,
                    (unsigned long long)max);
    *out = v;
    return 0;
}

static int set_string(const char *key, char *dst, size_t cap, const char *value, bool allow_empty,
                      struct config_error *err)
{
    size_t len = strlen(value);

    if (!allow_empty && len == 0)
        return fail(err, "%s: must not be empty", key);
    if (len >= cap)
        return fail(err, "%s: %zu bytes is too long (at most %zu)", key, len, cap - 1);
    memcpy(dst, value, len + 1);
    return 0;
}

static int set_pin_text(struct vmm_config *cfg, const char *value, struct config_error *err)
{
    unsigned pin[CONFIG_MAX_VCPUS], n = 0;
    const char *p = value;

    if (!*p)
        return fail(err, "pin: must list at least one host CPU");
    for (;;) {
        char item[16];
        size_t len = strcspn(p, ",");
        uint64_t v = 0; /* -O3 cannot see that parse_uint sets it on success */

        if (len == 0 || len >= sizeof(item))
            return fail(err, "pin: item %u of '%s' is not a CPU number", n, value);
        memcpy(item, p, len);
        item[len] = 0;
        if (n == CONFIG_MAX_VCPUS)
            return fail(err, "pin: more than %u CPUs", CONFIG_MAX_VCPUS);
        if (parse_uint("pin", item, 0, CPU_SETSIZE - 1, &v, err))
            return fail(err, "pin[%u]: '%s' is not a CPU number below %d", n, item, CPU_SETSIZE);
        pin[n++] = (unsigned)v;
        p += len;
        if (!*p)
            break;
        p++;
    }
    memcpy(cfg->pin, pin, n * sizeof(pin[0]));
    cfg->npin = n;
    return 0;
}

static int set_console(struct vmm_config *cfg, const char *value, struct config_error *err)
{
    if (!strcmp(value, "stdout")) {
        cfg->console = CONSOLE_STDOUT;
        cfg->console_path[0] = 0;
        return 0;
    }
    if (!strcmp(value, "none")) {
        cfg->console = CONSOLE_NONE;
        cfg->console_path[0] = 0;
        return 0;
    }
    if (!strncmp(value, "file:", 5) || !strncmp(value, "socket:", 7)) {
        bool file = value[0] == 'f';
        const char *path = value + (file ? 5 : 7);
        size_t cap = file ? sizeof(cfg->console_path) : sizeof(((struct vmm_config *)0)->control);
        if (set_string("console", cfg->console_path, cap, path, false, err))
            return -1;
        cfg->console = file ? CONSOLE_FILE : CONSOLE_SOCKET;
        return 0;
    }
    return fail(err, "console: '%s' is not one of stdout, file:PATH, socket:PATH, none", value);
}

/* "0000:00:03.0,0000:04:00.1": each a PCI address as sysfs writes it, none
 * twice; "" gives none. */
static int set_passthrough(struct vmm_config *cfg, const char *value, struct config_error *err)
{
    char list[CONFIG_MAX_PASSTHROUGH][CONFIG_PCI_ADDR_LEN];
    unsigned n = 0;
    const char *p = value;

    while (*p) {
        size_t len = strcspn(p, ",");
        char item[CONFIG_PCI_ADDR_LEN];
        struct evr_err verr;

        if (n == CONFIG_MAX_PASSTHROUGH)
            return fail(err, "passthrough: more than %d functions", CONFIG_MAX_PASSTHROUGH);
        if (len == 0 || len >= sizeof(item))
            return fail(err, "passthrough[%u]: '%.*s' is not a PCI address like 0000:00:03.0", n,
                        (int)(len > 32 ? 32 : len), p);
        memcpy(item, p, len);
        item[len] = 0;
        if (evr_pci_addr_check(item, &verr))
            return fail(err, "passthrough[%u]: %s", n, verr.msg);
        for (unsigned i = 0; i < n; i++)
            if (!strcmp(list[i], item))
                return fail(err, "passthrough: %s is listed twice", item);
        memcpy(list[n++], item, len + 1);
        p += len;
        if (*p && !*++p)
            return fail(err, "passthrough: '%s' ends with a comma", value);
    }
    memcpy(cfg->passthrough, list, sizeof(list));
    cfg->npassthrough = n;
    return 0;
}

int config_parse_mac(const char *text, uint8_t mac[CONFIG_MAC_LEN])
{
    unsigned b[CONFIG_MAC_LEN];
    int used = 0;

    if (strlen(text) != 17 ||
        sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &used) != 6 ||
        used != 17)
        return -1;
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? text[i] != ':' : !strchr("0123456789abcdefABCDEF", text[i]))
            return -1;
    if (b[0] & 1)
        return -1; /* a multicast address cannot be an interface's */
    for (int i = 0; i < CONFIG_MAC_LEN; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

/* An interface without "mac" gets a locally administered address made from
 * its socket path: stable across restarts, apart for each evrd VM.K.sock. */
static void mac_from_path(const char *path, uint8_t mac[CONFIG_MAC_LEN])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

    for (const char *p = path; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    mac[0] = 0x02;
    for (int i = 1; i < CONFIG_MAC_LEN; i++)
        mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

/* kind is "vhost_user" (target a socket path) or "tap" (an interface name);
 * queues is the queue pairs asked for (0: the default, 1). */
static int add_net(struct vmm_config *cfg, const char *where, const char *kind, const char *target,
                   const char *mac, unsigned long long queues, bool link_down,
                   struct config_error *err)
{
    struct config_net *n;
    char what[96];

    if (cfg->nnet == CONFIG_MAX_NET)
        return fail(err, "%s: more than %d interfaces", where, CONFIG_MAX_NET);
    n = &cfg->net[cfg->nnet];
    memset(n, 0, sizeof(*n));
    snprintf(what, sizeof(what), "%s: %s", where, kind);
    if (kind[0] == 't' ? set_string(what, n->tap, sizeof(n->tap), target, false, err)
                       : set_string(what, n->vhost_user, sizeof(n->vhost_user), target, false, err))
        return -1;
    if (kind[0] == 't' && strpbrk(target, "/: \t\n"))
        return fail(err, "%s: '%s' is not an interface name", what, target);
    if (mac && config_parse_mac(mac, n->mac))
        return fail(err, "%s: mac '%s' is not a unicast MAC address (aa:bb:cc:dd:ee:ff)", where,
                    mac);
    if (!mac)
        mac_from_path(target, n->mac);
    if (queues > CONFIG_MAX_NET_QUEUES)
        return fail(err, "%s: queues %llu is not 1 to %d", where, queues, CONFIG_MAX_NET_QUEUES);
    n->queues = queues ? (unsigned)queues : 1;
    n->link_down = link_down;
    if (kind[0] == 't' && n->queues > 1)
        return fail(err, "%s: tap %s: queues %u: a tap interface has one queue pair", where, target,
                    n->queues);
    cfg->nnet++;
    return 0;
}

/* Where the first of the flag's options (,mac= ,queues= ,link=) starts in
 * value, or NULL: the target (a path may hold commas) ends there. */
static const char *first_net_option(const char *value)
{
    static const char *const opts[] = {",mac=", ",queues=", ",link="};
    const char *first = NULL;

    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        const char *at = strstr(value, opts[i]);
        if (at && (!first || at < first))
            first = at;
    }
    return first;
}

/* The flag's SPEC: vhost_user:PATH or tap:IFNAME, then ,mac=MAC, ,queues=N
 * and ,link=up|down in any order, each at most once. */
static int add_net_text(struct vmm_config *cfg, const char *value, struct config_error *err)
{
    char target[sizeof(cfg->net[0].vhost_user)], mac[32] = "";
    const char *kind = !strncmp(value, "vhost_user:", 11) ? "vhost_user"
                       : !strncmp(value, "tap:", 4)       ? "tap"
                                                          : NULL;
    const char *opt;
    unsigned long long queues = 0;
    int link = -1; /* -1: not given, else whether up */
    size_t len;

    if (!kind)
        return fail(err,
                    "net: '%s' is not vhost_user:PATH or tap:IFNAME (then ,mac=MAC, "
                    ",queues=N, ,link=up|down)",
                    value);
    value += strlen(kind) + 1;
    opt = first_net_option(value);
    len = opt ? (size_t)(opt - value) : strlen(value);
    if (len >= sizeof(target))
        return fail(err, "net: %s: %zu bytes is too long", kind, len);
    memcpy(target, value, len);
    target[len] = 0;
    while (opt && *opt) {
        size_t n = strcspn(opt + 1, ",");
        if (!strncmp(opt, ",mac=", 5) && !mac[0] && n - 4 < sizeof(mac)) {
            memcpy(mac, opt + 5, n - 4);
            mac[n - 4] = 0;
        } else if (!strncmp(opt, ",queues=", 8) && !queues && n > 7 &&
                   strspn(opt + 8, "0123456789") == n - 7 && n - 7 < 4) {
            queues = strtoull(opt + 8, NULL, 10);
            if (!queues)
                return fail(err, "net: %s %s: queues 0 is not 1 to %d", kind, target,
                            CONFIG_MAX_NET_QUEUES);
        } else if (!strncmp(opt, ",link=", 6) && link < 0 &&
                   ((n == 7 && !strncmp(opt + 6, "up", 2)) ||
                    (n == 9 && !strncmp(opt + 6, "down", 4)))) {
            link = n == 7;
        } else {
            return fail(err,
                        "net: %s %s: '%.*s' is not mac=MAC, queues=N or link=up|down (each once)",
                        kind, target, (int)n, opt + 1);
        }
        opt += 1 + n;
    }
    return add_net(cfg, "net", kind, target, mac[0] ? mac : NULL, queues, link == 0, err);
}

/* The key's value: [{"vhost_user": PATH | "tap": IFNAME, "mac": MAC}, ...],
 * replacing the list. */
static int set_net_json(struct vmm_config *cfg, const char *source, json_t *v,
                        struct config_error *err)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v))
        return fail(err, "%s: key 'net': expected an array of interfaces, got %s", source,
                    evr_json_type_name(v));
    cfg->nnet = 0;
    json_array_foreach(v, i, item)
    {
        const char *k, *kind = NULL, *target = NULL, *mac = NULL;
        unsigned long long queues = 0;
        bool link_down = false;
        char where[64];
        json_t *f;

        snprintf(where, sizeof(where), "%s: net[%zu]", source, i);
        if (!json_is_object(item))
            return fail(err, "%s: expected an object {\"vhost_user\": PATH} or {\"tap\": IFNAME}",
                        where);
        json_object_foreach(item, k, f)
        {
            if (strcmp(k, "vhost_user") && strcmp(k, "tap") && strcmp(k, "mac") &&
                strcmp(k, "queues") && strcmp(k, "link"))
                return fail(err, "%s: unknown key '%s' (vhost_user, tap, mac, queues, link)", where,
                            k);
            if (!strcmp(k, "queues")) {
                if (!json_is_integer(f) || json_integer_value(f) < 1 ||
                    json_integer_value(f) > CONFIG_MAX_NET_QUEUES)
                    return fail(err, "%s: key 'queues' must be a number 1 to %d", where,
                                CONFIG_MAX_NET_QUEUES);
                queues = (unsigned long long)json_integer_value(f);
                continue;
            }
            if (!json_is_string(f) || strlen(json_string_value(f)) != json_string_length(f))
                return fail(err, "%s: key '%s' must be a string", where, k);
            if (!strcmp(k, "link")) {
                if (strcmp(json_string_value(f), "up") && strcmp(json_string_value(f), "down"))
                    return fail(err, "%s: key 'link' must be \"up\" or \"down\", not '%s'", where,
                                json_string_value(f));
                link_down = !strcmp(json_string_value(f), "down");
                continue;
            }
            if (k[0] == 'm') {
                mac = json_string_value(f);
                continue;
            }
            if (kind)
                return fail(err, "%s: both vhost_user and tap: one backend an interface", where);
            kind = k;
            target = json_string_value(f);
        }
        if (!kind)
            return fail(err, "%s: no \"vhost_user\": PATH or \"tap\": IFNAME", where);
        if (add_net(cfg, where, kind, target, mac, queues, link_down, err))
            return -1;
    }
    return 0;
}

enum key_type { KEY_STRING, KEY_UINT, KEY_BOOL, KEY_LIST, KEY_NET, KEY_ADDRS };

struct key {
    const char *name;
    enum key_type type;
};

static const struct key keys[] = {
        {"kernel", KEY_STRING},     {"initrd", KEY_STRING},    {"cmdline", KEY_STRING},
        {"memory", KEY_UINT},       {"vcpus", KEY_UINT},       {"pin", KEY_LIST},
        {"hugepages", KEY_BOOL},    {"console", KEY_STRING},   {"control", KEY_STRING},
        {"on_reboot", KEY_STRING},  {"pci_test", KEY_BOOL},    {"net", KEY_NET},
        {"passthrough", KEY_ADDRS}, {"exit_file", KEY_STRING},
};

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

bool config_is_key(const char *key)
{
    return find_key(key) != NULL;
}

int config_set(struct vmm_config *cfg, const char *key, const char *value, struct config_error *err)
{
    uint64_t v;

    if (!find_key(key))
        return fail(err, "unknown key '%s'", key);
    if (!strcmp(key, "kernel"))
        return set_string(key, cfg->kernel, sizeof(cfg->kernel), value, false, err);
    if (!strcmp(key, "initrd"))
        return set_string(key, cfg->initrd, sizeof(cfg->initrd), value, true, err);
    if (!strcmp(key, "cmdline"))
        return set_string(key, cfg->cmdline, sizeof(cfg->cmdline), value, true, err);
    if (!strcmp(key, "control"))
        return set_string(key, cfg->control, sizeof(cfg->control), value, true, err);
    if (!strcmp(key, "exit_file"))
        return set_string(key, cfg->exit_file, sizeof(cfg->exit_file), value, true, err);
    if (!strcmp(key, "memory")) {
        if (parse_uint(key, value, CONFIG_MIN_MEMORY_MIB, CONFIG_MAX_MEMORY_MIB, &v, err))
            return -1;
        cfg->memory_mib = v;
        return 0;
    }
    if (!strcmp(key, "vcpus")) {
        if (parse_uint(key, value, 1, CONFIG_MAX_VCPUS, &v, err))
            return -1;
        cfg->vcpus = (unsigned)v;
        return 0;
    }
    if (!strcmp(key, "pin"))
        return set_pin_text(cfg, value, err);
    if (!strcmp(key, "hugepages") || !strcmp(key, "pci_test")) {
        if (strcmp(value, "true") && strcmp(value, "false"))
            return fail(err, "%s: '%s' is not true or false", key, value);
        *(key[0] == 'h' ? &cfg->hugepages : &cfg->pci_test) = value[0] == 't';
        return 0;
    }
    if (!strcmp(key, "console"))
        return set_console(cfg, value, err);
    if (!strcmp(key, "net"))
        return add_net_text(cfg, value, err);
    if (!strcmp(key, "passthrough"))
        return set_passthrough(cfg, value, err);
    /* on_reboot */
    if (!strcmp(value, "exit"))
        cfg->on_reboot = REBOOT_EXIT;
    else if (!strcmp(value, "restart"))
        cfg->on_reboot = REBOOT_RESTART;
    else
        return fail(err, "on_reboot: '%s' is not exit or restart", value);
    return 0;
}

/* Turns one JSON value into the text form config_set takes. */
static int json_value_text(const char *source, const struct key *k, json_t *v, char *buf,
                           size_t cap, struct config_error *err)
{
    switch (k->type) {
    case KEY_STRING:
        if (!json_is_string(v))
            return fail(err, "%s: key '%s': expected a string, got %s", source, k->name,
                        evr_json_type_name(v));
        if (strlen(json_string_value(v)) != json_string_length(v))
            return fail(err, "%s: key '%s': contains a NUL byte", source, k->name);
        if (json_string_length(v) >= cap)
            return fail(err, "%s: key '%s': %zu bytes is too long", source, k->name,
                        json_string_length(v));
        snprintf(buf, cap, "%s", json_string_value(v));
        return 0;
    case KEY_UINT:
        if (!json_is_integer(v))
            return fail(err, "%s: key '%s': expected an integer, got %s", source, k->name,
                        evr_json_type_name(v));
        if (json_integer_value(v) < 0)
            return fail(err, "%s: key '%s': %lld is negative", source, k->name,
                        (long long)json_integer_value(v));
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return 0;
    case KEY_BOOL:
        if (!json_is_boolean(v))
            return fail(err, "%s: key '%s': expected true or false, got %s", source, k->name,
                        evr_json_type_name(v));
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
        return 0;
    case KEY_NET:
        return -1; /* config_load_json takes it apart itself */
    case KEY_LIST: {
        size_t i, used = 0;
        json_t *item;
        if (!json_is_array(v))
            return fail(err, "%s: key '%s': expected an array of CPU numbers, got %s", source,
                        k->name, evr_json_type_name(v));
        if (json_array_size(v) == 0)
            return fail(err, "%s: key '%s': must list at least one host CPU", source, k->name);
        buf[0] = 0;
        json_array_foreach(v, i, item)
        {
            int n;
            if (!json_is_integer(item) || json_integer_value(item) < 0)
                return fail(err, "%s: key '%s'[%zu]: expected a CPU number, got %s", source,
                            k->name, i,
                            json_is_integer(item) ? "a negative one" : evr_json_type_name(item));
            n = snprintf(buf + used, cap - used, "%s%lld", i ? "," : "",
                         (long long)json_integer_value(item));
            if (n < 0 || (size_t)n >= cap - used)
                return fail(err, "%s: key '%s': too many CPUs", source, k->name);
            used += (size_t)n;
        }
        return 0;
    }
    case KEY_ADDRS: {
        size_t i, used = 0;
        json_t *item;
        if (!json_is_array(v))
            return fail(err, "%s: key '%s': expected an array of PCI addresses, got %s", source,
                        k->name, evr_json_type_name(v));
        buf[0] = 0;
        json_array_foreach(v, i, item)
        {
            int n;
            if (!json_is_string(item) || strchr(json_string_value(item), ','))
                return fail(err, "%s: key '%s'[%zu]: expected a PCI address, got %s", source,
                            k->name, i, json_is_string(item) ? "a list" : evr_json_type_name(item));
            n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", json_string_value(item));
            if (n < 0 || (size_t)n >= cap - used)
                return fail(err, "%s: key '%s': too many functions", source, k->name);
            used += (size_t)n;
        }
        return 0;
    }
    }
    return -1;
}

int config_load_json(struct vmm_config *cfg, const char *text, const char *source,
                     struct config_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    struct vmm_config next = *cfg;
    const char *name;
    json_t *v;
    char buf[CONFIG_CMDLINE_MAX + 16];
    int rc = -1;

    if (!root)
        return fail(err, "%s: line %d column %d: %s", source, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        fail(err, "%s: expected a JSON object, got %s", source, evr_json_type_name(root));
        goto out;
    }
    json_object_foreach(root, name, v)
    {
        const struct key *k = find_key(name);
        struct config_error inner;
        if (!k) {
            fail(err, "%s: unknown key '%s'", source, name);
            goto out;
        }
        if (k->type == KEY_NET) {
            if (set_net_json(&next, source, v, err))
                goto out;
            continue;
        }
        if (json_value_text(source, k, v, buf, sizeof(buf), err))
            goto out;
        if (config_set(&next, name, buf, &inner)) {
            fail(err, "%s: %s", source, inner.msg);
            goto out;
        }
    }
    *cfg = next; /* all or nothing */
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int config_load_file(struct vmm_config *cfg, const char *path, struct config_error *err)
{
    FILE *f = fopen(path, "re");
    char *text;
    long len;
    int rc;

    if (!f)
        return fail(err, "config %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return fail(err, "config %s: cannot read it", path);
    }
    if (len > 1024 * 1024) {
        fclose(f);
        return fail(err, "config %s: %ld bytes is too large for a VM configuration", path, len);
    }
    text = calloc(1, (size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        free(text);
        fclose(f);
        return fail(err, "config %s: cannot read it", path);
    }
    fclose(f);
    rc = config_load_json(cfg, text, path, err);
    free(text);
    return rc;
}

static void format_cpuset(const cpu_set_t *set, char *buf, size_t cap)
{
    size_t used = 0;

    buf[0] = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        int e = c;
        if (!CPU_ISSET(c, set))
            continue;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
            e++;
        if (used < cap)
            used += (size_t)snprintf(buf + used, cap - used, e > c ? "%s%d-%d" : "%s%d",
                                     used ? "," : "", c, e);
        c = e;
    }
}

/* path with its directory resolved (symlinks, "..", "//"), so two
 * spellings of one file compare equal; as given when the directory does
 * not exist (yet). */
static void resolve_path(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX], real[PATH_MAX];

    if (!slash) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    }
    if (!realpath(dir, real)) {
        snprintf(out, outlen, "%s", path);
        return;
    }
    snprintf(out, outlen, "%s/%s", strcmp(real, "/") ? real : "", slash ? slash + 1 : path);
}

/* Every unix socket (and the console's file) of the VM is its own: two
 * on one path would take each other's place (ctl/listen.h). Names both
 * keys. */
static int check_socket_paths(const struct vmm_config *cfg, struct config_error *err)
{
    struct {
        char key[32];
        const char *path;
    } use[2 + CONFIG_MAX_NET];
    unsigned n = 0;

    if (cfg->control[0]) {
        snprintf(use[n].key, sizeof(use[n].key), "control");
        use[n++].path = cfg->control;
    }
    if ((cfg->console == CONSOLE_SOCKET || cfg->console == CONSOLE_FILE) && cfg->console_path[0]) {
        snprintf(use[n].key, sizeof(use[n].key),
                 "console %s:", cfg->console == CONSOLE_SOCKET ? "socket" : "file");
        use[n++].path = cfg->console_path;
    }
    for (unsigned i = 0; i < cfg->nnet; i++) {
        if (!cfg->net[i].vhost_user[0])
            continue;
        snprintf(use[n].key, sizeof(use[n].key), "net[%u] vhost_user:", i);
        use[n++].path = cfg->net[i].vhost_user;
    }
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < i; j++) {
            char a[PATH_MAX + 256], b[PATH_MAX + 256];

            resolve_path(use[i].path, a, sizeof(a));
            resolve_path(use[j].path, b, sizeof(b));
            if (strcmp(use[i].path, use[j].path) && strcmp(a, b))
                continue;
            return fail(err, "%s %s and %s %s are one path: each socket of a VM needs its own",
                        use[j].key, use[j].path, use[i].key, use[i].path);
        }
    }
    return 0;
}

int config_check(const struct vmm_config *cfg, struct config_error *err)
{
    cpu_set_t avail;
    struct sysinfo si;

    if (!cfg->kernel[0])
        return fail(err, "kernel: no kernel given (--kernel PATH or \"kernel\" in the config)");
    if (cfg->npin && cfg->npin != cfg->vcpus)
        return fail(err, "pin: lists %u host CPUs for %u vCPUs (one per vCPU)", cfg->npin,
                    cfg->vcpus);
    if (cfg->npin && sched_getaffinity(0, sizeof(avail), &avail) == 0) {
        for (unsigned i = 0; i < cfg->npin; i++) {
            if (!CPU_ISSET(cfg->pin[i], &avail)) {
                char list[256];
                format_cpuset(&avail, list, sizeof(list));
                return fail(
                        err,
                        "pin[%u]: host CPU %u does not exist or is not available (available: %s)",
                        i, cfg->pin[i], list);
            }
        }
    }
    if (check_socket_paths(cfg, err) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->nnet; i++) {
        for (unsigned j = 0; j < i; j++) {
            if (cfg->net[i].tap[0] && !strcmp(cfg->net[i].tap, cfg->net[j].tap))
                return fail(err, "net[%u]: tap %s is also net[%u]'s", i, cfg->net[i].tap, j);
            if (!memcmp(cfg->net[i].mac, cfg->net[j].mac, CONFIG_MAC_LEN))
                return fail(err, "net[%u]: its MAC is also net[%u]'s", i, j);
        }
    }
    if (sysinfo(&si) == 0) {
        uint64_t host = (uint64_t)si.totalram * si.mem_unit;
        if (cfg->memory_mib * 1024 * 1024 > host)
            return fail(err, "memory: %llu MiB does not fit in this host's %llu MiB of RAM",
                        (unsigned long long)cfg->memory_mib,
                        (unsigned long long)(host / (1024 * 1024)));
    }
    return 0;
}
