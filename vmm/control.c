/* The VM's control ops and the thread serving them; see control.h. */
#include "control.h"
#include "msix.h"
#include "pci.h"
#include "pci_hotplug.h"
#include "vfio/pci.h"
#include "vfio_pci.h"
#include "virtio_net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEL_TIMEOUT_MS     5000 /* device-del's wait for the guest, unless told */
#define DEL_TIMEOUT_MAX_MS 60000
#define DEL_POLL_MS        100 /* how soon a waiting device-del sees the VM end */

static const char *state_of(struct vm *vm)
{
    if (!vm)
        return "starting";
    if (__atomic_load_n(&vm->outcome, __ATOMIC_ACQUIRE) != VM_RUNNING)
        return "stopping";
    return vm_is_paused(vm) ? "paused" : "running";
}

static json_t *counters_json(struct vm *vm)
{
    json_t *list = json_array();

    for (unsigned i = 0; vm && i < vm->nvcpus; i++) {
        json_t *exits = json_object();
        for (int k = 0; k < EXIT_KIND_COUNT; k++)
            json_object_set_new(exits, exit_kind_name(k),
                                json_integer((json_int_t)__atomic_load_n(
                                        &vm->vcpus[i].counters.n[k], __ATOMIC_RELAXED)));
        json_array_append_new(list, json_pack("{s:i,s:o}", "vcpu", (int)i, "exits", exits));
    }
    return list;
}

static double uptime(struct vm *vm)
{
    struct timespec ts;
    uint64_t start = vm ? __atomic_load_n(&vm->start_ns, __ATOMIC_ACQUIRE) : 0;

    if (!start)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - (double)start) / 1e9;
}

static void guest_addr(char out[8], unsigned slot)
{
    snprintf(out, 8, "00:%02x.0", slot & 0x1f);
}

/* The passthrough functions: [{"host":"0000:01:10.0","guest":"00:05.0"}, ...] */
static json_t *assigned_json(struct vm *vm)
{
    struct vfio_pci_assigned a[CONFIG_MAX_PASSTHROUGH];
    unsigned n = vm ? vfio_pci_list(&vm->machine, a, CONFIG_MAX_PASSTHROUGH) : 0;
    json_t *list = json_array();

    for (unsigned i = 0; i < n; i++) {
        char g[8];
        guest_addr(g, a[i].slot);
        json_array_append_new(list, json_pack("{s:s,s:s}", "host", a[i].host, "guest", g));
    }
    return list;
}

/* Each PCI function's own counters (pci.h), read without its lock:
 * [{"name":"net0","bdf":"00:02.0","bad_writes":0,"resets":2,"msix_errors":0}, ...] */
static json_t *devices_json(struct vm *vm)
{
    struct pci_host *pci = vm ? vm->machine.pci : NULL;
    json_t *list = json_array();

    for (unsigned slot = 1; pci && slot < PCI_SLOTS; slot++) {
        struct pci_function *fn = __atomic_load_n(&pci->slot[slot], __ATOMIC_ACQUIRE);
        struct pci_counter c[PCI_COUNTERS_MAX];
        struct msix *msix;
        unsigned n;
        char bdf[8];
        json_t *dev;

        if (!fn)
            continue;
        guest_addr(bdf, slot);
        dev = json_pack("{s:s,s:s}", "name", fn->dev.name, "bdf", bdf);
        n = fn->ops && fn->ops->counters ? fn->ops->counters(fn, c) : 0;
        for (unsigned i = 0; i < n; i++)
            json_object_set_new(dev, c[i].name, json_integer((json_int_t)c[i].value));
        msix = __atomic_load_n(&fn->msix, __ATOMIC_ACQUIRE);
        if (msix)
            json_object_set_new(dev, "msix_errors",
                                json_integer(__atomic_load_n(&msix->errors, __ATOMIC_RELAXED)));
        json_array_append_new(list, dev);
    }
    return list;
}

static int status(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct vmm_host *host = ctx;
    struct vm *vm;

    (void)req;
    (void)err;
    pthread_mutex_lock(&host->lock);
    vm = host->vm;
    json_object_set_new(reply, "state", json_string(state_of(vm)));
    json_object_set_new(reply, "vcpus", json_integer(vm ? vm->nvcpus : 0));
    json_object_set_new(reply, "memory_mib",
                        json_integer(vm ? (json_int_t)vm->cfg->memory_mib : 0));
    json_object_set_new(reply, "boots", json_integer(host->boots));
    json_object_set_new(reply, "uptime_s", json_real(uptime(vm)));
    json_object_set_new(reply, "passthrough", assigned_json(vm));
    pthread_mutex_unlock(&host->lock);
    return 0;
}

static int counters(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct vmm_host *host = ctx;

    (void)req;
    (void)err;
    pthread_mutex_lock(&host->lock);
    json_object_set_new(reply, "vcpus", counters_json(host->vm));
    json_object_set_new(reply, "devices", devices_json(host->vm));
    pthread_mutex_unlock(&host->lock);
    return 0;
}

