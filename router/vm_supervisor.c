/* evr-vmm processes, one per VM (vm_supervisor.h). */
#include "vm_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "ctl/client.h"

const char *vm_state_name(enum vm_state st)
{
    switch (st) {
    case VM_STATE_STOPPED:
        return "stopped";
    case VM_STATE_RUNNING:
        return "running";
    case VM_STATE_STOPPING:
        return "stopping";
    case VM_STATE_BACKOFF:
        return "restarting";
    }
    return "?";
}

/* Appends the functions the partition gives the VM to the configuration's
 * "passthrough" (after the appliance's own). */
static int add_passthrough(const struct vm_supervisor *s, const struct vm_proc *p, json_t *cfg,
                           struct evr_err *err)
{
    json_t *given, *list;

    if (!s->passthrough)
        return 0;
    given = s->passthrough(s->passthrough_ctx, (unsigned)(p - s->vms));
    if (!given)
        return evr_fail(err, ENOMEM, "VM %s: out of memory", p->vm->name);
    list = json_object_get(cfg, "passthrough");
    if (json_array_size(given) && !list)
        json_object_set(cfg, "passthrough", given);
    else if (json_is_array(list))
        json_array_extend(list, given);
    json_decref(given);
    return 0;
}

/* RUN_DIR/NAME.json: the appliance's evr-vmm object and evrd's keys. */
static int write_config(const struct vm_supervisor *s, struct vm_proc *p, struct evr_err *err)
{
    json_t *cfg = json_deep_copy(p->vm->vmm), *pin = json_array();
    char console[PATH_MAX + 8];
    int rc;

    if (!cfg || !pin) {
        json_decref(cfg);
        json_decref(pin);
        return evr_fail(err, ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < p->vm->cores.count; i++)
        json_array_append_new(pin, json_integer(p->vm->cores.core[i]));
    snprintf(console, sizeof(console), "socket:%s", p->console);
    json_object_set_new(cfg, "pin", pin);
    json_object_set_new(cfg, "control", json_string(p->control));
    json_object_set_new(cfg, "console", json_string(console));
    json_object_set_new(cfg, "exit_file", json_string(p->exit_file));
    if (!json_object_get(cfg, "on_reboot"))
        json_object_set_new(cfg, "on_reboot", json_string("restart"));
    /* the management ports the appliance declares, then the vswitch's:
     * vswitch port K is RUN_DIR/NAME.K.sock, its VM port in the vswitch
     * (vswitch_plan.h) the client of it */
    {
        json_t *net = json_object_get(cfg, "net");
        if (!net) {
            net = json_array();
            json_object_set_new(cfg, "net", net);
        }
        /* a port that carries nothing starts with its link down (vm_link.h) */
        uint32_t up = s->links ? s->links(s->links_ctx, (unsigned)(p - s->vms)) : UINT32_MAX;
        for (unsigned k = 0; k < p->vm->ports; k++) {
            char path[PATH_MAX];
            if (snprintf(path, sizeof(path), "%s/%s.%u.sock", p->run_dir, p->vm->name, k) >= 108) {
                json_decref(cfg);
                return evr_fail(err, ENAMETOOLONG, "VM %s: %s is too long for a socket path",
                                p->vm->name, path);
            }
            json_array_append_new(net, json_pack("{s:s, s:i, s:s}", "vhost_user", path, "queues",
                                                 (int)p->vm->queues, "link",
                                                 up >> k & 1 ? "up" : "down"));
        }
    }
    if (add_passthrough(s, p, cfg, err)) {
        json_decref(cfg);
        return -1;
    }
    rc = json_dump_file(cfg, p->config, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(cfg);
    if (rc)
        return evr_fail(err, errno ? errno : EIO, "VM %s: cannot write %s", p->vm->name, p->config);
    return 0;
}

int vm_supervisor_init(struct vm_supervisor *s, const struct evr_appliance *a, const char *binary,
                       const char *run_dir, struct evr_events *events, struct evr_err *err)
{
    memset(s, 0, sizeof(*s));
    s->appliance = a;
    s->binary = binary;
    s->events = events;
    s->n = a->nvms;
    for (unsigned i = 0; i < a->nvms; i++) {
        struct vm_proc *p = &s->vms[i];
        const char *name = a->vms[i].name;
        p->vm = &a->vms[i];
        p->pidfd = -1;
        p->last_exit = -1;
        if (snprintf(p->control, sizeof(p->control), "%s/%s.ctl", run_dir, name) >=
            (int)sizeof(p->control))
            return evr_fail(err, ENAMETOOLONG, "VM %s: %s/%s.ctl is too long for a socket", name,
                            run_dir, name);
        snprintf(p->config, sizeof(p->config), "%s/%s.json", run_dir, name);
        snprintf(p->console, sizeof(p->console), "%s/%s.console", run_dir, name);
        snprintf(p->log, sizeof(p->log), "%s/%s.log", run_dir, name);
        snprintf(p->exit_file, sizeof(p->exit_file), "%s/%s.exit", run_dir, name);
        snprintf(p->run_dir, sizeof(p->run_dir), "%s", run_dir);
    }
    return 0;
}

/* A VM whose control socket is served is running already: adopt it. Only
 * its pid is asked (peer credentials), so a stuck evr-vmm is adopted, not
 * waited on, and not doubled by a second one on the same sockets. */
static bool adopt(struct vm_proc *p)
{
    struct evr_err err;
    pid_t pid;

    if (ctl_peer_pid(p->control, &pid, &err))
        return false;
    p->pidfd = evr_pidfd_open(pid);
    if (p->pidfd < 0)
        return false;
    p->pid = pid;
    p->child = false;
    return true;
}

bool vm_supervisor_adopt(struct vm_supervisor *s, unsigned i)
{
    struct vm_proc *p = &s->vms[i];

    if (p->state == VM_STATE_RUNNING || p->state == VM_STATE_STOPPING)
        return true;
    if (!adopt(p))
        return false;
    p->state = VM_STATE_RUNNING;
    p->started_at = evr_mono_s();
    evr_events_add(s->events, "vm", p->vm->name, "adopted, pid %d", (int)p->pid);
    return true;
}

int vm_supervisor_start(struct vm_supervisor *s, unsigned i, struct evr_err *err)
{
    struct vm_proc *p = &s->vms[i];
    pid_t pid;

    if (p->state == VM_STATE_RUNNING || p->state == VM_STATE_STOPPING)
        return 0;
    if (vm_supervisor_adopt(s, i))
        return 0;
    if (write_config(s, p, err))
        return -1;
    {
        char *argv[] = {(char *)s->binary, "--config", p->config, NULL};
        struct evr_err why;
        pid = evr_child_spawn(argv, p->log, &p->pidfd, &why);
        if (pid < 0)
            return evr_fail(err, why.code, "VM %s: %s", p->vm->name, why.msg);
    }
    p->pid = pid;
    p->child = true;
    p->state = VM_STATE_RUNNING;
    p->started_at = evr_mono_s();
    evr_events_add(s->events, "vm", p->vm->name, "started, pid %d (log %s)", (int)pid, p->log);
    return 0;
}

int vm_supervisor_stop(struct vm_supervisor *s, unsigned i, struct evr_err *err)
{
    struct vm_proc *p = &s->vms[i];

    if (p->state == VM_STATE_BACKOFF) {
        p->state = VM_STATE_STOPPED;
        evr_events_add(s->events, "vm", p->vm->name, "stopped before its restart");
        return 0;
    }
    if (p->state != VM_STATE_RUNNING)
        return 0;
    if (syscall(SYS_pidfd_send_signal, p->pidfd, SIGTERM, NULL, 0))
        return evr_fail(err, errno, "VM %s: cannot signal pid %d: %s", p->vm->name, (int)p->pid,
                        strerror(errno));
    p->state = VM_STATE_STOPPING;
    evr_events_add(s->events, "vm", p->vm->name, "stopping (SIGTERM to pid %d)", (int)p->pid);
    return 0;
}

/* The status an adopted evr-vmm wrote when it ended: 0-255, or -1 when it
 * wrote none (a signal killed it) or something else is there. */
static int read_exit_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[16] = "", *end;
    long v;

    if (!f)
        return -1;
    if (!fgets(line, sizeof(line), f))
        line[0] = 0;
    fclose(f);
    v = strtol(line, &end, 10);
    return end != line && (*end == '\n' || !*end) && v >= 0 && v <= 255 ? (int)v : -1;
}

void vm_supervisor_exited(struct vm_supervisor *s, unsigned i, double now)
{
    struct vm_proc *p = &s->vms[i];
    int status = 0;
    bool asked = p->state == VM_STATE_STOPPING;
    double wait;

    p->last_exit = -1;
    if (p->child && waitpid(p->pid, &status, 0) == p->pid)
        p->last_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    else if (!p->child)
        p->last_exit = read_exit_file(p->exit_file);
    close(p->pidfd);
    p->pidfd = -1;
    if (asked || p->last_exit == 0 || p->last_exit == 1) {
        p->state = VM_STATE_STOPPED;
        evr_events_add(s->events, "vm", p->vm->name, "pid %d ended (exit %d): %s", (int)p->pid,
                       p->last_exit,
                       asked               ? "stopped as asked"
                       : p->last_exit == 0 ? "the guest powered off; it stays off"
                                           : "it could not be set up (see its log); not retried");
        p->pid = 0;
        return;
    }
    /* a crash, or an adopted VM whose status cannot be known: again, but
     * not in a tight loop */
    wait = backoff_after(&p->backoff, now - p->started_at);
    p->restart_at = now + wait;
    p->state = VM_STATE_BACKOFF;
    evr_events_add(s->events, "vm", p->vm->name, "pid %d ended (exit %d); restart in %.0f s",
                   (int)p->pid, p->last_exit, wait);
    p->pid = 0;
}

double vm_supervisor_tick(struct vm_supervisor *s, double now)
{
    double next = 0;

    for (unsigned i = 0; i < s->n; i++) {
        struct vm_proc *p = &s->vms[i];
        struct evr_err err;
        if (p->state != VM_STATE_BACKOFF)
            continue;
        if (now >= p->restart_at) {
            p->restarts++;
            if (vm_supervisor_start(s, i, &err)) {
                evr_events_add(s->events, "vm", p->vm->name, "restart failed: %s", err.msg);
                p->state = VM_STATE_BACKOFF;
                p->restart_at = now + backoff_after(&p->backoff, 0);
            }
        }
        if (p->state == VM_STATE_BACKOFF && (next == 0 || p->restart_at < next))
            next = p->restart_at;
    }
    return next;
}

void vm_supervisor_release(struct vm_supervisor *s)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->vms[i].pidfd >= 0) {
            close(s->vms[i].pidfd);
            s->vms[i].pidfd = -1;
        }
}

json_t *vm_supervisor_to_json(const struct vm_supervisor *s)
{
    json_t *list = json_array();

    for (unsigned i = 0; i < s->n; i++) {
        const struct vm_proc *p = &s->vms[i];
        json_t *vm = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "name", p->vm->name, "state",
                               vm_state_name(p->state), "pid", (int)p->pid, "restarts", p->restarts,
                               "control", p->control, "console", p->console, "log", p->log);
        json_object_set_new(vm, "last_exit",
                            p->last_exit >= 0 ? json_integer(p->last_exit) : json_null());
        json_array_append_new(list, vm);
    }
    return list;
}
