/* A control server: the listening socket (listen.h), its connections, the
 * framing, the hello and the dispatch of requests to a table of ops
 * (protocol.h). It takes over no event loop: ctl_server_fd() is one fd that
 * turns readable whenever anything is ready (a connection, a request, room
 * to send a reply), and ctl_server_handle_ready() serves all that is ready
 * without blocking. The owner polls the fd in its own loop: evr-vswitch's
 * control thread beside its link watch, evr-vmm's control thread beside its
 * stop pipe.
 *
 * Handlers run in the thread that calls ctl_server_handle_ready(), one at a
 * time. A client whose replies are not read is not read from either until
 * they are (its socket buffer is the bound on what it can make us hold). */
#ifndef EVR_CTL_SERVER_H
#define EVR_CTL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ctl/listen.h"
#include "ctl/protocol.h"

struct ctl_server_config {
    const char *path;    /* where the socket goes */
    gid_t group;         /* CTL_NO_GROUP: mode 0600; a group: 0660 */
    const char *name;    /* the program, told in the hello: "evr-vmm" */
    const char *version; /* its version, told in the hello */
    const struct ctl_op *ops;
    size_t n_ops;
    void *ctx;       /* handed to every handler */
    size_t line_max; /* bytes of one request line; 0: CTL_LINE_MAX. A server
                      * whose requests carry whole documents (evrd's apply)
                      * takes more; the hello says how much */
};

struct ctl_conn {
    int fd;        /* -1: a free slot */
    bool hello;    /* it said hello in our protocol version */
    bool overlong; /* the current line passed line_max: skip it up to its newline */
    bool closing;  /* close once the queued replies are sent */
    char *in;      /* the line so far: in[0..in_len), room for in_cap */
    size_t in_len, in_cap;
    char *out; /* replies not sent yet: out[out_off..out_len) */
    size_t out_len, out_off;
};

struct ctl_server {
    struct ctl_server_config cfg;
    char path[108];
    ino_t inode; /* of the socket at path: removed at close only if still ours */
    int listen_fd;
    int epoll_fd;
    uid_t owner;
    struct ctl_conn conns[CTL_CLIENTS_MAX];
};

/* Creates the socket (rename into place) and the server. Returns 0, or -1
 * with err naming the path. */
int ctl_server_open(struct ctl_server *s, const struct ctl_server_config *cfg, struct evr_err *err);

/* Readable when ctl_server_handle_ready() has something to do. */
int ctl_server_fd(const struct ctl_server *s);

/* Accepts, reads, answers and sends whatever is ready; never blocks. */
void ctl_server_handle_ready(struct ctl_server *s);

/* Closes every connection and the socket, and removes the path if the
 * socket there is still this server's. */
void ctl_server_close(struct ctl_server *s);

#endif