/* pause, resume and stop: the same shape around one vm_* call. */
static int change_state(struct vmm_host *host, void (*change)(struct vm *), bool stop,
                        json_t *reply, struct evr_err *err)
{
    int rc = 0;

    pthread_mutex_lock(&host->lock);
    if (stop)
        host->stop_requested = true;
    if (!host->vm) {
        rc = evr_fail(err, EAGAIN, "the VM is between boots; try again");
    } else {
        change(host->vm);
        json_object_set_new(reply, "state", json_string(state_of(host->vm)));
    }
    pthread_mutex_unlock(&host->lock);
    return rc;
}

static int pause_op(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    (void)req;
    return change_state(ctx, vm_pause, false, reply, err);
}

static int resume_op(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    (void)req;
    return change_state(ctx, vm_resume, false, reply, err);
}

static int stop_op(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    (void)req;
    return change_state(ctx, vm_stop, true, reply, err);
}

/* Interface iface's link, set administratively when "up" is given; the
 * guest sees a change through a configuration interrupt (virtio_net.h). */
static int link_op(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct vmm_host *host = ctx;
    json_t *iface = json_object_get(req, "iface"), *up = json_object_get(req, "up");
    struct virtio_net_link l;
    char msg[200];
    json_int_t k;
    int rc = 0;

    if (!json_is_integer(iface) || (k = json_integer_value(iface)) < 0 || k >= CONFIG_MAX_NET)
        return evr_fail(err, EINVAL, "field 'iface': an interface number (0 for the first)");
    if (up && !json_is_boolean(up))
        return evr_fail(err, EINVAL, "field 'up': true or false");
    pthread_mutex_lock(&host->lock);
    if (!host->vm) {
        /* between boots: the choice is kept for the next one */
        if ((unsigned)k >= host->nnet) {
            rc = evr_fail(err, ENOENT, "field 'iface': no interface %u (the VM has %u)",
                          (unsigned)k, host->nnet);
        } else {
            if (up)
                host->link_admin_up[k] = json_is_true(up);
            l = (struct virtio_net_link){.admin_up = host->link_admin_up[k]};
        }
    } else if (up && virtio_net_set_link(&host->vm->machine, (unsigned)k, json_is_true(up), &l, msg,
                                         sizeof(msg))) {
        rc = evr_fail(err, ENOENT, "field 'iface': %s", msg);
    } else if (!up && virtio_net_get_link(&host->vm->machine, (unsigned)k, &l)) {
        rc = evr_fail(err, ENOENT, "field 'iface': no interface %u (the VM has %u)", (unsigned)k,
                      virtio_net_count(&host->vm->machine));
    } else if (up && (unsigned)k < host->nnet) {
        host->link_admin_up[k] = json_is_true(up);
    }
    pthread_mutex_unlock(&host->lock);
    if (rc)
        return rc;
    json_object_set_new(reply, "iface", json_integer(k));
    json_object_set_new(reply, "admin_up", json_boolean(l.admin_up));
    json_object_set_new(reply, "backend", json_boolean(l.backend));
    json_object_set_new(reply, "up", json_boolean(l.up));
    return 0;
}

/* The host function a device-add or device-del names. */
static int host_field(json_t *req, char addr[CONFIG_PCI_ADDR_LEN], struct evr_err *err)
{
    json_t *h = json_object_get(req, "host");
    struct evr_err e;

    if (!json_is_string(h))
        return evr_fail(err, EINVAL, "field 'host': a PCI address like 0000:01:10.0");
    if (evr_pci_addr_check(json_string_value(h), &e))
        return evr_fail(err, EINVAL, "field 'host': %s", e.msg);
    snprintf(addr, CONFIG_PCI_ADDR_LEN, "%s", json_string_value(h));
    return 0;
}

static bool vm_running(struct vm *vm)
{
    bool r;

    pthread_mutex_lock(&vm->lock);
    r = vm->outcome == VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return r;
}

/* Binds the function and puts it in a free slot, then tells the guest;
 * under host->lock throughout (binding and the reset take a moment). */
static int device_add(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct vmm_host *host = ctx;
    char addr[CONFIG_PCI_ADDR_LEN], g[8];
    unsigned slot = 0;
    int rc;

    if (host_field(req, addr, err))
        return -1;
    pthread_mutex_lock(&host->lock);
    if (!host->vm || !vm_running(host->vm))
        rc = evr_fail(err, EAGAIN, "device-add %s: the VM is between boots; try again", addr);
    else if ((rc = vfio_pci_plug(&host->vm->machine, addr, &slot, err)) == 0)
        pci_hotplug_insert(pci_hotplug_of(&host->vm->machine), slot);
    pthread_mutex_unlock(&host->lock);
    if (rc)
        return -1;
    guest_addr(g, slot);
    json_object_set_new(reply, "host", json_string(addr));
    json_object_set_new(reply, "guest", json_string(g));
    return 0;
}

/* Asks the guest to eject, waits for its eject without host->lock (the
 * console, the signal thread and the next boot go on; vCPUs never wait for
 * this thread), then gives the function back. host->busy keeps the VM from
 * being destroyed under the wait (main.c waits for it after vm_run); a VM
 * that ends meanwhile ends the wait within DEL_POLL_MS. */
