/* AF_XDP sockets net_af_xdp leaves open on close (see xsk_leftovers.h). */
#include "xsk_leftovers.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif

/* The kernel lets go of the netdev queue a closed AF_XDP socket was bound
 * to after an RCU grace period, in a work item; nothing tells user space
 * when. A bind before that fails with EBUSY, and net_af_xdp has already
 * taken 2048 mbufs for the fill ring by then and keeps them. 20 ms was
 * enough on the 2-core development VM, 2 ms was not. */
#define RELEASE_WAIT_US 100000

/* The socket's inode if fd is an open AF_XDP socket, else 0. */
static ino_t xsk_inode(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_XDP)
        return 0;
    return st.st_ino;
}

void vs_xsk_sockets_list(struct vs_xsk_sockets *out)
{
    out->n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && out->n < VS_XSK_SOCKETS_MAX) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || fd == dirfd(d))
            continue;
        ino_t ino = xsk_inode((int)fd);
        if (!ino)
            continue;
        out->fd[out->n] = (int)fd;
        out->ino[out->n] = ino;
        out->n++;
    }
    closedir(d);
}

static bool contains(const struct vs_xsk_sockets *s, int fd, ino_t ino)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->fd[i] == fd && s->ino[i] == ino)
            return true;
    return false;
}

void vs_xsk_sockets_new_since(struct vs_xsk_sockets *now, const struct vs_xsk_sockets *before)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < now->n; i++) {
        if (contains(before, now->fd[i], now->ino[i]))
            continue;
        now->fd[kept] = now->fd[i];
        now->ino[kept] = now->ino[i];
        kept++;
    }
    now->n = kept;
}

unsigned vs_xsk_sockets_close_left(const struct vs_xsk_sockets *s)
{
    unsigned closed = 0;
    for (unsigned i = 0; i < s->n; i++) {
        if (xsk_inode(s->fd[i]) != s->ino[i])
            continue; /* DPDK closed it; the number may belong to another socket now */
        close(s->fd[i]);
        closed++;
    }
    if (closed)
        usleep(RELEASE_WAIT_US);
    return closed;
}
