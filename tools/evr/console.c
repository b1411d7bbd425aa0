/* evr vm console (console.h). */
#include "console.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/io.h"

int console_attach(const char *vm, const char *path, struct evr_err *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct termios saved, raw;
    bool tty = isatty(STDIN_FILENO);
    int fd, rc = 0;

    if (!path || strlen(path) >= sizeof(addr.sun_path))
        return evr_fail(err, EINVAL, "%s: evrd gave no usable console path", vm);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
        evr_fail(err, errno, "%s's console %s: %s", vm, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (tty) {
        fprintf(stderr, "evr: attached to %s's console; Ctrl-] detaches\r\n", vm);
        tcgetattr(STDIN_FILENO, &saved);
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        char buf[4096];
        ssize_t n;
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = evr_fail(err, errno, "poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents) {
            n = read(fd, buf, sizeof(buf));
            if (n <= 0) {
                if (tty)
                    fprintf(stderr, "\r\n");
                fprintf(stderr, "evr: %s's console closed\n", vm);
                break;
            }
            if (evr_write_all(STDOUT_FILENO, buf, (size_t)n)) {
                rc = evr_fail(err, errno, "stdout: %s", strerror(errno));
                break;
            }
        }
        if (p[1].revents) {
            char *detach;
            n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0)
                break; /* the input ended: detach */
            detach = tty ? memchr(buf, CONSOLE_DETACH_KEY, (size_t)n) : NULL;
            if (evr_write_all(fd, buf, detach ? (size_t)(detach - buf) : (size_t)n)) {
                rc = evr_fail(err, errno, "%s's console: %s", vm, strerror(errno));
                break;
            }
            if (detach)
                break;
        }
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fprintf(stderr, "\nevr: detached from %s's console\n", vm);
    }
    close(fd);
    return rc;
}