static int device_del(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    struct vmm_host *host = ctx;
    json_t *t = json_object_get(req, "timeout_ms");
    char addr[CONFIG_PCI_ADDR_LEN];
    json_int_t timeout = DEL_TIMEOUT_MS, waited = 0;
    struct pci_hotplug *hp;
    struct vm *vm;
    unsigned slot;
    bool ejected = false, ended = false;
    int rc = 0;

    if (host_field(req, addr, err))
        return -1;
    if (t && (!json_is_integer(t) || (timeout = json_integer_value(t)) < 1 ||
              timeout > DEL_TIMEOUT_MAX_MS))
        return evr_fail(err, EINVAL, "field 'timeout_ms': milliseconds, 1 to %d",
                        DEL_TIMEOUT_MAX_MS);
    pthread_mutex_lock(&host->lock);
    vm = host->vm;
    if (!vm || !vm_running(vm)) {
        pthread_mutex_unlock(&host->lock);
        return evr_fail(err, EAGAIN, "device-del %s: the VM is between boots; try again", addr);
    }
    if (vfio_pci_slot_of(&vm->machine, addr, &slot)) {
        pthread_mutex_unlock(&host->lock);
        return evr_fail(err, ENOENT, "device-del %s: not assigned to this VM", addr);
    }
    hp = pci_hotplug_of(&vm->machine);
    pci_hotplug_request_eject(hp, slot);
    host->busy++;
    pthread_mutex_unlock(&host->lock);

    while (!ejected && waited < timeout && !ended) {
        json_int_t step = timeout - waited < DEL_POLL_MS ? timeout - waited : DEL_POLL_MS;
        ejected = pci_hotplug_wait(hp, slot, (unsigned)step);
        waited += step;
        ended = !vm_running(vm);
    }

    pthread_mutex_lock(&host->lock);
    if (--host->busy == 0)
        pthread_cond_broadcast(&host->idle);
    if (host->vm != vm || ended) {
        /* The VM is ending: its teardown gives every function back. */
        rc = evr_fail(err, EAGAIN, "device-del %s: the VM stopped before the guest ejected it",
                      addr);
    } else if (!ejected && !pci_hotplug_cancel(hp, slot)) {
        rc = evr_fail(err, ETIMEDOUT, "guest did not eject %s within %lld ms", addr,
                      (long long)timeout);
    } else {
        rc = vfio_pci_unplug(&vm->machine, addr, err);
        pci_hotplug_removed(hp, slot);
    }
    pthread_mutex_unlock(&host->lock);
    if (rc)
        return -1;
    json_object_set_new(reply, "host", json_string(addr));
    return 0;
}

static const char *const link_fields[] = {"!iface", "up", NULL};
static const char *const device_add_fields[] = {"!host", NULL};
static const char *const device_del_fields[] = {"!host", "timeout_ms", NULL};

const struct ctl_op control_ops[] = {
        {"status", NULL, status},
        {"pause", NULL, pause_op},
        {"resume", NULL, resume_op},
        {"stop", NULL, stop_op},
        {"counters", NULL, counters},
        {"link", link_fields, link_op},
        {"device-add", device_add_fields, device_add},
        {"device-del", device_del_fields, device_del},
};
const size_t control_n_ops = sizeof(control_ops) / sizeof(control_ops[0]);

static void *control_thread(void *arg)
{
    struct control *c = arg;

    for (;;) {
        struct pollfd p[2] = {{.fd = c->stop_pipe[0], .events = POLLIN},
                              {.fd = ctl_server_fd(&c->server), .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        if (p[1].revents)
            ctl_server_handle_ready(&c->server);
    }
    return NULL;
}

int control_open(struct control *c, struct vmm_host *host, const char *path, char *err,
                 size_t errlen)
{
    struct ctl_server_config cfg = {.path = path,
                                    .group = CTL_NO_GROUP,
                                    .name = "evr-vmm",
                                    .version = EVR_VERSION,
                                    .ops = control_ops,
                                    .n_ops = control_n_ops,
                                    .ctx = host};
    struct evr_err e = {0};

    memset(c, 0, sizeof(*c));
    if (ctl_server_open(&c->server, &cfg, &e) < 0) {
        snprintf(err, errlen, "control: %s", e.msg);
        return -1;
    }
    if (pipe2(c->stop_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "control: pipe: %s", strerror(errno));
        ctl_server_close(&c->server);
        return -1;
    }
    if (pthread_create(&c->thread, NULL, control_thread, c)) {
        snprintf(err, errlen, "control: cannot start its thread");
        ctl_server_close(&c->server);
        close(c->stop_pipe[0]);
        close(c->stop_pipe[1]);
        return -1;
    }
    c->started = true;
    return 0;
}

void control_close(struct control *c)
{
    char x = 0;

    if (!c->started)
        return;
    if (write(c->stop_pipe[1], &x, 1) < 0) {
        /* the thread is gone already */
    }
    pthread_join(c->thread, NULL);
    ctl_server_close(&c->server);
    close(c->stop_pipe[0]);
    close(c->stop_pipe[1]);
    c->started = false;
}
