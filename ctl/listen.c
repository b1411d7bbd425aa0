/* Listening socket and peer credentials of a control server (listen.h). */
#include "ctl/listen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int refuse_non_socket(const char *path, struct evr_err *err)
{
    struct stat st;

    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        return evr_fail(err, EEXIST, "'%s' exists and is not a socket (not replaced)", path);
    return 0;
}

/* A socket at path that a process still listens on is that process's: a
 * second server started on the same path by mistake must not take it over.
 * connect() tells: refused is a socket whose process is gone (replaced),
 * accepted (or a full backlog) is a live server, named by its pid
 * (SO_PEERCRED of the connection: the listener's credentials). */
static int refuse_served(const char *path, struct evr_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct ucred cred = {.pid = 0};
    socklen_t len = sizeof(cred);
    int fd, e;

    memcpy(sa.sun_path, path, strlen(path) + 1); /* checked shorter by the caller */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return evr_fail(err, errno, "'%s': socket: %s", path, strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
            cred.pid = 0;
        close(fd);
        if (cred.pid > 0)
            return evr_fail(err, EADDRINUSE,
                            "'%s' is served by pid %d (not replaced): is another instance running "
                            "on this path?",
                            path, (int)cred.pid);
        return evr_fail(err, EADDRINUSE, "'%s' is served by another process (not replaced)", path);
    }
    e = errno;
    close(fd);
    if (e == ECONNREFUSED || e == ENOENT)
        return 0; /* nobody listens: a stale socket, or none */
    if (e == EAGAIN)
        return evr_fail(err, EADDRINUSE,
                        "'%s' is served by another process, its backlog full (not replaced)", path);
    return evr_fail(err, e, "'%s': cannot tell whether another process serves it: connect: %s",
                    path, strerror(e));
}

int ctl_listen(const char *path, gid_t group, struct evr_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t mode = group == CTL_NO_GROUP ? 0600 : 0660;
    char tmp[sizeof(sa.sun_path)];
    int fd;

    if (!path[0])
        return evr_fail(err, EINVAL, "control socket path is empty");
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
        return evr_fail(err, ENAMETOOLONG, "'%s': longer than %zu bytes (a unix socket path)", path,
                        sizeof(tmp) - 5);
    if (refuse_non_socket(path, err) < 0 || refuse_non_socket(tmp, err) < 0 ||
        refuse_served(path, err) < 0)
        return -1;
    unlink(tmp); /* a stale socket of an earlier run that died before its rename */
    memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return evr_fail(err, errno, "'%s': socket: %s", path, strerror(errno));
    /* No umask dance (umask is process-wide and other threads run): until
     * chmod the socket has the process's default mode under a name nobody
     * was told, and ctl_peer_allowed() refuses whoever connects anyway. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return evr_fail(err, e, "'%s': bind: %s", tmp, strerror(e));
    }
    if (chmod(tmp, mode) < 0 || (group != CTL_NO_GROUP && chown(tmp, (uid_t)-1, group) < 0) ||
        listen(fd, SOMAXCONN) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        if (group != CTL_NO_GROUP && e == EPERM)
            return evr_fail(err, e, "'%s': cannot give it group %u: %s", path, (unsigned)group,
                            strerror(e));
        return evr_fail(err, e, "'%s': %s", path, strerror(e));
    }
    return fd;
}

/* Whether pid's supplementary groups hold group (/proc/PID/status). */
static bool in_supplementary_groups(pid_t pid, gid_t group)
{
    char path[64], line[4096];
    bool found = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *p = line + 7, *end;
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        for (;;) {
            unsigned long g = strtoul(p, &end, 10);
            if (end == p)
                break;
            if ((gid_t)g == group)
                found = true;
            p = end;
        }
        break;
    }
    fclose(f);
    return found;
}

bool ctl_peer_allowed(int fd, uid_t owner, gid_t group, struct evr_err *err)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        evr_fail(err, errno, "cannot read the peer's credentials: %s", strerror(errno));
        return false;
    }
    if (cred.uid == 0 || cred.uid == owner)
        return true;
    if (group != CTL_NO_GROUP && (cred.gid == group || in_supplementary_groups(cred.pid, group)))
        return true;
    if (group != CTL_NO_GROUP)
        evr_fail(err, EACCES,
                 "peer uid %u (pid %d) may not use this socket: root, uid %u and group %u only",
                 (unsigned)cred.uid, (int)cred.pid, (unsigned)owner, (unsigned)group);
    else
        evr_fail(err, EACCES, "peer uid %u (pid %d) may not use this socket: root and uid %u only",
                 (unsigned)cred.uid, (int)cred.pid, (unsigned)owner);
    return false;
}
