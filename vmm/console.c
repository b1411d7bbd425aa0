/* Serial console back ends; see console.h. */
#include "console.h"

#include "ctl/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int console_open(struct console *c, const struct vmm_config *cfg, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->kind = cfg->console;
    c->out_fd = c->in_fd = c->listen_fd = c->client_fd = -1;
    c->stop_pipe[0] = c->stop_pipe[1] = -1;
    pthread_mutex_init(&c->client_lock, NULL);
    snprintf(c->path, sizeof(c->path), "%s", cfg->console_path);
    switch (c->kind) {
    case CONSOLE_STDOUT:
        c->out_fd = STDOUT_FILENO;
        c->in_fd = STDIN_FILENO;
        break;
    case CONSOLE_FILE:
        c->out_fd = open(c->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (c->out_fd < 0) {
            snprintf(err, errlen, "console: cannot open file:%s: %s", c->path, strerror(errno));
            return -1;
        }
        break;
    case CONSOLE_SOCKET: {
        struct evr_err e;
        c->listen_fd = ctl_listen(c->path, CTL_NO_GROUP, &e);
        if (c->listen_fd < 0) {
            snprintf(err, errlen, "console: %s", e.msg);
            return -1;
        }
        break;
    }
    case CONSOLE_NONE:
        break;
    }
    if (pipe2(c->stop_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "console: pipe: %s", strerror(errno));
        console_close(c);
        return -1;
    }
    return 0;
}

static void deliver(struct console *c, const uint8_t *buf, size_t len)
{
    while (len) {
        size_t n = c->sink(c->sink_ctx, buf, len);
        buf += n;
        len -= n;
        if (len) {
            /* The guest has not drained its receive FIFO yet. */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

static void *input_thread(void *arg)
{
    struct console *c = arg;
    uint8_t buf[256];

    for (;;) {
        struct pollfd p[2] = {{.fd = c->stop_pipe[0], .events = POLLIN}};
        /* only this thread changes client_fd: reading it here needs no lock */
        int src = c->kind == CONSOLE_SOCKET ? (c->client_fd >= 0 ? c->client_fd : c->listen_fd)
                                            : c->in_fd;
        ssize_t n;

        p[1].fd = src;
        p[1].events = POLLIN;
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        if (!p[1].revents)
            continue;
        if (src == c->listen_fd) {
            int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            /* The same peers as on the control socket: root and our uid. */
            if (fd >= 0 && !ctl_peer_allowed(fd, geteuid(), CTL_NO_GROUP, NULL))
                close(fd);
            else if (fd >= 0) {
                pthread_mutex_lock(&c->client_lock);
                c->client_fd = fd;
                pthread_mutex_unlock(&c->client_lock);
            }
            continue;
        }
        n = read(src, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (c->kind != CONSOLE_SOCKET)
                break; /* stdin closed: no more input */
            pthread_mutex_lock(&c->client_lock);
            c->client_fd = -1;
            close(src); /* before any vCPU can send to the number again */
            pthread_mutex_unlock(&c->client_lock);
            continue;
        }
        deliver(c, buf, (size_t)n);
    }
    return NULL;
}

int console_start_input(struct console *c, console_sink sink, void *ctx)
{
    c->sink = sink;
    c->sink_ctx = ctx;
    if (c->kind != CONSOLE_STDOUT && c->kind != CONSOLE_SOCKET)
        return 0;
    if (pthread_create(&c->thread, NULL, input_thread, c))
        return -1;
    c->thread_started = 1;
    return 0;
}

void console_write(struct console *c, uint8_t byte)
{
    int fd;

    switch (c->kind) {
    case CONSOLE_STDOUT:
    case CONSOLE_FILE:
        while (write(c->out_fd, &byte, 1) < 0 && errno == EINTR)
            ;
        break;
    case CONSOLE_SOCKET:
        pthread_mutex_lock(&c->client_lock);
        fd = c->client_fd;
        if (fd >= 0)
            send(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        pthread_mutex_unlock(&c->client_lock);
        break;
    case CONSOLE_NONE:
        break;
    }
}

void console_close(struct console *c)
{
    if (c->thread_started) {
        char x = 0;
        if (write(c->stop_pipe[1], &x, 1) < 0) {
            /* the thread is gone already */
        }
        pthread_join(c->thread, NULL);
        c->thread_started = 0;
    }
    if (c->kind == CONSOLE_FILE && c->out_fd >= 0)
        close(c->out_fd);
    if (c->client_fd >= 0)
        close(c->client_fd);
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlink(c->path);
    }
    for (int i = 0; i < 2; i++)
        if (c->stop_pipe[i] >= 0)
            close(c->stop_pipe[i]);
    c->out_fd = c->in_fd = c->listen_fd = c->client_fd = -1;
    c->stop_pipe[0] = c->stop_pipe[1] = -1;
    pthread_mutex_destroy(&c->client_lock);
}
