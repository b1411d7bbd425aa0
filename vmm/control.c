/* Control socket server and its JSON-lines commands; see control.h. */
#include "control.h"
#include "console.h"
#include "virtio_net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void reply_json(json_t *obj, char *reply, size_t cap)
{
    char *s = json_dumps(obj, JSON_COMPACT);

    if (s && strlen(s) >= cap)
        snprintf(reply, cap, "{\"ok\":false,\"error\":\"reply too large\"}");
    else
        snprintf(reply, cap, "%s", s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
    free(s);
    json_decref(obj);
}

static void reply_error(char *reply, size_t cap, const char *msg)
{
    reply_json(json_pack("{s:b,s:s}", "ok", 0, "error", msg), reply, cap);
}

static const char *state_of(struct vm *vm)
{
    if (!vm)
        return "starting";
    if (vm->outcome != VM_RUNNING)
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

    if (!vm || !vm->start_ns)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - (double)vm->start_ns) / 1e9;
}

/* {"command":"link","iface":K} says where interface K's link stands;
 * with "up": true/false it sets it (the controller's choice), and the guest
 * sees the change through a configuration interrupt (virtio_net.h). */
static void link_command(struct vm *vm, json_t *iface, json_t *up, char *reply, size_t cap)
{
    struct virtio_net_link l;
    char msg[256];
    json_int_t k;

    if (!iface || !json_is_integer(iface) || (k = json_integer_value(iface)) < 0 ||
        k >= CONFIG_MAX_NET) {
        reply_error(reply, cap, "link: 'iface' must be an interface number (0 for the first)");
        return;
    }
    if (up && !json_is_boolean(up)) {
        reply_error(reply, cap, "link: 'up' must be true or false");
        return;
    }
    if (!vm) {
        reply_error(reply, cap, "the VM is between boots; try again");
        return;
    }
    if (up ? virtio_net_set_link(&vm->machine, (unsigned)k, json_is_true(up), &l, msg, sizeof(msg))
           : virtio_net_get_link(&vm->machine, (unsigned)k, &l)) {
        if (!up)
            snprintf(msg, sizeof(msg), "no interface %u (the VM has %u)", (unsigned)k,
                     virtio_net_count(&vm->machine));
        char full[300];
        snprintf(full, sizeof(full), "link: %s", msg);
        reply_error(reply, cap, full);
        return;
    }
    reply_json(json_pack("{s:b,s:i,s:b,s:b,s:b}", "ok", 1, "iface", (int)k, "admin_up", l.admin_up,
                         "backend", l.backend, "up", l.up),
               reply, cap);
}

void control_handle(struct vmm_host *host, const char *line, char *reply, size_t cap)
{
    json_error_t jerr;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    const char *key, *cmd = NULL;
    json_t *v, *iface = NULL, *up = NULL;
    struct vm *vm;
    char msg[256];

    if (!req) {
        snprintf(msg, sizeof(msg), "request is not JSON: column %d: %s", jerr.column, jerr.text);
        reply_error(reply, cap, msg);
        return;
    }
    if (!json_is_object(req)) {
        reply_error(reply, cap, "request must be a JSON object");
        json_decref(req);
        return;
    }
    json_object_foreach(req, key, v)
    {
        if (!strcmp(key, "iface") || !strcmp(key, "up")) {
            *(key[0] == 'i' ? &iface : &up) = v; /* the link command's, checked there */
            continue;
        }
        if (strcmp(key, "command")) {
            snprintf(msg, sizeof(msg), "unknown key '%s' in request", key);
            reply_error(reply, cap, msg);
            json_decref(req);
            return;
        }
        if (!json_is_string(v)) {
            reply_error(reply, cap, "key 'command' must be a string");
            json_decref(req);
            return;
        }
        cmd = json_string_value(v);
    }
    if (!cmd) {
        reply_error(reply, cap, "request has no 'command'");
        json_decref(req);
        return;
    }
    if ((iface || up) && strcmp(cmd, "link")) {
        snprintf(msg, sizeof(msg), "unknown key '%s' in request", iface ? "iface" : "up");
        reply_error(reply, cap, msg);
        json_decref(req);
        return;
    }

    pthread_mutex_lock(&host->lock);
    vm = host->vm;
    if (!strcmp(cmd, "status")) {
        reply_json(json_pack("{s:b,s:s,s:i,s:I,s:i,s:f}", "ok", 1, "state", state_of(vm), "vcpus",
                             vm ? (int)vm->nvcpus : 0, "memory_mib",
                             (json_int_t)(vm ? vm->cfg->memory_mib : 0), "boots", (int)host->boots,
                             "uptime_s", uptime(vm)),
                   reply, cap);
    } else if (!strcmp(cmd, "counters")) {
        reply_json(json_pack("{s:b,s:o}", "ok", 1, "vcpus", counters_json(vm)), reply, cap);
    } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "stop")) {
        if (!strcmp(cmd, "stop"))
            host->stop_requested = true;
        if (!vm) {
            reply_error(reply, cap, "the VM is between boots; try again");
        } else {
            if (cmd[0] == 'p')
                vm_pause(vm);
            else if (cmd[0] == 'r')
                vm_resume(vm);
            else
                vm_stop(vm);
            reply_json(json_pack("{s:b,s:s}", "ok", 1, "state", state_of(vm)), reply, cap);
        }
    } else if (!strcmp(cmd, "link")) {
        link_command(vm, iface, up, reply, cap);
    } else {
        snprintf(msg, sizeof(msg),
                 "unknown command '%.64s' (status, pause, resume, stop, counters, link)", cmd);
        reply_error(reply, cap, msg);
    }
    pthread_mutex_unlock(&host->lock);
    json_decref(req);
}

