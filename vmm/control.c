/* The VM's control ops and the thread serving them; see control.h. */
#include "control.h"
#include "virtio_net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    if (!host->vm)
        rc = evr_fail(err, EAGAIN, "the VM is between boots; try again");
    else if (up && virtio_net_set_link(&host->vm->machine, (unsigned)k, json_is_true(up), &l, msg,
                                       sizeof(msg)))
        rc = evr_fail(err, ENOENT, "field 'iface': %s", msg);
    else if (!up && virtio_net_get_link(&host->vm->machine, (unsigned)k, &l))
        rc = evr_fail(err, ENOENT, "field 'iface': no interface %u (the VM has %u)", (unsigned)k,
                      virtio_net_count(&host->vm->machine));
    pthread_mutex_unlock(&host->lock);
    if (rc)
        return rc;
    json_object_set_new(reply, "iface", json_integer(k));
    json_object_set_new(reply, "admin_up", json_boolean(l.admin_up));
    json_object_set_new(reply, "backend", json_boolean(l.backend));
    json_object_set_new(reply, "up", json_boolean(l.up));
    return 0;
}

static const char *const link_fields[] = {"!iface", "up", NULL};

const struct ctl_op control_ops[] = {
        {"status", NULL, status}, {"pause", NULL, pause_op},    {"resume", NULL, resume_op},
        {"stop", NULL, stop_op},  {"counters", NULL, counters}, {"link", link_fields, link_op},
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
