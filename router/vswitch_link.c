/* Adopting, starting and watching evr-vswitch (vswitch_link.h). */
#include "vswitch_link.h"

#include "child.h"

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

#define EAL_ARGS_MAX 32

void vswitch_link_init(struct vswitch_link *l, const struct evr_appliance *a, const char *binary,
                       const char *eal_extra, const char *run_dir)
{
    memset(l, 0, sizeof(*l));
    l->appliance = a;
    l->binary = binary;
    l->eal_extra = eal_extra ? eal_extra : "";
    l->pidfd = -1;
    l->client.fd = -1;
    snprintf(l->control, sizeof(l->control), "%s/vswitch.sock", run_dir);
}

static int connect_now(struct vswitch_link *l, struct evr_err *err)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (ctl_client_open_within(&l->client, l->control, VSWITCH_CALL_TIMEOUT_MS, NULL, err))
        return -1;
    l->connected = true;
    if (!l->pid) { /* adopted: who is it? */
        if (getsockopt(l->client.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid <= 0)
            return evr_fail(err, errno, "vswitch at %s: cannot learn its pid: %s", l->control,
                            strerror(errno));
        l->pid = cred.pid;
        l->child = false;
    }
    if (l->pidfd < 0 && (l->pidfd = evr_pidfd_open(l->pid)) < 0)
        return evr_fail(err, errno, "vswitch pid %d: pidfd_open: %s", (int)l->pid, strerror(errno));
    return 0;
}

/* The vswitch's command line: EAL (cores, memory, extra), then its own. */
static int build_argv(struct vswitch_link *l, char **argv, char *store, size_t cap,
                      struct evr_err *err)
{
    const struct evr_appl_cores *c = &l->appliance->vswitch_cores;
    size_t used = 0;
    unsigned n = 0;
    char *extra;

#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w = snprintf(store + used, cap - used, __VA_ARGS__);                                   \
        if (w < 0 || (size_t)w >= cap - used || n + 2 >= EAL_ARGS_MAX)                             \
            return evr_fail(err, E2BIG, "evr-vswitch's command line is too long");                 \
        argv[n++] = store + used;                                                                  \
        used += (size_t)w + 1;                                                                     \
    } while (0)

    PUT("%s", l->binary);
    PUT("-l");
    {
        char list[EVR_APPL_CORES * 6] = "";
        for (unsigned i = 0; i < c->count; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%u", i ? "," : "",
                     c->core[i]);
        PUT("%s", list);
    }
    PUT("--main-lcore");
    PUT("%u", c->core[0]);
    PUT("-m");
    PUT("%u", l->appliance->vswitch_memory_mib);
    extra = strdup(l->eal_extra);
    if (!extra)
        return evr_fail(err, ENOMEM, "out of memory");
    for (char *save = NULL, *t = strtok_r(extra, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        int w = snprintf(store + used, cap - used, "%s", t);
        if (w < 0 || (size_t)w >= cap - used || n + 2 >= EAL_ARGS_MAX) {
            free(extra);
            return evr_fail(err, E2BIG, "evr-vswitch's command line is too long");
        }
        argv[n++] = store + used;
        used += (size_t)w + 1;
    }
    free(extra);
    PUT("--");
    PUT("--control");
    PUT("%s", l->control);
    PUT("--idle-sleep-us");
    PUT("%u", l->appliance->vswitch_idle_sleep_us);
#undef PUT
    argv[n] = NULL;
    return 0;
}

int vswitch_link_start(struct vswitch_link *l, unsigned timeout_s, bool *adopted,
                       struct evr_err *err)
{
    char *argv[EAL_ARGS_MAX], store[4096];
    pid_t pid;

    *adopted = false;
    if (connect_now(l, err) == 0) {
        *adopted = true;
        return 0;
    }
    ctl_client_close(&l->client);
    l->connected = false;
    l->pid = 0;
    if (build_argv(l, argv, store, sizeof(store), err))
        return -1;
    pid = evr_child_spawn(argv, NULL, &l->pidfd, err);
    if (pid < 0)
        return -1;
    l->pid = pid;
    l->child = true;
    l->start_timeout_s = timeout_s;
    l->start_deadline_s = evr_mono_s() + timeout_s;
    return 1;
}

int vswitch_link_poll_start(struct vswitch_link *l, struct evr_err *err)
{
    struct evr_err why;

    if (!l->start_deadline_s)
        return l->connected ? 0 : evr_fail(err, ENOTCONN, "the vswitch is not starting");
    if (connect_now(l, &why) == 0) {
        l->start_deadline_s = 0;
        return 0;
    }
    ctl_client_close(&l->client);
    l->connected = false;
    if (evr_mono_s() < l->start_deadline_s)
        return 1;
    /* the pidfd reports the kill; the caller reaps it with vswitch_link_exited */
    kill(l->pid, SIGKILL);
    l->start_deadline_s = 0;
    return evr_fail(err, ETIMEDOUT, "%s did not answer on %s within %u s (%s)", l->binary,
                    l->control, l->start_timeout_s, why.msg);
}

int vswitch_link_exited(struct vswitch_link *l)
{
    int status = 0, shown = -1;

    if (l->child && l->pid > 0 && waitpid(l->pid, &status, 0) == l->pid)
        shown = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (l->pidfd >= 0)
        close(l->pidfd);
    l->pidfd = -1;
    l->pid = 0;
    l->start_deadline_s = 0;
    if (l->connected)
        ctl_client_close(&l->client);
    l->connected = false;
    return shown;
}

/* Whether the connection still stands after a failed call: a refusal
 * leaves it open, a dead or garbled stream does not. */
static bool connection_stands(const struct vswitch_link *l, int code)
{
    char byte;
    ssize_t n;

    if (code == EBADMSG || code == EMSGSIZE)
        return false;
    n = recv(l->client.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

json_t *vswitch_link_call(void *ctx, const json_t *req, struct evr_err *err)
{
    struct vswitch_link *l = ctx;
    json_t *reply;

    /* A connection that broke (a garbled or late reply) while the process
     * lives is made again here: only the process's exit (the pidfd) or a
     * start under way leaves evrd without one. */
    if (!l->connected && l->pidfd >= 0 && !l->start_deadline_s) {
        struct evr_err why;
        if (connect_now(l, &why)) {
            ctl_client_close(&l->client);
            l->connected = false;
        }
    }
    if (!l->connected) {
        evr_fail(err, ENOTCONN, "no connection to the vswitch at %s", l->control);
        return NULL;
    }
    reply = ctl_client_call(&l->client, req, err);
    if (!reply && !connection_stands(l, err->code)) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err->msg);
        ctl_client_close(&l->client);
        l->connected = false;
        evr_fail(err, ENOTCONN, "the vswitch's connection broke: %.400s", why);
    }
    return reply;
}

void vswitch_link_release(struct vswitch_link *l)
{
    if (l->connected)
        ctl_client_close(&l->client);
    l->connected = false;
    if (l->pidfd >= 0)
        close(l->pidfd);
    l->pidfd = -1;
}
