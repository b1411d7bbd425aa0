/* AF_XDP sockets that net_af_xdp leaves open when its port is closed.
 *
 * DPDK 22.11's net_af_xdp (Debian's 22.11.11) never deletes a queue's UMEM
 * on close: the UMEM's socket, which is also that queue's AF_XDP socket,
 * stays open and bound to the netdev queue until the process exits, so the
 * same netdev cannot be opened again (receive queue setup fails with
 * EINVAL). The vswitch notes the AF_XDP sockets that appear while it opens a
 * net_af_xdp port and, once the port is closed, closes those still open.
 * A socket is known by its inode, so an fd number reused since is left
 * alone. */
#ifndef EVR_VSWITCH_XSK_LEFTOVERS_H
#define EVR_VSWITCH_XSK_LEFTOVERS_H

#include <sys/types.h>

#define VS_XSK_SOCKETS_MAX 64u /* one per queue of each open port; more are not tracked */

struct vs_xsk_sockets {
    unsigned n;
    int fd[VS_XSK_SOCKETS_MAX];
    ino_t ino[VS_XSK_SOCKETS_MAX];
};

/* The AF_XDP sockets open in this process now. */
void vs_xsk_sockets_list(struct vs_xsk_sockets *out);
/* Keeps in *now only the sockets that are not in *before. */
void vs_xsk_sockets_new_since(struct vs_xsk_sockets *now, const struct vs_xsk_sockets *before);
/* Closes those of *s that are still open (same fd, same inode) and, if it
 * closed any, waits 100 ms for the kernel to let go of their netdev queues;
 * returns how many it closed. */
unsigned vs_xsk_sockets_close_left(const struct vs_xsk_sockets *s);

#endif