struct client {
    int fd;
    size_t len;
    char buf[CONTROL_LINE_MAX];
};

static void send_all(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

/* Returns false when the client is gone. */
static bool serve(struct control *c, struct client *cl)
{
    ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len);
    char *nl;

    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    cl->len += (size_t)n;
    while ((nl = memchr(cl->buf, '\n', cl->len))) {
        static char reply[CONTROL_REPLY_MAX + 1]; /* only the control thread serves */
        size_t used = (size_t)(nl - cl->buf) + 1;
        *nl = 0;
        control_handle(c->host, cl->buf, reply, CONTROL_REPLY_MAX);
        strcat(reply, "\n");
        send_all(cl->fd, reply, strlen(reply));
        memmove(cl->buf, cl->buf + used, cl->len - used);
        cl->len -= used;
    }
    if (cl->len == sizeof(cl->buf)) {
        static const char too_long[] = "{\"ok\":false,\"error\":\"request line too long\"}\n";
        send_all(cl->fd, too_long, sizeof(too_long) - 1);
        return false;
    }
    return true;
}

static void *control_thread(void *arg)
{
    struct control *c = arg;
    static struct client clients[CONTROL_CLIENTS];
    unsigned n = 0;

    for (;;) {
        struct pollfd p[2 + CONTROL_CLIENTS];
        p[0] = (struct pollfd){.fd = c->stop_pipe[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = c->listen_fd, .events = n < CONTROL_CLIENTS ? POLLIN : 0};
        for (unsigned i = 0; i < n; i++)
            p[2 + i] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
        if (poll(p, 2 + n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        for (unsigned i = n; i-- > 0;) {
            if (p[2 + i].revents && !serve(c, &clients[i])) {
                close(clients[i].fd);
                clients[i] = clients[--n];
            }
        }
        if (p[1].revents & POLLIN) {
            int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                clients[n].fd = fd;
                clients[n].len = 0;
                n++;
            }
        }
    }
    for (unsigned i = 0; i < n; i++)
        close(clients[i].fd);
    return NULL;
}

int control_open(struct control *c, struct vmm_host *host, const char *path, char *err,
                 size_t errlen)
{
    char inner[256];

    memset(c, 0, sizeof(*c));
    c->host = host;
    c->stop_pipe[0] = c->stop_pipe[1] = -1;
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->listen_fd = unix_listen_0600(path, inner, sizeof(inner));
    if (c->listen_fd < 0) {
        snprintf(err, errlen, "control: %s", inner);
        return -1;
    }
    if (pipe2(c->stop_pipe, O_CLOEXEC) < 0 || pthread_create(&c->thread, NULL, control_thread, c)) {
        snprintf(err, errlen, "control: cannot start its thread");
        control_close(c);
        return -1;
    }
    c->started = true;
    return 0;
}

void control_close(struct control *c)
{
    if (c->started) {
        char x = 0;
        if (write(c->stop_pipe[1], &x, 1) < 0) {
            /* the thread is gone already */
        }
        pthread_join(c->thread, NULL);
        c->started = false;
    }
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlink(c->path);
        c->listen_fd = -1;
    }
    for (int i = 0; i < 2; i++)
        if (c->stop_pipe[i] >= 0)
            close(c->stop_pipe[i]);
}
